import BatonSpec
import Foundation
import MCP

/// One tool call to make: a tool stage's own call, or a call a model asked for in a tool loop (Executor+ToolLoop).
struct ToolCallPlan: Sendable {
    /// What is called.
    enum Target: Sendable {
        /// A `run`, `http` or `mcp` stage (its own call, or a tool definition a model called).
        case stage(PlannedStage)
        /// A tool on a declared MCP server, called by a model.
        case mcp(server: String, tool: String)
    }

    /// The stage whose attempt this is.
    var owner: PlannedStage
    /// What is called.
    var target: Target
    /// `args.*` for a tool definition (or an MCP tool's arguments); nil for a tool stage's own call.
    var arguments: JSONValue?
    /// The critic-loop round, from 1.
    var round: Int
    /// The model turn that asked for the call (0 for a tool stage's own call).
    var turn: Int
    /// The call's place among its turn's calls, from 0.
    var callIndex: Int
}

/// How a tool call ended, for the stage's result or the model's next turn.
struct ToolCallOutcome: Sendable {
    /// stdout (run), the body (http), the text content (mcp); empty for a skipped call.
    var output: String
    /// Whether the call failed (a refused exit code or status, a tool error, a denial).
    var isError: Bool
    /// A command's exit code.
    var exitCode: Int?
    /// An HTTP response's status.
    var status: Int?
    /// The tail of a command's stderr.
    var stderr: String?
    /// Whether the result was read back from the store instead of running (resume).
    var replayed: Bool
}

/// Resume met an external call whose intent is recorded but whose result is not: the run stops (exit 79).
struct AmbiguousToolCall: Error {
    var stage: String
    var tool: String
    var message: String
}

/// The seconds a tool call may take when its stage gives no `timeout`.
let defaultToolTimeout = 300.0

extension Executor {
    // MARK: - Tool stages

    /// Runs one round of a tool stage: its one call (turn 0, call 0), recorded as the stage's attempt.
    func runToolStage(_ stage: PlannedStage, round: Int, fingerprint: String, state: inout RunState) async throws -> StageResult {
        let call = ToolCallPlan(owner: stage, target: .stage(stage), arguments: nil, round: round, turn: 0, callIndex: 0)
        let (_, result) = try await perform(call, fingerprint: fingerprint, state: &state)
        guard let result else { throw StageFailure(message: "stage '\(stage.name)': the call left no result", runtimeUnavailable: false) }
        state.record(stage: stage.name, result)
        return result
    }

    /// The result of a tool stage's completed attempt found in the store, with the exit code, stderr and status its
    /// call recorded; reports the replay.
    func reusedToolResult(_ done: AttemptRecord, stage: PlannedStage, round: Int, state: RunState) throws -> StageResult {
        var result = try StageResult(attempt: done, stage: stage)
        let key = StageRound(stage: stage.name, item: state.currentItem?.index, round: round)
        if let call = state.toolCalls[key] {
            result.exitCode = call.exitCode
            result.stderr = call.stderr
            result.httpStatus = call.httpStatus
            if call.status == .done {
                try store.appendEvent(state.runID, kind: .toolCallReplayed, stage: stage.name, attemptID: done.id, payload: nil)
                observer(.tool(.callReplayed(stage: stage.name, tool: call.tool, item: call.item)))
            }
        }
        return result
    }

    /// Makes one tool call: renders its templates, checks the allow-list and approval, commits its intent, runs it,
    /// commits its result, and on resume applies the effects rules (replay, re-run with the same key, or stop).
    func performToolCall(_ call: ToolCallPlan, state: inout RunState) async throws -> ToolCallOutcome {
        try await perform(call, fingerprint: nil, state: &state).0
    }

