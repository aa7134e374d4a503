import BatonEngine
import BatonTestSupport
import Foundation
import Testing

/// Signals and leases on the real binary: Ctrl-C and SIGTERM stop a run after recording the attempt in
/// flight, and two processes never execute the same run.
@Suite struct SignalTests {
    struct Signal: Sendable, CustomTestStringConvertible {
        var number: Int32
        var name: String
        var testDescription: String { name }
    }

    @Test(arguments: [Signal(number: SIGINT, name: "SIGINT"), Signal(number: SIGTERM, name: "SIGTERM")])
    func aSignalStopsTheRunAfterRecordingTheAttemptInFlight(_ signal: Signal) async throws {
        let baseline = try await Baseline.shared.get()
        let sandbox = try RunSandbox("signal-\(signal.name)")
        // plan#2 streams 21 tokens, one every 60 ms: the signal lands mid-stream.
        let running = try sandbox.start(RunSandbox.runArguments, ["BATON_ECHO_TOKEN_DELAY": "60ms"])
        try #require(try await sandbox.waitForCall(StageRound(stage: "plan", round: 2)))
        try await Task.sleep(for: .milliseconds(250))
        running.send(signal.number)
        let stopped = await running.wait()
        #expect(stopped.signal == nil, "\(stopped.summary)")
        #expect(stopped.status == 130, "\(stopped.summary)")
        let id = try await sandbox.onlyRunID()
        #expect(stopped.stderr.contains("interrupting: recording the attempt in flight"), "\(stopped.stderr)")
        #expect(stopped.stderr.contains("run \(id) interrupted; continue it with: baton resume \(id)"), "\(stopped.stderr)")
        #expect(stopped.stdout.isEmpty)

        // The attempt in flight is recorded as interrupted, with what had arrived; the run is released.
        do {
            let store = try sandbox.store()
            let run = try store.run(id)
            #expect(run.status == .interrupted)
            #expect(run.finishedAt != nil)
            #expect(run.leaseToken == nil, "the interrupted run is still leased")
            let plan2 = try store.attempts(id).filter { $0.stage == "plan" && $0.round == 2 }
            #expect(plan2.map(\.status) == [.interrupted])
            let partial = plan2.first?.output ?? ""
            let full = try #require(baseline.attempts[StageRound(stage: "plan", round: 2)]?.output)
            #expect(!partial.isEmpty && partial != full && full.hasPrefix(partial), "partial output '\(partial)'")
            #expect(plan2.first?.error == "interrupted by a signal")
            #expect(plan2.first?.finishedAt != nil)
            #expect(try store.events(id).contains { $0.kind == .runInterrupted })
        }
        let listed = try await sandbox.baton(["runs", "--status", "interrupted"])
        #expect(listed.stdout.contains(id), "\(listed.summary)")

        // Resume finishes it like an uninterrupted run, running plan#2 again from its start.
        let resumed = try await sandbox.baton(["resume", id])
        #expect(resumed.status == 0, "\(resumed.summary)")
        #expect(resumed.stdout == baseline.stdout)
        try sandbox.checkInvariants(id, baseline: baseline, stopped: [.interrupted], context: signal.name)
    }

    @Test func aSecondCtrlCQuitsAtOnceAndTheRunStillResumes() async throws {
        let baseline = try await Baseline.shared.get()
        let sandbox = try RunSandbox("signal-twice")
        let running = try sandbox.start(RunSandbox.runArguments, ["BATON_ECHO_TOKEN_DELAY": "40ms"])
        try #require(try await sandbox.waitForCall(StageRound(stage: "review", round: 1)))
        running.send(SIGINT)
        running.send(SIGINT)
        let stopped = await running.wait()
        #expect(stopped.signal == nil, "\(stopped.summary)")
        #expect(stopped.status == 130, "\(stopped.summary)")
        let id = try await sandbox.onlyRunID()
        let resumed = try await sandbox.baton(["resume", id])
        #expect(resumed.status == 0, "\(resumed.summary)")
        #expect(resumed.stdout == baseline.stdout)
        // Depending on whether the first signal's recording won the race, review#1 was left
        // interrupted or still running (then aborted by resume).
        try sandbox.checkInvariants(id, baseline: baseline, stopped: [.interrupted, .aborted], context: "SIGINT twice")
    }

