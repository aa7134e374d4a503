import BatonSpec
import Foundation

extension Executor {
    /// Makes `stage`'s model resident before it runs, unloading what the memory planner chooses first, on
    /// runtimes whose models Baton manages. Returns the load time (nil when the model was resident) and
    /// whether it was resident, or nil for runtimes that manage their own models (echo, clouds) and for
    /// models a managed runtime does not load (Ollama's `:cloud` models).
    ///
    /// What is resident is re-read from the runtimes before every stage. A model counts as resident only
    /// when it holds the context the stage needs (``ModelManaging/contextLength(of:settings:)``); otherwise
    /// Baton unloads and reloads it itself, so the reload is planned, measured and recorded instead of
    /// happening inside the stage's first chat. A model Baton loaded that a runtime dropped on its own
    /// (Ollama keeps at most 3 and evicts to make room, `server/sched.go:265-291, 547-561, 649-669`) is
    /// recorded as `model-evicted-by-runtime` and loaded again when a stage needs it.
    func prepareModel(
        _ stage: PlannedStage, model: ResolvedModel, round: Int, runtime: any LLMRuntime, state: inout RunState
    ) async throws -> (loadSeconds: Double?, wasResident: Bool)? {
        guard let manager = runtime as? any ModelManaging, manager.manages(model.name) else { return nil }
        let current = Self.modelKey(model, state: state)
        var residency = try await residency(for: model, manager: manager, state: state)
        try recordRuntimeEvictions(resident: residency.resident, answered: residency.answered, stage: stage, state: state)
        // Resident with another context than this stage needs: Ollama would reload it inside the chat.
        if residency.resident.contains(current), let needed = await manager.contextLength(of: model.name, settings: stage.settings),
            let loaded = residency.contexts[current], loaded != needed
        {
            try await unload(
                current, with: manager, stage: stage, state: state,
                reason: "loaded with a context of \(loaded) tokens; the stage needs \(needed)")
            residency.resident.remove(current)
        }
        let footprints = try await makeRoom(for: stage, model: model, round: round, residency: residency, state: state)
        if residency.resident.contains(current) { return (nil, true) }
        let seconds = try await load(model, key: current, with: manager, footprint: footprints[current], stage: stage, state: &state)
        return (seconds, false)
    }

    /// The key of `model` in this run: its runtime (the forced one, under `--runtime`) and its name.
    static func modelKey(_ model: ResolvedModel, state: RunState) -> ModelKey {
        ModelKey(runtime: state.snapshot.forcedRuntime ?? model.runtime ?? "?", name: model.name)
    }

    /// What every managed runtime of the plan has loaded now, each model under the plan's spelling when one
    /// denotes it. Only `model`'s runtime must answer: another one that is down holds nothing Baton can unload.
    private func residency(for model: ResolvedModel, manager: any ModelManaging, state: RunState) async throws -> Residency {
        let plan = state.snapshot.plan
        let current = Self.modelKey(model, state: state)
        var residency = Residency(managers: [current.runtime: manager])
        for planned in plan.stages {
            // A runtime found down in this run is not asked again (runOnChain skips its models).
            guard let other = state.activeModel(of: planned), residency.managers[Self.modelKey(other, state: state).runtime] == nil,
                state.deadRuntime(Self.modelKey(other, state: state).runtime) == nil,
                let otherRuntime = try? runtimes.runtime(for: other, snapshot: state.snapshot),
                let otherManager = otherRuntime as? any ModelManaging
            else { continue }
            residency.managers[Self.modelKey(other, state: state).runtime] = otherManager
        }
        var plannedNames: [String: [String]] = [:]
        for stageModel in plan.stages.compactMap({ state.activeModel(of: $0) }) + [model] {
            plannedNames[Self.modelKey(stageModel, state: state).runtime, default: []].append(stageModel.name)
        }
        for (runtimeName, runtimeManager) in residency.managers {
            let listed: [ResidentModel]
            if runtimeName == current.runtime {
                listed = try await runtimeManager.residentModels(naming: plannedNames[runtimeName] ?? [])
            } else if let found = try? await runtimeManager.residentModels(naming: plannedNames[runtimeName] ?? []) {
                listed = found
            } else {
                continue
            }
            residency.answered.insert(runtimeName)
            for loaded in listed {
                let loadedKey = ModelKey(runtime: runtimeName, name: loaded.name)
                residency.resident.insert(loadedKey)
                if let context = loaded.contextLength { residency.contexts[loadedKey] = context }
            }
        }
        return residency
    }

