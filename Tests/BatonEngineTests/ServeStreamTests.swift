import BatonEngine
import BatonTestSupport
import Foundation
import GRDB
import NIOHTTP1
import Testing

/// The event streams: backlog from `?after=` or `Last-Event-ID`, live events written by another connection, no
/// duplicate, no gap, and `end` once the run is over.
@Suite struct ServeStreamTests {
    /// The ids of the frames that carry an event.
    static func ids(_ frames: [SSEFrame]) -> [Int64] { frames.compactMap(\.id) }

    @Test func aFinishedRunsStreamSendsItsEventsInOrderThenEnd() async throws {
        // Given a completed run
        let fixture = try ServeFixture("backlog")
        let id = try await fixture.completedRun()
        let events = try fixture.store.events(id).compactMap(\.id)
        let base = try await fixture.start()

        // When its stream is read from the start, from ?after=, and with Last-Event-ID (which wins over ?after=)
        let all = SSEStream(base + "/api/runs/\(id)/events")
        try await all.waitForEnd()
        let later = SSEStream(base + "/api/runs/\(id)/events?after=\(events[2])")
        try await later.waitForEnd()
        let resumed = SSEStream(base + "/api/runs/\(id)/events?after=\(events[1])", headers: [("Last-Event-ID", "\(events[4])")])
        try await resumed.waitForEnd()
        let bad = try await ServeHTTP.get(base + "/api/runs/\(id)/events?after=yesterday")
        let unknown = try await ServeHTTP.get(base + "/api/runs/20200101-000000-0000/events")
        await fixture.stop()

        // Then each sends the events after its start, in id order, then `end` with the status, and closes
        #expect(all.status == 200)
        #expect(Self.ids(all.frames) == events)
        #expect(Self.ids(later.frames) == Array(events.dropFirst(3)))
        #expect(Self.ids(resumed.frames) == Array(events.dropFirst(5)))
        for stream in [all, later, resumed] {
            #expect(stream.frames.last?.event == "end")
            #expect(stream.frames.last?.object?["status"] as? String == "completed")
            #expect(stream.frames.filter { $0.event == "end" }.count == 1)
        }
        // Each event is the record with its payload parsed, and for attempt kinds the attempt without its texts
        let first = try #require(all.frames.first?.object)
        #expect(first["kind"] as? String == "run-created")
        #expect(first["run_id"] as? String == id)
        #expect(ServeAPITests.isRFC3339(first["at"]))
        let completed = try #require(all.frames.compactMap(\.object).first { $0["kind"] as? String == "attempt-completed" })
        let attempt = try #require(completed["attempt"] as? [String: Any])
        #expect(attempt["status"] as? String == "completed")
        #expect(attempt["stage"] as? String == "plan")
        for key in ["prompt", "output", "thinking", "system", "calls"] { #expect(attempt[key] == nil, "\(key) in an event's attempt") }
        let started = try #require(all.frames.compactMap(\.object).first { $0["kind"] as? String == "attempt-started" })
        #expect((started["payload"] as? [String: Any])?["round"] as? Int == 1)
        #expect(bad.status == 400)
        #expect(unknown.status == 404)
    }

    @Test func anEventCommittedByAnotherConnectionReachesAnOpenStream() async throws {
        // Given a running run whose stream is open
        let fixture = try ServeFixture("live")
        let id = try fixture.runningRun()
        let base = try await fixture.start()
        let stream = SSEStream(base + "/api/runs/\(id)/events?after=0")
        try await stream.wait { Self.ids($0).count == 1 }

        // When another connection appends events, then completes the run
        let other = try fixture.writer()
        for stage in ["plan", "build"] {
            try other.appendEvent(id, kind: .modelLoaded, stage: stage, payload: #"{"model":"m","bytes":"1000"}"#)
            try await Task.sleep(for: .milliseconds(30))
            try other.appendEvent(id, kind: .outputChunk, stage: stage, payload: #"{"text":"héllo 👋","offset":"0"}"#)
        }
        try await stream.wait { Self.ids($0).count == 5 }
        try other.setStatus(id, .completed, event: .runCompleted)
        try await stream.waitForEnd()
        await fixture.stop()

        // Then the stream got every event of the run once, in order, then `end`
        let expected = try fixture.store.events(id).compactMap(\.id)
        #expect(expected.count == 6)
        #expect(Self.ids(stream.frames) == expected)
        #expect(stream.frames.last?.event == "end")
        let chunk = try #require(stream.frames.compactMap(\.object).first { $0["kind"] as? String == "output-chunk" })
        #expect((chunk["payload"] as? [String: Any])?["text"] as? String == "héllo 👋")
    }

    @Test func aReconnectWithLastEventIDMissesAndRepeatsNothing() async throws {
        // Given a running run with a stream open while events arrive
        let fixture = try ServeFixture("reconnect")
        let id = try fixture.runningRun()
        let base = try await fixture.start()
        let other = try fixture.writer()
        let first = SSEStream(base + "/api/runs/\(id)/events")
        try await first.wait { !$0.isEmpty }
        for index in 0..<5 { try other.appendEvent(id, kind: .runtimeNotice, payload: #"{"message":"\#(index)"}"#) }
        try await first.wait { Self.ids($0).count == 6 }

        // When it drops and, while it is away, more events arrive; then it reconnects with the last id it saw
        first.close()
        let seen = Self.ids(first.frames)
        for index in 5..<10 { try other.appendEvent(id, kind: .runtimeNotice, payload: #"{"message":"\#(index)"}"#) }
        let second = SSEStream(base + "/api/runs/\(id)/events", headers: [("Last-Event-ID", "\(seen.last ?? 0)")])
        try await second.wait { Self.ids($0).count == 5 }
        for index in 10..<12 { try other.appendEvent(id, kind: .runtimeNotice, payload: #"{"message":"\#(index)"}"#) }
        try other.setStatus(id, .interrupted, event: .runInterrupted)
        try await second.waitForEnd()
        await fixture.stop()

        // Then the two connections together hold every event exactly once
        let all = seen + Self.ids(second.frames)
        #expect(all == (try fixture.store.events(id).compactMap(\.id)))
        #expect(Set(all).count == all.count)
        #expect(second.frames.last?.object?["status"] as? String == "interrupted")
    }

    @Test func aRunEndsItsStreamOnlyOnceItsProcessLetsGo() async throws {
        // Given a completed run whose process still holds it (the after-run step records model unloads after
        // `run-completed`)
        let fixture = try ServeFixture("settle")
        let id = try fixture.runningRun()
        let claim = LeaseClaim.current()
        let other = try fixture.writer()
        try other.acquireLease(id, claim: claim)
        try other.setStatus(id, .completed, event: .runCompleted)
        let base = try await fixture.start()
        let stream = SSEStream(base + "/api/runs/\(id)/events")
        try await stream.wait { $0.contains { $0.object?["kind"] as? String == "run-completed" } }

        // When the process records one more event, then lets the run go
        try other.appendEvent(id, kind: .modelUnloaded, payload: #"{"model":"m","reason":"after_run"}"#)
        try await stream.wait { $0.contains { $0.object?["kind"] as? String == "model-unloaded" } }
        let before = stream.frames
        try other.releaseLease(id, claim: claim)
        try await stream.waitForEnd()
        await fixture.stop()

        // Then the stream held on until then, sent everything, and ended
        #expect(!before.contains { $0.event == "end" })
        #expect(Self.ids(stream.frames) == (try fixture.store.events(id).compactMap(\.id)))
        #expect(stream.frames.last?.event == "end")
        #expect(stream.frames.last?.object?["status"] as? String == "completed")
    }

    @Test func theEventsOfEveryRunStreamWithoutEnd() async throws {
        let fixture = try ServeFixture("global")
        let first = try fixture.runningRun(id: "20261207-120000-0001")
        let second = try fixture.runningRun(id: "20261207-120000-0002")
        let start = try fixture.store.lastEventID()
        let base = try await fixture.start()
        let fromStart = SSEStream(base + "/api/events?after=0")
        let fromNow = SSEStream(base + "/api/events")
        try await fromStart.wait { Self.ids($0).count == 2 }
        // A stream without a start sends only what happens after its response began.
        let deadline = ContinuousClock.now + .seconds(120)
        while fromNow.status == 0, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(20)) }
        #expect(fromNow.status == 200)

        let other = try fixture.writer()
        try other.setStatus(first, .completed, event: .runCompleted)
        try other.appendEvent(second, kind: .runtimeNotice, payload: #"{"message":"hi"}"#)
        try await fromStart.wait { Self.ids($0).count == 4 }
        try await fromNow.wait { Self.ids($0).count == 2 }
        fromStart.close()
        fromNow.close()
        await fixture.stop()

        let everything = try fixture.store.events(after: 0, runID: nil).compactMap(\.id)
        #expect(Self.ids(fromStart.frames) == everything)
        #expect(Self.ids(fromNow.frames) == everything.filter { $0 > start })
        #expect(!fromStart.frames.contains { $0.event == "end" })
        #expect(Set(fromStart.frames.compactMap { $0.object?["run_id"] as? String }) == [first, second])
    }

    @Test func manyStreamsShareOnePollerThatStopsWithTheLastOne() async throws {
        let fixture = try ServeFixture("share")
        let id = try fixture.runningRun()
        let base = try await fixture.start()
        let tail = try #require(fixture.server?.tail)
        let streams = (0..<20).map { _ in SSEStream(base + "/api/runs/\(id)/events") }
        for stream in streams { try await stream.wait { !$0.isEmpty } }
        #expect(tail.subscriberCount == 20)
        #expect(tail.isPolling)

        try fixture.writer().setStatus(id, .failed, error: "boom", event: .runFailed)
        for stream in streams { try await stream.waitForEnd() }
        #expect(streams.allSatisfy { Self.ids($0.frames).count == 2 && $0.frames.last?.event == "end" })
        // The subscriptions end with their streams; the poller with the last of them.
        let deadline = ContinuousClock.now + .seconds(120)
        while tail.isPolling, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(20)) }
        #expect(tail.subscriberCount == 0)
        #expect(!tail.isPolling)
        await fixture.stop()
    }

    @Test func aStoppingServerEndsItsOpenStreams() async throws {
        let fixture = try ServeFixture("shutdown")
        let id = try fixture.runningRun()
        let base = try await fixture.start()
        let stream = SSEStream(base + "/api/runs/\(id)/events")
        try await stream.wait { !$0.isEmpty }

        await fixture.stop()

        try await stream.waitForEnd()
        #expect(stream.ended)
        #expect(!stream.frames.contains { $0.event == "end" })
    }

    @Test func aReaderTooFarBehindIsDroppedAfterWhatItWasHanded() async throws {
        // Given a subscriber that reads nothing while a writer commits more events than it may fall behind
        let fixture = try ServeFixture("overflow")
        let id = try fixture.runningRun()
        let tail = EventTail(path: fixture.db, interval: .milliseconds(20))
        let subscription = try #require(try tail.subscribe(runID: id))
        let writer = try DatabaseQueue(path: fixture.db)
        try await writer.write { db in
            for index in 0..<(EventTail.bufferLimit + 50) {
                try db.execute(
                    sql: "INSERT INTO events (run_id, at, kind, payload) VALUES (?, 0, 'runtime-notice', ?)",
                    arguments: [id, "{\"n\":\(index)}"])
            }
        }

        // When the poller has handed out what it read
        let deadline = ContinuousClock.now + .seconds(60)
        while tail.subscriberCount > 0, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(20)) }

        // Then the subscriber was dropped, its stream holding the first events in order and then ending, so a
        // reconnect with the last id it got misses nothing
        #expect(tail.subscriberCount == 0)
        var received: [Int64] = []
        for await message in subscription.stream {
            if case .events(let events) = message { received += events.map(\.id) }
        }
        let all = try fixture.store.events(id).compactMap(\.id)
        #expect(received == Array(all.dropFirst().prefix(EventTail.bufferLimit)))
        tail.close()
    }
}
