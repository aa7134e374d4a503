import BatonEngine
import BatonSpec
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

/// A local stand-in for OpenAI's Chat Completions API (runtimes.md §3), served by Hummingbird on
/// 127.0.0.1 at an ephemeral port; ``baseURL`` ends in `/v1` like `https://api.openai.com/v1`.
///
/// - Every route checks `Authorization: Bearer <key>` first: none is a 401, a wrong key a 401
///   `invalid_api_key` whose message echoes the key presented (OpenAI echoes a masked key; the whole key
///   here makes a leak easy to catch).
/// - `POST /v1/chat/completions` streams SSE chunks (`data: {…}`, a role chunk, content deltas, a finish
///   chunk, with `stream_options.include_usage` a usage chunk with `"choices": []` and `"usage": null` on
///   the others, then `data: [DONE]`), or one `chat.completion` object without `stream`.
/// - Requests are checked as OpenAI does: unknown fields (`top_k`) are a 400 "Unrecognized request
///   argument", `temperature` outside 0…2, `stream_options` without `stream`, a strict `json_schema` that
///   OpenAI refuses (a non-object root, objects that do not close and require every property, `default`,
///   `allOf`, ...), more than 4 `stop` sequences; reasoning models (o1, o3, o4-mini, GPT-5) refuse a
///   temperature or top_p other than 1, `max_tokens`, and (o3, o4-mini) `stop`, each with the API's
///   error body; an unknown model is a 404 `model_not_found`; another path a 404 "Invalid URL".
/// - A model can refuse (`delta.refusal`, `finish_reason: stop`) or end with another finish reason
///   (`content_filter`); a cut at the token limit ends with `length`.
/// - Tools: a model with ``Model/toolCalls`` answers a request offering `tools` whose last message is not a `tool`
///   result with the recorded stream's shape (`.inline-snapshot/external/c6aa7e397b71….bin` for one call,
///   `f82268f2fefd….bin` for two, openai/openai-python 3.3.1): `delta.tool_calls[{index, id, type, function: {name,
///   arguments: ""}}]` opening each call, then `{index, function: {arguments}}` fragments, `content: null`,
///   `finish_reason: "tool_calls"`. A model with ``Model/refusesTools`` answers `tools` with OpenAI's 400
///   `unsupported_parameter`. Messages are checked as OpenAI checks them: a `tool` message must answer a call of the
///   assistant message before it, and every call must be answered (the API's two 400s, quoted below).
/// - ``Quirks`` make it a compatible server: CR or CRLF line breaks, `"error": null` on every chunk.
/// - `GET /v1/models` lists the models.
/// - `POST /v1/embeddings` (`spec` `CreateEmbeddingRequest` / `CreateEmbeddingResponse`; openai-python 3.3.1
///   `src/openai/types/embedding_create_params.py`, `create_embedding_response.py`, `embedding.py`): `model` and `input`
///   required, `input` a string or an array of 1 to 2048 strings, none of them empty ("cannot be an empty string, and any
///   array must be 2048 dimensions or less"; the 400 text "'$.input' is invalid. ..." is the one reported by users, not
///   checked against the API); `encoding_format` `float` (default) or `base64` (little-endian float32); `dimensions` cuts
///   and renormalizes; other fields a 400 as for chat. The answer is `{"object": "list", "data": [{"object":
///   "embedding", "index", "embedding"}], "model", "usage": {"prompt_tokens", "total_tokens"}}`, vectors
///   ``EchoRuntime/hashedVector(of:dimensions:)`` of ``Model/embeddingDimensions`` floats (unit length, as OpenAI's),
///   tokens counted as words. Faults queued with ``inject(_:)`` apply to it as to a chat;
///   ``Quirks/reversedEmbeddings`` sends `data` last index first (a compatible server may; `index` says the order).
/// - Faults (``CloudFault``) are queued with ``inject(_:)``: a status for the next K requests (with
///   OpenAI's error body, and `retry-after` on 429), a status with exactly the headers given
///   (`x-should-retry`, `retry-after-ms`, none), a stream cut mid-way, a mid-stream error chunk, a
///   stream that ends without `[DONE]`.
///
/// Versions followed: openai/openai-openapi at f85dbe22 (`spec:LINE`), openai/openai-python 3.3.1, and the
/// error bodies quoted in the cloud fidelity study (issue 9).
///
/// Every request is recorded with its headers (``requests``).
public final class OpenAIStandIn: StoppableStandIn, @unchecked Sendable {
    /// A model the account can use.
    public struct Model: Sendable {
        /// The model id, such as `gpt-4o-mini`.
        public var id: String
        /// Scripted answer text (JSON for structured output), instead of one derived from the prompt.
        public var answer: String?
        /// A refusal instead of an answer: streamed in `delta.refusal` (not `content`) and ended with
        /// `finish_reason: "stop"` (`spec:31857-31861`; `oai-sdk:src/openai/types/chat/chat_completion_chunk.py:87-88`).
        public var refusal: String?
        /// Ends the answer with this `finish_reason` instead of `stop` (`content_filter`: the provider's filter
        /// stopped it, `spec:33712-33730`).
        public var finishReason: String?
        /// The calls it makes when tools are offered and the last message is not a tool result.
        public var toolCalls: [ScriptedToolCall]
        /// Refuses `tools` with a 400 "Unsupported parameter: 'tools' is not supported with this model." (`param: tools`,
        /// `code: unsupported_parameter`), the body other projects' fixtures quote for OpenAI (not checked against the API).
        public var refusesTools: Bool
        /// The width of its `/v1/embeddings` vectors (text-embedding-3-small's by default).
        public var embeddingDimensions = 1536

