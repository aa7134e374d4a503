import BatonSpec
import BatonTestSupport
import Foundation
import Testing

@testable import BatonEngine

/// Every assertion of a test file, passing and failing, judged from what the run store holds: the messages name the
/// stage and the expectation, and failures carry a diff or an expected/actual block.
@Suite struct AssertionEvaluatorTests {
    /// One echo run with known outputs: plan (two rounds), a JSON `facts` stage, `implement`, `escalate` skipped.
    static let script = """
            echo:
              plan:
                1: {output: "1. Write the handler"}
                2: {output: "1. Write the handler\\n2. Test the handler\\n3. Ship it"}
              review:
                1: {verdict: revise, feedback: Add tests.}
                2: {verdict: approve}
              facts:
                "*": {output: '{"verdict": "approve", "items": [1, 2], "owner": {"name": "Ada"}}'}
              implement:
                "*": {output: "Done: the HEALTH endpoint answers 200."}
        """

    static func file(_ cases: [(name: String, assertions: String)]) -> String {
        "version: 1\ncases:\n"
            + cases.map { name, assertions in
                "  - name: \(name)\n    inputs: {task: health}\n\(script)\n    assert:\n\(assertions)"
            }.joined()
    }

    /// Runs `assertions` (YAML list items, indented by 6) in one case and returns the first repetition's results.
    static func results(_ assertions: String) async throws -> [AssertionResult] {
        let sandbox = try TestRunnerSandbox()
        try sandbox.write("pipelines/task.test.yaml", file([("case", assertions)]))
        let report = try await sandbox.run(sandbox.runner())
        return try #require(report.cases.first?.repetitions.first?.assertions)
    }

    @Test func everyAssertionPassesOnWhatRan() async throws {
        let results = try await Self.results(
            """
                  - stage: plan
                    contains: ["handler", "Ship it"]
                  - icontains: ["health", "ENDPOINT"]
                  - not-contains: "TODO"
                  - equals: "Done: the HEALTH endpoint answers 200."
                  - stage: facts
                    equals: {items: [1, 2], owner: {name: Ada}, verdict: approve}
                  - regex: "answers \\\\d+"
                  - stage: facts
                    is-json: {schema: {type: object, required: [verdict], properties: {verdict: {enum: [approve, revise]}}}}
                  - stage: facts
                    json-path: {path: "$.verdict", equals: approve}
                  - stage: facts
                    json-path: {path: "$.items[*]", equals: 2}
                  - stage: facts
                    json-path: {path: "$.owner.name", contains: "Ad"}
                  - stage: facts
                    json-path: {path: "$.missing", exists: false}
                  - stage: facts
                    json-path: {path: "$.items[-1]", regex: "^2$"}
                  - max-tokens: 400
                  - stage: plan
                    max-tokens: 40
                  - max-latency: 10m
                  - stage: review
                    critic-rounds: 2
                  - stage: plan
                    critic-rounds: {min: 2}
                  - stages-run: [plan, review, facts, implement]
                  - stages-skipped: [escalate]

            """)
        let failing = results.filter { $0.status != .passed }
        #expect(failing.isEmpty, "\(failing)")
        #expect(results.count == 20)
        #expect(results.first?.message == "stage 'plan' contains 'handler', 'Ship it'")
        #expect(results.first { $0.name == "max-latency" }?.message == "the run took at most 600 s")
        #expect(results.first { $0.name == "critic-rounds" }?.message == "the critic loop of 'review' ran 2 rounds")
    }

