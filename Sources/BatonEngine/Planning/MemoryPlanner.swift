import BatonSpec

/// A model as the planner sees it: where it runs and what it is called there.
public struct ModelKey: Sendable, Hashable, Comparable, CustomStringConvertible {
    /// The profile runtime serving it.
    public var runtime: String
    /// Its name on that runtime.
    public var name: String

    /// Creates a key.
    public init(runtime: String, name: String) {
        self.runtime = runtime
        self.name = name
    }

    public var description: String { "\(runtime):\(name)" }

    public static func < (lhs: ModelKey, rhs: ModelKey) -> Bool { (lhs.runtime, lhs.name) < (rhs.runtime, rhs.name) }
}

/// Decides which resident models to unload before each load so the budget is never exceeded, knowing
/// the whole schedule in advance.
///
/// With up to ``exactLimit`` distinct models (every real pipeline) it finds the fewest loads exactly,
/// by dynamic programming over which models are resident; among equally good choices it unloads the
/// model whose next use is farthest away (or never), and it unloads nothing that does not need to go.
/// Beyond that it uses the farthest-next-use rule alone.
public enum MemoryPlanner {
    /// Distinct models up to which the planner is exact.
    public static let exactLimit = 12

    /// Why a schedule cannot be planned.
    public struct PlanningError: Error, Sendable, Hashable, CustomStringConvertible {
        /// The model that does not fit.
        public var model: ModelKey
        /// Its footprint.
        public var footprint: Int64
        /// The budget.
        public var budget: Int64

        public var description: String {
            "model '\(model)' needs \(ByteCount(bytes: footprint)), more than the memory budget of \(ByteCount(bytes: budget)); choose a smaller model or raise 'memory_budget'"
        }
    }

    /// What to unload before loading `uses[0]`, given what is resident and the uses after it.
    ///
    /// - Parameters:
    ///   - resident: models loaded now.
    ///   - uses: the model of the stage about to run, then the models of the stages after it, in order.
    ///   - footprints: bytes per model (a model missing here counts as 0).
    ///   - budget: bytes that may be resident at once.
    /// - Returns: the models to unload (empty when `uses[0]` is resident or fits beside the others).
    public static func evictions(
        resident: Set<ModelKey>, uses: [ModelKey], footprints: [ModelKey: Int64], budget: Int64
    ) throws(PlanningError) -> [ModelKey] {
        guard !uses.isEmpty else { return [] }
        let schedule = try plan(uses: uses, footprints: footprints, budget: budget, initiallyResident: resident)
        return schedule.steps.first?.unloads ?? []
    }

    /// One step of a schedule: before stage `stageIndex`, unload `unloads`, then load `load` if needed.
    public struct Step: Sendable, Hashable {
        /// Index into the uses.
        public var stageIndex: Int
        /// Models to unload first, in order.
        public var unloads: [ModelKey]
        /// The model to load, nil when it is already resident.
        public var load: ModelKey?
        /// Bytes resident while the stage runs.
        public var residentBytes: Int64
        /// Models resident while the stage runs.
        public var resident: [ModelKey]
        /// For a step that loads, the earliest step during whose generation the load may start in the
        /// background, its ``unloads`` done then (``preloads(_:uses:footprints:budget:fixed:held:)``);
        /// nil: it starts just before its own stage.
        public var preloadFrom: Int? = nil
    }

    /// A whole schedule.
    public struct Schedule: Sendable, Hashable {
        /// One step per use.
        public var steps: [Step]
        /// Loads in all.
        public var loads: Int { steps.filter { $0.load != nil }.count }
        /// Unloads in all.
        public var unloads: Int { steps.reduce(0) { $0 + $1.unloads.count } }
        /// The most bytes resident at once.
        public var peakBytes: Int64 { steps.map(\.residentBytes).max() ?? 0 }
    }

    /// Plans loads and unloads for `uses` (one model per stage execution, in order); with `preload`, marks
    /// each load's earliest start as well (``preloads(_:uses:footprints:budget:fixed:held:)``), which
    /// changes no load and no unload.
    ///
    /// - Throws: ``PlanningError`` when a model alone exceeds the budget.
    public static func plan(
        uses: [ModelKey], footprints: [ModelKey: Int64], budget: Int64, initiallyResident: Set<ModelKey> = [], preload: Bool = false
    ) throws(PlanningError) -> Schedule {
        for model in Set(uses) where (footprints[model] ?? 0) > budget {
            throw PlanningError(model: model, footprint: footprints[model] ?? 0, budget: budget)
        }
        let models = Array(Set(uses).union(initiallyResident)).sorted()
        let schedule =
            models.count <= exactLimit
            ? exact(uses: uses, models: models, footprints: footprints, budget: budget, initial: initiallyResident)
            : farthestNextUse(uses: uses, footprints: footprints, budget: budget, initial: initiallyResident)
        guard preload else { return schedule }
        return preloads(schedule, uses: uses, footprints: footprints, budget: budget)
    }

    // MARK: - Exact: fewest loads, then fewest unloads