        /// Creates a model.
        public init(
            _ id: String, answer: String? = nil, refusal: String? = nil, finishReason: String? = nil, toolCalls: [ScriptedToolCall] = [],
            refusesTools: Bool = false
        ) {
            self.id = id
            self.answer = answer
            self.refusal = refusal
            self.finishReason = finishReason
            self.toolCalls = toolCalls
            self.refusesTools = refusesTools
        }
    }

    /// How a compatible server (not OpenAI, which sends LF and no `error` key) may differ in its stream.
    public struct Quirks: Sendable {
        /// The line break of the stream: SSE allows CR, LF or CRLF (`oai-sdk:_streaming.py:284-321` splits on all three).
        public var lineBreak: String
        /// Whether every chunk carries `"error": null`, which the SDK does not treat as an error
        /// (`oai-sdk:_streaming.py:88`, `data.get("error")`).
        public var nullErrorOnChunks: Bool
        /// Whether `/v1/embeddings` lists `data` last index first.
        public var reversedEmbeddings = false

        /// Creates quirks; the defaults are OpenAI's own stream.
        public init(lineBreak: String = "\n", nullErrorOnChunks: Bool = false) {
            self.lineBreak = lineBreak
            self.nullErrorOnChunks = nullErrorOnChunks
        }
    }

    /// Fields Chat Completions accepts (`spec:33105-33500`); others are a 400.
    static let knownFields: Set<String> = [
        "model", "messages", "temperature", "top_p", "n", "stream", "stream_options", "stop", "max_tokens",
        "max_completion_tokens", "presence_penalty", "frequency_penalty", "logit_bias", "logprobs", "top_logprobs", "user",
        "seed", "response_format", "tools", "tool_choice", "parallel_tool_calls", "store", "metadata", "reasoning_effort",
        "service_tier", "modalities", "prediction", "audio", "web_search_options", "verbosity", "prompt_cache_key",
        "safety_identifier", "moderation", "prompt_cache_retention", "prompt_cache_options", "functions", "function_call",
    ]

    /// The key the stand-in accepts.
    public let apiKey: String
    private let models: [Model]
    private let quirks: Quirks
    private let core = CloudStandInCore()

    /// `http://127.0.0.1:PORT/v1`.
    public var baseURL: String { "http://127.0.0.1:\(core.port)/v1" }
    /// Every request so far, in order of arrival.
    public var requests: [CloudRequest] { core.requests }
    /// The chat requests so far.
    public var chats: [CloudRequest] { requests.filter { $0.path == "/v1/chat/completions" } }

    private init(apiKey: String, models: [Model], quirks: Quirks) {
        self.apiKey = apiKey
        self.models = models
        self.quirks = quirks
    }

    // MARK: - Starting and stopping

    /// Starts a stand-in that accepts `apiKey` and serves `models`.
    public static func start(apiKey: String, models: [Model], quirks: Quirks = Quirks()) async throws -> OpenAIStandIn {
        let standIn = OpenAIStandIn(apiKey: apiKey, models: models, quirks: quirks)
        try await standIn.core.start(standIn.router(), label: "OpenAI stand-in")
        return standIn
    }

