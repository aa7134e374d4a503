import BatonSpec
import Foundation

/// The memory schedule of a pipeline, as `baton plan` prints it: per stage, what is unloaded and loaded,
/// and what is resident while it runs.
public struct LoadSchedule: Sendable {
    /// One stage's row.
    public struct Row: Sendable, Hashable {
        public var stage: String
        public var model: ModelKey
        public var footprint: Int64?
        public var unloads: [ModelKey]
        public var loads: Bool
        public var residentBytes: Int64
        public var resident: [ModelKey]
        /// Where the model runs when Baton does not load it (an Ollama `:cloud` model: `ollama.com`); nil
        /// for a model Baton loads and unloads.
        public var servedBy: String? = nil
        /// The context an Ollama model is reloaded with when it is resident with another one (an earlier
        /// stage's `num_ctx`): the executor unloads and loads it again before the stage.
        public var contextReload: Int? = nil
        /// For a tool stage (`run`, `http`, `mcp`): its kind. It has no model, loads nothing and frees nothing.
        public var tool: ToolKind? = nil
        /// For a load that may start in the background: the stage during whose generation it starts
        /// (``MemoryPlanner/Step/preloadFrom``); nil when it starts just before this stage.
        public var preloadDuring: String? = nil
    }

    /// A critic loop and what its further rounds cost.
    public struct Loop: Sendable, Hashable {
        public var critic: String
        public var reviewed: String
        /// Whether both models stay resident across rounds (or they are the same model).
        public var staysResident: Bool
    }

    /// One branch of a route: the stages it runs and the schedule of the plan with only that branch of the route
    /// (the other routes' branches all kept, as in the worst case).
    public struct Branch: Sendable, Hashable {
        public var router: String
        /// A case's value, or `default`.
        public var branch: String
        /// The stages the branch runs.
        public var stages: [String]
        /// The models loaded in order, one per load.
        public var loads: [ModelKey]
        public var unloadCount: Int
        public var peakBytes: Int64
    }

    public var rows: [Row]
    public var loops: [Loop]
    /// Per route and branch, what a run that takes that branch loads (empty without routes). ``rows`` is the worst
    /// case: every stage of every branch.
    public var branches: [Branch] = []
    /// The budget in bytes, and where it came from (`pipeline`, `profile`, `auto`).
    public var budget: Int64
    public var budgetSource: String
    /// Models whose footprint is unknown (counted as 0).
    public var unknownFootprints: [ModelKey]
    /// Why no load of this plan may start in the background, when none may for a reason of the profile or the
    /// runtimes (`preload: false`, a runtime that cannot load while another model generates); nil otherwise.
    public var preloadingOff: String? = nil
    /// The most bytes resident or loading at once with the loads that start in the background.
    public var peakWithPreloads: Int64 = 0
    /// Loads that start in the background.
    public var preloadCount: Int { rows.filter { $0.preloadDuring != nil }.count }
    public var peakBytes: Int64 { rows.map(\.residentBytes).max() ?? 0 }
    public var loadCount: Int { rows.filter(\.loads).count }
    /// The footprint of `model`, when known.
    public func footprint(of model: ModelKey) -> Int64? { rows.first { $0.model == model }?.footprint }
    public var unloadCount: Int { rows.reduce(0) { $0 + $1.unloads.count } }

