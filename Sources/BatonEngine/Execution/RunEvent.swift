import BatonSpec
import Foundation

/// What the executor reports while it runs, for the command layer to print (or write as JSON lines).
public enum RunEvent: Sendable {
    /// The run started (or resumed) under this id.
    case runStarted(id: String, pipeline: String, resumed: Bool)
    /// A stage's attempt starts; the stage is number `stageNumber` (from 1) of the plan's `stageCount`; `item` is the
    /// fan-out item (from 0), nil outside fan-out.
    case attemptStarted(
        stage: String, role: String?, model: String, round: Int, tryNumber: Int, stageNumber: Int, stageCount: Int, item: Int? = nil)
    /// Completed work found in the store is used instead of running again (`item`: the fan-out item, from 0).
    case attemptReused(stage: String, round: Int, item: Int? = nil)
    /// A piece of output arrived (`item`: the fan-out item, from 0; items running at once interleave their tokens).
    case token(stage: String, text: String, item: Int? = nil)
    /// A piece of a thinking model's thinking arrived (not part of the output).
    case thinking(stage: String, text: String)
    /// A runtime client changed or noticed something about the request (a setting the model refuses was dropped).
    case runtimeNotice(stage: String, notice: RuntimeNotice)
    /// A text stage's answer was cut at its `max_tokens` (`limit`, when set): kept, but marked truncated.
    case outputTruncated(stage: String, round: Int, limit: Int?)
    /// An attempt finished.
    case attemptFinished(AttemptSummary)
    /// An attempt failed and will be tried again after `delay` seconds.
    case retrying(stage: String, round: Int, error: String, delay: Double)
    /// A critic decided (`item`: the fan-out item of the reviewed stage it judged, from 0; nil outside fan-out).
    case verdict(critic: String, reviewed: String, round: Int, verdict: String, feedback: String, item: Int? = nil)
    /// The runtime was asked to load `model` for `stage`; ``modelLoaded(model:seconds:)`` (or a retry or a
    /// fallback) follows.
    case loadStarted(stage: String, model: String)
    /// The request for an attempt's answer was sent; the first ``token(stage:text:)`` (or the attempt's end) follows.
    case generationStarted(stage: String, model: String)
    /// `runtime` could not be reached (or used) from `stage`: `error` says why, `fix` what starts it (empty when
    /// the error says). Its models are skipped for the rest of the run, those of this stage's chain in `skipped`.
    case runtimeUnreachable(stage: String, runtime: String, error: String, fix: String, skipped: [String])
    /// A model was loaded before a stage (`seconds` until the runtime confirmed it).
    case modelLoaded(model: String, seconds: Double)
    /// A model was unloaded to make room (confirmed by the runtime).
    case modelUnloaded(model: String, seconds: Double)
    /// A stage moved to the next model of its chain because `from` could not serve it.
    case modelFallback(stage: String, from: String, to: String, reason: String)
    /// The machine is at `state`, at or above the profile's `thermal.pause_at`: the run waits before
    /// `stage` (round `round`) for it to cool, at most `maxWait` seconds.
    case thermalPaused(stage: String, round: Int, state: ThermalState, maxWait: Double)
    /// The pause before `stage` ended after `waited` seconds: the state fell to `state` (nil: unknown).
    case thermalResumed(stage: String, round: Int, state: ThermalState?, waited: Double)
    /// Still at `state` after the policy's `max_wait` (`waited` seconds): `stage` runs anyway.
    case thermalWaitExceeded(stage: String, round: Int, state: ThermalState, waited: Double)
    /// A stage was skipped (`reused`: the skip was recorded by an earlier process): `reason` says why, with the
    /// condition and the values it saw, or the router's branch.
    case stageSkipped(stage: String, reason: String, reused: Bool)
    /// Router `router`'s answer had `value` (nil: absent) at `field`, which chose `branch`, running `stages`.
    case routeChosen(router: String, field: String, value: String?, branch: String, stages: [String])
    /// A fan-out stage's item list was pinned (`reused`: read back from an earlier process, not evaluated again).
    case itemsExpanded(stage: String, count: Int, reused: Bool)
    /// An item of a fan-out stage starts (or is reused): index from 0, the list's size, a short form of the item.
    case itemStarted(stage: String, item: Int, count: Int, summary: String)
    /// A voting stage's samples were counted: the winning value, its count, the samples counted, and the tally.
    case voteCounted(stage: String, field: String, value: String, count: Int, total: Int, tally: [(value: String, count: Int)])
    /// Something happened to a tool call (a tool stage's, or one a model asked for): see ``ToolRunEvent``.
    case tool(ToolRunEvent)
    /// The run ended (completed, failed, interrupted) and its profile's `after_run` was applied to the models it loaded:
    /// what was unloaded, loaded again, and what failed (a failure never changes the run's outcome).
    case afterRun(AfterRunReport)
    /// The run finished.
    case runFinished(id: String, outputs: [(stage: String, output: String)])
}