    /// Runs `body` with a started stand-in and stops it afterwards, even when `body` throws.
    public static func with<T>(
        apiKey: String, models: [Model], quirks: Quirks = Quirks(), _ body: (OpenAIStandIn) async throws -> T
    ) async throws -> T {
        try await start(apiKey: apiKey, models: models, quirks: quirks).serving(body)
    }

    /// Stops the server; its port then refuses connections.
    public func stop() async { await core.stop() }

    /// Queues a fault for the next generation requests.
    public func inject(_ fault: CloudFault) { core.inject(fault) }

    // MARK: - Routes

    private func router() -> Router<BasicRequestContext> {
        let router = Router()
        core.route(router, "/v1/models", method: .get) { [self] recorded, _ in
            if let denied = authenticate(recorded) { return denied }
            let data = models.map { ["id": $0.id, "object": "model", "created": 1_686_935_002, "owned_by": "openai"] as [String: Any] }
            return CloudStandInCore.json(["object": "list", "data": data])
        }
        core.route(router, "/v1/chat/completions", method: .post) { [self] recorded, raw in chat(recorded, raw: raw) }
        core.route(router, "/v1/embeddings", method: .post) { [self] recorded, _ in embed(recorded) }
        for method in [HTTPTypes.HTTPRequest.Method.get, .post] {
            core.route(router, "**", method: method) { [self] recorded, _ in
                if let denied = authenticate(recorded) { return denied }
                return Self.error(404, "Invalid URL (\(recorded.method) \(recorded.path))", type: "invalid_request_error")
            }
        }
        return router
    }

    /// OpenAI's error body: `{"error": {"message", "type", "param", "code"}}`.
    static func error(
        _ status: Int, _ message: String, type: String, param: String? = nil, code: String? = nil, headers: HTTPFields = [:]
    ) -> Response {
        let error: [String: Any] = ["message": message, "type": type, "param": param ?? NSNull(), "code": code ?? NSNull()]
        return CloudStandInCore.json(["error": error], status: status, headers: headers)
    }

    /// OpenAI's answer for a scripted status; `headers`, when given, replace the usual ones (`retry-after` on 429).
    static func error(status: Int, message: String?, headers: HTTPFields? = nil) -> Response {
        if let headers {
            let (type, code): (String, String?) =
                switch status {
                case 429: ("requests", "rate_limit_exceeded")
                case 409: ("invalid_request_error", "conflict")
                case 500...: ("server_error", nil)
                default: ("invalid_request_error", nil)
                }
            return error(status, message ?? "Error \(status).", type: type, code: code, headers: headers)
        }
        switch status {
        case 400: return error(400, message ?? "Invalid request.", type: "invalid_request_error")
        case 401: return error(401, message ?? "Incorrect API key provided.", type: "invalid_request_error", code: "invalid_api_key")
        case 403:
            return error(
                403, message ?? "Country, region, or territory not supported", type: "request_forbidden",
                code: "unsupported_country_region_territory")
        case 404:
            return error(
                404, message ?? "The model does not exist or you do not have access to it.", type: "invalid_request_error",
                code: "model_not_found")
        case 429:
            return error(
                429, message ?? "Rate limit reached for requests. Please try again in 1s.", type: "requests", code: "rate_limit_exceeded",
                headers: [.retryAfter: "1"])
        case 503: return error(503, message ?? "The engine is currently overloaded, please try again later", type: "server_error")
        default:
            return error(
                status, message ?? "The server had an error while processing your request. Sorry about that!", type: "server_error")
        }
    }

    /// A 401 unless the request carries `Authorization: Bearer <apiKey>`.
    private func authenticate(_ request: CloudRequest) -> Response? {
        guard let authorization = request.header("authorization"), authorization.hasPrefix("Bearer ") else {
            return Self.error(
                401,
                "You didn't provide an API key. You need to provide your API key in an Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).",
                type: "invalid_request_error")
        }
        let presented = String(authorization.dropFirst("Bearer ".count))
        guard presented == apiKey else {
            return Self.error(
                401, "Incorrect API key provided: \(presented). You can find your API key at https://platform.openai.com/account/api-keys.",
                type: "invalid_request_error", code: "invalid_api_key")
        }
        return nil
    }

