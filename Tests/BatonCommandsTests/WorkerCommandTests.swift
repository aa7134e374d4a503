import BatonEngine
import BatonTestSupport
import Foundation
import Testing

/// `baton submit`, `baton worker` and `baton workers` as a user runs them: real processes on the crash fixture and the
/// `ci` (echo) profile, on SQLite and, when the suite has a cluster, on PostgreSQL.
@Suite struct WorkerCommandTests {
    enum Backend: String, CaseIterable, CustomTestStringConvertible, Sendable {
        case sqlite, postgres
        var testDescription: String { rawValue }
    }

    /// A sandbox whose `BATON_DB` is a fresh PostgreSQL database for `.postgres` (the case is skipped without a cluster).
    static func sandbox(_ name: String, _ backend: Backend) throws -> RunSandbox {
        let sandbox = try RunSandbox(name)
        if backend == .postgres {
            guard let url = try PostgresTestDatabase.fresh() else { try Test.cancel(Comment(rawValue: PostgresTestDatabase.skipReason)) }
            sandbox.environment["BATON_DB"] = url
        }
        return sandbox
    }

    static let submitArguments = ["submit", RunSandbox.pipeline, "--profile", "ci", "--input", "task=a garden party"]

    /// Waits (at most `timeout` seconds) until `condition` holds on `baton runs --json`'s rows.
    static func waitForRuns(
        _ sandbox: RunSandbox, timeout: Double = 180, _ condition: ([[String: Any]]) -> Bool
    ) async throws -> [[String: Any]] {
        let deadline = Date().addingTimeInterval(timeout)
        var rows: [[String: Any]] = []
        while Date() < deadline {
            let result = try await sandbox.baton(["runs", "--json"])
            rows = (try? JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [[String: Any]]) ?? []
            if condition(rows) { return rows }
            try await Task.sleep(for: .milliseconds(200))
        }
        return rows
    }

    /// The completed attempts of `runID`, by stage and round.
    static func completed(_ sandbox: RunSandbox, _ runID: String) async throws -> [StageRound: String] {
        let shown = try await sandbox.show(runID)
        var result: [StageRound: String] = [:]
        for attempt in shown["attempts"] as? [[String: Any]] ?? [] where attempt["status"] as? String == "completed" {
            let key = StageRound(
                stage: attempt["stage"] as? String ?? "", item: attempt["item"] as? Int, round: attempt["round"] as? Int ?? 0)
            result[key] = attempt["output"] as? String
        }
        return result
    }

    @Test(arguments: Backend.allCases) func oneWorkerExecutesEveryQueuedRunAsBatonRunWould(_ backend: Backend) async throws {
        let baseline = try await Baseline.shared.get()
        let sandbox = try Self.sandbox("worker-five", backend)
        var ids: [String] = []
        for _ in 0..<5 {
            let submitted = try await sandbox.baton(Self.submitArguments)
            try #require(submitted.status == 0, "\(submitted.summary)")
            ids.append(submitted.stdout.trimmingCharacters(in: .whitespacesAndNewlines))
        }
        #expect(Set(ids).count == 5)
        let json = try await sandbox.baton(Self.submitArguments + ["--json"])
        let object = try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: String]
        let sixth = try #require(object?["run_id"])
        ids.append(sixth)

