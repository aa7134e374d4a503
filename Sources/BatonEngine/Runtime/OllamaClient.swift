import BatonSpec
import Foundation

/// Ollama's native API (v0.33): chat streamed as NDJSON from `POST /api/chat`, models loaded and unloaded with
/// empty chat requests, and discovery (`/api/version`, `/api/tags`, `/api/show`).
///
/// Baton decides what is loaded, so every request carries `keep_alive: -1` (stay loaded until Baton
/// unloads) and the stage's options, load-time ones (`num_ctx`) included, exactly as the load sent
/// them: Ollama reloads a model whose load-time options change (`server/sched.go:1381-1428`).
///
/// Ollama keeps one runner per weights file, not per name (`sched.go:110-127`): two names for the same
/// weights (tag aliases, a Modelfile `FROM` another model) share one runner, listed in `/api/ps` under the
/// name that created it. So loads and unloads are matched by name as Ollama normalises it
/// (``normalizedName(_:)``) and, failing that, by the weights `digest`.
///
/// Names ending in `:cloud` or `-cloud` are served by ollama.com (`internal/modelref/modelref.go:99-113`):
/// they never enter `/api/ps`, so the client does not manage them (``manages(_:)``).
public struct OllamaClient: LLMRuntime, ModelManaging {
    /// The server's base URL (`http://127.0.0.1:11434`), without a trailing slash.
    public let baseURL: String
    /// Seconds a load may go without any sign of progress before Baton gives up (a stall timeout, not a
    /// total: see ``load(_:settings:)``); also the deadline for the head of a chat reply. The profile sets
    /// it with the runtime option `load_timeout`.
    public let loadTimeout: Double
    /// Seconds an unload may take to be confirmed by `GET /api/ps`.
    public let unloadTimeout: Double
    /// Seconds between polls of `GET /api/ps`.
    public let pollInterval: Double
    /// Seconds allowed for short calls (`/api/ps`, `/api/tags`, `/api/show`, `/api/version`) to answer.
    public let connectTimeout: Double
    let transport: any HTTPTransport
    let book = NameBook()

    /// The `load_timeout` of a profile's Ollama runtime when it sets none: Ollama's own default stall
    /// timeout (`OLLAMA_LOAD_TIMEOUT`, 5 minutes, `envconfig/config.go:146-149`).
    public static let defaultLoadTimeout = 300.0

