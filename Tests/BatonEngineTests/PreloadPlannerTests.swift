import BatonEngine
import BatonTestSupport
import Testing

/// The memory planner's preload marks (issue 15): on generated schedules, an independent walk of the steps finds the
/// budget held at every instant (resident plus loading), every stage's model there when it runs and the loads
/// unchanged; on small ones, an exhaustive search finds no earlier starts; and the benchmark's six-stage shape.
@Suite struct PreloadPlannerTests {
    typealias Case = MemoryPlannerTests.Case

    /// Uses drawn at random, or (`loops`) a critic loop's repeats: pairs of models alternating for a few rounds.
    static func generate(seed: UInt64, models: Int, length: Int, loops: Bool) -> Case {
        var generator = SeededGenerator(seed: seed)
        let keys = (0..<models).map { ModelKey(runtime: "r", name: "m\($0)") }
        var footprints: [ModelKey: Int64] = [:]
        for key in keys { footprints[key] = Int64.random(in: 1...9, using: &generator) }
        let largest = footprints.values.max()!
        let total = footprints.values.reduce(0, +)
        let budget = Int64.random(in: largest...max(largest, total), using: &generator)
        var uses: [ModelKey] = []
        while uses.count < length {
            let first = keys.randomElement(using: &generator)!
            if loops, Bool.random(using: &generator) {
                let second = keys.randomElement(using: &generator)!
                for _ in 0..<Int.random(in: 1...3, using: &generator) { uses += [first, second] }
            } else {
                uses.append(first)
            }
        }
        return Case(uses: Array(uses.prefix(length)), footprints: footprints, budget: budget)
    }

    /// Walks `schedule` as the executor runs it: before each stage its unloads and load (unless the load started
    /// earlier), then, while the stage generates, every load marked to start during it (with its unloads). Returns the
    /// first broken rule, or nil: the budget exceeded by resident plus loading models, a stage without its model, a
    /// model loaded twice or unloaded while not resident, a load starting before one needed sooner.
    static func violation(_ schedule: MemoryPlanner.Schedule, _ c: Case, initial: Set<ModelKey> = []) -> String? {
        var resident = initial
        var loading: Set<ModelKey> = []
        func check(_ moment: String) -> String? {
            let total = resident.union(loading).reduce(Int64(0)) { $0 + c.footprints[$1]! }
            return total > c.budget ? "\(moment): \(total) resident or loading, budget \(c.budget)" : nil
        }
        var lastStart = -1
        for (index, step) in schedule.steps.enumerated() {
            if let model = step.load {
                let start = step.preloadFrom ?? index
                if start > index { return "step \(index) preloads from a later step" }
                if start < lastStart { return "step \(index)'s load starts before an earlier step's" }
                lastStart = start
            }
            if step.preloadFrom == nil {
                for gone in step.unloads {
                    guard resident.remove(gone) != nil else { return "step \(index) unloads \(gone), not resident" }
                }
                if let model = step.load {
                    if resident.contains(model) || loading.contains(model) { return "step \(index) loads \(model) twice" }
                    resident.insert(model)
                    if let broken = check("loading for step \(index)") { return broken }
                }
            } else if let model = step.load {
                guard loading.remove(model) != nil else { return "step \(index) waits for \(model), which is not loading" }
                resident.insert(model)
            }
            guard resident.contains(c.uses[index]) else { return "step \(index) runs without \(c.uses[index])" }
            for (later, planned) in schedule.steps.enumerated() where planned.preloadFrom == index {
                guard let model = planned.load else { return "step \(later) preloads nothing" }
                for gone in planned.unloads {
                    if gone == c.uses[index] {
                        return "the preload for step \(later) unloads \(gone) while step \(index) generates with it"
                    }
                    guard resident.remove(gone) != nil, !loading.contains(gone) else {
                        return "the preload for step \(later) unloads \(gone), not resident"
                    }
                }
                if resident.contains(model) || loading.contains(model) { return "step \(later) preloads \(model), resident already" }
                loading.insert(model)
                if let broken = check("step \(index) generating with \(model) loading for step \(later)") { return broken }
            }
        }
        return nil
    }

    @Test(arguments: 0..<300)
    func generatedSchedulesHoldTheBudgetAtEveryInstantAndKeepTheirLoads(_ seed: Int) throws {
        let c = Self.generate(seed: UInt64(seed), models: 2 + seed % 5, length: 4 + seed % 13, loops: seed % 2 == 0)
        let plain = try MemoryPlanner.plan(uses: c.uses, footprints: c.footprints, budget: c.budget)
        let preloaded = try MemoryPlanner.plan(uses: c.uses, footprints: c.footprints, budget: c.budget, preload: true)

        #expect(Self.violation(preloaded, c) == nil, "\(c)")
        #expect(preloaded.loads == plain.loads, "\(c)")
        #expect(preloaded.steps.map(\.load) == plain.steps.map(\.load) && preloaded.steps.map(\.unloads) == plain.steps.map(\.unloads))
        #expect(MemoryPlanner.peakWithPreloads(preloaded, footprints: c.footprints) <= c.budget)
    }

