import Foundation
import GRDB

/// A state the run store writes as text: a run's status, an attempt's status, an event's kind.
///
/// The database holds the raw strings, so it is the same as before these types existed. A string this Baton
/// does not know (a run written by a later Baton, which may add a status or an event kind without a schema
/// migration) is read as `.other(text)` rather than refused: `runs`, `show` and `resume` keep working on the
/// rows they understand, print the unknown value as it was written, and a record written back keeps it. Code
/// that acts on a state matches the known cases and treats `.other` as "not one of them" (an unknown attempt
/// status is never reused as completed, an unknown run status is not finished).
public protocol StoredState: RawRepresentable, Hashable, Sendable, Codable, CustomStringConvertible, DatabaseValueConvertible
where RawValue == String {
    /// Every state this Baton writes.
    static var known: [Self] { get }
    /// A state this Baton does not know, kept as it was read.
    static func other(_ rawValue: String) -> Self
}

extension StoredState {
    /// The known state spelled `rawValue`, else `.other(rawValue)`; never fails.
    public init(rawValue: String) {
        self = Self.known.first { $0.rawValue == rawValue } ?? Self.other(rawValue)
    }

    /// The stored string, so that interpolation prints what the database and the JSON outputs hold.
    public var description: String { rawValue }
}

/// The status of a run (`runs.status`).
public enum RunStatus: StoredState {
    /// Written by `baton submit` (and when a worker hands a run back or the rescuer requeues it): waiting for a
    /// `baton worker` to claim it.
    case queued
    /// Written when the run is created, and again when `resume` takes it up.
    case running
    /// Written when every stage finished.
    case completed
    /// Written when a stage failed for good; `runs.error` says why.
    case failed
    /// Written when a signal stopped the run after its in-flight attempt was recorded.
    case interrupted
    /// Never written by this Baton: a status a later one wrote.
    case other(String)

    /// Every status this Baton writes.
    public static let known: [RunStatus] = [.queued, .running, .completed, .failed, .interrupted]

    /// The string the database and the JSON outputs hold.
    public var rawValue: String {
        switch self {
        case .queued: "queued"
        case .running: "running"
        case .completed: "completed"
        case .failed: "failed"
        case .interrupted: "interrupted"
        case .other(let text): text
        }
    }

    /// Whether the run has ended (its `finished_at` is set); a status this Baton does not know has not.
    public var isFinished: Bool {
        switch self {
        case .completed, .failed, .interrupted: true
        case .queued, .running, .other: false
        }
    }
}

/// The status of one attempt (`attempts.status`).
public enum AttemptStatus: StoredState {
    /// Written when the attempt starts; stays while it streams.
    case running
    /// Written when its output was accepted; resume reuses it.
    case completed
    /// Written when it failed (a runtime error, an unusable answer); a retry or a fallback may follow.
    case failed
    /// Written on resume for an attempt found `running`: the process that ran it died.
    case aborted
    /// Written when a signal stopped it.
    case interrupted
    /// Written by `resume --use-current-pipeline` for the attempts of a stage that changed.
    case superseded
    /// Written instead of running a stage whose `when:` was false, that its router's branch left out, or whose
    /// reviewed stage was skipped (round 1, try 1, no prompt or output); resume reuses it as it reuses a completed one.
    case skipped
    /// Never written by this Baton: a status a later one wrote.
    case other(String)

    /// Every status this Baton writes.
    public static let known: [AttemptStatus] = [.running, .completed, .failed, .aborted, .interrupted, .superseded, .skipped]

    /// The string the database and the JSON outputs hold.
    public var rawValue: String {
        switch self {
        case .running: "running"
        case .completed: "completed"
        case .failed: "failed"
        case .aborted: "aborted"
        case .interrupted: "interrupted"
        case .superseded: "superseded"
        case .skipped: "skipped"
        case .other(let text): text
        }
    }
}

