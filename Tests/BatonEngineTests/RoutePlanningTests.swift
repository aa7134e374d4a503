import BatonEngine
import BatonSpec
import BatonTestSupport
import Foundation
import Testing

/// The memory planner with routes (issue 11): a run leaves out the stages its chosen branch skips when it plans
/// evictions, and `baton plan`'s schedule gives the worst case plus one schedule per branch.
@Suite struct RoutePlanningTests {
    /// A runtime whose models the executor loads and unloads, recording each; `classify` answers `answer`.
    final class ManagedRuntime: LLMRuntime, ModelManaging, RuntimeProvider, @unchecked Sendable {
        let answer: String
        private let lock = NSLock()
        private var loaded: Set<String> = []
        private(set) var log: [String] = []

        init(answer: String) { self.answer = answer }

        func runtime(for model: ResolvedModel, snapshot: RunSnapshot) throws -> any LLMRuntime { self }
        func residentModels() async throws -> [ResidentModel] {
            lock.withLock { loaded.sorted().map { ResidentModel(name: $0, bytes: 900_000_000) } }
        }
        func load(_ model: String, settings: StageSettings) async throws -> LoadReport {
            lock.withLock {
                loaded.insert(model)
                log.append("load \(model)")
            }
            return LoadReport(seconds: 0.01, measuredBytes: 900_000_000)
        }
        func unload(_ model: String) async throws {
            lock.withLock {
                loaded.remove(model)
                log.append("unload \(model)")
            }
        }
        func generate(_ request: GenerationRequest) -> AsyncThrowingStream<GenerationEvent, any Error> {
            let text = request.stage == "classify" ? answer : "ok"
            return AsyncThrowingStream { continuation in
                continuation.yield(.token(text))
                continuation.yield(.finished(GenerationUsage(promptTokens: 1, outputTokens: 1)))
                continuation.finish()
            }
        }
    }

    /// Two of the three 900 MB models fit the 2 GB budget. `ys` (model a) is on branch y only; `mid` (model c) needs
    /// room while a and b are resident: with `ys` still counted, a is used sooner than b and b goes (to be loaded
    /// again for `last`); once branch x is chosen, a is never used again and goes instead.
    static let pipeline = """
        version: 1
        memory_budget: 2GB
        stages:
          classify:
            model: a
            output: {format: json, schema: {type: object, properties: {pick: {type: string, enum: [x, y]}}, required: [pick]}}
            prompt: Classify
            route:
              on: pick
              cases: {x: xs, y: ys}
          xs: {model: b, prompt: X}
          mid: {model: c, needs: [xs], prompt: Mid}
          ys: {model: a, needs: [mid], prompt: Y}
          last: {model: b, needs: [mid, ys], prompt: Last}
        """

