import BatonSpec
import Foundation

/// llama.cpp's llama-server in router mode: chat through its OpenAI-compatible endpoint, models loaded
/// and unloaded with `POST /models/load` and `/models/unload`, each confirmed by polling `GET /models`.
///
/// The router has no memory accounting of its own (it limits the number of models); Baton's memory
/// planner decides what is loaded. The context size is fixed per model by the router's arguments, so
/// a stage's `num_ctx` is not sent.
public struct LlamaServerClient: LLMRuntime, ModelManaging {
    /// The server's base URL (`http://127.0.0.1:8080`).
    public let baseURL: String
    /// Seconds allowed for a load to be confirmed.
    public let loadTimeout: Double
    /// Seconds allowed for an unload to be confirmed.
    public let unloadTimeout: Double
    /// Seconds between polls of `GET /models`.
    public let pollInterval: Double
    let transport: any HTTPTransport
    private let chat: OpenAICompatibleClient

    /// Creates a client for the server at `baseURL`.
    public init(
        baseURL: String, transport: any HTTPTransport = AsyncHTTPTransport(), loadTimeout: Double = 300,
        unloadTimeout: Double = 60, pollInterval: Double = 0.1
    ) {
        let base = baseURL.hasSuffix("/") ? String(baseURL.dropLast()) : baseURL
        self.baseURL = base
        self.transport = transport
        self.loadTimeout = loadTimeout
        self.unloadTimeout = unloadTimeout
        self.pollInterval = pollInterval
        self.chat = OpenAICompatibleClient(chatURL: base + "/v1/chat/completions", transport: transport)
    }

    /// The stream fails by itself past the stage's timeout (``AsyncThrowingStream/generation(_:_:)``).
    public var enforcesTimeout: Bool { true }

    public func generate(_ request: GenerationRequest) -> AsyncThrowingStream<GenerationEvent, any Error> {
        guard let tools = request.tools, !tools.isEmpty else { return chat.generate(request) }
        let chat = chat
        return .generation(request) { continuation in
            try await checkToolSupport(request.model)
            for try await event in chat.generate(request) { continuation.yield(event) }
        }
    }

    /// Refuses native tools for a model whose chat template cannot render them. llama-server does not: it answers
    /// 200 and ignores `tools`, even with `tool_choice: "required"` (checked with b11434 and Baton's Gemma template,
    /// which answered in plain text), because without template support no tool parser or grammar is built
    /// (`common/chat.cpp`, `chat-auto-parser-generator.cpp:127`). `GET /props?model=` says so in
    /// `chat_template_caps.supports_tools` (`tools/server/server-context.cpp:4555, 4986`). A server that cannot be
    /// asked (not a router, an older build) is not refused.
    func checkToolSupport(_ model: String) async throws {
        let encoded = model.addingPercentEncoding(withAllowedCharacters: .urlQueryAllowed) ?? model
        guard
            let response = try? await transport.send(
                HTTPRequest(method: "GET", url: baseURL + "/props?model=\(encoded)&autoload=false"), connectTimeout: 10)
        else { return }
        let data = (try? await response.collect()) ?? Data()
        guard response.status == 200, let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
            let caps = object["chat_template_caps"] as? [String: Any], let supports = caps["supports_tools"] as? Bool
        else { return }
        if !supports {
            throw ToolWire.unsupported(
                model: model, server: "llama-server at \(baseURL)",
                said:
                    "its chat template renders no tools: /props says chat_template_caps.supports_tools is false, and llama-server would ignore them"
            )
        }
    }

    // MARK: - Router

    /// A model the router knows, with its state.
    public struct RouterModel: Sendable, Hashable {
        /// The model id (the file name in the models folder, without `.gguf`).
        public var id: String
        /// `unloaded`, `loading`, `loaded` or `sleeping`.
        public var status: String
        /// Whether its last load failed.
        public var failed: Bool
        /// The weight file's size in bytes, when loaded.
        public var size: Int64?
        /// The context size of the loaded model.
        public var contextSize: Int?
        /// The model's trained context length, when loaded.
        public var trainedContext: Int?
        /// The GGUF file the router runs it from: the `--model` / `-m` argument in `status.args`, else
        /// `model =` in `status.preset` (both listed whether or not the model is loaded).
        public var path: String? = nil
        /// The context size the router gives it (`--ctx-size` / `-c` in `status.args`), when set.
        public var contextArgument: Int? = nil
        /// Parameters (`meta.n_params`), when loaded.
        public var parameterCount: Int64? = nil
        /// The quantization as llama.cpp names it (`meta.ftype`, `Q4_K - Medium`), when loaded.
        public var fileType: String? = nil
    }

    /// The value after `--model`/`-m` (or `--ctx-size`/`-c`) in a child's arguments, or of `model =` in its preset.
    static func argument(_ names: Set<String>, presetKey: String, args: [String], preset: String?) -> String? {
        for (index, argument) in args.enumerated() where names.contains(argument) && index + 1 < args.count {
            return args[index + 1]
        }
        for line in (preset ?? "").split(whereSeparator: \.isNewline) {
            let parts = line.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
            if parts.count == 2, parts[0] == presetKey { return parts[1] }
        }
        return nil
    }

