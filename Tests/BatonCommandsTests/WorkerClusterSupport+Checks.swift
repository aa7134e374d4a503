import BatonEngine
import BatonTestSupport
import Foundation
import Testing

/// What a single-process `baton run` of the worker fixture (on SQLite) produces for one topic: every completed attempt's
/// prompt and output by stage and round. Runs executed by workers must end with exactly these.
struct RelayBaseline: Sendable {
    var attempts: [StageRound: (prompt: String, output: String)]
    /// `baton run`'s standard output (the summary stage's output).
    var stdout: String

    private static let cache = Cache()

    /// The baseline of `topic`, made once per test process.
    static func of(_ topic: String) async throws -> RelayBaseline { try await cache.get(topic) }

    private actor Cache {
        private var tasks: [String: Task<RelayBaseline, any Error>] = [:]

        func get(_ topic: String) async throws -> RelayBaseline {
            if let task = tasks[topic] { return try await task.value }
            let task = Task { try await RelayBaseline.make(topic) }
            tasks[topic] = task
            return try await task.value
        }
    }

    private static func make(_ topic: String) async throws -> RelayBaseline {
        let folder = NSTemporaryDirectory() + "baton-relay-baseline-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let database = folder + "/runs.sqlite"
        let result = try await BatonProcess.run(
            ["run", WorkerCluster.pipeline, "--profile", "ci", "--input", "topic=\(topic)"], in: folder,
            environment: [
                "BATON_DB": database, "BATON_PROFILE_PATH": Fixtures.path("profiles"), "BATON_ECHO_SCRIPT": WorkerCluster.script,
            ])
        try #require(result.status == 0, "the single-process run failed: \(result.summary)")
        let store = try RunStore(path: database)
        let run = try #require(try store.runs(limit: 1).first)
        var attempts: [StageRound: (String, String)] = [:]
        for attempt in try store.attempts(run.id) where attempt.status == .completed {
            attempts[StageRound(stage: attempt.stage, item: attempt.item, round: attempt.round)] = (attempt.prompt, attempt.output)
        }
        return RelayBaseline(attempts: attempts, stdout: result.stdout)
    }
}

/// One attempt row, as the checks read it from PostgreSQL.
struct ClusterAttempt: Sendable {
    var run: String
    var key: StageRound
    var tryNumber: Int
    var status: String
    var prompt: String
    var output: String
}

extension WorkerCluster {
    /// Every attempt row, in (run, stage, item, round, try) order.
    func attempts() async throws -> [ClusterAttempt] {
        try await query(
            "SELECT run_id, stage, item, round, try, status, prompt, output FROM attempts ORDER BY run_id, stage, item NULLS FIRST, round, try"
        ).map { row in
            ClusterAttempt(
                run: row["run_id"] as? String ?? "",
                key: StageRound(
                    stage: row["stage"] as? String ?? "", item: (row["item"] as? NSNumber)?.intValue,
                    round: (row["round"] as? NSNumber)?.intValue ?? 0),
                tryNumber: (row["try"] as? NSNumber)?.intValue ?? 0, status: row["status"] as? String ?? "",
                prompt: row["prompt"] as? String ?? "", output: row["output"] as? String ?? "")
        }
    }

    /// Waits until every run in `runs` has ended (completed, failed or interrupted); whether they all did.
    func waitForRuns(_ runs: some Collection<String>, timeout: Double = 180) async throws -> Bool {
        try await waitUntil(timeout: timeout) {
            let statuses = try await statuses()
            return runs.allSatisfy { ["completed", "failed", "interrupted"].contains(statuses[$0] ?? "") }
        }
    }

    /// What is wrong with the runs `topics` names (run id → topic) once they have ended, one sentence per broken rule:
    /// 1. every run is `completed`;
    /// 2. every (stage, item, round) of the baseline has exactly one `completed` attempt with the baseline's prompt and
    ///    output, byte for byte, and there is no other (stage, item, round);
    /// 3. the tries of each are numbered 1, 2, ... and every try but the last is in `stopped` (`aborted` when its worker
    ///    died, `interrupted` when it was stopped), its partial output a prefix of the completed one;
    /// 4. no completed attempt ran twice: the calls the echo runtimes of all the workers logged, counted by (stage, item,
    ///    round), equal the attempt rows (every call has its row, committed before the call, and a run taken over
    ///    reuses completed attempts without calling). Only the runs of this cluster are counted, so the call logs hold
    ///    exactly their calls.
    func violations(_ topics: [String: String], stopped: Set<String> = ["aborted"]) async throws -> [String] {
        var violations: [String] = []
        let statuses = try await statuses()
        let attempts = try await attempts()
        let byRun = Dictionary(grouping: attempts, by: \.run)
        for (run, topic) in topics.sorted(by: { $0.key < $1.key }) {
            let baseline = try await RelayBaseline.of(topic)
            if statuses[run] != "completed" { violations.append("run \(run) is \(statuses[run] ?? "missing"), not completed") }
            let rows = Dictionary(grouping: byRun[run] ?? [], by: \.key)
            if Set(rows.keys) != Set(baseline.attempts.keys) {
                violations.append("run \(run) has stages and rounds \(rows.keys.sorted()), the baseline \(baseline.attempts.keys.sorted())")
            }
            for (key, tries) in rows.sorted(by: { $0.key < $1.key }) {
                let completed = tries.filter { $0.status == "completed" }
                if completed.count != 1 { violations.append("run \(run): \(key) has \(completed.count) completed attempts") }
                if tries.map(\.tryNumber) != Array(1...tries.count) {
                    violations.append("run \(run): \(key) has tries \(tries.map(\.tryNumber))")
                }
                if tries.last?.status != "completed" { violations.append("run \(run): \(key)'s last try is \(tries.last?.status ?? "")") }
                guard let expected = baseline.attempts[key] else { continue }
                for done in completed where done.prompt != expected.prompt || done.output != expected.output {
                    violations.append("run \(run): \(key) differs from the single-process run's: \(done.prompt) → \(done.output)")
                }
                for other in tries where other.status != "completed" {
                    if !stopped.contains(other.status) { violations.append("run \(run): \(key) try \(other.tryNumber) is \(other.status)") }
                    if !expected.output.hasPrefix(other.output) {
                        violations.append("run \(run): \(key) try \(other.tryNumber) kept '\(other.output)', not a prefix of the output")
                    }
                }
            }
        }
        let calls = Dictionary(grouping: allWorkers.flatMap { $0.calls() }) { $0 }.mapValues(\.count)
        let counted = Dictionary(grouping: attempts.filter { topics[$0.run] != nil }, by: \.key).mapValues(\.count)
        for key in Set(calls.keys).union(counted.keys).sorted() where calls[key, default: 0] != counted[key, default: 0] {
            violations.append("\(key) was called \(calls[key, default: 0]) times but has \(counted[key, default: 0]) attempt rows")
        }
        return violations
    }

    /// Records every violation as an issue, with `context`.
    func checkRuns(
        _ topics: [String: String], stopped: Set<String> = ["aborted"], context: String,
        sourceLocation: Testing.SourceLocation = #_sourceLocation
    ) async throws {
        for violation in try await violations(topics, stopped: stopped) {
            Issue.record("\(context): \(violation)", sourceLocation: sourceLocation)
        }
    }

    /// The workers' logs, for failure messages.
    var logs: String {
        allWorkers.map { "--- worker \($0.name) (\($0.isRunning ? "running" : "ended"))\n\($0.log)" }.joined(separator: "\n")
    }
}
