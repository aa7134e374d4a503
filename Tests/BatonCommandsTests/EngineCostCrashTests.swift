import BatonEngine
import BatonTestSupport
import Foundation
import Testing

/// Kills between the two steps that share one transaction since issue 15 (an attempt's end and the next write,
/// RunStore+Pending): the attempt that had answered is left `running` in the store, and the resume asks for it
/// again and ends with the uninterrupted run's outputs, every invariant of ``RunSandbox/checkInvariants`` kept.
@Suite struct EngineCostCrashTests {
    /// Each kill point between an attempt's end and the next write, with the attempt whose end was waiting:
    /// stage-done:1 (after plan#1), render:2 (review#1 rendered after plan#1 answered), verdict:1 (after review#1's
    /// verdict), stage-done:2 (after the critic loop: review#3), render:8 (report rendered after facts#1 answered).
    static let cases: [(kill: String, waiting: StageRound)] = [
        ("stage-done:1", StageRound(stage: "plan", round: 1)), ("render:2", StageRound(stage: "plan", round: 1)),
        ("verdict:1", StageRound(stage: "review", round: 1)), ("stage-done:2", StageRound(stage: "review", round: 3)),
        ("render:8", StageRound(stage: "facts", round: 1)),
    ]

    @Test(arguments: cases.indices)
    func aKillBetweenAnAttemptsEndAndTheNextWriteResumesToTheSameOutputs(_ index: Int) async throws {
        let (kill, waiting) = Self.cases[index]
        let baseline = try await Baseline.shared.get()
        let sandbox = try RunSandbox("engine-cost")
        let killed = try await sandbox.runPipeline(["BATON_TEST_KILL_AT": kill])
        #expect(killed.signal == SIGKILL, "not killed at \(kill): \(killed.summary)")
        let id = try await sandbox.onlyRunID()

        // The kill fell between the merged steps: the attempt had answered, its end was not written.
        #expect(sandbox.calls().last == waiting)
        let left = try sandbox.attempts(id)
        #expect(left.last.map { StageRound(stage: $0.stage, item: $0.item, round: $0.round) } == waiting)
        #expect(left.last?.status == .running)
        #expect(left.dropLast().allSatisfy { $0.status == .completed })

        let final = try await sandbox.baton(["resume", id])
        #expect(final.status == 0, "\(final.summary)")
        #expect(final.stdout == baseline.stdout)
        try sandbox.checkInvariants(id, baseline: baseline, context: kill)
        // Asked again once: the try that had answered is kept as aborted, the new one completed.
        let tries = try sandbox.attempts(id).filter { StageRound(stage: $0.stage, item: $0.item, round: $0.round) == waiting }
        #expect(tries.map(\.status) == [.aborted, .completed])
    }
}