        let worker = try sandbox.start(["worker", "--concurrency", "2", "--poll", "0.2", "--id", "w1"])
        let rows = try await Self.waitForRuns(sandbox) { rows in
            rows.count == 6 && rows.allSatisfy { $0["status"] as? String == "completed" }
        }
        worker.send(SIGTERM)
        let ended = await worker.wait()
        #expect(ended.status == 0, "\(ended.summary)")
        #expect(rows.map { $0["status"] as? String } == Array(repeating: "completed", count: 6), "\(rows)")
        #expect(ended.stderr.components(separatedBy: "worker w1: claimed run").count - 1 == 6)
        let expected = baseline.attempts.mapValues(\.output)
        for id in ids {
            #expect(try await Self.completed(sandbox, id) == expected, "run \(id)")
        }
    }

    @Test(arguments: Backend.allCases) func sigtermHandsTheRunBackAndAnotherWorkerFinishesIt(_ backend: Backend) async throws {
        let baseline = try await Baseline.shared.get()
        let sandbox = try Self.sandbox("worker-sigterm", backend)
        // facts hangs under the first worker: the plan and its critic loop complete first.
        let slow = sandbox.folder + "/slow-script.yaml"
        try String(contentsOfFile: RunSandbox.script, encoding: .utf8)
            .replacingOccurrences(of: "  1: {output: '{", with: "  1: {delay: 600s, output: '{")
            .write(toFile: slow, atomically: true, encoding: .utf8)
        let submitted = try await sandbox.baton(Self.submitArguments)
        try #require(submitted.status == 0, "\(submitted.summary)")
        let runID = submitted.stdout.trimmingCharacters(in: .whitespacesAndNewlines)

        let first = try sandbox.start(["worker", "--poll", "0.2", "--id", "first"], ["BATON_ECHO_SCRIPT": slow])
        try #require(try await sandbox.waitForCall(StageRound(stage: "facts", round: 1)), "facts never started")
        first.send(SIGTERM)
        let stopped = await first.wait()
        #expect(stopped.status == 0, "\(stopped.summary)")
        #expect(stopped.stderr.contains("worker first: handed back run \(runID) (worker stopping)"), "\(stopped.stderr)")
        let queued = try await Self.waitForRuns(sandbox, timeout: 5) { _ in true }
        #expect(queued.first?["status"] as? String == "queued")

        let callsBefore = sandbox.calls()
        let second = try await sandbox.baton(["worker", "--once", "--poll", "0.2", "--id", "second"])
        #expect(second.status == 0, "\(second.summary)")
        #expect(second.stderr.contains("worker second: finished run \(runID): completed"), "\(second.stderr)")
        // Only facts (interrupted under the first worker) and report run again; the critic loop is not repeated.
        let again = Array(sandbox.calls().dropFirst(callsBefore.count))
        #expect(again == [StageRound(stage: "facts", round: 1), StageRound(stage: "report", round: 1)])
        #expect(try await Self.completed(sandbox, runID) == baseline.attempts.mapValues(\.output))
        let shown = try await sandbox.show(runID)
        let kinds = (shown["events"] as? [[String: Any]] ?? []).compactMap { $0["kind"] as? String }
        #expect(kinds.filter { $0 == "run-claimed" }.count == 2)
        #expect(kinds.contains("run-requeued"))
    }

    @Test func workersAndRunsShowWhoWorksAndWhyRunsWait() async throws {
        let sandbox = try Self.sandbox("worker-list", .sqlite)
        let gpu = try await sandbox.baton(Self.submitArguments + ["--labels", "gpu"])
        try #require(gpu.status == 0, "\(gpu.summary)")
        var runs = try await sandbox.baton(["runs"])
        #expect(runs.stdout.contains("waiting for a worker (none is running: start 'baton worker')"), "\(runs.stdout)")

        let worker = try sandbox.start(["worker", "--poll", "0.2", "--id", "w-list", "--labels", "cpu,big"])
        let deadline = Date().addingTimeInterval(120)
        var listed = try await sandbox.baton(["workers"])
        while !listed.stdout.contains("w-list  alive"), Date() < deadline {
            try await Task.sleep(for: .milliseconds(200))
            listed = try await sandbox.baton(["workers"])
        }
        #expect(listed.stdout.contains("w-list  alive"), "\(listed.summary)")
        #expect(listed.stdout.contains("labels cpu,big"))
        let listedJSON = try await sandbox.baton(["workers", "--json"])
        let object = try JSONSerialization.jsonObject(with: Data(listedJSON.stdout.utf8)) as? [String: Any]
        let rows = object?["workers"] as? [[String: Any]] ?? []
        #expect(rows.map { $0["id"] as? String } == ["w-list"])
        #expect(rows.first?["alive"] as? Bool == true)

        runs = try await sandbox.baton(["runs"])
        #expect(runs.stdout.contains("needs labels gpu; no live worker has them"), "\(runs.stdout)")
        let newer = try await sandbox.baton(Self.submitArguments, ["BATON_ENGINE_LEVEL": "2"])
        try #require(newer.status == 0, "\(newer.summary)")
        runs = try await sandbox.baton(["runs", "--json"])
        #expect(runs.stdout.contains("needs engine level 2; live workers have 1"), "\(runs.stdout)")

        worker.send(SIGTERM)
        let ended = await worker.wait()
        #expect(ended.status == 0, "\(ended.summary)")
        let after = try await sandbox.baton(["workers", "--json"])
        #expect(!after.stdout.contains("w-list"), "a stopped worker deregisters: \(after.stdout)")
    }

    @Test func badInputExitsWithTheDocumentedCodes() async throws {
        let sandbox = try Self.sandbox("worker-bad", .sqlite)
        let unknown = try await sandbox.baton(["submit", "no-such-pipeline", "--profile", "ci"])
        #expect(unknown.status == 66, "\(unknown.summary)")
        let zero = try await sandbox.baton(["worker", "--concurrency", "0"])
        #expect(zero.status == 64, "\(zero.summary)")
        #expect(zero.stderr.contains("--concurrency 0"))
        // Nothing listens on port 1: the server is down.
        let down = ["--db", "postgres://baton@127.0.0.1:1/baton"]
        let submit = try await sandbox.baton(Self.submitArguments + down)
        #expect(submit.status == 74, "\(submit.summary)")
        #expect(submit.stderr.contains("cannot be reached"), "\(submit.stderr)")
        let worker = try await sandbox.baton(["worker", "--once"] + down)
        #expect(worker.status == 74, "\(worker.summary)")
        let workers = try await sandbox.baton(["workers"] + down)
        #expect(workers.status == 74, "\(workers.summary)")
    }
}
