import BatonEngine
import BatonTestSupport
import Foundation
import Testing

/// Crash safety of conditions and routes (issue 11), end to end on the real binary.
///
/// The fixture (Fixtures/route-crash.yaml with route-crash-script.yaml) makes 5 runtime calls in an uninterrupted run:
/// classify#1 (answers `{"team": "bug"}`), bug_triage#1, bug_reply#1, notify#1, reply#1; it skips billing_reply (the
/// route chose bug) and escalate (`has(inputs.urgent)` is false). It passes `condition-decided` 5 times (billing_reply
/// skipped, bug_triage and bug_reply run, escalate skipped, notify runs) and `route-chosen` once. After every crash and
/// resume: the outputs equal the uninterrupted run's, no skipped stage was ever called, no completed attempt ran twice
/// (``RunSandbox/checkInvariants``), the database passes `PRAGMA integrity_check`, and each decision is recorded once.
@Suite struct RouteCrashResumeTests {
    static let pipeline = RunSandbox.fixtures + "/route-crash.yaml"
    static let script = RunSandbox.fixtures + "/route-crash-script.yaml"
    static let arguments = ["run", pipeline, "--profile", "ci", "--input", "ticket=the app crashes on start"]

    static let cases: [KillCase] =
        (1...5).map { KillCase("condition-decided:\($0)") }
        + [
            KillCase("route-chosen:1"),
            // The router's attempt is committed, its route-chosen event not yet: resume records it.
            KillCase("attempt-finish-commit:1"),
            KillCase("stage-done:1"), KillCase("stage-done:2"), KillCase("stage-done:5"),
            KillCase("render:2"), KillCase("render:4"),
            // After the branch was chosen, then right after the first skip (the resumed process decides nothing
            // before bug_triage, so its first condition-decided is bug_triage's).
            KillCase("route-chosen:1", "condition-decided:1"),
            KillCase("condition-decided:1", "condition-decided:2", "condition-decided:1"),
            KillCase("condition-decided:4", "stage-done:1"),
        ]

    /// The uninterrupted run, made once per test process.
    static let baseline = Baseline.Shared(RouteCrashResumeTests.arguments, script: RouteCrashResumeTests.script)

    static func sandbox(_ name: String) throws -> RunSandbox {
        let sandbox = try RunSandbox(name)
        sandbox.environment["BATON_ECHO_SCRIPT"] = script
        return sandbox
    }

    @Test func theBaselineSkipsOneBranchAndOneConditionAndRunsTheRest() async throws {
        let baseline = try await Self.baseline.get()
        #expect(baseline.calls.map(\.description) == ["classify#1", "bug_triage#1", "bug_reply#1", "notify#1", "reply#1"])
        #expect(baseline.skipped == ["billing_reply", "escalate"])
        let reply = try #require(baseline.attempts[StageRound(stage: "reply", round: 1)]?.prompt)
        #expect(reply.hasPrefix("Polish the reply of the bug branch:\n[echo-medium] bug_reply round 1:"), "\(reply)")
        #expect(reply.hasSuffix("\nNot escalated.\n"), "\(reply)")
    }

    @Test(arguments: cases)
    func killedRoutedRunsResumeToTheSameOutputs(_ scenario: KillCase) async throws {
        let baseline = try await Self.baseline.get()
        let sandbox = try Self.sandbox("route-crash")
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

        // Each decision is recorded once: one route-chosen, one stage-skipped per skipped stage.
        let store = try sandbox.store()
        let chosen = try store.events(id, kind: .routeChosen)
        #expect(chosen.map(\.stage) == ["classify"])
        #expect(chosen.first?.payload?.contains(#""branch":"bug""#) == true)
        #expect(try store.events(id, kind: .stageSkipped).compactMap(\.stage).sorted() == ["billing_reply", "escalate"])
    }

