/// The environment variables that tests and benchmarks set to steer a run; this is the one place that reads them.
///
/// - `BATON_TEST_KILL_AT`: a ``KillSwitch`` specification; the process kills itself at that point (crash tests).
/// - `BATON_BENCH_UNLOAD_AFTER_EACH_STAGE=1`: every model is unloaded right after its stage (benchmarks that compare
///   with the memory planner).
/// - `BATON_PROGRESS_INTERVAL`: seconds between saves of a streaming attempt's partial output (tests shorten it).
///
/// (`BATON_SQLITE_VEC`, the sqlite-vec extension for `vector: sqlite-vec` indexes, is configuration, not tuning:
/// ``IndexService/sqliteVecPath(environment:)`` reads it.)
public struct RunTuning: Sendable {
    /// Where the process kills itself, for crash tests.
    public var killSwitch: KillSwitch?
    /// Whether every model is unloaded right after its stage.
    public var unloadAfterEachStage: Bool
    /// Seconds between saves of partial output, when set.
    public var progressInterval: Double?

    /// The settings `environment` gives.
    public init(environment: [String: String]) {
        killSwitch = environment["BATON_TEST_KILL_AT"].flatMap(KillSwitch.init(specification:))
        unloadAfterEachStage = environment["BATON_BENCH_UNLOAD_AFTER_EACH_STAGE"] == "1"
        progressInterval = environment["BATON_PROGRESS_INTERVAL"].flatMap(Double.init)
    }
}

extension Executor {
    /// An executor over `store` as a command runs one: the runtimes, API keys and thermal sensor that `environment`
    /// gives, the store's kill switch and the ``RunTuning`` settings.
    public static func forSession(
        store: RunStore, environment: [String: String], observer: @escaping @Sendable (RunEvent) -> Void
    ) -> Executor {
        var executor = Executor(
            store: store, runtimes: RuntimeCatalog(environment: environment, keys: KeyFileSource(environment: environment)),
            observer: observer)
        let tuning = RunTuning(environment: environment)
        executor.killSwitch = store.killSwitch
        executor.unloadAfterEachStage = tuning.unloadAfterEachStage
        executor.thermal = ThermalSensors.platform(environment: environment)
        executor.sqliteVecPath = IndexService.sqliteVecPath(environment: environment)
        if let interval = tuning.progressInterval { executor.progressInterval = interval }
        return executor
    }
}

extension RunStore {
    /// Opens the run database at `path` for a run, with the kill switch of ``RunTuning`` armed.
    public static func forSession(path: String, environment: [String: String]) throws -> RunStore {
        var store = try RunStore(path: path)
        store.killSwitch = RunTuning(environment: environment).killSwitch
        return store
    }
}
