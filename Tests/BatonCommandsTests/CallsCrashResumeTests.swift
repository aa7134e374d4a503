import BatonEngine
import BatonTestSupport
import Foundation
import Testing

/// Crash safety of sub-pipelines (`uses:`, issue 11), end to end on the real binary.
///
/// The fixture (Fixtures/calls-crash.yaml calling Fixtures/calls-crash-review.yaml twice, with calls-crash-script.yaml)
/// makes 4 runtime calls in an uninterrupted run: outline#1 (tokens 1-12), review/check#1 (13-26), review/summary#1
/// (27-40), report#1; it skips second_look/check and
/// second_look/summary (the call's `has(inputs.deep)` is false). It passes `stage-done` 6 times (outline,
/// review/check, review/summary, the two skips, report) and `condition-decided` twice (the two skips). After every
/// crash and resume: the outputs equal the uninterrupted run's, no completed stage ran twice and no skipped one was
/// called (echo call log vs attempt rows: ``RunSandbox/checkInvariants``), the database passes `PRAGMA integrity_check`,
/// and each skip is recorded once.
@Suite struct CallsCrashResumeTests {
    static let pipeline = RunSandbox.fixtures + "/calls-crash.yaml"
    static let script = RunSandbox.fixtures + "/calls-crash-script.yaml"
    static let arguments = ["run", pipeline, "--profile", "ci", "--input", "note=tea is brewed hot"]

    static let cases: [KillCase] = [
        // Inside the call: after its first stage completed, then inside its second stage (render, tokens, commits).
        KillCase("stage-done:2"), KillCase("render:3"), KillCase("attempt-start-commit:3"), KillCase("token:20"),
        KillCase("token:30"),
        KillCase("attempt-finish-commit:3"),
        // Right after the call finished, and after the skipped call's first and second skips.
        KillCase("stage-done:3"), KillCase("condition-decided:1"), KillCase("condition-decided:2"), KillCase("stage-done:4"),
        // Several crashes in a row, each resumed process dying further on inside the calls.
        KillCase("stage-done:2", "render:1", "condition-decided:1"),
        KillCase("attempt-finish-commit:2", "stage-done:2", "stage-done:1"),
    ]

    /// The uninterrupted run, made once per test process.
    static let baseline = Baseline.Shared(CallsCrashResumeTests.arguments, script: CallsCrashResumeTests.script)

    static func sandbox(_ name: String) throws -> RunSandbox {
        let sandbox = try RunSandbox(name)
        sandbox.environment["BATON_ECHO_SCRIPT"] = script
        return sandbox
    }

    @Test func theBaselineRunsTheCalledStagesInTheirScopeAndSkipsTheFalseCall() async throws {
        let baseline = try await Self.baseline.get()
        #expect(baseline.calls.map(\.description) == ["outline#1", "review/check#1", "review/summary#1", "report#1"])
        #expect(baseline.skipped == ["second_look/check", "second_look/summary"])
        let outline = try #require(baseline.attempts[StageRound(stage: "outline", round: 1)]?.output)
        let check = try #require(baseline.attempts[StageRound(stage: "review/check", round: 1)])
        #expect(check.prompt == "Check this text (plain review): \(outline)")
        let summary = try #require(baseline.attempts[StageRound(stage: "review/summary", round: 1)])
        #expect(summary.prompt == "Summarize the check: \(check.output)")
        let report = try #require(baseline.attempts[StageRound(stage: "report", round: 1)]?.prompt)
        #expect(report == "Report on the review:\n\(summary.output)\nChecked: \(check.output)\nNo second look.\n", "\(report)")
    }

    @Test(arguments: cases)
    func killedRunsInsideASubPipelineResumeToTheSameOutputs(_ scenario: KillCase) async throws {
        let baseline = try await Self.baseline.get()
        let sandbox = try Self.sandbox("calls-crash")
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
        let skips = try sandbox.store().events(id, kind: .stageSkipped)
        #expect(skips.compactMap(\.stage) == ["second_look/check", "second_look/summary"])
        #expect(skips.allSatisfy { $0.payload?.contains(#""call":"second_look""#) == true })
    }

    /// `rerun --from review` (a call's name) runs the call's stages again from its first, reusing the outline.
    @Test func rerunFromACallRunsItsStagesAgain() async throws {
        let sandbox = try Self.sandbox("calls-rerun")
        let first = try await sandbox.baton(Self.arguments)
        #expect(first.status == 0, "\(first.summary)")
        let parent = try await sandbox.onlyRunID()
        sandbox.clearCallLog()
        let rerun = try await sandbox.baton(["rerun", parent, "--from", "review"])
        #expect(rerun.status == 0, "\(rerun.summary)")
        #expect(rerun.stdout == first.stdout)
        #expect(sandbox.calls().map(\.description) == ["review/check#1", "review/summary#1", "report#1"])
        let child = try #require(try await sandbox.runIDs().first { $0 != parent })
        #expect(try sandbox.store().run(child).rerunFrom == "review/check")

        let unknown = try await sandbox.baton(["rerun", parent, "--from", "reviwe"])
        #expect(unknown.status == 64, "\(unknown.summary)")
        #expect(unknown.stderr.contains("has no stage 'reviwe'; did you mean 'review'?"), "\(unknown.stderr)")
    }

