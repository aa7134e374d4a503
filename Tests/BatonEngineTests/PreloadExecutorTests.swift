import BatonEngine
import BatonSpec
import BatonTestSupport
import Foundation
import Testing

/// Preloading in the executor (issue 15), with a fake runtime (PreloadFakeRuntime): the next stage's model loads while
/// the stage before generates, within the budget at every change; a failed background load is the stage's load
/// failure; `preload: false` and a runtime that cannot load while generating never preload; a model a killed run left
/// loading is waited for, not loaded again.
@Suite struct PreloadExecutorTests {
    /// Three stages on three models of 1 GB each, under a budget for two.
    static let pipeline = """
        version: 1
        stages:
          a: {model: m1, prompt: A}
          b: {model: m2, prompt: "B {{stages.a.output}}", retry: {max_attempts: 2, initial_backoff: 10ms}}
          c: {model: m3, prompt: "C {{stages.b.output}}"}
        """

    static func snapshot(_ yaml: String = pipeline, preload: Bool? = nil, budget: String = "2GB") throws -> RunSnapshot {
        let profileText = """
            version: 1
            name: preload
            memory_budget: \(budget)
            after_run: keep
            \(preload.map { "preload: \($0)" } ?? "")
            runtimes:
              router: {kind: llama-server, url: "http://127.0.0.1:9"}
            models:
              m1: {runtime: router, footprint: 1GB}
              m2: {runtime: router, footprint: 1GB}
              m3: {runtime: router, footprint: 1GB}
              m4: {runtime: router, footprint: 1GB}
            """
        let document = ProfileDecoder.decode(SourceFile(path: "preload.yaml", text: profileText), environment: [:])
        let (resolved, diagnostics) = ProfileResolver.resolve(document) { _ in nil }
        let profile = try #require(resolved, "\(diagnostics)")
        let result = PipelineCompiler(profile: profile).compile(SourceFile(path: "preload-test.yaml", text: yaml))
        let plan = try #require(result.plan, "\(result.diagnostics.map(\.message))")
        return RunSnapshot(plan: plan, profile: profile, sources: ["preload-test.yaml": yaml], pipelinePath: nil, forcedRuntime: nil)
    }

    static func run(_ snapshot: RunSnapshot, on runtime: PreloadFakeRuntime, store: RunStore? = nil) async throws -> (RunOutcome, RunStore)
    {
        let store = try store ?? RunStore.inMemory()
        var executor = Executor(store: store, runtimes: runtime, sleep: { _ in }, random: { 0.5 })
        executor.machine = { MachineMemory(total: 64_000_000_000, available: nil) }
        return (try await executor.start(snapshot, inputs: [:], claim: .current()), store)
    }

    static func payloads(_ store: RunStore, _ id: String, _ kind: EventKind) throws -> [[String: String]] {
        try store.events(id, kind: kind).map { try JSONDecoder().decode([String: String].self, from: Data(($0.payload ?? "{}").utf8)) }
    }

    static func id(_ outcome: RunOutcome) -> String {
        switch outcome {
        case .completed(let id), .interrupted(let id): return id
        case .failed(let id, _, _): return id
        default: return ""
        }
    }

    @Test func theNextModelLoadsWhileTheStageBeforeGeneratesWithinTheBudget() async throws {
        let runtime = PreloadFakeRuntime(gates: ["m2": "m1", "m3": "m2"])
        let (outcome, store) = try await Self.run(try Self.snapshot(), on: runtime)
        guard case .completed(let id) = outcome else {
            Issue.record("\(outcome)")
            return
        }
        let log = runtime.log

        // m2's load began before m1's generation ended and was confirmed after it: they overlapped. Then m1 went to
        // make room for m3, which loaded while m2 generated.
        let order = { (entry: String) in log.firstIndex(of: entry) ?? -1 }
        #expect(order("load m2") < order("generated m1") && order("generated m1") < order("loaded m2"), "\(log)")
        #expect(order("unload m1") < order("load m3") && order("load m3") < order("generated m2"), "\(log)")
        #expect(order("generated m2") < order("loaded m3") && order("loaded m3") < order("generated m3"), "\(log)")
        #expect(log.filter { $0.hasPrefix("load ") } == ["load m1", "load m2", "load m3"])
        #expect(!log.contains { $0.hasPrefix("loaded twice") })
        #expect(runtime.peak <= 2_000_000_000)

        let started = try Self.payloads(store, id, .preloadStarted)
        #expect(started == [["model": "router:m2", "during": "a", "for": "b"], ["model": "router:m3", "during": "b", "for": "c"]])
        let loaded = try Self.payloads(store, id, .modelLoaded)
        #expect(loaded.map { $0["model"] } == ["router:m1", "router:m2", "router:m3"])
        #expect(loaded.map { $0["preloaded"] } == [nil, "true", "true"])
        // The stages that took a preload say how long its load took, how long they waited and what was hidden.
        let timings = Dictionary(try store.attempts(id).map { ($0.stage, $0.timingValues) }) { first, _ in first }
        for stage in ["b", "c"] {
            let values = try #require(timings[stage])
            let load = try #require(values["load_ms"])
            let wait = try #require(values["load_wait_ms"])
            #expect(abs((values["load_hidden_ms"] ?? -1) - max(0, load - wait)) < 0.001, "\(values)")
        }
        #expect(timings["a"]?["load_wait_ms"] == nil && timings["a"]?["load_ms"] != nil)
    }

