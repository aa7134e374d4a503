import BatonSpec
import Foundation

/// What the runtime clients share about native tool calls: the OpenAI-shaped `tools` array (Ollama takes
/// the same shape), arguments as JSON text or as an object, and the error for a model that takes no tools.
enum ToolWire {
    /// `tools` as OpenAI (`oai-sdk:src/openai/types/chat/chat_completion_function_tool_param.py`, 3.3.1) and
    /// Ollama (`api/types.go` `Tool`/`ToolFunction`, v0.33.0-rc2) read it: `{"type": "function", "function":
    /// {name, description, parameters}}`.
    static func functionTools(_ tools: [ToolDefinition]) -> [[String: Any]] {
        tools.map { tool in
            [
                "type": "function",
                "function": [
                    "name": tool.name, "description": tool.description,
                    "parameters": OpenAICompatibleClient.foundation(tool.parameters),
                ] as [String: Any],
            ]
        }
    }

    /// The arguments of a call as a JSON object for APIs that take an object (Ollama `arguments`, Anthropic
    /// `input`); text that is not a JSON object becomes `{}`, since such a call never reached a tool anyway.
    static func object(_ argumentsJSON: String) -> [String: Any] {
        (try? JSONSerialization.jsonObject(with: Data(argumentsJSON.utf8))) as? [String: Any] ?? [:]
    }

    /// A decoded JSON value as compact JSON text with sorted keys (Ollama sends `arguments` as an object).
    static func text(_ value: JSONValue) -> String {
        let object = OpenAICompatibleClient.foundation(value)
        guard
            let data = try? JSONSerialization.data(
                withJSONObject: object, options: [.fragmentsAllowed, .sortedKeys, .withoutEscapingSlashes])
        else { return "{}" }
        return String(decoding: data, as: UTF8.self)
    }

    /// An id for a call that came without one (Ollama before v0.12, `tool_mode: json`), stable per position,
    /// for the APIs that require one on the assistant turn and its result (OpenAI `tool_call_id`, Anthropic
    /// `tool_use_id`).
    static func id(_ call: ToolCall, turn: Int, index: Int) -> String {
        call.id ?? "call_baton_\(turn)_\(index)"
    }

    /// Whether an error text says the model (or its chat template) takes no tools: Ollama's
    /// `"<model> does not support tools"` (`server/images.go:44-46`, `server/routes.go:211-213`, v0.33.0-rc2),
    /// OpenAI's `Unsupported parameter: 'tools' is not supported with this model.`, and llama-server's
    /// `tools param requires --jinja flag` (`tools/server/server-common.cpp:1277-1280`, b11434).
    static func refusesTools(_ text: String) -> Bool {
        let lowered = text.lowercased()
        return lowered.contains("does not support tools") || lowered.contains("'tools' is not supported")
            || lowered.contains("tools param requires --jinja") || lowered.contains("tools is not supported")
    }

    /// The permanent error for a model that takes no native tools: it names the model and the fix.
    static func unsupported(model: String, server: String, said: String) -> RuntimeError {
        RuntimeError(
            .httpStatus,
            "model '\(model)' at \(server) does not take native tool calls (\(said)); set `tool_mode: json` on the stage, which works with any model, or choose a model whose template supports tools",
            isTransient: false)
    }
}
