import BatonEngine
import BatonTestSupport
import Testing

/// The memory planner against simple policies and an exhaustive search, on generated schedules.
@Suite struct MemoryPlannerTests {
    struct Case: CustomStringConvertible {
        var uses: [ModelKey]
        var footprints: [ModelKey: Int64]
        var budget: Int64
        var description: String {
            "budget \(budget), uses \(uses.map(\.name).joined(separator: " ")), sizes \(footprints.sorted { $0.key < $1.key }.map { "\($0.key.name)=\($0.value)" })"
        }
    }

    static func generate(seed: UInt64, models: Int, length: Int) -> Case {
        var generator = SeededGenerator(seed: seed)
        let keys = (0..<models).map { ModelKey(runtime: "r", name: "m\($0)") }
        var footprints: [ModelKey: Int64] = [:]
        for key in keys { footprints[key] = Int64.random(in: 1...9, using: &generator) }
        let largest = footprints.values.max()!
        let budget = Int64.random(in: largest...(largest * 2 + 3), using: &generator)
        let uses = (0..<length).map { _ in keys.randomElement(using: &generator)! }
        return Case(uses: uses, footprints: footprints, budget: budget)
    }

    /// Loads when every stage loads its model and unloads it afterwards (the origin's design).
    static func unloadAfterEveryStage(_ c: Case) -> Int { c.uses.count }

    /// Loads under least-recently-used eviction with the same budget.
    static func lru(_ c: Case) -> Int {
        var resident: [ModelKey] = []  // most recent last
        var loads = 0
        for use in c.uses {
            if let index = resident.firstIndex(of: use) {
                resident.remove(at: index)
            } else {
                loads += 1
                while resident.reduce(c.footprints[use]!, { $0 + c.footprints[$1]! }) > c.budget {
                    resident.removeFirst()
                }
            }
            resident.append(use)
        }
        return loads
    }

    /// The fewest loads, by trying every choice of what to unload at every miss.
    static func exhaustive(_ c: Case) -> Int {
        func search(_ position: Int, _ resident: Set<ModelKey>) -> Int {
            guard position < c.uses.count else { return 0 }
            let use = c.uses[position]
            if resident.contains(use) { return search(position + 1, resident) }
            var best = Int.max
            let others = Array(resident)
            for mask in 0..<(1 << others.count) {
                let kept = Set(others.enumerated().filter { mask & (1 << $0.offset) != 0 }.map(\.element))
                if kept.reduce(c.footprints[use]!, { $0 + c.footprints[$1]! }) <= c.budget {
                    best = min(best, 1 + search(position + 1, kept.union([use])))
                }
            }
            return best
        }
        return search(0, [])
    }

    @Test(arguments: 0..<300)
    func neverWorseThanSimplePoliciesAndOptimalOnSmallCases(_ seed: Int) throws {
        let small = Self.generate(seed: UInt64(seed), models: 2 + seed % 4, length: 4 + seed % 7)
        let schedule = try MemoryPlanner.plan(uses: small.uses, footprints: small.footprints, budget: small.budget)
        #expect(schedule.loads <= Self.unloadAfterEveryStage(small), "\(small)")
        #expect(schedule.loads <= Self.lru(small), "\(small)")
        #expect(schedule.loads == Self.exhaustive(small), "\(small)")
        #expect(schedule.peakBytes <= small.budget, "\(small)")
        // Every stage runs with its model resident, and what is resident matches the loads and unloads.
        var resident: Set<ModelKey> = []
        for step in schedule.steps {
            resident.subtract(step.unloads)
            if let load = step.load { resident.insert(load) }
            #expect(resident.contains(small.uses[step.stageIndex]))
            #expect(Set(step.resident) == resident)
        }
    }

    @Test(arguments: 0..<40)
    func largeSchedulesStayWithinBudgetAndBeatLRU(_ seed: Int) throws {
        let large = Self.generate(seed: 10_000 + UInt64(seed), models: 14 + seed % 4, length: 60)
        let schedule = try MemoryPlanner.plan(uses: large.uses, footprints: large.footprints, budget: large.budget)
        #expect(schedule.peakBytes <= large.budget)
        #expect(schedule.loads <= Self.unloadAfterEveryStage(large))
    }

    @Test func aCriticLoopWhoseModelsFitTogetherNeverSwaps() throws {
        let planner = ModelKey(runtime: "r", name: "planner")
        let critic = ModelKey(runtime: "r", name: "critic")
        let uses = [planner, critic, planner, critic, planner, critic]
        let together = try MemoryPlanner.plan(uses: uses, footprints: [planner: 4, critic: 4], budget: 8)
        #expect(together.loads == 2)
        #expect(together.unloads == 0)
        let apart = try MemoryPlanner.plan(uses: uses, footprints: [planner: 5, critic: 4], budget: 8)
        #expect(apart.loads == 6)
        #expect(apart.peakBytes == 5)
    }

    @Test func theFarthestNextUseGoesFirst() throws {
        let a = ModelKey(runtime: "r", name: "a")
        let b = ModelKey(runtime: "r", name: "b")
        let c = ModelKey(runtime: "r", name: "c")
        // a and b resident; c must evict one: b is used again sooner, so a goes.
        let evicted = try MemoryPlanner.evictions(resident: [a, b], uses: [c, b, a], footprints: [a: 3, b: 3, c: 3], budget: 6)
        #expect(evicted == [a])
    }

    @Test func aModelLargerThanTheBudgetIsAnError() {
        let big = ModelKey(runtime: "r", name: "big")
        #expect(throws: MemoryPlanner.PlanningError.self) {
            try MemoryPlanner.plan(uses: [big], footprints: [big: 10], budget: 8)
        }
    }
}

extension MemoryPlannerTests {
    @Test func modelsLeftResidentOverTheBudgetAreUnloadedEvenWhenTheStageModelIsLoaded() throws {
        let a = ModelKey(runtime: "r", name: "a")
        let b = ModelKey(runtime: "r", name: "b")
        let stray = ModelKey(runtime: "r", name: "stray")
        let evicted = try MemoryPlanner.evictions(
            resident: [a, b, stray], uses: [a, b, a], footprints: [a: 4, b: 4, stray: 4], budget: 8)
        #expect(evicted == [stray])
    }
}
