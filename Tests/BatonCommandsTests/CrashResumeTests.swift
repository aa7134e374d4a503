import BatonEngine
import BatonTestSupport
import Foundation
import Testing

/// One crash scenario: the real `baton` binary SIGKILLs itself (`BATON_TEST_KILL_AT`) at `kills[0]`
/// during `baton run`, then at `kills[1]` during the first `baton resume`, and so on; one more `resume`
/// without a kill switch must then finish the run.
struct KillCase: Sendable, CustomTestStringConvertible {
    var kills: [String]

    init(_ kills: String...) { self.kills = kills }

    var testDescription: String { kills.joined(separator: " → ") }
}

/// Crash safety of `baton run` / `baton resume`, end to end.
///
/// The fixture (Fixtures/crash.yaml with crash-script.yaml) makes 8 runtime calls in an uninterrupted
/// run: plan#1, review#1 (revise), plan#2, review#2 (revise), plan#3, review#3 (approve), facts#1 (JSON
/// output), report#1; 96 tokens in all (plan#1 is tokens 1-16, review#1 17-20, plan#2 21-41, review#2
/// 42-47, plan#3 48-68, review#3 69, facts 70-76, report 77-96). With BATON_PROGRESS_INTERVAL=0 every
/// token is also a progress commit. Each scenario is checked with ``RunSandbox/checkInvariants``: the
/// final outputs equal the uninterrupted run's, no completed attempt ran twice (echo call log vs
/// attempt rows), and the database passes `PRAGMA integrity_check`.
@Suite struct CrashResumeTests {
    /// Single kills at every passage of the commit, render, verdict and stage points, and at the first,
    /// a middle and the last token of every attempt.
    static let singleKills: [KillCase] =
        (1...8).map { KillCase("render:\($0)") }
        + (1...8).map { KillCase("attempt-start-commit:\($0)") }
        + (1...8).map { KillCase("attempt-finish-commit:\($0)") }
        + [1, 8, 16, 17, 20, 21, 33, 41, 42, 47, 48, 60, 69, 70, 73, 76, 77, 90, 96].map { KillCase("token:\($0)") }
        + [1, 16, 35, 69, 76, 96].map { KillCase("progress-commit:\($0)") }
        + (1...3).map { KillCase("verdict:\($0)") }
        + (1...4).map { KillCase("stage-done:\($0)") }
        + [KillCase("status-commit:1")]

    /// Runs that crash again while resuming.
    static let repeatedKills: [KillCase] = [
        // Each process gets one render further: plan#2, then plan#3, then report.
        KillCase("render:3", "render:3", "render:3"),
        // Inside the commit that completes review#1, then plan#2, then review#2.
        KillCase("attempt-finish-commit:2", "attempt-finish-commit:2", "attempt-finish-commit:2"),
        // The commit of 'completed', then resume's commit of 'running', then resume's 'completed'.
        KillCase("status-commit:1", "status-commit:1", "status-commit:2"),
        // Mid plan#1; mid plan#2; starting plan#3; after review#2's verdict (replayed verdicts count).
        KillCase("token:5", "token:40", "attempt-start-commit:3", "verdict:2"),
        // After the critic loop; then twice right after replaying plan#1 (no progress at all).
        KillCase("stage-done:2", "stage-done:1", "stage-done:1"),
        // The same attempt (plan#1) dies mid-stream four times: tries 1-4 aborted, try 5 completes.
        KillCase("progress-commit:10", "progress-commit:10", "progress-commit:10", "progress-commit:10"),
        // After review#1's verdict; then after review#3's (verdicts 1 and 2 are replayed).
        KillCase("verdict:1", "verdict:3"),
        // At the very last token, then in resume's 'running' commit.
        KillCase("token:96", "status-commit:1"),
        // Starting report, rendering it again, at its first token.
        KillCase("attempt-start-commit:8", "render:1", "token:1"),
    ]

    static var allCases: [KillCase] { singleKills + repeatedKills }

