import BatonEngine
import BatonTestSupport
import Foundation
import Testing

/// Crash safety of preloading (issue 15), end to end on the real binary and the real llama-server router: `baton run`
/// SIGKILLs itself right after it sent a background load (`BATON_TEST_KILL_AT=preload-started:N`), so the router is
/// still loading that model when the process is gone. The test then stops (SIGSTOP) the model process that is loading,
/// so the resume surely starts while the router lists the model `loading`, and lets it go on (SIGCONT) once the resume
/// has finished the stage the load was overlapping. `baton resume` must then finish the run with the outputs of an
/// uninterrupted one, load no model twice (the router's log: one model process per load of the plan, none started
/// while the paused one was loading) and never hold more than the budget (sampled from `GET /models` across the kill
/// and the resume, and read from the log).
///
/// The pipeline and profiles are ``PreloadRouterTests``': with a 900 MB budget the plan loads planner, critic during
/// plan, executor during review, then planner again; `preload-started:1` kills during the critic's load,
/// `preload-started:2` during the executor's.
@Suite(.serialized, .enabled(if: !LlamaRouter.skipped, "BATON_SKIP_INTEGRATION=1"))
struct PreloadCrashTests {
    /// The kill points these cases use, for ``CrashResumeTests``' count of the points every crash suite covers.
    static let kills = ["preload-started:1", "preload-started:2"]

