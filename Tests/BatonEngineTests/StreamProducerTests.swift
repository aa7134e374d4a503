import Foundation
import Testing

@testable import BatonEngine

/// `AsyncThrowingStream.producing`, the one helper every runtime stream is made with: it finishes, fails and is
/// cancelled as the hand-written copies it replaced did.
@Suite struct StreamProducerTests {
    struct Boom: Error {}

    @Test("A producing stream yields what its producer yields, then finishes")
    func finishesWhenTheProducerReturns() async throws {
        let stream = AsyncThrowingStream<Int, any Error>.producing { continuation in
            for value in 1...3 { continuation.yield(value) }
        }
        var values: [Int] = []
        for try await value in stream { values.append(value) }
        #expect(values == [1, 2, 3])
    }

    @Test("A producing stream fails with what its producer throws, after what it yielded")
    func failsWithTheProducersError() async throws {
        let stream = AsyncThrowingStream<Int, any Error>.producing { continuation in
            continuation.yield(1)
            throw Boom()
        }
        var values: [Int] = []
        await #expect(throws: Boom.self) {
            for try await value in stream { values.append(value) }
        }
        #expect(values == [1])
    }

    @Test("Cancelling the reader cancels the producer's task, so the request underneath ends too")
    func cancellingTheReaderCancelsTheProducer() async throws {
        // Given a producer that yields once, then waits until it is cancelled
        let cancelled = Locked(false)
        let stream = AsyncThrowingStream<Int, any Error>.producing { continuation in
            continuation.yield(1)
            do {
                try await Task.sleep(for: .seconds(60))
            } catch {
                cancelled.withLock { $0 = true }
                throw error
            }
        }
        let reader = Task {
            for try await _ in stream {}
        }

        // When the reader's task is cancelled
        try await Task.sleep(for: .milliseconds(50))
        reader.cancel()
        _ = await reader.result

        // Then the producer saw the cancellation before its 60 s wait ended (30 s allows for a loaded machine)
        let deadline = ContinuousClock.now + .seconds(30)
        while !cancelled.current, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(10)) }
        #expect(cancelled.current)
    }
}
