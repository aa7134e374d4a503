import BatonSpec
import Foundation

/// A model stage with `tools:` (issue 12): the model answers in turns; each call it asks for runs through
/// ``Executor/performToolCall(_:state:)`` (allow-list, approval, intent and result rows, replay on resume) and its result
/// goes back for the next turn, until the model gives its final answer, or `max_tool_calls` calls have run (then one
/// final turn without tools), or it asks for the same call twice in a row (then the same final turn).
///
/// The loop runs inside the stage's attempt, as a runtime (``ToolLoopRuntime``) that wraps the model's: the attempt's
/// retries, timeout, output checks and records stay the executor's own. Each model turn is an attempt of its own
/// (``TurnStore``): a turn that asks for calls is committed, with its calls, before they run, and the turn that gives
/// the final answer is the try's attempt, whose output is the stage's. A retried try or a resumed run rebuilds the
/// conversation from those turns and the calls' recorded results and goes on from the first turn without an attempt:
/// the model is never asked again for a turn it answered, and a call whose result is committed is replayed, never run
/// again.
extension Executor {
    /// `runtime` for `stage`'s attempts: itself for a stage without `tools:`, else wrapped in its tool loop.
    func toolLoopRuntime(for stage: PlannedStage, _ runtime: any LLMRuntime, round: Int, state: RunState) -> any LLMRuntime {
        guard let use = stage.toolUse else { return runtime }
        return ToolLoopRuntime(base: runtime, executor: self, stage: stage, use: use, round: round, state: state)
    }

    /// The tools `use` offers a model, each with what a call of it runs: a tool stage of the pipeline (its
    /// `description:` and `parameters:`) or `SERVER.TOOL` on an MCP server (its listed description and input schema).
    /// Names go to the model with `.` written `__`: OpenAI and Anthropic take only letters, digits, `_` and `-`.
    func offeredTools(_ use: ToolUse, state: RunState) async -> [(definition: ToolDefinition, target: ToolCallPlan.Target)] {
        var offered: [(definition: ToolDefinition, target: ToolCallPlan.Target)] = []
        for name in use.tools {
            if let stage = state.snapshot.plan.stage(named: name), stage.isTool {
                let parameters = stage.parameters ?? .object([("type", .string("object")), ("properties", .object([]))])
                offered.append((ToolDefinition(name: name, description: stage.description ?? "", parameters: parameters), .stage(stage)))
                continue
            }
            let parts = name.split(separator: ".", maxSplits: 1).map(String.init)
            guard parts.count == 2 else { continue }
            var description = ""
            var parameters: JSONValue = .object([("type", .string("object"))])
            if let pool = state.mcpPool, let listed = try? await pool.tools(server: parts[0]).first(where: { $0.name == parts[1] }) {
                description = listed.description ?? ""
                if let data = try? JSONEncoder().encode(listed.inputSchema),
                    let schema = OrderedJSON.parse(data)
                {
                    parameters = schema
                }
            }
            let exposed = name.replacingOccurrences(of: ".", with: "__")
            offered.append(
                (ToolDefinition(name: exposed, description: description, parameters: parameters), .mcp(server: parts[0], tool: parts[1])))
        }
        return offered
    }
}

/// The tool loop of one attempt, as the runtime the attempt generates with: it streams the final answer as tokens,
/// records the turns before it as attempts, and reports the usage of the turns it asked together.
///
/// `@unchecked Sendable`: the run state it holds is a copy, read and changed only by the one task that runs the loop.
struct ToolLoopRuntime: LLMRuntime, @unchecked Sendable {
    let base: any LLMRuntime
    let executor: Executor
    let stage: PlannedStage
    let use: ToolUse
    let round: Int
    let state: RunState

    var enforcesTimeout: Bool { base.enforcesTimeout }

    func generate(_ request: GenerationRequest) -> AsyncThrowingStream<GenerationEvent, any Error> {
        AsyncThrowingStream.producing { continuation in
            try await run(request, into: continuation)
        }
    }

    /// One turn's answer: its text, the calls it asked for natively, and what it used.
    struct Turn {
        var text = ""
        var calls: [ToolCall] = []
        var thinking = ""
        var usage = GenerationUsage()
    }