    @Test(arguments: 0..<300)
    func fromAResidentStartTheBudgetHoldsToo(_ seed: Int) throws {
        let c = Self.generate(seed: 5_000 + UInt64(seed), models: 3 + seed % 3, length: 5 + seed % 9, loops: true)
        // The executor plans from what is resident: this stage's model and whatever else fits.
        var initial: Set<ModelKey> = [c.uses[0]]
        for key in c.footprints.keys.sorted()
        where initial.union([key]).reduce(Int64(0), { $0 + c.footprints[$1]! }) <= c.budget && seed % 3 != 0 {
            initial.insert(key)
        }
        let schedule = try MemoryPlanner.plan(
            uses: c.uses, footprints: c.footprints, budget: c.budget, initiallyResident: initial, preload: true)

        #expect(Self.violation(schedule, c, initial: initial) == nil, "\(c), initially \(initial.sorted())")
        #expect(schedule.steps.first?.preloadFrom == nil)
    }

    /// Every assignment of starts to the loads, checked by the walk: the planner's is the one whose starts, load by
    /// load in stage order, are earliest (each as early as the ones before it allow).
    @Test(arguments: 0..<120)
    func noLoadCouldStartEarlierThanMarked(_ seed: Int) throws {
        let c = Self.generate(seed: 9_000 + UInt64(seed), models: 2 + seed % 3, length: 4 + seed % 5, loops: seed % 2 == 1)
        let plain = try MemoryPlanner.plan(uses: c.uses, footprints: c.footprints, budget: c.budget)
        let marked = MemoryPlanner.preloads(plain, uses: c.uses, footprints: c.footprints, budget: c.budget)
        let loads = plain.steps.indices.filter { plain.steps[$0].load != nil }
        var best: [Int]?
        func search(_ position: Int, _ starts: [Int]) {
            guard position < loads.count else {
                var candidate = plain
                for (index, start) in zip(loads, starts) { candidate.steps[index].preloadFrom = start == index ? nil : start }
                if Self.violation(candidate, c) == nil, best.map({ starts.lexicographicallyPrecedes($0) }) ?? true { best = starts }
                return
            }
            for start in 0...loads[position] { search(position + 1, starts + [start]) }
        }
        search(0, [])

        let found = loads.map { marked.steps[$0].preloadFrom ?? $0 }
        #expect(found == best, "\(c)")
    }

    /// The shape of Benchmarks/llama.py: planner, critic, executor, critic, planner, executor; three models of 430 MB.
    static let six = ["planner", "critic", "executor", "critic", "planner", "executor"].map { ModelKey(runtime: "llama", name: $0) }
    static let sizes = Dictionary(six.map { ($0, Int64(430_000_000)) }) { first, _ in first }

    @Test func withRoomForTwoTheSecondAndThirdLoadsOverlapTheStageBefore() throws {
        let schedule = try MemoryPlanner.plan(uses: Self.six, footprints: Self.sizes, budget: 900_000_000, preload: true)

        #expect(schedule.steps.map { $0.load?.name } == ["planner", "critic", "executor", nil, "planner", nil])
        // The critic loads while the planner generates; the executor, once the planner is unloaded, while the critic
        // does; the planner's reload needs the critic's room, and the critic runs just before it.
        #expect(schedule.steps.map(\.preloadFrom) == [nil, 0, 1, nil, nil, nil])
        #expect(schedule.steps[2].unloads.map(\.name) == ["planner"])
        #expect(Self.violation(schedule, Case(uses: Self.six, footprints: Self.sizes, budget: 900_000_000)) == nil)
        #expect(MemoryPlanner.peakWithPreloads(schedule, footprints: Self.sizes) == 860_000_000)
    }

    @Test func withRoomForOneNothingOverlaps() throws {
        let schedule = try MemoryPlanner.plan(uses: Self.six, footprints: Self.sizes, budget: 500_000_000, preload: true)

        #expect(schedule.loads == 6)
        #expect(schedule.steps.allSatisfy { $0.preloadFrom == nil })
    }

    @Test func withRoomForAllThreeEveryLoadStartsDuringTheFirstStage() throws {
        let schedule = try MemoryPlanner.plan(uses: Self.six, footprints: Self.sizes, budget: 1_300_000_000, preload: true)

        #expect(schedule.loads == 3)
        #expect(schedule.steps.map(\.preloadFrom) == [nil, 0, 0, nil, nil, nil])
        #expect(MemoryPlanner.peakWithPreloads(schedule, footprints: Self.sizes) == 1_290_000_000)
    }

    @Test func fixedStepsAndHeldModelsKeepLoadsWhereTheyAre() throws {
        let (w, c, n) = (ModelKey(runtime: "r", name: "w"), ModelKey(runtime: "r", name: "c"), ModelKey(runtime: "r", name: "n"))
        let sizes: [ModelKey: Int64] = [w: 4, c: 4, n: 4]
        let plain = try MemoryPlanner.plan(uses: [w, c, n], footprints: sizes, budget: 8)

        #expect(MemoryPlanner.preloads(plain, uses: [w, c, n], footprints: sizes, budget: 8).steps.map(\.preloadFrom) == [nil, 0, 1])
        // A stage that may be skipped loads only when reached, and no later load starts before it.
        #expect(
            MemoryPlanner.preloads(plain, uses: [w, c, n], footprints: sizes, budget: 8, fixed: [1]).steps.map(\.preloadFrom) == [
                nil, nil, 1,
            ])
        // A critic whose loop may go another round needs the writer next: the writer stays while it runs.
        #expect(
            MemoryPlanner.preloads(plain, uses: [w, c, n], footprints: sizes, budget: 8, held: [1: [w]]).steps.map(\.preloadFrom)
                == [nil, 0, nil])
    }
}
