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
        #expect(runtime.log == ["load a", "load b", "unload a", "load c"])
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
}
