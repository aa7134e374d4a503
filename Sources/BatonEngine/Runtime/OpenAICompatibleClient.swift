import BatonSpec
import Foundation

/// Streams chat completions from an OpenAI-compatible endpoint (`POST …/chat/completions` with
/// server-sent events): llama-server's `/v1/chat/completions`, OpenAI, and compatible clouds.
///
/// The API key, when there is one, goes in `Authorization: Bearer`, and it is scrubbed from every error
/// this client throws (OpenAI echoes a wrong key in its 401 message).
public struct OpenAICompatibleClient: LLMRuntime, CustomStringConvertible {
    /// Which request fields the endpoint accepts.
    public enum Dialect: Sendable, Hashable {
        /// OpenAI's own API: `max_completion_tokens`, no `top_k` (OpenAI rejects fields it does not know), and
        /// the model rules of ``ModelRules`` (settings a model refuses are left out).
        case openAI
        /// Any other server that speaks Chat Completions (a compatible cloud, a proxy, vLLM): only what a generic
        /// server accepts, `max_tokens` (deprecated by OpenAI but still in its spec, `spec:33373-33390`, and the one
        /// some servers take), no `top_k`; `max_completion_tokens` only for OpenAI reasoning models, which take
        /// nothing else. The model rules apply too.
        case compatible
        /// llama-server and servers like it: `max_tokens` and llama.cpp's `top_k`.
        case llamaCpp
    }

    /// The full URL of the chat completions endpoint.
    public let chatURL: String
    /// Extra headers (never the key: that one is kept apart so it cannot be printed).
    public let headers: [(String, String)]
    /// Seconds allowed to connect and get the response head (a cold model load happens before the head).
    public let connectTimeout: Double
    /// Which request fields to send.
    public let dialect: Dialect
    private let apiKey: String?
    let keyHint: String?
    let transport: any HTTPTransport

    /// Creates a client for the endpoint at `chatURL`.
    ///
    /// - Parameters:
    ///   - apiKey: sent as `Authorization: Bearer`; nil for servers without keys (llama-server).
    ///   - keyHint: where the key comes from and how to change it, for the message of a rejected key
    ///     (`set OPENAI_API_KEY or run 'baton keys set openai'`).
    public init(
        chatURL: String, apiKey: String? = nil, keyHint: String? = nil, dialect: Dialect = .llamaCpp,
        headers: [(String, String)] = [], connectTimeout: Double = 300, transport: any HTTPTransport = AsyncHTTPTransport()
    ) {
        self.chatURL = chatURL
        self.apiKey = apiKey.flatMap { $0.isEmpty ? nil : $0 }
        self.keyHint = keyHint
        self.dialect = dialect
        self.headers = headers
        self.connectTimeout = connectTimeout
        self.transport = transport
    }

    /// Names the endpoint only: the key is never part of a printed client.
    public var description: String { "OpenAICompatibleClient(\(chatURL))" }

    /// The URL of `GET …/models`, beside the chat endpoint.
    public var modelsURL: String {
        let suffix = "/chat/completions"
        return (chatURL.hasSuffix(suffix) ? String(chatURL.dropLast(suffix.count)) : chatURL) + "/models"
    }

    var allHeaders: [(String, String)] {
        headers + (apiKey.map { [("Authorization", "Bearer \($0)")] } ?? [])
    }

    var scrubber: SecretScrubber { SecretScrubber(apiKey) }

    /// A request ready to send: its body, the notices about settings left out, and whether the schema was
    /// wrapped in an object (so the answer's `value` is the output).
    struct Prepared {
        var body: [String: Any]
        var notices: [RuntimeNotice]
        var wrapped: Bool
    }

    /// The request body: messages, sampling settings, structured output, usage in the stream.
    func body(_ request: GenerationRequest) -> [String: Any] { prepare(request).body }

