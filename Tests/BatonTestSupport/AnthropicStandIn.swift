import BatonSpec
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

/// A local stand-in for the Anthropic Messages API (runtimes.md §4), served by Hummingbird on
/// 127.0.0.1 at an ephemeral port (``baseURL`` is the equivalent of `https://api.anthropic.com`).
///
/// - Every route checks `x-api-key` first (none or a wrong one: 401 `authentication_error`; the wrong
///   key is echoed in the message, so a client that leaks it is caught), then `anthropic-version`
///   (missing: 400).
/// - `POST /v1/messages` with `stream: true` sends named SSE events in the API's order: `message_start`
///   (with `usage.input_tokens`, cache reads apart), `content_block_start`, `ping`, `content_block_delta`
///   (`text_delta`, or `input_json_delta` for a tool), `content_block_stop`, `message_delta` (stop reason,
///   cumulative `output_tokens`), `message_stop`. Without `stream`, one `message` object.
/// - Requests are checked as the API does: `max_tokens` and `messages` required, no `system` role in
///   `messages` (it is a top-level field), `temperature` within 0…1, `temperature` with `top_p` refused
///   by Claude 4 models, no unknown fields, a tool's `input_schema` of type object, a forced `tool_choice`
///   naming a declared tool; an unknown model is a 404 `not_found_error`. A forced tool answers with a
///   `tool_use` block (`stop_reason: tool_use`), unless the model ignores `tool_choice` (a compatible
///   server) and answers in text.
/// - Tools offered without a forced `tool_choice`: a model with ``Model/toolCalls`` answers a request whose last
///   message holds no `tool_result` with the shape of the SDK's recorded stream
///   (`ant-sdk:tests/lib/streaming/fixtures/tool_use_response.txt`, 0.121.0): an optional text block
///   (``Model/toolPreamble``), then per call a `tool_use` block (`id`, `name`, `caller`, `input: {}`), an empty
///   `input_json_delta` and the input in `partial_json` pieces, `stop_reason: tool_use`; after a result it answers in
///   text. Every `tool_use` of an assistant message needs a `tool_result` in the next message, else the API's 400
///   ("messages.N: `tool_use` ids were found without `tool_result` blocks immediately after: ID. Each `tool_use` block
///   must have a corresponding `tool_result` block in the next message.", quoted in anthropics/claude-code#1237).
/// - A model can refuse (an empty text block, `stop_reason: refusal` with `stop_details`) or think first
///   (a `thinking` block); a cut at `max_tokens` ends with `stop_reason: max_tokens`; `message_delta.usage`
///   repeats the cumulative input and cache counts.
/// - `GET /v1/models` lists the models.
/// - Faults (``CloudFault``) are queued with ``inject(_:)``: a status for the next K requests with the
///   API's error body (529 is `overloaded_error`), a status with exactly the headers given
///   (`x-should-retry`, `retry-after-ms`, none), a stream cut mid-way, an `event: error` mid-stream,
///   a stream that ends without `message_stop`.
///
/// Versions followed: anthropics/anthropic-sdk-python 0.121.0 and its stream fixtures, and the error bodies
/// quoted in the cloud fidelity study (issue 9).
///
/// Every request is recorded with its headers (``requests``).
public final class AnthropicStandIn: StoppableStandIn, @unchecked Sendable {
    /// A model the key can use.
    public struct Model: Sendable {
        /// The model id, such as `claude-sonnet-4-5`.
        public var id: String
        /// Scripted answer text; for a forced tool, the tool's input as JSON text.
        public var answer: String?
        /// Prompt tokens reported as read from the prompt cache (`cache_read_input_tokens`) rather than
        /// as `input_tokens`.
        public var cachedPromptTokens: Int
        /// A refusal instead of an answer: an empty text block, then `stop_reason: "refusal"` with these
        /// `stop_details` (`ant-sdk:tests/lib/streaming/fixtures/refusal_response.txt`, SDK 0.121.0).
        public var refusal: (category: String, explanation: String)?
        /// Thinking streamed in a `thinking` block (`thinking_delta`) before the answer.
        public var thinking: String?
        /// Answers in text even when `tool_choice` forces a tool, as an Anthropic-compatible server may (the
        /// real API prefills the forced call; the study's probe, finding A5, used such a server).
        public var ignoresToolChoice: Bool
        /// The calls it makes when tools are offered (none forced) and the last message holds no tool result.
        public var toolCalls: [ScriptedToolCall] = []
        /// Text it says before its calls, in a text block of its own (the recording's "I'll check the current weather…").
        public var toolPreamble: String?

