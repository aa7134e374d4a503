import BatonTestSupport
import Foundation
import GRDB
import Testing

@testable import BatonEngine

/// `baton stats`: figures per model and role from a run database written through the store's own API (so every number
/// is known), and from a real echo run.
@Suite struct StatsCommandTests {
    /// 2026-11-01T10:00:00Z and 2026-12-01T10:00:00Z.
    static let november = 1_793_527_200.0
    static let december = 1_796_119_200.0

    /// A snapshot with just what stats reads: stage names, roles and models, the profile chain.
    static func snapshot(_ stages: [(name: String, role: String?, models: [String])], profile: [String], forced: String? = nil) -> String {
        let stageJSON = stages.map { stage in
            let models = stage.models.map { model -> String in
                let parts = model.split(separator: ":", maxSplits: 1)
                return "{\"name\":\"\(parts[1])\",\"runtime\":\"\(parts[0])\"}"
            }
            let role = stage.role.map { "\"\($0)\"" } ?? "null"
            return "{\"name\":\"\(stage.name)\",\"role\":\(role),\"models\":[\(models.joined(separator: ","))]}"
        }
        let forcedJSON = forced.map { ",\"forcedRuntime\":\"\($0)\"" } ?? ""
        return """
            {"plan":{"stages":[\(stageJSON.joined(separator: ","))]},"profile":{"chain":[\(profile.map { "\"\($0)\"" }.joined(separator: ","))]},"sources":{}\(forcedJSON)}
            """
    }

    static func run(_ id: String, at time: Double, snapshot: String, parent: String? = nil) -> RunRecord {
        RunRecord(
            id: id, pipeline: "p", pipelinePath: nil, pipelineHash: "h", snapshot: snapshot, inputs: "{}", status: .completed,
            parentRunID: parent, createdAt: time, updatedAt: time, finishedAt: time + 60)
    }

    /// Records one finished attempt.
    static func attempt(
        _ store: RunStore, run: String, stage: String, model: String, status: AttemptStatus = .completed, at start: Double,
        firstToken: Double? = nil, finished: Double? = nil, tokens: (prompt: Int, output: Int)? = nil, timings: String? = nil
    ) throws {
        let parts = model.split(separator: ":", maxSplits: 1).map(String.init)
        var record = AttemptRecord(
            id: nil, runID: run, stage: stage, round: 1, tryNumber: 1, status: .running, model: parts[1], runtime: parts[0],
            system: nil, prompt: "", output: "", verdict: nil, feedback: nil, promptTokens: nil, outputTokens: nil, startedAt: start,
            firstTokenAt: nil, finishedAt: nil, timings: nil, error: nil, fingerprint: "f")
        record = try store.startAttempt(record)
        record.status = status
        record.firstTokenAt = firstToken
        record.finishedAt = finished ?? start + 1
        record.promptTokens = tokens?.prompt
        record.outputTokens = tokens?.output
        record.timings = timings
        try store.finishAttempt(record, event: status == .failed ? .attemptFailed : .attemptCompleted)
    }