    /// Creates a client for the server at `baseURL`.
    public init(
        baseURL: String, transport: any HTTPTransport = AsyncHTTPTransport(), loadTimeout: Double = defaultLoadTimeout,
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

    /// The load timeout a runtime's profile `options` ask for (`load_timeout: 10m`), nil when unset.
    ///
    /// - Throws: ``RuntimeError`` (permanent) when the value is not a duration.
    public static func loadTimeout(options: [String: String], runtime: String) throws -> Double? {
        guard let text = options["load_timeout"] else { return nil }
        guard let seconds = DurationParsing.seconds(from: text), seconds > 0 else {
            throw RuntimeError(
                .unreachable, "runtime '\(runtime)': load_timeout '\(text)' is not a duration; write it as 300s, 10m or 1h",
                isTransient: false)
        }
        return seconds
    }

    // MARK: - Names

    /// A name as Ollama resolves it, in one place: `host/namespace/model:tag` (`types/model/name.go`,
    /// `ParseNameBare` at :146-176) with the default host `registry.ollama.ai` and namespace `library`
    /// dropped as `DisplayShortest` does (:230-251), the implicit `:latest` written out, and lower-cased,
    /// because Ollama looks installed names up case-insensitively (`getExistingName`, `routes.go:1222-1245`).
    /// `Qwen2.5:7B`, `library/qwen2.5:7b` and `registry.ollama.ai/library/qwen2.5:7b` all give `qwen2.5:7b`.
    public static func normalizedName(_ name: String) -> String {
        // The rule lives in BatonSpec, so validation, role mapping and `baton models` match names as this client does.
        ModelInventory.ollamaName(name)
    }

    /// Whether two names denote the same Ollama model (case, default host and namespace, `:latest`).
    public static func sameModel(_ a: String, _ b: String) -> Bool {
        normalizedName(a) == normalizedName(b)
    }

    /// Whether `name` is served by ollama.com rather than this machine: a `:cloud` tag or a tag ending in
    /// `-cloud` (`internal/modelref/modelref.go:99-113`, case-insensitive). Such models never enter Ollama's
    /// scheduler, so `/api/ps` never lists them (`routes.go:2271-2303`).
    public static func isCloudModel(_ name: String) -> Bool {
        guard let colon = name.lastIndex(of: ":"), colon > (name.lastIndex(of: "/") ?? name.startIndex) || !name.contains("/")
        else { return false }
        let tag = name[name.index(after: colon)...].trimmingCharacters(in: .whitespaces).lowercased()
        return tag == "cloud" || tag.hasSuffix("-cloud")
    }

    /// Cloud models (``isCloudModel(_:)``) are not loaded, unloaded or counted in memory here.
    public func manages(_ model: String) -> Bool { !Self.isCloudModel(model) }

    // MARK: - Request bodies

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

    /// The `POST /api/chat` body of a generation.
    func chatBody(_ request: GenerationRequest) -> [String: Any] {
        var messages: [[String: String]] = []
        if let system = request.system, !system.isEmpty { messages.append(["role": "system", "content": system]) }
        messages.append(["role": "user", "content": request.prompt])
        var body: [String: Any] = [
            "model": request.model, "messages": messages, "stream": true, "keep_alive": -1, "think": Self.think(request.settings.think),
        ]
        let options = Self.options(request.settings)
        if !options.isEmpty { body["options"] = options }
        if let schema = request.responseSchema { body["format"] = OpenAICompatibleClient.foundation(schema) }
        return body
    }

    // MARK: - Generation

    /// Streams a chat (`POST /api/chat`, NDJSON): thinking and answer tokens as they arrive, then token
    /// counts, timings and why it stopped.
    ///
    /// - Throws: (through the stream) ``RuntimeError`` `.contextExceeded` before the call when the prompt
    ///   cannot fit the stage's `num_ctx` (``checkContext(_:)``).
    public func generate(_ request: GenerationRequest) -> AsyncThrowingStream<GenerationEvent, any Error> {
        book.remember(request.model)
        let http = HTTPRequest.json(baseURL + "/api/chat", chatBody(request))
        // The reply's head comes after a cold load and the prompt's evaluation; the stage timeout bounds the rest.
        let headDeadline = max(loadTimeout, request.settings.timeout ?? 0)
        return .producing { continuation in
            try checkContext(request)
            let response = try await send(http, timeout: headDeadline, model: request.model, doing: "generating with")
            try await stream(response, request: request, into: continuation)
        }
    }

    /// The most bytes one token is assumed to cover when deciding, before the call, that a prompt cannot
    /// fit. Ollama has no tokenizer endpoint, so the count is estimated, and the estimate must never refuse
    /// a prompt that fits: English averages about 4 bytes per token and code or other scripts fewer, so
    /// `bytes / 8` undercounts the tokens of any ordinary text. A prompt refused by it is at least twice too
    /// long; one that passes but still overflows is caught after the call (``truncatedPrompt(_:request:)``).
    static let generousBytesPerToken = 8

    /// The context window a load with `numCtx` (nil: ``defaultNumCtx``) gives `model`: clamped to the
    /// trained context when that is known (`llm/server.go:111-116`), as `/api/ps` reports it.
    func contextWindow(_ model: String, numCtx: Int?) -> Int? {
        let numCtx = numCtx ?? Self.defaultNumCtx
        guard numCtx > 0 else { return nil }
        return book.trainedContext(of: model).map { min(numCtx, $0) } ?? numCtx
    }

    /// Refuses a prompt that cannot fit the context window with room for `max_tokens`, before Ollama would
    /// cut its middle out (`llm/llama_server.go:279-320`).
    func checkContext(_ request: GenerationRequest) throws {
        guard let window = contextWindow(request.model, numCtx: request.settings.numCtx) else { return }
        let bytes = request.prompt.utf8.count + (request.system?.utf8.count ?? 0)
        let atLeast = bytes / Self.generousBytesPerToken
        // Room for the answer, but never more than half the window: a max_tokens as large as num_ctx must not
        // refuse every prompt (Ollama itself only cuts a prompt of num_ctx tokens or more).
        let reserve = min(max(0, request.settings.maxTokens ?? 0), window / 2)
        let room = window - reserve
        guard atLeast > room else { return }
        throw RuntimeError(
            .contextExceeded,
            "the prompt for model '\(request.model)' is at least \(atLeast) tokens (estimated from its \(bytes) bytes), more than num_ctx \(window) leaves after \(reserve) tokens for the answer; raise num_ctx or shorten the inputs (Ollama would silently drop the middle of the prompt)",
            isTransient: false)
    }

    /// When Ollama cut the prompt to fit: `prompt_eval_count` equals the length its truncation keeps,
    /// `num_ctx - max((num_ctx - num_keep) / 2, 1)` with `num_keep` 4 (5 when the tokenizer adds a BOS)
    /// (`llm/llama_server.go:279-331`), for a prompt long enough to have been cut (truncation only starts
    /// at a prompt of `num_ctx` bytes, `:281`). Nil when the prompt arrived whole.
    func truncatedPrompt(_ promptTokens: Int?, request: GenerationRequest) -> String? {
        guard let promptTokens, let window = contextWindow(request.model, numCtx: request.settings.numCtx), window > 1 else { return nil }
        let bytes = request.prompt.utf8.count + (request.system?.utf8.count ?? 0)
        // Ollama's chat template adds its own bytes to the prompt; 256 is ample for a system and a user turn.
        guard bytes + 256 >= window else { return nil }
        let kept = [4, 5].map { keep -> Int in
            let numKeep = max(0, min(keep, window - 1))
            return window - max((window - numKeep) / 2, 1)
        }
        guard kept.contains(promptTokens) else { return nil }
        return "Ollama cut the prompt of model '\(request.model)' to \(promptTokens) tokens to fit num_ctx \(window), dropping its middle; "
            + "raise num_ctx or shorten the inputs"
    }

    /// One NDJSON line of a chat reply; every metric is optional (`omitempty`).
    private struct ChatLine: Decodable {
        struct Message: Decodable {
            var content: String?
            var thinking: String?
        }
        var message: Message?
        var done: Bool?
        var doneReason: String?
        var error: String?
        var totalDuration: Int64?
        var loadDuration: Int64?
        var promptEvalCount: Int?
        var promptEvalDuration: Int64?
        var evalCount: Int?
        var evalDuration: Int64?
    }

    private func stream(
        _ response: HTTPResponse, request: GenerationRequest,
        into continuation: AsyncThrowingStream<GenerationEvent, any Error>.Continuation
    ) async throws {
        let model = request.model
        guard response.status == 200 else {
            throw failure(status: response.status, body: try? await response.collect(limit: 65536), model: model, doing: "generating with")
        }
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        var lines = response.lines.makeAsyncIterator()
        var thinkingLines = 0
        var answered = false
        while true {
            let next: String?
            do {
                next = try await lines.next()
            } catch let error as RuntimeError {
                throw RuntimeError(
                    error.code, "Ollama at \(baseURL) broke off the reply of model '\(model)': \(error.message)",
                    isTransient: error.isTransient)
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
            // Thinking streams in `message.thinking` (`api/types.go:202`), apart from the answer.
            if let text = chunk.message?.thinking, !text.isEmpty {
                thinkingLines += 1
                continuation.yield(.thinking(text))
            }
            if let text = chunk.message?.content, !text.isEmpty {
                answered = answered || !text.allSatisfy(\.isWhitespace)
                continuation.yield(.token(text))
            }
            if chunk.done == true {
                var usage = Self.usage(chunk)
                usage.finish = finish(chunk.doneReason, thought: thinkingLines, answered: answered, request: request)
                if let truncated = truncatedPrompt(chunk.promptEvalCount, request: request) {
                    usage.finish = FinishReason(.contextExceeded, raw: chunk.doneReason ?? "", detail: truncated)
                }
                if thinkingLines > 0, usage.finish?.kind == .truncated || !answered {
                    continuation.yield(
                        .notice(RuntimeNotice(code: "thinking-used-budget", message: usage.finish?.detail ?? "")))
                }
                continuation.yield(.finished(usage))
                return
            }
        }
        try Task.checkCancellation()
        throw RuntimeError(
            .badResponse, "Ollama at \(baseURL) ended the reply of model '\(model)' before its final message (no \"done\": true)",
            isTransient: true)
    }

    /// Why the reply ended, from `done_reason` (`"stop"`, `"length"`, `llm/server.go:249-267`); when the
    /// model thought and its answer is cut or empty, the detail says that thinking used the budget.
    func finish(_ reason: String?, thought thinkingLines: Int, answered: Bool, request: GenerationRequest) -> FinishReason? {
        guard let reason else { return nil }
        let kind: FinishReason.Kind = reason == "length" ? .truncated : .complete
        var detail: String?
        if thinkingLines > 0, kind == .truncated {
            let limit = request.settings.maxTokens.map { "max_tokens (\($0))" } ?? "its token limit"
            detail =
                "model '\(request.model)' used \(limit) thinking (\(thinkingLines) thinking pieces) and "
                + (answered ? "its answer was cut" : "gave no answer") + "; raise max_tokens or set think: false for this stage"
        } else if thinkingLines > 0, !answered {
            detail =
                "model '\(request.model)' thought (\(thinkingLines) thinking pieces) but gave no answer; set think: false or raise max_tokens for this stage"
        }
        return FinishReason(kind, raw: reason, detail: detail)
    }

    /// Token counts and timings (nanoseconds to milliseconds) of a final chat line; absent metrics stay absent.
    /// `load_duration` comes on every reply, loaded or not (`routes.go:2804, 3021`), so it is kept as
    /// `runtime_load`, never as a load: whether Baton loaded the model is the executor's own record.
    private static func usage(_ line: ChatLine) -> GenerationUsage {
        var timings: [String: Double] = [:]
        for (name, nanoseconds) in [
            ("runtime_load", line.loadDuration), ("prompt", line.promptEvalDuration), ("generation", line.evalDuration),
            ("total", line.totalDuration),
        ] {
            if let nanoseconds { timings[name] = Double(nanoseconds) / 1_000_000 }
        }
        return GenerationUsage(promptTokens: line.promptEvalCount, outputTokens: line.evalCount, runtimeTimings: timings)
    }

    // MARK: - Loading and unloading

    /// A model loaded on the server (`GET /api/ps`).
    public struct LoadedModel: Sendable, Hashable {
        /// The name as the server lists it: the name that created the runner, with its tag.
        public var name: String
        /// Bytes it occupies: weights, KV cache and compute graph.
        public var size: Int64?
        /// The part of `size` in GPU memory (`0`: CPU only).
        public var sizeVRAM: Int64?
        /// The context window allocated, in tokens (`num_ctx` after clamping).
        public var contextLength: Int?
        /// When the server will unload it by itself (far in the future for `keep_alive: -1`).
        public var expiresAt: String?
        /// The digest of the weights' manifest, shared by every name for the same weights.
        public var digest: String? = nil
    }

    private struct PSReply: Decodable {
        struct Entry: Decodable {
            var name: String?
            var model: String?
            var size: Int64?
            var sizeVram: Int64?
            var contextLength: Int?
            var expiresAt: String?
            var digest: String?
        }
        var models: [Entry]?
    }

    /// The models loaded now, as `GET /api/ps` lists them.
    public func loadedModels() async throws -> [LoadedModel] {
        let reply: PSReply = try await getJSON("/api/ps", doing: "listing the loaded models")
        return (reply.models ?? []).compactMap { entry in
            guard let name = entry.name ?? entry.model else { return nil }
            return LoadedModel(
                name: name, size: entry.size, sizeVRAM: entry.sizeVram, contextLength: entry.contextLength, expiresAt: entry.expiresAt,
                digest: entry.digest)
        }
    }

    /// The runner serving `model` among `loaded`: listed under its name as Ollama normalises it, else
    /// under another name for the same weights. Ollama keeps one runner per weights file and lists the name
    /// that created it (`sched.go:110-127, 475-492`, `routes.go:2276`): a tag alias has the same manifest
    /// `digest`; a derived model (`FROM` another plus a `SYSTEM` line) has its own digest but the same
    /// weights file, which `/api/show` names in its Modelfile's `FROM` line (`routes.go:1520-1533`).
    func runner(of model: String, in loaded: [LoadedModel]) async -> LoadedModel? {
        for entry in loaded where await same(entry, model) { return entry }
        return nil
    }

    /// Whether the runner `entry` serves `model`: same name, same digest, or same weights file.
    func same(_ entry: LoadedModel, _ model: String) async -> Bool {
        if Self.sameModel(entry.name, model) { return true }
        if let digest = entry.digest, await self.digest(of: model) == digest { return true }
        guard let weights = await weights(of: model) else { return false }
        return await self.weights(of: entry.name) == weights
    }

    /// The weights digest of `model` from `/api/tags` (cached per client); nil when it cannot be had.
    /// A lookup that found nothing is not repeated for this long (each stage re-reads what is resident).
    static let missRetention = 30.0

    func digest(of model: String) async -> String? {
        if let known = book.digest(of: model) { return known }
        guard !book.missedRecently("digest", model, within: Self.missRetention) else { return nil }
        if let installed = try? await installedModels() {
            for entry in installed { if let digest = entry.digest { book.setDigest(digest, of: entry.name) } }
        }
        if let found = book.digest(of: model) { return found }
        book.missed("digest", model)
        return nil
    }

    /// The weights file of `model` (the `FROM` of the Modelfile `/api/show` reports; cached per client).
    func weights(of model: String) async -> String? {
        if let known = book.weights(of: model) { return known }
        guard manages(model), !book.missedRecently("weights", model, within: Self.missRetention) else { return nil }
        guard let weights = try? await show(model).weights else {
            book.missed("weights", model)
            return nil
        }
        book.setWeights(weights, of: model)
        return weights
    }

    /// The loaded models, each named as Baton last asked for it (by name as Ollama matches names, or by
    /// weights digest for an alias), else as the server lists it.
    public func residentModels() async throws -> [ResidentModel] {
        try await residentModels(naming: [])
    }

    /// The loaded models, each under the spelling of `planned` (or of a name Baton used before) that
    /// denotes it: the same name as Ollama matches names, else the same weights (digest).
    public func residentModels(naming planned: [String]) async throws -> [ResidentModel] {
        for name in planned { book.remember(name) }
        let loaded = try await loadedModels()
        var result: [ResidentModel] = []
        for entry in loaded {
            // The plan's spellings first, then any Baton used; the same name first, then the same weights.
            var name = planned.first { Self.sameModel($0, entry.name) }
            for spelling in planned + book.spellings where name == nil {
                if await same(entry, spelling) { name = spelling }
            }
            let spelling = name ?? book.spelling(of: entry.name) ?? entry.name
            result.append(ResidentModel(name: spelling, bytes: entry.size, contextLength: entry.contextLength))
        }
        return result
    }

    /// The context a load of `model` with `settings` gets: `num_ctx` (``defaultNumCtx`` when unset) clamped
    /// to the model's trained context (`<arch>.context_length` from `/api/show`, cached), as `/api/ps`
    /// `context_length` reports it (`llm/server.go:111-116`). Comparing clamped values matters: a stage
    /// asking 32768 of a model trained for 8192 gets 8192, and must not be reloaded for it.
    public func contextLength(of model: String, settings: StageSettings) async -> Int? {
        guard manages(model) else { return nil }
        if book.trainedContext(of: model) == nil, let trained = try? await show(model).contextLength {
            book.setTrainedContext(trained, of: model)
        }
        return contextWindow(model, numCtx: settings.numCtx)
    }

    /// An open-ended deadline for the load request's head: the load's own stall watch bounds it.
    static let openEnded = 7 * 24 * 3600.0

    /// Loads `model` with an empty chat and returns once Ollama confirms it.
    ///
    /// The reply `done_reason: "load"` is the confirmation: Ollama sends it only once the runner is in its
    /// loaded set (`sched.go:727, 751`), whichever name the runner is listed under; `/api/ps` then gives
    /// the size (matched by name, else by digest). A server that answers without `"load"` is polled.
    ///
    /// The load has no total deadline. Ollama aborts a load when its client disconnects
    /// (`llm/llama_server.go:1299-1301`), so giving up on a slow but healthy load would make it fail on
    /// every attempt. Ollama itself watches the load for progress and fails it after `OLLAMA_LOAD_TIMEOUT`
    /// without any (`llama_server.go:1285-1335`), so while it answers the request ends, loaded or failed.
    /// What Baton watches is the server: it asks `/api/ps` while the load runs, and gives up only when the
    /// server has not answered for ``loadTimeout`` (a stall, not a total).
    public func load(_ model: String, settings: StageSettings) async throws -> LoadReport {
        guard manages(model) else { return LoadReport(seconds: 0, measuredBytes: nil) }
        book.remember(model)
        let started = ContinuousClock.now
        // No `think`: loading does not read it (`routes.go:2634-2654`).
        var body: [String: Any] = ["model": model, "messages": [Any](), "keep_alive": -1]
        let options = Self.options(settings)
        if !options.isEmpty { body["options"] = options }
        let (response, data) = try await sendLoad(.json(baseURL + "/api/chat", body), model: model)
        guard response.status == 200 else { throw failure(status: response.status, body: data, model: model, doing: "loading") }
        if let error = Self.errorText(data) { throw streamFailure(error, model: model) }
        let entry: LoadedModel?
        if Self.doneReason(data) == "load" {
            entry = await runner(of: model, in: (try? await loadedModels()) ?? [])
        } else {
            entry = try await confirm(
                by: ContinuousClock.now + .seconds(loadTimeout), every: pollInterval,
                else: {
                    RuntimeError(
                        .timeout,
                        "Ollama at \(baseURL) answered the load of model '\(model)' but did not list it in /api/ps within \(Self.duration(loadTimeout))",
                        isTransient: true)
                }
            ) { await runner(of: model, in: try await loadedModels()) }
        }
        var notices: [RuntimeNotice] = []
        // After an unload Ollama frees GPU memory only after the runner leaves /api/ps (`sched.go:459-463`);
        // a load right after may land partly on the CPU (`sched.go:1433-1436`). Say so when it did.
        if let entry, let size = entry.size, let vram = entry.sizeVRAM, vram > 0, vram < size {
            notices.append(
                RuntimeNotice(
                    code: "partly-on-cpu",
                    message:
                        "Ollama at \(baseURL) placed only \(ByteCount(bytes: vram)) of model '\(model)' (\(ByteCount(bytes: size))) in GPU memory; the rest runs on the CPU, slowly. Lower num_ctx or the memory budget, or choose a smaller model"
                ))
        }
        return LoadReport(seconds: secondsSince(started), measuredBytes: entry?.size, notices: notices)
    }

    /// Sends a load request and waits for its reply as long as the server shows signs of life: a probe of
    /// `/api/ps` answers at least once every ``loadTimeout`` seconds.
    private func sendLoad(_ request: HTTPRequest, model: String) async throws -> (HTTPResponse, Data) {
        try await withThrowingTaskGroup(of: (HTTPResponse, Data)?.self) { group in
            group.addTask {
                let response = try await send(request, timeout: Self.openEnded, model: model, doing: "loading")
                return (response, try await response.collect(limit: 1024 * 1024))
            }
            group.addTask {
                let interval = max(pollInterval, min(5, loadTimeout / 4))
                var lastAnswer = ContinuousClock.now
                while true {
                    try await Task.sleep(for: .seconds(interval))
                    if (try? await loadedModels()) != nil {
                        lastAnswer = ContinuousClock.now
                    } else if ContinuousClock.now - lastAnswer >= .seconds(loadTimeout) {
                        throw RuntimeError(
                            .timeout,
                            "Ollama at \(baseURL) stopped answering while loading model '\(model)': no answer for \(Self.duration(loadTimeout)); check the server, or raise load_timeout in the runtime's options",
                            isTransient: true)
                    }
                }
            }
            defer { group.cancelAll() }
            while let next = try await group.next() {
                if let reply = next { return reply }
            }
            throw CancellationError()
        }
    }

    /// Asks Ollama to unload `model` (asynchronous in Ollama) and waits until `/api/ps` no longer lists its
    /// runner, under its name or another name for the same weights.
    public func unload(_ model: String) async throws {
        guard manages(model) else { return }
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
        ) { await runner(of: model, in: try await loadedModels()) == nil ? () : nil }
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
            throw RuntimeError(
                .badResponse, "Ollama at \(baseURL) answered \(path) with something that is not its JSON", isTransient: false)
        }
        return reply
    }

