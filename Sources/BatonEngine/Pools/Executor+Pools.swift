import BatonSpec
import Foundation

extension PooledRuntime {
    /// Whether runtime `name` of `snapshot` is a pool (its models are placed on hosts, not planned on this machine).
    static func isPool(_ name: String, _ snapshot: RunSnapshot) -> Bool {
        snapshot.forcedRuntime == nil && snapshot.profile?.spec.runtime(named: name)?.isPool == true
    }
}

extension Executor {
    /// Makes `model` resident for `stage` on a host of `pool` (``PooledRuntime``): the run's other models on that pool
    /// are given back first, except the one its critic loop alternates with (a loop's rounds keep their hosts), then
    /// the model is placed, its room reserved and the load recorded. Nil for a model the pool does not manage.
    func preparePooled(_ stage: PlannedStage, model: ResolvedModel, pool: PooledRuntime, state: inout RunState) async throws
        -> PreparedModel?
    {
        guard pool.manages(model.name) else { return nil }
        let key = Self.modelKey(model, state: state)
        let partners = Set(loopPartners(of: stage, state: state).map(\.name))
        for other in pool.placements.keys.sorted() where other != model.name && !partners.contains(other) {
            try await unload(
                ModelKey(runtime: key.runtime, name: other), with: pool, stage: stage, state: state,
                reason: "stage \(stage.name) uses \(key.name) next (runtime pool '\(pool.name)')")
        }
        if pool.placements[model.name] != nil,
            let entry = try await pool.residentModels(naming: [model.name]).first(where: { $0.name == model.name })
        {
            let needed = await pool.contextLength(of: model.name, settings: stage.settings)
            if needed == nil || entry.contextLength == nil || entry.contextLength == needed {
                return PreparedModel(loadSeconds: nil, wasResident: true)
            }
            try await unload(
                key, with: pool, stage: stage, state: state,
                reason: "loaded with a context of \(entry.contextLength ?? 0) tokens; the stage needs \(needed ?? 0)")
        }
        observer(.loadStarted(stage: stage.name, model: key.description))
        let report = try await pool.load(model.name, settings: stage.settings)
        try recordLoad(report, key: key, stageName: stage.name, numCtx: stage.settings.numCtx, state: &state)
        return PreparedModel(loadSeconds: report.seconds, wasResident: false)
    }

    /// The models of the stages `stage` alternates with in a critic loop (its critic, or the stage it reviews).
    private func loopPartners(of stage: PlannedStage, state: RunState) -> [ResolvedModel] {
        let plan = state.snapshot.plan
        let partner = stage.critic.flatMap { plan.stage(named: $0.reviews) } ?? stage.reviewedBy.flatMap(plan.stage(named:))
        return partner.flatMap { state.activeModel(of: $0) }.map { [$0] } ?? []
    }
}