    /// Plans `plan`'s loads. Stages run in plan order; each stage's model is its first choice.
    ///
    /// - Throws: ``MemoryPlanner/PlanningError`` when a model alone exceeds the budget.
    public static func make(
        _ plan: ExecutionPlan, profile: ResolvedProfile? = nil, measured: [ModelKey: Int64] = [:], machine: MachineMemory = .current()
    ) throws(MemoryPlanner.PlanningError) -> LoadSchedule {
        let (budget, source) = resolveBudget(plan.memoryBudget, machine: machine)
        var footprints: [ModelKey: Int64] = [:]
        var unknown: Set<ModelKey> = []
        var uses: [ModelKey] = []
        var servedBy: [ModelKey: String] = [:]
        var toolStages: Set<Int> = []
        for (index, stage) in plan.stages.enumerated() {
            if let tool = stage.tool {
                // A tool stage has no model: it takes no part in the memory schedule.
                uses.append(ModelKey(runtime: "-", name: tool.kind.rawValue))
                toolStages.insert(index)
                continue
            }
            let model = stage.models.first
            let key = ModelKey(runtime: model?.runtime ?? "?", name: model?.name ?? "?")
            uses.append(key)
            // Ollama sends `:cloud` models on to ollama.com: nothing is loaded here, no memory is taken.
            if let runtime = profile?.spec.runtime(named: key.runtime), runtime.kind == .ollama, OllamaClient.isCloudModel(key.name) {
                servedBy[key] = "ollama.com"
                continue
            }
            if let model,
                let resolved = FootprintSource.resolve(
                    model, key: key, contextSize: stage.settings.numCtx, profile: profile, measured: measured)
            {
                footprints[key] = max(footprints[key] ?? 0, resolved.bytes)
            } else {
                unknown.insert(key)
            }
        }
        // The memory schedule covers the models Baton loads; the others run where they are served.
        let managedIndices = uses.indices.filter { servedBy[uses[$0]] == nil && !toolStages.contains($0) }
        let planned = try MemoryPlanner.plan(uses: managedIndices.map { uses[$0] }, footprints: footprints, budget: budget)
        let preloading = preloadingMarks(plan, profile: profile, uses: uses, managed: managedIndices)
        // A model of unknown footprint loads only when its stage comes, as in a run (Preloader).
        let unknownSteps = managedIndices.indices.filter { footprints[uses[managedIndices[$0]]] == nil }
        let schedule =
            preloading.off != nil
            ? planned
            : MemoryPlanner.preloads(
                planned, uses: managedIndices.map { uses[$0] }, footprints: footprints, budget: budget,
                fixed: preloading.fixed.union(unknownSteps), held: preloading.held)
        var steps: [Int: MemoryPlanner.Step] = [:]
        for (step, index) in zip(schedule.steps, managedIndices) { steps[index] = step }
        var rows: [Row] = []
        var previous: MemoryPlanner.Step?
        // The context each resident Ollama model holds: `num_ctx` (the client's default when unset) clamped
        // to the registry's trained context when it gives one, as the executor compares them.
        var loadedContext: [ModelKey: Int] = [:]
        func ollamaContext(_ index: Int) -> Int? {
            let key = uses[index]
            guard profile?.spec.runtime(named: key.runtime)?.kind == .ollama else { return nil }
            let context = plan.stages[index].settings.numCtx ?? OllamaClient.defaultNumCtx
            return profile?.spec.model(named: key.name)?.contextLength.map { min(context, $0) } ?? context
        }
        for (index, stage) in plan.stages.enumerated() {
            let key = uses[index]
            if let step = steps[index] {
                var row = Row(
                    stage: stage.name, model: key, footprint: footprints[key], unloads: step.unloads, loads: step.load != nil,
                    residentBytes: step.residentBytes, resident: step.resident)
                row.preloadDuring = step.preloadFrom.map { plan.stages[managedIndices[$0]].name }
                for gone in step.unloads { loadedContext[gone] = nil }
                if let context = ollamaContext(index) {
                    if !row.loads, let held = loadedContext[key], held != context {
                        row.loads = true
                        row.contextReload = context
                    }
                    loadedContext[key] = context
                }
                rows.append(row)
                previous = step
            } else {
                rows.append(
                    Row(
                        stage: stage.name, model: key, footprint: nil, unloads: [], loads: false,
                        residentBytes: previous?.residentBytes ?? 0, resident: previous?.resident ?? [], servedBy: servedBy[key],
                        tool: stage.tool?.kind))
            }
        }
        let loops = plan.stages.compactMap { stage -> Loop? in
            guard let loop = stage.critic, let reviewedIndex = plan.stages.firstIndex(where: { $0.name == loop.reviews }),
                let criticIndex = plan.stages.firstIndex(where: { $0.name == stage.name })
            else { return nil }
            let a = uses[reviewedIndex]
            let b = uses[criticIndex]
            // One Ollama model at two contexts is reloaded for each of them, every round.
            let sameContext = ollamaContext(reviewedIndex) == ollamaContext(criticIndex)
            let together =
                (a == b && sameContext) || servedBy[a] != nil || servedBy[b] != nil
                || (a != b && (footprints[a] ?? 0) + (footprints[b] ?? 0) <= budget)
            return Loop(critic: stage.name, reviewed: loop.reviews, staysResident: together)
        }
        var result = LoadSchedule(rows: rows, loops: loops, budget: budget, budgetSource: source, unknownFootprints: unknown.sorted())
        result.preloadingOff = preloading.off
        result.peakWithPreloads = MemoryPlanner.peakWithPreloads(schedule, footprints: footprints)
        for router in plan.stages {
            guard let route = router.route else { continue }
            for branch in route.cases.map(\.value) + (route.otherwise == nil ? [] : ["default"]) {
                var only = plan
                only.stages = plan.stages.filter { !leftOut($0, by: router.name, branch: branch, in: plan) }
                let schedule = try make(only, profile: profile, measured: measured, machine: machine, branches: false)
                result.branches.append(
                    Branch(
                        router: router.name, branch: branch, stages: route.stages(ofBranch: branch),
                        loads: schedule.rows.filter(\.loads).map(\.model), unloadCount: schedule.unloadCount,
                        peakBytes: schedule.peakBytes))
            }
        }
        return result
    }