    private func run(_ request: GenerationRequest, into continuation: AsyncThrowingStream<GenerationEvent, any Error>.Continuation)
        async throws
    {
        var local = state
        let offered = await executor.offeredTools(use, state: local)
        let tools = offered.map(\.definition)
        let finalSchema = request.responseSchema
        let turns = TurnStore(store: executor.store, runID: state.runID, stage: stage.name, item: request.item, round: round)
        let attempt = try turns.runningAttempt()
        // Turns answered before (by an earlier try, or before the process died) are not asked again: their calls are
        // taken as recorded, and a call whose result is committed is replayed by performToolCall, never run twice.
        let recorded = try turns.recordedTurns()
        var history: [ChatTurn] = []
        var total = GenerationUsage()
        var callsMade = 0
        var previous: (name: String, arguments: JSONValue?)?
        var stop: String?
        var turn = 0
        while true {
            turn += 1
            var calls: [ToolCall]
            var text: String
            var turnAttempt: AttemptRecord
            if turn <= recorded.count {
                turnAttempt = recorded[turn - 1]
                text = turnAttempt.output
                calls = TurnStore.decode(turnAttempt.calls).map(\.call)
            } else {
                let offering = stop == nil && callsMade < use.maxToolCalls && !tools.isEmpty
                var asked = request
                asked.history = history
                switch use.mode {
                case .native:
                    asked.tools = offering ? tools : nil
                    asked.responseSchema = offering ? nil : finalSchema
                case .json:
                    asked.tools = nil
                    asked.responseSchema = ToolChoice.schema(tools: offering ? tools : [], final: finalSchema)
                    asked.prompt =
                        request.prompt + "\n\n"
                        + (offering ? ToolChoice.instructions(tools: tools) : "Give your final answer now, as {\"final\": ANSWER}.")
                }
                let started = RunStore.now()
                let answer = try await generate(asked, into: continuation)
                total.promptTokens = sum(total.promptTokens, answer.usage.promptTokens)
                total.outputTokens = sum(total.outputTokens, answer.usage.outputTokens)
                total.thinkingTokens = sum(total.thinkingTokens, answer.usage.thinkingTokens)
                for (name, value) in answer.usage.runtimeTimings { total.runtimeTimings[name, default: 0] += value }
                total.finish = answer.usage.finish

                // What the model asked for.
                calls = answer.calls
                text = answer.text
                var final: String?
                switch use.mode {
                case .native:
                    if calls.isEmpty || !offering { final = answer.text }
                case .json:
                    // A cut answer is not JSON: the attempt's checks report the truncation, as for any JSON stage.
                    if answer.usage.finish?.kind == .truncated {
                        final = answer.text
                    } else {
                        switch try ToolChoice.parse(answer.text) {
                        case .final(let text): final = text
                        case .call(let call): if offering { calls = [call] } else { final = answer.text }
                        }
                    }
                }
                if let final {
                    if stop == nil, !offering, callsMade >= use.maxToolCalls {
                        stop =
                            "stage '\(stage.name)': max_tool_calls (\(use.maxToolCalls)) reached; the model was asked for its final answer"
                    }
                    if let stop { continuation.yield(.notice(RuntimeNotice(code: "tool-loop-stopped", message: stop))) }
                    // The attempt that gives the final answer is the loop's last turn.
                    if let id = attempt?.id { try turns.markFinal(id, turn: turn) }
                    continuation.yield(.token(final))
                    continuation.yield(.finished(total))
                    return
                }
                // The turn is committed before any of its calls runs: from here on a resume goes on from its calls,
                // whatever the model would answer now.
                turnAttempt = try turns.recordTurn(
                    like: attempt, request: asked, turn: turn, text: answer.text, thinking: answer.thinking, calls: calls,
                    usage: answer.usage, startedAt: started)
            }

            // Each call runs (or is answered with an error) in order, up to the bound.
            var results: [(call: ToolCall, output: String, isError: Bool)] = []
            var shown: [ToolTurnCall] = calls.map { ToolTurnCall(call: $0) }
            for (index, call) in calls.enumerated() {
                guard callsMade < use.maxToolCalls else { break }
                let arguments = Self.arguments(call.argumentsJSON)
                if let previous, previous.name == call.name, previous.arguments == arguments {
                    stop =
                        "stage '\(stage.name)': the model asked for the same call twice in a row (\(call.name) \(call.argumentsJSON)); "
                        + "the loop stopped and asked for its final answer"
                    break
                }
                previous = (call.name, arguments)
                callsMade += 1
                let outcome = try await perform(
                    call, arguments: arguments, offered: offered, turn: turn, index: index, state: &local)
                results.append((call, outcome.output, outcome.isError))
                shown[index].result = outcome.output
                shown[index].isError = outcome.isError
                shown[index].replayed = outcome.replayed
            }
            // The turn's record gains what each call returned, for `show` and the transcript.
            if let id = turnAttempt.id { try turns.saveCalls(id, shown) }
            switch use.mode {
            case .native:
                // Only the calls that ran are in the history, each with its result: the APIs refuse a call left unanswered.
                if !results.isEmpty { history.append(.assistant(text: text, calls: Array(calls.prefix(results.count)))) }
                for result in results {
                    history.append(
                        .toolResult(callID: result.call.id, name: result.call.name, content: result.output, isError: result.isError))
                }
            case .json:
                if let result = results.first {
                    history += ToolChoice.turns(answer: text, call: result.call, output: result.output, isError: result.isError)
                }
            }
        }
    }