    @Test func aRunBeingExecutedIsLockedUntilItsProcessDies() async throws {
        let baseline = try await Baseline.shared.get()
        let sandbox = try RunSandbox("lease")
        // plan#1's call waits 20 s before its first token: the run is busy for as long as the test needs.
        let first = try sandbox.start(RunSandbox.runArguments, ["BATON_ECHO_CALL_DELAY": "20s"])
        defer { if first.isRunning { first.send(SIGKILL) } }  // reaped by its own thread
        try #require(try await sandbox.waitForCall(StageRound(stage: "plan", round: 1)))
        let id = try await sandbox.onlyRunID()

        let second = try await sandbox.baton(["resume", id])
        #expect(second.status == 75, "\(second.summary)")
        #expect(
            second.stderr.contains("error: run '\(id)' is being executed by process \(first.pid) on "),
            "\(second.stderr)")
        #expect(second.stderr.contains("wait for it to finish or stop that process"))
        #expect(sandbox.calls().count == 1, "the refused resume called a runtime")
        // Refusing changed nothing: plan#1 is still in flight, owned by the first process.
        let shown = try await sandbox.show(id)
        let attempts = try #require(shown["attempts"] as? [[String: Any]])
        #expect(attempts.map { $0["status"] as? String } == ["running"])
        #expect((shown["run"] as? [String: Any])?["lease_pid"] as? Int == Int(first.pid))
        // So is a resume that prints JSON events.
        #expect(try await sandbox.baton(["resume", id, "--json"]).status == 75)

        // Once the holder is gone (SIGKILL, no cleanup at all), resume takes the run over.
        first.send(SIGKILL)
        let killed = await first.wait()
        #expect(killed.signal == SIGKILL)
        let takeover = try await sandbox.baton(["resume", id])
        #expect(takeover.status == 0, "\(takeover.summary)")
        #expect(takeover.stdout == baseline.stdout)
        try sandbox.checkInvariants(id, baseline: baseline, context: "lease takeover")
        let events = try sandbox.store().events(id).filter { $0.kind == .leaseAcquired }
        #expect(events.count == 2)
        #expect(events.last?.payload?.contains("\"previous_pid\":\(first.pid)") == true, "\(events.last?.payload ?? "")")
    }

    /// `resume --use-current-pipeline` rewrites the run's snapshot and supersedes attempts: it must not
    /// do that to a run another process is executing.
    @Test func aRunBeingExecutedCannotBeSwitchedToTheCurrentPipeline() async throws {
        let sandbox = try RunSandbox("lease-current")
        let pipeline = sandbox.folder + "/crash.yaml"
        // facts gets a 20-minute timeout: the ci profile's 30 s ended the stage (and freed the run) before the second
        // resume came on a loaded CI machine (2026-12-07).
        let source = try String(contentsOfFile: RunSandbox.pipeline, encoding: .utf8)
            .replacingOccurrences(of: "    needs: [review]\n", with: "    needs: [review]\n    timeout: 20m\n")
        try #require(source.contains("timeout: 20m"))
        try source.write(toFile: pipeline, atomically: true, encoding: .utf8)
        // The critic loop finishes at once; facts then waits 10 minutes before its first token, so the run is still
        // executing when the second resume comes (20 s was not enough on a loaded machine: the first run completed and
        // the resume rightly went on with it, CI 2026-12-07). The process is killed when the test ends.
        let script = try String(contentsOfFile: RunSandbox.script, encoding: .utf8)
            .replacingOccurrences(of: "  1: {output: '{", with: "  1: {delay: 600s, output: '{")
        try #require(script.contains("delay: 600s"))
        try script.write(toFile: sandbox.folder + "/script.yaml", atomically: true, encoding: .utf8)
        sandbox.environment["BATON_ECHO_SCRIPT"] = sandbox.folder + "/script.yaml"
        let first = try sandbox.start(["run", pipeline, "--profile", "ci", "--input", "task=a garden party"])
        defer { if first.isRunning { first.send(SIGKILL) } }  // reaped by its own thread
        try #require(try await sandbox.waitForCall(StageRound(stage: "facts", round: 1)))
        let id = try await sandbox.onlyRunID()
        let before = try sandbox.store().run(id)
        let attemptsBefore = try sandbox.attempts(id)

        let text = try String(contentsOfFile: pipeline, encoding: .utf8)
        try text.replacingOccurrences(of: "in three numbered steps", with: "in four numbered steps")
            .write(toFile: pipeline, atomically: true, encoding: .utf8)
        let dry = try await sandbox.baton(["resume", id, "--use-current-pipeline", "--dry-run"])
        #expect(dry.status == 0, "\(dry.summary)")
        #expect(first.isRunning, "the first run ended before the second resume; the test's premise is gone")
        let second = try await sandbox.baton(["resume", id, "--use-current-pipeline"])
        #expect(second.status == 75, "\(second.summary)")
        #expect(second.stderr.contains("is being executed by process \(first.pid)"), "\(second.stderr)")
        // Nothing changed: same snapshot, no attempt superseded.
        let after = try sandbox.store().run(id)
        let sameSnapshot = after.snapshot == before.snapshot
        #expect(sameSnapshot, "the snapshot of a run held by another process was replaced")
        #expect(after.pipelineHash == before.pipelineHash)
        #expect(
            try sandbox.attempts(id).map(\.status) == attemptsBefore.map(\.status),
            "attempts of a run held by another process were superseded")
    }
}
