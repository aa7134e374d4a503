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
}
