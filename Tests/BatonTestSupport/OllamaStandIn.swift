import BatonSpec
import Foundation
import Hummingbird
import NIOCore

/// A local stand-in for Ollama's native API (runtimes.md §1), served by Hummingbird on 127.0.0.1 at an
/// ephemeral port, with the behaviours a client can get wrong:
///
/// - `POST /api/chat` streams NDJSON (or one object with `"stream": false`); the answer is scripted
///   per model, or a JSON verdict / `{}` when `format` is set, or derived from the prompt. Metrics are
///   nanoseconds and left out when zero (`omitempty`), as Ollama does.
/// - Empty `messages` loads synchronously (after ``Settings/loadDelay``); with `keep_alive` 0 it
///   unloads *asynchronously*: the model stays in `/api/ps` for ``Settings/unloadLinger`` after the reply.
/// - A request whose `num_ctx` (default ``Settings/defaultNumCtx``) differs from the loaded runner's
///   reloads the model (counted in ``reloads``).
/// - `keep_alive` is a number of seconds or a Go duration string; `"300"` without a unit is a 400.
/// - Unknown model: 404 `{"error":"model 'x' not found"}`. A model larger than
///   ``Settings/memoryCapacity``: 500 with Ollama's out-of-memory text. A model that fits only without
///   the others evicts them (counted in ``evictions``), as Ollama's scheduler does.
/// - `/api/ps` lists names in the shortest display form (`tiny` for `tiny:latest`).
///
/// Every request is recorded (``requests``).
public final class OllamaStandIn: StoppableStandIn, @unchecked Sendable {
    /// An installed model.
    public struct Model: Sendable {
        /// `name:tag`; a name without a tag gets `:latest`.
        public var name: String
        /// Bytes on disk (`/api/tags` `size`).
        public var diskBytes: Int64
        /// Bytes resident once loaded, before the KV cache.
        public var memoryBytes: Int64
        /// Extra resident bytes per token of `num_ctx`.
        public var kvBytesPerToken: Int64
        /// Trained context length (`<arch>.context_length`); `num_ctx` is clamped to it.
        public var contextLength: Int
        /// Family and architecture, such as `llama`.
        public var family: String
        /// Parameter label, such as `1.2B`.
        public var parameterSize: String
        /// `general.parameter_count`.
        public var parameterCount: Int64
        /// Quantization label.
        public var quantization: String
        /// Scripted answer text, instead of one derived from the prompt.
        public var answer: String?
        /// A failure injected into every chat reply of this model.
        public var fault: Fault?

        /// Creates a model; sizes and metadata have small defaults.
        public init(
            _ name: String, diskBytes: Int64 = 800_000_000, memoryBytes: Int64 = 1_000_000_000, kvBytesPerToken: Int64 = 0,
            contextLength: Int = 8192, family: String = "llama", parameterSize: String = "1.2B",
            parameterCount: Int64 = 1_235_814_400, quantization: String = "Q4_K_M", answer: String? = nil, fault: Fault? = nil
        ) {
            self.name = OllamaStandIn.canonical(name)
            self.diskBytes = diskBytes
            self.memoryBytes = memoryBytes
            self.kvBytesPerToken = kvBytesPerToken
            self.contextLength = contextLength
            self.family = family
            self.parameterSize = parameterSize
            self.parameterCount = parameterCount
            self.quantization = quantization
            self.answer = answer
            self.fault = fault
        }
    }

    /// A failure of a chat reply (loads are not affected).
    public enum Fault: Sendable {
        /// Answer with this HTTP status and `{"error": message}` before streaming anything.
        case status(Int, message: String)
        /// Close the connection after this many tokens.
        case dropConnection(afterTokens: Int)
        /// End the body cleanly after this many tokens, without the `done: true` line.
        case endWithoutDone(afterTokens: Int)
        /// Write `{"error": message}` after this many tokens (HTTP status stays 200).
        case errorLine(afterTokens: Int, message: String)
    }

