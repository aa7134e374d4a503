import BatonEngine
import BatonTestSupport
import Foundation
import Testing

/// A stage, its fan-out item (nil outside fan-out) and a round of its critic loop, as the echo call log and the
/// attempts table name them.
struct StageRound: Hashable, Comparable, CustomStringConvertible, Sendable {
    var stage: String
    var item: Int? = nil
    var round: Int

    var description: String { "\(stage)\(item.map { "[\($0)]" } ?? "")#\(round)" }

    static func < (lhs: StageRound, rhs: StageRound) -> Bool {
        (lhs.stage, lhs.item ?? -1, lhs.round) < (rhs.stage, rhs.item ?? -1, rhs.round)
    }
}

/// A scratch folder for one test of the run commands: its own run database, echo call log and
/// environment (the `ci` profile, the crash fixture's echo script, partial output saved after every
/// token). The folder is removed (and anything mounted in it unmounted) when the sandbox goes away, so
/// tests can run in parallel.
final class RunSandbox: @unchecked Sendable {
    static let fixtures = Fixtures.path("Tests/BatonCommandsTests/Fixtures")
    /// Plan → critic loop (revise, revise, approve) → JSON facts → report.
    static let pipeline = fixtures + "/crash.yaml"
    static let script = fixtures + "/crash-script.yaml"
    static let runArguments = ["run", pipeline, "--profile", "ci", "--input", "task=a garden party"]

    let folder: String
    var environment: [String: String]
    private var mounts: [String] = []
    /// The processes ``start(_:_:launcher:)`` started.
    private var started: [BatonProcess.Running] = []

    /// The database the sandbox's commands use (`BATON_DB`).
    var db: String { environment["BATON_DB"] ?? folder + "/runs.sqlite" }
    var callLog: String { folder + "/calls.tsv" }

    init(_ name: String) throws {
        folder = NSTemporaryDirectory() + "baton-\(name)-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        environment = [
            "BATON_DB": folder + "/runs.sqlite", "BATON_ECHO_CALL_LOG": folder + "/calls.tsv",
            "BATON_ECHO_SCRIPT": Self.script, "BATON_PROFILE_PATH": Fixtures.path("profiles"),
            "BATON_PROGRESS_INTERVAL": "0",
        ]
    }

    deinit {
        // A deinit cannot await; a lazy unmount returns at once.
        for mount in mounts.reversed() { _ = try? Tools.runBlocking("/usr/bin/umount", ["-l", mount]) }
        try? FileManager.default.removeItem(atPath: folder)
    }

    /// Remembers a mount point to unmount at the end.
    func didMount(_ path: String) { mounts.append(path) }

    // MARK: - Running baton

    /// Runs `baton arguments` in the sandbox with its environment plus `extra` (and `launcher` before it).
    ///
    /// While a process the sandbox started still runs, the test is racing it, so this one does not queue behind the
    /// suite's other processes (see `BatonProcess.concurrency`).
    func baton(_ arguments: [String], _ extra: [String: String] = [:], launcher: [String] = []) async throws -> BatonProcess.Result {
        try await BatonProcess.run(
            arguments, in: folder, environment: environment.merging(extra) { $1 }, launcher: launcher,
            limited: !started.contains { $0.isRunning })
    }

    /// Starts `baton arguments` without waiting.
    func start(_ arguments: [String], _ extra: [String: String] = [:], launcher: [String] = []) throws -> BatonProcess.Running {
        let running = try BatonProcess.start(arguments, in: folder, environment: environment.merging(extra) { $1 }, launcher: launcher)
        started.append(running)
        return running
    }

    /// The crash fixture run to completion (or to wherever `extra` stops it).
    func runPipeline(_ extra: [String: String] = [:]) async throws -> BatonProcess.Result {
        try await baton(Self.runArguments, extra)
    }

    /// The run ids in the database, newest first, from `baton runs --json`.
    func runIDs() async throws -> [String] {
        let result = try await baton(["runs", "--json"])
        guard result.status == 0,
            let rows = try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [[String: Any]]
        else {
            Issue.record("baton runs --json failed: \(result.summary)")
            return []
        }
        return rows.compactMap { $0["id"] as? String }
    }

    /// The id of the only run in the database.
    func onlyRunID(sourceLocation: Testing.SourceLocation = #_sourceLocation) async throws -> String {
        let ids = try await runIDs()
        try #require(ids.count == 1, "expected one run, found \(ids)", sourceLocation: sourceLocation)
        return ids[0]
    }

    /// `baton show RUN --format json`, parsed.
    func show(_ runID: String) async throws -> [String: Any] {
        let result = try await baton(["show", runID, "--format", "json"])
        try #require(result.status == 0, "\(result.summary)")
        return try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
    }

    // MARK: - The echo call log

    /// Every runtime call so far, in order.
    func calls() -> [StageRound] {
        let text = (try? String(contentsOfFile: callLog, encoding: .utf8)) ?? ""
        return text.split(separator: "\n").compactMap { line in
            let fields = line.split(separator: "\t")
            // A fan-out item's call has the item as a fourth field.
            guard fields.count == 3 || fields.count == 4, let round = Int(fields[1]) else { return nil }
            return StageRound(stage: String(fields[0]), item: fields.count == 4 ? Int(fields[3]) : nil, round: round)
        }
    }

    func clearCallLog() {
        try? FileManager.default.removeItem(atPath: callLog)
    }

    /// Waits until the call log has a call of `key` (at most `timeout` seconds).
    /// The wait ends as soon as the call is logged; the bound only stops a broken run from hanging the suite. 20 s
    /// was too short on a 2-core machine with builds running beside the suite (SignalTests, 2026-12-07).
    func waitForCall(_ key: StageRound, timeout: Double = 90) async throws -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if calls().contains(key) { return true }
            try await Task.sleep(for: .milliseconds(10))
        }
        return false
    }

    // MARK: - The database, read in-process

    /// The run store on the sandbox's database (open it only while no baton process runs).
    func store() throws -> RunStore { try RunStore(path: db) }

    func attempts(_ runID: String) throws -> [AttemptRecord] { try store().attempts(runID) }

    // MARK: - Small tools

    /// Runs a system tool; returns its status and combined output.
    @discardableResult
    static func tool(_ path: String, _ arguments: [String]) async throws -> (status: Int32, output: String) {
        try await Tools.run(path, arguments)
    }
}

