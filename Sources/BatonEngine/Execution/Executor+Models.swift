import BatonSpec
import Foundation

extension Executor {
    /// Makes `stage`'s model resident before it runs, unloading what the memory planner chooses first, on
    /// runtimes whose models Baton manages. Returns the load time (nil when the model was resident) and
    /// whether it was resident, or nil for runtimes that manage their own models (echo, clouds).
    func prepareModel(
        _ stage: PlannedStage, model: ResolvedModel, round: Int, runtime: any LLMRuntime, state: inout RunState
    ) async throws -> (loadSeconds: Double?, wasResident: Bool)? {
        guard let manager = runtime as? any ModelManaging else { return nil }
        let plan = state.snapshot.plan
        func key(_ model: ResolvedModel) -> ModelKey {
            ModelKey(runtime: state.snapshot.forcedRuntime ?? model.runtime ?? "?", name: model.name)
        }
        let current = key(model)

        // What every managed runtime of the plan has loaded now.
        var managers: [String: (any ModelManaging, ResolvedModel)] = [current.runtime: (manager, model)]
        for planned in plan.stages {
            guard let other = state.activeModel(of: planned), managers[key(other).runtime] == nil,
                let otherRuntime = try? runtimes.runtime(for: other, snapshot: state.snapshot),
                let otherManager = otherRuntime as? any ModelManaging
            else { continue }
            managers[key(other).runtime] = (otherManager, other)
        }
        // Ollama may list `llama3.2` for `llama3.2:latest`: match names without a `:latest` tag to the
        // plan's spelling, so a resident model is not mistaken for a stranger.
        func canonical(_ name: String) -> String { name.hasSuffix(":latest") ? String(name.dropLast(7)) : name }
        var planned: [String: ModelKey] = [:]
        for stageModel in plan.stages.compactMap({ state.activeModel(of: $0) }) {
            let planKey = key(stageModel)
            planned["\(planKey.runtime)\u{0}\(canonical(planKey.name))"] = planKey
        }
        var resident: Set<ModelKey> = []
        for (runtimeName, entry) in managers {
            // Only this stage's runtime must answer; another one that is down holds nothing we can unload.
            let listed = runtimeName == current.runtime ? try await entry.0.residentModels() : (try? await entry.0.residentModels()) ?? []
            for loaded in listed {
                resident.insert(
                    planned["\(runtimeName)\u{0}\(canonical(loaded.name))"] ?? ModelKey(runtime: runtimeName, name: loaded.name))
            }
        }

        // The uses from here on: this stage, its critic loop's next round if there may be one, the rest.
        let order = plan.stages
        let position = order.firstIndex { $0.name == stage.name } ?? 0
        var upcoming: [PlannedStage] = [stage]
        if let loop = stage.critic, round < loop.maxRounds, let reviewed = plan.stage(named: loop.reviews) {
            upcoming.append(reviewed)
            upcoming.append(stage)
        } else if let critic = stage.reviewedBy.flatMap(plan.stage(named:)), round > 1 {
            upcoming.append(critic)
        }
        upcoming += order[(position + 1)...]
        let uses = upcoming.compactMap { $0.name == stage.name ? current : state.activeModel(of: $0).map(key) }
        var footprints: [ModelKey: Int64] = [:]
        for planned in order {
            guard let first = planned.name == stage.name ? model : state.activeModel(of: planned), footprints[key(first)] == nil
            else { continue }
            footprints[key(first)] = FootprintSource.resolve(
                first, key: key(first), contextSize: planned.settings.numCtx, profile: state.snapshot.profile,
                measured: state.measured)?.bytes
        }
        let (budget, _) = LoadPlan.resolveBudget(plan.memoryBudget, machine: machine())
        // A resident model this plan does not use still takes memory: the registry's footprint, else
        // (unknown size) the whole budget, so it is the first to go when room is needed.
        for other in resident where footprints[other] == nil {
            let entry = state.snapshot.profile?.spec.model(named: other.name)
            footprints[other] = (entry?.runtime == nil || entry?.runtime == other.runtime) ? entry?.footprint?.bytes ?? budget : budget
        }
        let evictions: [ModelKey]
        do {
            evictions = try MemoryPlanner.evictions(resident: resident, uses: uses, footprints: footprints, budget: budget)
        } catch {
            throw StageFailure(
                message: "stage '\(stage.name)': \(error)", runtimeUnavailable: false, fallbackReason: "does not fit the memory budget")
        }
        for victim in evictions {
            guard let (victimManager, _) = managers[victim.runtime] else { continue }
            let started = Date()
            try await victimManager.unload(victim.name)
            let seconds = Date().timeIntervalSince(started)
            try store.appendEvent(
                state.runID, kind: "model-unloaded", stage: stage.name,
                payload: try Self.encode(["model": victim.description, "seconds": String(format: "%.3f", seconds)]))
            observer(.modelUnloaded(model: victim.description, seconds: seconds))
        }
        if resident.contains(current) { return (nil, true) }
        // Refuse a load the machine cannot hold now, before the runtime tries (and fails, or swaps).
        if let need = footprints[current], let available = machine().available, need > available {
            throw RuntimeError(
                .outOfMemory,
                "model '\(current)' needs \(ByteCount(bytes: need)) but the machine has \(ByteCount(bytes: available)) available; close other programs or choose a smaller model",
                isTransient: false)
        }
        let report = try await manager.load(model.name, settings: stage.settings)
        if let measured = report.measuredBytes {
            state.measured[current] = measured
            try store.saveFootprint(runtime: current.runtime, model: current.name, bytes: measured)
        }
        try store.appendEvent(
            state.runID, kind: "model-loaded", stage: stage.name,
            payload: try Self.encode(["model": current.description, "seconds": String(format: "%.3f", report.seconds)]))
        observer(.modelLoaded(model: current.description, seconds: report.seconds))
        return (report.seconds, false)
    }
}

extension RunState {
    /// The model `stage` runs on now: its first model, or the one it fell back to.
    func activeModel(of stage: PlannedStage) -> ResolvedModel? {
        guard !stage.models.isEmpty else { return nil }
        return stage.models[min(modelIndex[stage.name] ?? 0, stage.models.count - 1)]
    }
}
