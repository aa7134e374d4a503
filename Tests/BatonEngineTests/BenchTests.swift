import BatonEngine
import BatonSpec
import BatonTestSupport
import Foundation
import Testing

@testable import BatonEngine

#if canImport(FoundationXML)
    import FoundationXML
#endif

/// `baton bench`'s parts without models: the figures from a store with known attempts, the chart, the winners, the
/// profile edit and its diff, the bench file, the role override and the /proc sampler.
@Suite struct BenchTests {
    /// A store with one run of a planner → executor pipeline, with attempts whose times and timings are known.
    static func storeWithKnownRun() throws -> (RunStore, String) {
        let store = try RunStore.inMemory()
        let pipeline = try snapshot(
            """
            version: 1
            stages:
              plan: {role: planner, model: m, prompt: Plan}
              review: {role: critic, model: m, reviews: plan, max_rounds: 2, prompt: "Check {{stages.plan.output}}"}
              build: {role: executor, model: m, needs: [review], prompt: "Build {{stages.plan.output}}"}
            """)
        let runID = "20261207-000000-0001"
        try store.createRun(
            RunRecord(
                id: runID, pipeline: "p", pipelinePath: nil, pipelineHash: "h", snapshot: try pipeline.encoded(), inputs: "{}",
                status: .completed, createdAt: 1000, updatedAt: 1000))
        // The planner: two rounds with runtime timings (100 prompt tokens in 200 ms, 50 output tokens in 1000 ms, then
        // 300 in 400 ms and 150 in 2000 ms); TTFTs 100 ms and 300 ms.
        func attempt(_ stage: String, round: Int, start: Double, first: Double?, end: Double, prompt: Int, output: Int, timings: String?)
            throws
        {
            var record = AttemptRecord(
                id: nil, runID: runID, stage: stage, round: round, tryNumber: 1, status: .running, model: "m", runtime: "local",
                system: nil, prompt: "p", output: "", verdict: nil, feedback: nil, promptTokens: nil, outputTokens: nil, startedAt: start,
                firstTokenAt: nil, finishedAt: nil, timings: nil, error: nil, fingerprint: "f")
            record = try store.startAttempt(record)
            record.status = .completed
            record.output = "out"
            record.promptTokens = prompt
            record.outputTokens = output
            record.firstTokenAt = first
            record.finishedAt = end
            record.timings = timings
            try store.finishAttempt(record, event: .attemptCompleted)
        }
        try attempt(
            "plan", round: 1, start: 10, first: 10.1, end: 11.2, prompt: 100, output: 50, timings: #"{"prompt": 200, "generation": 1000}"#)
        try attempt(
            "plan", round: 2, start: 20, first: 20.3, end: 22.5, prompt: 300, output: 150, timings: #"{"prompt": 400, "generation": 2000}"#)
        // The executor has no runtime timings: wall times only (prompt 40 tokens over 0.5 s, 30 tokens over 1.5 s).
        try attempt("build", round: 1, start: 30, first: 30.5, end: 32, prompt: 40, output: 30, timings: nil)
        try attempt("review", round: 1, start: 12, first: 12.2, end: 12.4, prompt: 10, output: 5, timings: #"{"generation": 100}"#)
        try store.appendEvent(runID, kind: .modelLoaded, stage: "plan", payload: #"{"model": "local:m", "seconds": "1.500"}"#)
        try store.appendEvent(runID, kind: .modelLoaded, stage: "plan", payload: #"{"model": "local:m", "seconds": "0.500"}"#)
        try store.appendEvent(runID, kind: .modelLoaded, stage: "build", payload: #"{"model": "local:m", "seconds": "9.000"}"#)
        return (store, runID)
    }

    static func report(runIDs: [String?], statuses: [TestStatus], judge: [Double] = []) -> TestReport {
        let repetitions = zip(runIDs, statuses).enumerated().map { index, pair in
            TestRepetition(
                runID: pair.0, status: pair.1,
                assertions: index < judge.count
                    ? [AssertionResult(name: "judge", stage: nil, status: .passed, message: "", score: judge[index])] : [],
                seconds: 1)
        }
        return TestReport(
            cases: [
                TestCaseResult(
                    file: "t.test.yaml", pipeline: "p", name: "a", variant: "v", status: .passed, passRate: 1, repetitions: repetitions),
                TestCaseResult(
                    file: "t.test.yaml", pipeline: "p", name: "s", variant: "v", status: .skipped, passRate: 0, repetitions: [],
                    skipReason: "x"),
            ], seconds: 1)
    }

    @Test func theFiguresOfARoleComeFromItsAttemptsAndLoads() throws {
        let (store, runID) = try Self.storeWithKnownRun()
        let report = Self.report(runIDs: [runID, runID, nil], statuses: [.passed, .failed, .error], judge: [0.5, 1.0])

        let result = try BenchRunner.result(of: report, role: "planner", model: "m", runtime: "local", store: store)

        #expect(result.cases == 1)
        #expect(result.repetitions == 3 && result.passedRepetitions == 1 && result.errors == 1)
        #expect(result.passRate == 1.0 / 3)
        #expect(result.judgeScore == 0.75)
        // Each run id is measured as often as it is listed; the sums double, the rates do not change.
        #expect(result.promptTokens == 800 && result.outputTokens == 400)
        #expect(result.speedSource == .runtime)
        #expect(abs((result.promptTokensPerSecond ?? 0) - 400.0 / 0.6) < 1e-6)
        #expect(abs((result.generationTokensPerSecond ?? 0) - 200.0 / 3.0) < 1e-6)
        #expect(abs((result.ttftMs ?? 0) - 200) < 1e-6, "median of 100, 100, 300, 300 ms")
        #expect(result.loads == 4 && abs((result.loadMs ?? 0) - 1000) < 1e-6)
    }

    @Test func withoutRuntimeTimingsTheSpeedsComeFromWallTimes() throws {
        let (store, runID) = try Self.storeWithKnownRun()

        let result = try BenchRunner.result(
            of: Self.report(runIDs: [runID], statuses: [.passed]), role: "executor", model: "m", runtime: "local", store: store)

        #expect(result.speedSource == .wall)
        #expect(abs((result.promptTokensPerSecond ?? 0) - 80) < 1e-6)
        #expect(abs((result.generationTokensPerSecond ?? 0) - 20) < 1e-6)
        #expect(result.loadMs == 9000)
        #expect(abs((result.ttftMs ?? 0) - 500) < 1e-6)
    }

    @Test func resultsAreKeptInTheStoreAndReadBack() throws {
        let (store, runID) = try Self.storeWithKnownRun()
        var result = try BenchRunner.result(
            of: Self.report(runIDs: [runID], statuses: [.passed]), role: "planner", model: "m", runtime: "local", store: store)
        result.peakRSSBytes = 123_456_789
        result.memorySource = .vmHWM

        try store.saveBenchResults([result], benchID: "bench-1", at: 5)
        let read = try store.benchResults(benchID: "bench-1")

        #expect(read.count == 1)
        #expect(read.first?.result == result)
        #expect(read.first?.createdAt == 5)
        #expect(try store.benchResults(benchID: "other").isEmpty)
    }

    static func row(_ role: String, _ model: String, pass: Double?, judge: Double? = nil, speed: Double?, errors: Int = 0) -> BenchResult {
        var result = BenchResult(role: role, model: model, runtime: "local")
        result.repetitions = 2
        result.errors = errors
        result.passRate = pass
        result.judgeScore = judge
        result.generationTokensPerSecond = speed
        return result
    }

    @Test func theChartIsXMLWithOnePointPerRowAndTheSameTextEachTime() throws {
        let rows = [
            Self.row("planner", "a", pass: 1, speed: 40), Self.row("planner", "b & <c>", pass: 0.5, speed: 80),
            Self.row("executor", "a", pass: 0.25, speed: nil),
        ]

        let svg = BenchChart.svg(rows, title: "bench \u{1}")

        #expect(svg == BenchChart.svg(rows, title: "bench \u{1}"))
        let document = try XMLDocument(xmlString: svg, options: [])
        let points = try document.nodes(forXPath: "//*[local-name()='circle' and @class='point']")
        #expect(points.count == 3)
        func attribute(_ node: XMLNode, _ name: String) -> String? {
            (node as? XMLElement)?.attributes?.first { $0.name == name }?.stringValue
        }
        let models = points.compactMap { attribute($0, "data-model") }
        #expect(models == ["a", "b & <c>", "a"])
        // Two roles, two colours; the point without a speed sits on the y axis and says so.
        let fills = Set(points.compactMap { attribute($0, "fill") })
        #expect(fills.count == 2)
        #expect(svg.contains("a (no tok/s)"))
        #expect(svg.contains(">pass rate<"))
    }

    @Test func theChartUsesTheJudgeScoreWhenEveryRowHasOne() {
        let svg = BenchChart.svg([Self.row("planner", "a", pass: 1, judge: 0.5, speed: 10)])
        #expect(svg.contains(">judge score (mean)<"))
    }

    @Test func winnersArePassRateThenJudgeThenSpeedAndNeverAllErrors() {
        let rows = [
            Self.row("planner", "slow", pass: 1, judge: 0.5, speed: 10),
            Self.row("planner", "judged", pass: 1, judge: 0.9, speed: 5),
            Self.row("planner", "fast", pass: 0.5, judge: 1, speed: 100),
            Self.row("executor", "first", pass: 1, speed: 20),
            Self.row("executor", "second", pass: 1, speed: 20),
            Self.row("executor", "broken", pass: 0, speed: nil, errors: 2),
            Self.row("critic", "broken", pass: 0, speed: nil, errors: 2),
        ]

        let winners = ProfileWinners.winners(rows).map { "\($0.role)=\($0.model)" }

        #expect(winners == ["planner=judged", "executor=first"])
    }

    static let profile = """
        # A profile with comments that must stay.
        version: 1
        name: p
        models:
          a: {runtime: local}   # the small one
        roles:
          planner:
            models: [old, a]   # planner's list
            temperature: 0.2
          critic:
            # the critic
            models:
              - old
              - a
          executor:
            temperature: 0.5
          writer: {temperature: 0.7}
        defaults:
          max_tokens: 64
        """

    @Test func theProfileEditMovesTheWinnerFirstAndKeepsEverythingElse() throws {
        let edited = try ProfileWinners.edit(
            Self.profile, path: "p.yaml", winners: [(role: "planner", model: "a"), (role: "critic", model: "a")])

        let diff = ProfileDiff.unified(old: Self.profile, new: edited, oldName: "a/p.yaml", newName: "b/p.yaml")
        #expect(
            diff == """
                --- a/p.yaml
                +++ b/p.yaml
                @@ -5,13 +5,13 @@
                   a: {runtime: local}   # the small one
                 roles:
                   planner:
                -    models: [old, a]   # planner's list
                +    models: [a, old]   # planner's list
                     temperature: 0.2
                   critic:
                     # the critic
                     models:
                -      - old
                       - a
                +      - old
                   executor:
                     temperature: 0.5
                   writer: {temperature: 0.7}

                """)
    }

    @Test func aRoleWithoutModelsOrMissingGetsThemAndInheritedModelsStayAfterTheWinner() throws {
        let edited = try ProfileWinners.edit(
            Self.profile, path: "p.yaml",
            winners: [(role: "executor", model: "x"), (role: "writer", model: "y"), (role: "researcher", model: "ollama:q")],
            inherited: ["executor": ["base", "x"]])

        let decoded = try #require(ProfileDecoder.decode(SourceFile(path: "p.yaml", text: edited), environment: [:]).spec)
        #expect(decoded.role(named: "executor")?.models?.map(\.text) == ["x", "base"])
        #expect(decoded.role(named: "writer")?.models?.map(\.text) == ["y"])
        #expect(decoded.role(named: "researcher")?.models?.map(\.text) == ["ollama:q"])
        #expect(decoded.role(named: "planner")?.models?.map(\.text) == ["old", "a"])
        #expect(edited.contains("# the small one") && edited.contains("# planner's list") && edited.contains("# the critic"))
        #expect(edited.contains("    models: [x, base]\n    temperature: 0.5"))
        #expect(edited.contains("  writer: {models: [y], temperature: 0.7}"))
    }

    @Test func aProfileWithoutRolesGetsASectionAndAWinnerAlreadyFirstChangesNothing() throws {
        let bare = "version: 1\nname: p\n"
        let edited = try ProfileWinners.edit(bare, path: "p.yaml", winners: [(role: "planner", model: "a")])
        #expect(edited == "version: 1\nname: p\nroles:\n  planner:\n    models: [a]\n")
        #expect(try ProfileWinners.edit(edited, path: "p.yaml", winners: [(role: "planner", model: "a")]) == edited)
        #expect(ProfileDiff.unified(old: edited, new: edited, oldName: "a", newName: "b").isEmpty)
    }

    @Test func aBenchFileIsReadAndItsMistakesAreLocated() throws {
        let spec = try BenchSpec.decode(
            """
            tests: [code-task, checks/hello.test.yaml]
            profile: local-gemma
            repeat: 3
            roles:
              planner: [a, b]
              executor: c
            """, path: "/w/bench.yaml")
        #expect(spec.tests == ["code-task", "/w/checks/hello.test.yaml"])
        #expect(spec.profile == "local-gemma" && spec.repeatCount == 3)
        #expect(spec.roles == [BenchRole(name: "planner", candidates: ["a", "b"]), BenchRole(name: "executor", candidates: ["c"])])

        #expect(throws: BenchSpec.Failure("/w/bench.yaml:2:9: error: 'repeat' is a whole number of at least 1")) {
            try BenchSpec.decode("tests: [x]\nrepeat: none\nroles: {a: [b]}", path: "/w/bench.yaml")
        }
        #expect(
            throws: BenchSpec.Failure(
                "/w/bench.yaml:3:1: error: unknown key 'role' in a bench file; the keys are tests, profile, repeat, roles")
        ) {
            try BenchSpec.decode("tests: [x]\nroles: {a: [b]}\nrole: {}", path: "/w/bench.yaml")
        }
        #expect(throws: BenchSpec.Failure("/w/bench.yaml:2:18: error: role 'planner' lists its candidate models, as [model-a, model-b]")) {
            try BenchSpec.decode("tests: [x]\nroles: {planner: []}", path: "/w/bench.yaml")
        }
        #expect(throws: BenchSpec.Failure("--role takes ROLE=MODEL[,MODEL...], got 'planner'")) { try BenchRole(argument: "planner") }
        #expect(try BenchRole(argument: "planner=a, b") == BenchRole(name: "planner", candidates: ["a", "b"]))
    }

    @Test func theRoleOverrideReplacesEveryStageOfTheRoleAndItsFallbacks() throws {
        let plan = try snapshot(
            """
            version: 1
            stages:
              plan: {role: planner, model: [x, y], prompt: Plan}
              again: {role: planner, model: x, prompt: Again}
              build: {role: executor, model: z, prompt: "Build {{stages.plan.output}} {{stages.again.output}}"}
            """
        ).plan

        let overridden = RoleOverride.apply(["planner": "cand", "writer": "w"], to: plan, profile: nil)

        #expect(overridden.stages.map { $0.models.map(\.name) } == [["cand"], ["cand"], ["z"]])
        #expect(RoleOverride.variant(["planner": "a", "executor": "b"]) == "executor=b planner=a")
        let failures = RoleOverride.check(
            [(role: "writer", candidates: ["w"]), (role: "planner", candidates: ["cand"])], plans: [plan], profile: nil, inventory: nil,
            echo: false)
        #expect(
            failures.map(\.message) == [
                "no stage of the tested pipelines has role 'writer'; their roles are 'executor', 'planner'",
                "model 'w' for role 'writer' needs a profile to find its runtime; give --profile",
                "model 'cand' for role 'planner' needs a profile to find its runtime; give --profile",
            ])
        #expect(
            RoleOverride.check([(role: "planner", candidates: ["cand"])], plans: [plan], profile: nil, inventory: nil, echo: true).isEmpty)
    }

