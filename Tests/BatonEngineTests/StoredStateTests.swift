import BatonEngine
import Foundation
import GRDB
import Testing

/// Run statuses, attempt statuses and event kinds: the database and the JSON outputs hold the same strings as
/// before they were typed, and a string a later Baton wrote is read, not refused.
@Suite struct StoredStateTests {
    @Test func everyKnownStateHasItsOwnStringAndReadsBackAsItself() {
        func check<State: StoredState>(_: State.Type) {
            let strings = State.known.map(\.rawValue)
            #expect(Set(strings).count == strings.count, "\(State.self) has two states with one string")
            for state in State.known {
                #expect(State(rawValue: state.rawValue) == state)
                #expect("\(state)" == state.rawValue)
            }
        }
        check(RunStatus.self)
        check(AttemptStatus.self)
        check(EventKind.self)
        #expect(EventKind.modelEvictedByRuntime.rawValue == "model-evicted-by-runtime")
        #expect(AttemptStatus.superseded.rawValue == "superseded")
    }

    @Test func statesAreStoredAsTheirStringsAndEncodedAsThem() throws {
        let path = NSTemporaryDirectory() + "baton-states-\(UUID().uuidString).sqlite"
        defer { try? FileManager.default.removeItem(atPath: path) }
        let store = try RunStore(path: path)
        try store.createRun(RunStoreTests.run("r1"))
        try store.setStatus("r1", .interrupted, event: .runInterrupted)
        #expect(try Self.rawRow(store, "SELECT status FROM runs") == "interrupted")
        #expect(try Self.rawRow(store, "SELECT kind FROM events ORDER BY id DESC LIMIT 1") == "run-interrupted")
        let json = String(decoding: try JSONEncoder().encode(try store.run("r1")), as: UTF8.self)
        #expect(json.contains("\"status\":\"interrupted\""))
        let events = String(decoding: try JSONEncoder().encode(try store.events("r1")), as: UTF8.self)
        #expect(events.contains("\"kind\":\"run-created\""))
    }

    @Test func aStateALaterBatonWroteIsReadAndKeptAsWritten() throws {
        // Given a database where a later Baton wrote a run status, an attempt status and an event kind this one does not know
        let path = NSTemporaryDirectory() + "baton-states-\(UUID().uuidString).sqlite"
        defer { try? FileManager.default.removeItem(atPath: path) }
        let store = try RunStore(path: path)
        try store.createRun(RunStoreTests.run("r1"))
        let queue = try DatabaseQueue(path: path)
        try queue.write { db in
            try db.execute(sql: "UPDATE runs SET status = 'paused'")
            try db.execute(
                sql: """
                    INSERT INTO attempts (run_id, stage, round, try, status, prompt, output, started_at, fingerprint)
                    VALUES ('r1', 's', 1, 1, 'parked', '', '', 1, 'f')
                    """)
            try db.execute(sql: "INSERT INTO events (run_id, at, kind) VALUES ('r1', 2, 'run-paused')")
        }
        try queue.close()

        // Then they are read as `other`, printed and encoded as written, and not taken for a known state
        let run = try store.run("r1")
        #expect(run.status == .other("paused") && "\(run.status)" == "paused" && !run.status.isFinished)
        #expect(try store.runs(status: RunStatus(rawValue: "paused")).map(\.id) == ["r1"])
        let attempts = try store.attempts("r1")
        #expect(attempts.map(\.status) == [.other("parked")])
        #expect(try store.attemptsWithoutPrompts("r1").map(\.status) == [.other("parked")])
        #expect(try store.events("r1").last?.kind == .other("run-paused"))
        #expect(String(decoding: try JSONEncoder().encode(run), as: UTF8.self).contains("\"status\":\"paused\""))
        // And a record written back keeps the string
        var back = try #require(attempts.first)
        back.output = "kept"
        try store.finishAttempt(back, event: .attemptFailed)
        #expect(try Self.rawRow(store, "SELECT status FROM attempts") == "parked")
    }

    static func rawRow(_ store: RunStore, _ sql: String) throws -> String? {
        guard let path = store.path else {
            return nil
        }
        return try DatabaseQueue(path: path).read { try String.fetchOne($0, sql: sql) }
    }
}