    /// The request as sent: the model rules applied (OpenAI and compatible dialects), the output limit in the
    /// dialect's field, and a schema OpenAI's structured outputs accept.
    func prepare(_ request: GenerationRequest) -> Prepared {
        var messages: [[String: Any]] = []
        if let system = request.system, !system.isEmpty { messages.append(["role": "system", "content": system]) }
        messages.append(["role": "user", "content": request.prompt])
        messages += Self.messages(request.history)
        var body: [String: Any] = [
            "model": request.model, "messages": messages, "stream": true, "stream_options": ["include_usage": true],
        ]
        if let tools = request.tools, !tools.isEmpty { body["tools"] = ToolWire.functionTools(tools) }
        var settings = request.settings
        var notices: [RuntimeNotice] = []
        if dialect != .llamaCpp {
            let ruled = ModelRules.apply(model: request.model, kind: .openai, settings: settings)
            settings = ruled.settings
            notices = ruled.refusals.map {
                RuntimeNotice(code: "setting-dropped", message: $0.message(stage: request.stage, model: request.model))
            }
        }
        if let value = settings.temperature { body["temperature"] = value }
        if let value = settings.topP { body["top_p"] = value }
        if let value = settings.seed { body["seed"] = value }
        if let value = settings.stop, !value.isEmpty { body["stop"] = value }
        switch dialect {
        case .openAI:
            if let value = settings.maxTokens { body["max_completion_tokens"] = value }
        case .compatible:
            let field = ModelRules.usesMaxCompletionTokens(request.model) ? "max_completion_tokens" : "max_tokens"
            if let value = settings.maxTokens { body[field] = value }
        case .llamaCpp:
            if let value = settings.topK { body["top_k"] = value }
            if let value = settings.maxTokens { body["max_tokens"] = value }
        }
        var wrapped = false
        if var schema = request.responseSchema {
            let strict: Bool
            if dialect == .llamaCpp {
                strict = true  // llama.cpp turns any schema into a grammar
            } else {
                // OpenAI takes only an object root (a 400 "schema must be a JSON Schema of 'type: \"object\"'",
                // quoted in podly-pure-podcasts#89): any other root goes under `value`, as the Anthropic client does.
                if Self.needsWrapping(schema) {
                    schema = Self.wrap(schema)
                    wrapped = true
                }
                // Strict mode refuses schemas outside its subset; without it the schema still guides the model.
                strict = Self.isStrictCompatible(schema)
            }
            body["response_format"] = [
                "type": "json_schema", "json_schema": ["name": "output", "schema": Self.foundation(schema), "strict": strict],
            ]
        }
        return Prepared(body: body, notices: notices, wrapped: wrapped)
    }

    /// The turns of a tool loop as Chat Completions messages: the model's calls with `arguments` as JSON text and an
    /// id (`oai-sdk:src/openai/types/chat/chat_completion_message_function_tool_call_param.py`, 3.3.1), each result a
    /// `tool` message answering its call's id (`tool_call_id` is required,
    /// `oai-sdk:src/openai/types/chat/chat_completion_tool_message_param.py:20`).
    static func messages(_ history: [ChatTurn]) -> [[String: Any]] {
        var turn = 0
        var pending: [String?: [String]] = [:]  // a result without an id answers the call of that name in order
        return history.map { entry in
            switch entry {
            case .assistant(let text, let calls):
                turn += 1
                var message: [String: Any] = ["role": "assistant", "content": text]
                if !calls.isEmpty {
                    message["tool_calls"] = calls.enumerated().map { index, call in
                        let id = ToolWire.id(call, turn: turn, index: index)
                        if call.id == nil { pending[call.name, default: []].append(id) }
                        return [
                            "id": id, "type": "function",
                            "function": ["name": call.name, "arguments": call.argumentsJSON] as [String: Any],
                        ] as [String: Any]
                    }
                }
                return message
            case .toolResult(let callID, let name, let content, _):
                var id = callID
                if id == nil, var ids = pending[name], !ids.isEmpty {
                    id = ids.removeFirst()
                    pending[name] = ids
                }
                return ["role": "tool", "tool_call_id": id ?? "call_baton_\(turn)_0", "content": content]
            case .user(let text):
                return ["role": "user", "content": text]
            }
        }
    }

    /// Whether a schema must be wrapped in an object: OpenAI's structured outputs need an object root.
    static func needsWrapping(_ schema: JSONValue) -> Bool {
        schema["type"] != .string("object")
    }

    /// `schema` as the `value` of an object that strict mode can accept.
    public static func wrap(_ schema: JSONValue) -> JSONValue {
        .object([
            ("type", .string("object")), ("properties", .object([("value", schema)])), ("required", .array([.string("value")])),
            ("additionalProperties", .bool(false)),
        ])
    }

    /// The stream fails by itself past the stage's timeout (``AsyncThrowingStream/generation(_:_:)``).
    public var enforcesTimeout: Bool { true }

