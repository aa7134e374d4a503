import BatonSpec
import Foundation

/// Streams generations from the Anthropic Messages API (`POST {url}/v1/messages` with server-sent events).
///
/// The system prompt goes in the top-level `system` field, `max_tokens` is always sent (the API requires
/// it), and structured output is a forced tool whose `input_schema` is the stage's schema: its
/// `input_json_delta` fragments stream as tokens; a compatible server that ignores the forced tool and
/// answers in text has that text passed on instead. Settings the model refuses (``ModelRules``) are left
/// out with a notice; the `stop_reason` is reported as the finish reason, thinking blocks as thinking. The
/// key goes in `x-api-key` and is scrubbed from every error this client throws.
public struct AnthropicClient: LLMRuntime, CustomStringConvertible {
    /// The `anthropic-version` header sent (the one the official SDKs send).
    public static let apiVersion = "2023-06-01"
    /// `max_tokens` when the stage sets none.
    public static let defaultMaxTokens = 1024
    /// The name of the tool that carries structured output.
    public static let outputTool = "respond"

    /// The API's base URL (`https://api.anthropic.com`), without a trailing slash or `/v1`.
    public let baseURL: String
    /// Seconds allowed to connect and get the response head.
    public let connectTimeout: Double
    private let apiKey: String
    private let keyHint: String?
    private let transport: any HTTPTransport

    /// Creates a client.
    ///
    /// - Parameters:
    ///   - baseURL: `https://api.anthropic.com`; a trailing `/v1` is dropped.
    ///   - apiKey: sent as `x-api-key`.
    ///   - keyHint: where the key comes from and how to change it, for the message of a rejected key.
    public init(
        baseURL: String = "https://api.anthropic.com", apiKey: String, keyHint: String? = nil, connectTimeout: Double = 120,
        transport: any HTTPTransport = AsyncHTTPTransport()
    ) {
        var base = baseURL
        while base.hasSuffix("/") { base.removeLast() }
        if base.hasSuffix("/v1") { base.removeLast(3) }
        self.baseURL = base
        self.apiKey = apiKey
        self.keyHint = keyHint
        self.connectTimeout = connectTimeout
        self.transport = transport
    }

    /// Names the endpoint only: the key is never part of a printed client.
    public var description: String { "AnthropicClient(\(baseURL))" }

    /// `POST` here to generate.
    public var messagesURL: String { baseURL + "/v1/messages" }

    private var headers: [(String, String)] {
        [("x-api-key", apiKey), ("anthropic-version", Self.apiVersion)]
    }

    // MARK: - Request

    /// Whether a schema must be wrapped in an object: a tool's `input_schema` is always an object.
    static func needsWrapping(_ schema: JSONValue) -> Bool {
        schema["type"] != .string("object")
    }

    /// The `POST /v1/messages` body of a generation.
    func body(_ request: GenerationRequest) -> [String: Any] { prepare(request).body }

    /// The body, with the model rules applied (``ModelRules``), and a notice for each setting left out.
    func prepare(_ request: GenerationRequest) -> (body: [String: Any], notices: [RuntimeNotice]) {
        let ruled = ModelRules.apply(model: request.model, kind: .anthropic, settings: request.settings)
        let settings = ruled.settings
        let notices = ruled.refusals.map {
            RuntimeNotice(code: "setting-dropped", message: $0.message(stage: request.stage, model: request.model))
        }
        var body: [String: Any] = [
            "model": request.model, "max_tokens": settings.maxTokens ?? Self.defaultMaxTokens,
            "messages": Self.messages(prompt: request.prompt, history: request.history), "stream": true,
        ]
        if let system = request.system, !system.isEmpty { body["system"] = system }
        if let value = settings.temperature { body["temperature"] = value }
        if let value = settings.topP { body["top_p"] = value }
        if let value = settings.topK { body["top_k"] = value }
        if let value = settings.stop, !value.isEmpty { body["stop_sequences"] = value }
        // The API has no seed; a stage's seed is not sent.
        let tools = request.tools ?? []
        if !tools.isEmpty {
            // `ToolParam` (`ant-sdk:src/anthropic/types/tool_param.py`, 0.121.0): `input_schema` is an object schema.
            // No `tool_choice`: the API's default, `auto`, lets the model answer or call.
            body["tools"] = tools.map { tool in
                [
                    "name": tool.name, "description": tool.description, "input_schema": OpenAICompatibleClient.foundation(tool.parameters),
                ] as [String: Any]
            }
        } else if let schema = request.responseSchema {
            let input: JSONValue =
                Self.needsWrapping(schema)
                ? .object([
                    ("type", .string("object")), ("properties", .object([("value", schema)])),
                    ("required", .array([.string("value")])),
                ])
                : schema
            body["tools"] = [
                [
                    "name": Self.outputTool, "description": "Give your answer as this tool's input, which must match its schema.",
                    "input_schema": OpenAICompatibleClient.foundation(input),
                ] as [String: Any]
            ]
            // Exactly one tool use: "If set to true, the model will output exactly one tool use"
            // (`ant-sdk:src/anthropic/types/tool_choice_tool_param.py:18-22`).
            body["tool_choice"] = ["type": "tool", "name": Self.outputTool, "disable_parallel_tool_use": true] as [String: Any]
        }
        return (body, notices)
    }