    /// What every endpoint checks first, as OpenAI does: the key, a JSON object body, a queued fault, only `known`
    /// fields, a model name.
    private enum Admission {
        case rejected(Response)
        case admitted(body: JSONValue, model: String, fault: CloudFault?)
    }

    private func admit(_ request: CloudRequest, known: Set<String>) -> Admission {
        if let denied = authenticate(request) { return .rejected(denied) }
        guard let body = request.body, case .object(let fields) = body else {
            return .rejected(
                Self.error(
                    400,
                    "We could not parse the JSON body of your request. (HINT: This likely means you aren't using your HTTP library correctly.)",
                    type: "invalid_request_error"))
        }
        let fault = core.nextFault()
        if case .status(let status, _, let message, let code)? = fault {
            if let code {
                return .rejected(
                    Self.error(status, message ?? "Error", type: status >= 500 ? "server_error" : "invalid_request_error", code: code))
            }
            return .rejected(Self.error(status: status, message: message))
        }
        if case .response(let status, let headers, _)? = fault {
            return .rejected(Self.error(status: status, message: nil, headers: CloudStandInCore.fields(headers)))
        }
        if let unknown = fields.map(\.key).first(where: { !known.contains($0) }) {
            return .rejected(Self.error(400, "Unrecognized request argument supplied: \(unknown)", type: "invalid_request_error"))
        }
        guard let name = body["model"]?.stringValue else {
            return .rejected(Self.error(400, "you must provide a model parameter", type: "invalid_request_error"))
        }
        return .admitted(body: body, model: name, fault: fault)
    }

