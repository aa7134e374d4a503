import Foundation

/// Small helpers shared by test targets.
public enum Tools {
    /// Runs a program (in the repository root) and returns its status and combined output, waiting for it on a
    /// thread of its own (see ``offThePool(_:)``).
    @discardableResult
    public static func run(_ path: String, _ arguments: [String]) async throws -> (status: Int32, output: String) {
        try await offThePool { try runBlocking(path, arguments) }
    }

    /// ``run(_:_:)`` on the calling thread, for the one place that cannot await: a `deinit` cleaning up with a quick
    /// tool (`umount`). Anywhere else, blocking a cooperative thread starves the tests running beside it.
    @discardableResult
    public static func runBlocking(_ path: String, _ arguments: [String]) throws -> (status: Int32, output: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = arguments
        process.currentDirectoryURL = URL(fileURLWithPath: Fixtures.repositoryRoot)
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: data, as: UTF8.self))
    }
}

/// Runs blocking work (waiting for a process, reading a pipe, a script) on a thread of its own and suspends until it
/// is done.
///
/// swift-testing runs tests on Swift's cooperative thread pool, which has one thread per core (two on CI). A test
/// that blocks one of them, in `waitUntilExit`, `readDataToEndOfFile` or `Thread.sleep`, takes it from every other
/// test, and the in-process stand-ins (Ollama, OpenAI, Anthropic) that concurrent tests talk to stop answering.
public func offThePool<T: Sendable, E: Error>(_ body: @escaping @Sendable () throws(E) -> T) async throws(E) -> T {
    let result: Swift.Result<T, E> = await withCheckedContinuation { continuation in
        Thread {
            do throws(E) {
                continuation.resume(returning: .success(try body()))
            } catch {
                continuation.resume(returning: .failure(error))
            }
        }.start()
    }
    return try result.get()
}

/// A value one thread sets and another waits for.
final class ThreadResult<Value: Sendable>: @unchecked Sendable {
    private let ready = DispatchSemaphore(value: 0)
    private var value: Value?

    func set(_ value: Value) {
        self.value = value
        ready.signal()
    }

    /// Blocks until ``set(_:)`` was called; call it only on a thread of one's own.
    func get() -> Value {
        ready.wait()
        return value!
    }
}

/// SplitMix64: a small, fast generator that gives the same numbers on every platform, so a failing
/// generated case reproduces from its seed.
public struct SeededGenerator: RandomNumberGenerator {
    private var state: UInt64

    /// Creates a generator from a seed.
    public init(seed: UInt64) { state = seed }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