    @Test(arguments: [1, 2])
    func killedWhileABackgroundLoadIsInFlightTheResumeLoadsNothingTwice(_ passage: Int) async throws {
        try await LlamaRouter.with { router in
            let (workspace, pipeline) = try PreloadRouterTests.workspace(router)
            defer { workspace.remove() }
            let plan = try await PlannedLoads(pipeline, profile: "test", workspace: workspace, url: router.url)
            let preloaded = plan.loads.filter { $0.during != nil }
            try #require(preloaded.count >= passage, "the plan preloads \(preloaded), no load #\(passage) to kill in: \(plan.loads)")
            let inFlight = preloaded[passage - 1]
            let during = try #require(inFlight.during)

            // Given an uninterrupted run's outputs (in a database of its own), then an empty server
            let baseline = try await workspace.run(
                ["run", pipeline, "--profile", "test"], url: router.url, extra: ["BATON_DB": workspace.folder + "/baseline.sqlite"])
            try #require(baseline.status == 0, "\(baseline.summary)")
            try await Self.unloadAll(router)
            let spawnedBefore = try RouterLog(router.stateDirectory).spawns.count

            // When the run dies right after sending a background load, whose model process is then held mid-load
            let watcher = router.watch()
            let killed = try await workspace.run(
                ["run", pipeline, "--profile", "test"], url: router.url, extra: ["BATON_TEST_KILL_AT": "preload-started:\(passage)"])
            #expect(killed.signal == SIGKILL, "not killed at preload-started:\(passage): \(killed.summary)")
            let listed = await Self.waitUntilListed(inFlight.model, in: ["loading", "loaded"], router: router)
            let held = await Self.hold(inFlight.model, router: router)
            defer { if let held { kill(held, SIGCONT) } }
            let models = await router.models()
            #expect(
                held != nil, "the load of \(inFlight.model) was not in flight after the kill (listed: \(listed), models: \(models))")
            let run = try workspace.lastRun()
            let attemptsBefore = try workspace.store().attempts(run.id).compactMap(\.id).max() ?? 0

            // And the resume runs while the load is held, until it finished the stage the load overlapped
            let resuming = try BatonProcess.start(
                ["resume", run.id],
                environment: [
                    "BATON_LLAMA_URL": router.url, "BATON_DB": workspace.database, "BATON_PROFILE_PATH": workspace.folder + "/profiles",
                ])
            let overlapped = await Self.waitUntil(resuming) {
                try workspace.store().attempts(run.id).contains {
                    ($0.id ?? 0) > attemptsBefore && $0.stage == during && $0.status == .completed
                }
            }
            #expect(overlapped, "the resume never completed '\(during)' while \(inFlight.model) was loading")
            let spawnedWhileHeld = Array(try RouterLog(router.stateDirectory).spawns.dropFirst(spawnedBefore))
            let stateWhileHeld = await router.models()[inFlight.model]
            if let held { kill(held, SIGCONT) }
            let resumed = await resuming.wait()
            let states = await watcher.stop()
            let log = try RouterLog(router.stateDirectory)

            // Then the resume finishes with the same outputs
            #expect(resumed.status == 0, "\(resumed.summary)")
            #expect(resumed.stdout == baseline.stdout, "the resumed run's outputs differ from an uninterrupted run's")
            #expect(resumed.stderr.contains("run \(run.id) completed"), "\(resumed.stderr)")
            #expect(try workspace.store().integrityCheck() == "ok")
            // And while the load was held nobody asked for the model again; every load of the plan made one model process
            #expect(stateWhileHeld == "loading", "\(inFlight.model) was \(stateWhileHeld ?? "not listed") while held")
            #expect(spawnedWhileHeld.filter { $0 == inFlight.model }.count == 1, "while held, the router loaded \(spawnedWhileHeld)")
            let spawned = Array(log.spawns.dropFirst(spawnedBefore))
            #expect(spawned == plan.loads.map(\.model), "the router loaded \(spawned) across the kill; the plan: \(plan.loads)")
            // And the budget held across the kill and the resume
            #expect(plan.overBudget(states).isEmpty, "over budget: \(plan.overBudget(states)); states seen: \(states)")
            #expect(log.overBudget(plan) == nil, "\(log.overBudget(plan) ?? "")")
        }
    }

    /// Unloads the router's three chat models (waiting until it confirms), so a run starts from an empty server.
    static func unloadAll(_ router: LlamaRouter) async throws {
        let client = LlamaServerClient(baseURL: router.url)
        for name in ["planner", "critic", "executor"] { try await client.unload(name) }
    }

    /// Stops (SIGSTOP) the model process of `model` if the router lists it `loading`, and returns its pid; nil when
    /// its load is not in flight (then nothing is stopped).
    static func hold(_ model: String, router: LlamaRouter) async -> Int32? {
        guard await router.models()[model] == "loading", let pid = modelProcess(model, router: router) else { return nil }
        kill(pid, SIGSTOP)
        // The load may have finished between the look and the stop: a loaded model must not stay stopped.
        if await router.models()[model] == "loading" { return pid }
        kill(pid, SIGCONT)
        return nil
    }

    /// Whether the router lists `model` with one of `statuses` within 30 s (polled; the bound only stops a hang).
    static func waitUntilListed(_ model: String, in statuses: Set<String>, router: LlamaRouter) async -> Bool {
        for _ in 0..<300 {
            if let status = await router.models()[model], statuses.contains(status) { return true }
            try? await Task.sleep(for: .milliseconds(100))
        }
        return false
    }

    /// Polls `condition` until it holds (true) or `process` exits or 5 minutes pass (false; the bound only stops a hang).
    static func waitUntil(_ process: BatonProcess.Running, _ condition: () throws -> Bool) async -> Bool {
        for _ in 0..<3000 {
            if (try? condition()) == true { return true }
            if !process.isRunning { return (try? condition()) == true }
            try? await Task.sleep(for: .milliseconds(100))
        }
        return false
    }

    /// The router's model process serving `model`: a `llama-server` whose `--model` is `model`'s link in the router's
    /// state folder (`STATE/models/NAME.gguf`, see scripts/start-llama-router.sh).
    static func modelProcess(_ model: String, router: LlamaRouter) -> Int32? {
        let folder = URL(fileURLWithPath: router.stateDirectory).lastPathComponent
        for entry in (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? [] {
            guard let pid = Int32(entry), let data = FileManager.default.contents(atPath: "/proc/\(entry)/cmdline") else { continue }
            let arguments = data.split(separator: 0).map { String(decoding: $0, as: UTF8.self) }
            if arguments.contains(where: { $0.hasSuffix("\(folder)/models/\(model).gguf") }), arguments.contains("--alias") {
                return pid
            }
        }
        return nil
    }
}
