import BatonSpec
import Foundation

/// Ollama's native API: chat streamed as NDJSON from `POST /api/chat`, models loaded and unloaded with
/// empty chat requests and confirmed by polling `GET /api/ps`, and discovery (`/api/version`,
/// `/api/tags`, `/api/show`).
///
/// Baton decides what is loaded, so every request carries `keep_alive: -1` (stay loaded until Baton
/// unloads) and the stage's options, load-time ones (`num_ctx`) included, exactly as the load sent
/// them: Ollama reloads a model whose load-time options change.
public struct OllamaClient: LLMRuntime, ModelManaging {
    /// The server's base URL (`http://127.0.0.1:11434`), without a trailing slash.
    public let baseURL: String
    /// Seconds a load may take, and the deadline for the head of a chat reply (a cold load and the
    /// prompt's evaluation happen before Ollama sends it).
    public let loadTimeout: Double
    /// Seconds an unload may take to be confirmed by `GET /api/ps`.
    public let unloadTimeout: Double
    /// Seconds between polls of `GET /api/ps`.
    public let pollInterval: Double
    /// Seconds allowed for short calls (`/api/ps`, `/api/tags`, `/api/show`, `/api/version`) to answer.
    public let connectTimeout: Double
    private let transport: any HTTPTransport
    private let spellings = NameBook()

    /// Creates a client for the server at `baseURL`.
    public init(
        baseURL: String, transport: any HTTPTransport = AsyncHTTPTransport(), loadTimeout: Double = 300,
        unloadTimeout: Double = 30, pollInterval: Double = 0.25, connectTimeout: Double = 10
    ) {
        var base = baseURL
        while base.hasSuffix("/") { base.removeLast() }
        self.baseURL = base
        self.transport = transport
        self.loadTimeout = loadTimeout
        self.unloadTimeout = unloadTimeout
        self.pollInterval = pollInterval
        self.connectTimeout = connectTimeout
    }

    // MARK: - Names

    /// `name:tag` with the implicit `:latest` written out, so `llama3.2` and `llama3.2:latest` compare equal.
    public static func canonicalName(_ name: String) -> String {
        let lastComponent = name.split(separator: "/", omittingEmptySubsequences: false).last ?? Substring(name)
        return lastComponent.contains(":") ? name : name + ":latest"
    }

    /// Whether two names denote the same Ollama model.
    public static func sameModel(_ a: String, _ b: String) -> Bool {
        canonicalName(a) == canonicalName(b)
    }

    // MARK: - Request bodies

    /// The `options` object for `settings`: sampling options and the load-time `num_ctx`, identical for
    /// the load and every chat of the stage so Ollama never reloads.
    static func options(_ settings: StageSettings) -> [String: Any] {
        var options: [String: Any] = [:]
        if let value = settings.temperature { options["temperature"] = value }
        if let value = settings.topP { options["top_p"] = value }
        if let value = settings.topK { options["top_k"] = value }
        if let value = settings.seed { options["seed"] = value }
        if let value = settings.maxTokens { options["num_predict"] = value }
        if let value = settings.stop, !value.isEmpty { options["stop"] = value }
        if let value = settings.numCtx { options["num_ctx"] = value }
        return options
    }

    /// The `POST /api/chat` body of a generation.
    func chatBody(_ request: GenerationRequest) -> [String: Any] {
        var messages: [[String: String]] = []
        if let system = request.system, !system.isEmpty { messages.append(["role": "system", "content": system]) }
        messages.append(["role": "user", "content": request.prompt])
        var body: [String: Any] = ["model": request.model, "messages": messages, "stream": true, "keep_alive": -1]
        let options = Self.options(request.settings)
        if !options.isEmpty { body["options"] = options }
        if let schema = request.responseSchema { body["format"] = OpenAICompatibleClient.foundation(schema) }
        return body
    }

    // MARK: - Generation