    /// Run A (November, profile `local`): the planner falls back from gemma to qwen; the critic runs on gemma. Run B
    /// (December, profile `cloud`): a stage without a role on a cloud model without timings, and an echo attempt. Run C
    /// reruns A from its critic, copying A's planner attempt; run D replays A's planner from a `baton test` recording.
    static func database(at path: String) throws {
        let store = try RunStore(path: path)
        let a = snapshot(
            [("plan", "planner", ["llama:gemma-3-270m", "llama:qwen"]), ("review", "critic", ["llama:gemma-3-270m"])],
            profile: ["local", "default"])
        try store.createRun(run("run-a", at: november, snapshot: a))
        try attempt(store, run: "run-a", stage: "plan", model: "llama:gemma-3-270m", status: .failed, at: november)
        try store.appendEvent(
            "run-a", kind: .modelLoaded, stage: "plan", payload: #"{"model":"llama:gemma-3-270m","seconds":"1.500"}"#)
        try store.appendEvent(
            "run-a", kind: .modelFallback, stage: "plan", payload: #"{"from":"llama:gemma-3-270m","to":"llama:qwen","reason":"failed"}"#)
        try store.appendEvent("run-a", kind: .modelLoaded, stage: "plan", payload: #"{"model":"llama:qwen","seconds":"2.000"}"#)
        try attempt(
            store, run: "run-a", stage: "plan", model: "llama:qwen", at: november + 10, firstToken: november + 10.2,
            finished: november + 11, tokens: (100, 50), timings: #"{"prompt":50,"generation":500}"#)
        try store.appendEvent("run-a", kind: .modelLoaded, stage: "review", payload: #"{"model":"llama:gemma-3-270m","seconds":"0.500"}"#)
        try attempt(
            store, run: "run-a", stage: "review", model: "llama:gemma-3-270m", at: november + 20, firstToken: november + 20.1,
            finished: november + 21, tokens: (40, 10), timings: #"{"prompt":20,"generation":100}"#)
        try store.saveFootprint(runtime: "llama", model: "gemma-3-270m", bytes: 300_000_000)

        try store.createRun(run("run-c", at: november + 100, snapshot: a, parent: "run-a"), reusing: ("run-a", ["plan"]))

        // A `baton test --replay` run of A's planner: answered from a recording, so not counted again.
        try store.createRun(run("run-d", at: november + 200, snapshot: a))
        try store.appendEvent("run-d", kind: .testCase, payload: #"{"case":"c","file":"f.test.yaml","repetition":1,"variant":"replay"}"#)
        try attempt(
            store, run: "run-d", stage: "plan", model: "llama:qwen", at: november + 210, firstToken: november + 210.2,
            finished: november + 211, tokens: (100, 50), timings: #"{"prompt":50,"generation":500}"#)

        let b = snapshot([("summary", nil, ["openai:gpt-x"]), ("echoed", "writer", ["echo:echo-small"])], profile: ["cloud"])
        try store.createRun(run("run-b", at: december, snapshot: b))
        try attempt(
            store, run: "run-b", stage: "summary", model: "openai:gpt-x", at: december, firstToken: december + 0.5,
            finished: december + 1.5, tokens: (20, 30))
        try attempt(store, run: "run-b", stage: "echoed", model: "echo:echo-small", at: december + 2, tokens: (5, 5))
        // The store stamps events with the time they are appended; these happened when their runs did.
        try DatabaseQueue(path: path).write { db in
            try db.execute(sql: "UPDATE events SET at = (SELECT created_at FROM runs WHERE runs.id = events.run_id) + 5")
        }
    }

    static func sandboxWithDatabase() throws -> RunSandbox {
        let sandbox = try RunSandbox("stats")
        try database(at: sandbox.db)
        return sandbox
    }

    // MARK: - The table and JSON

    @Test func theTableHasOneRowPerModelAndRole() async throws {
        let sandbox = try Self.sandboxWithDatabase()
        let result = try await sandbox.baton(["stats"])
        #expect(result.status == 0, "\(result.summary)")
        #expect(
            result.stdout == """
                model               role     runs  calls  failed  fallbacks  prompt tok  output tok  gen tok/s  prompt tok/s  ttft ms  loads  load s  peak memory
                llama:gemma-3-270m  critic      1      1       0          0          40          10        100          2000      100      1    0.50       300 MB
                llama:gemma-3-270m  planner     1      1       1          1           0           0          -             -        -      1    1.50       300 MB
                llama:qwen          planner     1      1       0          0         100          50        100          2000      200      1    2.00            -
                openai:gpt-x        -           1      1       0          0          20          30      30.0*             -      500      0       -            -

                2 runs, echo runtime left out (--include-echo counts it)
                * from first token to finish: the runtime gave no timings of its own

                """)
    }

    @Test func jsonHasEveryFieldOfEveryRow() async throws {
        let sandbox = try Self.sandboxWithDatabase()
        let result = try await sandbox.baton(["stats", "--json", "--include-echo"])
        #expect(result.status == 0, "\(result.summary)")
        let document = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
        #expect(document["format_version"] as? Int == 2)
        #expect(document["include_echo"] as? Bool == true)
        #expect(document["since"] is NSNull)
        let rows = try #require(document["rows"] as? [[String: Any]])
        #expect(
            rows.map { "\($0["model"] ?? "") \($0["role"] ?? "")" } == [
                "echo:echo-small writer", "llama:gemma-3-270m critic", "llama:gemma-3-270m planner", "llama:qwen planner",
                "openai:gpt-x <null>",
            ])
        let qwen = try #require(rows.first { $0["model"] as? String == "llama:qwen" })
        #expect(qwen["generation_tokens_per_second"] as? Double == 100)
        #expect(qwen["generation_rate_source"] as? String == "runtime")
        #expect(qwen["prompt_tokens_per_second"] as? Double == 2000)
        #expect(qwen["mean_load_seconds"] as? Double == 2)
        #expect(qwen["peak_memory_bytes"] is NSNull)
        let cloud = try #require(rows.first { $0["model"] as? String == "openai:gpt-x" })
        #expect(cloud["generation_rate_source"] as? String == "wall")
        #expect(cloud["prompt_tokens_per_second"] is NSNull)
        let keys = Set(qwen.keys)
        #expect(rows.allSatisfy { Set($0.keys) == keys })
    }

    // MARK: - Filters

    @Test func profileKeepsRunsStartedWithThatProfile() async throws {
        let sandbox = try Self.sandboxWithDatabase()
        let local = try await sandbox.baton(["stats", "--profile", "local", "--json"])
        let rows = try #require(
            (try JSONSerialization.jsonObject(with: Data(local.stdout.utf8)) as? [String: Any])?["rows"] as? [[String: Any]])
        #expect(Set(rows.compactMap { $0["model"] as? String }) == ["llama:gemma-3-270m", "llama:qwen"])
        // `default` is only extended by `local`: the run did not start with it.
        let extended = try await sandbox.baton(["stats", "--profile", "default"])
        #expect(extended.status == 0)
        #expect(extended.stdout.isEmpty)
        #expect(extended.stderr == "no model calls recorded with profile default (echo runtime left out: --include-echo counts it)\n")
    }

    @Test func sinceADateLeavesOutWhatCameBefore() async throws {
        let sandbox = try Self.sandboxWithDatabase()
        let result = try await sandbox.baton(["stats", "--since", "2026-11-15"])
        #expect(result.status == 0, "\(result.summary)")
        #expect(result.stdout.split(separator: "\n").filter { $0.hasPrefix("llama:") }.isEmpty)
        #expect(result.stdout.contains("openai:gpt-x"))
        #expect(result.stdout.contains("1 run, since 2026-11-15T00:00:00.000Z"))
    }

    @Test func sinceParsesDatesTimesAndDurations() {
        let now = Self.december
        #expect(StatsSince.parse("2026-12-01", now: now) == Self.december - 10 * 3600)
        #expect(StatsSince.parse("2026-12-01T10:00:00Z", now: now) == Self.december)
        #expect(StatsSince.parse("7d", now: now) == now - 7 * 86_400)
        #expect(StatsSince.parse("24h", now: now) == now - 86_400)
        #expect(StatsSince.parse("30m", now: now) == now - 1800)
        #expect(StatsSince.parse("2w", now: now) == now - 14 * 86_400)
        for wrong in ["", "yesterday", "7", "d", "-3d", "2026-13-01", "1.d"] {
            #expect(StatsSince.parse(wrong, now: now) == nil, "\(wrong)")
        }
    }

    @Test func ratesAreSumsOverSumsAndMediansTakeTheMiddle() {
        // 200 tokens in 10 s over three calls is 20 tokens/s, though the calls' own rates (10, 90, 12.5) average 37.5.
        #expect(StatsAggregation.rate(tokens: [10, 90, 100], milliseconds: [1000, 1000, 8000]) == 20)
        #expect(StatsAggregation.rate(tokens: [5], milliseconds: [0]) == nil)
        #expect(StatsAggregation.median([4, 1, 3, 2]) == 2.5)
        #expect(StatsAggregation.median([7, 1, 3]) == 3)
        #expect(StatsAggregation.median([]) == nil)
    }

    @Test func aWrongSinceIsAUsageError() async throws {
        let sandbox = try RunSandbox("stats-usage")
        let result = try await sandbox.baton(["stats", "--since", "last week"])
        #expect(result.status == 64)
        #expect(result.stderr.contains("--since 'last week'"))
    }

    // MARK: - A real run

    /// The crash fixture on the echo runtime: every attempt is counted under its stage's role when echo is asked for.
    @Test func anEchoRunIsCountedOnlyWithIncludeEcho() async throws {
        let sandbox = try RunSandbox("stats-echo")
        let run = try await sandbox.runPipeline()
        try #require(run.status == 0, "\(run.summary)")
        let plain = try await sandbox.baton(["stats"])
        #expect(plain.status == 0)
        #expect(plain.stdout.isEmpty)
        #expect(plain.stderr.contains("no model calls recorded"))

        let result = try await sandbox.baton(["stats", "--include-echo", "--json", "--profile", "ci"])
        #expect(result.status == 0, "\(result.summary)")
        let document = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
        let rows = try #require(document["rows"] as? [[String: Any]])
        let attempts = try sandbox.attempts(try await sandbox.onlyRunID()).filter { $0.model != nil }
        #expect(rows.compactMap { $0["calls"] as? Int }.reduce(0, +) == attempts.count)
        #expect(Set(rows.compactMap { $0["role"] as? String }) == ["planner", "critic", "researcher", "writer"])
        #expect(rows.allSatisfy { ($0["model"] as? String)?.hasPrefix("echo:") == true })
        #expect(document["runs"] as? Int == 1)
    }

    @Test func anEmptyDatabaseSaysSo() async throws {
        let sandbox = try RunSandbox("stats-empty")
        let result = try await sandbox.baton(["stats", "--include-echo"])
        #expect(result.status == 0)
        #expect(result.stdout.isEmpty)
        #expect(result.stderr == "no model calls recorded\n")
    }
}