    /// The prompt and the turns of a tool loop as Messages: the model's text and `tool_use` blocks
    /// (`ant-sdk:src/anthropic/types/tool_use_block_param.py`, 0.121.0, `input` an object), then the results as
    /// `tool_result` blocks (`tool_result_block_param.py:22-32`, with `is_error`) in one user turn, since roles must
    /// alternate: consecutive user content is merged into one message.
    static func messages(prompt: String, history: [ChatTurn]) -> [[String: Any]] {
        var messages: [[String: Any]] = [["role": "user", "content": [["type": "text", "text": prompt]]]]
        func append(_ role: String, _ blocks: [[String: Any]]) {
            if let last = messages.last, last["role"] as? String == role, let earlier = last["content"] as? [[String: Any]] {
                messages[messages.count - 1]["content"] = earlier + blocks
            } else {
                messages.append(["role": role, "content": blocks])
            }
        }
        var turn = 0
        var pending: [String: [String]] = [:]  // a result without an id answers the call of that name in order
        for entry in history {
            switch entry {
            case .assistant(let text, let calls):
                turn += 1
                var blocks: [[String: Any]] = text.isEmpty ? [] : [["type": "text", "text": text]]
                for (index, call) in calls.enumerated() {
                    let id = ToolWire.id(call, turn: turn, index: index)
                    if call.id == nil { pending[call.name, default: []].append(id) }
                    blocks.append(["type": "tool_use", "id": id, "name": call.name, "input": ToolWire.object(call.argumentsJSON)])
                }
                // The API refuses empty text blocks; a turn with neither text nor calls says nothing to send.
                if !blocks.isEmpty { append("assistant", blocks) }
            case .toolResult(let callID, let name, let content, let isError):
                var id = callID
                if id == nil, var ids = pending[name], !ids.isEmpty {
                    id = ids.removeFirst()
                    pending[name] = ids
                }
                var block: [String: Any] = ["type": "tool_result", "tool_use_id": id ?? "call_baton_\(turn)_0", "content": content]
                if isError { block["is_error"] = true }
                append("user", [block])
            case .user(let text):
                append("user", [["type": "text", "text": text]])
            }
        }
        // A prompt alone stays the plain string it always was.
        if messages.count == 1 { return [["role": "user", "content": prompt]] }
        return messages
    }

    // MARK: - Generation

    /// The stream fails by itself past the stage's timeout (``AsyncThrowingStream/generation(_:_:)``).
    public var enforcesTimeout: Bool { true }

    public func generate(_ request: GenerationRequest) -> AsyncThrowingStream<GenerationEvent, any Error> {
        let url = messagesURL
        // With tools offered no output tool is forced (see `prepare`), so text streams as text.
        let offersTools = !(request.tools ?? []).isEmpty
        let structured = request.responseSchema != nil && !offersTools
        let wrapped = structured && (request.responseSchema.map(Self.needsWrapping) ?? false)
        let (body, notices) = prepare(request)
        return ServerSentEventAPI.generate(
            HTTPRequest.json(url, body, headers: headers), for: request, keyHint: keyHint, transport: transport,
            connectTimeout: connectTimeout, scrubber: SecretScrubber(apiKey), httpError: Self.httpError
        ) { response, continuation in
            for notice in notices { continuation.yield(.notice(notice)) }
            var stream = MessageStream(
                url: url, model: request.model, structured: structured, wrapped: wrapped, offersTools: offersTools)
            for try await event in response.events {
                if try stream.take(event, into: continuation) { break }
            }
            return try stream.end(into: continuation)
        }
    }

    /// A `stop_reason` (`ant-sdk:src/anthropic/types/stop_reason.py:8`) as a finish reason; a refusal's detail is
    /// its `stop_details` explanation (`refusal_response.txt`), else whatever text came before it.
    static func finish(_ reason: String?, details: [String: Any]?, text: String) -> FinishReason? {
        guard let reason else { return nil }
        switch reason {
        case "max_tokens": return FinishReason(.truncated, raw: reason)
        case "model_context_window_exceeded": return FinishReason(.contextExceeded, raw: reason)
        case "refusal":
            let explanation = details?["explanation"] as? String
            let category = (details?["category"] as? String).map { " (\($0))" } ?? ""
            let detail = explanation.map { $0 + category } ?? (text.isEmpty ? nil : text)
            return FinishReason(.refused, raw: reason, detail: detail)
        default:
            return FinishReason(.complete, raw: reason)  // end_turn, stop_sequence, tool_use, pause_turn
        }
    }

