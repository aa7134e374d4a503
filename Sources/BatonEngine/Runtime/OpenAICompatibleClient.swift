import BatonSpec
import Foundation

/// Streams chat completions from an OpenAI-compatible endpoint (`POST …/chat/completions` with
/// server-sent events): llama-server's `/v1/chat/completions`, OpenAI, and compatible clouds.
public struct OpenAICompatibleClient: LLMRuntime {
    /// The full URL of the chat completions endpoint.
    public let chatURL: String
    /// Extra headers (an `Authorization` header for clouds).
    public let headers: [(String, String)]
    /// Seconds allowed to connect and get the response head (a cold model load happens before the head).
    public let connectTimeout: Double
    private let transport: any HTTPTransport

    /// Creates a client for the endpoint at `chatURL`.
    public init(chatURL: String, headers: [(String, String)] = [], connectTimeout: Double = 300, transport: any HTTPTransport = AsyncHTTPTransport()) {
        self.chatURL = chatURL
        self.headers = headers
        self.connectTimeout = connectTimeout
        self.transport = transport
    }

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
        if let value = settings.topK { body["top_k"] = value }
        if let value = settings.seed { body["seed"] = value }
        if let value = settings.maxTokens { body["max_tokens"] = value }
        if let value = settings.stop { body["stop"] = value }
        if let schema = request.responseSchema {
            body["response_format"] = [
                "type": "json_schema", "json_schema": ["name": "output", "schema": Self.foundation(schema), "strict": true],
            ]
        }
        return body
    }

    public func generate(_ request: GenerationRequest) -> AsyncThrowingStream<GenerationEvent, any Error> {
        let transport = self.transport
        let http = HTTPRequest.json(chatURL, body(request), headers: headers)
        let timeout = connectTimeout
        let url = chatURL
        return AsyncThrowingStream { continuation in
            let task = Task {
                do {
                    let response = try await transport.send(http, connectTimeout: timeout)
                    guard response.status == 200 else {
                        throw Self.httpError(response.status, body: try? await response.collect(limit: 65536), url: url, model: request.model)
                    }
                    var finished = false
                    var usage = GenerationUsage()
                    var sawFinish = false
                    for try await line in response.lines {
                        guard line.hasPrefix("data:") else { continue }  // comments (": ping"), event names, blank lines
                        let payload = line.dropFirst(5).trimmingCharacters(in: .whitespaces)
                        if payload == "[DONE]" {
                            finished = true
                            break
                        }
                        guard let object = try? JSONSerialization.jsonObject(with: Data(payload.utf8)) as? [String: Any] else {
                            throw RuntimeError(.badResponse, "\(url) sent a stream event that is not JSON", isTransient: true)
                        }
                        if let error = object["error"] {
                            throw RuntimeError(.badResponse, "\(url) failed while generating with '\(request.model)': \(Self.message(error))", isTransient: true)
                        }
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
                    guard finished || sawFinish else {
                        throw RuntimeError(.badResponse, "\(url) ended the stream of '\(request.model)' before it was complete", isTransient: true)
                    }
                    continuation.yield(.finished(usage))
                    continuation.finish()
                } catch {
                    continuation.finish(throwing: error)
                }
            }
            continuation.onTermination = { _ in task.cancel() }
        }
    }

    /// Maps an HTTP error status and its OpenAI-style body to a runtime error.
    static func httpError(_ status: Int, body: Data?, url: String, model: String) -> RuntimeError {
        let object = body.flatMap { try? JSONSerialization.jsonObject(with: $0) as? [String: Any] }
        let detail = object.map { message($0["error"] ?? $0) } ?? body.map { String(decoding: $0.prefix(300), as: UTF8.self) } ?? ""
        switch status {
        case 404:
            return RuntimeError(.modelNotFound, "\(url) does not have the model '\(model)' (\(detail))", isTransient: false)
        case 408, 429, 500...599:
            if detail.contains("failed to load") {
                return RuntimeError(.outOfMemory, "\(url) could not load '\(model)': \(detail)", isTransient: false)
            }
            return RuntimeError(.httpStatus, "\(url) answered \(status) for '\(model)': \(detail)", isTransient: true)
        default:
            return RuntimeError(.httpStatus, "\(url) answered \(status) for '\(model)': \(detail)", isTransient: false)
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
