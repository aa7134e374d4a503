import Foundation

/// A place in the engine where a crash test may kill the process.
public enum KillPoint: String, CaseIterable, Sendable {
    /// A stage's prompt was rendered, before its attempt is recorded.
    case render
    /// Inside the transaction that records an attempt's start.
    case attemptStartCommit = "attempt-start-commit"
    /// A piece of output arrived, before it is saved.
    case token
    /// Inside the transaction that saves a streaming attempt's partial output.
    case progressCommit = "progress-commit"
    /// Inside the transaction that records how an attempt ended.
    case attemptFinishCommit = "attempt-finish-commit"
    /// A critic's verdict was taken into the loop's history.
    case verdict
    /// A stage's `when:`, route or critic skip was decided (a skip recorded, or the stage about to run).
    case conditionDecided = "condition-decided"
    /// A router's `route-chosen` event was recorded.
    case routeChosen = "route-chosen"
    /// A fan-out stage's item list was pinned (its `items-expanded` event recorded), before its first item runs.
    case itemsExpanded = "items-expanded"
    /// One item of a fan-out stage (with its critic loop) finished, before the next one starts.
    case itemDone = "item-done"
    /// A stage (or a whole critic loop) finished, before the next one starts.
    case stageDone = "stage-done"
    /// Inside the transaction that sets a run's status.
    case statusCommit = "status-commit"
    /// A tool call's intent was committed, before the call starts.
    case toolIntentCommitted = "tool-intent-committed"
    /// A tool call returned, before its result is committed (the call happened; the store does not know).
    case toolRan = "tool-ran"
    /// A tool call's result (with its attempt's completion) was committed.
    case toolResultCommitted = "tool-result-committed"
    /// A run's update of a stale index reported progress (after a file's chunks were committed).
    case indexProgress = "index-progress"
    /// A run's update of a stale index finished and its `index-updated` event was recorded, before the query.
    case indexUpdated = "index-updated"
    /// A retrieve stage's search returned, before its attempt is recorded completed.
    case retrieveQueried = "retrieve-queried"
    /// A background load's request was sent to the runtime, before its `model-loaded` event is recorded.
    case preloadStarted = "preload-started"
    /// A worker claimed a run (its `run-claimed` committed), before it executes it.
    case claimed
}

/// A test hook that kills the process (SIGKILL, no cleanup) at the n-th time it passes a named point,
/// so crash tests can stop `baton` at exact places: inside a commit, mid-stream, between stages.
///
/// The command layer builds it from `BATON_TEST_KILL_AT=POINT:N` (for example `attempt-finish-commit:3`);
/// without that variable there is no kill switch and `hit` is never called. The points are ``KillPoint``'s.
public final class KillSwitch: Sendable {
    private let point: KillPoint
    private let count: Int
    private let seen = Locked(0)

    /// A switch for `POINT:N`, or nil when the text is not of that form.
    public init?(specification: String) {
        let parts = specification.split(separator: ":")
        guard parts.count == 2, let count = Int(parts[1]), count > 0, let point = KillPoint(rawValue: String(parts[0])) else {
            return nil
        }
        self.point = point
        self.count = count
    }

    /// Kills the process if this is the chosen passage of the chosen point.
    public func hit(_ passed: KillPoint) {
        guard passed == point else { return }
        let now = seen.withLock { seen in
            seen += 1
            return seen
        }
        if now == count {
            kill(getpid(), SIGKILL)
            while true { pause() }
        }
    }
}
