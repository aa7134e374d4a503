import BatonSpec
import Foundation

extension Executor {
    /// Waits and returns when another try is due; throws ``StageFailure`` when the error is permanent or
    /// the tries are used up.
    func retryOrFail(
        _ stage: PlannedStage, round: Int, error: RuntimeError, failures: Int, policy: RetryPolicy, state: RunState,
        loading: Bool = false
    ) async throws {
        guard error.isTransient, failures < policy.maxAttempts else {
            let tries = error.isTransient ? " after \(failures) tr\(failures == 1 ? "y" : "ies")" : ""
            throw StageFailure(
                message: "stage '\(stage.name)' failed\(tries)\(loading ? " to load its model" : ""): \(error.message)",
                runtimeUnavailable: error.code == .unreachable, fallbackReason: Self.fallbackReason(error, loading: loading))
        }
        // Exponential backoff with "equal jitter": half the delay fixed, half random.
        let base = min(policy.maxBackoff, policy.initialBackoff * pow(policy.multiplier, Double(failures - 1)))
        // A runtime that says how long to wait (Retry-After or retry-after-ms; the clients refuse a wait over 60 s
        // as retry-too-late) is obeyed when that is longer.
        let delay = max(base / 2 + base / 2 * random(), error.retryAfter ?? 0)
        try store.appendEvent(
            state.runID, kind: .retry, stage: stage.name,
            payload: try Self.encode([
                "error": error.message, "delay": String(format: "%.3f", delay), "round": String(round),
                "phase": loading ? "load" : "generate",
            ]))
        observer(.retrying(stage: stage.name, round: round, error: error.message, delay: delay))
        try await sleep(delay)
    }
}
