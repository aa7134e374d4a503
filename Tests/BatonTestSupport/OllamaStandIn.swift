import BatonEngine
import BatonSpec
import Foundation
import Hummingbird
import NIOCore

/// A local stand-in for Ollama's native API, following Ollama v0.33.0-rc2 (`ollama/ollama` at `fb30760`;
/// every file:line below is at that commit), served by Hummingbird on 127.0.0.1 at an ephemeral port. What
/// it does, and the upstream source each behaviour follows:
///
/// - `POST /api/chat` streams NDJSON (or one object with `"stream": false`, `routes.go:2387-2435`); the
///   answer is scripted per model, or a JSON verdict / `{}` when `format` is set, or derived from the prompt.
///   Metrics are nanoseconds and left out when zero (`omitempty`, `api/types.go:557-564`), except
///   `load_duration`, which is measured on every reply and so never zero (`routes.go:2804, 3021`).
///   Nothing, not even the head, is sent before the first NDJSON object is ready (`routes.go:2097-2143`):
///   ``Settings/promptDelay`` stands for the prompt's evaluation.
/// - Names are looked up case-insensitively, with the default host and namespace dropped, and answered
///   under the installed spelling (`getExistingName`, `routes.go:1222-1245`; `types/model/name.go`).
/// - One runner per weights file (`server/sched.go:110-127`): an alias (``Model/init(_:aliasOf:)``, same
///   manifest digest) or a derived model (``Model/init(_:derivedFrom:system:)``, its own digest, same
///   weights) reuses a loaded runner whose options match (`sched.go:197-203, 475-492`), and `/api/ps` lists
///   the name that created it (`routes.go:2276`), always with its tag (`DisplayShortest`, `name.go:244-248`).
/// - Empty `messages` loads synchronously (after ``Settings/loadDelay``) and answers `done_reason: "load"`
///   once the runner is loaded (`routes.go:2634-2654`, `sched.go:727, 751`); with `keep_alive` 0 it unloads
///   *asynchronously*: the runner stays in `/api/ps`, `expires_at` set to now (`sched.go:1713-1731`), until
///   its requests end and its process exits (``Settings/unloadLinger``, `sched.go:414-467`).
/// - A request whose `num_ctx`, clamped to the trained context, differs from the runner's reloads the model
///   (counted in ``reloads``); two requests without `num_ctx` never do (`needsReload`, `sched.go:1381-1428`).
///   Without `num_ctx` the context is ``Settings/defaultNumCtx`` (Ollama's default below 23 GiB of VRAM,
///   `routes.go:2048-2058`, `envconfig/config.go:230, 336`).
/// - A thinking model (``Model/thinking``) lists the `thinking` capability and thinks unless `think` is
///   `false` (`routes.go:2615-2620`); its thinking streams in `message.thinking` (`api/types.go:202`) and
///   counts toward `num_predict`. `think: true` on another model is a 400 (`routes.go:2622-2630`).
/// - A prompt longer than the context is cut as Ollama cuts it: the first `num_keep` (4) tokens and the
///   tail (`llm/llama_server.go:279-331`); a model without context shift answers 400 (`:294-299`). Tokens
///   are whitespace-separated words here.
/// - `:cloud` / `-cloud` names (`internal/modelref/modelref.go:99-113`) are answered but never scheduled,
///   so never in `/api/ps` (`routes.go:2463-2471, 2271-2303`); `/api/tags` lists them with `remote_host`.
/// - At most ``Settings/maxLoadedModels`` runners (3, `sched.go:86, 265-291`); a load predicted to need
///   more than 80 % of the free memory evicts others first (`sched.go:544-561`); a load that does not fit
///   even then evicts everything and is tried once more (`sched.go:649-669`), else fails with 500
///   `llama-server reported out-of-memory during startup: ...` (`llama_server.go:1371-1376`,
///   `routes.go:3107-3120`). Victims go shortest keep-alive first, then by weights path (`sched.go:1557-1578`).
/// - `/api/show` sends arrays longer than 5 as `[]` unless `verbose`, and always `tensors`
///   (`routes.go:1579-1587, 1600-1621`); its Modelfile names the weights file (`routes.go:1520-1533`).
/// - `keep_alive` is a number of seconds or a Go duration string; `"300"` without a unit is a 400
///   (`api/types.go:1243-1271`). Unknown model: 404 `model 'x' not found` (`routes.go:2485`; `/api/show`
///   names it with its tag, `routes.go:1355, 1367`).
/// - `POST /api/embed` (`EmbedHandler`, `routes.go:795-1024`; `api.EmbedRequest`/`EmbedResponse`, `api/types.go:599-628`):
///   `input` a string (an empty one is no input) or an array of strings, anything else a 400 "invalid input type"
///   (`routes.go:819-838`); an unknown model a 404 `model 'x' not found` (`:840-844`); the model is scheduled like a
///   chat's (`num_ctx`, `keep_alive`, `:852-856`); no input answers 200 with `"embeddings": []` (`:860-863`). A text
///   longer than the context (words, as for chat) is cut to fit unless `truncate` is `false`, then a 400 "the input
///   length exceeds the context length" (`:895-936`). Vectors are ``EchoRuntime/hashedVector(of:dimensions:)`` of
///   ``Settings/embedDimensions`` floats, unit length as the handler normalizes (`:985-998, 1026-1040`), in input
///   order; `dimensions` cuts and renormalizes (`:990-995`); `prompt_eval_count` is the words embedded, left out when
///   0 (`omitempty`). ``Settings/embedFaults`` answers the next embed requests with a status first.
///
/// - Tools (``Model/supportsTools``, listed as the `tools` capability): a chat offering `tools` to a model without
///   them is a 400 `<full name> does not support tools`, the full name with host and namespace
///   (`server/routes.go:211-213, 2600-2603, 3109-3110`; `server/images.go:44-46, 541-575`; `types/model/name.go:212-228`).
///   A model with ``Model/toolCalls`` answers a chat whose last message is not a `tool` result with one chunk holding
///   every call, content empty, each call an id `call_` + 8 characters (`toolCallId`, `routes.go:2305-2312`) and
///   `function: {index, name, arguments}` with the arguments an object (`api/types.go:209-228`; the parser sends whole
///   calls, `routes.go:2860-2870`), then `done_reason: "stop"`; after a `tool` result it answers in text.
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
        /// For a thinking model (qwen3, deepseek-r1, gpt-oss): what it thinks before answering.
        public var thinking: String?
        /// Whether a prompt longer than the context is cut (else a 400, as for the deepseek2 family).
        public var contextShift = true
        /// Per-layer KV head counts (`<arch>.attention.head_count_kv` as an array), when they vary.
        public var headCountKVPerLayer: [Int]?
        /// The weights file: the model's own, or the one it shares with the model it aliases or derives from.
        public var weights: String
        /// The manifest digest (`/api/tags`, `/api/ps`): shared by aliases, not by derived models.
        public var digest: String
        /// The `SYSTEM` line of a derived model.
        public var system: String?
        /// An MLX (safetensors) model: a changed `num_ctx` does not reload it (`sched.go:1425`) and long
        /// prompts are not cut (`routes.go:2696-2698`).
        public var isMLX = false
        /// Whether its template takes tools (the `tools` capability).
        public var supportsTools = false
        /// The calls it makes when tools are offered and the last message is not a tool result.
        public var toolCalls: [ScriptedToolCall] = []

        /// Creates a model; sizes and metadata have small defaults.
        public init(
            _ name: String, diskBytes: Int64 = 800_000_000, memoryBytes: Int64 = 1_000_000_000, kvBytesPerToken: Int64 = 0,
            contextLength: Int = 8192, family: String = "llama", parameterSize: String = "1.2B",
            parameterCount: Int64 = 1_235_814_400, quantization: String = "Q4_K_M", answer: String? = nil, fault: Fault? = nil,
            thinking: String? = nil
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
            self.thinking = thinking
            weights = "/root/.ollama/models/blobs/sha256-" + OllamaStandIn.hash("weights of " + self.name)
            digest = OllamaStandIn.hash("manifest of " + self.name)
        }

        /// Another tag for `original`'s manifest (`ollama cp`): same digest, same weights, one runner.
        public init(_ name: String, aliasOf original: Model) {
            self = original
            self.name = OllamaStandIn.canonical(name)
        }

        /// A model built `FROM original` with a `SYSTEM` line: its own manifest digest, the same weights file.
        public init(_ name: String, derivedFrom original: Model, system: String) {
            self = original
            self.name = OllamaStandIn.canonical(name)
            self.system = system
            digest = OllamaStandIn.hash("manifest of " + self.name)
        }

        /// Whether ollama.com serves it (`:cloud` or `-cloud` tag, `internal/modelref/modelref.go:99-113`).
        public var isCloud: Bool {
            let tag = name.split(separator: ":").last.map { $0.lowercased() } ?? ""
            return tag == "cloud" || tag.hasSuffix("-cloud")
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
        /// Seconds an unloaded runner's process takes to exit, and so to leave `/api/ps`, once idle.
        public var unloadLinger: Double = 0.3
        /// Bytes of free memory (VRAM) for the loaded models together.
        public var memoryCapacity: Int64 = 64_000_000_000
        /// Seconds between streamed tokens.
        public var tokenDelay: Double = 0
        /// Seconds the prompt's evaluation takes, before the reply's head.
        public var promptDelay: Double = 0
        /// Seconds `/api/ps` takes to answer (a server too busy to answer).
        public var psDelay: Double = 0
        /// `num_ctx` when a request sends none (`OLLAMA_CONTEXT_LENGTH` unset, under 23 GiB of VRAM).
        public var defaultNumCtx: Int = 4096
        /// Runners at once (`OLLAMA_MAX_LOADED_MODELS` unset: 3 per GPU, or 3 on CPU).
        public var maxLoadedModels: Int = 3
        /// Bytes of GPU memory; nil: CPU only (`size_vram` 0). A runner gets what the others leave, the rest
        /// of it on the CPU (`size_vram < size`, `llama_server.go:2638-2676`).
        public var gpuMemory: Int64?
        /// What `/api/version` answers.
        public var version: String = "0.33.0"
        /// The width of `/api/embed` vectors.
        public var embedDimensions = 384
        /// Statuses and `error` texts for the next `/api/embed` requests, one each, before anything else.
        public var embedFaults: [(status: Int, message: String)] = []
        /// Budget tests (runtime pools): a load that does not fit beside the loaded runners fails at once with the
        /// out-of-memory error real Ollama gives when a load does not fit (`llama_server.go:1371-1376`), evicting
        /// nothing, and is counted in ``refusedLoads``: a client that respects the budget never sees it.
        public var refuseOverCapacity = false

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
        /// The `think` field exactly as sent.
        public var think: JSONValue? { body?["think"] }
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

    /// A loaded model: one per weights file.
    struct Runner {
        /// The installed name of the model whose request created it (what `/api/ps` lists).
        var creator: String
        /// `num_ctx` as requested, nil for Ollama's automatic choice.
        var requestedNumCtx: Int?
        var size: Int64
        /// The part of `size` in GPU memory.
        var sizeVRAM: Int64 = 0
        /// The context allocated: `num_ctx` clamped to the trained context.
        var contextLength: Int
        /// Seconds it stays loaded when idle; nil: forever (negative `keep_alive`).
        var keepAlive: Double?
        /// nil: never expires (negative `keep_alive`).
        var expiresAt: Date?
        /// Set once an unload was asked for (or its keep-alive ran out): it leaves once idle.
        var expiring = false
        /// When the process exits and the runner leaves `/api/ps`.
        var goneAt: Date?
        /// Requests running on it.
        var inFlight = 0
    }

    private let lock = NSLock()
    private var installed: [Model]
    private var settings: Settings
    /// By weights file.
    private var runners: [String: Runner] = [:]
    private var recorded: [RecordedRequest] = []
    private var reloadCount = 0
    private var loadCount = 0
    private var evictionCount = 0
    private var refusedCount = 0
    private let server = StandInServer()

    /// `http://127.0.0.1:PORT`, the port chosen by the system.
    public var baseURL: String { "http://127.0.0.1:\(server.port)" }

    private init(models: [Model], settings: Settings) {
        installed = models
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
    /// Loads refused for lack of memory under ``Settings/refuseOverCapacity``.
    public var refusedLoads: Int { locked { refusedCount } }
    /// Loads, reloads included.
    public var loads: Int { locked { loadCount } }
    /// Runners Ollama dropped on its own to make room for another (the 3-model limit, memory).
    public var evictions: Int { locked { evictionCount } }
    /// Generation requests running now, on every runner.
    public var requestsInFlight: Int { locked { runners.values.reduce(0) { $0 + $1.inFlight } } }
    /// The names `/api/ps` would list now (each runner's creator, `name:tag`), sorted.
    public var loadedNames: [String] {
        locked {
            purge()
            return runners.values.map(\.creator).sorted()
        }
    }

    /// Changes the settings.
    public func configure(_ change: (inout Settings) -> Void) {
        locked { change(&settings) }
    }

    /// Loads `model` with `numCtx` as if another client had (no request is recorded).
    public func preload(_ model: String, numCtx: Int? = nil) {
        locked {
            guard let installed = find(model) else { return }
            let (context, size) = Self.footprint(installed, numCtx: numCtx ?? settings.defaultNumCtx)
            runners[installed.weights] = Runner(
                creator: installed.name, requestedNumCtx: numCtx, size: size, contextLength: context, keepAlive: nil, expiresAt: nil)
        }
    }

    /// Drops `model`'s runner at once, as Ollama does when it evicts on its own (another client's load).
    public func evict(_ model: String) {
        locked {
            guard let installed = find(model), runners.removeValue(forKey: installed.weights) != nil else { return }
            evictionCount += 1
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
            return Self.json(["models": locked { installed.sorted { $0.name < $1.name }.map(Self.tagEntry) }])
        }
        router.get("/api/ps") { [self] request, _ in
            let delay = locked { settings.psDelay }
            if delay > 0 { try await Task.sleep(for: .seconds(delay)) }
            let entries = locked { () -> [[String: Any]] in
                purge()
                // Longest remaining lifetime first (`routes.go:2296-2299`); then by name, for stable tests.
                return runners.values.sorted { a, b in
                    let (x, y) = (a.expiresAt ?? .distantFuture, b.expiresAt ?? .distantFuture)
                    return x != y ? x > y : a.creator < b.creator
                }.compactMap { runner in find(runner.creator).map { Self.psEntry($0, runner) } }
            }
            record(request, body: nil, listed: entries.compactMap { $0["name"] as? String })
            return Self.json(["models": entries])
        }
        router.post("/api/show") { [self] request, _ in
            var request = request
            let body = try? await Self.body(&request)
            record(request, body: body)
            guard let name = body?["model"]?.stringValue, !name.isEmpty else { return Self.error(400, "model is required") }
            // The name is rewritten to its shortest display form, tag included, before the lookup (`routes.go:1355, 1367`).
            guard let model = locked({ find(name) }) else { return Self.error(404, "model '\(Self.canonical(name))' not found") }
            return Self.json(Self.showReply(model, verbose: body?["verbose"] == .bool(true)))
        }
        router.post("/api/chat") { [self] request, _ in
            var request = request
            let body = try? await Self.body(&request)
            record(request, body: body)
            return await chat(body)
        }
        router.post("/api/embed") { [self] request, _ in
            var request = request
            let body = try? await Self.body(&request)
            record(request, body: body)
            return await embed(body)
        }
        return router
    }

    private func chat(_ body: JSONValue?) async -> Response {
        guard let body, case .object = body else { return Self.error(400, "invalid JSON body") }
        guard let name = body["model"]?.stringValue, !name.isEmpty else { return Self.error(400, "model is required") }
        guard let model = locked({ find(name) }) else { return Self.error(404, "model '\(name)' not found") }
        let keepAlive: Double?
        switch Self.keepAlive(body["keep_alive"]) {
        case .success(let seconds): keepAlive = seconds
        case .failure(let error): return Self.error(400, error.message)
        }
        let messages: [JSONValue]
        if case .array(let list)? = body["messages"] { messages = list } else { messages = [] }

        // `think`: absent means on for a thinking model (`routes.go:2615-2620`); asked of another, a 400.
        let thinks: Bool
        switch body["think"] {
        case nil, .null?: thinks = model.thinking != nil
        case .bool(let on)?: thinks = on
        case .string(let level)?: thinks = !level.isEmpty && level != "false"
        default: return Self.error(400, "invalid think value")
        }
        if thinks, model.thinking == nil, body["think"] != nil, body["think"] != .null {
            return Self.error(400, "\"\(name)\" does not support thinking")
        }

        // Tools are a capability checked when the runner is scheduled, before any load (`routes.go:2600-2603, 211-213`).
        var offered = false
        if case .array(let tools)? = body["tools"], !tools.isEmpty { offered = true }
        if offered, !model.supportsTools, !model.isCloud {
            return Self.error(400, "\(Self.fullName(model.name)) does not support tools")
        }

        let started = Date()
        let loadNanos: Int64
        if model.isCloud {
            // Proxied to ollama.com, never scheduled (`routes.go:2463-2471`). What ollama.com answers to an
            // empty load is not known; the stand-in answers as a local load does.
            loadNanos = 1
        } else {
            if messages.isEmpty, keepAlive == 0 {
                expire(model)  // asynchronous: listed in /api/ps until the runner's process exits
                return Self.json(Self.emptyReply(name, reason: "unload"))
            }
            let numCtx: Int?
            if case .number(let value)? = body["options"]?["num_ctx"] { numCtx = Int(value) } else { numCtx = nil }
            do {
                try await schedule(model, numCtx: numCtx, keepAlive: keepAlive)
            } catch let error as StandInError {
                return Self.error(500, error.message)
            } catch {
                return Self.error(500, "\(error)")
            }
            // `load_duration` is the time until the runner was ready, on every reply (`routes.go:2804, 3021`).
            loadNanos = max(1, Int64(Date().timeIntervalSince(started) * 1e9))
        }
        if messages.isEmpty {
            return Self.json(Self.emptyReply(name, reason: "load"))
        }
        locked { runners[model.weights]?.inFlight += 1 }
        let done: @Sendable () -> Void = { [self] in
            locked {
                runners[model.weights]?.inFlight -= 1
                purge()  // an expiring runner's process starts to exit once its last request ends
            }
        }
        // `keep_alive: 0` on a chat: the runner expires once this request ends.
        if keepAlive == 0 { expire(model) }
        if case .status(let status, let message)? = model.fault {
            done()
            return Self.error(status, message)
        }

        // The prompt as the model sees it, cut to the context as Ollama cuts it.
        var words = ([model.system].compactMap { $0 } + messages.compactMap { $0["content"]?.stringValue })
            .joined(separator: " ").split(whereSeparator: \.isWhitespace).map(String.init)
        let context = locked { runners[model.weights]?.contextLength } ?? model.contextLength
        let promptBytes = words.joined(separator: " ").utf8.count
        if !model.isCloud, !model.isMLX, promptBytes >= context, words.count > context - 1 {  // `llama_server.go:281, 290-292`
            guard model.contextShift else {
                done()
                return Self.error(
                    400,
                    "the prompt is longer than the context length currently available to the model; shorten the prompt, adjust the context length in settings, or use a model with a longer context length"
                )
            }
            let keep = min(4, context - 1)  // `num_keep` 4, no BOS added by the stand-in's tokenizer
            let limit = context - max((context - keep) / 2, 1)
            words = Array(words.prefix(keep)) + Array(words.suffix(limit - keep))
        }
        let lastUser = messages.last?["content"]?.stringValue ?? ""
        let seen = words.joined(separator: " ")
        let calls = offered && messages.last?["role"]?.stringValue != "tool" ? model.toolCalls : []
        let text =
            !calls.isEmpty
            ? "" : model.answer ?? StandInReply.answer(prompt: seen.hasSuffix(lastUser) ? lastUser : seen, schema: body["format"])
        let toolCalls: [[String: Any]] = calls.enumerated().map { index, call in
            let arguments = (try? JSONSerialization.jsonObject(with: Data(call.arguments.utf8))) ?? [String: Any]()
            return [
                "id": call.id ?? Self.toolCallID(),
                "function": ["index": index, "name": call.name, "arguments": arguments] as [String: Any],
            ]
        }

        // Thinking first, then the answer; both count toward `num_predict`.
        var pieces: [(thinking: Bool, text: String)] = []
        if thinks, let thought = model.thinking { pieces += StandInReply.tokens(thought, json: false).map { (true, $0) } }
        pieces += StandInReply.tokens(text, json: body["format"] != nil && model.answer == nil).map { (false, $0) }
        var reason = "stop"
        if case .number(let limit)? = body["options"]?["num_predict"], limit >= 0, pieces.count > Int(limit) {
            pieces = Array(pieces.prefix(Int(limit)))
            reason = "length"
        }
        let promptCount = words.count
        let callTokens = calls.map { StandInReply.tokens($0.arguments, json: true).count }.reduce(0, +)
        var final: [String: Any] = [
            "model": name, "created_at": Self.now(), "message": ["role": "assistant", "content": ""], "done": true,
            "done_reason": reason, "load_duration": loadNanos,
        ]
        let promptNanos = Int64(promptCount) * 1_000_000
        let evalNanos = Int64(pieces.count) * 2_000_000
        for (key, value) in [
            ("prompt_eval_count", Int64(promptCount)), ("prompt_eval_duration", promptNanos),
            ("eval_count", Int64(pieces.count + callTokens)), ("eval_duration", evalNanos),
            ("total_duration", loadNanos + promptNanos + evalNanos),
        ] where value != 0 {
            final[key] = value
        }
        // Nothing is written before the first object is ready: the prompt is evaluated first.
        let promptDelay = locked { settings.promptDelay }
        if promptDelay > 0 { try? await Task.sleep(for: .seconds(promptDelay)) }
        if body["stream"] == .bool(false) {
            var message: [String: Any] = ["role": "assistant", "content": pieces.filter { !$0.thinking }.map(\.text).joined()]
            let thought = pieces.filter(\.thinking).map(\.text).joined()
            if !thought.isEmpty { message["thinking"] = thought }
            if !toolCalls.isEmpty { message["tool_calls"] = toolCalls }
            final["message"] = message
            done()
            return Self.json(final)
        }
        let delay = locked { settings.tokenDelay }
        let finalLine = Self.line(final)
        let callLine =
            toolCalls.isEmpty
            ? nil
            : Self.line([
                "model": name, "created_at": Self.now(), "message": ["role": "assistant", "content": "", "tool_calls": toolCalls],
                "done": false,
            ])
        let fault = model.fault
        let streamed = pieces
        return Response(
            status: .ok, headers: [.contentType: "application/x-ndjson"],
            body: ResponseBody { writer in
                defer { done() }
                for (index, piece) in streamed.enumerated() {
                    switch fault {
                    case .dropConnection(let after) where index == after: throw StandInError(message: "connection dropped on purpose")
                    case .endWithoutDone(let after) where index == after:
                        try await writer.finish(nil)
                        return
                    case .errorLine(let after, let message) where index == after:
                        try await writer.write(Self.line(["error": message]))
                        try await writer.finish(nil)
                        return
                    default: break
                    }
                    if index > 0, delay > 0 { try await Task.sleep(for: .seconds(delay)) }
                    let message =
                        piece.thinking
                        ? ["role": "assistant", "content": "", "thinking": piece.text] : ["role": "assistant", "content": piece.text]
                    try await writer.write(Self.line(["model": name, "created_at": Self.now(), "message": message, "done": false]))
                }
                switch fault {
                case .dropConnection: throw StandInError(message: "connection dropped on purpose")
                case .endWithoutDone:
                    try await writer.finish(nil)
                    return
                case .errorLine(_, let message):
                    try await writer.write(Self.line(["error": message]))
                    try await writer.finish(nil)
                    return
                case .status, nil: break
                }
                if let callLine { try await writer.write(callLine) }
                try await writer.write(finalLine)
                try await writer.finish(nil)
            })
    }

    /// Makes `model` resident with `numCtx`, reusing the runner of its weights when the options match.
    private func schedule(_ model: Model, numCtx: Int?, keepAlive: Double?) async throws {
        var retried = false
        while true {
            enum Next {
                case ready
                case wait(Double)
                case load(Runner)
            }
            let next = try locked { () throws -> Next in
                purge()
                // A request without `keep_alive` keeps the runner's (5 minutes for a new one, `sched.go:483-485, 512-515`).
                func expiry(_ seconds: Double?) -> Date? { seconds.flatMap { $0 <= 0 ? nil : Date().addingTimeInterval($0) } }
                let wanted = numCtx ?? settings.defaultNumCtx
                if var runner = runners[model.weights], !runner.expiring {
                    // `needsReload`: the clamped context compared; automatic on both sides never reloads.
                    let same =
                        model.isMLX || (runner.requestedNumCtx == nil && numCtx == nil)
                        || runner.contextLength == min(wanted, model.contextLength)
                    if same {
                        if let keepAlive { runner.keepAlive = keepAlive <= 0 ? nil : keepAlive }
                        runner.expiresAt = expiry(runner.keepAlive)
                        runners[model.weights] = runner
                        return .ready
                    }
                    reloadCount += 1
                    runners[model.weights] = nil
                }
                // A runner still unloading holds its memory (and its weights) until its process exits: wait.
                if let unloading = runners[model.weights], unloading.expiring {
                    return .wait(max(0.01, unloading.goneAt?.timeIntervalSinceNow ?? 0.05))
                }
                let (context, size) = Self.footprint(model, numCtx: wanted)
                let others = runners.filter { !$0.value.expiring }
                if let gone = runners.values.compactMap(\.goneAt).min(), others.count != runners.count,
                    runners.values.map(\.size).reduce(size, +) > settings.memoryCapacity
                {
                    return .wait(max(0.01, gone.timeIntervalSinceNow))
                }
                if settings.refuseOverCapacity, size > settings.memoryCapacity - runners.values.map(\.size).reduce(0, +) {
                    refusedCount += 1
                    throw StandInError(
                        message:
                            "llama-server reported out-of-memory during startup: cudaMalloc failed: out of memory (needs \(Self.gib(size)), \(Self.gib(settings.memoryCapacity - runners.values.map(\.size).reduce(0, +))) free)"
                    )
                }
                // The model limit: one runner goes to make room (`sched.go:265-267`).
                if others.count >= settings.maxLoadedModels { evictOne() }
                // The pre-flight check: predicted above 80 % of what is free evicts others (`sched.go:544-561`).
                while !runners.isEmpty, size > (settings.memoryCapacity - runners.values.map(\.size).reduce(0, +)) * 80 / 100, evictOne() {}
                if size > settings.memoryCapacity - runners.values.map(\.size).reduce(0, +) {
                    // The load fails; with others loaded, all are evicted and the load tried once more (`sched.go:649-669`).
                    if !runners.isEmpty, !retried {
                        evictionCount += runners.count
                        runners.removeAll()
                        return .wait(0)
                    }
                    throw StandInError(
                        message:
                            "llama-server reported out-of-memory during startup: cudaMalloc failed: out of memory (needs \(Self.gib(size)), \(Self.gib(settings.memoryCapacity)) free)"
                    )
                }
                return .load(
                    Runner(
                        creator: model.name, requestedNumCtx: numCtx, size: size, contextLength: context,
                        keepAlive: keepAlive.map { $0 <= 0 ? nil : $0 } ?? 300, expiresAt: expiry(keepAlive ?? 300)))
            }
            switch next {
            case .ready:
                return
            case .wait(let seconds):
                if seconds == 0 { retried = true }
                try await Task.sleep(for: .seconds(seconds))
            case .load(var runner):
                let delay = locked { settings.loadDelay }
                if delay > 0 { try await Task.sleep(for: .seconds(delay)) }
                locked {
                    if let gpu = settings.gpuMemory {
                        runner.sizeVRAM = max(0, min(runner.size, gpu - runners.values.map(\.sizeVRAM).reduce(0, +)))
                    }
                    runners[model.weights] = runner
                    loadCount += 1
                }
                return
            }
        }
    }

    /// Drops one idle runner, as `findRunnerToUnload` picks it: shortest keep-alive first (forever counts as
    /// the longest), then by weights path (`sched.go:1557-1578`). Call with the lock held.
    @discardableResult
    private func evictOne() -> Bool {
        let victim = runners.filter { $0.value.inFlight == 0 }.min { a, b in
            let (x, y) = (a.value.keepAlive ?? .infinity, b.value.keepAlive ?? .infinity)
            return x != y ? x < y : a.key < b.key
        }
        guard let victim else { return false }
        runners[victim.key] = nil
        evictionCount += 1
        return true
    }

    /// Marks `model`'s runner for unloading: `expires_at` becomes now (`sched.go:1720`); it leaves once idle.
    private func expire(_ model: Model) {
        locked {
            guard runners[model.weights] != nil else { return }
            runners[model.weights]?.expiring = true
            runners[model.weights]?.expiresAt = Date()
            purge()
        }
    }

    /// Drops runners whose process exited; starts the exit of expiring runners that are idle. Call with the lock held.
    private func purge() {
        let now = Date()
        for (weights, runner) in runners {
            if let gone = runner.goneAt, gone <= now {
                runners[weights] = nil
            } else if !runner.expiring, let expires = runner.expiresAt, expires <= now {
                runners[weights]?.expiring = true
            }
            if runners[weights]?.expiring == true, runners[weights]?.goneAt == nil, runners[weights]?.inFlight == 0 {
                runners[weights]?.goneAt = now.addingTimeInterval(settings.unloadLinger)
            }
        }
    }

    // MARK: - Helpers

    private func locked<T>(_ body: () throws -> T) rethrows -> T {
        lock.lock()
        defer { lock.unlock() }
        return try body()
    }

    /// The installed model `name` denotes, matched as `getExistingName` does: case-insensitively, default
    /// host and namespace dropped, `:latest` implied. Call with the lock held.
    private func find(_ name: String) -> Model? {
        let wanted = Self.canonical(name).lowercased()
        return installed.first { $0.name.lowercased() == wanted }
    }

    private func record(_ request: Request, body: JSONValue?, listed: [String]? = nil) {
        let entry = RecordedRequest(method: request.method.rawValue, path: request.uri.path, body: body, listed: listed)
        locked { recorded.append(entry) }
    }

    private static func body(_ request: inout Request) async throws -> JSONValue {
        let buffer = try await request.collectBody(upTo: 16 * 1024 * 1024)
        return try JSONDecoder().decode(JSONValue.self, from: Data(buffer.readableBytesView))
    }

    /// The shortest display form (`types/model/name.go:230-251`): `registry.ollama.ai/` and `library/`
    /// dropped, the tag always written (`:latest` when none).
    static func canonical(_ name: String) -> String {
        var rest = name
        for prefix in ["registry.ollama.ai/", "library/"] where rest.lowercased().hasPrefix(prefix) {
            rest = String(rest.dropFirst(prefix.count))
        }
        let lastSlash = rest.lastIndex(of: "/")
        let hasTag = rest.lastIndex(of: ":").map { colon in lastSlash.map { colon > $0 } ?? true } ?? false
        return hasTag ? rest : rest + ":latest"
    }

    /// The name as `model.Name.String()` writes it in errors: host, namespace, model and tag (`types/model/name.go:212-228`).
    static func fullName(_ name: String) -> String {
        let canonical = canonical(name)
        let parts = canonical.split(separator: "/")
        switch parts.count {
        case 1: return "registry.ollama.ai/library/" + canonical
        case 2: return "registry.ollama.ai/" + canonical
        default: return canonical
        }
    }

    /// A call id as Ollama makes one: `call_` and 8 lower-case letters or digits (`toolCallId`, `routes.go:2305-2312`).
    static func toolCallID() -> String {
        let alphabet = Array("abcdefghijklmnopqrstuvwxyz0123456789")
        return "call_" + String((0..<8).map { _ in alphabet.randomElement()! })
    }

    /// A hex digest standing for a SHA-256.
    static func hash(_ text: String) -> String {
        var state: UInt64 = 1_469_598_103_934_665_603
        var digits = ""
        for round in 0..<4 {
            for byte in (text + String(round)).utf8 { state = (state ^ UInt64(byte)) &* 1_099_511_628_211 }
            digits += String(format: "%016llx", state)
        }
        return digits
    }

    /// `keep_alive` in seconds (nil when absent), per `api.Duration`: a number is seconds, a string a Go duration.
    static func keepAlive(_ value: JSONValue?) -> Result<Double?, StandInError> {
        switch value {
        case nil, .null?: return .success(nil)
        case .number(let seconds)?: return .success(seconds)
        case .string(let text)?:
            guard let seconds = goDuration(text) else {
                let missingUnit = !text.isEmpty && Double(text) != nil
                return .failure(
                    StandInError(message: missingUnit ? "time: missing unit in duration \"\(text)\"" : "time: invalid duration \"\(text)\"")
                )
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

    static func tagEntry(_ model: Model) -> [String: Any] {
        var entry: [String: Any] = [
            "name": model.name, "model": model.name, "modified_at": "2026-11-01T10:00:00Z", "size": model.diskBytes,
            "digest": model.digest, "details": details(model),
        ]
        if model.isCloud {
            entry["remote_host"] = "https://ollama.com:443"  // `api/types.go:822-832`
            entry["remote_model"] = String(model.name.split(separator: ":").first ?? "")
            entry["size"] = 384
        }
        return entry
    }

    /// `expires_at` as Go writes a `time.Time` in JSON: RFC 3339 with the fraction of a second (`RFC3339Nano`, Go's
    /// `time.Time.MarshalJSON`), as in the `/api/ps` example of Ollama's API docs (`2025-10-17T16:47:07.93355-07:00`);
    /// here in UTC and to the millisecond. `keep_alive: -1` lists about 300 years ahead (`api/types.go:1252-1255`).
    static func psEntry(_ model: Model, _ runner: Runner) -> [String: Any] {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        let expires = runner.expiresAt.map { formatter.string(from: $0) } ?? "2318-08-22T10:00:00.123456789Z"
        return [
            "name": model.name, "model": model.name, "size": runner.size, "size_vram": runner.sizeVRAM, "digest": model.digest,
            "details": details(model), "expires_at": expires, "context_length": runner.contextLength,
        ]
    }

    static func showReply(_ model: Model, verbose: Bool) -> [String: Any] {
        let arch = model.family
        var capabilities = ["completion"]
        if model.supportsTools { capabilities.append("tools") }
        if model.thinking != nil { capabilities.append("thinking") }
        var info: [String: Any] = [
            "general.architecture": arch, "general.parameter_count": model.parameterCount,
            "\(arch).context_length": model.contextLength, "\(arch).block_count": 16,
            "\(arch).attention.head_count_kv": model.headCountKVPerLayer ?? [8] as Any, "\(arch).embedding_length": 2048,
            "\(arch).attention.head_count": 32,
            "tokenizer.ggml.tokens": ["<s>", "</s>", "a", "b", "c", "d", "e", "f"],
        ]
        if model.headCountKVPerLayer == nil { info["\(arch).attention.head_count_kv"] = 8 }
        // Without `verbose`, every array longer than 5 is sent empty (`routes.go:1600-1621`).
        if !verbose {
            for (key, value) in info { if let array = value as? [Any], array.count > 5 { info[key] = [Any]() } }
        }
        var reply: [String: Any] = [
            "modelfile": "# Modelfile generated by \"ollama show\"\n"
                + "# To build a new Modelfile based on this, replace FROM with:\n# FROM \(model.name)\n\nFROM \(model.weights)\n"
                + (model.system.map { "SYSTEM \"\($0)\"\n" } ?? ""),
            "parameters": "stop \"<|eot_id|>\"", "template": "{{ .Prompt }}", "details": details(model), "model_info": info,
            // Always sent, `verbose` or not (`routes.go:1579-1587`).
            "tensors": [["name": "token_embd.weight", "type": "Q4_K", "shape": [2048, 32000]]],
            "capabilities": capabilities, "modified_at": "2026-11-01T10:00:00Z",
        ]
        if model.isCloud {
            reply["model_info"] = nil
            reply["tensors"] = nil
            reply["remote_host"] = "https://ollama.com:443"
        }
        return reply
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

// MARK: - Embeddings

extension OllamaStandIn {
    /// `/api/embed` requests so far.
    public var embedRequests: [RecordedRequest] { requests.filter { $0.path == "/api/embed" } }

    /// `POST /api/embed`, as `EmbedHandler` answers it (see the type's documentation).
    private func embed(_ body: JSONValue?) async -> Response {
        guard let body, case .object = body else { return Self.error(400, "missing request body") }
        let fault = locked { settings.embedFaults.isEmpty ? nil : settings.embedFaults.removeFirst() }
        if let fault { return Self.error(fault.status, fault.message) }
        let name = body["model"]?.stringValue ?? ""
        var input: [String] = []
        switch body["input"] {
        case .string(let text)?: if !text.isEmpty { input = [text] }
        case .array(let items)?:
            for item in items {
                guard let text = item.stringValue else { return Self.error(400, "invalid input type") }
                input.append(text)
            }
        case nil, .null?: break
        default: return Self.error(400, "invalid input type")
        }
        guard let model = locked({ find(name) }) else { return Self.error(404, "model '\(name)' not found") }
        let keepAlive: Double?
        switch Self.keepAlive(body["keep_alive"]) {
        case .success(let seconds): keepAlive = seconds
        case .failure(let error): return Self.error(400, error.message)
        }
        let numCtx: Int?
        if case .number(let value)? = body["options"]?["num_ctx"] { numCtx = Int(value) } else { numCtx = nil }
        let started = Date()
        do {
            try await schedule(model, numCtx: numCtx, keepAlive: keepAlive)
        } catch let error as StandInError {
            return Self.error(500, error.message)
        } catch {
            return Self.error(500, "\(error)")
        }
        let loadNanos = max(1, Int64(Date().timeIntervalSince(started) * 1e9))
        guard !input.isEmpty else { return Self.json(["model": name, "embeddings": [[Float]]()]) }
        let (context, width) = locked { (runners[model.weights]?.contextLength ?? model.contextLength, settings.embedDimensions) }
        var cut: Int?
        if case .number(let value)? = body["dimensions"], value > 0, Int(value) < width { cut = Int(value) }
        var vectors: [[Float]] = []
        var tokens = 0
        for text in input {
            var words = text.split(whereSeparator: \.isWhitespace).map(String.init)
            if words.count > context {
                if body["truncate"] == .bool(false) { return Self.error(400, "the input length exceeds the context length") }
                words = Array(words.prefix(context))
            }
            tokens += words.count
            var vector = EchoRuntime.hashedVector(of: words.joined(separator: " "), dimensions: width)
            if let cut {
                vector = Array(vector.prefix(cut))
                let norm = max(vector.reduce(Float(0)) { $0 + $1 * $1 }.squareRoot(), 1e-12)
                vector = vector.map { $0 / norm }
            }
            vectors.append(vector)
        }
        var reply: [String: Any] = [
            "model": name, "embeddings": vectors, "total_duration": max(loadNanos, Int64(Date().timeIntervalSince(started) * 1e9)),
            "load_duration": loadNanos,
        ]
        if tokens > 0 { reply["prompt_eval_count"] = tokens }
        return Self.json(reply)
    }
}
