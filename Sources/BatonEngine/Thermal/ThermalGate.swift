import BatonSpec

/// Waits while the machine is at or above a policy's `pause_at` state, reading the sensor every
/// `poll_interval`, for at most `max_wait`.
///
/// Time is counted as the sum of the sleeps the gate asks for, so an injected sleep makes the wait
/// instant and exact in tests. An unknown state (the sensor returns nil) never pauses and ends a pause.
public struct ThermalGate: Sendable {
    /// What a call to ``wait(onPause:)`` did.
    public enum Outcome: Sendable, Equatable {
        /// No pause: the state was below the threshold, unknown, or the policy is off.
        case clear(ThermalState?)
        /// Paused at `from`, then the state fell to `to` (nil: unknown) after `waited` seconds.
        case resumed(from: ThermalState, to: ThermalState?, waited: Double)
        /// Still at `state` when `max_wait` (`waited` seconds) ran out; the caller goes on anyway.
        case gaveUp(state: ThermalState, waited: Double)
    }

    /// The policy: threshold, maximum wait, poll interval.
    public var policy: ThermalPolicy
    /// Where the state comes from.
    public var sensor: any ThermalSensor
    /// Sleeps between readings; throws `CancellationError` when the task is cancelled.
    public var sleep: @Sendable (Double) async throws -> Void

    /// Creates a gate.
    public init(
        policy: ThermalPolicy, sensor: any ThermalSensor,
        sleep: @escaping @Sendable (Double) async throws -> Void = { try await Task.sleep(for: .seconds($0)) }
    ) {
        self.policy = policy
        self.sensor = sensor
        self.sleep = sleep
    }

    /// Reads the sensor once and, when the state calls for it, calls `onPause` and waits.
    ///
    /// - Throws: `CancellationError` when the task is cancelled during the wait; whatever `onPause` throws.
    public func wait(onPause: (ThermalState) throws -> Void = { _ in }) async throws -> Outcome {
        guard policy.enabled else { return .clear(nil) }
        let threshold = ThermalState(policy.pauseAt)
        let first = sensor.currentState()
        guard let hot = first, hot >= threshold else { return .clear(first) }
        try onPause(hot)
        var waited = 0.0
        var current = hot
        while waited < policy.maxWait {
            let step = min(policy.pollInterval, policy.maxWait - waited)
            try await sleep(step)
            try Task.checkCancellation()
            waited += step
            let reading = sensor.currentState()
            guard let now = reading, now >= threshold else {
                return .resumed(from: hot, to: reading, waited: waited)
            }
            current = now
        }
        return .gaveUp(state: current, waited: waited)
    }
}