    /// `baton show` groups the called stages under their call, in text and Markdown; skips name the call.
    @Test func showGroupsTheCalledStagesUnderTheirCall() async throws {
        let sandbox = try Self.sandbox("calls-show")
        let run = try await sandbox.baton(Self.arguments)
        #expect(run.status == 0, "\(run.summary)")
        let id = try await sandbox.onlyRunID()

        let text = try await sandbox.baton(["show", id])
        #expect(text.status == 0, "\(text.summary)")
        #expect(
            text.stdout.contains("\n══ review (uses calls-crash-review)\n\n── review/check round 1 try 1 · completed"), "\(text.stdout)")
        #expect(
            text.stdout.contains(
                "\n══ second_look (uses calls-crash-review)\n\n── second_look/check skipped: call 'second_look': when: has(inputs.deep) was false (inputs.deep absent)\n"
            ), "\(text.stdout)")

        // `--stage` with a call's name shows the call's stages.
        let call = try await sandbox.baton(["show", id, "--stage", "review"])
        #expect(call.status == 0, "\(call.summary)")
        #expect(call.stdout.contains("── review/check round 1") && call.stdout.contains("── review/summary round 1"), "\(call.stdout)")
        #expect(!call.stdout.contains("── outline") && !call.stdout.contains("── report"), "\(call.stdout)")

        let markdown = try await sandbox.baton(["show", id, "--format", "markdown"])
        #expect(markdown.stdout.contains("\n## review (uses calls-crash-review)\n\n### review/check, round 1\n"), "\(markdown.stdout)")
        #expect(markdown.stdout.contains("\n### second_look/summary (skipped)\n"), "\(markdown.stdout)")
        #expect(markdown.stdout.contains("\n## report, round 1\n"), "\(markdown.stdout)")
    }

    /// `baton plan` lists each call with its pipeline, its stages and its condition.
    @Test func planListsEachCall() async throws {
        let sandbox = try Self.sandbox("calls-plan")
        let plan = try await sandbox.baton(["plan", Self.pipeline, "--profile", "ci"])
        #expect(plan.status == 0, "\(plan.summary)")
        #expect(
            plan.stdout.contains(
                """

                call review: uses calls-crash-review, stages review/check, review/summary
                call second_look: uses calls-crash-review, stages second_look/check, second_look/summary; runs only when has(inputs.deep)

                """), "\(plan.stdout)")
    }

    /// A changed called file is a changed pipeline: `resume` says so, and `--use-current-pipeline` runs again only the
    /// called stage that changed and what follows it.
    @Test func aChangedCalledFileRunsAgainOnlyWhatItChanged() async throws {
        let sandbox = try Self.sandbox("calls-edited")
        for name in ["calls-crash.yaml", "calls-crash-review.yaml"] {
            try FileManager.default.copyItem(atPath: RunSandbox.fixtures + "/" + name, toPath: sandbox.folder + "/" + name)
        }
        let pipeline = sandbox.folder + "/calls-crash.yaml"
        let first = try await sandbox.baton(["run", pipeline, "--profile", "ci", "--input", "note=tea is brewed hot"])
        #expect(first.status == 0, "\(first.summary)")
        let id = try await sandbox.onlyRunID()
        sandbox.clearCallLog()
        let called = sandbox.folder + "/calls-crash-review.yaml"
        let text = try String(contentsOfFile: called, encoding: .utf8)
        try text.replacingOccurrences(of: "Summarize the check:", with: "Sum up the check:").write(
            toFile: called, atomically: true, encoding: .utf8)

        let plain = try await sandbox.baton(["resume", id, "--dry-run"])
        #expect(plain.stderr.contains("changed since run \(id) started"), "\(plain.stderr)")
        let dry = try await sandbox.baton(["resume", id, "--dry-run", "--use-current-pipeline"])
        #expect(dry.status == 0, "\(dry.summary)")
        #expect(dry.stdout.contains("superseded by the current pipeline: review/summary, second_look/summary, report"), "\(dry.stdout)")
        let resumed = try await sandbox.baton(["resume", id, "--use-current-pipeline"])
        #expect(resumed.status == 0, "\(resumed.summary)")
        // The skipped call's summary is decided again (skipped again); the call's check is reused.
        #expect(sandbox.calls().map(\.description) == ["review/summary#1", "report#1"])
        let summary = try #require(try sandbox.attempts(id).last { $0.stage == "review/summary" })
        #expect(summary.prompt.hasPrefix("Sum up the check: "))
    }

    /// A changed called file counts as a changed pipeline: its text is among the run's pinned sources.
    @Test func theCalledFileIsPinnedWithTheRun() async throws {
        let sandbox = try Self.sandbox("calls-sources")
        let run = try await sandbox.baton(Self.arguments)
        #expect(run.status == 0, "\(run.summary)")
        let id = try await sandbox.onlyRunID()
        let snapshot = try RunSnapshot.decode(try sandbox.store().run(id).snapshot)
        #expect(snapshot.sources.keys.contains { $0.hasSuffix("/calls-crash-review.yaml") }, "\(snapshot.sources.keys.sorted())")
    }
}