    /// The `error` text of an Ollama error body, if it is one.
    static func errorText(_ body: Data?) -> String? {
        guard let body, let object = try? JSONSerialization.jsonObject(with: body) as? [String: Any] else { return nil }
        return object["error"] as? String
    }

    /// Substrings of Ollama's out-of-memory errors, lower-cased: v0.33's own list (`llm/status.go:85-96`),
    /// the hyphenated `out-of-memory` of "llama-server reported out-of-memory during startup: ..."
    /// (`llm/llama_server.go:1371-1376`), and "unable to load full model on gpu". The pre-v0.30 "model
    /// requires more system memory" text has no producer left (removed in `9db4bdbad`) and is not listed.
    static let memoryErrors = [
        "out of memory", "out-of-memory", "out of device memory", "cudamalloc failed", "hipmalloc failed", "failed to allocate",
        "allocation failed", "not enough memory", "insufficient memory", "vk_error_out_of_device_memory", "erroroutofmemory",
        "unable to load full model on gpu",
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
        case 400 where text.contains("does not support thinking"):
            return RuntimeError(
                .httpStatus, "Ollama at \(baseURL) refused \(what) (\(said)); remove 'think' from the stage or choose a thinking model",
                isTransient: false)
        default:
            return RuntimeError(.httpStatus, "Ollama at \(baseURL) refused \(what) (\(said))", isTransient: false)
        }
    }

    /// The `done_reason` of a one-object reply (a load answers `"load"`).
    static func doneReason(_ body: Data?) -> String? {
        guard let body, let object = try? JSONSerialization.jsonObject(with: body) as? [String: Any] else { return nil }
        return object["done_reason"] as? String
    }

    /// The error for an `{"error": ...}` line after the reply started (status 200).
    func streamFailure(_ text: String, model: String) -> RuntimeError {
        if Self.isOutOfMemory(text) {
            return RuntimeError(
                .outOfMemory, "Ollama at \(baseURL) ran out of memory with model '\(model)': \(text.prefix(300))", isTransient: false)
        }
        return RuntimeError(
            .badResponse, "Ollama at \(baseURL) reported an error with model '\(model)' after it started answering: \(text.prefix(300))",
            isTransient: true)
    }

    static func duration(_ seconds: Double) -> String {
        seconds == seconds.rounded() ? "\(Int(seconds))s" : String(format: "%.2fs", seconds)
    }
}