    @Test func everyAssertionFailsWithTheStageAndWhatWasFound() async throws {
        let results = try await Self.results(
            """
                  - stage: plan
                    contains: ["handler", "deploy"]
                  - icontains: "database"
                  - not-contains: ["HEALTH", "200"]
                  - stage: plan
                    equals: "1. Write the handler\\n2. Test the handler\\n3. Release it"
                  - stage: facts
                    equals: {verdict: revise}
                  - regex: "^Failed"
                  - stage: plan
                    is-json: true
                  - stage: facts
                    is-json: {schema: {type: object, required: [summary]}}
                  - stage: facts
                    json-path: {path: "$.verdict", equals: revise}
                  - stage: facts
                    json-path: {path: "$.nothing", exists: true}
                  - stage: plan
                    max-tokens: 2
                  - stage: review
                    critic-rounds: 1
                  - stage: review
                    critic-rounds: {min: 3}
                  - stages-run: [plan, review, implement]
                  - stages-skipped: [implement]
                    description: the task is not urgent

            """)
        #expect(results.map(\.status) == Array(repeating: TestStatus.failed, count: 15) + [.passed], "\(results)")
        func result(_ index: Int) -> AssertionResult { results[index] }

        #expect(result(0).message == "stage 'plan' does not contain 'deploy'")
        #expect(result(0).stage == "plan")
        #expect(result(0).diff == "expected to contain: 'deploy'\nactual:\n  1. Write the handler\n  2. Test the handler\n  3. Ship it")
        #expect(result(0).location == "pipelines/task.test.yaml:18:9")
        #expect(result(1).message == "stage 'implement' does not contain 'database' (ignoring case)")
        #expect(result(2).message == "stage 'implement' contains 'HEALTH', '200', which it must not")
        #expect(result(3).message == "stage 'plan' does not equal the expected text")
        #expect(
            result(3).diff
                == "--- expected\n+++ actual\n@@ -1,3 +1,3 @@\n 1. Write the handler\n 2. Test the handler\n-3. Release it\n+3. Ship it")
        #expect(result(4).message == "stage 'facts' does not equal the expected JSON")
        #expect(result(4).diff?.contains("-  \"verdict\" : \"revise\"") == true, "\(result(4).diff ?? "")")
        #expect(result(5).message == "stage 'implement' does not match /^Failed/")
        #expect(result(6).message.hasPrefix("stage 'plan' is not JSON: "))
        #expect(result(7).message.hasPrefix("stage 'facts' does not match the schema: "))
        #expect(result(7).message.contains("summary"))
        #expect(result(8).message == #"stage 'facts': $.verdict is "approve"; expected it to equal "revise""#)
        #expect(result(9).message == "stage 'facts': $.nothing selects nothing; expected it to select a value")
        #expect(result(10).message.hasPrefix("stage 'plan' used ") && result(10).message.hasSuffix(" output tokens, more than 2"))
        #expect(result(11).message == "the critic loop of 'review' ran 2 rounds, more than 1")
        #expect(result(12).message == "the critic loop of 'review' ran 2 rounds, fewer than 3")
        #expect(result(13).message == "the stages that ran were plan, review, facts, implement, not plan, review, implement")
        #expect(result(13).diff == "--- expected stages\n+++ stages run\n@@ -1,3 +1,4 @@\n plan\n review\n+facts\n implement")
        #expect(
            result(14).message
                == "expected implement to be skipped, but 'implement' ran; skipped: escalate (the task is not urgent)")
        #expect(result(15).name == "run")
    }

    @Test func judgeIsSkippedOnEchoAndSimilarUsesEchoEmbeddings() async throws {
        let results = try await Self.results(
            """
                  - judge: {rubric: "Is it done?", min-score: 0.7}
                  - similar: {to: "the HEALTH endpoint answers 200", threshold: 0.8, model: all-minilm}
                  - similar: {to: "a poem about autumn leaves", threshold: 0.5, model: all-minilm}
                  - similar: {to: "the HEALTH endpoint answers 200", threshold: 0.8}

            """)
        #expect(results[0].status == .skipped)
        #expect(results[0].message == "judge needs a real model; skipped on the echo runtime")
        #expect(results[1].status == .passed, "\(results[1])")
        #expect((results[1].score ?? 0) > 0.8)
        #expect(results[2].status == .failed)
        #expect((results[2].score ?? 1) < 0.5)
        #expect(results[2].message.hasPrefix("stage 'implement' is only "))
        // Without a model the profile's all-minilm is used.
        #expect(results[3].status == .passed && results[3].score == results[1].score)
        // A skipped judge does not fail the case.
        #expect(results.last?.name == "run")
    }

    @Test func aJudgeOnARealModelScoresTheOutputAgainstTheRubric() async throws {
        // Given a stand-in real model that answers the stages, and grades with the score the rubric names
        let sandbox = try TestRunnerSandbox()
        try sandbox.write(
            "pipelines/task.test.yaml",
            """
            version: 1
            cases:
              - name: graded
                inputs: {task: health}
                assert:
                  - judge: {rubric: "score 0.9", min-score: 0.7}
                  - judge: {rubric: "score 0.5", min-score: 0.7}
                  - judge: {rubric: "no JSON", min-score: 0.7}

            """)
        let asked = LockedList<String>()
        let model = ScriptedRuntime { request, _ in
            if request.responseSchema?["properties"]?["score"] != nil {
                asked.append("\(request.model) \(request.stage)")
                if request.prompt.contains("no JSON") { return .text("I cannot grade this") }
                let score = request.prompt.contains("score 0.9") ? "0.9" : "0.5"
                return .text(#"{"score": \#(score), "reason": "as asked"}"#)
            }
            switch request.stage {
            case "review": return .text(#"{"verdict": "approve", "feedback": ""}"#)
            case "facts": return .text("{}")
            default: return .text("done")
            }
        }
        var runner = sandbox.runner(.profile("real"))
        runner.runtimes = { _ in model }

        let results = try #require(try await sandbox.run(runner).cases.first?.repetitions.first?.assertions)

        // Then each judge asked the stage's own model (the profile has no role 'judge') about the output stage
        #expect(asked.values == Array(repeating: "real implement", count: 3))
        #expect(results[0].status == .passed && results[0].score == 0.9)
        #expect(results[0].message == "judge 'real' scored stage 'implement' 0.90 (at least 0.7): as asked")
        #expect(results[1].status == .failed && results[1].score == 0.5)
        #expect(results[1].message == "judge 'real' scored stage 'implement' 0.50, below 0.7: as asked")
        #expect(results[2].status == .error)
        #expect(results[2].message == "judge model 'real' did not answer with {score, reason}: I cannot grade this")
    }

    @Test func aStageThatDidNotRunHasNoOutput() async throws {
        let results = try await Self.results(
            """
                  - stage: escalate
                    contains: x

            """)
        #expect(results[0].status == .failed)
        #expect(results[0].message == "stage 'escalate' has no output: it was skipped")
    }

    @Test func theVerdictOfAJudgeIsReadFromItsJSON() {
        #expect(AssertionEvaluator.verdict(#"{"score": 0.8, "reason": "fine"}"#)! == (0.8, "fine"))
        #expect(AssertionEvaluator.verdict("Sure:\n```json\n{\"score\": \"1.5\", \"reason\": \"great\"}\n```")! == (1, "great"))
        #expect(AssertionEvaluator.verdict("no JSON here") == nil)
        #expect(AssertionEvaluator.cosine([1, 0], [0, 1]) == 0)
        #expect(AssertionEvaluator.cosine([1, 0], [1]) == nil)
    }
}