    private func chat(_ request: CloudRequest, raw: Data) -> Response {
        let body: JSONValue
        let name: String
        let fault: CloudFault?
        switch admit(request, known: Self.knownFields) {
        case .rejected(let response): return response
        case .admitted(let admittedBody, let model, let queued): (body, name, fault) = (admittedBody, model, queued)
        }
        guard case .array(let messages)? = body["messages"], !messages.isEmpty else {
            return Self.error(400, "[] is too short - 'messages'", type: "invalid_request_error", param: "messages", code: "empty_array")
        }
        if case .number(let temperature)? = body["temperature"], temperature < 0 || temperature > 2 {
            let side = temperature < 0 ? "below minimum value. Expected a value >= 0" : "above maximum value. Expected a value <= 2"
            return Self.error(
                400, "Invalid 'temperature': decimal \(side), but got \(temperature) instead.", type: "invalid_request_error",
                param: "temperature", code: temperature < 0 ? "decimal_below_min_value" : "decimal_above_max_value")
        }
        let stream = body["stream"] == .bool(true)
        if body["stream_options"] != nil, !stream {
            return Self.error(
                400, "The 'stream_options' parameter is only allowed when 'stream' is enabled.", type: "invalid_request_error",
                param: "stream_options")
        }
        var schema: JSONValue?
        if let format = body["response_format"] {
            switch format["type"]?.stringValue {
            case "json_schema":
                guard let inner = format["json_schema"], inner["name"]?.stringValue != nil, let value = inner["schema"] else {
                    return Self.error(
                        400, "Missing required parameter: 'response_format.json_schema'.", type: "invalid_request_error",
                        param: "response_format.json_schema", code: "missing_required_parameter")
                }
                if inner["strict"] == .bool(true), let problem = Self.strictProblem(value, context: "()") {
                    let name = inner["name"]?.stringValue ?? ""
                    return Self.error(
                        400, "Invalid schema for response_format '\(name)': \(problem)", type: "invalid_request_error",
                        param: "response_format", code: "invalid_json_schema")
                }
                schema = value
            case "json_object": schema = .object([])
            case "text", nil: break
            case let other?:
                return Self.error(
                    400, "Invalid value: '\(other)'. Supported values are: 'json_object', 'json_schema', and 'text'.",
                    type: "invalid_request_error", param: "response_format.type", code: "invalid_value")
            }
        }
        guard let model = models.first(where: { $0.id == name }) else {
            return Self.error(
                404, "The model `\(name)` does not exist or you do not have access to it.", type: "invalid_request_error",
                code: "model_not_found")
        }
        if let refused = Self.parameterProblem(body, model: name) { return refused }
        var offered = false
        if case .array(let tools)? = body["tools"], !tools.isEmpty { offered = true }
        if offered, model.refusesTools {
            return Self.error(
                400, "Unsupported parameter: 'tools' is not supported with this model.", type: "invalid_request_error", param: "tools",
                code: "unsupported_parameter")
        }
        if let problem = Self.toolMessageProblem(messages) { return problem }
        let calls = offered && messages.last?["role"]?.stringValue != "tool" ? model.toolCalls : []

        // The answer and its counts.
        let prompt = messages.map { CloudStandInCore.text(of: $0["content"]) }
        let lastUser = messages.last { $0["role"]?.stringValue == "user" }.map { CloudStandInCore.text(of: $0["content"]) } ?? ""
        let text = calls.isEmpty ? model.refusal ?? model.answer ?? StandInReply.answer(prompt: lastUser, schema: schema) : ""
        var tokens = StandInReply.tokens(text, json: schema != nil && model.refusal == nil)
        var finish = calls.isEmpty ? model.finishReason ?? "stop" : "tool_calls"
        let callIDs = calls.map { $0.id ?? "call_standin\(core.nextID())" }
        // A refusal arrives in `refusal`, never in `content`.
        let field = model.refusal == nil ? "content" : "refusal"
        let limit = body["max_completion_tokens"] ?? body["max_tokens"]
        if case .number(let value)? = limit, tokens.count > Int(value) {
            tokens = Array(tokens.prefix(Int(value)))
            finish = "length"
        }
        let promptTokens = prompt.map(StandInReply.wordCount).reduce(0, +)
        let callTokens = calls.map(\.fragments.count).reduce(0, +)
        let usage: [String: Any] = [
            "prompt_tokens": promptTokens, "completion_tokens": tokens.count + callTokens,
            "total_tokens": promptTokens + tokens.count + callTokens,
            "prompt_tokens_details": ["cached_tokens": 0, "audio_tokens": 0],
            "completion_tokens_details": ["reasoning_tokens": 0, "audio_tokens": 0],
        ]
        let id = "chatcmpl-standin\(core.nextID())"
        let created = Int(Date().timeIntervalSince1970)
        guard stream else {
            var message: [String: Any] = [
                "role": "assistant", "content": model.refusal == nil && calls.isEmpty ? tokens.joined() : NSNull(),
                "refusal": model.refusal == nil || !calls.isEmpty ? NSNull() : tokens.joined(),
            ]
            if !calls.isEmpty {
                message["tool_calls"] = zip(calls, callIDs).map { call, id in
                    ["id": id, "type": "function", "function": ["name": call.name, "arguments": call.arguments]] as [String: Any]
                }
            }
            return CloudStandInCore.json([
                "id": id, "object": "chat.completion", "created": created, "model": name, "system_fingerprint": "fp_standin",
                "choices": [
                    [
                        "index": 0,
                        "message": message,
                        "finish_reason": finish,
                    ] as [String: Any]
                ],
                "usage": usage,
            ])
        }
        let includeUsage = body["stream_options"]?["include_usage"] == .bool(true)
        func chunk(_ choices: [[String: Any]], usage: Any? = nil) -> ByteBuffer {
            var object: [String: Any] = [
                "id": id, "object": "chat.completion.chunk", "created": created, "model": name, "system_fingerprint": "fp_standin",
                "choices": choices,
            ]
            if includeUsage { object["usage"] = usage ?? NSNull() }
            if quirks.nullErrorOnChunks { object["error"] = NSNull() }
            return CloudStandInCore.event(nil, object, lineBreak: quirks.lineBreak)
        }
        let lineBreak = quirks.lineBreak
        // Every chunk made beforehand: the body writer runs concurrently and takes only Sendable values.
        var openingChunk = chunk([
            ["index": 0, "delta": ["role": "assistant", "content": "", "refusal": NSNull()], "finish_reason": NSNull()]
        ])
        var pieceChunks = tokens.map { chunk([["index": 0, "delta": [field: $0], "finish_reason": NSNull()]]) }
        if !calls.isEmpty {
            // As recorded: content null; one call opens in the role chunk (c6aa7e397b71), several after a role chunk of
            // their own (f82268f2fefd); each opening carries id, type, name and empty arguments, then the fragments.
            func open(_ index: Int) -> [String: Any] {
                [
                    "index": index, "id": callIDs[index], "type": "function",
                    "function": ["name": calls[index].name, "arguments": ""] as [String: Any],
                ]
            }
            func piece(_ delta: [String: Any]) -> ByteBuffer {
                chunk([["index": 0, "delta": delta, "logprobs": NSNull(), "finish_reason": NSNull()]])
            }
            var role: [String: Any] = ["role": "assistant", "content": NSNull()]
            if calls.count == 1 {
                role["tool_calls"] = [open(0)]
                role["refusal"] = NSNull()
            }
            openingChunk = piece(role)
            pieceChunks = []
            for (index, call) in calls.enumerated() {
                if calls.count > 1 { pieceChunks.append(piece(["tool_calls": [open(index)]])) }
                pieceChunks += call.fragments.map { piece(["tool_calls": [["index": index, "function": ["arguments": $0]]]]) }
            }
        }
        let closing = chunk([["index": 0, "delta": [String: Any](), "finish_reason": finish]])
        let usageChunk = includeUsage ? chunk([], usage: usage) : nil
        let (opening, pieces) = (openingChunk, pieceChunks)
        return Response(
            status: .ok, headers: CloudStandInCore.eventStreamHeaders,
            body: ResponseBody { writer in
                try await writer.write(opening)
                for (index, piece) in pieces.enumerated() {
                    if try await Self.apply(fault, at: index, writer: &writer) { return }
                    try await writer.write(piece)
                }
                if try await Self.apply(fault, at: pieces.count, writer: &writer) { return }
                try await writer.write(closing)
                if case .endAfterFinish? = fault {
                    try await writer.finish(nil)
                    return
                }
                if let usageChunk { try await writer.write(usageChunk) }
                try await writer.write(ByteBuffer(string: "data: [DONE]" + lineBreak + lineBreak))
                try await writer.finish(nil)
            })
    }