    /// Server-wide behaviour; change it at any time with ``configure(_:)``.
    public struct Settings: Sendable {
        /// Seconds a load takes.
        public var loadDelay: Double = 0
        /// Seconds an unloaded model stays in `/api/ps` after the unload reply.
        public var unloadLinger: Double = 0.3
        /// Bytes the loaded models may occupy together.
        public var memoryCapacity: Int64 = 64_000_000_000
        /// Seconds between streamed tokens.
        public var tokenDelay: Double = 0
        /// `num_ctx` when a request sends none (`OLLAMA_CONTEXT_LENGTH`).
        public var defaultNumCtx: Int = 4096
        /// What `/api/version` answers.
        public var version: String = "0.33.0"

        /// The defaults.
        public init() {}
    }

    /// One request as received.
    public struct RecordedRequest: Sendable {
        /// `GET` or `POST`.
        public var method: String
        /// The path, such as `/api/chat`.
        public var path: String
        /// The JSON body, when there was one that parsed.
        public var body: JSONValue?
        /// For `/api/ps`: the names listed in the answer.
        public var listed: [String]?

        /// The `model` field.
        public var model: String? { body?["model"]?.stringValue }
        /// The `options` object.
        public var options: JSONValue? { body?["options"] }
        /// The `keep_alive` field exactly as sent (number or string).
        public var keepAlive: JSONValue? { body?["keep_alive"] }
        /// `options.num_ctx`.
        public var numCtx: Int? {
            if case .number(let value)? = options?["num_ctx"] { return Int(value) }
            return nil
        }
        /// Whether this is a chat with no messages (a load or an unload).
        public var isEmptyChat: Bool {
            guard path == "/api/chat" else { return false }
            if case .array(let messages)? = body?["messages"] { return messages.isEmpty }
            return true
        }
    }

    /// A loaded model.
    struct Runner {
        var numCtx: Int
        var size: Int64
        var contextLength: Int
        /// nil: never expires (negative `keep_alive`).
        var expiresAt: Date?
        /// Set once an unload was asked for: when the runner disappears from `/api/ps`.
        var goneAt: Date?
    }

    private let lock = NSLock()
    private var installed: [String: Model]
    private var settings: Settings
    private var runners: [String: Runner] = [:]
    private var recorded: [RecordedRequest] = []
    private var reloadCount = 0
    private var loadCount = 0
    private var evictionCount = 0
    private let server = StandInServer()

    /// `http://127.0.0.1:PORT`, the port chosen by the system.
    public var baseURL: String { "http://127.0.0.1:\(server.port)" }

    private init(models: [Model], settings: Settings) {
        installed = Dictionary(models.map { ($0.name, $0) }, uniquingKeysWith: { $1 })
        self.settings = settings
    }

    // MARK: - Starting and stopping

    /// Starts a stand-in serving `models`.
    public static func start(models: [Model], settings: Settings = Settings()) async throws -> OllamaStandIn {
        let standIn = OllamaStandIn(models: models, settings: settings)
        try await standIn.server.start(standIn.router(), name: "the Ollama stand-in", logLabel: "ollama-stand-in")
        return standIn
    }

    /// Runs `body` with a started stand-in and stops it afterwards, even when `body` throws.
    public static func with<T>(
        models: [Model], settings: Settings = Settings(), _ body: (OllamaStandIn) async throws -> T
    ) async throws -> T {
        try await start(models: models, settings: settings).serving(body)
    }

    /// Stops the server (its port then refuses connections): a graceful shutdown, then cancellation after 5 s.
    public func stop() async { await server.stop() }

    // MARK: - What tests look at

    /// Every request so far, in order of arrival.
    public var requests: [RecordedRequest] { locked { recorded } }
    /// Reloads caused by a changed `num_ctx`.
    public var reloads: Int { locked { reloadCount } }
    /// Loads, reloads included.
    public var loads: Int { locked { loadCount } }
    /// Models evicted to make room for another.
    public var evictions: Int { locked { evictionCount } }
    /// The names `/api/ps` would list now (canonical `name:tag`).
    public var loadedNames: [String] {
        locked {
            purge()
            return runners.keys.sorted()
        }
    }

    /// Changes the settings.
    public func configure(_ change: (inout Settings) -> Void) {
        locked { change(&settings) }
    }