/// What the executor reports about tool calls; each has a store event of the same name (`tool-call-started`, ...).
public enum ToolRunEvent: Sendable, Hashable {
    /// The call's intent was committed and it starts now (`rerun`: an unfinished call run again on resume, same key).
    case callStarted(stage: String, tool: String, kind: ToolKind, detail: String, effects: ToolEffects, item: Int?, rerun: Bool)
    /// The call ended and its result was committed.
    case callFinished(
        stage: String, tool: String, status: ToolCallStatus, exitCode: Int?, httpStatus: Int?, seconds: Double, item: Int?)
    /// The call's result was read back from the store: it did not run again.
    case callReplayed(stage: String, tool: String, item: Int?)
    /// An external call with an intent but no result: the run stops and asks (`message` says how to go on).
    case callAmbiguous(stage: String, tool: String, message: String)
    /// A call that needs approval was approved (`how`: "terminal", "--approve").
    case approved(stage: String, tool: String, how: String)
    /// A call that needs approval was denied (`why`).
    case denied(stage: String, tool: String, why: String)
    /// The tail of a failed command's stderr.
    case stderr(stage: String, text: String)
    /// A line an MCP server wrote to its stderr.
    case mcpStderr(server: String, line: String)

    /// The store event kind's name: `tool-call-started`, `tool-call-finished`, ...
    public var name: String {
        switch self {
        case .callStarted: "tool-call-started"
        case .callFinished: "tool-call-finished"
        case .callReplayed: "tool-call-replayed"
        case .callAmbiguous: "tool-call-ambiguous"
        case .approved: "tool-approved"
        case .denied: "tool-denied"
        case .stderr: "tool-stderr"
        case .mcpStderr: "mcp-stderr"
        }
    }

    /// The stage the event is about (nil for a server's stderr line).
    public var stage: String? {
        switch self {
        case .callStarted(let stage, _, _, _, _, _, _), .callFinished(let stage, _, _, _, _, _, _), .callReplayed(let stage, _, _),
            .callAmbiguous(let stage, _, _), .approved(let stage, _, _), .denied(let stage, _, _), .stderr(let stage, _):
            stage
        case .mcpStderr: nil
        }
    }

    /// One line for a person: what ran, how it ended, or why it did not run.
    public var line: String {
        func at(_ stage: String, _ item: Int?) -> String { item.map { "\(stage) item \($0 + 1)" } ?? stage }
        switch self {
        case .callStarted(let stage, _, let kind, let detail, let effects, let item, let rerun):
            return
                "  ⚙ \(at(stage, item)) \(kind.rawValue): \(detail) (effects: \(effects.rawValue)\(rerun ? ", run again with the same key" : ""))"
        case .callFinished(let stage, _, let status, let exitCode, let httpStatus, let seconds, let item):
            let code = exitCode.map { ", exit \($0)" } ?? httpStatus.map { ", HTTP \($0)" } ?? ""
            let time = seconds < 1 ? "\(Int((seconds * 1000).rounded())) ms" : String(format: "%.1f s", seconds)
            return "  ⚙ \(at(stage, item)) \(status.rawValue)\(code) in \(time)"
        case .callReplayed(let stage, _, let item):
            return "  ⚙ \(at(stage, item)): result recorded earlier, not run again"
        case .callAmbiguous(let stage, _, _):
            // The run's summary quotes the whole message (what to check, how to go on).
            return "  ⚠ \(stage): its call started earlier but its result was never recorded (effects: external); the run stops"
        case .approved(let stage, let tool, let how):
            return "  ✓ \(stage): \(tool) approved (\(how))"
        case .denied(let stage, let tool, let why):
            return "  ✗ \(stage): \(tool) denied (\(why))"
        case .stderr(let stage, let text):
            let trimmed = text.hasSuffix("\n") ? String(text.dropLast()) : text
            let lines = trimmed.split(separator: "\n", omittingEmptySubsequences: false).suffix(10)
            return "  \(stage) stderr:\n" + lines.map { "    | \($0)" }.joined(separator: "\n")
        case .mcpStderr(let server, let line):
            return "  [\(server)] \(line)"
        }
    }
}

/// How one attempt went, for progress lines and the summary.
public struct AttemptSummary: Sendable, Hashable {
    public var stage: String
    public var round: Int
    public var tryNumber: Int
    /// How the attempt ended.
    public var status: AttemptStatus
    public var model: String?
    public var seconds: Double
    public var promptTokens: Int?
    public var outputTokens: Int?
    public var error: String?
    /// Why the generation stopped (`complete`, `truncated`, ...), when the runtime said.
    public var finishReason: String? = nil
    /// The fan-out item (from 0) the attempt ran; nil outside fan-out.
    public var item: Int? = nil
}
