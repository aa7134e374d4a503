import BatonEngine
import BatonTestSupport
import Foundation
import Testing

/// Preloading on the real llama-server router (issue 15): the six-stage, three-model pipeline of
/// `Benchmarks/llama.py` under a budget that holds two of the three 430 MB models. While it runs, a watcher polls
/// `GET /models` (every 20 ms) and every state it sees must fit the budget, counting a `loading` model in full as the
/// planner does; the router's own log of its model processes (one spawned per load, gone at its unload) must never
/// hold more than the budget either, and must load exactly what `baton plan` says. Behaviour only: which loads started
/// during an earlier stage is read from event order, never from times.
@Suite(.serialized, .enabled(if: !LlamaRouter.skipped, "BATON_SKIP_INTEGRATION=1"))
struct PreloadRouterTests {
    typealias Workspace = LlamaServerIntegrationTests.Workspace

    /// The benchmark's pipeline (Benchmarks/llama.py): planner, critic, executor, critic, planner, executor.
    static let pipeline = """
        version: 1
        name: three-models
        defaults: {num_ctx: 2048, max_tokens: 32, seed: 5, temperature: 0}
        stages:
          plan: {role: planner, prompt: "List two steps to water a plant."}
          review: {role: critic, reviews: plan, max_rounds: 1, on_exhausted: accept, max_tokens: 256, prompt: "The steps below are fine. Reply with verdict approve.\\n{{stages.plan.output}}"}
          draft: {role: executor, needs: [review], prompt: "Explain {{stages.plan.output}}"}
          check: {role: critic, reviews: draft, max_rounds: 1, on_exhausted: accept, max_tokens: 256, prompt: "The text below is fine. Reply with verdict approve.\\n{{stages.draft.output}}"}
          summary: {role: planner, needs: [check], prompt: "Summarize: {{stages.draft.output}}"}
          title: {role: executor, needs: [summary], prompt: "A title for: {{stages.summary.output}}"}
        """

    /// A workspace with the profile `test` (900 MB: two models fit) and `test-no-preload` (the same, `preload: false`).
    static func workspace(_ router: LlamaRouter) throws -> (Workspace, pipeline: String) {
        let workspace = try Workspace(url: router.url, budget: "900MB")
        let profile = try String(contentsOfFile: workspace.folder + "/profiles/test.yaml", encoding: .utf8)
        try (profile.replacingOccurrences(of: "name: test", with: "name: test-no-preload") + "\npreload: false\n")
            .write(toFile: workspace.folder + "/profiles/test-no-preload.yaml", atomically: true, encoding: .utf8)
        return (workspace, try workspace.write("three.yaml", pipeline))
    }