    /// OpenAI's 400 for tool messages that do not pair with calls: a `tool` message must answer a call of the
    /// assistant message before it ("Invalid parameter: messages with role 'tool' must be a response to a preceeding
    /// message with 'tool_calls'.", the API's spelling), and an assistant message's calls must all be answered by the
    /// `tool` messages right after it ("An assistant message with 'tool_calls' must be followed by tool messages
    /// responding to each 'tool_call_id'. The following tool_call_ids did not have response messages: ID"); the first as
    /// reported from gpt-4-turbo with `param: messages.[4].role` (smarter-sh/smarter#264), the second through litellm
    /// (aliasrobotics/cai#111; its `param` not shown there, so none is sent).
    static func toolMessageProblem(_ messages: [JSONValue]) -> Response? {
        var open: [String] = []
        var answerable = false
        for (index, message) in messages.enumerated() {
            let role = message["role"]?.stringValue ?? ""
            if role == "tool" {
                let id = message["tool_call_id"]?.stringValue ?? ""
                guard answerable, let position = open.firstIndex(of: id) else {
                    return error(
                        400, "Invalid parameter: messages with role 'tool' must be a response to a preceeding message with 'tool_calls'.",
                        type: "invalid_request_error", param: "messages.[\(index)].role")
                }
                open.remove(at: position)
                continue
            }
            if !open.isEmpty {
                return error(
                    400,
                    "An assistant message with 'tool_calls' must be followed by tool messages responding to each 'tool_call_id'. The following tool_call_ids did not have response messages: \(open.joined(separator: ", "))",
                    type: "invalid_request_error")
            }
            open = []
            answerable = false
            if role == "assistant", case .array(let calls)? = message["tool_calls"] {
                open = calls.compactMap { $0["id"]?.stringValue }
                answerable = true
            }
        }
        return nil
    }

    /// Acts on a stream fault due before token `index`; true when the body is over.
    private static func apply(_ fault: CloudFault?, at index: Int, writer: inout any ResponseBodyWriter) async throws -> Bool {
        switch fault {
        case .cutStream(let after)? where after == index:
            // Closing discards writes not yet on the socket: give the ones before the cut time to leave.
            try await Task.sleep(for: .milliseconds(100))
            throw StandInError(message: "stream cut on purpose")
        case .endEarly(let after)? where after == index:
            try await writer.finish(nil)
            return true
        case .errorEvent(let after, let type, let message)? where after == index:
            let error: [String: Any] = ["message": message, "type": type, "param": NSNull(), "code": NSNull()]
            try await writer.write(CloudStandInCore.event(nil, ["error": error]))
            try await writer.finish(nil)
            return true
        default:
            return false
        }
    }

