import BatonSpec
import Foundation

/// A model stage with `tools:` (issue 12): the model answers in turns; each call it asks for runs through
/// ``Executor/performToolCall(_:state:)`` (allow-list, approval, intent and result rows, replay on resume) and its result
/// goes back for the next turn, until the model gives its final answer, or `max_tool_calls` calls have run (then one
/// final turn without tools), or it asks for the same call twice in a row (then the same final turn).
///
/// The loop runs inside the stage's attempt, as a runtime (``ToolLoopRuntime``) that wraps the model's: the attempt's
/// retries, timeout, output checks and records stay the executor's own. The final answer is the attempt's output; the
/// turns before it (what the model called, what each tool returned) are recorded as the attempt's thinking, so `show`
/// has the conversation. A retried attempt asks the model again, and a call it repeats at the same place (turn and
/// index) with the same arguments is replayed from the store, never run twice.
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
                    let schema = try? JSONDecoder().decode(JSONValue.self, from: data)
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

/// The tool loop of one attempt, as the runtime the attempt generates with: it streams the final answer as tokens and
/// everything before it as thinking, and reports the usage of all its turns together.
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
        var usage = GenerationUsage()
    }

    private func run(_ request: GenerationRequest, into continuation: AsyncThrowingStream<GenerationEvent, any Error>.Continuation)
        async throws
    {
        var local = state
        let offered = await executor.offeredTools(use, state: local)
        let tools = offered.map(\.definition)
        let finalSchema = request.responseSchema
        var history: [ChatTurn] = []
        var total = GenerationUsage()
        var callsMade = 0
        var previous: (name: String, arguments: JSONValue?)?
        var stop: String?
        var turn = 0
        while true {
            turn += 1
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
            let answer = try await generate(asked, into: continuation)
            total.promptTokens = sum(total.promptTokens, answer.usage.promptTokens)
            total.outputTokens = sum(total.outputTokens, answer.usage.outputTokens)
            total.thinkingTokens = sum(total.thinkingTokens, answer.usage.thinkingTokens)
            for (name, value) in answer.usage.runtimeTimings { total.runtimeTimings[name, default: 0] += value }
            total.finish = answer.usage.finish

            // What the model asked for.
            var calls = answer.calls
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
                    stop = "stage '\(stage.name)': max_tool_calls (\(use.maxToolCalls)) reached; the model was asked for its final answer"
                }
                if let stop { continuation.yield(.notice(RuntimeNotice(code: "tool-loop-stopped", message: stop))) }
                continuation.yield(.token(final))
                continuation.yield(.finished(total))
                return
            }

            // Each call runs (or is answered with an error) in order, up to the bound.
            var results: [(call: ToolCall, output: String, isError: Bool)] = []
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
                let (output, isError) = try await perform(
                    call, arguments: arguments, offered: offered, turn: turn, index: index, state: &local)
                results.append((call, output, isError))
                continuation.yield(
                    .thinking(
                        "[turn \(turn)] \(call.name) \(call.argumentsJSON)\n" + (isError ? "error: " : "") + output + "\n"))
            }
            switch use.mode {
            case .native:
                // Only the calls that ran are in the history, each with its result: the APIs refuse a call left unanswered.
                if !results.isEmpty { history.append(.assistant(text: answer.text, calls: Array(calls.prefix(results.count)))) }
                for result in results {
                    history.append(
                        .toolResult(callID: result.call.id, name: result.call.name, content: result.output, isError: result.isError))
                }
            case .json:
                if let result = results.first {
                    history += ToolChoice.turns(answer: answer.text, call: result.call, output: result.output, isError: result.isError)
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
            case .thinking(let text): continuation.yield(.thinking(text))
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
    ) async throws -> (output: String, isError: Bool) {
        guard let tool = offered.first(where: { $0.definition.name == call.name }) else {
            let names = offered.map(\.definition.name).joined(separator: ", ")
            return ("unknown tool '\(call.name)'; the tools are: \(names)", true)
        }
        guard let arguments, case .object = arguments else {
            return ("the arguments of \(call.name) must be a JSON object; they were: \(call.argumentsJSON)", true)
        }
        if let problem = Self.problem(arguments, schema: tool.definition.parameters) {
            return ("invalid arguments for \(call.name): \(problem)", true)
        }
        let plan = ToolCallPlan(owner: stage, target: tool.target, arguments: arguments, round: round, turn: turn, callIndex: index)
        let outcome = try await executor.performToolCall(plan, state: &state)
        return (outcome.output, outcome.isError)
    }

    /// The arguments' JSON text decoded, nil when it is not JSON.
    static func arguments(_ text: String) -> JSONValue? {
        try? JSONDecoder().decode(JSONValue.self, from: Data(text.utf8))
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