/// What a client learned about model names: the spelling Baton used for each model (so resident models
/// are reported under the pipeline's names whichever form the server lists), each model's weights digest
/// and trained context. Keyed by ``OllamaClient/normalizedName(_:)``.
final class NameBook: Sendable {
    private struct Entries {
        var spellingByName: [String: String] = [:]
        var digests: [String: String] = [:]
        var trained: [String: Int] = [:]
        var weightsFiles: [String: String] = [:]
        /// When a lookup (`what` and the name, joined by a NUL) last found nothing.
        var misses: [String: ContinuousClock.Instant] = [:]
    }

    private let entries = Locked(Entries())

    private static func key(_ name: String) -> String { OllamaClient.normalizedName(name) }

    func remember(_ name: String) { entries.withLock { $0.spellingByName[Self.key(name)] = name } }

    /// The spelling Baton used for the model `listed` names, if it used one.
    func spelling(of listed: String) -> String? { entries.withLock { $0.spellingByName[Self.key(listed)] } }

    /// Every spelling Baton used.
    var spellings: [String] { entries.withLock { $0.spellingByName.values.sorted() } }

    func digest(of name: String) -> String? { entries.withLock { $0.digests[Self.key(name)] } }

    func setDigest(_ digest: String, of name: String) { entries.withLock { $0.digests[Self.key(name)] = digest } }

    func trainedContext(of name: String) -> Int? { entries.withLock { $0.trained[Self.key(name)] } }

    func setTrainedContext(_ context: Int, of name: String) { entries.withLock { $0.trained[Self.key(name)] = context } }

    /// Records that looking up `what` of `name` found nothing.
    func missed(_ what: String, _ name: String) { entries.withLock { $0.misses[what + "\u{0}" + Self.key(name)] = .now } }

    /// Whether looking up `what` of `name` found nothing less than `seconds` ago.
    func missedRecently(_ what: String, _ name: String, within seconds: Double) -> Bool {
        entries.withLock { $0.misses[what + "\u{0}" + Self.key(name)].map { ContinuousClock.now - $0 < .seconds(seconds) } ?? false }
    }

    func weights(of name: String) -> String? { entries.withLock { $0.weightsFiles[Self.key(name)] } }

    func setWeights(_ weights: String, of name: String) { entries.withLock { $0.weightsFiles[Self.key(name)] = weights } }
}