    /// What OpenAI's strict mode says about `schema`, or nil when it accepts it. The root must be an object
    /// (400 "schema must be a JSON Schema of 'type: \"object\"', got 'type: \"array\"'.", quoted in
    /// podly-pure-podcasts/podly_pure_podcasts#89); every object closes and requires its properties (the two
    /// rules `oai-sdk:src/openai/lib/_pydantic.py:49-61` enforces); `default` is refused ("In
    /// context=('properties', 'placeholder'), 'default' is not permitted.", quoted at
    /// zenn.dev/nicopin/scraps/a8d8f53f5faebb), and so, in the same words (the Structured Outputs guide's list,
    /// not quoted as a body), are `allOf`, `not`, `if`/`then`/`else` and `dependent*`.
    public static func strictProblem(_ schema: JSONValue, context: String) -> String? {
        if context == "()" {
            let type = schema["type"]?.stringValue ?? (schema["type"] == nil ? "None" : "\(schema["type"]!)")
            guard type == "object" else { return "schema must be a JSON Schema of 'type: \"object\"', got 'type: \"\(type)\"'." }
        }
        return strictNodeProblem(schema, context: context)
    }

    static let strictRefusedKeywords = [
        "default", "allOf", "not", "if", "then", "else", "dependentRequired", "dependentSchemas", "minLength", "maxLength",
        "minProperties", "maxProperties", "patternProperties", "unevaluatedProperties",
    ]

    private static func strictNodeProblem(_ schema: JSONValue, context: String) -> String? {
        guard case .object(let pairs) = schema else { return nil }
        if let keyword = strictRefusedKeywords.first(where: { keyword in pairs.contains { $0.key == keyword } }) {
            return "In context=\(context), '\(keyword)' is not permitted."
        }
        if schema["type"] == .string("object") {
            guard schema["additionalProperties"] == .bool(false) else {
                return "In context=\(context), 'additionalProperties' is required to be supplied and to be false."
            }
            var keys: [String] = []
            if case .object(let properties)? = schema["properties"] { keys = properties.map(\.key) }
            var required: [String] = []
            if case .array(let values)? = schema["required"] { required = values.compactMap(\.stringValue) }
            if let missing = keys.first(where: { !required.contains($0) }) {
                return
                    "In context=\(context), 'required' is required to be supplied and to be an array including every key in properties. Missing '\(missing)'."
            }
            if case .object(let properties)? = schema["properties"] {
                for (key, value) in properties {
                    if let problem = strictNodeProblem(value, context: "('properties', '\(key)')") { return problem }
                }
            }
        }
        if let items = schema["items"] { return strictNodeProblem(items, context: "('items')") }
        if case .array(let options)? = schema["anyOf"] {
            for (index, option) in options.enumerated() {
                if let problem = strictNodeProblem(option, context: "('anyOf', '\(index)')") { return problem }
            }
        }
        return nil
    }

    // MARK: - Model rules

    /// Whether OpenAI treats `model` as a reasoning model (o1, o3, o4-mini, the GPT-5 family but its chat
    /// models), which take only the default sampling settings.
    static func isReasoningModel(_ model: String) -> Bool {
        let name = model.lowercased()
        if name.count >= 2, name.first == "o", name.dropFirst().first?.isNumber == true { return true }
        return name.hasPrefix("gpt-5") && !name.contains("-chat")
    }