    /// Streams a chat (`POST /api/chat`, NDJSON): tokens as they arrive, then token counts and timings.
    public func generate(_ request: GenerationRequest) -> AsyncThrowingStream<GenerationEvent, any Error> {
        spellings.remember(request.model)
        let http = HTTPRequest.json(baseURL + "/api/chat", chatBody(request))
        // The reply's head comes after a cold load and the prompt's evaluation; the stage timeout bounds the rest.
        let headDeadline = max(loadTimeout, request.settings.timeout ?? 0)
        return AsyncThrowingStream { continuation in
            let task = Task {
                do {
                    let response = try await send(http, timeout: headDeadline, model: request.model, doing: "generating with")
                    try await stream(response, model: request.model, into: continuation)
                    continuation.finish()
                } catch {
                    continuation.finish(throwing: error)
                }
            }
            continuation.onTermination = { _ in task.cancel() }
        }
    }

    /// One NDJSON line of a chat reply; every metric is optional (`omitempty`).
    private struct ChatLine: Decodable {
        struct Message: Decodable { var content: String? }
        var message: Message?
        var done: Bool?
        var error: String?
        var totalDuration: Int64?
        var loadDuration: Int64?
        var promptEvalCount: Int?
        var promptEvalDuration: Int64?
        var evalCount: Int?
        var evalDuration: Int64?
    }

    private func stream(
        _ response: HTTPResponse, model: String, into continuation: AsyncThrowingStream<GenerationEvent, any Error>.Continuation
    ) async throws {
        guard response.status == 200 else {
            throw failure(status: response.status, body: try? await response.collect(limit: 65536), model: model, doing: "generating with")
        }
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        var lines = response.lines.makeAsyncIterator()
        while true {
            let next: String?
            do {
                next = try await lines.next()
            } catch let error as RuntimeError {
                throw RuntimeError(
                    error.code, "Ollama at \(baseURL) broke off the reply of model '\(model)': \(error.message)", isTransient: error.isTransient)
            }
            guard let line = next else { break }
            if line.allSatisfy(\.isWhitespace) { continue }
            guard let chunk = try? decoder.decode(ChatLine.self, from: Data(line.utf8)) else {
                throw RuntimeError(
                    .badResponse, "Ollama at \(baseURL) sent a line that is not JSON while generating with model '\(model)'",
                    isTransient: true)
            }
            if let error = chunk.error {
                throw streamFailure(error, model: model)
            }
            if let text = chunk.message?.content, !text.isEmpty {
                continuation.yield(.token(text))
            }
            if chunk.done == true {
                continuation.yield(.finished(Self.usage(chunk)))
                return
            }
        }
        try Task.checkCancellation()
        throw RuntimeError(
            .badResponse, "Ollama at \(baseURL) ended the reply of model '\(model)' before its final message (no \"done\": true)",
            isTransient: true)
    }

    /// Token counts and timings (nanoseconds to milliseconds) of a final chat line; absent metrics stay absent.
    private static func usage(_ line: ChatLine) -> GenerationUsage {
        var timings: [String: Double] = [:]
        for (name, nanoseconds) in [
            ("load", line.loadDuration), ("prompt", line.promptEvalDuration), ("generation", line.evalDuration),
            ("total", line.totalDuration),
        ] {
            if let nanoseconds { timings[name] = Double(nanoseconds) / 1_000_000 }
        }
        return GenerationUsage(promptTokens: line.promptEvalCount, outputTokens: line.evalCount, runtimeTimings: timings)
    }

    // MARK: - Loading and unloading

    /// A model loaded on the server (`GET /api/ps`).
    public struct LoadedModel: Sendable, Hashable {
        /// The name as the server lists it (it may leave out `:latest`).
        public var name: String
        /// Bytes it occupies: weights, KV cache and compute graph.
        public var size: Int64?
        /// The part of `size` in GPU memory (`0`: CPU only).
        public var sizeVRAM: Int64?
        /// The context window allocated, in tokens.
        public var contextLength: Int?
        /// When the server will unload it by itself (far in the future for `keep_alive: -1`).
        public var expiresAt: String?
    }

    private struct PSReply: Decodable {
        struct Entry: Decodable {
            var name: String?
            var model: String?
            var size: Int64?
            var sizeVram: Int64?
            var contextLength: Int?
            var expiresAt: String?
        }
        var models: [Entry]?
    }