    /// Every model the router knows (`GET /models`).
    public func models() async throws -> [RouterModel] {
        let response = try await transport.send(HTTPRequest(method: "GET", url: baseURL + "/models"), connectTimeout: 10)
        let data = try await response.collect()
        guard response.status == 200 else {
            throw OpenAICompatibleClient.httpError(response.status, body: data, url: baseURL + "/models", model: "")
        }
        let object = try? JSONSerialization.jsonObject(with: data)
        let entries = ((object as? [String: Any])?["data"] as? [[String: Any]]) ?? (object as? [[String: Any]]) ?? []
        return entries.compactMap { entry in
            guard let id = entry["id"] as? String else { return nil }
            let status = entry["status"] as? [String: Any]
            let meta = entry["meta"] as? [String: Any]
            let args = (status?["args"] as? [String]) ?? []
            let preset = status?["preset"] as? String
            return RouterModel(
                id: id, status: (status?["value"] as? String) ?? "loaded", failed: (status?["failed"] as? Bool) ?? false,
                size: (meta?["size"] as? NSNumber)?.int64Value, contextSize: meta?["n_ctx"] as? Int,
                trainedContext: meta?["n_ctx_train"] as? Int,
                path: Self.argument(["--model", "-m"], presetKey: "model", args: args, preset: preset),
                contextArgument: Self.argument(["--ctx-size", "-c"], presetKey: "ctx-size", args: args, preset: preset).flatMap { Int($0) },
                parameterCount: (meta?["n_params"] as? NSNumber)?.int64Value, fileType: meta?["ftype"] as? String)
        }
    }

    public func residentModels() async throws -> [ResidentModel] {
        try await models().filter { ["loaded", "loading", "sleeping"].contains($0.status) }
            .map { ResidentModel(name: $0.id, bytes: nil, loading: $0.status == "loading") }
    }

    /// The router runs each model in a child process of its own ("a multi-process architecture where each model
    /// runs in its own process", huggingface.co/blog/ggml-org/model-management-in-llamacpp), and `/models/load`
    /// answers before the load is done (``load(_:settings:sent:)`` polls `GET /models` for it), so one model loads
    /// while another serves a request; PreloadRouterTests sees it on the real router.
    public var loadsWhileGenerating: Bool { true }

    public func load(_ model: String, settings: StageSettings) async throws -> LoadReport {
        try await load(model, settings: settings, sent: {})
    }

    public func load(_ model: String, settings: StageSettings, sent: @Sendable () -> Void) async throws -> LoadReport {
        let started = ContinuousClock.now
        let response = try await transport.send(.json(baseURL + "/models/load", ["model": model]), connectTimeout: 10)
        let data = try await response.collect()
        if response.status != 200 {
            let error = OpenAICompatibleClient.httpError(response.status, body: data, url: baseURL + "/models/load", model: model)
            // "model is already running" is what we want.
            if !(response.status == 400 && String(decoding: data, as: UTF8.self).contains("already running")) { throw error }
        }
        sent()
        try await confirmLoaded(model, started: started)
        return LoadReport(seconds: secondsSince(started), measuredBytes: nil)
    }

    /// Waits for a load another process started (the router lists the model `loading`), without asking again.
    public func waitUntilLoaded(_ model: String) async throws -> Double? {
        let started = ContinuousClock.now
        guard let entry = try await models().first(where: { $0.id == model }), entry.status != "unloaded" else { return nil }
        try await confirmLoaded(model, started: started)
        return secondsSince(started)
    }

    /// Polls `GET /models` until `model` is `loaded`; throws when its child exited or ``loadTimeout`` passed.
    private func confirmLoaded(_ model: String, started: ContinuousClock.Instant) async throws {
        try await confirm(
            by: started + .seconds(loadTimeout), every: pollInterval,
            else: {
                RuntimeError(
                    .timeout, "llama-server at \(baseURL) did not finish loading '\(model)' within \(Int(loadTimeout))s", isTransient: true)
            }
        ) { () async throws -> Void? in
            guard let entry = try await models().first(where: { $0.id == model }) else {
                throw RuntimeError(
                    .modelNotFound, "llama-server at \(baseURL) has no model '\(model)' in its models folder", isTransient: false)
            }
            if entry.failed && entry.status == "unloaded" {
                throw RuntimeError(
                    .outOfMemory, "llama-server at \(baseURL) could not load '\(model)' (its process exited; see the server's log)",
                    isTransient: false)
            }
            return entry.status == "loaded" ? () : nil
        }
    }

    public func unload(_ model: String) async throws {
        let response = try await transport.send(.json(baseURL + "/models/unload", ["model": model]), connectTimeout: 10)
        let data = try await response.collect()
        if response.status != 200 && !(response.status == 400 && String(decoding: data, as: UTF8.self).contains("not running")) {
            throw OpenAICompatibleClient.httpError(response.status, body: data, url: baseURL + "/models/unload", model: model)
        }
        try await confirm(
            by: .now + .seconds(unloadTimeout), every: pollInterval,
            else: {
                RuntimeError(
                    .timeout, "llama-server at \(baseURL) did not confirm unloading '\(model)' within \(Int(unloadTimeout))s",
                    isTransient: true)
            }
        ) { () async throws -> Void? in
            guard let entry = try await models().first(where: { $0.id == model }) else { return () }
            return entry.status == "unloaded" ? () : nil
        }
    }

    /// `GET /health` answers ok.
    public func isHealthy() async -> Bool {
        guard let response = try? await transport.send(HTTPRequest(method: "GET", url: baseURL + "/health"), connectTimeout: 5) else {
            return false
        }
        _ = try? await response.collect()
        return response.status == 200
    }
}
