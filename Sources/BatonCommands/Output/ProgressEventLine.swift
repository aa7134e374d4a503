import BatonEngine
import BatonSpec
import Foundation

/// One line of `run --json`: an event name and the fields that event has (the others are left out).
struct ProgressEventLine: Encodable {
    var event: String
    var run: String?
    var pipeline: String?
    var stage: String?
    var role: String?
    var model: String?
    var round: Int?
    var tryNumber: Int?
    var stageNumber: Int?
    var stageCount: Int?
    var text: String?
    var code: String?
    var message: String?
    var maxTokens: Int?
    var status: String?
    var seconds: Double?
    var promptTokens: Int?
    var outputTokens: Int?
    var error: String?
    var finishReason: String?
    var delay: Double?
    var critic: String?
    var verdict: String?
    var feedback: String?
    var runtime: String?
    var fix: String?
    var skipped: [String]?
    var from: String?
    var to: String?
    var reason: String?
    var state: String?
    var maxWait: Double?
    var waited: Double?
    var outputs: [String: String]?
    /// A router's field, the value found there (nil: absent or not text), the branch it chose and that branch's stages.
    var field: String?
    var value: String?
    var branch: String?
    var stages: [String]?
    /// Fan-out: the item (from 0) an event is about, the list's size; a vote's count, samples and tally.
    var item: Int?
    var count: Int?
    var total: Int?
    var tally: [TallyLine]?
    var reused: Bool?
    /// Tool calls: the tool (a tool stage's name or `SERVER.TOOL`), its kind, what runs, its effects, how it ended,
    /// whether it ran again on resume, how it was approved; an MCP server's name for its stderr lines.
    var tool: String?
    var kind: String?
    var detail: String?
    var effects: String?
    var exitCode: Int?
    var httpStatus: Int?
    var rerun: Bool?
    var how: String?
    var server: String?
    /// `after-run`: the profile's policy, the models unloaded, loaded again, not loaded again (their keep_alive ran out)
    /// and what failed.
    var policy: String?
    var unloaded: [String]?
    var reloaded: [String]?
    var expired: [String]?
    var errors: [String]?
    /// When the line was printed (RFC 3339): events had no time before, so their version is unchanged.
    var at: String?

    enum CodingKeys: String, CodingKey {
        case event, run, pipeline, stage, role, model, round, text, code, message, status, seconds, error, delay, critic, verdict
        case feedback, runtime, fix, skipped, from, to, reason, state, waited, outputs, at, field, value, branch, stages
        case item, count, total, tally, reused
        case tool, kind, detail, effects, rerun, how, server
        case policy, unloaded, reloaded, expired, errors
        case exitCode = "exit_code"
        case httpStatus = "http_status"
        case tryNumber = "try"
        case stageNumber = "stage_number"
        case stageCount = "stage_count"
        case maxTokens = "max_tokens"
        case promptTokens = "prompt_tokens"
        case outputTokens = "output_tokens"
        case finishReason = "finish_reason"
        case maxWait = "max_wait"
    }

    /// The line for `event`, nil for an event `run --json` does not print (the end of a run has its own line).
    init?(_ event: RunEvent) {
        switch event {
        case .runStarted(let id, let pipeline, let resumed):
            self.init(event: resumed ? "run-resumed" : "run-started", run: id, pipeline: pipeline)
        case .attemptStarted(let stage, let role, let model, let round, let tryNumber, let number, let count, let item):
            self.init(
                event: "attempt-started", stage: stage, role: role, model: model, round: round, tryNumber: tryNumber, stageNumber: number,
                stageCount: count)
            self.item = item
        case .attemptReused(let stage, let round, let item):
            self.init(event: "attempt-reused", stage: stage, round: round)
            self.item = item
        case .tool(let tool):
            self.init(tool)
        case .token(let stage, let text, let item):
            self.init(event: "token", stage: stage, text: text)
            self.item = item
        case .thinking(let stage, let text):
            self.init(event: "thinking", stage: stage, text: text)
        case .runtimeNotice(let stage, let notice):
            self.init(event: "runtime-notice", stage: stage, code: notice.code, message: notice.message)
        case .outputTruncated(let stage, let round, let limit):
            self.init(event: "output-truncated", stage: stage, round: round, maxTokens: limit)
        case .attemptFinished(let summary):
            self.init(
                event: "attempt-finished", stage: summary.stage, round: summary.round, tryNumber: summary.tryNumber,
                status: summary.status.rawValue, seconds: summary.seconds, promptTokens: summary.promptTokens,
                outputTokens: summary.outputTokens, error: summary.error, finishReason: summary.finishReason)
            item = summary.item
        case .retrying(let stage, let round, let error, let delay):
            self.init(event: "retry", stage: stage, round: round, error: error, delay: delay)
        case .verdict(let critic, let reviewed, let round, let verdict, let feedback, let item):
            self.init(event: "verdict", stage: reviewed, round: round, critic: critic, verdict: verdict, feedback: feedback)
            self.item = item
        case .loadStarted(let stage, let model):
            self.init(event: "load-started", stage: stage, model: model)
        case .generationStarted(let stage, let model):
            self.init(event: "generation-started", stage: stage, model: model)
        case .runtimeUnreachable(let stage, let runtime, let error, let fix, let skipped):
            self.init(
                event: "runtime-unreachable", stage: stage, error: error, runtime: runtime, fix: fix.isEmpty ? nil : fix, skipped: skipped)
        case .modelLoaded(let model, let seconds):
            self.init(event: "model-loaded", model: model, seconds: seconds)
        case .modelUnloaded(let model, let seconds):
            self.init(event: "model-unloaded", model: model, seconds: seconds)
        case .modelFallback(let stage, let from, let to, let reason):
            self.init(event: "model-fallback", stage: stage, from: from, to: to, reason: reason)
        case .thermalPaused(let stage, let round, let state, let maxWait):
            self.init(event: "thermal-pause", stage: stage, round: round, state: state.description, maxWait: maxWait)
        case .thermalResumed(let stage, let round, let state, let waited):
            self.init(event: "thermal-resume", stage: stage, round: round, state: state?.description ?? "unknown", waited: waited)
        case .thermalWaitExceeded(let stage, let round, let state, let waited):
            self.init(event: "thermal-wait-exceeded", stage: stage, round: round, state: state.description, waited: waited)
        case .stageSkipped(let stage, let reason, let reused):
            self.init(event: reused ? "stage-skip-reused" : "stage-skipped", stage: stage, reason: reason)
        case .routeChosen(let router, let field, let value, let branch, let stages):
            self.init(event: "route-chosen", stage: router, field: field, value: value, branch: branch, stages: stages)
        case .itemsExpanded(let stage, let count, let reused):
            self.init(event: "items-expanded", stage: stage)
            self.count = count
            self.reused = reused
        case .itemStarted(let stage, let item, let count, let summary):
            self.init(event: "item-started", stage: stage, text: summary)
            self.item = item
            self.count = count
        case .voteCounted(let stage, let field, let value, let count, let total, let tally):
            self.init(event: "vote-counted", stage: stage, field: field, value: value)
            self.count = count
            self.total = total
            self.tally = tally.map { TallyLine(value: $0.value, count: $0.count) }
        case .afterRun(let report):
            self.init(event: "after-run")
            (policy, unloaded, reloaded, expired, errors) =
                (report.policy.rawValue, report.unloaded, report.reloaded, report.expired, report.errors)
        case .runFinished:
            return nil
        }
    }