    /// The models loaded now, as `GET /api/ps` lists them.
    public func loadedModels() async throws -> [LoadedModel] {
        let reply: PSReply = try await getJSON("/api/ps", doing: "listing the loaded models")
        return (reply.models ?? []).compactMap { entry in
            guard let name = entry.name ?? entry.model else { return nil }
            return LoadedModel(
                name: name, size: entry.size, sizeVRAM: entry.sizeVram, contextLength: entry.contextLength, expiresAt: entry.expiresAt)
        }
    }

    /// The loaded models, each named as Baton last asked for it (`llama3.2` and `llama3.2:latest` are one
    /// model), else as the server lists it.
    public func residentModels() async throws -> [ResidentModel] {
        try await loadedModels().map { ResidentModel(name: spellings.spelling(of: $0.name), bytes: $0.size) }
    }

    /// Loads `model` with an empty chat (synchronous in Ollama) and waits until `/api/ps` lists it.
    public func load(_ model: String, settings: StageSettings) async throws -> LoadReport {
        spellings.remember(model)
        let started = ContinuousClock.now
        var body: [String: Any] = ["model": model, "messages": [Any](), "keep_alive": -1]
        let options = Self.options(settings)
        if !options.isEmpty { body["options"] = options }
        // Synchronous in Ollama: the reply comes once the model is loaded (or failed to load).
        let response = try await send(.json(baseURL + "/api/chat", body), timeout: loadTimeout, model: model, doing: "loading")
        let data = try await response.collect(limit: 1024 * 1024)
        guard response.status == 200 else { throw failure(status: response.status, body: data, model: model, doing: "loading") }
        if let error = Self.errorText(data) { throw streamFailure(error, model: model) }
        let entry = try await confirm(
            by: started + .seconds(loadTimeout), every: pollInterval,
            else: {
                RuntimeError(
                    .timeout,
                    "Ollama at \(baseURL) answered the load of model '\(model)' but did not list it in /api/ps within \(Self.duration(loadTimeout))",
                    isTransient: true)
            }
        ) { try await loadedModels().first(where: { Self.sameModel($0.name, model) }) }
        return LoadReport(seconds: secondsSince(started), measuredBytes: entry.size)
    }

    /// Asks Ollama to unload `model` (asynchronous in Ollama) and waits until `/api/ps` no longer lists it.
    public func unload(_ model: String) async throws {
        let started = ContinuousClock.now
        let body: [String: Any] = ["model": model, "messages": [Any](), "keep_alive": 0]
        // Asynchronous in Ollama: the reply only marks the runner expired; /api/ps says when it is gone.
        let response = try await send(.json(baseURL + "/api/chat", body), timeout: unloadTimeout, model: model, doing: "unloading")
        let data = try await response.collect(limit: 1024 * 1024)
        guard response.status == 200 else { throw failure(status: response.status, body: data, model: model, doing: "unloading") }
        try await confirm(
            by: started + .seconds(unloadTimeout), every: pollInterval,
            else: {
                RuntimeError(
                    .timeout,
                    "Ollama at \(baseURL) accepted the unload of model '\(model)' but still listed it in /api/ps after \(Self.duration(unloadTimeout)); the unload was not confirmed",
                    isTransient: true)
            }
        ) { try await loadedModels().contains(where: { Self.sameModel($0.name, model) }) ? nil : () }
    }

    // MARK: - HTTP and errors

    /// Sends `request`, naming the server and the model when it cannot be reached.
    func send(_ request: HTTPRequest, timeout: Double, model: String?, doing action: String) async throws -> HTTPResponse {
        do {
            return try await transport.send(request, connectTimeout: timeout)
        } catch let error as RuntimeError {
            let what = model.map { "\(action) model '\($0)'" } ?? action
            throw RuntimeError(error.code, "Ollama at \(baseURL) failed while \(what): \(error.message)", isTransient: error.isTransient)
        }
    }