    /// Loads `model` with `numCtx` as if another client had (no request is recorded).
    public func preload(_ model: String, numCtx: Int? = nil) {
        locked {
            guard let installed = installed[Self.canonical(model)] else { return }
            let requested = numCtx ?? settings.defaultNumCtx
            let (context, size) = Self.footprint(installed, numCtx: requested)
            runners[installed.name] = Runner(numCtx: requested, size: size, contextLength: context, expiresAt: nil, goneAt: nil)
        }
    }

    // MARK: - Routes

    private func router() -> Router<BasicRequestContext> {
        let router = Router()
        router.get("/") { [self] request, _ in
            record(request, body: nil)
            return Self.text("Ollama is running")
        }
        router.get("/api/version") { [self] request, _ in
            record(request, body: nil)
            return Self.json(["version": locked { settings.version }])
        }
        router.get("/api/tags") { [self] request, _ in
            record(request, body: nil)
            return Self.json(["models": locked { installed.values.sorted { $0.name < $1.name }.map(Self.tagEntry) }])
        }
        router.get("/api/ps") { [self] request, _ in
            let entries = locked { () -> [[String: Any]] in
                purge()
                return runners.sorted { $0.key < $1.key }.map { name, runner in Self.psEntry(installed[name]!, runner) }
            }
            record(request, body: nil, listed: entries.compactMap { $0["name"] as? String })
            return Self.json(["models": entries])
        }
        router.post("/api/show") { [self] request, _ in
            var request = request
            let body = try? await Self.body(&request)
            record(request, body: body)
            guard let name = body?["model"]?.stringValue, !name.isEmpty else { return Self.error(400, "model is required") }
            guard let model = locked({ installed[Self.canonical(name)] }) else { return Self.error(404, "model '\(name)' not found") }
            return Self.json(Self.showReply(model))
        }
        router.post("/api/chat") { [self] request, _ in
            var request = request
            let body = try? await Self.body(&request)
            record(request, body: body)
            return await chat(body)
        }
        return router
    }