    public func generate(_ request: GenerationRequest) -> AsyncThrowingStream<GenerationEvent, any Error> {
        let url = chatURL
        let prepared = prepare(request)
        let wrapped = prepared.wrapped
        let notices = prepared.notices
        return ServerSentEventAPI.generate(
            HTTPRequest.json(url, prepared.body, headers: allHeaders), for: request, keyHint: keyHint, transport: transport,
            connectTimeout: connectTimeout, scrubber: scrubber, httpError: Self.httpError
        ) { response, continuation in
            for notice in notices { continuation.yield(.notice(notice)) }
            var stream = ChunkStream(url: url, model: request.model, wrapped: wrapped)
            for try await event in response.events {
                if try stream.take(event, into: continuation) { break }
            }
            return try stream.end(into: continuation)
        }
    }

    /// A `finish_reason` (`spec:33712-33730`: stop, length, tool_calls, content_filter, function_call) and the
    /// refusal text, as a finish reason; nil when the server gave neither.
    static func finish(_ reason: String?, refusal: String) -> FinishReason? {
        if !refusal.isEmpty { return FinishReason(.refused, raw: "refusal", detail: refusal) }
        guard let reason else { return nil }
        switch reason {
        case "length": return FinishReason(.truncated, raw: reason)
        case "content_filter": return FinishReason(.filtered, raw: reason)
        default: return FinishReason(.complete, raw: reason)
        }
    }

    /// Error types of a mid-stream error chunk that a new request may get past; any other type (an
    /// `invalid_request_error`) is permanent. The SDK never retries a mid-stream error (`oai-sdk:_streaming.py:87-100`);
    /// Baton retries the transient ones as a batch runner.
    static let transientStreamErrorTypes: Set<String> = [
        "server_error", "api_error", "rate_limit_error", "rate_limit_exceeded", "requests", "tokens", "overloaded_error",
        "timeout_error", "unavailable_error", "service_unavailable",
    ]

    /// A mid-stream `{"error": …}` chunk as a runtime error: transient when its type (or code) says the server
    /// or a rate limit failed, or when it names no type at all.
    static func streamError(_ error: Any, url: String, model: String) -> RuntimeError {
        let object = error as? [String: Any]
        let kinds = [object?["type"] as? String, object?["code"] as? String].compactMap { $0 }
        let transient = kinds.isEmpty || kinds.contains(where: transientStreamErrorTypes.contains)
        let type = kinds.first.map { " (\($0))" } ?? ""
        return RuntimeError(
            .badResponse, "\(url) failed while generating with '\(model)'\(type): \(message(error))", isTransient: transient)
    }

    /// The ids of the models the endpoint serves (`GET …/models`).
    ///
    /// - Throws: ``RuntimeError``, mapped as for a generation; the key never appears in it.
    public func models() async throws -> [String] {
        try await ServerSentEventAPI.modelIDs(
            HTTPRequest(method: "GET", url: modelsURL, headers: allHeaders), keyHint: keyHint, transport: transport, scrubber: scrubber,
            httpError: Self.httpError)
    }

