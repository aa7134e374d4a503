import BatonEngine
import BatonTestSupport
import Foundation
import Testing

/// Crash safety of fan-out and voting (issue 11), end to end on the real binary.
///
/// The fixture (Fixtures/fanout-crash.yaml with fanout-crash-script.yaml) makes 8 runtime calls in an uninterrupted
/// run: sections#1, review[0]#1, review[1]#1, review[2]#1, label[0]#1 (ham), label[1]#1 (spam), label[2]#1 (spam),
/// summary#1; 84 tokens (sections 1-20, review[0] 21-33, review[1] 34-45, review[2] 46-57, label[0] 58-59, label[1]
/// 60-61, label[2] 62-63, summary 64-84). It passes `items-expanded` twice (review, then label) and `item-done` 6 times (3 reviews, then 3
/// samples). After every crash and resume: the outputs equal the uninterrupted run's, no completed item ran twice
/// (echo call log vs attempt rows, per stage, item and round: ``RunSandbox/checkInvariants``), the database passes
/// `PRAGMA integrity_check`, each list is pinned once and the vote is counted once.
@Suite struct FanOutCrashResumeTests {
    static let pipeline = RunSandbox.fixtures + "/fanout-crash.yaml"
    static let script = RunSandbox.fixtures + "/fanout-crash-script.yaml"
    static let arguments = ["run", pipeline, "--profile", "ci", "--input", "doc=a note about tea"]

    static let cases: [KillCase] = [
        // The list was pinned, before its first item ran; then the samples' list.
        KillCase("items-expanded:1"), KillCase("items-expanded:2"),
        // Between items, and between samples of the vote.
        KillCase("item-done:1"), KillCase("item-done:2"), KillCase("item-done:4"), KillCase("item-done:5"),
        // Inside an item (tokens of review[1] and of label[1]) and inside an item's commits.
        KillCase("token:40"), KillCase("token:60"), KillCase("attempt-finish-commit:3"), KillCase("attempt-start-commit:6"),
        KillCase("render:3"),
        // Several crashes in a row: each resumed process dies again further on.
        KillCase("item-done:1", "item-done:1", "item-done:2"),
        KillCase("items-expanded:1", "items-expanded:1", "item-done:5"),
    ]

    /// The uninterrupted run, made once per test process.
    static let baseline = Baseline.Shared(FanOutCrashResumeTests.arguments, script: FanOutCrashResumeTests.script)

    static func sandbox(_ name: String) throws -> RunSandbox {
        let sandbox = try RunSandbox(name)
        sandbox.environment["BATON_ECHO_SCRIPT"] = script
        return sandbox
    }

