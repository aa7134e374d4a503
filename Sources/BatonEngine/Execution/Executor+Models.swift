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
    ///
    /// A model loading in the background for this stage (Preloader) is waited for here; one a runtime lists as
    /// still loading (a load a killed run left) is waited for too, never loaded twice. Once the model is ready,
    /// the loads the planner lets start now begin in the background while the stage generates.
    func prepareModel(
        _ stage: PlannedStage, model: ResolvedModel, round: Int, runtime: any LLMRuntime, state: inout RunState
    ) async throws -> PreparedModel? {
        // A pool's hosts keep their own budgets in the store; this machine's memory planner stays out (Executor+Pools).
        if let pool = runtime as? PooledRuntime { return try await preparePooled(stage, model: model, pool: pool, state: &state) }
        guard let manager = runtime as? any ModelManaging, manager.manages(model.name) else { return nil }
        let current = Self.modelKey(model, state: state)
        let preloaded = try await takePreload(current, stage: stage, state: &state)
        var residency = try await residency(for: model, manager: manager, state: state)
        try recordRuntimeEvictions(resident: residency.resident, answered: residency.answered, stage: stage, state: state)
        var awaited: Double?
        if residency.loading.contains(current) {
            if let seconds = try await manager.waitUntilLoaded(model.name) {
                awaited = seconds
                try recordLoad(
                    LoadReport(seconds: seconds, measuredBytes: nil), key: current, stageName: stage.name, numCtx: stage.settings.numCtx,
                    state: &state, preloaded: (seconds, true))
            } else {
                residency.resident.remove(current)
            }
        }
        // Resident with another context than this stage needs: Ollama would reload it inside the chat.
        if residency.resident.contains(current), let needed = await manager.contextLength(of: model.name, settings: stage.settings),
            let loaded = residency.contexts[current], loaded != needed
        {
            try await unload(
                current, with: manager, stage: stage, state: state,
                reason: "loaded with a context of \(loaded) tokens; the stage needs \(needed)")
            residency.resident.remove(current)
        }
        let outlook = outlook(for: stage, model: model, round: round, residency: residency, state: state)
        let evicted = try await makeRoom(for: stage, model: current, outlook: outlook, residency: residency, state: &state)
        residency.resident.subtract(evicted)
        var prepared: PreparedModel
        if residency.resident.contains(current) {
            if let preloaded {
                prepared = PreparedModel(loadSeconds: preloaded.report.seconds, wasResident: false, waitSeconds: preloaded.waited)
            } else if let awaited {
                prepared = PreparedModel(loadSeconds: nil, wasResident: false, waitSeconds: awaited)
            } else {
                prepared = PreparedModel(loadSeconds: nil, wasResident: true)
            }
        } else {
            let seconds = try await load(
                model, key: current, with: manager, footprint: outlook.footprints[current], stage: stage, state: &state)
            residency.resident.insert(current)
            prepared = PreparedModel(loadSeconds: seconds, wasResident: false)
        }
        try await startPreloads(after: stage, outlook: outlook, residency: residency, state: &state)
        return prepared
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
                let otherManager = otherRuntime as? any ModelManaging, !(otherManager is PooledRuntime)
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
                if loaded.loading { residency.loading.insert(loadedKey) }
                if let context = loaded.contextLength { residency.contexts[loadedKey] = context }
            }
        }
        // A load in flight takes its memory from the moment it starts, listed or not (Ollama lists it once loaded).
        residency.resident.formUnion(state.preloads.models)
        return residency
    }

    /// The memory planner's view from `stage` on: the models of the stages to come, in order (this stage first),
    /// their footprints and the budget; stages whose load may not start early are in ``MemoryOutlook/fixed``.
    func outlook(for stage: PlannedStage, model: ResolvedModel, round: Int, residency: Residency, state: RunState) -> MemoryOutlook {
        let plan = state.snapshot.plan
        func key(_ model: ResolvedModel) -> ModelKey { Self.modelKey(model, state: state) }
        func managed(_ key: ModelKey) -> Bool {
            !PooledRuntime.isPool(key.runtime, state.snapshot) && (residency.managers[key.runtime]?.manages(key.name) ?? true)
        }
        let current = key(model)
        // The uses from here on: this stage, its critic loop's next round if there may be one, the rest.
        let order = plan.stages
        let position = state.positions[stage.name] ?? 0
        var upcoming: [PlannedStage] = [stage]
        var speculative = 0
        if let loop = stage.critic, round < loop.maxRounds, let reviewed = plan.stage(named: loop.reviews) {
            upcoming.append(reviewed)
            upcoming.append(stage)
            speculative = 2
        } else if let critic = stage.reviewedBy.flatMap(plan.stage(named:)), round > 1 {
            upcoming.append(critic)
        }
        let loopSteps = upcoming.count
        // Stages a chosen branch already leaves out (and their critics) will not load anything.
        let decided = state.branches.isEmpty && state.skippedCalls.isEmpty
        upcoming += decided ? Array(order[(position + 1)...]) : order[(position + 1)...].filter { !state.knownSkipped($0) }
        var outlook = MemoryOutlook(budget: LoadSchedule.resolveBudget(plan.memoryBudget, machine: machine()).0)
        for (index, planned) in upcoming.enumerated() {
            guard let used = planned.name == stage.name ? current : state.activeModel(of: planned).map(key), managed(used) else { continue }
            // Not loaded early: a possible next round, a stage that may yet be skipped, or one that ran already (a
            // later round's view lists the stages between the loop's two) or will reuse its recorded answer.
            if index > 0,
                index <= speculative
                    || (index >= loopSteps
                        && (state.results[planned.name] != nil || state.completed[StageRound(stage: planned.name, round: 1)] != nil
                            || mayBeSkipped(planned, state: state)))
            {
                outlook.fixed.insert(outlook.uses.count)
            }
            outlook.uses.append(used)
            outlook.stages.append(planned)
        }
        // A model's footprint at the largest context any stage gives it, since stages may reload it larger.
        for planned in order {
            guard let used = planned.name == stage.name ? model : state.activeModel(of: planned), managed(key(used)),
                let bytes = FootprintSource.resolve(
                    used, key: key(used), contextSize: planned.settings.numCtx, profile: state.snapshot.profile, measured: state.measured)?
                    .bytes
            else { continue }
            outlook.footprints[key(used)] = max(outlook.footprints[key(used)] ?? 0, bytes)
        }
        // A resident model this plan does not use still takes memory: the registry's footprint, else
        // (unknown size) the whole budget, so it is the first to go when room is needed.
        for other in residency.resident where outlook.footprints[other] == nil {
            let entry = state.snapshot.profile?.spec.model(named: other.name)
            outlook.footprints[other] =
                (entry?.runtime == nil || entry?.runtime == other.runtime) ? entry?.footprint?.bytes ?? outlook.budget : outlook.budget
        }
        return outlook
    }

    /// Whether `stage`, not reached yet, may be skipped: a `when:` not evaluated yet (its own or a call's), or a
    /// route not chosen yet; the critic of such a stage too.
    private func mayBeSkipped(_ stage: PlannedStage, state: RunState) -> Bool {
        if stage.condition != nil { return true }
        if let choice = stage.routedBy, state.branches[choice.router] == nil { return true }
        for frame in stage.calls ?? [] {
            if frame.condition != nil, state.callDecisions[frame.path] == nil { return true }
            if let choice = frame.routedBy, state.branches[choice.router] == nil { return true }
        }
        if let loop = stage.critic, let reviewed = state.snapshot.plan.stage(named: loop.reviews), state.results[reviewed.name] == nil {
            return mayBeSkipped(reviewed, state: state)
        }
        return false
    }

    /// Unloads what the memory planner chooses so that `stage`'s model (`model`) fits beside the models the rest of
    /// the run will use soonest, and returns what it unloaded. A model still loading in the background is waited for
    /// first, so nothing is unloaded while it loads. Each unload says whom it made room for (the dashboard's memory lane).
    private func makeRoom(
        for stage: PlannedStage, model: ModelKey, outlook: MemoryOutlook, residency: Residency, state: inout RunState
    ) async throws -> Set<ModelKey> {
        let evictions: [ModelKey]
        do {
            evictions = try MemoryPlanner.evictions(
                resident: residency.resident, uses: outlook.uses, footprints: outlook.footprints, budget: outlook.budget)
        } catch {
            throw StageFailure(
                message: "stage '\(stage.name)': \(error)", runtimeUnavailable: false, fallbackReason: "does not fit the memory budget")
        }
        for victim in evictions {
            guard let victimManager = residency.managers[victim.runtime] else { continue }
            try await settlePreload(of: victim, state: &state, interruptible: true)
            try await unload(victim, with: victimManager, stage: stage, state: state, reason: "room for \(model) (stage \(stage.name))")
        }
        return Set(evictions)
    }

    /// Waits for `key`'s background load, if one is in flight, and records it (no stage took it), so the model is not
    /// unloaded while it loads. `interruptible` (during the run): a signal ends the wait at once, the load goes on, and
    /// the end of the run settles it; the end of the run itself waits it out.
    func settlePreload(of key: ModelKey, state: inout RunState, interruptible: Bool = false) async throws {
        guard let load = state.preloads.take(key) else { return }
        let started = ContinuousClock.now
        let result: LoadReport?
        if interruptible {
            do {
                result = try await Self.value(of: load.task)
            } catch is CancellationError where Task.isCancelled {
                state.preloads.add(key, load)
                throw CancellationError()
            } catch {
                result = nil
            }
        } else {
            result = try? await load.task.value
        }
        guard let report = result else { return }
        try recordLoad(
            report, key: key, stageName: load.stage, numCtx: state.snapshot.plan.stage(named: load.stage)?.settings.numCtx, state: &state,
            preloaded: (secondsSince(started), false))
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
        try recordLoad(report, key: current, stageName: stage.name, numCtx: stage.settings.numCtx, state: &state, bytes: footprint)
        return report.seconds
    }

    /// Records a confirmed load of `key` for stage `stageName`: its measured footprint, its `model-loaded` event (for
    /// a background load, with `"preloaded": "true"` and the seconds the stage waited; `"used": "false"` when no stage
    /// took it; `bytes`, the footprint the memory planner counted, when known) and the runtime's notices.
    ///
    /// - Parameter bytes: the planner's footprint for the model; nil: worked out here as the planner does, from what
    ///   was known before this load's measurement.
    func recordLoad(
        _ report: LoadReport, key: ModelKey, stageName: String, numCtx: Int?, state: inout RunState,
        preloaded: (waited: Double, used: Bool)? = nil, bytes: Int64? = nil
    ) throws {
        let counted = bytes ?? plannedFootprint(of: key, state: state)
        residencyBook.loaded(key, run: state.runID)
        if let measured = report.measuredBytes {
            // One footprint per model: the largest measured, since stages may load it with a larger context.
            let bytes = max(measured, state.measured[key] ?? 0)
            state.measured[key] = bytes
            try store.saveFootprint(runtime: key.runtime, model: key.name, bytes: bytes)
        }
        var payload = ["model": key.description, "seconds": String(format: "%.3f", report.seconds)]
        if let numCtx { payload["num_ctx"] = String(numCtx) }
        if let counted { payload["bytes"] = String(counted) }
        if let preloaded {
            payload["preloaded"] = "true"
            payload["waited"] = String(format: "%.3f", preloaded.waited)
            if !preloaded.used { payload["used"] = "false" }
        }
        try store.appendEvent(state.runID, kind: .modelLoaded, stage: stageName, payload: try Self.encode(payload))
        observer(.modelLoaded(model: key.description, seconds: report.seconds))
        for notice in report.notices {
            let payload = try Self.encode(["code": notice.code, "message": notice.message, "model": key.description])
            try store.appendEvent(state.runID, kind: .runtimeNotice, stage: stageName, payload: payload)
            observer(.runtimeNotice(stage: stageName, notice: notice))
        }
    }

    /// The footprint the memory planner counts for `key` (``outlook(for:model:round:residency:state:)``): the largest
    /// over the plan's stages that use it, at each one's context; for a model no stage uses, the profile registry's.
    func plannedFootprint(of key: ModelKey, state: RunState) -> Int64? {
        var largest: Int64?
        for planned in state.snapshot.plan.stages {
            for model in planned.models where Self.modelKey(model, state: state) == key {
                guard
                    let bytes = FootprintSource.resolve(
                        model, key: key, contextSize: planned.settings.numCtx, profile: state.snapshot.profile, measured: state.measured)?
                        .bytes
                else { continue }
                largest = max(largest ?? 0, bytes)
            }
        }
        if let largest { return largest }
        let entry = state.snapshot.profile?.spec.model(named: key.name)
        return entry?.runtime == nil || entry?.runtime == key.runtime ? entry?.footprint?.bytes : nil
    }

    /// Unloads `victim`, waiting for the runtime to confirm, and records it.
    func unload(
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
    /// The models listed as still loading (llama-server's `loading`).
    var loading: Set<ModelKey> = []
}