    /// The whole of a call. With `fingerprint` (a tool stage's own call) the call is the stage's attempt: the attempt
    /// starts before the intent, completes in the result's transaction, and a failure throws ``StageFailure``; the
    /// stage's result comes back with the outcome. Without, a failure is an outcome with `isError` (for a model).
    private func perform(
        _ call: ToolCallPlan, fingerprint: String?, state: inout RunState
    ) async throws -> (ToolCallOutcome, StageResult?) {
        let owner = call.owner
        let item = state.currentItem?.index
        let prepared = try prepare(call, state: &state)
        let ownAttempt = fingerprint != nil
        let existing = try store.toolCall(
            state.runID, stage: owner.name, item: item, round: call.round, turn: call.turn, callIndex: call.callIndex)

        var row: ToolCallRecord?
        if let existing {
            switch existing.status {
            case .done where existing.arguments == prepared.arguments:
                return try replay(existing, call: call, prepared: prepared, fingerprint: fingerprint, state: &state)
            case .intent:
                let effects = ToolEffects(rawValue: existing.effects) ?? .external
                if effects == .external {
                    switch callResolutions[owner.name] {
                    case .retry: row = existing
                    case .skip: return try skip(existing, call: call, prepared: prepared, fingerprint: fingerprint, state: &state)
                    case nil: throw ambiguity(existing, prepared: prepared, owner: owner, runID: state.runID)
                    }
                } else {
                    // Safe to repeat: run again in place, with the same key.
                    row = existing
                }
            default:
                break
            }
        }

        if case .run(let executable, _, _, _, _, _) = prepared.action {
            let policy = state.snapshot.plan.toolPolicy ?? toolPolicy
            guard ToolEnvironment.isAllowed(executable, by: policy) else {
                let message = ToolEnvironment.notAllowedMessage(
                    stage: prepared.definition?.name ?? owner.name, executable: executable, profile: state.snapshot.plan.profile)
                if ownAttempt { throw StageFailure(message: message, runtimeUnavailable: false) }
                return (ToolCallOutcome(output: message, isError: true, replayed: false), nil)
            }
        }

        let key =
            row?.idempotencyKey
            ?? ToolEnvironment.idempotencyKey(
                runID: state.runID, stage: owner.name, item: item, round: call.round, turn: call.turn, callIndex: call.callIndex,
                arguments: prepared.arguments)
        var attempt: AttemptRecord?
        if let fingerprint {
            let stageRound = StageRound(stage: owner.name, item: item, round: call.round)
            let tryNumber = (state.triesSoFar[stageRound] ?? 0) + 1
            state.triesSoFar[stageRound] = tryNumber
            attempt = try store.startAttempt(
                AttemptRecord(
                    id: nil, runID: state.runID, stage: owner.name, round: call.round, tryNumber: tryNumber, status: .running,
                    model: nil, runtime: nil, system: nil, prompt: prepared.detail, output: "", verdict: nil, feedback: nil,
                    promptTokens: nil, outputTokens: nil, startedAt: RunStore.now(), firstTokenAt: nil, finishedAt: nil,
                    timings: nil, error: nil, fingerprint: fingerprint, item: item))
        }

        // Approval, asked every time the call would run (a retry of an unfinished call too).
        if needsApproval(prepared, owner: owner) {
            let name = prepared.tool
            let request = ToolApprovalRequest(stage: owner.name, tool: name, kind: prepared.kind, detail: prepared.detail)
            let decision = await approver?(request) ?? .denied("run with --approve \(name) or on a terminal")
            switch decision {
            case .approved(let how):
                try store.appendEvent(
                    state.runID, kind: .toolApproved, stage: owner.name, attemptID: attempt?.id,
                    payload: try Self.encode(["tool": name, "how": how, "detail": prepared.detail]))
                observer(.tool(.approved(stage: owner.name, tool: name, how: how)))
            case .denied(let why):
                let message = "stage '\(owner.name)': the call (\(prepared.detail)) was denied: \(why)"
                var denied = ToolCallRecord(
                    id: row?.id, runID: state.runID, stage: owner.name, item: item, round: call.round, turn: call.turn,
                    callIndex: call.callIndex, tool: name, arguments: prepared.arguments, idempotencyKey: key,
                    effects: (row?.effects ?? prepared.definition?.effects?.rawValue ?? ToolEffects.external.rawValue),
                    status: .denied, error: why, startedAt: RunStore.now())
                denied.finishedAt = denied.startedAt
                attempt?.status = .failed
                attempt?.error = message
                attempt?.finishedAt = denied.finishedAt
                try store.recordToolResult(
                    denied, attempt: attempt, attemptEvent: .attemptFailed, callEvent: .toolDenied,
                    payload: try Self.encode(["tool": name, "why": why, "detail": prepared.detail]))
                observer(.tool(.denied(stage: owner.name, tool: name, why: why)))
                if let attempt { report(toolAttempt: attempt) }
                if ownAttempt { throw StageFailure(message: message, runtimeUnavailable: false) }
                return (ToolCallOutcome(output: message, isError: true, replayed: false), nil)
            }
        }

        let effects: ToolEffects
        if let recorded = row.flatMap({ ToolEffects(rawValue: $0.effects) }) {
            effects = recorded
        } else {
            effects = try await resolveEffects(prepared, state: state)
        }
        var intent = ToolCallRecord(
            id: row?.id, runID: state.runID, stage: owner.name, item: item, round: call.round, turn: call.turn,
            callIndex: call.callIndex, tool: prepared.tool, arguments: prepared.arguments, idempotencyKey: key,
            effects: effects.rawValue, status: .intent, startedAt: RunStore.now())
        intent = try store.recordToolIntent(
            intent,
            payload: try Self.encode([
                "tool": prepared.tool, "effects": effects.rawValue, "idempotency_key": key, "detail": prepared.detail,
            ]))
        killSwitch?.hit(.toolIntentCommitted)
        observer(
            .tool(
                .callStarted(
                    stage: owner.name, tool: prepared.tool, kind: prepared.kind, detail: prepared.detail, effects: effects,
                    item: item, rerun: row != nil)))

        let started = Date()
        let raw = try await execute(prepared, key: key, owner: owner, state: state)
        killSwitch?.hit(.toolRan)
        let seconds = Date().timeIntervalSince(started)

        // Judge: a JSON stage's output must parse, like a model's.
        var failure = raw.failure
        var result: StageResult?
        if ownAttempt, failure == nil {
            let text = raw.structured ?? raw.output
            do {
                var parsed = try StageResult(output: text, stage: owner)
                parsed.exitCode = raw.exitCode
                parsed.stderr = raw.stderr
                parsed.httpStatus = raw.httpStatus
                result = parsed
            } catch let error as RuntimeError {
                failure = error.message
            }
        }
        let output = raw.structured ?? raw.output
        var finished = intent
        finished.status = failure == nil ? .done : .failed
        finished.result = output
        finished.error = failure
        finished.exitCode = raw.exitCode
        finished.httpStatus = raw.httpStatus
        finished.stderr = raw.stderr
        finished.finishedAt = RunStore.now()
        if var running = attempt {
            running.status = failure == nil ? .completed : .failed
            running.output = output
            running.error = failure.map { "stage '\(owner.name)': \($0)" }
            running.finishedAt = finished.finishedAt
            running.timings = try Self.encode(["tool": (seconds * 1000).rounded()])
            attempt = running
        }
        var payload: [String: String] = ["status": finished.status.rawValue, "seconds": String(format: "%.3f", seconds)]
        if let code = raw.exitCode { payload["exit_code"] = String(code) }
        if let status = raw.httpStatus { payload["http_status"] = String(status) }
        if raw.truncated { payload["truncated"] = "true" }
        try store.recordToolResult(
            finished, attempt: attempt, attemptEvent: failure == nil ? .attemptCompleted : .attemptFailed,
            payload: try Self.encode(payload))
        killSwitch?.hit(.toolResultCommitted)
        observer(
            .tool(
                .callFinished(
                    stage: owner.name, tool: prepared.tool, status: finished.status, exitCode: raw.exitCode,
                    httpStatus: raw.httpStatus, seconds: seconds, item: item)))
        if failure != nil, let stderr = raw.stderr, !stderr.isEmpty {
            try store.appendEvent(
                state.runID, kind: .toolStderr, stage: owner.name, attemptID: attempt?.id, payload: try Self.encode(["text": stderr]))
            observer(.tool(.stderr(stage: owner.name, text: stderr)))
        }
        if let attempt { report(toolAttempt: attempt) }
        if fingerprint != nil {
            state.toolCalls[StageRound(stage: owner.name, item: item, round: call.round)] = finished
        }
        // A model reads the failure itself: why the call failed, with what the tool said.
        let outcome = ToolCallOutcome(
            output: failure ?? output, isError: failure != nil, exitCode: raw.exitCode,
            status: raw.httpStatus, stderr: raw.stderr, replayed: false)
        if let failure, ownAttempt { throw StageFailure(message: "stage '\(owner.name)': \(failure)", runtimeUnavailable: false) }
        return (outcome, result)
    }