        /// Creates a model.
        public init(
            _ id: String, answer: String? = nil, cachedPromptTokens: Int = 0, refusal: (category: String, explanation: String)? = nil,
            thinking: String? = nil, ignoresToolChoice: Bool = false
        ) {
            self.id = id
            self.answer = answer
            self.cachedPromptTokens = cachedPromptTokens
            self.refusal = refusal
            self.thinking = thinking
            self.ignoresToolChoice = ignoresToolChoice
        }
    }

    /// Fields the Messages API accepts; others are a 400.
    static let knownFields: Set<String> = [
        "model", "messages", "max_tokens", "system", "temperature", "top_p", "top_k", "stop_sequences", "stream", "tools",
        "tool_choice", "metadata", "thinking", "service_tier", "container", "mcp_servers", "output_config",
    ]

    /// The key the stand-in accepts.
    public let apiKey: String
    private let models: [Model]
    private let core = CloudStandInCore()

    /// `http://127.0.0.1:PORT`.
    public var baseURL: String { "http://127.0.0.1:\(core.port)" }
    /// Every request so far, in order of arrival.
    public var requests: [CloudRequest] { core.requests }
    /// The `POST /v1/messages` requests so far.
    public var messages: [CloudRequest] { requests.filter { $0.path == "/v1/messages" } }

    private init(apiKey: String, models: [Model]) {
        self.apiKey = apiKey
        self.models = models
    }

    // MARK: - Starting and stopping

    /// Starts a stand-in that accepts `apiKey` and serves `models`.
    public static func start(apiKey: String, models: [Model]) async throws -> AnthropicStandIn {
        let standIn = AnthropicStandIn(apiKey: apiKey, models: models)
        try await standIn.core.start(standIn.router(), label: "Anthropic stand-in")
        return standIn
    }

    /// Runs `body` with a started stand-in and stops it afterwards, even when `body` throws.
    public static func with<T>(apiKey: String, models: [Model], _ body: (AnthropicStandIn) async throws -> T) async throws -> T {
        try await start(apiKey: apiKey, models: models).serving(body)
    }

    /// Stops the server; its port then refuses connections.
    public func stop() async { await core.stop() }

    /// Queues a fault for the next generation requests.
    public func inject(_ fault: CloudFault) { core.inject(fault) }

    // MARK: - Routes

    private func router() -> Router<BasicRequestContext> {
        let router = Router()
        core.route(router, "/v1/models", method: .get) { [self] recorded, _ in
            if let denied = check(recorded) { return denied }
            let data = models.map {
                ["type": "model", "id": $0.id, "display_name": $0.id, "created_at": "2026-09-29T00:00:00Z"] as [String: Any]
            }
            return CloudStandInCore.json([
                "data": data, "has_more": false, "first_id": models.first?.id ?? NSNull(), "last_id": models.last?.id ?? NSNull(),
            ])
        }
        core.route(router, "/v1/messages", method: .post) { [self] recorded, _ in message(recorded) }
        for method in [HTTPTypes.HTTPRequest.Method.get, .post] {
            core.route(router, "**", method: method) { [self] _, _ in self.error(404, type: "not_found_error", "Not Found") }
        }
        return router
    }

    /// The API's error body: `{"type": "error", "error": {"type", "message"}, "request_id"}`.
    func error(_ status: Int, type: String, _ message: String, headers: HTTPFields = [:]) -> Response {
        CloudStandInCore.json(
            ["type": "error", "error": ["type": type, "message": message], "request_id": "req_standin\(core.nextID())"], status: status,
            headers: headers)
    }