    /// Streams one turn from the model: thinking and notices pass through, the text and calls are kept.
    private func generate(
        _ request: GenerationRequest, into continuation: AsyncThrowingStream<GenerationEvent, any Error>.Continuation
    ) async throws -> Turn {
        var turn = Turn()
        var finished = false
        for try await event in base.generate(request) {
            switch event {
            case .token(let text): turn.text += text
            case .thinking(let text):
                turn.thinking += text
                continuation.yield(.thinking(text))
            case .notice(let notice): continuation.yield(.notice(notice))
            case .toolCall(let call): turn.calls.append(call)
            case .finished(let usage):
                turn.usage = usage
                finished = true
            }
        }
        guard finished else {
            throw RuntimeError(
                .badResponse, "the runtime's answer for stage '\(stage.name)' ended before it was complete", isTransient: true)
        }
        return turn
    }

    /// Runs one call the model asked for, or answers it with the error the model reads: an unknown tool, arguments
    /// that are not a JSON object, or arguments that break the tool's schema.
    private func perform(
        _ call: ToolCall, arguments: JSONValue?, offered: [(definition: ToolDefinition, target: ToolCallPlan.Target)], turn: Int,
        index: Int, state: inout RunState
    ) async throws -> (output: String, isError: Bool, replayed: Bool) {
        guard let tool = offered.first(where: { $0.definition.name == call.name }) else {
            let names = offered.map(\.definition.name).joined(separator: ", ")
            return ("unknown tool '\(call.name)'; the tools are: \(names)", true, false)
        }
        guard let arguments, case .object = arguments else {
            return ("the arguments of \(call.name) must be a JSON object; they were: \(call.argumentsJSON)", true, false)
        }
        if let problem = Self.problem(arguments, schema: tool.definition.parameters) {
            return ("invalid arguments for \(call.name): \(problem)", true, false)
        }
        let plan = ToolCallPlan(owner: stage, target: tool.target, arguments: arguments, round: round, turn: turn, callIndex: index)
        let outcome = try await executor.performToolCall(plan, state: &state)
        return (outcome.output, outcome.isError, outcome.replayed)
    }

    /// The arguments' JSON text decoded, nil when it is not JSON.
    static func arguments(_ text: String) -> JSONValue? {
        OrderedJSON.parse(text)
    }

