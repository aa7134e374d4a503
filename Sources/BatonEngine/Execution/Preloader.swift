import BatonSpec
import Foundation

/// The loads an execution started in the background (preloading), by model, until a stage takes them
/// (``Executor/takePreload(_:stage:state:)``) or the run settles them (``Executor/settlePreloads(state:)``).
///
/// A class in ``RunState`` so every copy of the state sees the same loads; the planner counts each as resident
/// from the moment it starts.
final class Preloads: Sendable {
    /// One background load.
    struct InFlight: Sendable {
        /// The load: the runtime's report, or the error it failed with.
        var task: Task<LoadReport, any Error>
        /// The stage that was generating when it started.
        var during: String
        /// The stage it is for.
        var stage: String
    }

    private let entries = Locked<[ModelKey: InFlight]>([:])

    /// The models loading now.
    var models: Set<ModelKey> { entries.withLock { Set($0.keys) } }

    /// Whether `key` is loading in the background.
    func contains(_ key: ModelKey) -> Bool { entries.withLock { $0[key] != nil } }

    func add(_ key: ModelKey, _ load: InFlight) { entries.withLock { $0[key] = load } }

    /// Removes and returns the load of `key`, if one is in flight.
    func take(_ key: ModelKey) -> InFlight? { entries.withLock { $0.removeValue(forKey: key) } }

}

extension Executor {
    /// Waits for every load still running in the background (a preload whose stage never came: the run failed,
    /// was interrupted, or its stage fell back to another model) and records the ones that loaded, so what comes
    /// after the run (after_run) sees a quiet runtime and knows every model this run loaded. A failed background
    /// load is dropped: nothing was loaded. Safe to call more than once, and after cancellation: the loads are
    /// unstructured tasks, so waiting for them is not cut short.
    func settlePreloads(state: inout RunState) async {
        for key in state.preloads.models.sorted() { try? await settlePreload(of: key, state: &state) }
    }

    /// For `key`, loading in the background for a stage: waits for it, records it, and returns what it took and
    /// how long the stage waited; nil when no such load is in flight. A load that failed is thrown here, at the
    /// moment the stage needs the model, so it goes the way of any load failure (retries, then the next model).
    func takePreload(_ key: ModelKey, stage: PlannedStage, state: inout RunState) async throws -> (report: LoadReport, waited: Double)? {
        guard let load = state.preloads.take(key) else { return nil }
        let started = ContinuousClock.now
        let report: LoadReport
        do {
            report = try await Self.value(of: load.task)
        } catch is CancellationError where Task.isCancelled {
            // Interrupted while waiting: the load goes on, and the end of the run settles it.
            state.preloads.add(key, load)
            throw CancellationError()
        }
        let waited = secondsSince(started)
        try recordLoad(
            report, key: key, stageName: stage.name, numCtx: stage.settings.numCtx, state: &state, preloaded: (waited, true))
        return (report, waited)
    }

    /// What `task` returns, or a `CancellationError` as soon as the waiting task is cancelled (a signal): waiting for a
    /// task's value alone does not end on cancellation, and a load may take minutes.
    static func value(of task: Task<LoadReport, any Error>) async throws -> LoadReport {
        let waiter = Locked<CheckedContinuation<LoadReport, any Error>?>(nil)
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { continuation in
                waiter.withLock { $0 = continuation }
                if Task.isCancelled { waiter.withLock { $0.take() }?.resume(throwing: CancellationError()) }
                Task {
                    let result = await task.result
                    waiter.withLock { $0.take() }?.resume(with: result)
                }
            }
        } onCancel: {
            waiter.withLock { $0.take() }?.resume(throwing: CancellationError())
        }
    }

    /// Whether this execution may load in the background at all: the profile allows it (`preload`, on unless
    /// false) and the benchmark mode that unloads after every stage is off.
    func preloadingAllowed(state: RunState) -> Bool {
        !unloadAfterEachStage && state.snapshot.profile?.spec.preload != false && state.currentItem?.concurrent != true
    }

    /// Starts in the background every load the memory planner says may start now, while `stage` generates: it
    /// plans from what is resident (and loading) with `stage`'s model ready, and takes each load whose earliest
    /// start is this step, on a runtime that can load while it generates. Each one's unloads happen first, here.
    func startPreloads(after stage: PlannedStage, outlook: MemoryOutlook, residency: Residency, state: inout RunState) async throws {
        guard preloadingAllowed(state: state), outlook.uses.count > 1 else { return }
        var resident = residency.resident.union(state.preloads.models)
        resident.insert(outlook.uses[0])
        let schedule: MemoryPlanner.Schedule
        do {
            let planned = try MemoryPlanner.plan(
                uses: outlook.uses, footprints: outlook.footprints, budget: outlook.budget, initiallyResident: resident)
            // A model of unknown footprint loads only when its stage comes: the budget cannot be checked for it.
            let unknown = outlook.uses.indices.filter { outlook.footprints[outlook.uses[$0]] == nil }
            schedule = MemoryPlanner.preloads(
                planned, uses: outlook.uses, footprints: outlook.footprints, budget: outlook.budget,
                fixed: outlook.fixed.union(unknown))
        } catch {
            return
        }
        // Something must go before this stage even runs: makeRoom did not leave what the plan assumes.
        guard let first = schedule.steps.first, first.unloads.isEmpty, first.load == nil else { return }
        for step in schedule.steps where step.preloadFrom == 0 {
            guard let key = step.load, !state.preloads.contains(key), let manager = residency.managers[key.runtime],
                manager.loadsWhileGenerating, manager.manages(key.name)
            else { return }
            let target = outlook.stages[step.stageIndex]
            // Refused as a load would be (Executor+Models): the stage loads it itself, and says why.
            if let need = outlook.footprints[key], let available = machine().available, need > available { return }
            for victim in step.unloads {
                guard let victimManager = residency.managers[victim.runtime] else { continue }
                try await settlePreload(of: victim, state: &state)
                try await unload(
                    victim, with: victimManager, stage: stage, state: state,
                    reason: "makes room to load \(key) for stage '\(target.name)' while '\(stage.name)' runs")
            }
            // Recorded before the runtime is asked: a run killed from here on finds the model listed as loading.
            let payload = try Self.encode(["model": key.description, "during": stage.name, "for": target.name])
            try store.appendEvent(state.runID, kind: .preloadStarted, stage: stage.name, payload: payload)
            let killSwitch = killSwitch
            let settings = target.settings
            let task = Task {
                try await manager.load(key.name, settings: settings, sent: { killSwitch?.hit(.preloadStarted) })
            }
            state.preloads.add(key, Preloads.InFlight(task: task, during: stage.name, stage: target.name))
        }
    }
}