    /// Which steps of the memory schedule (indexes into `managed`) may not load in the background, and why none may
    /// when that is so, as the executor decides during a run (Preloader): not with `preload: false`, not on a runtime
    /// that cannot load while another model generates, not for a stage that may be skipped (a `when:`, a route). A
    /// critic whose loop may go another round holds the reviewed stage's model.
    private static func preloadingMarks(
        _ plan: ExecutionPlan, profile: ResolvedProfile?, uses: [ModelKey], managed: [Int]
    ) -> (off: String?, fixed: Set<Int>, held: [Int: Set<ModelKey>]) {
        if profile?.spec.preload == false { return ("the profile sets preload: false", [], [:]) }
        var fixed: Set<Int> = []
        var held: [Int: Set<ModelKey>] = [:]
        var unable: [String] = []
        for (step, index) in managed.enumerated() {
            let stage = plan.stages[index]
            let kind = profile?.spec.runtime(named: uses[index].runtime)?.kind
            if !loadsWhileGenerating(kind) {
                fixed.insert(step)
                let name = "\(uses[index].runtime) (\(kind?.rawValue ?? "unknown"))"
                if !unable.contains(name) { unable.append(name) }
            } else if mayBeSkipped(stage, in: plan) {
                fixed.insert(step)
            }
            if let loop = stage.critic, loop.maxRounds > 1, let reviewed = plan.stages.firstIndex(where: { $0.name == loop.reviews }) {
                held[step] = [uses[reviewed]]
            }
        }
        if !managed.isEmpty, fixed.count == managed.count, !unable.isEmpty {
            let runtimes = unable.joined(separator: ", ")
            return ("runtime\(unable.count == 1 ? "" : "s") \(runtimes) cannot load a model while another generates", fixed, held)
        }
        return (nil, fixed, held)
    }

    /// Whether Baton's client for a runtime of this kind loads in the background (``ModelManaging/loadsWhileGenerating``):
    /// llama-server's router and Ollama do; the others do not load models at all.
    static func loadsWhileGenerating(_ kind: RuntimeSpec.Kind?) -> Bool { kind == .llamaServer || kind == .ollama }

