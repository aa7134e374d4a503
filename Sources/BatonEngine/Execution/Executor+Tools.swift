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

/// A call rendered and ready to run: what it is, how it reads in a prompt, and its canonical arguments (the key's input).
struct PreparedToolCall {
    enum Action {
        case run(executable: String, arguments: [String], stdin: String?, cwd: String?, env: [String: String], step: RunStep)
        case http(method: String, url: String, headers: [(String, String)], body: String?, spec: HTTPSpec)
        case mcp(server: String, tool: String, arguments: [(key: String, value: JSONValue)], typed: Bool)
    }

    var kind: ToolKind
    /// The stage name for a tool stage, `SERVER.TOOL` for an MCP tool a model called.
    var tool: String
    /// Exactly what runs, for the approval prompt, events and the attempt's `prompt`.
    var detail: String
    /// The rendered call as canonical JSON.
    var arguments: String
    var action: Action
    /// The stage that defines the call (its effects, approval, output and timeout).
    var definition: PlannedStage?
}

/// What a call returned, before it is judged.
private struct ToolRawResult {
    var output: String
    var failure: String?
    var exitCode: Int?
    var httpStatus: Int?
    var stderr: String?
    var structured: String?
    var truncated = false
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

    // MARK: - Rendering

    /// Renders the call's templates in its stage's context (with `args` for a tool definition) into a runnable call.
    func prepare(_ call: ToolCallPlan, state: inout RunState) throws -> PreparedToolCall {
        switch call.target {
        case .mcp(let server, let tool):
            let arguments: [(key: String, value: JSONValue)]
            if case .object(let pairs) = call.arguments { arguments = pairs } else { arguments = [] }
            return mcpCall(server: server, tool: tool, name: "\(server).\(tool)", arguments: arguments, typed: true, definition: nil)
        case .stage(let stage):
            guard let step = stage.tool else {
                throw StageFailure(message: "stage '\(stage.name)' is not a tool stage", runtimeUnavailable: false)
            }
            func render(_ text: String) throws -> String {
                try state.renderTool(text, stage: stage, round: call.round, args: call.arguments)
            }
            switch step {
            case .run(let run):
                let rendered = try run.argv.map(render)
                let argv = run.shell ? ["/bin/sh", "-c", rendered.first ?? ""] : rendered
                guard let executable = argv.first, !executable.isEmpty else {
                    throw StageFailure(
                        message: "stage '\(stage.name)': its command is empty after rendering; give `run:` at least the executable",
                        runtimeUnavailable: false)
                }
                let stdin = try run.stdin.map(render)
                let cwd = try run.cwd.map(render)
                var env: [String: String] = [:]
                for (name, template) in run.env ?? [:] { env[name] = try render(template) }
                var fields: [(key: String, value: JSONValue)] = [("argv", .array(argv.map(JSONValue.string)))]
                if let cwd { fields.append(("cwd", .string(cwd))) }
                if !env.isEmpty { fields.append(("env", .object(env.sorted { $0.key < $1.key }.map { ($0.key, .string($0.value)) }))) }
                if let stdin { fields.append(("stdin", .string(stdin))) }
                return PreparedToolCall(
                    kind: .run, tool: stage.name, detail: ToolEnvironment.shellQuoted(argv), arguments: canonical(fields),
                    action: .run(
                        executable: executable, arguments: Array(argv.dropFirst()), stdin: stdin, cwd: cwd, env: env, step: run),
                    definition: stage)
            case .http(let http):
                let url = try render(http.url)
                var headers: [(String, String)] = []
                for (name, template) in (http.headers ?? [:]).sorted(by: { $0.key < $1.key }) {
                    headers.append((name, try render(template)))
                }
                let body = try http.body.map(render)
                var fields: [(key: String, value: JSONValue)] = []
                if let body { fields.append(("body", .string(body))) }
                if !headers.isEmpty { fields.append(("headers", .object(headers.map { ($0.0, .string($0.1)) }))) }
                fields.append(("method", .string(http.method)))
                fields.append(("url", .string(url)))
                let names = headers.map(\.0)
                return PreparedToolCall(
                    kind: .http, tool: stage.name,
                    detail: "\(http.method) \(url)" + (names.isEmpty ? "" : " (headers: \(names.joined(separator: ", ")))"),
                    arguments: canonical(fields), action: .http(method: http.method, url: url, headers: headers, body: body, spec: http),
                    definition: stage)
            case .mcp(let mcp):
                var arguments: [(key: String, value: JSONValue)] = []
                for (name, template) in (mcp.arguments ?? [:]).sorted(by: { $0.key < $1.key }) {
                    arguments.append((name, .string(try render(template))))
                }
                return mcpCall(server: mcp.server, tool: mcp.tool, name: stage.name, arguments: arguments, typed: false, definition: stage)
            }
        }
    }

