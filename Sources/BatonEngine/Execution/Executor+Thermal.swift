import BatonSpec
import Foundation

extension Executor {
    /// Before a stage round that will run: when the run's profile has an enabled `thermal` policy and the
    /// executor has a sensor, waits while the machine is hot, recording the pause and its end as events
    /// (`thermal-pause`, then `thermal-resume` or `thermal-wait-exceeded`).
    ///
    /// Without a policy or a sensor this reads nothing, so it costs nothing; with one, the sensor is read
    /// once per stage round that runs (and once per poll during a pause). Reused attempts never get here.
    ///
    /// - Throws: `CancellationError` when the run is interrupted during the wait; ``StoreError``.
    func waitWhileHot(before stage: PlannedStage, round: Int, state: RunState) async throws {
        guard let sensor = thermal, let policy = state.snapshot.profile?.spec.thermal, policy.enabled else { return }
        let gate = ThermalGate(policy: policy, sensor: sensor, sleep: sleep)
        let runID = state.runID
        let outcome = try await gate.wait { hot in
            try store.appendEvent(
                runID, kind: .thermalPause, stage: stage.name,
                payload: try Self.encode(
                    ThermalPayload(
                        state: hot.description, round: round, pauseAt: policy.pauseAt.rawValue, maxWait: policy.maxWait)))
            observer(.thermalPaused(stage: stage.name, round: round, state: hot, maxWait: policy.maxWait))
        }
        switch outcome {
        case .clear:
            return
        case .resumed(_, let cooled, let waited):
            try store.appendEvent(
                runID, kind: .thermalResume, stage: stage.name,
                payload: try Self.encode(ThermalPayload(state: cooled?.description ?? "unknown", round: round, waited: waited)))
            observer(.thermalResumed(stage: stage.name, round: round, state: cooled, waited: waited))
        case .gaveUp(let hot, let waited):
            try store.appendEvent(
                runID, kind: .thermalWaitExceeded, stage: stage.name,
                payload: try Self.encode(
                    ThermalPayload(state: hot.description, round: round, maxWait: policy.maxWait, waited: waited)))
            observer(.thermalWaitExceeded(stage: stage.name, round: round, state: hot, waited: waited))
        }
    }
}

/// The payload of the `thermal-*` events: the state, the stage round, and seconds.
private struct ThermalPayload: Encodable {
    var state: String
    var round: Int
    var pauseAt: String?
    var maxWait: Double?
    var waited: Double?

    enum CodingKeys: String, CodingKey {
        case state, round
        case pauseAt = "pause_at"
        case maxWait = "max_wait"
        case waited
    }
}