/// What making a stage's model resident took (``Executor/prepareModel(_:model:round:runtime:state:)``).
struct PreparedModel {
    /// The load's own seconds, nil when the model was resident (or a load another process started was waited for).
    var loadSeconds: Double?
    /// Whether it was resident already.
    var wasResident: Bool
    /// For a model that loaded in the background (or was found loading): the seconds the stage waited for it.
    var waitSeconds: Double? = nil
}

/// The memory planner's view from one stage on (``Executor/outlook(for:model:round:residency:state:)``).
struct MemoryOutlook {
    /// The bytes that may be resident at once.
    var budget: Int64
    /// The model of each stage to come, this stage first.
    var uses: [ModelKey] = []
    /// The stage of each use.
    var stages: [PlannedStage] = []
    /// Indexes into ``uses`` whose loads may not start early (``MemoryPlanner/preloads(_:uses:footprints:budget:fixed:held:)``).
    var fixed: Set<Int> = []
    /// Bytes per model.
    var footprints: [ModelKey: Int64] = [:]
}

/// The models Baton loaded in each run of this process and has not unloaded, with when it loaded them, so
/// a model the runtime dropped on its own is noticed. Kept per process: a resumed run starts afresh.
let residencyBook = ResidencyBook()

final class ResidencyBook: Sendable {
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