    private func chat(_ body: JSONValue?) async -> Response {
        guard let body, case .object = body else { return Self.error(400, "invalid JSON body") }
        guard let name = body["model"]?.stringValue, !name.isEmpty else { return Self.error(400, "model is required") }
        guard let model = locked({ installed[Self.canonical(name)] }) else { return Self.error(404, "model '\(name)' not found") }
        let keepAlive: Double?
        switch Self.keepAlive(body["keep_alive"]) {
        case .success(let seconds): keepAlive = seconds
        case .failure(let error): return Self.error(400, error.message)
        }
        var messages: [JSONValue] = []
        if case .array(let values)? = body["messages"] { messages = values }

        if messages.isEmpty, keepAlive == 0 {
            markGone(model.name)  // asynchronous: listed in /api/ps for `unloadLinger` more
            return Self.json(Self.emptyReply(name, reason: "unload"))
        }

        let numCtx: Int
        if case .number(let value)? = body["options"]?["num_ctx"] { numCtx = Int(value) } else { numCtx = locked { settings.defaultNumCtx } }
        let loadNanos: Int64
        do {
            loadNanos = try await schedule(model, numCtx: numCtx, keepAlive: keepAlive)
        } catch let error as StandInError {
            return Self.error(500, error.message)
        } catch {
            return Self.error(500, "\(error)")
        }
        if messages.isEmpty { return Self.json(Self.emptyReply(name, reason: "load")) }
        if case .status(let status, let message)? = model.fault { return Self.error(status, message) }

        // The answer, its tokens and the metrics.
        let prompt = messages.compactMap { $0["content"]?.stringValue }.joined(separator: " ")
        let text = model.answer ?? StandInReply.answer(prompt: messages.last?["content"]?.stringValue ?? "", schema: body["format"])
        var tokens = StandInReply.tokens(text, json: body["format"] != nil && model.answer == nil)
        var reason = "stop"
        if case .number(let limit)? = body["options"]?["num_predict"], limit >= 0, tokens.count > Int(limit) {
            tokens = Array(tokens.prefix(Int(limit)))
            reason = "length"
        }
        let promptCount = StandInReply.wordCount(prompt)
        var final: [String: Any] = [
            "model": name, "created_at": Self.now(), "message": ["role": "assistant", "content": ""], "done": true,
            "done_reason": reason,
        ]
        let promptNanos = Int64(promptCount) * 1_000_000
        let evalNanos = Int64(tokens.count) * 2_000_000
        for (key, value) in [
            ("load_duration", loadNanos), ("prompt_eval_count", Int64(promptCount)), ("prompt_eval_duration", promptNanos),
            ("eval_count", Int64(tokens.count)), ("eval_duration", evalNanos), ("total_duration", loadNanos + promptNanos + evalNanos),
        ] where value != 0 {
            final[key] = value
        }
        let unloadAfter = keepAlive == 0
        if body["stream"] == .bool(false) {
            final["message"] = ["role": "assistant", "content": tokens.joined()]
            if unloadAfter { markGone(model.name) }
            return Self.json(final)
        }
        let delay = locked { settings.tokenDelay }
        let finalLine = Self.line(final)
        let fault = model.fault
        let streamed = tokens
        return Response(
            status: .ok, headers: [.contentType: "application/x-ndjson"],
            body: ResponseBody { [self] writer in
                for (index, token) in streamed.enumerated() {
                    switch fault {
                    case .dropConnection(let after) where index == after: throw StandInError(message: "connection dropped on purpose")
                    case .endWithoutDone(let after) where index == after: try await writer.finish(nil); return
                    case .errorLine(let after, let message) where index == after:
                        try await writer.write(Self.line(["error": message]))
                        try await writer.finish(nil)
                        return
                    default: break
                    }
                    if index > 0, delay > 0 { try await Task.sleep(for: .seconds(delay)) }
                    let chunk: [String: Any] = [
                        "model": name, "created_at": Self.now(), "message": ["role": "assistant", "content": token], "done": false,
                    ]
                    try await writer.write(Self.line(chunk))
                }
                switch fault {
                case .dropConnection: throw StandInError(message: "connection dropped on purpose")
                case .endWithoutDone: try await writer.finish(nil); return
                case .errorLine(_, let message):
                    try await writer.write(Self.line(["error": message]))
                    try await writer.finish(nil)
                    return
                case .status, nil: break
                }
                try await writer.write(finalLine)
                try await writer.finish(nil)
                if unloadAfter { markGone(model.name) }
            })
    }

    /// Makes `model` resident with `numCtx` and returns the load time in nanoseconds (0 when it already was).
    private func schedule(_ model: Model, numCtx: Int, keepAlive: Double?) async throws -> Int64 {
        let started = Date()
        while true {
            enum Next { case ready, wait(Double), load(Runner) }
            let next = try locked { () throws -> Next in
                purge()
                // Ollama keeps the previous keep-alive when a request has none (5 minutes for a new runner).
                func expiry(previous: Date?, isNew: Bool) -> Date? {
                    guard let keepAlive else { return isNew ? Date().addingTimeInterval(300) : previous }
                    return keepAlive <= 0 ? nil : Date().addingTimeInterval(keepAlive)
                }
                if let runner = runners[model.name], runner.goneAt == nil {
                    if runner.numCtx == numCtx {
                        runners[model.name]?.expiresAt = expiry(previous: runner.expiresAt, isNew: false)
                        return .ready
                    }
                    reloadCount += 1  // Ollama's needsReload: a load-time option changed
                    runners[model.name] = nil
                }
                let (context, size) = Self.footprint(model, numCtx: numCtx)
                if size > settings.memoryCapacity {
                    throw StandInError(
                        message: "model requires more system memory (\(Self.gib(size))) than is available (\(Self.gib(settings.memoryCapacity)))")
                }
                // A runner still unloading holds its memory (and its model) until it is gone: wait for it.
                let total = runners.values.map(\.size).reduce(size, +)
                if runners[model.name] != nil || total > settings.memoryCapacity,
                    let gone = runners.values.compactMap(\.goneAt).min()
                {
                    return .wait(max(0.01, gone.timeIntervalSinceNow))
                }
                // Still too big: evict loaded models, as Ollama's scheduler does.
                while runners.values.map(\.size).reduce(size, +) > settings.memoryCapacity, let victim = runners.keys.sorted().first {
                    runners[victim] = nil
                    evictionCount += 1
                }
                return .load(
                    Runner(
                        numCtx: numCtx, size: size, contextLength: context, expiresAt: expiry(previous: nil, isNew: true), goneAt: nil))
            }
            switch next {
            case .ready:
                return 0
            case .wait(let seconds):
                try await Task.sleep(for: .seconds(seconds))
            case .load(let runner):
                let delay = locked { settings.loadDelay }
                if delay > 0 { try await Task.sleep(for: .seconds(delay)) }
                locked {
                    runners[model.name] = runner
                    loadCount += 1
                }
                return max(1, Int64(Date().timeIntervalSince(started) * 1e9))
            }
        }
    }

