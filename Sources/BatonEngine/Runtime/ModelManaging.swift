import BatonSpec

/// A model loaded on a runtime, with its size when the runtime reports one.
public struct ResidentModel: Sendable, Hashable {
    /// The model's name on the runtime.
    public var name: String
    /// Bytes it occupies, when the runtime says (Ollama `/api/ps` `size`; llama-server reports none).
    public var bytes: Int64?
    /// The context window it was loaded with, when the runtime says (Ollama `/api/ps` `context_length`).
    public var contextLength: Int?
    /// Whether its load is still under way (llama-server's router lists such a model as `loading`): a stage
    /// that needs it waits for it (``ModelManaging/waitUntilLoaded(_:)``) rather than loading it again.
    public var loading: Bool = false

    /// Creates a description.
    public init(name: String, bytes: Int64?, contextLength: Int? = nil, loading: Bool = false) {
        self.name = name
        self.bytes = bytes
        self.contextLength = contextLength
        self.loading = loading
    }
}

/// What a load took.
public struct LoadReport: Sendable, Hashable {
    /// Wall time from the request to the runtime confirming the model is loaded.
    public var seconds: Double
    /// Bytes the runtime reports for the loaded model, if any.
    public var measuredBytes: Int64?
    /// What the user should know about the load (a model placed partly on the CPU).
    public var notices: [RuntimeNotice]

    /// Creates a report.
    public init(seconds: Double, measuredBytes: Int64?, notices: [RuntimeNotice] = []) {
        self.seconds = seconds
        self.measuredBytes = measuredBytes
        self.notices = notices
    }
}

/// A runtime whose models Baton loads and unloads itself, so the memory budget holds.
public protocol ModelManaging: Sendable {
    /// The models loaded now.
    func residentModels() async throws -> [ResidentModel]
    /// Loads `model` with the stage's load-time settings and returns once the runtime confirms it is loaded.
    func load(_ model: String, settings: StageSettings) async throws -> LoadReport
    /// Unloads `model` and returns once the runtime confirms it is gone.
    func unload(_ model: String) async throws
    /// Whether Baton loads and unloads `model` here (Ollama's `:cloud` models run elsewhere: no).
    func manages(_ model: String) -> Bool
    /// The models loaded now, each named with the spelling of `planned` that denotes it when one does
    /// (runtimes that spell one model several ways report the plan's spelling).
    func residentModels(naming planned: [String]) async throws -> [ResidentModel]
    /// The context window a load of `model` with `settings` gets, as ``ResidentModel/contextLength`` would
    /// report it; nil when any loaded context will do. A resident model with another context is reloaded.
    func contextLength(of model: String, settings: StageSettings) async -> Int?
    /// Whether a model can load while another one generates, so the executor may start the next stage's
    /// load in the background (preloading). False by default.
    var loadsWhileGenerating: Bool { get }
    /// Loads `model` as ``load(_:settings:)`` does, calling `sent` once the runtime has the request (before
    /// the load is confirmed): where a crash test kills a run with a background load in flight.
    func load(_ model: String, settings: StageSettings, sent: @Sendable () -> Void) async throws -> LoadReport
    /// Waits until `model`, which the runtime lists as still loading (a load a killed run left), is loaded, and
    /// returns the seconds waited; nil when it is no longer listed at all (its load failed or was dropped), so
    /// the caller loads it itself.
    func waitUntilLoaded(_ model: String) async throws -> Double?
}

extension ModelManaging {
    /// Every model is managed.
    public func manages(_ model: String) -> Bool { true }
    /// The runtime's own names.
    public func residentModels(naming planned: [String]) async throws -> [ResidentModel] { try await residentModels() }
    /// Any context will do.
    public func contextLength(of model: String, settings: StageSettings) async -> Int? { nil }
    /// No background loads unless the runtime says it can.
    public var loadsWhileGenerating: Bool { false }
    /// The request counts as sent when the load begins.
    public func load(_ model: String, settings: StageSettings, sent: @Sendable () -> Void) async throws -> LoadReport {
        sent()
        return try await load(model, settings: settings)
    }
    /// Polls ``residentModels()`` every 0.1 s for up to 10 minutes.
    public func waitUntilLoaded(_ model: String) async throws -> Double? {
        let started = ContinuousClock.now
        return try await confirm(
            by: started + .seconds(600), every: 0.1,
            else: { RuntimeError(.timeout, "model '\(model)' was still loading after 600 s; restart the runtime", isTransient: true) }
        ) { () async throws -> Double?? in
            guard let entry = try await residentModels().first(where: { $0.name == model }) else { return .some(nil) }
            return entry.loading ? nil : .some(secondsSince(started))
        }
    }
}

/// Polls `check` every `interval` seconds until it returns a value, which it returns; throws `timedOut()`
/// once `deadline` has passed without one. How the clients confirm a load or an unload with the runtime,
/// since neither runtime's reply alone says the model is ready or gone.
func confirm<T>(
    by deadline: ContinuousClock.Instant, every interval: Double, else timedOut: () -> RuntimeError,
    _ check: () async throws -> T?
) async throws -> T {
    while true {
        if let value = try await check() { return value }
        guard ContinuousClock.now < deadline else { throw timedOut() }
        try await Task.sleep(for: .seconds(interval))
    }
}

/// Seconds from `start` to now.
func secondsSince(_ start: ContinuousClock.Instant) -> Double {
    let elapsed = ContinuousClock.now - start
    return Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
}
