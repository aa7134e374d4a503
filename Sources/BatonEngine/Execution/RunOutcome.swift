import Foundation

/// How a run ended.
public enum RunOutcome: Sendable, Equatable {
    /// Every stage finished; the outputs of the result stages.
    case completed(runID: String)
    /// A stage failed for good (retries or critic rounds exhausted, a permanent runtime error).
    case failed(runID: String, reason: String, runtimeUnavailable: Bool)
    /// Stopped by a signal after the in-flight attempt was recorded.
    case interrupted(runID: String)
}