    /// What is wrong with `value` against the parts of `schema` a model gets wrong: a required property missing, a
    /// property of the wrong JSON type, a property the schema closes out. Nil when none is.
    static func problem(_ value: JSONValue, schema: JSONValue) -> String? {
        guard case .object(let pairs) = value else { return "expected an object" }
        if case .array(let required)? = schema["required"] {
            for name in required.compactMap(\.stringValue) where !pairs.contains(where: { $0.key == name }) {
                return "'\(name)' is required"
            }
        }
        let properties: [(key: String, value: JSONValue)]
        if case .object(let declared)? = schema["properties"] { properties = declared } else { properties = [] }
        for (key, given) in pairs {
            guard let declared = properties.first(where: { $0.key == key })?.value else {
                if schema["additionalProperties"] == .bool(false) { return "'\(key)' is not one of its arguments" }
                continue
            }
            if let type = declared["type"]?.stringValue, !matches(given, type: type) {
                return "'\(key)' should be of type \(type)"
            }
        }
        return nil
    }

    private static func matches(_ value: JSONValue, type: String) -> Bool {
        switch (type, value) {
        case ("string", .string), ("boolean", .bool), ("number", .number), ("object", .object), ("array", .array), ("null", .null):
            return true
        case ("integer", .number(let number)): return number == number.rounded()
        default: return false
        }
    }

    private func sum(_ a: Int?, _ b: Int?) -> Int? {
        guard a != nil || b != nil else { return nil }
        return (a ?? 0) + (b ?? 0)
    }
}

/// One call of a tool loop's turn as its attempt records it (`attempts.calls`, migration v7): what the model asked for
/// and, once the call was answered, what it returned.
public struct ToolTurnCall: Sendable, Hashable, Codable {
    /// The runtime's id for the call; nil in json mode and on Ollama.
    public var id: String?
    /// The tool's name as the model wrote it.
    public var name: String
    /// The arguments' JSON text as the model wrote it.
    public var arguments: String
    /// The tool's output or the error the model read; nil while the call has not been answered (or never ran: the
    /// loop stopped before it).
    public var result: String?
    /// Whether `result` is an error.
    public var isError: Bool?
    /// Whether the result was read from the store (a resumed or retried loop) rather than run again.
    public var replayed: Bool?

    enum CodingKeys: String, CodingKey {
        case id, name, arguments, result
        case isError = "is_error"
        case replayed
    }

    init(call: ToolCall) {
        id = call.id
        name = call.name
        arguments = call.argumentsJSON
    }

    var call: ToolCall { ToolCall(id: id, name: name, argumentsJSON: arguments) }
}

extension AttemptRecord {
    /// The calls a tool loop's turn asked for, with their results; empty for any other attempt.
    public var turnCalls: [ToolTurnCall] { TurnStore.decode(calls) }
}

/// The turns of one tool loop (a stage, its item and round) in the run store: each model turn that asked for calls is
/// a completed attempt with its `turn` and `calls`, committed before its calls run; the turn that gives the final
/// answer is the try's own attempt, marked with its turn. ``RunState`` never takes a turn with calls as the stage's output.
struct TurnStore {
    let store: RunStore
    let runID: String
    let stage: String
    let item: Int?
    let round: Int

    /// The attempt this try runs in (the executor started it before the loop).
    func runningAttempt() throws -> AttemptRecord? {
        try store.runningToolAttempt(runID: runID, stage: stage, round: round, item: item)
    }

    /// The turns answered so far, from turn 1 on with no gap, the latest record of each.
    func recordedTurns() throws -> [AttemptRecord] {
        let rows = try store.completedToolTurns(runID: runID, stage: stage, round: round, item: item)
        var byTurn: [Int: AttemptRecord] = [:]
        for row in rows { if let turn = row.turn { byTurn[turn] = row } }
        var turns: [AttemptRecord] = []
        while let next = byTurn[turns.count + 1] { turns.append(next) }
        return turns
    }