    @Test func evictionsLeaveOutTheStagesTheChosenBranchSkips() async throws {
        let store = try RunStore.inMemory()
        for name in ["a", "b", "c"] { try store.saveFootprint(runtime: "?", model: name, bytes: 900_000_000) }
        let runtime = ManagedRuntime(answer: #"{"pick": "x"}"#)
        var executor = Executor(store: store, runtimes: runtime)
        executor.machine = { MachineMemory(total: 64_000_000_000, available: nil) }
        let outcome = try await executor.start(try snapshot(Self.pipeline), inputs: [:], claim: .current())
        #expect(outcome == .completed(runID: outcome.runID))
        // (the last two: after_run, restore by default, unloads what the run loaded)
        #expect(runtime.log == ["load a", "load b", "unload a", "load c", "unload b", "unload c"])
        #expect(try store.attempts(outcome.runID).filter { $0.status == .skipped }.map(\.stage) == ["ys"])
    }

    @Test func theScheduleGivesTheWorstCaseAndEachBranchAlone() throws {
        let plan = try snapshot(Self.pipeline).plan
        let measured = Dictionary(uniqueKeysWithValues: ["a", "b", "c"].map { (ModelKey(runtime: "?", name: $0), Int64(900_000_000)) })
        let schedule = try LoadSchedule.make(plan, measured: measured, machine: MachineMemory(total: 64_000_000_000, available: nil))
        // Every stage, as before: a, b, then c in place of b (a is used sooner, by ys), then b again.
        #expect(schedule.rows.map(\.stage) == ["classify", "xs", "mid", "ys", "last"])
        #expect(schedule.rows.filter(\.loads).map(\.model.name) == ["a", "b", "c", "b"])
        #expect(schedule.branches.map { "\($0.router) \($0.branch): \($0.stages)" } == ["classify x: [\"xs\"]", "classify y: [\"ys\"]"])
        let x = try #require(schedule.branches.first)
        #expect(x.loads.map(\.name) == ["a", "b", "c"])
        #expect(x.unloadCount == 1)
        #expect(x.peakBytes == 1_800_000_000)
        let y = try #require(schedule.branches.last)
        // Without xs: a, c, then a for ys and b for last.
        #expect(y.loads.map(\.name) == ["a", "c", "b"])
        #expect(y.peakBytes <= schedule.budget)
        // A plan without routes lists no branches.
        #expect(try LoadSchedule.make(try snapshot(ExecutorTests.chain).plan).branches.isEmpty)
    }
    /// A generated routed pipeline: a router on model m0 choosing x or y, then `length` stages in a chain, each on
    /// branch x, branch y or both, on one of `models` models of 1-9 hundred MB, under a budget that fits the largest.
    struct Generated: CustomStringConvertible {
        var yaml: String
        /// Per stage after the router: its branch (nil: every branch) and model.
        var stages: [(branch: String?, model: Int)]
        var sizes: [Int64]
        var budget: Int64
        var description: String {
            "budget \(budget), sizes \(sizes), stages \(stages.map { "\($0.branch ?? "*"):m\($0.model)" }.joined(separator: " "))"
        }

        /// The models a run that takes `branch` uses, in order, router first.
        func uses(_ branch: String) -> [ModelKey] {
            [ModelKey(runtime: "?", name: "m0")]
                + stages.filter { $0.branch == nil || $0.branch == branch }.map { ModelKey(runtime: "?", name: "m\($0.model)") }
        }

        var footprints: [ModelKey: Int64] {
            Dictionary(uniqueKeysWithValues: sizes.enumerated().map { (ModelKey(runtime: "?", name: "m\($0.offset)"), $0.element) })
        }
    }

    static func generate(seed: UInt64) -> Generated {
        var generator = SeededGenerator(seed: seed)
        let models = Int.random(in: 2...4, using: &generator)
        let sizes = (0..<models).map { _ in Int64.random(in: 1...9, using: &generator) * 100_000_000 }
        let largest = sizes.max()!
        let budget = Int64.random(in: (largest / 100_000_000)...(largest / 100_000_000 * 2 + 3), using: &generator) * 100_000_000
        let length = Int.random(in: 3...7, using: &generator)
        let stages: [(branch: String?, model: Int)] = (0..<length).map { _ in
            ([nil, "x", "y"].randomElement(using: &generator)!, Int.random(in: 0..<models, using: &generator))
        }
        // A branch with no stages is written `[]` (it runs nothing).
        let x = stages.indices.filter { stages[$0].branch == "x" }.map { "s\($0)" }
        let y = stages.indices.filter { stages[$0].branch == "y" }.map { "s\($0)" }
        var yaml = """
            version: 1
            memory_budget: \(budget / 1_000_000)MB
            stages:
              classify:
                model: m0
                output: {format: json, schema: {type: object, properties: {pick: {type: string, enum: [x, y]}}, required: [pick]}}
                prompt: Classify
                route:
                  on: pick
                  cases: {x: [\(x.joined(separator: ", "))], y: [\(y.joined(separator: ", "))]}

            """
        for (index, stage) in stages.enumerated() {
            let needs = index == 0 ? "" : ", needs: [s\(index - 1)]"
            yaml += "  s\(index): {model: m\(stage.model), prompt: S\(index)\(needs)}\n"
        }
        return Generated(yaml: yaml, stages: stages, sizes: sizes, budget: budget)
    }

    /// Once the branch is known the schedule is the optimum for that branch's stages; a run that takes the branch
    /// loads no more than it, never more than unloading after every stage, and stays within the budget.
    @Test(arguments: 0..<60)
    func eachBranchIsPlannedOptimallyAndRunsWithinTheBudget(_ seed: Int) async throws {
        let generated = Self.generate(seed: 77_000 + UInt64(seed))
        let plan = try snapshot(generated.yaml)
        let schedule = try LoadSchedule.make(
            plan.plan, measured: generated.footprints, machine: MachineMemory(total: 64_000_000_000, available: nil))
        #expect(schedule.branches.map(\.branch) == ["x", "y"])
        for branch in schedule.branches {
            let uses = generated.uses(branch.branch)
            let optimum = MemoryPlannerTests.exhaustive(
                MemoryPlannerTests.Case(uses: uses, footprints: generated.footprints, budget: generated.budget))
            #expect(branch.loads.count == optimum, "\(branch.branch): \(generated)")
            #expect(branch.loads.count <= uses.count)
            #expect(branch.peakBytes <= generated.budget, "\(generated)")

            // The run that takes this branch.
            let store = try RunStore.inMemory()
            for (key, bytes) in generated.footprints { try store.saveFootprint(runtime: key.runtime, model: key.name, bytes: bytes) }
            let runtime = SizedRuntime(answer: "{\"pick\": \"\(branch.branch)\"}", sizes: generated.footprints)
            var executor = Executor(store: store, runtimes: runtime)
            executor.machine = { MachineMemory(total: 64_000_000_000, available: nil) }
            let outcome = try await executor.start(plan, inputs: [:], claim: .current())
            #expect(outcome == .completed(runID: outcome.runID), "\(generated)")
            #expect(runtime.loads <= optimum, "\(branch.branch): \(runtime.loads) loads, optimum \(optimum): \(generated)")
            #expect(runtime.peak <= generated.budget, "\(generated)")
        }
    }

    /// A managed runtime that tracks the bytes resident (each model at its size) and the peak.
    final class SizedRuntime: LLMRuntime, ModelManaging, RuntimeProvider, @unchecked Sendable {
        let answer: String
        let sizes: [ModelKey: Int64]
        private let lock = NSLock()
        private var loaded: Set<String> = []
        private(set) var loads = 0
        private(set) var peak: Int64 = 0

        init(answer: String, sizes: [ModelKey: Int64]) {
            self.answer = answer
            self.sizes = sizes
        }

        private func size(_ name: String) -> Int64 { sizes[ModelKey(runtime: "?", name: name)] ?? 0 }

        func runtime(for model: ResolvedModel, snapshot: RunSnapshot) throws -> any LLMRuntime { self }
        func residentModels() async throws -> [ResidentModel] {
            lock.withLock { loaded.sorted().map { ResidentModel(name: $0, bytes: size($0)) } }
        }
        func load(_ model: String, settings: StageSettings) async throws -> LoadReport {
            lock.withLock {
                loaded.insert(model)
                loads += 1
                peak = max(peak, loaded.reduce(0) { $0 + size($1) })
            }
            return LoadReport(seconds: 0.01, measuredBytes: size(model))
        }
        func unload(_ model: String) async throws { _ = lock.withLock { loaded.remove(model) } }
        func generate(_ request: GenerationRequest) -> AsyncThrowingStream<GenerationEvent, any Error> {
            let text = request.stage == "classify" ? answer : "ok"
            return AsyncThrowingStream { continuation in
                continuation.yield(.token(text))
                continuation.yield(.finished(GenerationUsage(promptTokens: 1, outputTokens: 1)))
                continuation.finish()
            }
        }
    }
}