    /// The API's answer for a scripted status; `type` replaces the error type of the status.
    func error(status: Int, message: String?, type: String? = nil) -> Response {
        if let type { return error(status, type: type, message ?? "Error") }
        switch status {
        case 400: return error(400, type: "invalid_request_error", message ?? "Invalid request")
        case 401: return error(401, type: "authentication_error", message ?? "invalid x-api-key")
        case 402: return error(402, type: "billing_error", message ?? "Your credit balance is too low to access the Anthropic API.")
        case 403:
            return error(403, type: "permission_error", message ?? "Your API key does not have permission to use the specified resource.")
        case 404: return error(404, type: "not_found_error", message ?? "Not found")
        case 413: return error(413, type: "request_too_large", message ?? "Request exceeds the maximum allowed number of bytes.")
        case 429:
            return error(
                429, type: "rate_limit_error", message ?? "Number of request tokens has exceeded your per-minute rate limit",
                headers: [.retryAfter: "1"])
        case 504: return error(504, type: "timeout_error", message ?? "Request timed out")
        case 529: return error(529, type: "overloaded_error", message ?? "Overloaded")
        default: return error(status, type: "api_error", message ?? "Internal server error")
        }
    }

    /// A 401 unless `x-api-key` is the key; a 400 without `anthropic-version`.
    private func check(_ request: CloudRequest) -> Response? {
        guard let presented = request.header("x-api-key") else {
            return error(401, type: "authentication_error", "x-api-key header is required")
        }
        guard presented == apiKey else { return error(401, type: "authentication_error", "invalid x-api-key: \(presented)") }
        guard request.header("anthropic-version") != nil else {
            return error(400, type: "invalid_request_error", "anthropic-version: header is required")
        }
        return nil
    }

