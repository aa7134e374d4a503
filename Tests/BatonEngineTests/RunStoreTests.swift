import BatonEngine
import BatonTestSupport
import Foundation
import GRDB
import Testing

/// The run store on real SQLite files: file mode, schema versions, leases.
@Suite struct RunStoreTests {
    static func temporaryPath() -> String {
        NSTemporaryDirectory() + "baton-store-\(UUID().uuidString)/runs.sqlite"
    }

    static func run(_ id: String) -> RunRecord {
        RunRecord(
            id: id, pipeline: "p", pipelinePath: nil, pipelineHash: "h", snapshot: "{}", inputs: "{}", status: .running,
            error: nil, parentRunID: nil, rerunFrom: nil, createdAt: 1, updatedAt: 1, finishedAt: nil, leaseToken: nil,
            leasePid: nil, leaseHost: nil, leaseHeartbeat: nil)
    }

    @Test func theFileIsPrivateAndInWALMode() throws {
        let path = Self.temporaryPath()
        defer { try? FileManager.default.removeItem(atPath: (path as NSString).deletingLastPathComponent) }
        let store = try RunStore(path: path)
        try store.createRun(Self.run("r1"))
        let attributes = try FileManager.default.attributesOfItem(atPath: path)
        #expect((attributes[.posixPermissions] as? Int) == 0o600)
        let mode = try DatabaseQueue(path: path).read { try String.fetchOne($0, sql: "PRAGMA journal_mode") }
        #expect(mode == "wal")
        #expect(try store.integrityCheck() == "ok")
    }

    @Test func aRerunIsCreatedWithItsReusedAttemptsInOneTransaction() async throws {
        // Given a completed two-stage run
        let path = Self.temporaryPath()
        defer { try? FileManager.default.removeItem(atPath: (path as NSString).deletingLastPathComponent) }
        let store = try RunStore(path: path)
        let pipeline = try snapshot(
            """
            version: 1
            stages:
              plan: {model: m, prompt: Plan}
              build: {model: m, prompt: "Build {{stages.plan.output}}"}
            """)
        let runtime = ScriptedRuntime { request, _ in .text("\(request.stage) output") }
        let executor = Executor(store: store, runtimes: runtime, sleep: { _ in })
        guard case .completed(let parent) = try await executor.start(pipeline, inputs: [:], claim: .current()) else {
            Issue.record("the parent run did not complete")
            return
        }

        // When copying the reused attempts into a rerun from 'build' fails
        try await DatabaseQueue(path: path).write {
            try $0.execute(
                sql:
                    "CREATE TRIGGER refuse AFTER INSERT ON attempts WHEN NEW.run_id != '\(parent)' BEGIN SELECT RAISE(ABORT, 'refused'); END"
            )
        }
        await #expect(throws: StoreError.self) {
            _ = try await executor.start(pipeline, inputs: [:], claim: .current(), parent: (parent, "build"))
        }

        // Then no rerun was left behind without its reused work, and the runtime was not called again
        #expect(try store.runs().map(\.id) == [parent])
        #expect(runtime.requests.count == 2)
    }

    @Test func aDatabaseFromANewerBatonIsRefusedAndLeftAlone() throws {
        let path = Self.temporaryPath()
        defer { try? FileManager.default.removeItem(atPath: (path as NSString).deletingLastPathComponent) }
        _ = try RunStore(path: path)
        try DatabaseQueue(path: path).write { try $0.execute(sql: "INSERT INTO grdb_migrations (identifier) VALUES ('v999')") }
        #expect {
            _ = try RunStore(path: path)
        } throws: { error in
            (error as? StoreError)?.code == .newerSchema
                && "\(error)".contains("was written by a newer version of baton")
        }
        let identifiers = try DatabaseQueue(path: path).read { try String.fetchAll($0, sql: "SELECT identifier FROM grdb_migrations") }
        #expect(identifiers == ["v1", "v2", "v3", "v4", "v5", "v6", "v7", "v8", "v9-queue", "v9-queue-workers", "v10-pools", "v999"])
    }

    @Test func aFileThatIsNotADatabaseIsReportedNotOverwritten() throws {
        let path = Self.temporaryPath()
        let folder = (path as NSString).deletingLastPathComponent
        defer { try? FileManager.default.removeItem(atPath: folder) }
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        let garbage = Data((0..<4096).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) })
        try garbage.write(to: URL(fileURLWithPath: path))
        #expect {
            _ = try RunStore(path: path)
        } throws: { error in
            (error as? StoreError)?.code == .corrupt
        }
        #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == garbage)
    }

    @Test func aLiveHolderOnThisHostKeepsTheLeaseThroughALateHeartbeat() {
        let late = 1000 + RunStore.leaseStaleAfter + 30
        func free(_ host: String, alive: Bool, now: Double = late, heartbeat: Double? = 1000) -> Bool {
            RunStore.leaseIsFree(heartbeat: heartbeat, pid: 7, holderHost: host, now: now, host: "h", isAlive: { _ in alive })
        }
        #expect(!free("h", alive: true))  // a loaded machine's late heartbeat: the pid says it lives
        #expect(free("h", alive: false))
        #expect(free("other", alive: true))  // another host: only the heartbeat can tell
        #expect(!free("other", alive: true, now: 1000 + RunStore.leaseStaleAfter - 1))
        #expect(free("h", alive: true, now: 1000 + RunStore.leaseHungAfter))  // hung, or the pid was reused
        #expect(free("h", alive: true, heartbeat: nil))
    }

    @Test func aLeaseKeepsOthersOutUntilItIsStaleOrItsProcessIsGone() throws {
        let store = try RunStore.inMemory()
        try store.createRun(Self.run("r1"))
        let first = LeaseClaim(token: "a", pid: 111, host: "h")
        let second = LeaseClaim(token: "b", pid: 222, host: "h")
        try store.acquireLease("r1", claim: first, isAlive: { _ in true })
        #expect {
            try store.acquireLease("r1", claim: second, isAlive: { _ in true })
        } throws: { error in
            (error as? StoreError)?.code == .leaseHeld && "\(error)".contains("process 111 on h")
        }
        // The holder's process is gone: take over.
        try store.acquireLease("r1", claim: second, isAlive: { $0 != 111 })
        #expect(try store.run("r1").leasePid == 222)
        #expect {
            try store.heartbeat("r1", claim: first)
        } throws: { error in
            (error as? StoreError)?.code == .leaseLost
        }
        try store.releaseLease("r1", claim: second)
        #expect(try store.run("r1").leaseToken == nil)
    }

    @Test func unknownRunsAreNamed() throws {
        let store = try RunStore.inMemory()
        try store.createRun(Self.run("20261126-010203-abcd"))
        #expect {
            _ = try store.run("20261126-010203")
        } throws: { error in
            "\(error)" == "no run '20261126-010203' in the run database; did you mean '20261126-010203-abcd'?"
        }
    }
}