    @Test func loadsStartDuringTheStageBeforeAndTheServerNeverHoldsMoreThanTheBudget() async throws {
        try await LlamaRouter.with { router in
            let (workspace, pipeline) = try Self.workspace(router)
            defer { workspace.remove() }

            // Given the plan: some loads start during an earlier stage
            let plan = try await PlannedLoads(pipeline, profile: "test", workspace: workspace, url: router.url)
            let planned = plan.loads.compactMap { load in load.during.map { "\(load.model) during \($0)" } }
            #expect(!planned.isEmpty, "the plan preloads nothing: \(plan.loads)")
            #expect(plan.preloadingOff == nil, "\(plan.preloadingOff ?? "")")

            // When it runs while the server is watched
            let watcher = router.watch()
            let result = try await workspace.run(["run", pipeline, "--profile", "test"], url: router.url)
            let states = await watcher.stop()
            let log = try RouterLog(router.stateDirectory)

            // Then it never held more than the budget, by the samples and by the router's log
            #expect(result.status == 0, "\(result.stderr)")
            #expect(plan.overBudget(states).isEmpty, "over budget: \(plan.overBudget(states)); states seen: \(states)")
            #expect(states.contains { $0.values.filter { $0 == "loaded" || $0 == "loading" }.count == 2 }, "\(states)")
            #expect(log.spawns == plan.loads.map(\.model), "the router loaded \(log.spawns); the plan: \(plan.loads)")
            #expect(log.overBudget(plan) == nil, "\(log.overBudget(plan) ?? "")")

            // And the loads the plan overlaps started before the stage that needs them
            let store = try workspace.store()
            let run = try workspace.lastRun()
            let events = try store.events(run.id)
            let preloads = events.filter { $0.kind == .preloadStarted }.map { PreloadStarted($0) }
            #expect(preloads.map { "\($0.model) during \($0.during)" } == planned)
            for preload in preloads {
                let stageStarted = events.first { $0.kind == .attemptStarted && $0.stage == preload.for }
                #expect(
                    try #require(stageStarted?.id) > preload.id,
                    "the load of \(preload.model) for '\(preload.for)' started after that stage did")
            }
            let attempts = try store.attempts(run.id).filter { $0.status == .completed }
            let hidden = attempts.filter { ($0.timingValues["load_hidden_ms"] ?? 0) > 0 }
            #expect(!hidden.isEmpty, "no attempt records a hidden load: \(attempts.map { "\($0.stage) \($0.timings ?? "")" })")
            for attempt in hidden {
                let timings = attempt.timingValues
                let load = try #require(timings["load_ms"])
                let wait = try #require(timings["load_wait_ms"])
                #expect(abs(load - wait - (timings["load_hidden_ms"] ?? 0)) < 1, "\(attempt.stage): \(timings)")
            }
            #expect(Set(hidden.map(\.stage)).isSubset(of: Set(preloads.map(\.for))))
        }
    }

    @Test func withPreloadOffNoLoadStartsBeforeItsStage() async throws {
        try await LlamaRouter.with { router in
            let (workspace, pipeline) = try Self.workspace(router)
            defer { workspace.remove() }
            let plan = try await PlannedLoads(pipeline, profile: "test-no-preload", workspace: workspace, url: router.url)
            #expect(plan.loads.allSatisfy { $0.during == nil }, "\(plan.loads)")
            #expect(plan.preloadingOff != nil, "baton plan --json does not say preloading is off")

            let watcher = router.watch()
            let result = try await workspace.run(["run", pipeline, "--profile", "test-no-preload"], url: router.url)
            let states = await watcher.stop()
            let log = try RouterLog(router.stateDirectory)

            #expect(result.status == 0, "\(result.stderr)")
            #expect(plan.overBudget(states).isEmpty, "over budget: \(plan.overBudget(states))")
            #expect(log.spawns == plan.loads.map(\.model), "the router loaded \(log.spawns); the plan: \(plan.loads)")
            #expect(log.overBudget(plan) == nil, "\(log.overBudget(plan) ?? "")")
            let store = try workspace.store()
            let run = try workspace.lastRun()
            #expect(try store.events(run.id, kind: .preloadStarted).isEmpty)
            let attempts = try store.attempts(run.id)
            #expect(attempts.allSatisfy { $0.timingValues["load_hidden_ms"] == nil && $0.timingValues["load_wait_ms"] == nil })
            #expect(attempts.contains { $0.timingValues["load_ms"] != nil }, "loads are still timed")
        }
    }

    /// The checks of the router's log notice a third model process (so they cannot pass on a log they fail to read).
    @Test func theLogCheckNoticesAThirdModelProcess() throws {
        let plan = PlannedLoads(budget: 900_000_000, footprints: ["planner": 430_000_000, "critic": 430_000_000, "executor": 430_000_000])
        let lines = [
            "0.00.856.293 I srv          load: spawning server instance with name=planner on port 56165",
            "[56165] 0.01.655.444 I srv  llama_server: model loaded",
            "0.01.901.000 I srv          load: spawning server instance with name=critic on port 46481",
            "0.03.703.136 I srv        unload: stopping model instance name=planner",
            "0.03.716.451 I srv          load: spawning server instance with name=executor on port 46482",
            "0.03.816.451 I srv           run: instance name=planner exited with status 0",
        ]
        let log = RouterLog(text: lines.joined(separator: "\n"))
        #expect(log.spawns == ["planner", "critic", "executor"])
        #expect(log.overBudget(plan) == "1290 MB of 900 MB resident after spawning executor (planner, critic, executor)")
        let fine = RouterLog(text: (lines[0..<4] + [lines[5], lines[4]]).joined(separator: "\n"))
        #expect(fine.overBudget(plan) == nil)
        #expect(plan.overBudget([["planner": "loaded", "critic": "loading", "executor": "unloaded"]]).isEmpty)
        #expect(plan.overBudget([["planner": "loaded", "critic": "loading", "executor": "loading"]]).count == 1)
    }
}

/// The loads `baton plan --json` makes for a pipeline, with the budget and the footprints the planner counts.
struct PlannedLoads: Sendable {
    struct Load: Sendable, CustomStringConvertible {
        var model: String
        /// The stage during whose generation the load starts (`preload_during`), nil: just before its own stage.
        var during: String?
        var description: String { model + (during.map { " during \($0)" } ?? "") }
    }