    @Test func theSamplerFindsTheRouterChildOfTheModelAndReadsItsPeak() throws {
        let root = NSTemporaryDirectory() + "baton-proc-\(UUID().uuidString.prefix(8))"
        defer { try? FileManager.default.removeItem(atPath: root) }
        func process(_ pid: Int, _ arguments: [String], hwm: String) throws {
            try FileManager.default.createDirectory(atPath: "\(root)/\(pid)", withIntermediateDirectories: true)
            try Data((arguments.joined(separator: "\0") + "\0").utf8).write(to: URL(fileURLWithPath: "\(root)/\(pid)/cmdline"))
            try "Name:\tllama-server\nVmPeak:\t 9999999 kB\nVmHWM:\t\(hwm) kB\nVmRSS:\t 1 kB\n".write(
                toFile: "\(root)/\(pid)/status", atomically: true, encoding: .utf8)
        }
        let server = "/opt/llama-server"
        try process(10, [server, "--port", "8080", "--models-dir", "/m"], hwm: "  50000")
        try process(11, [server, "--alias", "gemma-a", "--model", "/m/gemma-a.gguf", "--port", "40001"], hwm: "  350368")
        try process(12, [server, "--alias", "gemma-b", "--model", "/m/gemma-b.gguf", "--port", "40002"], hwm: "  100")
        try process(13, ["/usr/bin/python3", "--alias", "gemma-a"], hwm: "  999999")

        #expect(LlamaServerMemory(model: "gemma-a", url: "http://127.0.0.1:8080", procRoot: root).sample() == Int64(350_368 * 1024))
        #expect(LlamaServerMemory(model: "gone", url: "http://127.0.0.1:8080", procRoot: root).sample() == nil)
        // A single-model server (no router): the llama-server with a model file on the runtime's port.
        try process(14, [server, "-m", "/m/other.gguf", "--port", "9090"], hwm: "  7")
        #expect(LlamaServerMemory(model: "whatever", url: "http://localhost:9090", procRoot: root).sample() == Int64(7 * 1024))
        // Only a llama-server on this machine is sampled.
        let profile = ProfileDecoder.decode(
            SourceFile(
                path: "p.yaml",
                text:
                    "version: 1\nname: p\nruntimes:\n  far: {kind: llama-server, url: 'http://10.0.0.2:8080'}\n  near: {kind: llama-server, url: 'http://127.0.0.1:8080'}\n"
            ),
            environment: [:]
        ).spec
        #expect(LlamaServerMemory.forRuntime(profile?.runtime(named: "far"), model: "a") == nil)
        #expect(LlamaServerMemory.forRuntime(profile?.runtime(named: "near"), model: "a")?.port == 8080)
    }
}