    /// Commits a turn that asked for `calls` as a completed attempt of the same try as `attempt`.
    func recordTurn(
        like attempt: AttemptRecord?, request: GenerationRequest, turn: Int, text: String, thinking: String, calls: [ToolCall],
        usage: GenerationUsage, startedAt: Double
    ) throws -> AttemptRecord {
        guard var record = attempt else {
            // No attempt to copy (a runtime used outside the executor): nothing to record.
            return AttemptRecord(
                id: nil, runID: runID, stage: stage, round: round, tryNumber: 1, status: .completed, model: request.model, runtime: nil,
                system: request.system, prompt: request.prompt, output: text, verdict: nil, feedback: nil, promptTokens: nil,
                outputTokens: nil, startedAt: startedAt, firstTokenAt: nil, finishedAt: nil, timings: nil, error: nil, fingerprint: "",
                item: item, turn: turn, calls: Self.encode(calls.map(ToolTurnCall.init(call:))))
        }
        record.id = nil
        record.status = .completed
        record.system = request.system
        record.prompt = request.prompt
        record.output = text
        record.thinking = thinking.isEmpty ? nil : thinking
        record.promptTokens = usage.promptTokens
        record.outputTokens = usage.outputTokens
        record.startedAt = startedAt
        record.firstTokenAt = nil
        record.finishedAt = RunStore.now()
        record.timings = nil
        record.error = nil
        record.verdict = nil
        record.feedback = nil
        record.finishReason = usage.finish?.kind.rawValue
        record.turn = turn
        record.calls = Self.encode(calls.map(ToolTurnCall.init(call:)))
        return try store.insertAttempt(record)
    }

    /// Records what each call of a turn returned.
    func saveCalls(_ attemptID: Int64, _ calls: [ToolTurnCall]) throws {
        let text = Self.encode(calls)
        try store.setAttemptCalls(attemptID, calls: text)
    }

    /// Marks the try's attempt as the loop's final turn.
    func markFinal(_ attemptID: Int64, turn: Int) throws {
        try store.setAttemptTurn(attemptID, turn: turn)
    }

    static func encode(_ calls: [ToolTurnCall]) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return (try? encoder.encode(calls)).map { String(decoding: $0, as: UTF8.self) } ?? "[]"
    }

    static func decode(_ text: String?) -> [ToolTurnCall] {
        guard let text else { return [] }
        return (try? JSONDecoder().decode([ToolTurnCall].self, from: Data(text.utf8))) ?? []
    }
}

extension ToolTurnCall {
    /// A tool loop turn's calls as `show` and the transcript print them: each call with its arguments, then its result
    /// or error (marked when it was replayed from the store), or that it never ran.
    public static func transcript(of attempt: AttemptRecord) -> [String] {
        attempt.turnCalls.flatMap { call -> [String] in
            let head = "call \(call.name) \(call.arguments)" + (call.id.map { " (id \($0))" } ?? "")
            guard let result = call.result else { return [head, "  not run: the loop stopped before it"] }
            let label = (call.isError == true ? "error" : "result") + (call.replayed == true ? " (replayed)" : "")
            // A command's output ends with a newline: the line break is the transcript's own.
            let text = result.hasSuffix("\n") ? String(result.dropLast()) : result
            return [head, "  \(label): " + text.split(separator: "\n", omittingEmptySubsequences: false).joined(separator: "\n  ")]
        }
    }

    /// `attempts` in the order of the conversation: a tool loop's turns with calls (recorded while the try that gives
    /// the final answer was running, so after it by id) come just before that try's attempt, by turn.
    public static func conversationOrder(_ attempts: [AttemptRecord]) -> [AttemptRecord] {
        guard attempts.contains(where: { $0.calls != nil }) else { return attempts }
        struct Place: Hashable {
            var stage: String, item: Int?, round: Int, tryNumber: Int
        }
        func place(_ attempt: AttemptRecord) -> Place {
            Place(stage: attempt.stage, item: attempt.item, round: attempt.round, tryNumber: attempt.tryNumber)
        }
        var owners: [Place: Int] = [:]
        for (index, attempt) in attempts.enumerated() where attempt.calls == nil {
            owners[place(attempt)] = owners[place(attempt)] ?? index
        }
        return attempts.enumerated().sorted { a, b in
            let left = a.element.calls == nil ? (a.offset, 1, 0) : (owners[place(a.element)] ?? a.offset, 0, a.element.turn ?? 0)
            let right = b.element.calls == nil ? (b.offset, 1, 0) : (owners[place(b.element)] ?? b.offset, 0, b.element.turn ?? 0)
            return left != right ? left < right : a.offset < b.offset
        }.map(\.element)
    }
}