    // MARK: - Resume

    /// A call whose result is recorded: its result is used, nothing runs.
    private func replay(
        _ done: ToolCallRecord, call: ToolCallPlan, prepared: PreparedToolCall, fingerprint: String?, state: inout RunState
    ) throws -> (ToolCallOutcome, StageResult?) {
        let output = done.result ?? ""
        var result: StageResult?
        var attemptID: Int64?
        if let fingerprint {
            var parsed = try StageResult(output: output, stage: call.owner)
            parsed.exitCode = done.exitCode
            parsed.stderr = done.stderr
            parsed.httpStatus = done.httpStatus
            result = parsed
            attemptID = try recordToolAttempt(call, prompt: prepared.detail, output: output, fingerprint: fingerprint, state: &state)
        }
        try store.appendEvent(state.runID, kind: .toolCallReplayed, stage: call.owner.name, attemptID: attemptID, payload: nil)
        observer(.tool(.callReplayed(stage: call.owner.name, tool: done.tool, item: done.item)))
        let outcome = ToolCallOutcome(
            output: output, isError: false, exitCode: done.exitCode, status: done.httpStatus, stderr: done.stderr, replayed: true)
        return (outcome, result)
    }

    /// `--skip-call`: the unfinished call is recorded skipped, its output empty.
    private func skip(
        _ unfinished: ToolCallRecord, call: ToolCallPlan, prepared: PreparedToolCall, fingerprint: String?, state: inout RunState
    ) throws -> (ToolCallOutcome, StageResult?) {
        var attempt: AttemptRecord?
        if let fingerprint {
            let stageRound = StageRound(stage: call.owner.name, item: state.currentItem?.index, round: call.round)
            let tryNumber = (state.triesSoFar[stageRound] ?? 0) + 1
            state.triesSoFar[stageRound] = tryNumber
            attempt = try store.startAttempt(
                AttemptRecord(
                    id: nil, runID: state.runID, stage: call.owner.name, round: call.round, tryNumber: tryNumber,
                    status: .running, model: nil, runtime: nil, system: nil, prompt: prepared.detail, output: "", verdict: nil,
                    feedback: nil, promptTokens: nil, outputTokens: nil, startedAt: RunStore.now(), firstTokenAt: nil,
                    finishedAt: nil, timings: nil, error: nil, fingerprint: fingerprint, item: state.currentItem?.index))
        }
        try store.markToolCallSkipped(
            unfinished, attempt: attempt, payload: try Self.encode(["status": "skipped", "resolution": "--skip-call"]))
        observer(
            .tool(
                .callFinished(
                    stage: call.owner.name, tool: unfinished.tool, status: .skipped, exitCode: nil, httpStatus: nil, seconds: 0,
                    item: unfinished.item)))
        let result: StageResult? = fingerprint != nil ? try StageResult(output: "", stage: plainText(call.owner)) : nil
        return (ToolCallOutcome(output: "", isError: false, replayed: false), result)
    }