    /// The 400 OpenAI answers for a parameter `model` does not take, or nil.
    static func parameterProblem(_ body: JSONValue, model: String) -> Response? {
        if case .array(let stop)? = body["stop"], stop.count > 4 {
            // `StopConfiguration`: an array with `maxItems: 4` (`spec:63268-63270`); worded like OpenAI's other
            // range errors ("Invalid 'temperature': decimal above maximum value...").
            return error(
                400,
                "Invalid 'stop': array too long. Expected an array with maximum length 4, but got an array with length \(stop.count) instead.",
                type: "invalid_request_error", param: "stop", code: "array_above_max_length")
        }
        guard isReasoningModel(model) else { return nil }
        if case .number(let temperature)? = body["temperature"], temperature != 1 {
            // GPT-5 family and o-series: the body quoted in tmc/langchaingo#1355 and diffbot/code-gpt-docs#445.
            let shown = temperature == temperature.rounded() ? String(Int(temperature)) : "\(temperature)"
            return error(
                400, "Unsupported value: 'temperature' does not support \(shown) with this model. Only the default (1) value is supported.",
                type: "invalid_request_error", param: "temperature", code: "unsupported_value")
        }
        if case .number(let topP)? = body["top_p"], topP != 1 {
            // Reported for GPT-5 in QuantaAlpha/RepoMaster#8 (not checked); worded as the temperature body.
            return error(
                400, "Unsupported value: 'top_p' does not support \(topP) with this model. Only the default (1) value is supported.",
                type: "invalid_request_error", param: "top_p", code: "unsupported_value")
        }
        if body["max_tokens"] != nil {
            // Reasoning models count their thinking in `max_completion_tokens` (`spec:33146-33150`); `max_tokens` is
            // "not compatible with o-series models" (`spec:33373-33390`). The wording is the widely reported body.
            return error(
                400, "Unsupported parameter: 'max_tokens' is not supported with this model. Use 'max_completion_tokens' instead.",
                type: "invalid_request_error", param: "max_tokens", code: "unsupported_parameter")
        }
        let name = model.lowercased()
        if body["stop"] != nil, name.hasPrefix("o3") || name.hasPrefix("o4-mini") {
            // "Not supported with latest reasoning models o3 and o4-mini" (`spec:63253-63256`).
            return error(
                400, "Unsupported parameter: 'stop' is not supported with this model.", type: "invalid_request_error", param: "stop",
                code: "unsupported_parameter")
        }
        return nil
    }
}

// MARK: - Embeddings

extension OpenAIStandIn {
    /// The embedding requests so far.
    public var embeddingRequests: [CloudRequest] { requests.filter { $0.path == "/v1/embeddings" } }

    /// Fields `CreateEmbeddingRequest` accepts; others are a 400.
    static let embeddingFields: Set<String> = ["model", "input", "encoding_format", "dimensions", "user"]

    /// `POST /v1/embeddings` (see the type's documentation).
    private func embed(_ request: CloudRequest) -> Response {
        let body: JSONValue
        let name: String
        switch admit(request, known: Self.embeddingFields) {
        case .rejected(let response): return response
        case .admitted(let admittedBody, let model, _): (body, name) = (admittedBody, model)
        }
        guard let model = models.first(where: { $0.id == name }) else {
            return Self.error(
                404, "The model `\(name)` does not exist or you do not have access to it.", type: "invalid_request_error",
                code: "model_not_found")
        }
        let invalid = Self.error(
            400, "'$.input' is invalid. Please check the API reference: https://platform.openai.com/docs/api-reference.",
            type: "invalid_request_error")
        var texts: [String] = []
        switch body["input"] {
        case .string(let text)?: texts = [text]
        case .array(let items)?:
            for item in items {
                guard let text = item.stringValue else { return invalid }
                texts.append(text)
            }
        default: return invalid
        }
        guard !texts.isEmpty, texts.count <= 2048, !texts.contains(where: \.isEmpty) else { return invalid }
        let base64: Bool
        switch body["encoding_format"]?.stringValue {
        case nil, "float": base64 = false
        case "base64": base64 = true
        default:
            return Self.error(
                400, "Invalid value for 'encoding_format': must be 'float' or 'base64'.", type: "invalid_request_error",
                param: "encoding_format")
        }
        var width = model.embeddingDimensions
        if case .number(let value)? = body["dimensions"] {
            guard value >= 1, Int(value) <= width else {
                return Self.error(400, "Invalid value for 'dimensions'.", type: "invalid_request_error", param: "dimensions")
            }
            width = Int(value)
        }
        var data: [[String: Any]] = []
        var tokens = 0
        for (index, text) in texts.enumerated() {
            tokens += max(1, text.split(whereSeparator: \.isWhitespace).count)
            var vector = EchoRuntime.hashedVector(of: text, dimensions: model.embeddingDimensions)
            if width < vector.count {
                vector = Array(vector.prefix(width))
                let norm = max(vector.reduce(Float(0)) { $0 + $1 * $1 }.squareRoot(), 1e-12)
                vector = vector.map { $0 / norm }
            }
            let embedding: Any =
                base64 ? vector.withUnsafeBufferPointer { Data(buffer: $0) }.base64EncodedString() : vector.map { Double($0) }
            data.append(["object": "embedding", "index": index, "embedding": embedding])
        }
        if quirks.reversedEmbeddings { data.reverse() }
        return CloudStandInCore.json([
            "object": "list", "data": data, "model": name, "usage": ["prompt_tokens": tokens, "total_tokens": tokens],
        ])
    }
}