/// An uninterrupted run of the crash fixture: what every interrupted and resumed run must end up with.
struct Baseline: Sendable {
    /// Standard output of `baton run` (the result stages' outputs).
    var stdout: String
    /// Every completed attempt's prompt and output, by stage and round.
    var attempts: [StageRound: (prompt: String, output: String)]
    /// The calls, in order.
    var calls: [StageRound]
    /// How often an uninterrupted run passes each kill point.
    var passages: [String: Int]
    /// The stages it skipped (a `skipped` attempt each, never called).
    var skipped: Set<String> = []

    /// Computed once per test process.
    static let shared = Shared()

    /// The baseline of one fixture (its `baton run` arguments and echo script), made by the first test that asks for it;
    /// the others wait for it. Each crash suite keeps one in a `static let`.
    actor Shared {
        private let arguments: [String]
        private let script: String
        private var task: Task<Baseline, any Error>?

        init(_ arguments: [String] = RunSandbox.runArguments, script: String = RunSandbox.script) {
            self.arguments = arguments
            self.script = script
        }

        func get() async throws -> Baseline {
            if task == nil { task = Task { [arguments, script] in try await Baseline.make(arguments, script: script) } }
            return try await task!.value
        }
    }

    static func make(_ arguments: [String] = RunSandbox.runArguments, script: String = RunSandbox.script) async throws -> Baseline {
        let sandbox = try RunSandbox("baseline")
        sandbox.environment["BATON_ECHO_SCRIPT"] = script
        let result = try await sandbox.baton(arguments)
        guard result.status == 0 else { throw BaselineError(message: "the uninterrupted run failed: \(result.summary)") }
        let id = try await sandbox.onlyRunID()
        let attempts = try sandbox.attempts(id)
        var byKey: [StageRound: (String, String)] = [:]
        for attempt in attempts where attempt.status == .completed {
            byKey[StageRound(stage: attempt.stage, item: attempt.item, round: attempt.round)] = (attempt.prompt, attempt.output)
        }
        let skipped = attempts.filter { $0.status == .skipped }
        let ran = attempts.filter { $0.status != .skipped }
        let tokens = ran.reduce(0) { $0 + ($1.outputTokens ?? 0) }
        let stages = Set(attempts.map(\.stage)).count
        let verdicts = ran.filter { $0.verdict != nil }.count
        return Baseline(
            stdout: result.stdout, attempts: byKey, calls: sandbox.calls(),
            passages: [
                "render": ran.count, "attempt-start-commit": ran.count, "attempt-finish-commit": ran.count,
                "token": tokens, "progress-commit": tokens, "verdict": verdicts, "stage-done": stages, "status-commit": 1,
            ], skipped: Set(skipped.map(\.stage)))
    }

    struct BaselineError: Error, CustomStringConvertible {
        var message: String
        var description: String { message }
    }
}