    @Test func preloadFalseLoadsEachModelJustBeforeItsStage() async throws {
        let runtime = PreloadFakeRuntime()
        let (outcome, store) = try await Self.run(try Self.snapshot(preload: false), on: runtime)
        guard case .completed(let id) = outcome else {
            Issue.record("\(outcome)")
            return
        }

        let log = runtime.log
        #expect(log.firstIndex(of: "load m2")! > log.firstIndex(of: "generated m1")!)
        #expect(log.firstIndex(of: "load m3")! > log.firstIndex(of: "generated m2")!)
        #expect(log.filter { $0.hasPrefix("load ") }.count == 3)
        #expect(try store.events(id, kind: .preloadStarted).isEmpty)
    }

    @Test func aRuntimeThatCannotLoadWhileGeneratingIsNeverAskedTo() async throws {
        let runtime = PreloadFakeRuntime(canPreload: false)
        let (outcome, store) = try await Self.run(try Self.snapshot(), on: runtime)
        guard case .completed(let id) = outcome else {
            Issue.record("\(outcome)")
            return
        }

        #expect(try store.events(id, kind: .preloadStarted).isEmpty)
        let log = runtime.log
        #expect(log.firstIndex(of: "load m2")! > log.firstIndex(of: "generated m1")!)
        #expect(runtime.peak <= 2_000_000_000)
    }

    @Test func aBackgroundLoadThatFailedIsRetriedWhenTheStageNeedsTheModel() async throws {
        let busy = RuntimeError(.httpStatus, "the router is busy", isTransient: true)
        let runtime = PreloadFakeRuntime(gates: ["m2": "m1"], failures: ["m2": (1, busy)])
        let (outcome, store) = try await Self.run(try Self.snapshot(), on: runtime)
        guard case .completed(let id) = outcome else {
            Issue.record("\(outcome)")
            return
        }
        let log = runtime.log

        // The preload failed while m1 generated; stage b's load path saw the failure and loaded m2 again itself.
        #expect(log.filter { $0 == "load m2" }.count == 2, "\(log)")
        #expect(log.firstIndex(of: "load failed m2")! < log.firstIndex(of: "generate m2")!)
        #expect(try Self.payloads(store, id, .preloadStarted).map { $0["model"] }.first == "router:m2")
        #expect(try Self.payloads(store, id, .modelLoaded).filter { $0["model"] == "router:m2" }.map { $0["preloaded"] } == [nil])
        #expect(runtime.peak <= 2_000_000_000)
    }

    @Test func aBackgroundLoadThatCannotSucceedFallsBackToTheNextModel() async throws {
        let yaml = """
            version: 1
            stages:
              a: {model: m1, prompt: A}
              b: {model: [m2, m4], prompt: "B {{stages.a.output}}", retry: {max_attempts: 2, initial_backoff: 10ms}}
            """
        let missing = RuntimeError(.modelNotFound, "the router has no model 'm2'", isTransient: false)
        let runtime = PreloadFakeRuntime(failures: ["m2": (5, missing)])
        let (outcome, store) = try await Self.run(try Self.snapshot(yaml), on: runtime)
        guard case .completed(let id) = outcome else {
            Issue.record("\(outcome)")
            return
        }

        #expect(try Self.payloads(store, id, .preloadStarted).map { $0["model"] } == ["router:m2"])
        #expect(!(try store.events(id, kind: .modelFallback)).isEmpty)
        #expect(runtime.log.contains("generate m4") && !runtime.log.contains("generate m2"))
        #expect(runtime.peak <= 2_000_000_000)
    }