/// The kind of an entry of a run's event log (`events.kind`).
public enum EventKind: StoredState {
    /// The run was created (with the run row, in one transaction).
    case runCreated
    /// `resume` took the run up again.
    case runResumed
    /// A signal stopped the run.
    case runInterrupted
    /// A stage failed for good, so the run did.
    case runFailed
    /// Every stage finished.
    case runCompleted
    /// A process took the run's lease (payload: its pid and host, and the previous holder's pid).
    case leaseAcquired
    /// `resume --use-current-pipeline` replaced the pinned snapshot (payload: the superseded stages).
    case snapshotReplaced
    /// An attempt started (payload: round and try).
    case attemptStarted
    /// An attempt's output was accepted.
    case attemptCompleted
    /// An attempt failed.
    case attemptFailed
    /// A signal stopped an attempt.
    case attemptInterrupted
    /// Resume found an attempt in flight whose process died.
    case attemptAborted
    /// A transient error will be tried again (payload: error, delay, round, phase `load` or `generate`).
    case retry
    /// A stage was skipped (payload: the condition, the route's router and branch, the values the decision read).
    case stageSkipped
    /// A router's answer chose a branch (payload: the field, its value, the branch, the stages it runs).
    case routeChosen
    /// A critic still asked for a revision at `max_rounds`, and the loop's `on_exhausted: accept` kept the last.
    case loopExhaustedAccepted
    /// A text stage's answer was cut at `max_tokens` and kept, marked truncated.
    case outputTruncated
    /// A model was loaded before a stage (payload: model, seconds, num_ctx).
    case modelLoaded
    /// A model was unloaded, to make room or to reload it with another context.
    case modelUnloaded
    /// A model Baton loaded was dropped by its runtime on its own.
    case modelEvictedByRuntime
    /// A stage moved to the next model of its chain (payload: from, to, reason, error, round, skipped).
    case modelFallback
    /// A runtime was found unreachable or unusable; its models are skipped for the rest of the run.
    case runtimeUnreachable
    /// A runtime client changed or noticed something about a request or a load (payload: code, message).
    case runtimeNotice
    /// The machine was too hot: the run waits before a stage.
    case thermalPause
    /// The pause ended.
    case thermalResume
    /// The pause reached the policy's `max_wait`: the stage runs anyway.
    case thermalWaitExceeded
    /// A fan-out stage's list was evaluated and pinned (`{"count": N, "items": [...]}`); resume reads it back.
    case itemsExpanded
    /// A voting stage's samples were counted (`{"field", "value", "count", "total", "tally"}`).
    case voteCounted
    /// A tool call's intent was committed; it runs next (payload: tool, effects, idempotency key, detail).
    case toolCallStarted
    /// A tool call's result was committed (payload: status, exit code or HTTP status, seconds).
    case toolCallFinished
    /// Resume found a tool call's result in the store and used it instead of calling again.
    case toolCallReplayed
    /// Resume found an external call with an intent but no result and stopped (payload: the call, when it started).
    case toolCallAmbiguous
    /// The user (or `--approve`) approved a call that needs approval (payload: tool, how, detail).
    case toolApproved
    /// A call that needs approval was denied (payload: tool, why, detail).
    case toolDenied
    /// A failed command's stderr, its last 64 KB (payload: text).
    case toolStderr
    /// A line an MCP server wrote to its stderr (payload: server, line).
    case mcpStderr
    /// The run is a repetition of a `baton test` case (payload: file, case, variant, repetition).
    case testCase
    /// A model's load was started in the background while an earlier stage generated (payload: model, during, for).
    case preloadStarted
    /// What the plan's managed runtimes had loaded when the run first started (payload: models, by runtime), so the
    /// run's end (and a resume's) can leave them as found.
    case modelsAtStart
    /// The profile's `after_run` policy was applied at the run's end (payload: policy, unloaded, reloaded, errors).
    case afterRun
    /// Text a model generated since the previous chunk, written with the throttled progress save so `baton serve` can
    /// stream an attempt's output from the event log (payload: text, offset in UTF-16 code units, item).
    case outputChunk
    /// `baton submit` queued the run (payload: priority, labels, engine_version).
    case runSubmitted
    /// A worker claimed the run (payload: worker, host, epoch).
    case runClaimed
    /// The run went back to the queue: handed back by a stopping worker, or requeued by the rescuer after its worker
    /// died (payload: reason, previous worker, epoch, recoveries).
    case runRequeued
    /// A worker's commit was refused because its lease epoch is no longer the run's (payload: worker, epoch).
    case leaseFenced
    /// A stage's model was placed on one host of a runtime pool (payload: runtime, host, model, reason, score).
    case hostPlaced
    /// A stage waits for room on a runtime pool's hosts (payload: runtime, model, bytes).
    case hostWait
    /// Never written by this Baton: a kind a later one wrote.
    case other(String)