    var budget: Int64
    var footprints: [String: Int64]
    var loads: [Load] = []
    /// Why the plan starts no load early (`preloading_off`: the profile's `preload: false`, or the runtime), nil when it may.
    var preloadingOff: String?

    init(budget: Int64, footprints: [String: Int64]) {
        self.budget = budget
        self.footprints = footprints
    }

    init(_ pipeline: String, profile: String, workspace: LlamaServerIntegrationTests.Workspace, url: String) async throws {
        let planned = try await workspace.run(["plan", pipeline, "--profile", profile, "--json"], url: url)
        try #require(planned.status == 0, "\(planned.stderr)")
        let plan = try #require(try JSONSerialization.jsonObject(with: Data(planned.stdout.utf8)) as? [String: Any])
        budget = try #require((plan["budget_bytes"] as? NSNumber)?.int64Value)
        preloadingOff = plan["preloading_off"] as? String
        footprints = [:]
        for step in plan["steps"] as? [[String: Any]] ?? [] {
            guard let model = step["model"] as? String else { continue }
            if let bytes = (step["footprint_bytes"] as? NSNumber)?.int64Value { footprints[model] = max(bytes, footprints[model] ?? 0) }
            if step["load"] as? Bool == true { loads.append(Load(model: model, during: step["preload_during"] as? String)) }
        }
    }

    /// The sampled router states (model → status) whose loaded and loading models do not fit the budget.
    func overBudget(_ states: [[String: String]]) -> [[String: String]] {
        states.filter { state in
            let resident = state.filter { $0.value == "loaded" || $0.value == "loading" }.keys
            return resident.reduce(Int64(0)) { $0 + (footprints[$1] ?? budget + 1) } > budget
        }
    }
}

/// A router's own log of its model processes (`llama-server.log` in its state folder): one spawned per load
/// ("load: spawning server instance with name=NAME"), gone when it exits ("run: instance name=NAME exited"); the
/// router lists a model as unloaded only after its process exited.
struct RouterLog {
    enum Entry: Equatable {
        case spawned(String)
        case exited(String)
    }

    var entries: [Entry]

    init(_ stateDirectory: String) throws {
        self.init(text: try String(contentsOfFile: stateDirectory + "/llama-server.log", encoding: .utf8))
    }

    init(text: String) {
        entries = text.split(separator: "\n").compactMap { line in
            // The router's own lines; its model processes' lines start with "[PORT]".
            guard !line.hasPrefix("[") else { return nil }
            if let range = line.range(of: "spawning server instance with name=") {
                return .spawned(String(line[range.upperBound...].prefix { $0 != " " }))
            }
            if let range = line.range(of: "run: instance name="), line.contains(" exited") {
                return .exited(String(line[range.upperBound...].prefix { $0 != " " }))
            }
            return nil
        }
    }

    /// The models the router started a process for, in order.
    var spawns: [String] { entries.compactMap { if case .spawned(let name) = $0 { name } else { nil } } }

    /// The first moment the live model processes' footprints exceed the plan's budget, described; nil when never.
    func overBudget(_ plan: PlannedLoads) -> String? {
        var alive: [String] = []
        for entry in entries {
            switch entry {
            case .spawned(let name):
                alive.append(name)
                let total = alive.reduce(Int64(0)) { $0 + (plan.footprints[$1] ?? plan.budget + 1) }
                if total > plan.budget {
                    let resident = alive.joined(separator: ", ")
                    return "\(total / 1_000_000) MB of \(plan.budget / 1_000_000) MB resident after spawning \(name) (\(resident))"
                }
            case .exited(let name):
                if let index = alive.firstIndex(of: name) { alive.remove(at: index) }
            }
        }
        return nil
    }
}

/// A `preload-started` event: `model` began loading during stage `during`, for stage `for`.
struct PreloadStarted {
    var id: Int64
    var model: String
    var during: String
    var `for`: String

    init(_ event: EventRecord) {
        let payload = (try? JSONSerialization.jsonObject(with: Data((event.payload ?? "{}").utf8))) as? [String: Any] ?? [:]
        id = event.id ?? -1
        // The plan names models without their runtime; the event as "runtime:model".
        model = String((payload["model"] as? String ?? "?").split(separator: ":").last ?? "?")
        during = payload["during"] as? String ?? "?"
        `for` = payload["for"] as? String ?? "?"
    }
}