    private func mcpCall(
        server: String, tool: String, name: String, arguments: [(key: String, value: JSONValue)], typed: Bool,
        definition: PlannedStage?
    ) -> PreparedToolCall {
        let sorted = arguments.sorted { $0.key < $1.key }
        let argumentsText = canonical(sorted)
        let fields: [(key: String, value: JSONValue)] = [
            ("arguments", .object(sorted)), ("server", .string(server)), ("tool", .string(tool)),
        ]
        return PreparedToolCall(
            kind: .mcp, tool: name, detail: "\(server).\(tool) \(argumentsText)", arguments: canonical(fields),
            action: .mcp(server: server, tool: tool, arguments: sorted, typed: typed), definition: definition)
    }

    /// JSON text with the keys in the order given (callers sort them), no spaces: the same call, the same text.
    private func canonical(_ fields: [(key: String, value: JSONValue)]) -> String {
        Self.canonicalJSON(.object(fields))
    }

    static func canonicalJSON(_ value: JSONValue) -> String {
        switch value {
        case .object(let pairs):
            return "{" + pairs.sorted { $0.key < $1.key }.map { quoted($0.key) + ":" + canonicalJSON($0.value) }.joined(separator: ",")
                + "}"
        case .array(let values): return "[" + values.map(canonicalJSON).joined(separator: ",") + "]"
        case .string(let text): return quoted(text)
        case .number(let number):
            return number == number.rounded() && abs(number) < 1e15 ? String(Int64(number)) : String(number)
        case .bool(let flag): return flag ? "true" : "false"
        case .null: return "null"
        }
    }