    /// Every kind this Baton writes.
    public static let known: [EventKind] = [
        .runCreated, .runResumed, .runInterrupted, .runFailed, .runCompleted, .leaseAcquired, .snapshotReplaced,
        .attemptStarted, .attemptCompleted, .attemptFailed, .attemptInterrupted, .attemptAborted, .retry,
        .loopExhaustedAccepted, .outputTruncated, .modelLoaded, .modelUnloaded, .modelEvictedByRuntime, .modelFallback,
        .runtimeUnreachable, .runtimeNotice, .thermalPause, .thermalResume, .thermalWaitExceeded, .stageSkipped, .routeChosen,
        .itemsExpanded, .voteCounted, .toolCallStarted, .toolCallFinished, .toolCallReplayed, .toolCallAmbiguous,
        .toolApproved, .toolDenied, .toolStderr, .mcpStderr, .testCase, .preloadStarted, .modelsAtStart, .afterRun,
        .outputChunk, .runSubmitted, .runClaimed, .runRequeued, .leaseFenced, .hostPlaced, .hostWait,
    ]

    /// The string the database and the JSON outputs hold.
    public var rawValue: String {
        switch self {
        case .runCreated: "run-created"
        case .runResumed: "run-resumed"
        case .runInterrupted: "run-interrupted"
        case .runFailed: "run-failed"
        case .runCompleted: "run-completed"
        case .leaseAcquired: "lease-acquired"
        case .snapshotReplaced: "snapshot-replaced"
        case .attemptStarted: "attempt-started"
        case .attemptCompleted: "attempt-completed"
        case .attemptFailed: "attempt-failed"
        case .attemptInterrupted: "attempt-interrupted"
        case .attemptAborted: "attempt-aborted"
        case .retry: "retry"
        case .loopExhaustedAccepted: "loop-exhausted-accepted"
        case .outputTruncated: "output-truncated"
        case .modelLoaded: "model-loaded"
        case .modelUnloaded: "model-unloaded"
        case .modelEvictedByRuntime: "model-evicted-by-runtime"
        case .modelFallback: "model-fallback"
        case .runtimeUnreachable: "runtime-unreachable"
        case .runtimeNotice: "runtime-notice"
        case .thermalPause: "thermal-pause"
        case .thermalResume: "thermal-resume"
        case .thermalWaitExceeded: "thermal-wait-exceeded"
        case .stageSkipped: "stage-skipped"
        case .routeChosen: "route-chosen"
        case .itemsExpanded: "items-expanded"
        case .voteCounted: "vote-counted"
        case .toolCallStarted: "tool-call-started"
        case .toolCallFinished: "tool-call-finished"
        case .toolCallReplayed: "tool-call-replayed"
        case .toolCallAmbiguous: "tool-call-ambiguous"
        case .toolApproved: "tool-approved"
        case .toolDenied: "tool-denied"
        case .toolStderr: "tool-stderr"
        case .mcpStderr: "mcp-stderr"
        case .testCase: "test-case"
        case .preloadStarted: "preload-started"
        case .modelsAtStart: "models-at-start"
        case .afterRun: "after-run"
        case .outputChunk: "output-chunk"
        case .runSubmitted: "run-submitted"
        case .runClaimed: "run-claimed"
        case .runRequeued: "run-requeued"
        case .leaseFenced: "lease-fenced"
        case .hostPlaced: "host-placed"
        case .hostWait: "host-wait"
        case .other(let text): text
        }
    }
}
