import BatonEngine
import BatonSpec
import Foundation
import Testing

/// What the dashboard's memory lane reads from the event log (issue 16): each `model-loaded` says the bytes the memory
/// planner counted for the model (measured when a load measured it, else the registry's), and each unload the planner
/// chose says whom it made room for. On PreloadFakeRuntime, whose models of 1 GB each the executor loads.
@Suite struct MemoryLaneEventTests {
    /// Two models taking turns under a budget that holds one: every stage after the first must evict.
    static let turns = """
        version: 1
        stages:
          a: {model: m1, prompt: A}
          b: {model: m2, prompt: "B {{stages.a.output}}"}
          c: {model: m1, prompt: "C {{stages.b.output}}"}
        """

    @Test func aRunThatMustEvictSaysTheBytesOfEachLoadAndWhomEachUnloadMadeRoomFor() async throws {
        let runtime = PreloadFakeRuntime()
        let snapshot = try PreloadExecutorTests.snapshot(Self.turns, preload: false, budget: "1GB")
        let (outcome, store) = try await PreloadExecutorTests.run(snapshot, on: runtime)
        let id = PreloadExecutorTests.id(outcome)
        #expect(outcome == .completed(runID: id))
        #expect(runtime.peak <= 1_000_000_000)

        let loaded = try PreloadExecutorTests.payloads(store, id, .modelLoaded)
        #expect(loaded.map { $0["model"] } == ["router:m1", "router:m2", "router:m1"])
        #expect(loaded.map { $0["bytes"] } == ["1000000000", "1000000000", "1000000000"])
        let unloaded = try PreloadExecutorTests.payloads(store, id, .modelUnloaded)
        #expect(unloaded.map { $0["model"] } == ["router:m1", "router:m2"])
        #expect(unloaded.map { $0["reason"] } == ["room for router:m2 (stage b)", "room for router:m1 (stage c)"])
        // Each unload is recorded under the stage it made room for, before that stage's load.
        let events = try store.events(id).filter { $0.kind == .modelLoaded || $0.kind == .modelUnloaded }
        #expect(
            events.map { "\($0.kind.rawValue) \($0.stage ?? "")" } == [
                "model-loaded a", "model-unloaded b", "model-loaded b", "model-unloaded c", "model-loaded c",
            ])
    }

    @Test func aMeasuredFootprintIsTheOneCounted() async throws {
        let store = try RunStore.inMemory()
        // An earlier load measured m1 smaller than the registry says; the planner counts the measurement.
        try store.saveFootprint(runtime: "router", model: "m1", bytes: 900_000_000)
        let runtime = PreloadFakeRuntime()
        let snapshot = try PreloadExecutorTests.snapshot(Self.turns, preload: false, budget: "1GB")
        let (outcome, _) = try await PreloadExecutorTests.run(snapshot, on: runtime, store: store)
        let id = PreloadExecutorTests.id(outcome)
        #expect(outcome == .completed(runID: id))
        let loaded = try PreloadExecutorTests.payloads(store, id, .modelLoaded)
        #expect(
            loaded.map { "\($0["model"] ?? "") \($0["bytes"] ?? "-")" } == [
                "router:m1 900000000", "router:m2 1000000000", "router:m1 900000000",
            ])
    }

    @Test func backgroundLoadsAndTheirEvictionsSayTheirBytesAndReasonsToo() async throws {
        // Three models under a budget for two: m3 loads while b generates, once m1 made room for it.
        let runtime = PreloadFakeRuntime(gates: ["m2": "m1", "m3": "m2"])
        let (outcome, store) = try await PreloadExecutorTests.run(try PreloadExecutorTests.snapshot(), on: runtime)
        let id = PreloadExecutorTests.id(outcome)
        #expect(outcome == .completed(runID: id))
        let loaded = try PreloadExecutorTests.payloads(store, id, .modelLoaded)
        #expect(loaded.map { $0["preloaded"] } == [nil, "true", "true"])
        #expect(loaded.allSatisfy { $0["bytes"] == "1000000000" }, "\(loaded)")
        let unloaded = try PreloadExecutorTests.payloads(store, id, .modelUnloaded)
        #expect(unloaded.map { $0["model"] } == ["router:m1"])
        #expect(unloaded.first?["reason"] == "makes room to load router:m3 for stage 'c' while 'b' runs")
    }
}