    /// Unloads what the memory planner chooses so that `stage`'s model fits beside the models the rest of the
    /// run will use soonest, and returns the footprints it planned with.
    private func makeRoom(
        for stage: PlannedStage, model: ResolvedModel, round: Int, residency: Residency, state: RunState
    ) async throws -> [ModelKey: Int64] {
        let plan = state.snapshot.plan
        func key(_ model: ResolvedModel) -> ModelKey { Self.modelKey(model, state: state) }
        func managed(_ key: ModelKey) -> Bool { residency.managers[key.runtime]?.manages(key.name) ?? true }
        let current = key(model)
        // The uses from here on: this stage, its critic loop's next round if there may be one, the rest.
        let order = plan.stages
        let position = state.positions[stage.name] ?? 0
        var upcoming: [PlannedStage] = [stage]
        if let loop = stage.critic, round < loop.maxRounds, let reviewed = plan.stage(named: loop.reviews) {
            upcoming.append(reviewed)
            upcoming.append(stage)
        } else if let critic = stage.reviewedBy.flatMap(plan.stage(named:)), round > 1 {
            upcoming.append(critic)
        }
        // Stages a chosen branch already leaves out (and their critics) will not load anything.
        let decided = state.branches.isEmpty && state.skippedCalls.isEmpty
        upcoming += decided ? Array(order[(position + 1)...]) : order[(position + 1)...].filter { !state.knownSkipped($0) }
        let uses = upcoming.compactMap { $0.name == stage.name ? current : state.activeModel(of: $0).map(key) }.filter(managed)
        // A model's footprint at the largest context any stage gives it, since stages may reload it larger.
        var footprints: [ModelKey: Int64] = [:]
        for planned in order {
            guard let used = planned.name == stage.name ? model : state.activeModel(of: planned), managed(key(used)),
                let bytes = FootprintSource.resolve(
                    used, key: key(used), contextSize: planned.settings.numCtx, profile: state.snapshot.profile, measured: state.measured)?
                    .bytes
            else { continue }
            footprints[key(used)] = max(footprints[key(used)] ?? 0, bytes)
        }
        let (budget, _) = LoadSchedule.resolveBudget(plan.memoryBudget, machine: machine())
        // A resident model this plan does not use still takes memory: the registry's footprint, else
        // (unknown size) the whole budget, so it is the first to go when room is needed.
        for other in residency.resident where footprints[other] == nil {
            let entry = state.snapshot.profile?.spec.model(named: other.name)
            footprints[other] = (entry?.runtime == nil || entry?.runtime == other.runtime) ? entry?.footprint?.bytes ?? budget : budget
        }
        let evictions: [ModelKey]
        do {
            evictions = try MemoryPlanner.evictions(resident: residency.resident, uses: uses, footprints: footprints, budget: budget)
        } catch {
            throw StageFailure(
                message: "stage '\(stage.name)': \(error)", runtimeUnavailable: false, fallbackReason: "does not fit the memory budget")
        }
        for victim in evictions {
            guard let victimManager = residency.managers[victim.runtime] else { continue }
            try await unload(victim, with: victimManager, stage: stage, state: state, reason: nil)
        }
        return footprints
    }

    /// Loads `model` for `stage`, refusing first a load the machine cannot hold now, and records it with its
    /// measured footprint and the runtime's notices. Returns the seconds until the runtime confirmed it.
    private func load(
        _ model: ResolvedModel, key current: ModelKey, with manager: any ModelManaging, footprint: Int64?, stage: PlannedStage,
        state: inout RunState
    ) async throws -> Double {
        // Refuse a load the machine cannot hold now, before the runtime tries (and fails, or swaps).
        if let need = footprint, let available = machine().available, need > available {
            throw RuntimeError(
                .outOfMemory,
                "model '\(current)' needs \(ByteCount(bytes: need)) but the machine has \(ByteCount(bytes: available)) available; close other programs or choose a smaller model",
                isTransient: false)
        }
        observer(.loadStarted(stage: stage.name, model: current.description))
        let report = try await manager.load(model.name, settings: stage.settings)
        residencyBook.loaded(current, run: state.runID)
        if let measured = report.measuredBytes {
            // One footprint per model: the largest measured, since stages may load it with a larger context.
            let bytes = max(measured, state.measured[current] ?? 0)
            state.measured[current] = bytes
            try store.saveFootprint(runtime: current.runtime, model: current.name, bytes: bytes)
        }
        var payload = ["model": current.description, "seconds": String(format: "%.3f", report.seconds)]
        if let numCtx = stage.settings.numCtx { payload["num_ctx"] = String(numCtx) }
        try store.appendEvent(state.runID, kind: .modelLoaded, stage: stage.name, payload: try Self.encode(payload))
        observer(.modelLoaded(model: current.description, seconds: report.seconds))
        for notice in report.notices {
            let payload = try Self.encode(["code": notice.code, "message": notice.message, "model": current.description])
            try store.appendEvent(state.runID, kind: .runtimeNotice, stage: stage.name, payload: payload)
            observer(.runtimeNotice(stage: stage.name, notice: notice))
        }
        return report.seconds
    }

