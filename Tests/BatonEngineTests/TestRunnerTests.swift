import BatonSpec
import BatonTestSupport
import Foundation
import Testing

@testable import BatonEngine

/// The test runner (`baton test`'s engine): finding and checking test files, one normal run per repetition labelled
/// with a `test-case` event, `expect: failed`, a runtime that is down being an error and not a failure, pass rates over
/// repetitions, and echo runs that report the same thing twice.
@Suite struct TestRunnerTests {
    static let approving = """
        version: 1
        cases:
          - name: approves on the second round
            inputs: {task: "Add a /health endpoint"}
            echo:
              plan:
                1: {output: "1. Write the handler"}
                2: {output: "1. Write the handler\\n2. Test it"}
              review:
                1: {verdict: revise, feedback: Add tests.}
                2: {verdict: approve}
              facts:
                "*": {output: '{"verdict": "approve", "items": [1, 2]}'}
            assert:
              - stages-run: [plan, review, facts, implement]
              - stages-skipped: [escalate]
              - stage: review
                critic-rounds: {min: 2, max: 2}
              - stage: plan
                contains: ["handler", "Test it"]
              - contains: "Implement Add a /health endpoint"
          - name: skipped for now
            skip: the handler is not written yet
            inputs: {task: x}

        """

    @Test func aCaseRunsAsANormalRunLabelledWithItsCaseAndPasses() async throws {
        // Given a test file whose case scripts a critic loop that approves in round 2
        let sandbox = try TestRunnerSandbox()
        try sandbox.write("pipelines/task.test.yaml", Self.approving)
        let events = LockedList<String>()
        var runner = sandbox.runner()
        runner.observer = { event in
            switch event {
            case .caseStarted(_, let name, let repetition, let count): events.append("start \(name) \(repetition)/\(count)")
            case .caseFinished(let result): events.append("finish \(result.name) \(result.status)")
            }
        }

        // When it runs on the echo runtime
        let report = try await sandbox.run(runner)

        // Then the case passed, the skipped one is skipped with its reason, and the counts say so
        let passed = try #require(report.case("approves on the second round"))
        #expect(passed.status == .passed, "\(passed.repetitions.first?.assertions ?? [])")
        #expect(passed.variant == "echo" && passed.pipeline == "task" && passed.file == "pipelines/task.test.yaml")
        #expect(passed.repetitions.count == 1 && passed.passRate == 1)
        #expect(
            passed.repetitions[0].assertions.map(\.name) == [
                "stages-run", "stages-skipped", "critic-rounds", "contains", "contains", "run",
            ])
        #expect(passed.repetitions[0].assertions.allSatisfy { $0.status == .passed })
        #expect(passed.repetitions[0].assertions[0].location == "pipelines/task.test.yaml:15:9")
        let skipped = try #require(report.case("skipped for now"))
        #expect(skipped.status == .skipped && skipped.skipReason == "the handler is not written yet" && skipped.repetitions.isEmpty)
        #expect((report.passed, report.failed, report.errors, report.skipped) == (1, 0, 0, 1))
        #expect(
            events.values == [
                "start approves on the second round 1/1", "finish approves on the second round passed", "finish skipped for now skipped",
            ])

        // And the run is in the store as any run, with its test-case event
        let store = try RunStore(path: sandbox.database)
        let runID = try #require(passed.repetitions[0].runID)
        #expect(try store.run(runID).status == .completed)
        let labels = try store.events(runID, kind: .testCase).compactMap(\.payload)
        #expect(labels == [#"{"case":"approves on the second round","file":"pipelines/task.test.yaml","repetition":1,"variant":"echo"}"#])
        #expect(passed.repetitions[0].outputTokens > 0 && passed.repetitions[0].promptTokens > 0)
    }

    @Test func expectFailedPassesWhenTheRunFailsAndAnUnexpectedFailureIsNamed() async throws {
        // Given the same critic that never approves (max_rounds 3, on_exhausted: fail), once expected to fail and once not
        let sandbox = try TestRunnerSandbox()
        try sandbox.write(
            "pipelines/task.test.yaml",
            """
            version: 1
            cases:
              - name: the loop gives up
                expect: failed
                inputs: {task: x}
                echo:
                  review: {"*": {verdict: revise, feedback: No.}}
                assert:
                  - stage: review
                    critic-rounds: 3
                  - stages-run: [plan, review]
              - name: the loop was expected to approve
                inputs: {task: x}
                echo:
                  review: {"*": {verdict: revise, feedback: No.}}

            """)

        let report = try await sandbox.run(sandbox.runner())

        let expected = try #require(report.case("the loop gives up"))
        #expect(expected.status == .passed, "\(expected.repetitions.first?.assertions ?? [])")
        #expect(expected.results("run").first?.message.hasPrefix("the run failed as expected: critic 'review' still asked") == true)
        let unexpected = try #require(report.case("the loop was expected to approve"))
        #expect(unexpected.status == .failed)
        let run = try #require(unexpected.results("run").first)
        #expect(run.status == .failed)
        #expect(run.message.hasPrefix("the run failed: critic 'review' still asked for a revision of 'plan' after 3 rounds"))
        #expect((report.passed, report.failed, report.errors, report.skipped) == (1, 1, 0, 0))
    }

    @Test func aRuntimeThatIsDownMakesTheCaseAnErrorNotAFailure() async throws {
        // Given a real-model run on a llama-server at a port nobody listens on
        let sandbox = try TestRunnerSandbox()
        try sandbox.write(
            "pipelines/task.test.yaml",
            "version: 1\ncases:\n  - name: needs the server\n    inputs: {task: x}\n    assert:\n      - contains: anything\n")

        let report = try await sandbox.run(sandbox.runner(.profile("real")))

        // Then the case is an error naming the runtime, with its run id, and no assertion was judged
        let result = try #require(report.case("needs the server"))
        #expect(result.status == .error)
        #expect(result.variant == "real")
        let repetition = try #require(result.repetitions.first)
        #expect(repetition.status == .error && repetition.assertions.isEmpty && repetition.runID != nil)
        #expect(repetition.error?.contains("stand") == true, "\(repetition.error ?? "")")
        #expect((report.passed, report.failed, report.errors) == (0, 0, 1))
    }

    @Test func aCaseARuntimeBrokeOffKeepsWhatItsCompletedStagesSpent() async throws {
        // Given the planner and critic on echo and the executor on a llama-server nobody listens to
        let sandbox = try TestRunnerSandbox()
        try sandbox.write(
            "profiles/mixed.yaml",
            TestRunnerSandbox.profile.replacingOccurrences(of: "name: t\n", with: "name: mixed\n")
                .replacingOccurrences(of: "executor: {models: [small]}", with: "executor: {models: [real]}"))
        try sandbox.write(
            "pipelines/task.test.yaml",
            "version: 1\ncases:\n  - name: breaks at the end\n    inputs: {task: x}\n    assert:\n      - contains: anything\n")

        let report = try await sandbox.run(sandbox.runner(.profile("mixed")))

        // Then the case is an error, and its tokens are those of plan, review and facts, which completed
        let result = try #require(report.case("breaks at the end"))
        #expect(result.status == .error)
        let repetition = try #require(result.repetitions.first)
        #expect(repetition.status == .error && repetition.error?.contains("stand") == true, "\(repetition.error ?? "")")
        let runID = try #require(repetition.runID)
        let completed = try RunStore(path: sandbox.database).attempts(runID).filter { $0.status == .completed }
        #expect(Set(completed.map(\.stage)) == ["plan", "review", "facts"])
        #expect(repetition.promptTokens > 0 && repetition.promptTokens == completed.compactMap(\.promptTokens).reduce(0, +))
        #expect(repetition.outputTokens > 0 && repetition.outputTokens == completed.compactMap(\.outputTokens).reduce(0, +))
    }

    @Test func echoRunsReportTheSameTwiceButForTimesAndRunIDs() async throws {
        let sandbox = try TestRunnerSandbox()
        try sandbox.write("pipelines/task.test.yaml", Self.approving)
        let runner = sandbox.runner()

        let first = try await sandbox.run(runner)
        let second = try await sandbox.run(runner)

        func stable(_ report: TestReport) throws -> String {
            var report = report
            report.seconds = 0
            for index in report.cases.indices {
                for repetition in report.cases[index].repetitions.indices {
                    report.cases[index].repetitions[repetition].runID = nil
                    report.cases[index].repetitions[repetition].seconds = 0
                    report.cases[index].repetitions[repetition].timeToFirstTokenMs = nil
                }
            }
            return String(decoding: try report.jsonData(), as: UTF8.self)
        }
        #expect(try stable(first) == stable(second))
        #expect(first.cases[0].repetitions[0].runID != second.cases[0].repetitions[0].runID)
    }

    @Test func aCasePassesWhenEnoughRepetitionsPass() async throws {
        // Given a stand-in model that answers well on the first and third call of the final stage only
        let sandbox = try TestRunnerSandbox()
        try sandbox.write(
            "pipelines/task.test.yaml", "version: 1\ncases:\n  - name: flaky\n    inputs: {task: x}\n    assert:\n      - contains: good\n")
        let calls = Locked(0)
        let model = ScriptedRuntime { request, _ in
            if request.stage == "review" { return .text(#"{"verdict": "approve", "feedback": ""}"#) }
            if request.stage == "facts" { return .text("{}") }
            guard request.stage == "implement" else { return .text("a plan") }
            let call = calls.withLock { count in
                count += 1
                return count
            }
            return .text(call == 2 ? "bad answer" : "good answer")
        }

        func run(minPassRate: Double) async throws -> TestCaseResult {
            calls.withLock { $0 = 0 }
            var runner = sandbox.runner(.profile("real")) {
                $0.repeatCount = 3
                $0.minPassRate = minPassRate
            }
            runner.runtimes = { _ in model }
            return try #require(try await sandbox.run(runner).cases.first)
        }

        // Then 2 of 3 pass: enough for 0.6, not for 0.7
        let lenient = try await run(minPassRate: 0.6)
        #expect(lenient.repetitions.map(\.status) == [.passed, .failed, .passed])
        #expect(abs(lenient.passRate - 2.0 / 3.0) < 1e-9 && lenient.status == .passed)
        #expect(lenient.variant == "real")
        let strict = try await run(minPassRate: 0.7)
        #expect(strict.status == .failed)
    }

    @Test func roleModelsPutEveryStageOfTheRoleOnTheCandidate() async throws {
        // Given a profile whose roles are all on `real`, and the executor role benchmarked on `small`
        let sandbox = try TestRunnerSandbox()
        try sandbox.write("pipelines/task.test.yaml", "version: 1\ncases:\n  - name: bench\n    inputs: {task: x, urgent: \"yes\"}\n")
        let asked = LockedList<String>()
        let model = ScriptedRuntime { request, _ in
            asked.append("\(request.stage) \(request.model)")
            return .text(request.stage == "review" ? #"{"verdict": "approve", "feedback": ""}"# : request.stage == "facts" ? "{}" : "text")
        }
        var runner = sandbox.runner(.profile("real")) { $0.roleModels = ["executor": "small", "writer": "unused"] }
        runner.runtimes = { _ in model }

        let result = try #require(try await sandbox.run(runner).cases.first)

        // Then the executor's stages ran on the candidate, the others on the profile's model, and the variant says so
        #expect(result.status == .passed, "\(result.repetitions)")
        #expect(asked.values == ["plan real", "review real", "facts real", "escalate small", "implement small"])
        #expect(result.variant == "executor=small")
    }

    @Test func theSummaryOfRepetitions() {
        func repetition(_ status: TestStatus) -> TestRepetition { TestRepetition(runID: nil, status: status, assertions: [], seconds: 0) }
        func summary(_ statuses: [TestStatus], _ minimum: Double) -> TestCaseResult {
            TestRunner.summary(
                file: "f", pipeline: "p", name: "n", variant: "v", repetitions: statuses.map(repetition), minPassRate: minimum)
        }
        #expect(summary([.passed, .passed, .failed, .passed], 0.75).status == .passed)
        #expect(summary([.passed, .failed, .failed, .passed], 0.75).status == .failed)
        #expect(summary([.error, .error], 0).status == .error)
        // An error counts as not passed when some repetition ran.
        #expect(summary([.error, .passed], 1).status == .failed)
        #expect(summary([.error, .passed], 0.5).passRate == 0.5)
    }

    @Test func testFilesAreFoundByFolderFilePipelineNameOrNothing() throws {
        let sandbox = try TestRunnerSandbox()
        try sandbox.write("pipelines/task.test.yaml", Self.approving)
        try sandbox.write(
            "more/deep/task.test.yaml",
            Self.approving.replacingOccurrences(of: "version: 1\n", with: "version: 1\npipeline: ../../pipelines/task.yaml\n"))
        try sandbox.write("more/__snapshots__/ignored.test.yaml", "not: read")
        let runner = sandbox.runner()

        #expect(try runner.load([]).map(\.path) == ["pipelines/task.test.yaml"])
        #expect(try runner.load(["task"]).map(\.path) == ["pipelines/task.test.yaml"])
        #expect(try runner.load(["pipelines/task.yaml"]).map(\.path) == ["pipelines/task.test.yaml"])
        #expect(try runner.load(["more"]).map(\.path) == ["more/deep/task.test.yaml"])
        #expect(
            try runner.load(["more", "pipelines/task.test.yaml", "task"]).map(\.path) == [
                "more/deep/task.test.yaml", "pipelines/task.test.yaml",
            ])
        #expect(try runner.load(["more"]).allSatisfy(\.isValid))
        #expect(throws: WorkspaceError.fileNotFound("nowhere/x.test.yaml")) { try runner.load(["nowhere/x.test.yaml"]) }
        #expect(throws: WorkspaceError.self) { try runner.load(["nosuchpipeline"]) }
    }

    @Test func aMissingPipelineAndABadCaseAreLocatedDiagnostics() throws {
        let sandbox = try TestRunnerSandbox()
        try sandbox.write("pipelines/gone.test.yaml", "version: 1\npipeline: elsewhere.yaml\ncases:\n  - name: a\n    inputs: {task: x}\n")
        try sandbox.write(
            "pipelines/task.test.yaml",
            "version: 1\ncases:\n  - name: a\n    inputs: {task: x}\n    assert:\n      - stage: plann\n        contains: x\n")
        let runner = sandbox.runner()

        let gone = try #require(try runner.load(["pipelines/gone.test.yaml"]).first)
        #expect(!gone.isValid)
        #expect(gone.diagnostics.map(\.code.rawValue) == ["test-pipeline-missing"])
        #expect(gone.diagnostics.first?.location?.description == "pipelines/gone.test.yaml:2:11")
        let bad = try #require(try runner.load(["pipelines/task.test.yaml"]).first)
        #expect(!bad.isValid)
        #expect(bad.diagnostics.map(\.code.rawValue) == ["test-stage-unknown"])
        #expect(bad.diagnostics.first?.location?.line == 6)
        #expect(bad.sources.keys.contains("pipelines/task.test.yaml"))
    }

    @Test func theCaseFilterRunsOnlyMatchingCases() async throws {
        let sandbox = try TestRunnerSandbox()
        try sandbox.write("pipelines/task.test.yaml", Self.approving)
        let report = try await sandbox.run(sandbox.runner { $0.caseFilter = "second round" })
        #expect(report.cases.map(\.name) == ["approves on the second round"])
    }
}