    /// The owner as a text stage: a skipped call's empty output is not JSON, and must not be read as a bad answer.
    private func plainText(_ stage: PlannedStage) -> PlannedStage {
        var stage = stage
        stage.output.format = .text
        return stage
    }

    private func ambiguity(_ unfinished: ToolCallRecord, prepared: PreparedToolCall, owner: PlannedStage, runID: String)
        -> AmbiguousToolCall
    {
        let time = ISO8601DateFormatter().string(from: Date(timeIntervalSince1970: unfinished.startedAt))
        let message =
            "stage '\(owner.name)': the call (\(prepared.detail)) started at \(time) but its result was never recorded, and its "
            + "effects are external, so Baton will not repeat it on its own. Check whether it happened, then `baton resume "
            + "\(runID) --retry-call \(owner.name)` to run it again or `--skip-call \(owner.name)` to go on without it (its "
            + "output is empty)."
        return AmbiguousToolCall(stage: owner.name, tool: unfinished.tool, message: message)
    }

    /// A completed attempt for a replayed call (its stage's earlier attempt was not reusable, e.g. superseded).
    private func recordToolAttempt(
        _ call: ToolCallPlan, prompt: String, output: String, fingerprint: String, state: inout RunState
    ) throws -> Int64? {
        let stageRound = StageRound(stage: call.owner.name, item: state.currentItem?.index, round: call.round)
        let tryNumber = (state.triesSoFar[stageRound] ?? 0) + 1
        state.triesSoFar[stageRound] = tryNumber
        var attempt = try store.startAttempt(
            AttemptRecord(
                id: nil, runID: state.runID, stage: call.owner.name, round: call.round, tryNumber: tryNumber, status: .running,
                model: nil, runtime: nil, system: nil, prompt: prompt, output: "", verdict: nil, feedback: nil, promptTokens: nil,
                outputTokens: nil, startedAt: RunStore.now(), firstTokenAt: nil, finishedAt: nil, timings: nil, error: nil,
                fingerprint: fingerprint, item: state.currentItem?.index))
        attempt.status = .completed
        attempt.output = output
        attempt.finishedAt = RunStore.now()
        try store.finishAttempt(attempt, event: .attemptCompleted)
        report(toolAttempt: attempt)
        return attempt.id
    }

