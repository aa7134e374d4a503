import BatonSpec
import Foundation

// The request bodies Ollama reads: the `options` object, the `think` field and the chat body.
extension OllamaClient {
    /// The `num_ctx` sent when neither the stage nor the profile sets one. Ollama's own default depends on
    /// the server's total VRAM (4096 below 23 GiB, 32768 from 23 GiB, 262144 from 47 GiB, `routes.go:2048-2058`),
    /// which Baton cannot see; sending 4096 explicitly keeps the memory plan, discovery's estimate and the
    /// loaded context in agreement on every machine. Set `num_ctx` to use a larger context.
    public static let defaultNumCtx = 4096

    /// The `options` object for `settings`: sampling options and the load-time `num_ctx` (always sent,
    /// ``defaultNumCtx`` when unset), identical for the load and every chat of the stage so Ollama never reloads.
    static func options(_ settings: StageSettings) -> [String: Any] {
        var options: [String: Any] = [:]
        if let value = settings.temperature { options["temperature"] = value }
        if let value = settings.topP { options["top_p"] = value }
        if let value = settings.topK { options["top_k"] = value }
        if let value = settings.seed { options["seed"] = value }
        if let value = settings.maxTokens { options["num_predict"] = value }
        if let value = settings.stop, !value.isEmpty { options["stop"] = value }
        options["num_ctx"] = settings.numCtx ?? defaultNumCtx
        return options
    }

    /// The `think` field: always sent, because Ollama treats a request without it as `think: true` for a
    /// model with the `thinking` capability (`routes.go:2615-2620`). `false` is accepted by every model;
    /// only `true` is refused by models that cannot think (`routes.go:2622-2630`). Efforts go as strings.
    static func think(_ setting: ThinkSetting?) -> Any {
        switch setting ?? .off {
        case .off: false
        case .on: true
        case .low: "low"
        case .medium: "medium"
        case .high: "high"
        }
    }

    /// The `POST /api/chat` body of a generation: the prompt, then the turns of a tool loop, and the tools offered.
    func chatBody(_ request: GenerationRequest) -> [String: Any] {
        var messages: [[String: Any]] = []
        if let system = request.system, !system.isEmpty { messages.append(["role": "system", "content": system]) }
        messages.append(["role": "user", "content": request.prompt])
        messages += Self.messages(request.history)
        var body: [String: Any] = [
            "model": request.model, "messages": messages, "stream": true, "keep_alive": -1, "think": Self.think(request.settings.think),
        ]
        let options = Self.options(request.settings)
        if !options.isEmpty { body["options"] = options }
        let tools = request.tools ?? []
        if !tools.isEmpty {
            body["tools"] = ToolWire.functionTools(tools)
        } else if let schema = request.responseSchema {
            // Not beside tools: with `format` set Ollama constrains the answer to it and never calls a tool (ollama/ollama#13750, #8095).
            body["format"] = OpenAICompatibleClient.foundation(schema)
        }
        return body
    }

    /// The turns of a tool loop as Ollama messages (`api.Message`, `api/types.go:198-207`, v0.33.0-rc2): the model's
    /// calls with `arguments` as an object (`ToolCallFunctionArguments`, `:223-228`), and each result as a `tool`
    /// message naming its tool in `tool_name` (and its call in `tool_call_id` when Ollama gave one).
    static func messages(_ history: [ChatTurn]) -> [[String: Any]] {
        history.map { turn in
            switch turn {
            case .assistant(let text, let calls):
                var message: [String: Any] = ["role": "assistant", "content": text]
                if !calls.isEmpty {
                    message["tool_calls"] = calls.enumerated().map { index, call in
                        let function: [String: Any] = ["index": index, "name": call.name, "arguments": ToolWire.object(call.argumentsJSON)]
                        var entry: [String: Any] = ["function": function]
                        if let id = call.id { entry["id"] = id }
                        return entry
                    }
                }
                return message
            case .toolResult(let callID, let name, let content, _):
                var message: [String: Any] = ["role": "tool", "content": content, "tool_name": name]
                if let callID { message["tool_call_id"] = callID }
                return message
            case .user(let text):
                return ["role": "user", "content": text]
            }
        }
    }
}