    @Test func aModelAKilledRunLeftLoadingIsWaitedForNotLoadedAgain() async throws {
        let runtime = PreloadFakeRuntime()
        runtime.leaveLoading("m1", polls: 3)
        let (outcome, store) = try await Self.run(try Self.snapshot(), on: runtime)
        guard case .completed(let id) = outcome else {
            Issue.record("\(outcome)")
            return
        }

        #expect(!runtime.log.contains("load m1"), "\(runtime.log)")
        #expect(!runtime.log.contains { $0.hasPrefix("loaded twice") })
        #expect(try Self.payloads(store, id, .modelLoaded).first?["model"] == "router:m1")
        #expect(runtime.peak <= 2_000_000_000)
    }

    @Test func aLoadStillInFlightWhenTheRunFailsIsSettledAndRecorded() async throws {
        let yaml = """
            version: 1
            stages:
              a: {model: m1, prompt: A, output: {format: json}, retry: {max_attempts: 1}}
              b: {model: m2, prompt: "B {{stages.a.output}}"}
            """
        let runtime = PreloadFakeRuntime(gates: ["m2": "m1"])
        let (outcome, store) = try await Self.run(try Self.snapshot(yaml), on: runtime)
        guard case .failed(let id, _, _) = outcome else {
            Issue.record("\(outcome)")
            return
        }

        // Stage a's answer is not JSON: the run fails while m2 loads for b. The run waits for that load before it ends.
        #expect(runtime.loadingNow.isEmpty)
        let last = try #require(try Self.payloads(store, id, .modelLoaded).last)
        #expect(last["model"] == "router:m2" && last["preloaded"] == "true" && last["used"] == "false", "\(last)")
    }

    @Test func aStageThatMayBeSkippedIsNotLoadedForBeforeItsConditionIsDecided() async throws {
        let yaml = """
            version: 1
            stages:
              a: {model: m1, prompt: A}
              b: {model: m2, when: "stages.a.output != ''", prompt: B}
              c: {model: m3, prompt: "C {{stages.a.output}}"}
            """
        let runtime = PreloadFakeRuntime()
        let (outcome, store) = try await Self.run(try Self.snapshot(yaml), on: runtime)
        guard case .completed(let id) = outcome else {
            Issue.record("\(outcome)")
            return
        }

        // Nothing loads during a: b's model waits for b's condition, and c's load does not go before b's. Once b runs,
        // c's model loads while b generates.
        #expect(try Self.payloads(store, id, .preloadStarted) == [["model": "router:m3", "during": "b", "for": "c"]])
        let log = runtime.log
        #expect(log.firstIndex(of: "load m2")! > log.firstIndex(of: "generated m1")!)
        #expect(runtime.peak <= 2_000_000_000)
    }

    @Test func aSignalWhileAStageWaitsForItsPreloadInterruptsTheRunAtOnce() async throws {
        let runtime = PreloadFakeRuntime()
        runtime.hold("m2")
        let store = try RunStore.inMemory()
        let snapshot = try Self.snapshot()
        let run = Task { try await Self.run(snapshot, on: runtime, store: store).0 }
        // Stage b waits for m2, which loads in the background and does not finish until released.
        // Each wait has its own generous deadline: under a loaded CI machine the first one alone once took 30 s.
        let generated = ContinuousClock.now + .seconds(120)
        while !runtime.log.contains("generated m1"), ContinuousClock.now < generated { try await Task.sleep(for: .milliseconds(5)) }
        try await Task.sleep(for: .milliseconds(50))
        run.cancel()
        // The run is interrupted while the load still runs; the load is settled (and recorded) before the run returns.
        var interrupted = false
        let deadline = ContinuousClock.now + .seconds(120)
        while !interrupted, ContinuousClock.now < deadline {
            interrupted = try store.runs().contains { $0.status == .interrupted }
            if !interrupted { try await Task.sleep(for: .milliseconds(5)) }
        }
        let stillLoading = runtime.loadingNow.contains("m2")
        runtime.release("m2")
        let outcome = try await run.value

        #expect(interrupted && stillLoading)
        guard case .interrupted(let id) = outcome else {
            Issue.record("\(outcome)")
            return
        }
        #expect(try Self.payloads(store, id, .modelLoaded).last?["used"] == "false")
        #expect(runtime.loadingNow.isEmpty)
    }
}