    private func report(toolAttempt attempt: AttemptRecord) {
        observer(
            .attemptFinished(
                AttemptSummary(
                    stage: attempt.stage, round: attempt.round, tryNumber: attempt.tryNumber, status: attempt.status, model: nil,
                    seconds: (attempt.finishedAt ?? attempt.startedAt) - attempt.startedAt, promptTokens: nil, outputTokens: nil,
                    error: attempt.error, item: attempt.item)))
    }

    // MARK: - Policy

    /// A tool stage's `approve: true`, or a model stage's `approve: [TOOL, ...]` naming the tool it calls.
    private func needsApproval(_ prepared: PreparedToolCall, owner: PlannedStage) -> Bool {
        if let definition = prepared.definition, definition.approve == .all(true) { return true }
        if prepared.definition?.name != owner.name, case .tools(let names) = owner.approve { return names.contains(prepared.tool) }
        return false
    }

    /// The effects in force: the author's, else for MCP the server's annotations (readOnlyHint → none, idempotentHint →
    /// idempotent), else external.
    private func resolveEffects(_ prepared: PreparedToolCall, state: RunState) async throws -> ToolEffects {
        if let declared = prepared.definition?.effects { return declared }
        guard case .mcp(let server, let tool, _, _) = prepared.action, let pool = state.mcpPool else { return .external }
        let info = try? await pool.tools(server: server).first { $0.name == tool }
        if info?.readOnlyHint == true { return .none }
        if info?.idempotentHint == true { return .idempotent }
        return .external
    }

}