    @Test func theBaselineRunsEachItemAndEachSampleOnceAndVotes() async throws {
        let baseline = try await Self.baseline.get()
        #expect(
            baseline.calls.map(\.description) == [
                "sections#1", "review[0]#1", "review[1]#1", "review[2]#1", "label[0]#1", "label[1]#1", "label[2]#1", "summary#1",
            ])
        let review = try #require(baseline.attempts[StageRound(stage: "review", item: 1, round: 1)]?.prompt)
        #expect(review == "Review 'Body' (2): It is brewed.")
        let summary = try #require(baseline.attempts[StageRound(stage: "summary", round: 1)]?.prompt)
        #expect(summary.hasPrefix("- Intro: [echo-"), "\(summary)")
        #expect(summary.hasSuffix("Label: spam (2 of 3)\n"), "\(summary)")
    }

    @Test(arguments: cases)
    func killedFanOutRunsResumeToTheSameOutputs(_ scenario: KillCase) async throws {
        let baseline = try await Self.baseline.get()
        let sandbox = try Self.sandbox("fanout-crash")
        var runID: String?
        for (index, kill) in scenario.kills.enumerated() {
            let arguments = runID.map { ["resume", $0] } ?? Self.arguments
            let result = try await sandbox.baton(arguments, ["BATON_TEST_KILL_AT": kill])
            #expect(result.signal == SIGKILL, "process \(index + 1) (\(arguments[0])) was not killed at \(kill): \(result.summary)")
            if runID == nil { runID = try await sandbox.onlyRunID() }
        }
        let id = try #require(runID)
        let final = try await sandbox.baton(["resume", id])
        #expect(final.status == 0, "\(final.summary)")
        #expect(final.stdout == baseline.stdout, "the resumed run's outputs differ from an uninterrupted run's")
        try sandbox.checkInvariants(id, baseline: baseline, context: scenario.testDescription)

        // Each list is pinned once and the vote counted once, whatever the crashes.
        let store = try sandbox.store()
        #expect(try store.events(id, kind: .itemsExpanded).compactMap(\.stage) == ["review", "label"])
        #expect(try store.events(id, kind: .voteCounted).compactMap(\.stage) == ["label"])
    }

    /// `rerun --from review` reuses the sections and runs every item again, then what follows.
    @Test func rerunFromTheFanOutStageRunsItsItemsAgain() async throws {
        let sandbox = try Self.sandbox("fanout-rerun")
        let first = try await sandbox.baton(Self.arguments)
        #expect(first.status == 0, "\(first.summary)")
        let parent = try await sandbox.onlyRunID()
        sandbox.clearCallLog()
        let rerun = try await sandbox.baton(["rerun", parent, "--from", "review"])
        #expect(rerun.status == 0, "\(rerun.summary)")
        #expect(rerun.stdout == first.stdout)
        #expect(
            sandbox.calls().map(\.description) == [
                "review[0]#1", "review[1]#1", "review[2]#1", "label[0]#1", "label[1]#1", "label[2]#1", "summary#1",
            ])
    }

    /// `run --json` has an event per item (with the item) and the vote's tally; `baton show` lists each item and the vote.
    @Test func runJSONAndShowListEachItemAndTheVote() async throws {
        let sandbox = try Self.sandbox("fanout-show")
        let run = try await sandbox.baton(Self.arguments + ["--json"])
        #expect(run.status == 0, "\(run.summary)")
        let lines = run.stdout.split(separator: "\n").compactMap {
            try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
        }
        let expanded = lines.filter { $0["event"] as? String == "items-expanded" }
        #expect(expanded.map { $0["stage"] as? String } == ["review", "label"])
        #expect(expanded.map { $0["count"] as? Int } == [3, 3])
        let started = lines.filter { $0["event"] as? String == "item-started" && $0["stage"] as? String == "review" }
        #expect(started.map { $0["item"] as? Int } == [0, 1, 2])
        let finished = lines.filter { $0["event"] as? String == "attempt-finished" && $0["stage"] as? String == "label" }
        #expect(finished.map { $0["item"] as? Int } == [0, 1, 2])
        let vote = try #require(lines.first { $0["event"] as? String == "vote-counted" })
        #expect(vote["value"] as? String == "spam" && vote["count"] as? Int == 2 && vote["total"] as? Int == 3)
        let id = try await sandbox.onlyRunID()

        let text = try await sandbox.baton(["show", id])
        #expect(text.stdout.contains("items (stage review): 3 items"), "\(text.stdout)")
        #expect(text.stdout.contains("── review item 2 of 3: {\"text\":\"It is brewed.\",\"title\":\"Body\"}"), "\(text.stdout)")
        #expect(text.stdout.contains("vote (stage label) on label: spam, 2 of 3 (ham 1, spam 2)"), "\(text.stdout)")

        let markdown = try await sandbox.baton(["show", id, "--format", "markdown"])
        #expect(markdown.stdout.contains("## review — item 2 of 3, round 1\n"), "\(markdown.stdout)")
        #expect(markdown.stdout.contains("**Item:** {\"text\":\"It is brewed.\",\"title\":\"Body\"}"), "\(markdown.stdout)")
        #expect(markdown.stdout.contains("- vote (stage label) on label: spam, 2 of 3 (ham 1, spam 2)"), "\(markdown.stdout)")

        let json = try await sandbox.show(id)
        let attempts = try #require(json["attempts"] as? [[String: Any]])
        #expect(attempts.filter { $0["stage"] as? String == "review" }.map { $0["item"] as? Int } == [0, 1, 2])
        let events = try #require(json["events"] as? [[String: Any]])
        #expect(events.filter { $0["kind"] as? String == "items-expanded" }.count == 2)
        #expect(events.filter { $0["kind"] as? String == "vote-counted" }.count == 1)
    }

    /// `baton plan` shows a fan-out stage as one row marked `×max_items` (the worst case), its model kept for every item.
    @Test func planShowsAFanOutStageAsTimesMaxItems() async throws {
        let sandbox = try Self.sandbox("fanout-plan")
        let text = try await sandbox.baton(["plan", Self.pipeline, "--profile", "ci"])
        #expect(text.status == 0, "\(text.summary)")
        let rows = text.stdout.split(separator: "\n").map(String.init)
        #expect(rows.contains { $0.hasPrefix(" 2  review ×5 ") }, "\(text.stdout)")
        #expect(rows.contains { $0.hasPrefix(" 3  label ×3 ") }, "\(text.stdout)")
        #expect(
            text.stdout.contains(
                "fan-out review: up to 5 items (max_items), its model resident for all of them back to back, no swap between items\n"))
        #expect(text.stdout.contains("fan-out label: 3 samples, its model resident for all of them back to back"))

        let json = try await sandbox.baton(["plan", Self.pipeline, "--profile", "ci", "--json"])
        #expect(json.status == 0, "\(json.summary)")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any])
        let steps = try #require(object["steps"] as? [[String: Any]])
        #expect(steps.map { $0["stage"] as? String } == ["sections", "review", "label", "summary"])
        #expect(steps.map { $0["max_items"] as? Int } == [nil, 5, 3, nil])
    }

    /// `resume --dry-run` after a crash between items counts the items it reuses.
    @Test func resumeDryRunCountsTheReusedItems() async throws {
        let sandbox = try Self.sandbox("fanout-dry-run")
        let killed = try await sandbox.baton(Self.arguments, ["BATON_TEST_KILL_AT": "item-done:2"])
        #expect(killed.signal == SIGKILL, "\(killed.summary)")
        let id = try await sandbox.onlyRunID()
        let dry = try await sandbox.baton(["resume", id, "--dry-run"])
        #expect(dry.status == 0, "\(dry.summary)")
        #expect(dry.stdout.contains("  review    reuse 2 completed items; the others run\n"), "\(dry.stdout)")
        #expect(dry.stdout.contains("  label     run (not completed yet)"), "\(dry.stdout)")

        // The resume prints one line for the reused items, then the item that runs.
        let resumed = try await sandbox.baton(["resume", id])
        #expect(resumed.status == 0, "\(resumed.summary)")
        #expect(
            resumed.stderr.contains(
                "  ⋔ review: 3 items (pinned earlier)\n↺ 2 completed attempts reused, not run again (review item 1, review item 2)\n  · review item 3 of 3: "
            ),
            "\(resumed.stderr)")
    }
}