    /// `baton show` in its three formats names the skipped stages with their reasons and the router's branch.
    @Test func showPrintsSkippedStagesWithTheirReasonAndTheChosenBranch() async throws {
        let sandbox = try Self.sandbox("route-show")
        let run = try await sandbox.baton(Self.arguments + ["--json"])
        #expect(run.status == 0, "\(run.summary)")
        let lines = run.stdout.split(separator: "\n").compactMap {
            try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
        }
        let route = try #require(lines.first { $0["event"] as? String == "route-chosen" })
        #expect(route["stage"] as? String == "classify")
        #expect(route["field"] as? String == "team" && route["value"] as? String == "bug" && route["branch"] as? String == "bug")
        #expect(route["stages"] as? [String] == ["bug_triage", "bug_reply"])
        let skips = lines.filter { $0["event"] as? String == "stage-skipped" }
        #expect(skips.map { $0["stage"] as? String } == ["billing_reply", "escalate"])
        #expect(
            skips.map { $0["reason"] as? String } == [
                "route classify chose bug", "when: has(inputs.urgent) was false (inputs.urgent absent)",
            ])
        let id = try await sandbox.onlyRunID()

        let text = try await sandbox.baton(["show", id])
        #expect(text.stdout.contains("route (stage classify): team = \"bug\" chose bug, running bug_triage, bug_reply"))
        #expect(text.stdout.contains("\n── billing_reply skipped: route classify chose bug\n"))
        #expect(text.stdout.contains("\n── escalate skipped: when: has(inputs.urgent) was false (inputs.urgent absent)\n"))
        #expect(text.stdout.contains("{\"team\": \"bug\"}\nbranch: bug\n"))
        #expect(text.stdout.contains("escalate       skipped           0      0"), "\(text.stdout)")

        let markdown = try await sandbox.baton(["show", id, "--format", "markdown"])
        #expect(markdown.stdout.contains("## billing_reply (skipped)\n\n*skipped: route classify chose bug*"))
        #expect(markdown.stdout.contains("**Branch:** bug"))

        let json = try await sandbox.show(id)
        let attempts = try #require(json["attempts"] as? [[String: Any]])
        #expect(
            attempts.filter { $0["status"] as? String == "skipped" }.compactMap { $0["stage"] as? String } == ["billing_reply", "escalate"])
        let events = try #require(json["events"] as? [[String: Any]])
        #expect(events.filter { $0["kind"] as? String == "stage-skipped" }.count == 2)
        #expect(events.filter { $0["kind"] as? String == "route-chosen" }.count == 1)
    }

    /// `rerun --from bug_reply` reuses the router's answer and its branch: billing_reply stays skipped, uncalled.
    @Test func rerunFromABranchStageKeepsTheBranch() async throws {
        let sandbox = try Self.sandbox("route-rerun")
        let first = try await sandbox.baton(Self.arguments)
        #expect(first.status == 0, "\(first.summary)")
        let parent = try await sandbox.onlyRunID()
        sandbox.clearCallLog()
        let rerun = try await sandbox.baton(["rerun", parent, "--from", "bug_reply"])
        #expect(rerun.status == 0, "\(rerun.summary)")
        #expect(rerun.stdout == first.stdout)
        #expect(sandbox.calls().map(\.description) == ["bug_reply#1", "notify#1", "reply#1"])
        let child = try #require(try await sandbox.runIDs().first { $0 != parent })
        let attempts = try sandbox.attempts(child)
        #expect(attempts.filter { $0.status == .skipped }.map(\.stage).sorted() == ["billing_reply", "escalate"])
        #expect(try sandbox.store().events(child, kind: .routeChosen).count == 1)
    }
    /// `resume --dry-run` after a crash shows the recorded skips as reused, not as stages to run.
    @Test func resumeDryRunShowsRecordedSkipsAsReused() async throws {
        let sandbox = try Self.sandbox("route-dry-run")
        let killed = try await sandbox.baton(Self.arguments, ["BATON_TEST_KILL_AT": "condition-decided:4"])
        #expect(killed.signal == SIGKILL, "\(killed.summary)")
        let id = try await sandbox.onlyRunID()
        let dry = try await sandbox.baton(["resume", id, "--dry-run"])
        #expect(dry.status == 0, "\(dry.summary)")
        #expect(
            dry.stdout == """
                resume \(id):
                  classify       reuse (1 completed round)
                  billing_reply  reuse (skipped)
                  bug_triage     reuse (1 completed round)
                  bug_reply      reuse (1 completed round)
                  escalate       reuse (skipped)
                  notify         run (not completed yet)
                  reply          run (not completed yet)

                """)
    }
}