    @Test func theSuiteCoversAtLeastFiftyDistinctKillPoints() async throws {
        let distinct = Set(Self.allCases.flatMap(\.kills))
        #expect(distinct.count >= 50, "\(distinct.count) distinct kill points")
        // The kill points of conditions and routes are exercised by RouteCrashResumeTests, on a fixture that has them.
        let routed = Set(RouteCrashResumeTests.cases.flatMap(\.kills))
        // Those of fan-out and voting by FanOutCrashResumeTests.
        let fannedOut = Set(FanOutCrashResumeTests.cases.flatMap(\.kills))
        // Those of tool calls by ToolKillMatrixTests (issue 12).
        let tools = Set(ToolKillMatrixTests.cases.map(\.kill))
        let retrieval = Set(RetrieveCrashTests.cases.map(\.kill))
        // A background load's by PreloadCrashTests, on the real llama-server router (issue 15).
        let preloads = Set(PreloadCrashTests.kills)
        // A worker's claim by WorkerClusterTests (issue 17).
        let workers = Set(WorkerClusterTests.kills)
        #expect(
            Set(
                distinct.union(routed).union(fannedOut).union(tools).union(retrieval).union(preloads).union(workers).map {
                    String($0.split(separator: ":")[0])
                })
                == Set(KillPoint.allCases.map(\.rawValue)))
        // The kill points are counted against the uninterrupted run: if the fixture or the echo runtime
        // changes, this says so before the crash tests fail with "was not killed".
        let baseline = try await Baseline.shared.get()
        #expect(
            baseline.passages == [
                "render": 8, "attempt-start-commit": 8, "attempt-finish-commit": 8, "token": 96, "progress-commit": 96,
                "verdict": 3, "stage-done": 4, "status-commit": 1,
            ])
        #expect(
            baseline.calls.map(\.description) == [
                "plan#1", "review#1", "plan#2", "review#2", "plan#3", "review#3", "facts#1", "report#1",
            ])
    }

    @Test(arguments: allCases)
    func killedRunsResumeToTheSameOutputs(_ scenario: KillCase) async throws {
        let baseline = try await Baseline.shared.get()
        let sandbox = try RunSandbox("crash")
        var runID: String?
        for (index, kill) in scenario.kills.enumerated() {
            let arguments = runID.map { ["resume", $0] } ?? RunSandbox.runArguments
            let result = try await sandbox.baton(arguments, ["BATON_TEST_KILL_AT": kill])
            #expect(
                result.signal == SIGKILL,
                "process \(index + 1) (\(arguments[0])) was not killed at \(kill): \(result.summary)")
            if runID == nil { runID = try await sandbox.onlyRunID() }
        }
        let id = try #require(runID)
        let final = try await sandbox.baton(["resume", id])
        #expect(final.status == 0, "\(final.summary)")
        #expect(final.signal == nil)
        #expect(final.stdout == baseline.stdout, "the resumed run's outputs differ from an uninterrupted run's")
        #expect(final.stderr.contains("run \(id) completed"))
        try sandbox.checkInvariants(id, baseline: baseline, context: scenario.testDescription)

        // `baton show` prints the same result stages as the uninterrupted run.
        let shown = try await sandbox.show(id)
        let run = try #require(shown["run"] as? [String: Any])
        #expect(run["status"] as? String == "completed")
        let attempts = try #require(shown["attempts"] as? [[String: Any]])
        for stage in ["facts", "report"] {
            let output = attempts.last { $0["stage"] as? String == stage && $0["status"] as? String == "completed" }?["output"] as? String
            #expect(output == baseline.attempts[StageRound(stage: stage, round: 1)]?.output)
        }
    }

    /// The invariant check is not vacuous: one extra call of a completed attempt fails it.
    @Test func theInvariantCheckNoticesACompletedAttemptThatRanTwice() async throws {
        let baseline = try await Baseline.shared.get()
        let sandbox = try RunSandbox("crash-meta")
        let result = try await sandbox.runPipeline()
        #expect(result.status == 0, "\(result.summary)")
        let id = try await sandbox.onlyRunID()
        try sandbox.checkInvariants(id, baseline: baseline, context: "uninterrupted")
        let log = try #require(FileHandle(forWritingAtPath: sandbox.callLog))
        log.seekToEndOfFile()
        log.write(Data("review\t2\techo-small\n".utf8))
        try log.close()
        #expect(
            try sandbox.invariantViolations(id, baseline: baseline) == [
                "review#2 was called 2 times but has 1 attempt rows ([\"completed\"])", "9 runtime calls but 8 attempt rows",
            ])
    }

    /// The attempt in flight when the process died is kept, as `aborted` once another process resumes
    /// the run, with the partial output saved before the crash; its stage runs again from the start.
    @Test func theAttemptInFlightIsKeptAsAbortedWithItsPartialOutput() async throws {
        let baseline = try await Baseline.shared.get()
        let sandbox = try RunSandbox("crash-partial")
        let killed = try await sandbox.runPipeline(["BATON_TEST_KILL_AT": "token:30"])  // plan#2, its 10th token
        #expect(killed.signal == SIGKILL)
        let id = try await sandbox.onlyRunID()
        let resumed = try await sandbox.baton(["resume", id])
        #expect(resumed.status == 0, "\(resumed.summary)")
        #expect(resumed.stderr.contains("reused"), "\(resumed.stderr)")
        let plan2 = try sandbox.attempts(id).filter { $0.stage == "plan" && $0.round == 2 }
        #expect(plan2.map(\.status) == [.aborted, .completed])
        let partial = try #require(plan2.first?.output)
        let full = try #require(baseline.attempts[StageRound(stage: "plan", round: 2)]?.output)
        #expect(!partial.isEmpty && partial != full && full.hasPrefix(partial))
        #expect(plan2.first?.error?.contains("stopped before it finished") == true)
    }
}