    private func markGone(_ name: String) {
        locked {
            if runners[name]?.goneAt == nil { runners[name]?.goneAt = Date().addingTimeInterval(settings.unloadLinger) }
        }
    }

    /// Drops runners whose unload finished or whose keep-alive ran out. Call with the lock held.
    private func purge() {
        let now = Date()
        for (name, runner) in runners {
            if let gone = runner.goneAt, gone <= now {
                runners[name] = nil
            } else if runner.goneAt == nil, let expires = runner.expiresAt, expires <= now {
                runners[name]?.goneAt = now.addingTimeInterval(settings.unloadLinger)
            }
        }
    }

    // MARK: - Helpers

    private func locked<T>(_ body: () throws -> T) rethrows -> T {
        lock.lock()
        defer { lock.unlock() }
        return try body()
    }

    private func record(_ request: Request, body: JSONValue?, listed: [String]? = nil) {
        let entry = RecordedRequest(method: request.method.rawValue, path: request.uri.path, body: body, listed: listed)
        locked { recorded.append(entry) }
    }

    private static func body(_ request: inout Request) async throws -> JSONValue {
        let buffer = try await request.collectBody(upTo: 16 * 1024 * 1024)
        return try JSONDecoder().decode(JSONValue.self, from: Data(buffer.readableBytesView))
    }

    /// `name:tag` with `:latest` added when there is no tag.
    static func canonical(_ name: String) -> String {
        (name.split(separator: "/").last ?? "").contains(":") ? name : name + ":latest"
    }

    /// The shortest display form `/api/ps` uses: without `:latest`.
    static func display(_ name: String) -> String {
        name.hasSuffix(":latest") ? String(name.dropLast(":latest".count)) : name
    }

    /// `keep_alive` in seconds (nil when absent), per `api.Duration`: a number is seconds, a string a Go duration.
    static func keepAlive(_ value: JSONValue?) -> Result<Double?, StandInError> {
        switch value {
        case nil, .null?: return .success(nil)
        case .number(let seconds)?: return .success(seconds)
        case .string(let text)?:
            guard let seconds = goDuration(text) else {
                let missingUnit = !text.isEmpty && Double(text) != nil
                return .failure(StandInError(message: missingUnit ? "time: missing unit in duration \"\(text)\"" : "time: invalid duration \"\(text)\""))
            }
            return .success(seconds)
        default: return .failure(StandInError(message: "Unsupported type: '\(String(describing: value!))'"))
        }
    }

    /// Go's `time.ParseDuration` in seconds: `5m`, `1h30m`, `-1m`, `250ms`, and `0` (the only unit-less value).
    public static func goDuration(_ text: String) -> Double? {
        var rest = Substring(text)
        var sign = 1.0
        if let first = rest.first, first == "-" || first == "+" {
            sign = first == "-" ? -1 : 1
            rest = rest.dropFirst()
        }
        if rest == "0" { return 0 }
        guard !rest.isEmpty else { return nil }
        let units: [(String, Double)] = [("ns", 1e-9), ("us", 1e-6), ("µs", 1e-6), ("ms", 1e-3), ("s", 1), ("m", 60), ("h", 3600)]
        var total = 0.0
        while !rest.isEmpty {
            let number = rest.prefix { $0.isASCII && ($0.isNumber || $0 == ".") }
            guard !number.isEmpty, let value = Double(number) else { return nil }
            rest = rest.dropFirst(number.count)
            // "ms" is listed before "m", so "5ms" is not read as minutes.
            guard let (unit, factor) = units.first(where: { rest.hasPrefix($0.0) }) else { return nil }
            rest = rest.dropFirst(unit.count)
            total += value * factor
        }
        return sign * total
    }