    /// The ids of the models the key can use (`GET /v1/models`, first page).
    ///
    /// - Throws: ``RuntimeError``, mapped as for a generation; the key never appears in it.
    public func models() async throws -> [String] {
        try await ServerSentEventAPI.modelIDs(
            HTTPRequest(method: "GET", url: baseURL + "/v1/models?limit=1000", headers: headers), keyHint: keyHint, transport: transport,
            scrubber: SecretScrubber(apiKey), httpError: Self.httpError)
    }

    // MARK: - Reading answers

    /// All prompt tokens: `input_tokens` excludes what was read from or written to the prompt cache.
    static func promptTokens(_ usage: [String: Any]) -> Int? {
        guard let input = usage["input_tokens"] as? Int else { return nil }
        return input + ((usage["cache_read_input_tokens"] as? Int) ?? 0) + ((usage["cache_creation_input_tokens"] as? Int) ?? 0)
    }

    /// The `value` of a wrapped structured answer, as JSON text.
    static func unwrap(_ json: String, url: String) throws -> String {
        guard let object = try? JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any], let value = object["value"],
            let data = try? JSONSerialization.data(
                withJSONObject: value, options: [.fragmentsAllowed, .sortedKeys, .withoutEscapingSlashes])
        else {
            throw RuntimeError(.invalidOutput, "the structured answer from \(url) is not an object with a 'value'", isTransient: true)
        }
        return String(decoding: data, as: UTF8.self)
    }

    /// The `error` object of an Anthropic error body or event, when there is one.
    static func errorObject(_ object: [String: Any]?) -> (type: String?, message: String?) {
        let error = object?["error"] as? [String: Any]
        return (error?["type"] as? String, error?["message"] as? String)
    }

    /// Error types a retry may get past.
    static let transientTypes: Set<String> = ["overloaded_error", "api_error", "rate_limit_error", "timeout_error"]

    /// A mid-stream `event: error`; overloaded, rate-limited, timed out and internal errors are transient.
    static func streamError(_ object: [String: Any], url: String, model: String) -> RuntimeError {
        let (type, message) = errorObject(object)
        let detail = [type, message].compactMap { $0 }.joined(separator: ": ")
        return RuntimeError(
            .badResponse, "\(url) failed while generating with '\(model)'\(detail.isEmpty ? "" : ": \(detail)")",
            isTransient: type.map(transientTypes.contains) ?? true)
    }

    /// Maps an HTTP error status and its body (`{"type":"error","error":{"type","message"}}`) to a runtime
    /// error: 401 and 403 are a rejected key, 404 a missing model, 408, 409, 429, 5xx and 529 (overloaded)
    /// transient, the rest (400 with the API's message, 402 billing, 413) permanent.
    ///
    /// The caller scrubs the key from the result.
    static func httpError(_ status: Int, body: Data?, url: String, model: String, keyHint: String? = nil) -> RuntimeError {
        let object = body.flatMap { try? JSONSerialization.jsonObject(with: $0) as? [String: Any] }
        let (type, message) = errorObject(object)
        let detail = message ?? body.map { String(decoding: $0.prefix(300), as: UTF8.self) } ?? ""
        let said = detail.isEmpty ? "" : ": \(detail)"
        let subject = model.isEmpty ? "" : " for '\(model)'"
        switch status {
        case 400 where ToolWire.refusesTools(detail):
            // A server speaking Messages for a model without tools (Ollama's /v1/messages: "... does not support tools").
            return ToolWire.unsupported(model: model, server: url, said: "it answered 400\(said)")
        case 401, 403:
            return ServerSentEventAPI.rejectedKey(status, url: url, said: said, keyHint: keyHint)
        case 404:
            return ServerSentEventAPI.notFound(url: url, model: model, detail: detail, aboutModel: detail.lowercased().contains("model"))
        case 529:
            return RuntimeError(.httpStatus, "\(url) is overloaded (529)\(subject)\(said)", isTransient: true)
        case 408, 409, 429, 500...599:
            // 409 is retried by the SDK (`ant-sdk:_base_client.py:860-863`).
            return RuntimeError(.httpStatus, "\(url) answered \(status)\(subject)\(said)", isTransient: true)
        case 402:
            return RuntimeError(.httpStatus, "\(url) refused the request for billing reasons (402)\(said)", isTransient: false)
        default:
            let kind = type.map { " (\($0))" } ?? ""
            return RuntimeError(.httpStatus, "\(url) rejected the request\(subject) with \(status)\(kind)\(said)", isTransient: false)
        }
    }
}
