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
        /// OpenAI's own API: `max_completion_tokens`, and no `top_k` (OpenAI rejects fields it does not know).
        case openAI
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
    private let keyHint: String?
    private let transport: any HTTPTransport

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

    private var allHeaders: [(String, String)] {
        headers + (apiKey.map { [("Authorization", "Bearer \($0)")] } ?? [])
    }

    private var scrubber: SecretScrubber { SecretScrubber(apiKey) }

    /// The request body: messages, sampling settings, structured output, usage in the stream.
    func body(_ request: GenerationRequest) -> [String: Any] {
        var messages: [[String: String]] = []
        if let system = request.system, !system.isEmpty { messages.append(["role": "system", "content": system]) }
        messages.append(["role": "user", "content": request.prompt])
        var body: [String: Any] = [
            "model": request.model, "messages": messages, "stream": true, "stream_options": ["include_usage": true],
        ]
        let settings = request.settings
        if let value = settings.temperature { body["temperature"] = value }
        if let value = settings.topP { body["top_p"] = value }
        if let value = settings.seed { body["seed"] = value }
        if let value = settings.stop, !value.isEmpty { body["stop"] = value }
        switch dialect {
        case .openAI:
            if let value = settings.maxTokens { body["max_completion_tokens"] = value }
        case .llamaCpp:
            if let value = settings.topK { body["top_k"] = value }
            if let value = settings.maxTokens { body["max_tokens"] = value }
        }
        if let schema = request.responseSchema {
            // OpenAI's strict mode refuses schemas outside its subset; without it the schema still guides the model.
            let strict = dialect == .llamaCpp || Self.isStrictCompatible(schema)
            body["response_format"] = [
                "type": "json_schema", "json_schema": ["name": "output", "schema": Self.foundation(schema), "strict": strict],
            ]
        }
        return body
    }

    public func generate(_ request: GenerationRequest) -> AsyncThrowingStream<GenerationEvent, any Error> {
        let url = chatURL
        return ServerSentEventAPI.generate(
            HTTPRequest.json(url, body(request), headers: allHeaders), model: request.model, keyHint: keyHint, transport: transport,
            connectTimeout: connectTimeout, scrubber: scrubber, httpError: Self.httpError
        ) { response, continuation in
            var finished = false
            var usage = GenerationUsage()
            var sawFinish = false
            for try await event in response.events {
                let payload = event.data.trimmingCharacters(in: .whitespaces)
                if payload == "[DONE]" {
                    finished = true
                    break
                }
                let object = try ServerSentEventAPI.object(payload, url: url)
                if let error = object["error"] {
                    throw RuntimeError(
                        .badResponse, "\(url) failed while generating with '\(request.model)': \(Self.message(error))",
                        isTransient: true)
                }
                // Compatible servers may send `choices: null` on the usage chunk: read leniently.
                for choice in object["choices"] as? [[String: Any]] ?? [] {
                    if let delta = choice["delta"] as? [String: Any], let text = delta["content"] as? String, !text.isEmpty {
                        continuation.yield(.token(text))
                    }
                    if choice["finish_reason"] is String { sawFinish = true }
                }
                if let counts = object["usage"] as? [String: Any] {
                    usage.promptTokens = counts["prompt_tokens"] as? Int
                    usage.outputTokens = counts["completion_tokens"] as? Int
                }
                if let timings = object["timings"] as? [String: Any] {
                    if let value = timings["prompt_ms"] as? Double { usage.runtimeTimings["prompt"] = value }
                    if let value = timings["predicted_ms"] as? Double { usage.runtimeTimings["generation"] = value }
                    if usage.outputTokens == nil { usage.outputTokens = timings["predicted_n"] as? Int }
                    if usage.promptTokens == nil, let n = timings["prompt_n"] as? Int {
                        usage.promptTokens = n + ((timings["cache_n"] as? Int) ?? 0)
                    }
                }
            }
            // llama-server ends a stream that failed midway without [DONE]; a cut connection does too.
            guard finished || sawFinish else { throw ServerSentEventAPI.incomplete(url: url, model: request.model) }
            return usage
        }
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
    /// runtime error: 401 and 403 are a rejected key, 404 a missing model, 408, 429 and 5xx transient
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
        case 401, 403:
            return ServerSentEventAPI.rejectedKey(status, url: url, said: said, keyHint: keyHint)
        case 404:
            // A wrong path is a 404 too ("Invalid URL (POST /v1/chat/completionz)"): that is the profile's url.
            let aboutModel = code == "model_not_found" || detail.lowercased().contains("model")
            return ServerSentEventAPI.notFound(url: url, model: model, detail: detail, aboutModel: aboutModel)
        case 429 where code == "insufficient_quota":
            return RuntimeError(.httpStatus, "\(url) answered 429\(subject): the account's quota is used up\(said)", isTransient: false)
        case 408, 429, 500...599:
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

    /// Whether OpenAI's strict structured outputs accept `schema`: every object closes its properties
    /// (`additionalProperties: false`) and requires all of them, and no keyword outside OpenAI's subset
    /// (string lengths, for one) appears.
    static func isStrictCompatible(_ schema: JSONValue) -> Bool {
        let unsupported: Set<String> = ["minLength", "maxLength", "minProperties", "maxProperties", "patternProperties", "unevaluatedProperties"]
        switch schema {
        case .object(let pairs):
            if pairs.contains(where: { unsupported.contains($0.key) }) { return false }
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
                    if case .object(let children) = pair.value { return children.allSatisfy { isStrictCompatible($0.value) } }
                    return false
                case "items", "anyOf", "allOf", "oneOf", "not":
                    if case .array(let children) = pair.value { return children.allSatisfy(isStrictCompatible) }
                    return isStrictCompatible(pair.value)
                default:
                    return true
                }
            }
        default:
            return true
        }
    }

    /// A ``JSONValue`` as Foundation objects for `JSONSerialization`.
    static func foundation(_ value: JSONValue) -> Any {
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

// MARK: - Server-sent events

/// One server-sent event: its `event:` name (nil when there was none) and its `data:` lines, joined by
/// line breaks.
struct ServerSentEvent: Sendable, Hashable {
    var name: String?
    var data: String
}

/// Turns lines into server-sent events: a blank line ends an event, lines starting with `:` are comments
/// (keep-alive pings), `event:` names the event, and several `data:` lines make one value.
struct ServerSentEventParser {
    private var name: String?
    private var data: [String] = []

    /// Takes one line; returns the event it completes, if any.
    mutating func feed(_ line: String) -> ServerSentEvent? {
        if line.isEmpty { return flush() }
        if line.hasPrefix(":") { return nil }
        let field: Substring
        var value: Substring
        if let colon = line.firstIndex(of: ":") {
            field = line[..<colon]
            value = line[line.index(after: colon)...]
            if value.first == " " { value = value.dropFirst() }
        } else {
            field = Substring(line)
            value = ""
        }
        switch field {
        case "event": name = String(value)
        case "data": data.append(String(value))
        default: break  // `id:`, `retry:` and unknown fields
        }
        return nil
    }

    /// The event in progress, when the body ends without a final blank line.
    mutating func flush() -> ServerSentEvent? {
        defer {
            name = nil
            data = []
        }
        guard !data.isEmpty else { return nil }
        return ServerSentEvent(name: name, data: data.joined(separator: "\n"))
    }
}

extension HTTPResponse {
    /// The body as server-sent events.
    var events: AsyncThrowingStream<ServerSentEvent, any Error> {
        let lines = self.lines
        return AsyncThrowingStream { continuation in
            let task = Task {
                var parser = ServerSentEventParser()
                do {
                    for try await line in lines {
                        if let event = parser.feed(line) { continuation.yield(event) }
                    }
                    if let event = parser.flush() { continuation.yield(event) }
                    continuation.finish()
                } catch {
                    continuation.finish(throwing: error)
                }
            }
            continuation.onTermination = { _ in task.cancel() }
        }
    }
}

// MARK: - Keeping keys out of errors

/// Removes an API key from error messages: the whole key, and the masked echoes some APIs print
/// (`sk-proj-****abcd`), become `[redacted]`.
struct SecretScrubber: Sendable {
    /// What replaces the key.
    static let replacement = "[redacted]"
    let secret: String?

    init(_ secret: String?) {
        self.secret = secret.flatMap { $0.isEmpty ? nil : $0 }
    }

    /// `text` without the key.
    func scrub(_ text: String) -> String {
        guard let secret else { return text }
        var text = text.replacingOccurrences(of: secret, with: Self.replacement)
        // Masked echoes: a word that starts like the key, ends like it, and hides the middle.
        guard secret.count >= 12 else { return text }
        let words = text.split(whereSeparator: { $0.isWhitespace || "\"'`,;()".contains($0) }).map(String.init)
        for word in Set(words) where word.count >= 6 && (word.contains("*") || word.contains("...") || word.contains("…")) {
            let trimmed = word.hasSuffix(".") && !word.hasSuffix("...") ? String(word.dropLast()) : word
            let head = trimmed.prefix { $0 != "*" && $0 != "." && $0 != "…" }
            let tail = String(trimmed.reversed().prefix { $0 != "*" && $0 != "." && $0 != "…" }.reversed())
            if (head.count >= 3 && secret.hasPrefix(head)) || (tail.count >= 4 && secret.hasSuffix(tail)) {
                text = text.replacingOccurrences(of: trimmed, with: Self.replacement)
            }
        }
        return text
    }

    /// `error` with the key scrubbed from its message; errors that are not ``RuntimeError`` and mention
    /// the key become one.
    func scrub(_ error: any Error) -> any Error {
        guard secret != nil else { return error }
        if var runtime = error as? RuntimeError {
            runtime.message = scrub(runtime.message)
            return runtime
        }
        if error is CancellationError { return error }
        let text = "\(error)"
        let clean = scrub(text)
        return clean == text ? error : RuntimeError(.badResponse, clean, isTransient: true)
    }
}