    private func message(_ request: CloudRequest) -> Response {
        if let denied = check(request) { return denied }
        guard request.header("content-type")?.hasPrefix("application/json") == true else {
            return error(400, type: "invalid_request_error", "content-type: must be application/json")
        }
        guard let body = request.body, case .object(let fields) = body else {
            return error(
                400, type: "invalid_request_error", "There was an issue with your request body. Please check that it is valid JSON.")
        }
        let fault = core.nextFault()
        if case .status(let status, _, let message, let code)? = fault { return error(status: status, message: message, type: code) }
        if case .response(let status, let headers, _)? = fault {
            let type =
                switch status {
                case 429: "rate_limit_error"
                case 529: "overloaded_error"
                case 500...: "api_error"
                default: "invalid_request_error"
                }
            return error(status, type: type, "Error \(status)", headers: CloudStandInCore.fields(headers))
        }

        if let unknown = fields.map(\.key).first(where: { !Self.knownFields.contains($0) }) {
            return error(400, type: "invalid_request_error", "\(unknown): Extra inputs are not permitted")
        }
        guard let name = body["model"]?.stringValue else { return error(400, type: "invalid_request_error", "model: Field required") }
        guard case .number(let maxTokens)? = body["max_tokens"] else {
            return error(400, type: "invalid_request_error", "max_tokens: Field required")
        }
        guard case .array(let messages)? = body["messages"] else {
            return error(400, type: "invalid_request_error", "messages: Field required")
        }
        guard !messages.isEmpty else { return error(400, type: "invalid_request_error", "messages: at least one message is required") }
        for message in messages {
            let role = message["role"]?.stringValue ?? ""
            guard role == "user" || role == "assistant" else {
                return error(
                    400, type: "invalid_request_error",
                    "messages: Unexpected role \"\(role)\". The Messages API accepts a top-level `system` parameter, not \"\(role)\" as an input message role."
                )
            }
        }
        if case .number(let temperature)? = body["temperature"], temperature < 0 || temperature > 1 {
            return error(400, type: "invalid_request_error", "temperature: range: 0..1")
        }
        if body["temperature"] != nil, body["top_p"] != nil, Self.takesOneSamplingKey(name) {
            // Opus 4.1, Sonnet 4.5, Haiku 4.5 and Sonnet 4.6, as reported with this body (BerriAI/litellm#15097,
            // cloud-apim/otoroshi-llm-extension#140, Vali-98/ChatterUI#564); the stand-in extends it to every Claude 4 model.
            return error(
                400, type: "invalid_request_error",
                "`temperature` and `top_p` cannot both be specified for this model. Please use only one.")
        }
        // Tools, and a forced tool's schema.
        var forcedTool: (name: String, schema: JSONValue)?
        var tools: [(name: String, schema: JSONValue)] = []
        if case .array(let declared)? = body["tools"] {
            for (index, tool) in declared.enumerated() {
                guard let toolName = tool["name"]?.stringValue, let schema = tool["input_schema"] else {
                    return error(400, type: "invalid_request_error", "tools.\(index): name and input_schema are required")
                }
                guard schema["type"] == .string("object") else {
                    return error(400, type: "invalid_request_error", "tools.\(index).custom.input_schema.type: Input should be 'object'")
                }
                tools.append((toolName, schema))
            }
        }
        if let choice = body["tool_choice"], choice["type"]?.stringValue == "tool" {
            let wanted = choice["name"]?.stringValue ?? ""
            guard let tool = tools.first(where: { $0.name == wanted }) else {
                return error(400, type: "invalid_request_error", "tool_choice.tool.name: Tool '\(wanted)' not found in provided tools")
            }
            forcedTool = tool
        }
        guard let model = models.first(where: { $0.id == name }) else {
            return error(404, type: "not_found_error", "model: \(name)")
        }
        if model.ignoresToolChoice { forcedTool = nil }
        if let problem = unansweredToolUse(messages) { return problem }
        let lastHasResult: Bool = {
            guard case .array(let blocks)? = messages.last?["content"] else { return false }
            return blocks.contains { $0["type"]?.stringValue == "tool_result" }
        }()
        if forcedTool == nil, !tools.isEmpty, !model.toolCalls.isEmpty, !lastHasResult, body["stream"] == .bool(true) {
            return toolUseStream(model: model, name: name, messages: messages, system: body["system"])
        }

        // The answer and its counts.
        let system = CloudStandInCore.text(of: body["system"])
        let lastUser = messages.last { $0["role"]?.stringValue == "user" }.map { CloudStandInCore.text(of: $0["content"]) } ?? ""
        let schema = forcedTool?.schema ?? (model.ignoresToolChoice ? tools.first?.schema : nil)
        let text = model.refusal != nil ? "" : model.answer ?? StandInReply.answer(prompt: lastUser, schema: schema)
        var tokens = StandInReply.tokens(text, json: forcedTool != nil)
        var stopReason = model.refusal != nil ? "refusal" : forcedTool == nil ? "end_turn" : "tool_use"
        if tokens.count > Int(maxTokens) {
            tokens = Array(tokens.prefix(Int(maxTokens)))
            stopReason = "max_tokens"
        }
        let promptTokens =
            StandInReply.wordCount(system) + messages.map { StandInReply.wordCount(CloudStandInCore.text(of: $0["content"])) }.reduce(0, +)
        let cached = min(model.cachedPromptTokens, promptTokens)
        let id = "msg_standin\(core.nextID())"
        let toolID = "toolu_standin\(core.nextID())"
        let usage: [String: Any] = [
            "input_tokens": promptTokens - cached, "cache_creation_input_tokens": 0, "cache_read_input_tokens": cached,
            "output_tokens": tokens.count,
        ]

        guard body["stream"] == .bool(true) else {
            let content: [String: Any]
            if let forcedTool {
                let input = (try? JSONSerialization.jsonObject(with: Data(tokens.joined().utf8))) ?? [String: Any]()
                content = ["type": "tool_use", "id": toolID, "name": forcedTool.name, "input": input]
            } else {
                content = ["type": "text", "text": tokens.joined()]
            }
            return CloudStandInCore.json([
                "id": id, "type": "message", "role": "assistant", "model": name, "content": [content], "stop_reason": stopReason,
                "stop_sequence": NSNull(), "usage": usage,
            ])
        }

        var startUsage = usage
        startUsage["output_tokens"] = 1  // a placeholder, as the API sends
        let start: [String: Any] = [
            "type": "message_start",
            "message": [
                "id": id, "type": "message", "role": "assistant", "model": name, "content": [Any](), "stop_reason": NSNull(),
                "stop_sequence": NSNull(), "usage": startUsage,
            ] as [String: Any],
        ]
        let block: [String: Any] =
            forcedTool.map { ["type": "tool_use", "id": toolID, "name": $0.name, "input": [String: Any]()] } ?? [
                "type": "text", "text": "",
            ]
        let isTool = forcedTool != nil
        // A thinking block comes first, at index 0 (`thinking_delta`, then a `signature_delta`).
        var thinkingEvents: [ByteBuffer] = []
        if let thinking = model.thinking {
            thinkingEvents.append(
                CloudStandInCore.event(
                    "content_block_start",
                    ["type": "content_block_start", "index": 0, "content_block": ["type": "thinking", "thinking": "", "signature": ""]]))
            thinkingEvents += StandInReply.tokens(thinking, json: false).map {
                Self.delta(["type": "thinking_delta", "thinking": $0], index: 0)
            }
            thinkingEvents.append(Self.delta(["type": "signature_delta", "signature": "EqQBCgIYAhIM"], index: 0))
            thinkingEvents.append(CloudStandInCore.event("content_block_stop", ["type": "content_block_stop", "index": 0]))
        }
        let index = model.thinking == nil ? 0 : 1
        // Every event made beforehand: the body writer runs concurrently and takes only Sendable values.
        // The API opens a tool's input with an empty input_json_delta.
        let opening =
            [CloudStandInCore.event("message_start", start)] + thinkingEvents + [
                CloudStandInCore.event("content_block_start", ["type": "content_block_start", "index": index, "content_block": block]),
                CloudStandInCore.event("ping", ["type": "ping"]),
            ] + (isTool ? [Self.delta(["type": "input_json_delta", "partial_json": ""], index: index)] : [])
        let pieces = tokens.map { token in
            Self.delta(isTool ? ["type": "input_json_delta", "partial_json": token] : ["type": "text_delta", "text": token], index: index)
        }
        var delta: [String: Any] = ["stop_reason": stopReason, "stop_sequence": NSNull()]
        if let refusal = model.refusal {
            delta["stop_details"] = ["type": "refusal", "category": refusal.category, "explanation": refusal.explanation]
        }
        // `message_delta.usage` repeats the cumulative input and cache counts beside `output_tokens`
        // (`ant-sdk:src/anthropic/types/message_delta_usage.py`; the `@ai-sdk/anthropic` recorded stream).
        var finalUsage = usage
        finalUsage["output_tokens"] = tokens.count + (model.thinking.map(StandInReply.wordCount) ?? 0)
        let closing = [
            CloudStandInCore.event("content_block_stop", ["type": "content_block_stop", "index": index]),
            CloudStandInCore.event("message_delta", ["type": "message_delta", "delta": delta, "usage": finalUsage]),
            CloudStandInCore.event("message_stop", ["type": "message_stop"]),
        ]
        return Response(
            status: .ok, headers: CloudStandInCore.eventStreamHeaders,
            body: ResponseBody { writer in
                try await writer.write(contentsOf: opening)
                for (index, piece) in pieces.enumerated() {
                    if try await Self.apply(fault, at: index, writer: &writer) { return }
                    try await writer.write(piece)
                }
                if try await Self.apply(fault, at: pieces.count, writer: &writer) { return }
                try await writer.write(contentsOf: closing)
                try await writer.finish(nil)
            })
    }