    /// The context allocated (`num_ctx` clamped to the trained context) and the bytes resident with it.
    static func footprint(_ model: Model, numCtx: Int) -> (context: Int, size: Int64) {
        let context = min(numCtx, model.contextLength)
        return (context, model.memoryBytes + model.kvBytesPerToken * Int64(context))
    }

    static func details(_ model: Model) -> [String: Any] {
        [
            "parent_model": "", "format": "gguf", "family": model.family, "families": [model.family],
            "parameter_size": model.parameterSize, "quantization_level": model.quantization,
        ]
    }

    static func digest(_ model: Model) -> String {
        String(repeating: String(format: "%02x", model.name.utf8.reduce(0) { ($0 + Int($1)) % 256 }), count: 32)
    }

    static func tagEntry(_ model: Model) -> [String: Any] {
        [
            "name": model.name, "model": model.name, "modified_at": "2026-11-01T10:00:00Z", "size": model.diskBytes,
            "digest": digest(model), "details": details(model),
        ]
    }

    static func psEntry(_ model: Model, _ runner: Runner) -> [String: Any] {
        let expires = runner.expiresAt.map { ISO8601DateFormatter().string(from: $0) } ?? "2318-08-22T10:00:00Z"
        return [
            "name": display(model.name), "model": display(model.name), "size": runner.size, "size_vram": 0,
            "digest": digest(model), "details": details(model), "expires_at": expires, "context_length": runner.contextLength,
        ]
    }

    static func showReply(_ model: Model) -> [String: Any] {
        let arch = model.family
        return [
            "modelfile": "FROM \(model.name)\n", "parameters": "stop \"<|eot_id|>\"", "template": "{{ .Prompt }}",
            "details": details(model),
            "model_info": [
                "general.architecture": arch, "general.parameter_count": model.parameterCount,
                "\(arch).context_length": model.contextLength, "\(arch).block_count": 16,
                "\(arch).attention.head_count_kv": 8, "\(arch).embedding_length": 2048, "\(arch).attention.head_count": 32,
            ] as [String: Any],
            "capabilities": ["completion"], "modified_at": "2026-11-01T10:00:00Z",
        ]
    }

    static func emptyReply(_ name: String, reason: String) -> [String: Any] {
        ["model": name, "created_at": now(), "message": ["role": "assistant", "content": ""], "done": true, "done_reason": reason]
    }

    static func now() -> String { ISO8601DateFormatter().string(from: Date()) }

    static func gib(_ bytes: Int64) -> String { String(format: "%.1f GiB", Double(bytes) / 1_073_741_824) }

    static func line(_ object: [String: Any]) -> ByteBuffer {
        var data = StandInReply.encode(object)
        data.append(0x0A)
        return ByteBuffer(bytes: data)
    }

    static func json(_ object: [String: Any], status: Int = 200) -> Response {
        Response(
            status: .init(code: status), headers: [.contentType: "application/json; charset=utf-8"],
            body: .init(byteBuffer: ByteBuffer(bytes: StandInReply.encode(object))))
    }

    static func error(_ status: Int, _ message: String) -> Response { json(["error": message], status: status) }

    static func text(_ text: String) -> Response {
        Response(status: .ok, headers: [.contentType: "text/plain; charset=utf-8"], body: .init(byteBuffer: ByteBuffer(string: text)))
    }
}

/// A stand-in failure (bind, or an injected error).
public struct StandInError: Error, CustomStringConvertible {
    /// What happened.
    public var message: String
    public var description: String { message }
}