    /// One value of a vote's tally and how many samples answered it.
    struct TallyLine: Encodable {
        var value: String
        var count: Int
    }

    init(
        event: String, run: String? = nil, pipeline: String? = nil, stage: String? = nil, role: String? = nil, model: String? = nil,
        round: Int? = nil, tryNumber: Int? = nil, stageNumber: Int? = nil, stageCount: Int? = nil, text: String? = nil,
        code: String? = nil, message: String? = nil, maxTokens: Int? = nil, status: String? = nil, seconds: Double? = nil,
        promptTokens: Int? = nil, outputTokens: Int? = nil, error: String? = nil, finishReason: String? = nil, delay: Double? = nil,
        critic: String? = nil, verdict: String? = nil, feedback: String? = nil, runtime: String? = nil, fix: String? = nil,
        skipped: [String]? = nil, from: String? = nil, to: String? = nil, reason: String? = nil, state: String? = nil,
        maxWait: Double? = nil, waited: Double? = nil, outputs: [String: String]? = nil, field: String? = nil, value: String? = nil,
        branch: String? = nil, stages: [String]? = nil
    ) {
        self.event = event
        self.run = run
        self.pipeline = pipeline
        self.stage = stage
        self.role = role
        self.model = model
        self.round = round
        self.tryNumber = tryNumber
        self.stageNumber = stageNumber
        self.stageCount = stageCount
        self.text = text
        self.code = code
        self.message = message
        self.maxTokens = maxTokens
        self.status = status
        self.seconds = seconds
        self.promptTokens = promptTokens
        self.outputTokens = outputTokens
        self.error = error
        self.finishReason = finishReason
        self.delay = delay
        self.critic = critic
        self.verdict = verdict
        self.feedback = feedback
        self.runtime = runtime
        self.fix = fix
        self.skipped = skipped
        self.from = from
        self.to = to
        self.reason = reason
        self.state = state
        self.maxWait = maxWait
        self.waited = waited
        self.outputs = outputs
        self.field = field
        self.value = value
        self.branch = branch
        self.stages = stages
    }
}

extension ProgressEventLine {
    /// The line for a tool event: its store event's name (`tool-call-started`, ...) and its fields.
    init(_ tool: ToolRunEvent) {
        self.init(event: tool.name, stage: tool.stage)
        switch tool {
        case .callStarted(_, let name, let kind, let detail, let effects, let item, let rerun):
            (self.tool, self.kind, self.detail, self.effects, self.item) = (name, kind.rawValue, detail, effects.rawValue, item)
            self.rerun = rerun ? true : nil
        case .callFinished(_, let name, let status, let exitCode, let httpStatus, let seconds, let item):
            (self.tool, self.status, self.exitCode, self.httpStatus, self.seconds, self.item) =
                (name, status.rawValue, exitCode, httpStatus, seconds, item)
        case .callReplayed(_, let name, let item):
            (self.tool, self.item) = (name, item)
        case .callAmbiguous(_, let name, let message):
            (self.tool, self.message) = (name, message)
        case .approved(_, let name, let how):
            (self.tool, self.how) = (name, how)
        case .denied(_, let name, let why):
            (self.tool, self.reason) = (name, why)
        case .stderr(_, let text):
            self.text = text
        case .mcpStderr(let server, let line):
            (self.server, self.text) = (server, line)
        }
    }
}