    /// Whether `stage` runs only if a `when:` holds or a route chooses it (its own, a call's it is in, or the reviewed
    /// stage's for a critic).
    static func mayBeSkipped(_ stage: PlannedStage, in plan: ExecutionPlan) -> Bool {
        if stage.condition != nil || stage.routedBy != nil { return true }
        if stage.calls?.contains(where: { $0.condition != nil || $0.routedBy != nil }) == true { return true }
        if let loop = stage.critic, let reviewed = plan.stage(named: loop.reviews) { return mayBeSkipped(reviewed, in: plan) }
        return false
    }

    /// Plans `plan`'s loads; `branches`: with a schedule per route branch as well.
    private static func make(
        _ plan: ExecutionPlan, profile: ResolvedProfile?, measured: [ModelKey: Int64], machine: MachineMemory, branches: Bool
    ) throws(MemoryPlanner.PlanningError) -> LoadSchedule {
        var only = plan
        // No routes: the schedule of one branch does not list branches again.
        for index in only.stages.indices { only.stages[index].route = nil }
        return try make(only, profile: profile, measured: measured, machine: machine)
    }

    /// Whether a run in which `router` chose `branch` skips `stage`: a stage of the route's other branches only (itself,
    /// or a sub-pipeline call it is in), or the critic of such a stage.
    static func leftOut(_ stage: PlannedStage, by router: String, branch: String, in plan: ExecutionPlan) -> Bool {
        for frame in stage.calls ?? [] {
            if let choice = frame.routedBy, choice.router == router, !choice.branches.contains(branch) { return true }
        }
        if let choice = stage.routedBy, choice.router == router { return !choice.branches.contains(branch) }
        if let loop = stage.critic, let reviewed = plan.stage(named: loop.reviews) {
            return leftOut(reviewed, by: router, branch: branch, in: plan)
        }
        return false
    }

    /// The budget in bytes for a pipeline's (or profile's) setting; `auto` and none come from the machine.
    public static func resolveBudget(_ budget: MemoryBudget?, machine: MachineMemory) -> (Int64, String) {
        switch budget {
        case .fixed(let size): return (size.bytes, "set")
        case .auto:
            return (
                machine.autoBudget,
                "auto: \(ByteCount(bytes: machine.total)) of memory minus \(ByteCount(bytes: machine.total - machine.autoBudget)) reserved"
            )
        case nil:
            return (
                machine.autoBudget,
                "none set, so auto: \(ByteCount(bytes: machine.total)) of memory minus \(ByteCount(bytes: machine.total - machine.autoBudget)) reserved"
            )
        }
    }
}

/// The machine's memory, for `memory_budget: auto`.
public struct MachineMemory: Sendable, Hashable {
    /// Physical memory in bytes.
    public var total: Int64
    /// Memory available now (Linux `MemAvailable`), when known.
    public var available: Int64?

    /// Creates a description of a machine's memory.
    public init(total: Int64, available: Int64?) {
        self.total = total
        self.available = available
    }

    /// The budget `auto` gives: all memory minus a reserve for the system and other programs, the larger
    /// of 2 GiB and a quarter of the memory.
    public var autoBudget: Int64 {
        max(0, total - max(2 * 1024 * 1024 * 1024, total / 4))
    }

    /// This machine: physical memory from the OS, available memory from `/proc/meminfo` on Linux.
    public static func current() -> MachineMemory {
        var available: Int64?
        if let text = try? String(contentsOfFile: "/proc/meminfo", encoding: .utf8) {
            for line in text.split(separator: "\n") where line.hasPrefix("MemAvailable:") {
                let parts = line.split(separator: " ")
                if parts.count >= 2, let kib = Int64(parts[1]) { available = kib * 1024 }
            }
        }
        return MachineMemory(total: Int64(ProcessInfo.processInfo.physicalMemory), available: available)
    }
}