    /// `GET path`, decoded (snake_case keys).
    func getJSON<Reply: Decodable>(_ path: String, doing action: String) async throws -> Reply {
        let response = try await send(HTTPRequest(method: "GET", url: baseURL + path), timeout: connectTimeout, model: nil, doing: action)
        let data = try await response.collect()
        guard response.status == 200 else { throw failure(status: response.status, body: data, model: nil, doing: action) }
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        guard let reply = try? decoder.decode(Reply.self, from: data) else {
            throw RuntimeError(.badResponse, "Ollama at \(baseURL) answered \(path) with something that is not its JSON", isTransient: false)
        }
        return reply
    }

    /// The `error` text of an Ollama error body, if it is one.
    static func errorText(_ body: Data?) -> String? {
        guard let body, let object = try? JSONSerialization.jsonObject(with: body) as? [String: Any] else { return nil }
        return object["error"] as? String
    }

    /// Substrings of Ollama's out-of-memory errors (runtimes.md §1.9, `llm/status.go`).
    static let memoryErrors = [
        "requires more system memory", "unable to load full model on gpu", "out of memory", "out of device memory",
        "cudamalloc failed", "failed to allocate", "insufficient memory", "not enough memory",
    ]

    /// Whether an error text means the model did not fit in memory.
    static func isOutOfMemory(_ text: String) -> Bool {
        let lowered = text.lowercased()
        return memoryErrors.contains { lowered.contains($0) }
    }

    /// The error for an HTTP error status; the server's own `error` text is quoted, never the request.
    func failure(status: Int, body: Data?, model: String?, doing action: String) -> RuntimeError {
        let text = Self.errorText(body) ?? body.map { String(decoding: $0.prefix(300), as: UTF8.self) } ?? ""
        let said = text.isEmpty ? "it answered HTTP \(status)" : "it answered HTTP \(status): \(text.prefix(300))"
        let what = model.map { "\(action) model '\($0)'" } ?? action
        switch status {
        case 404 where model != nil:
            let name = model ?? ""
            return RuntimeError(
                .modelNotFound,
                "Ollama at \(baseURL) does not have model '\(name)' (\(said)); run `ollama pull \(name)` on that machine or fix the model name",
                isTransient: false)
        case 500 where Self.isOutOfMemory(text):
            return RuntimeError(
                .outOfMemory,
                "Ollama at \(baseURL) could not load model '\(model ?? "?")' because it does not fit in memory (\(said)); choose a smaller model or num_ctx, or lower what else is loaded",
                isTransient: false)
        case 408, 429, 500...599:
            return RuntimeError(.httpStatus, "Ollama at \(baseURL) failed while \(what) (\(said))", isTransient: true)
        default:
            return RuntimeError(.httpStatus, "Ollama at \(baseURL) refused \(what) (\(said))", isTransient: false)
        }
    }

    /// The error for an `{"error": ...}` line after the reply started (status 200).
    private func streamFailure(_ text: String, model: String) -> RuntimeError {
        if Self.isOutOfMemory(text) {
            return RuntimeError(
                .outOfMemory, "Ollama at \(baseURL) ran out of memory with model '\(model)': \(text.prefix(300))", isTransient: false)
        }
        return RuntimeError(
            .badResponse, "Ollama at \(baseURL) reported an error with model '\(model)' after it started answering: \(text.prefix(300))",
            isTransient: true)
    }

    private static func duration(_ seconds: Double) -> String {
        seconds == seconds.rounded() ? "\(Int(seconds))s" : String(format: "%.2fs", seconds)
    }
}

/// The spelling Baton used for each model (`llama3.2` or `llama3.2:latest`), so resident models are
/// reported under the name the pipeline uses whichever form the server lists.
private final class NameBook: @unchecked Sendable {
    private let lock = NSLock()
    private var spellings: [String: String] = [:]

    func remember(_ name: String) {
        lock.lock()
        defer { lock.unlock() }
        spellings[OllamaClient.canonicalName(name)] = name
    }

    func spelling(of listed: String) -> String {
        lock.lock()
        defer { lock.unlock() }
        return spellings[OllamaClient.canonicalName(listed)] ?? listed
    }
}