    private static func quoted(_ text: String) -> String {
        let data = (try? JSONEncoder().encode(text)) ?? Data("\"\"".utf8)
        return String(decoding: data, as: UTF8.self)
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

    // MARK: - Running

    private func timeout(_ prepared: PreparedToolCall, owner: PlannedStage) -> Double {
        (prepared.definition ?? owner).settings.timeout ?? defaultToolTimeout
    }

    /// Runs the call. A refused exit code or status, a timeout, a tool error or a call that could not start is a
    /// result with `failure`, so the intent gets its result row; cancellation is thrown (the intent stays: the call
    /// may have happened).
    private func execute(_ prepared: PreparedToolCall, key: String, owner: PlannedStage, state: RunState) async throws -> ToolRawResult {
        let timeout = timeout(prepared, owner: owner)
        switch prepared.action {
        case .run(let executable, let arguments, let stdin, let cwd, let env, let step):
            let work: String
            do {
                let scratch = try ToolEnvironment.workFolder(runID: state.runID, databasePath: store.path)
                work = cwd.map { $0.hasPrefix("/") ? $0 : scratch + "/" + $0 } ?? scratch
            } catch {
                return ToolRawResult(output: "", failure: "its working folder cannot be created: \(error.localizedDescription)")
            }
            let request = ProcessToolRequest(
                executable: executable, arguments: arguments, stdin: stdin, workingDirectory: work,
                environment: ToolEnvironment.environment(
                    runID: state.runID, stage: prepared.definition?.name ?? owner.name, idempotencyKey: key, extra: env),
                timeout: timeout, stdoutCap: Int(clamping: step.maxOutput.bytes))
            let result: ProcessToolResult
            do {
                result = try await ProcessTool.run(request)
            } catch let error as ProcessToolError {
                return ToolRawResult(output: "", failure: error.message)
            } catch let error where !(error is CancellationError) {
                return ToolRawResult(output: "", failure: "`\(prepared.detail)` could not run: \(error)")
            }
            var raw = ToolRawResult(
                output: result.stdout, exitCode: result.exitCode.map(Int.init), stderr: result.stderr, truncated: result.stdoutTruncated)
            let command = prepared.detail
            if result.timedOut {
                raw.failure =
                    "`\(command)` did not finish within \(Self.seconds(timeout)) and was stopped (its process group got SIGTERM, then "
                    + "SIGKILL); raise the stage's timeout"
            } else if let code = result.exitCode {
                if !step.exitCodes.contains(Int(code)) {
                    raw.failure =
                        "`\(command)` exited with code \(code) (accepted: \(step.exitCodes.map(String.init).joined(separator: ", "))); "
                        + "fix the command or add \(code) to exit_codes" + Self.tail(result.stderr)
                }
            } else if case .signaled(let signal) = result.termination {
                raw.failure = "`\(command)` was killed by signal \(signal)" + Self.tail(result.stderr)
            }
            return raw
        case .http(let method, let url, let headers, let body, let spec):
            var sent = headers.map { HTTPToolHeader($0.0, $0.1) }
            if !sent.contains(where: { $0.name.lowercased() == "idempotency-key" }) { sent.append(HTTPToolHeader("Idempotency-Key", key)) }
            let request = HTTPToolRequest(
                method: method, url: url, headers: sent, body: body,
                allowedHosts: HTTPToolRequest.loopbackHosts + (spec.allowHosts ?? []), timeout: timeout,
                responseCap: Int(clamping: (spec.maxResponse ?? ByteCount(bytes: 1 << 20)).bytes))
            let result: HTTPToolResult
            do {
                result = try await HTTPTool.run(request)
            } catch let error as HTTPToolError {
                return ToolRawResult(output: "", failure: error.message)
            } catch let error where !(error is CancellationError) {
                return ToolRawResult(output: "", failure: "\(method) \(url) failed: \(error)")
            }
            var raw = ToolRawResult(output: result.body, httpStatus: result.status, truncated: result.truncated)
            if result.status >= 400, !(spec.acceptStatus ?? []).contains(result.status) {
                let head = result.body.prefix(500)
                raw.failure =
                    "\(method) \(url) answered HTTP \(result.status)"
                    + (head.isEmpty ? " with an empty body" : "; the body began: \(StageResult.excerpt(String(head)))")
                    + "; add \(result.status) to accept_status if that answer is expected"
            }
            return raw
        case .mcp(let server, let tool, let arguments, let typed):
            guard let pool = state.mcpPool, let spec = state.snapshot.plan.mcpServers?.first(where: { $0.name == server }) else {
                return ToolRawResult(
                    output: "", failure: "no MCP server '\(server)' is declared; add it under mcp_servers in the pipeline or the profile")
            }
            if let allowed = spec.allowTools, !allowed.contains(tool) {
                return ToolRawResult(
                    output: "",
                    failure:
                        "tool '\(tool)' of MCP server '\(server)' is not in its 'allow_tools' (\(allowed.map { "'\($0)'" }.joined(separator: ", "))); add it there to allow it"
                )
            }
            do {
                let values = typed ? arguments : try await typedArguments(arguments, server: server, tool: tool, pool: pool)
                let json = Self.canonicalJSON(.object(values))
                let result = try await Self.within(seconds: timeout, what: "\(server).\(tool)") {
                    try await pool.call(server: server, tool: tool, argumentsJSON: json, idempotencyKey: key)
                }
                var raw = ToolRawResult(output: result.text)
                if result.isError {
                    raw.failure = "\(server).\(tool) reported an error: \(StageResult.excerpt(result.text))"
                } else if prepared.definition?.output.format == .json, let structured = result.structured,
                    let data = try? JSONEncoder().encode(structured)
                {
                    raw.structured = String(decoding: data, as: UTF8.self)
                }
                return raw
            } catch let error as MCPClientError {
                return ToolRawResult(output: "", failure: error.description)
            } catch let error as ToolTimeout {
                return ToolRawResult(output: "", failure: error.message)
            } catch let error where !(error is CancellationError) {
                return ToolRawResult(output: "", failure: "\(server).\(tool) failed: \(error)")
            }
        }
    }

    /// Rendered MCP arguments typed by the tool's input schema: a property the schema says is a number, integer,
    /// boolean, array or object is parsed as JSON (left a string when it does not parse); the rest stay strings.
    private func typedArguments(
        _ arguments: [(key: String, value: JSONValue)], server: String, tool: String, pool: MCPPool
    ) async throws -> [(key: String, value: JSONValue)] {
        let schema = try await pool.tools(server: server).first { $0.name == tool }?.inputSchema
        let properties = schema?.objectValue?["properties"]?.objectValue ?? [:]
        return arguments.map { pair in
            guard case .string(let text) = pair.value, let type = properties[pair.key]?.objectValue?["type"]?.stringValue,
                type != "string",
                let parsed = try? JSONDecoder().decode(JSONValue.self, from: Data(text.utf8))
            else { return pair }
            return (pair.key, parsed)
        }
    }

    struct ToolTimeout: Error {
        var message: String
    }

    /// Runs `body`, cancelling it after `seconds`.
    static func within<T: Sendable>(seconds: Double, what: String, _ body: @escaping @Sendable () async throws -> T) async throws -> T {
        try await withThrowingTaskGroup(of: T?.self) { group in
            group.addTask { try await body() }
            group.addTask {
                try await Task.sleep(for: .milliseconds(Int64(seconds * 1000)))
                return nil
            }
            defer { group.cancelAll() }
            guard let first = try await group.next(), let value = first else {
                throw ToolTimeout(message: "\(what) did not answer within \(Self.seconds(seconds)); raise the stage's timeout")
            }
            return value
        }
    }

    /// The last lines of stderr, for the end of a failure message.
    static func tail(_ stderr: String) -> String {
        let lines = stderr.split(separator: "\n", omittingEmptySubsequences: true).suffix(10)
        guard !lines.isEmpty else { return " (its stderr was empty)" }
        return ". Its stderr ended with:\n" + lines.map { "  | " + $0.prefix(300) }.joined(separator: "\n")
    }

    // MARK: - MCP servers

    /// The run's MCP pool: the plan's servers, started on first use, each stderr line an `mcp-stderr` event.
    func mcpPool(for plan: ExecutionPlan, runID: String) -> MCPPool? {
        guard let servers = plan.mcpServers, !servers.isEmpty else { return nil }
        let work = try? ToolEnvironment.workFolder(runID: runID, databasePath: store.path)
        let definitions = servers.map { spec in
            MCPServerDefinition(
                name: spec.name, command: spec.command, environment: spec.env ?? [:], workingDirectory: work,
                startupTimeout: .milliseconds(Int64((spec.startupTimeout ?? 20) * 1000)),
                callTimeout: .milliseconds(Int64((spec.callTimeout ?? defaultToolTimeout) * 1000)))
        }
        let (store, observer) = (self.store, self.observer)
        return MCPPool(servers: definitions, baseEnvironment: ToolEnvironment.base) { server, line in
            let payload = (try? Self.encode(["server": server, "line": line])) ?? "{}"
            try? store.appendEvent(runID, kind: .mcpStderr, payload: payload)
            observer(.tool(.mcpStderr(server: server, line: line)))
        }
    }
}