    /// Unloads `victim`, waiting for the runtime to confirm, and records it.
    private func unload(
        _ victim: ModelKey, with manager: any ModelManaging, stage: PlannedStage, state: RunState, reason: String?
    ) async throws {
        let started = Date()
        try await manager.unload(victim.name)
        residencyBook.unloaded(victim, run: state.runID)
        let seconds = Date().timeIntervalSince(started)
        var payload = ["model": victim.description, "seconds": String(format: "%.3f", seconds)]
        if let reason { payload["reason"] = reason }
        try store.appendEvent(state.runID, kind: .modelUnloaded, stage: stage.name, payload: try Self.encode(payload))
        observer(.modelUnloaded(model: victim.description, seconds: seconds))
    }

    /// Records `model-evicted-by-runtime` for each model Baton loaded in this run, and did not unload, that
    /// a runtime which answered no longer lists.
    private func recordRuntimeEvictions(resident: Set<ModelKey>, answered: Set<String>, stage: PlannedStage, state: RunState) throws {
        var expected = residencyBook.expected(run: state.runID)
        guard !expected.isEmpty else { return }
        // Unloads recorded elsewhere (BATON_BENCH_UNLOAD_AFTER_EACH_STAGE) end what Baton expects too.
        for event in try store.events(state.runID, kind: .modelUnloaded) {
            guard let payload = event.payload, let object = try? JSONDecoder().decode([String: String].self, from: Data(payload.utf8)),
                let name = object["model"]
            else { continue }
            for (key, loadedAt) in expected where key.description == name && event.at >= loadedAt {
                expected[key] = nil
                residencyBook.unloaded(key, run: state.runID)
            }
        }
        for key in expected.keys.sorted() where answered.contains(key.runtime) && !resident.contains(key) {
            residencyBook.unloaded(key, run: state.runID)
            try store.appendEvent(
                state.runID, kind: .modelEvictedByRuntime, stage: stage.name,
                payload: try Self.encode(["model": key.description, "runtime": key.runtime]))
        }
    }
}

/// What the managed runtimes of a run's plan have loaded now (``Executor/prepareModel(_:model:round:runtime:state:)``).
struct Residency {
    /// Each managed runtime of the plan not known to be down, by name.
    var managers: [String: any ModelManaging]
    /// The models they listed as loaded.
    var resident: Set<ModelKey> = []
    /// The context each was loaded with, when its runtime says.
    var contexts: [ModelKey: Int] = [:]
    /// The runtimes that answered.
    var answered: Set<String> = []
}

/// The models Baton loaded in each run of this process and has not unloaded, with when it loaded them, so
/// a model the runtime dropped on its own is noticed. Kept per process: a resumed run starts afresh.
private let residencyBook = ResidencyBook()

private final class ResidencyBook: Sendable {
    private let loadedAt = Locked<[String: [ModelKey: Double]]>([:])

    func loaded(_ key: ModelKey, run: String) {
        loadedAt.withLock { $0[run, default: [:]][key] = RunStore.now() }
    }

    func unloaded(_ key: ModelKey, run: String) {
        loadedAt.withLock { $0[run]?[key] = nil }
    }

    func expected(run: String) -> [ModelKey: Double] {
        loadedAt.withLock { $0[run] ?? [:] }
    }
}

extension RunState {
    /// Whether `stage`, not reached yet, is sure to be skipped: its router (or the router of a sub-pipeline call it is
    /// in) chose another branch or was skipped, a call it is in was skipped, or it is the critic of such a stage. (A
    /// condition is not known until the walk reaches it.)
    func knownSkipped(_ stage: PlannedStage) -> Bool {
        if let choice = stage.routedBy, leavesOut(choice) { return true }
        for frame in stage.calls ?? [] {
            if skippedCalls.contains(frame.path) { return true }
            if let choice = frame.routedBy, leavesOut(choice) { return true }
        }
        if let loop = stage.critic {
            if results[loop.reviews]?.skipped == true { return true }
            if let index = positions[loop.reviews] { return knownSkipped(snapshot.plan.stages[index]) }
        }
        return false
    }

    /// Whether `choice`'s router was skipped or chose a branch other than its branches.
    private func leavesOut(_ choice: RouteChoice) -> Bool {
        if results[choice.router]?.skipped == true { return true }
        if let branch = branches[choice.router], !choice.branches.contains(branch) { return true }
        return false
    }

    /// The model `stage` runs on now: its first model, or the one it fell back to.
    func activeModel(of stage: PlannedStage) -> ResolvedModel? {
        guard !stage.models.isEmpty else { return nil }
        return stage.models[min(modelIndex[stage.name] ?? 0, stage.models.count - 1)]
    }
}