    private static func exact(
        uses: [ModelKey], models: [ModelKey], footprints: [ModelKey: Int64], budget: Int64, initial: Set<ModelKey>
    ) -> Schedule {
        let index = Dictionary(uniqueKeysWithValues: models.enumerated().map { ($1, $0) })
        let sizes = models.map { footprints[$0] ?? 0 }
        func bytes(_ mask: Int) -> Int64 {
            var total: Int64 = 0
            for bit in 0..<models.count where mask & (1 << bit) != 0 { total += sizes[bit] }
            return total
        }
        let start = initial.reduce(0) { $0 | (1 << index[$1]!) }
        // Cost after each step: loads, then unloads, then how early the unloads happen (models stay
        // resident as long as they can: a critic loop's next round may need them), then how soon the
        // unloaded models are needed again (ties go to the farthest next use), then how recently they were
        // used (ties go to the least recent, so the model of the stage just before stays: the next load
        // can then start while that stage runs, MemoryPlanner+Preload), then the previous mask (so the result
        // does not depend on dictionary order). Back-pointers rebuild the schedule.
        typealias Cost = (loads: Int, unloads: Int, earliness: Int, urgency: Int, recency: Int, previous: Int)
        func better(_ a: Cost, _ b: Cost) -> Bool {
            (a.loads, a.unloads, a.earliness, a.urgency, a.recency, a.previous)
                < (b.loads, b.unloads, b.earliness, b.urgency, b.recency, b.previous)
        }
        var layer: [Int: Cost] = [start: (0, 0, 0, 0, 0, -1)]
        var history: [[Int: Cost]] = []
        for (position, use) in uses.enumerated() {
            let bit = 1 << index[use]!
            var next: [Int: Cost] = [:]
            for (mask, cost) in layer {
                // Keep any subset of the resident models that fits beside the one this stage needs (when
                // it is resident and everything fits, that is all of them: nothing is unloaded).
                var candidates: [(Int, Cost)] = []
                let loads = mask & bit == 0 ? 1 : 0
                var subset = mask & ~bit
                while true {
                    if bytes(subset | bit) <= budget {
                        let unloadedMask = mask & ~(subset | bit)
                        let unloaded = unloadedMask.nonzeroBitCount
                        var urgency = 0
                        var recency = 0
                        for bit in 0..<models.count where unloadedMask & (1 << bit) != 0 {
                            let nextUse = nextUse(of: models[bit], after: position, in: uses)
                            urgency += nextUse == Int.max ? 0 : uses.count - nextUse
                            recency += (uses[..<position].lastIndex(of: models[bit]) ?? -1) + 1
                        }
                        candidates.append(
                            (
                                subset | bit,
                                (
                                    cost.loads + loads, cost.unloads + unloaded, cost.earliness + unloaded * (uses.count - position),
                                    cost.urgency + urgency, cost.recency + recency, mask
                                )
                            ))
                    }
                    if subset == 0 { break }
                    subset = (subset - 1) & (mask & ~bit)
                }
                for (target, candidate) in candidates {
                    if let existing = next[target], !better(candidate, existing) { continue }
                    next[target] = candidate
                }
            }
            history.append(next)
            layer = next
        }
        guard var mask = layer.min(by: { better($0.value, $1.value) || (!better($1.value, $0.value) && $0.key < $1.key) })?.key
        else { return Schedule(steps: []) }
        var masks: [Int] = []
        for step in stride(from: uses.count - 1, through: 0, by: -1) {
            masks.append(mask)
            mask = history[step][mask]!.previous
        }
        masks.reverse()
        var steps: [Step] = []
        var before = start
        for (position, after) in masks.enumerated() {
            let bit = 1 << index[uses[position]]!
            let unloadedMask = before & ~after
            var unloads = models.enumerated().filter { unloadedMask & (1 << $0.offset) != 0 }.map(\.element)
            unloads.sort { nextUse(of: $0, after: position, in: uses) > nextUse(of: $1, after: position, in: uses) }
            let resident = models.enumerated().filter { after & (1 << $0.offset) != 0 }.map(\.element)
            steps.append(
                Step(
                    stageIndex: position, unloads: unloads, load: before & bit == 0 ? uses[position] : nil,
                    residentBytes: bytes(after), resident: resident))
            before = after
        }
        return Schedule(steps: steps)
    }

    // MARK: - Farthest next use

    private static func farthestNextUse(
        uses: [ModelKey], footprints: [ModelKey: Int64], budget: Int64, initial: Set<ModelKey>
    ) -> Schedule {
        var resident = initial
        var steps: [Step] = []
        for (position, model) in uses.enumerated() {
            var unloads: [ModelKey] = []
            let load: ModelKey? = resident.contains(model) ? nil : model
            resident.remove(model)
            func total() -> Int64 { resident.reduce(footprints[model] ?? 0) { $0 + (footprints[$1] ?? 0) } }
            while total() > budget,
                let victim = resident.max(by: {
                    (nextUse(of: $0, after: position, in: uses), $1) < (nextUse(of: $1, after: position, in: uses), $0)
                })
            {
                resident.remove(victim)
                unloads.append(victim)
            }
            resident.insert(model)
            steps.append(
                Step(
                    stageIndex: position, unloads: unloads, load: load,
                    residentBytes: resident.reduce(0) { $0 + (footprints[$1] ?? 0) }, resident: resident.sorted()))
        }
        return Schedule(steps: steps)
    }

    /// Index of the next use of `model` after `position`, or `Int.max` when never.
    static func nextUse(of model: ModelKey, after position: Int, in uses: [ModelKey]) -> Int {
        uses[(position + 1)...].firstIndex(of: model) ?? Int.max
    }
}