    /// The 400 for an assistant message whose `tool_use` ids get no `tool_result` in the next message.
    private func unansweredToolUse(_ messages: [JSONValue]) -> Response? {
        for (index, message) in messages.enumerated() where message["role"]?.stringValue == "assistant" {
            guard case .array(let blocks)? = message["content"] else { continue }
            let ids = blocks.filter { $0["type"]?.stringValue == "tool_use" }.compactMap { $0["id"]?.stringValue }
            guard !ids.isEmpty else { continue }
            var answered: Set<String> = []
            if index + 1 < messages.count, case .array(let next)? = messages[index + 1]["content"] {
                answered = Set(next.filter { $0["type"]?.stringValue == "tool_result" }.compactMap { $0["tool_use_id"]?.stringValue })
            }
            let missing = ids.filter { !answered.contains($0) }
            if !missing.isEmpty {
                return error(
                    400, type: "invalid_request_error",
                    "messages.\(index): `tool_use` ids were found without `tool_result` blocks immediately after: \(missing.joined(separator: ", ")). Each `tool_use` block must have a corresponding `tool_result` block in the next message."
                )
            }
        }
        return nil
    }

    /// A turn that calls tools, streamed as the recorded `tool_use_response.txt`: the preamble's text block, then each
    /// call's `tool_use` block with an empty first `input_json_delta`, `stop_reason: tool_use`.
    private func toolUseStream(model: Model, name: String, messages: [JSONValue], system: JSONValue?) -> Response {
        let id = "msg_standin\(core.nextID())"
        let promptTokens =
            StandInReply.wordCount(CloudStandInCore.text(of: system))
            + messages.map { StandInReply.wordCount(CloudStandInCore.text(of: $0["content"])) }.reduce(0, +)
        var events: [ByteBuffer] = [
            CloudStandInCore.event(
                "message_start",
                [
                    "type": "message_start",
                    "message": [
                        "id": id, "type": "message", "role": "assistant", "model": name, "content": [Any](), "stop_reason": NSNull(),
                        "stop_sequence": NSNull(),
                        "usage": [
                            "input_tokens": promptTokens, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0,
                            "output_tokens": 1,
                        ],
                    ] as [String: Any],
                ])
        ]
        var index = 0
        var outputTokens = 0
        if let preamble = model.toolPreamble {
            events.append(
                CloudStandInCore.event(
                    "content_block_start", ["type": "content_block_start", "index": 0, "content_block": ["type": "text", "text": ""]]))
            events.append(CloudStandInCore.event("ping", ["type": "ping"]))
            let pieces = StandInReply.tokens(preamble, json: false)
            outputTokens += pieces.count
            events += pieces.map { Self.delta(["type": "text_delta", "text": $0], index: 0) }
            events.append(CloudStandInCore.event("content_block_stop", ["type": "content_block_stop", "index": 0]))
            index = 1
        }
        for call in model.toolCalls {
            let block: [String: Any] = [
                "type": "tool_use", "id": call.id ?? "toolu_standin\(core.nextID())", "name": call.name, "caller": ["type": "direct"],
                "input": [String: Any](),
            ]
            events.append(
                CloudStandInCore.event("content_block_start", ["type": "content_block_start", "index": index, "content_block": block]))
            if index == 0 { events.append(CloudStandInCore.event("ping", ["type": "ping"])) }
            events += ([""] + call.fragments).map { Self.delta(["type": "input_json_delta", "partial_json": $0], index: index) }
            events.append(CloudStandInCore.event("content_block_stop", ["type": "content_block_stop", "index": index]))
            outputTokens += call.fragments.count
            index += 1
        }
        events.append(
            CloudStandInCore.event(
                "message_delta",
                [
                    "type": "message_delta", "delta": ["stop_reason": "tool_use", "stop_sequence": NSNull()],
                    "usage": ["output_tokens": outputTokens],
                ]))
        events.append(CloudStandInCore.event("message_stop", ["type": "message_stop"]))
        let stream = events
        return Response(
            status: .ok, headers: CloudStandInCore.eventStreamHeaders,
            body: ResponseBody { writer in
                try await writer.write(contentsOf: stream)
                try await writer.finish(nil)
            })
    }

    private static func delta(_ delta: [String: Any], index: Int) -> ByteBuffer {
        CloudStandInCore.event("content_block_delta", ["type": "content_block_delta", "index": index, "delta": delta])
    }

    /// Claude 4 models and later (`claude-opus-4*`, `claude-sonnet-4*`, `claude-haiku-4*`, higher majors), which
    /// refuse `temperature` with `top_p`.
    static func takesOneSamplingKey(_ model: String) -> Bool {
        let parts = model.lowercased().split(separator: "-")
        guard parts.count >= 3, parts[0] == "claude", ["opus", "sonnet", "haiku"].contains(parts[1]), let major = Int(parts[2]) else {
            return false
        }
        return major >= 4
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
            try await writer.write(CloudStandInCore.event("error", ["type": "error", "error": ["type": type, "message": message]]))
            try await writer.finish(nil)
            return true
        default:
            return false
        }
    }
}
