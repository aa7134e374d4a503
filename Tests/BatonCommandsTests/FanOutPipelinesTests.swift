import BatonEngine
import BatonTestSupport
import Foundation
import Testing

/// The shipped fan-out and voting pipelines (issue 11) on the echo runtime, scripted so every path runs: a document
/// reviewed section by section, a vote that agrees and one that is split (the judge's condition), and an orchestrator
/// whose reviewer sends one worker's item back.
@Suite struct FanOutPipelinesTests {
    /// A sandbox with `script` as its echo script.
    static func sandbox(_ name: String, script: String) throws -> RunSandbox {
        let sandbox = try RunSandbox(name)
        try script.write(toFile: sandbox.folder + "/script.yaml", atomically: true, encoding: .utf8)
        sandbox.environment["BATON_ECHO_SCRIPT"] = sandbox.folder + "/script.yaml"
        return sandbox
    }

    static func pipeline(_ name: String) -> String { Fixtures.path("pipelines/\(name).yaml") }

    @Test("document-review reviews each section the splitter found, once, and the writer sees every review in order")
    func documentReviewFansOutOverTheSections() async throws {
        // Given a splitter that finds three sections
        let sections =
            #"{"sections": [{"title": "Intro", "text": "We built it."}, {"title": "Usage", "text": "Run it."}, {"title": "Limits", "text": "None."}]}"#
        let sandbox = try Self.sandbox("document-review", script: "split:\n  1: {output: '\(sections)'}\n")

        // When
        let run = try await sandbox.baton(["run", Self.pipeline("document-review"), "--runtime", "echo", "--input", "document=x"])

        // Then each section was reviewed once, in order, between the split and the review
        #expect(run.status == 0, "\(run.summary)")
        #expect(
            sandbox.calls().map(\.description) == [
                "split#1", "review_section[0]#1", "review_section[1]#1", "review_section[2]#1", "review#1",
            ])
        let attempts = try sandbox.attempts(try await sandbox.onlyRunID())
        let items = attempts.filter { $0.stage == "review_section" }
        #expect(items.map(\.item) == [0, 1, 2])
        #expect(items[1].prompt.contains("section 2 of a document, \"Usage\"") && items[1].prompt.contains("Run it."))
        let review = try #require(attempts.first { $0.stage == "review" })
        for (index, title) in ["Intro", "Usage", "Limits"].enumerated() {
            #expect(review.prompt.contains("## \(index + 1). \(title)\n\(items[index].output)"), "\(review.prompt)")
        }
    }

    /// A script for vote-classifier's five samples.
    static func votes(_ labels: [String]) -> String {
        labels.enumerated().map { index, label in
            "\"label[\(index)]\":\n  1: {output: '{\"sentiment\": \"\(label)\", \"reason\": \"sample \(index)\"}'}\n"
        }.joined()
    }

    @Test("vote-classifier keeps the majority of five samples and calls the judge only when fewer than four agree")
    func voteClassifierJudgesOnlyASplitVote() async throws {
        // Given four of five samples agreeing
        let agreed = try Self.sandbox("vote-agreed", script: Self.votes(["positive", "negative", "positive", "positive", "positive"]))
        let first = try await agreed.baton(["run", Self.pipeline("vote-classifier"), "--runtime", "echo", "--input", "text=Great."])
        #expect(first.status == 0, "\(first.summary)")
        #expect(agreed.calls().map(\.description) == (0..<5).map { "label[\($0)]#1" } + ["verdict#1"])
        let verdict = try #require(try agreed.attempts(try await agreed.onlyRunID()).first { $0.stage == "verdict" })
        #expect(verdict.prompt.contains("Majority label: positive (4 of 5 samples)"))
        #expect(!verdict.prompt.contains("The vote was split"))

        // Given a split vote (2, 2, 1): the earliest of the tied labels wins, and the judge reads every sample
        let split = try Self.sandbox("vote-split", script: Self.votes(["negative", "positive", "positive", "negative", "neutral"]))
        let second = try await split.baton(["run", Self.pipeline("vote-classifier"), "--runtime", "echo", "--input", "text=Hm."])
        #expect(second.status == 0, "\(second.summary)")
        #expect(split.calls().map(\.description) == (0..<5).map { "label[\($0)]#1" } + ["judge#1", "verdict#1"])
        let attempts = try split.attempts(try await split.onlyRunID())
        let judge = try #require(attempts.first { $0.stage == "judge" })
        #expect((0..<5).allSatisfy { judge.prompt.contains("sample \($0)") })
        let splitVerdict = try #require(attempts.first { $0.stage == "verdict" })
        #expect(splitVerdict.prompt.contains("Majority label: negative (2 of 5 samples)"))
        #expect(splitVerdict.prompt.contains("The vote was split; a judge decided: \(judge.output)"))
    }

    @Test("orchestrator runs a worker per subtask, its reviewer per item, and sends back only the item it revises")
    func orchestratorReviewsEachItem() async throws {
        // Given two subtasks, the second sent back once
        let plan =
            #"{"subtasks": [{"title": "Install", "instructions": "Say how to install."}, {"title": "Usage", "instructions": "Show one command."}]}"#
        let script = """
            plan:
              1: {output: '\(plan)'}
            "check[1]":
              1: {verdict: revise, feedback: Show the command's output too.}
              2: {verdict: approve}

            """
        let sandbox = try Self.sandbox("orchestrator", script: script)

        // When
        let run = try await sandbox.baton(["run", Self.pipeline("orchestrator"), "--runtime", "echo", "--input", "task=a README"])

        // Then
        #expect(run.status == 0, "\(run.summary)")
        let calls = sandbox.calls().map(\.description)
        #expect(calls.first == "plan#1" && calls.last == "result#1")
        #expect(calls.filter { $0.hasPrefix("work[0]") } == ["work[0]#1"])
        #expect(calls.filter { $0.hasPrefix("work[1]") } == ["work[1]#1", "work[1]#2"])
        #expect(calls.filter { $0.hasPrefix("check[0]") } == ["check[0]#1"])
        #expect(calls.filter { $0.hasPrefix("check[1]") } == ["check[1]#1", "check[1]#2"])
        let attempts = try sandbox.attempts(try await sandbox.onlyRunID())
        let revised = try #require(attempts.first { $0.stage == "work" && $0.item == 1 && $0.round == 2 })
        #expect(revised.prompt.contains("\"Usage\": Show one command.") && revised.prompt.contains("Show the command's output too."))
        let review = try #require(attempts.first { $0.stage == "check" && $0.item == 0 })
        let firstWork = try #require(attempts.first { $0.stage == "work" && $0.item == 0 })
        #expect(review.prompt.contains("\"Install\"") && review.prompt.contains(firstWork.output))
        let result = try #require(attempts.first { $0.stage == "result" })
        #expect(result.prompt.contains("### Install") && result.prompt.contains("### Usage") && result.prompt.contains(revised.output))
    }
}