    /// Maps an HTTP error status and its OpenAI-style body (`{"error":{"message","type","code"}}`) to a
    /// runtime error: 401 and 403 are a rejected key, 404 a missing model, 408, 409, 429 and 5xx transient
    /// (except a 429 for an exhausted quota), the rest permanent with the API's message.
    ///
    /// The caller scrubs the key from the result.
    static func httpError(_ status: Int, body: Data?, url: String, model: String, keyHint: String? = nil) -> RuntimeError {
        let object = body.flatMap { try? JSONSerialization.jsonObject(with: $0) as? [String: Any] }
        let error = (object?["error"] as? [String: Any]) ?? object
        let code = error?["code"] as? String
        let detail = object.map { message($0["error"] ?? $0) } ?? body.map { String(decoding: $0.prefix(300), as: UTF8.self) } ?? ""
        let said = detail.isEmpty ? "" : ": \(detail)"
        let subject = model.isEmpty ? "" : " for '\(model)'"
        switch status {
        case 400 where ToolWire.refusesTools(detail), 500 where ToolWire.refusesTools(detail):
            // OpenAI: "Unsupported parameter: 'tools' is not supported with this model."; llama-server without Jinja:
            // "tools param requires --jinja flag" (`tools/server/server-common.cpp:1277-1280`, b11434).
            return ToolWire.unsupported(model: model, server: url, said: "it answered \(status)\(said)")
        case 401, 403:
            return ServerSentEventAPI.rejectedKey(status, url: url, said: said, keyHint: keyHint)
        case 404:
            // A wrong path is a 404 too ("Invalid URL (POST /v1/chat/completionz)"): that is the profile's url.
            let aboutModel = code == "model_not_found" || detail.lowercased().contains("model")
            return ServerSentEventAPI.notFound(url: url, model: model, detail: detail, aboutModel: aboutModel)
        case 429 where code == "insufficient_quota":
            return RuntimeError(.httpStatus, "\(url) answered 429\(subject): the account's quota is used up\(said)", isTransient: false)
        case 408, 409, 429, 500...599:
            // 409 is a lock timeout the SDKs retry (`oai-sdk:_base_client.py:842-845`).
            if detail.contains("failed to load") {
                return RuntimeError(.outOfMemory, "\(url) could not load '\(model)': \(detail)", isTransient: false)
            }
            return RuntimeError(.httpStatus, "\(url) answered \(status)\(subject)\(said)", isTransient: true)
        default:
            return RuntimeError(.httpStatus, "\(url) answered \(status)\(subject)\(said)", isTransient: false)
        }
    }

    /// The `message` of an OpenAI-style error object, or the value itself as text.
    static func message(_ error: Any) -> String {
        if let object = error as? [String: Any] {
            if let message = object["message"] as? String { return message }
            if let nested = object["error"] { return message(nested) }
        }
        if let text = error as? String { return text }
        return "\(error)"
    }

    /// Keywords OpenAI's strict mode refuses: string and object size bounds, and composition it does not
    /// support (`default`: "'default' is not permitted", quoted at zenn.dev/nicopin/scraps/a8d8f53f5faebb;
    /// `allOf`, `not`, `if`/`then`/`else`, `dependent*`: the Structured Outputs guide, "Supported schemas").
    static let strictUnsupported: Set<String> = [
        "minLength", "maxLength", "minProperties", "maxProperties", "patternProperties", "unevaluatedProperties", "default",
        "allOf", "not", "if", "then", "else", "dependentRequired", "dependentSchemas", "dependencies",
    ]

    /// Whether OpenAI's strict structured outputs accept `schema`: an object root, every object closing its
    /// properties (`additionalProperties: false`) and requiring all of them, and no keyword of
    /// ``strictUnsupported``.
    public static func isStrictCompatible(_ schema: JSONValue) -> Bool {
        schema["type"] == .string("object") && isStrictCompatibleNode(schema)
    }

    private static func isStrictCompatibleNode(_ schema: JSONValue) -> Bool {
        switch schema {
        case .object(let pairs):
            if pairs.contains(where: { strictUnsupported.contains($0.key) }) { return false }
            if schema["type"] == .string("object") || schema["properties"] != nil {
                guard schema["additionalProperties"] == .bool(false) else { return false }
                let properties: [String]
                if case .object(let entries)? = schema["properties"] { properties = entries.map(\.key) } else { properties = [] }
                let required: [String]
                if case .array(let values)? = schema["required"] { required = values.compactMap(\.stringValue) } else { required = [] }
                guard Set(properties) == Set(required) else { return false }
            }
            return pairs.allSatisfy { pair in
                switch pair.key {
                case "properties", "$defs", "definitions":
                    if case .object(let children) = pair.value { return children.allSatisfy { isStrictCompatibleNode($0.value) } }
                    return false
                case "items", "anyOf", "oneOf":
                    if case .array(let children) = pair.value { return children.allSatisfy(isStrictCompatibleNode) }
                    return isStrictCompatibleNode(pair.value)
                default:
                    return true
                }
            }
        default:
            return true
        }
    }

    /// A ``JSONValue`` as Foundation objects for `JSONSerialization`.
    public static func foundation(_ value: JSONValue) -> Any {
        switch value {
        case .null: return NSNull()
        case .bool(let flag): return flag
        case .number(let number): return number == number.rounded() && abs(number) < 1e15 ? Int(number) : number
        case .string(let text): return text
        case .array(let values): return values.map(foundation)
        case .object(let pairs):
            var object: [String: Any] = [:]
            for (key, value) in pairs { object[key] = foundation(value) }
            return object
        }
    }
}