extension RunSandbox {
    /// Checks a finished run against the baseline, after any number of crashes and resumes.
    ///
    /// The invariants:
    /// 1. the run is `completed` and no process holds it (its lease is released);
    /// 2. `PRAGMA integrity_check` is `ok`;
    /// 3. no completed attempt ran twice: for every (stage, round), the number of runtime calls in the
    ///    echo call log equals the number of attempt rows in the database. Every call creates exactly one
    ///    attempt row (the row is committed before the call, so a crash inside that commit leaves neither),
    ///    and a resumed run reuses a completed attempt without calling the runtime or adding a row; so a
    ///    completed attempt that ran again would show up as one call too many. Totals are compared too;
    /// 4. every (stage, round) of the baseline has exactly one `completed` attempt, with the baseline's
    ///    prompt and output, and there is no other (stage, round);
    /// 5. every other attempt has a status in `stopped` (`aborted` after a crash, `interrupted` after a
    ///    signal) and its partial output is a prefix of the completed output of its (stage, round);
    /// 6. the tries of each (stage, round) are numbered 1, 2, ... in order.
    func checkInvariants(
        _ runID: String, baseline: Baseline, stopped: Set<AttemptStatus> = [.aborted], context: String = "",
        sourceLocation: Testing.SourceLocation = #_sourceLocation
    ) throws {
        for violation in try invariantViolations(runID, baseline: baseline, stopped: stopped) {
            Issue.record("\(context): \(violation)", sourceLocation: sourceLocation)
        }
    }

    /// What ``checkInvariants`` finds wrong, one sentence per broken invariant.
    func invariantViolations(_ runID: String, baseline: Baseline, stopped: Set<AttemptStatus> = [.aborted]) throws -> [String] {
        var violations: [String] = []
        func check(_ condition: Bool, _ message: @autoclosure () -> String) {
            if !condition { violations.append(message()) }
        }
        let store = try self.store()
        let run = try store.run(runID)
        check(run.status == .completed, "the run is \(run.status), not completed")
        check(run.leaseToken == nil, "the lease is still held by pid \(run.leasePid ?? 0)")
        let integrity = try store.integrityCheck()
        check(integrity == "ok", "integrity check: \(integrity)")

        let all = try store.attempts(runID)
        // A skip is recorded without a call: its row is checked apart, against the baseline's skips.
        let skips = all.filter { $0.status == .skipped }
        check(
            Set(skips.map(\.stage)) == baseline.skipped && skips.count == baseline.skipped.count,
            "skipped stages \(skips.map(\.stage).sorted()) differ from the baseline's \(baseline.skipped.sorted())")
        let attempts = all.filter { $0.status != .skipped }
        let rows = Dictionary(grouping: attempts) { StageRound(stage: $0.stage, item: $0.item, round: $0.round) }
        let callList = self.calls()
        let calls = Dictionary(grouping: callList) { $0 }.mapValues(\.count)
        for key in Set(rows.keys).union(calls.keys).sorted() {
            check(
                calls[key, default: 0] == rows[key]?.count ?? 0,
                "\(key) was called \(calls[key, default: 0]) times but has \(rows[key]?.count ?? 0) attempt rows (\(rows[key]?.map(\.status.rawValue) ?? []))"
            )
        }
        check(callList.count == attempts.count, "\(callList.count) runtime calls but \(attempts.count) attempt rows")
        for stage in baseline.skipped.sorted() where callList.contains(where: { $0.stage == stage }) {
            violations.append("skipped stage \(stage) was called")
        }

        check(Set(rows.keys) == Set(baseline.attempts.keys), "stages and rounds \(rows.keys.sorted()) differ from the baseline's")
        for (key, tries) in rows.sorted(by: { $0.key < $1.key }) {
            let completed = tries.filter { $0.status == .completed }
            check(completed.count == 1, "\(key) has \(completed.count) completed attempts")
            check(tries.map(\.tryNumber) == Array(1...tries.count), "\(key) has tries \(tries.map(\.tryNumber))")
            guard let expected = baseline.attempts[key], let done = completed.first else { continue }
            check(done.prompt == expected.prompt, "\(key)'s prompt differs from the baseline's: \(done.prompt)")
            check(done.output == expected.output, "\(key)'s output differs from the baseline's: \(done.output)")
            check(tries.last?.status == .completed, "\(key)'s last try is \(tries.last?.status.rawValue ?? "")")
            for other in tries where other.status != .completed {
                check(stopped.contains(other.status), "\(key) try \(other.tryNumber) is \(other.status)")
                check(
                    expected.output.hasPrefix(other.output),
                    "\(key) try \(other.tryNumber) kept '\(other.output)', not a prefix of '\(expected.output)'")
            }
        }
        return violations
    }
}
