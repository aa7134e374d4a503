import Foundation

/// How a run ended.
public enum RunOutcome: Sendable, Equatable {
    /// Every stage finished; the outputs of the result stages.
    case completed(runID: String)
    /// A stage failed for good (retries or critic rounds exhausted, a permanent runtime error).
    case failed(runID: String, reason: String, runtimeUnavailable: Bool)
    /// Stopped by a signal after the in-flight attempt was recorded.
    case interrupted(runID: String)
    /// Resume met an external call whose intent was recorded but whose result never was: nothing ran, the run is
    /// marked failed with `message` (which names the call and `--retry-call`/`--skip-call`); the command exits 79.
    case ambiguousCall(runID: String, stage: String, message: String)
}
