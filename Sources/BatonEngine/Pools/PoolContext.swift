import BatonSpec
import Foundation

/// What the pools of one run share: the store their reservations go to, the run and its lease epoch, the footprints
/// placement counts, and how to wait.
struct PoolContext: Sendable {
    /// The run's store (fenced when a worker runs it: a fenced worker cannot reserve).
    var store: RunStore
    /// The run.
    var runID: String
    /// The run's lease epoch (reservations of another epoch are stale).
    var epoch: Int64
    /// Bytes per model name, for pool models whose footprint is known.
    var footprints: [String: Int64]
    /// Seconds between looks while no host has room.
    var pollInterval: Double
    /// How long a stage without a timeout waits for room.
    var defaultWait: Double
    /// Sleeps (cancellable: a signal ends a wait).
    var sleep: @Sendable (Double) async throws -> Void

    /// Appends an event to the run, ignoring nothing: a store that fails here fails the stage.
    func event(_ kind: EventKind, _ payload: [String: Any]) throws {
        let data = try JSONSerialization.data(withJSONObject: payload, options: [.sortedKeys])
        try store.appendEvent(runID, kind: kind, payload: String(decoding: data, as: UTF8.self))
    }
}

/// The runtimes of one run with each pool runtime replaced by its ``PooledRuntime``.
struct PooledRuntimes: RuntimeProvider {
    /// Where the other runtimes come from.
    let base: any RuntimeProvider
    /// The pools, by runtime name.
    let pools: [String: PooledRuntime]

    func runtime(for model: ResolvedModel, snapshot: RunSnapshot) throws -> any LLMRuntime {
        if let pool = pools[snapshot.forcedRuntime ?? model.runtime ?? ""] { return pool }
        return try base.runtime(for: model, snapshot: snapshot)
    }

    /// The runtimes for run `runID` of `snapshot`: nil when its profile has no pool (or `--runtime` forces another),
    /// else `base` with a pool runtime per pool, the pools' hosts recorded in the store.
    static func forRun(
        _ snapshot: RunSnapshot, base: any RuntimeProvider, store: RunStore, runID: String,
        sleep: @escaping @Sendable (Double) async throws -> Void
    ) throws -> PooledRuntimes? {
        guard !(base is PooledRuntimes), snapshot.forcedRuntime == nil, let profile = snapshot.profile?.spec else { return nil }
        let specs = profile.runtimes.filter(\.isPool)
        guard !specs.isEmpty else { return nil }
        try store.registerRuntimeHosts(
            specs.flatMap { spec in
                (spec.hosts ?? []).map {
                    RuntimeHostRecord(url: $0.url, runtime: spec.name, budgetBytes: $0.budget.bytes, labels: $0.labels)
                }
            })
        let measured = (try? store.measuredFootprints()) ?? [:]
        var footprints: [String: Int64] = [:]
        for stage in snapshot.plan.stages {
            for model in stage.models where specs.contains(where: { $0.name == model.runtime }) {
                let key = ModelKey(runtime: model.runtime ?? "?", name: model.name)
                guard
                    let bytes = FootprintSource.resolve(
                        model, key: key, contextSize: stage.settings.numCtx, profile: snapshot.profile, measured: measured)?.bytes
                else { continue }
                footprints[model.name] = max(footprints[model.name] ?? 0, bytes)
            }
        }
        let epoch = try store.backend.fence?.epoch ?? store.run(runID).leaseEpoch
        let context = PoolContext(
            store: store, runID: runID, epoch: epoch, footprints: footprints, pollInterval: 1, defaultWait: 3600, sleep: sleep)
        var pools: [String: PooledRuntime] = [:]
        for spec in specs { pools[spec.name] = try PooledRuntime(spec: spec, context: context) }
        return PooledRuntimes(base: base, pools: pools)
    }
}
