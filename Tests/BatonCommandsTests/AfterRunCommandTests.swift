import BatonEngine
import BatonSpec
import BatonTestSupport
import Foundation
import Testing

/// `after_run` on the real binary with the Ollama stand-in: a run interrupted by Ctrl-C leaves the models as it found
/// them; a run killed (SIGKILL) leaves what it loaded, and its resume restores them from the first process's record of
/// what was resident; the command prints one line saying what it did, and `--json` one event.
@Suite struct AfterRunCommandTests {
    static let models = [OllamaStandIn.Model("qwen3:4b"), OllamaStandIn.Model("gemma3:1b"), OllamaStandIn.Model("llama3.2:3b")]

    /// Two stages on two 1 GB models; the 2 GB budget does not hold `llama3.2:3b` (1.5 GB) beside either.
    static let pipeline = """
        version: 1
        stages:
          plan:
            model: qwen3:4b
            prompt: Plan a picnic.
          write:
            model: gemma3:1b
            prompt: "Write a long invitation from {{stages.plan.output}}"
        """

    /// A sandbox whose `stand-in` profile points at `standIn`, with the pipeline at `folder/after-run.yaml`.
    static func sandbox(_ name: String, standIn: OllamaStandIn, policy: String? = nil) throws -> RunSandbox {
        let sandbox = try RunSandbox(name)
        try FileManager.default.createDirectory(atPath: sandbox.folder + "/profiles", withIntermediateDirectories: true)
        try """
        version: 1
        name: stand-in
        memory_budget: 2GB
        \(policy.map { "after_run: \($0)" } ?? "")
        runtimes:
          ollama: {kind: ollama, url: "\(standIn.baseURL)"}
        models:
          qwen3:4b: {runtime: ollama, footprint: 1GB}
          gemma3:1b: {runtime: ollama, footprint: 1GB}
          llama3.2:3b: {runtime: ollama, footprint: 1.5GB}
        """.write(toFile: sandbox.folder + "/profiles/stand-in.yaml", atomically: true, encoding: .utf8)
        try pipeline.write(toFile: sandbox.folder + "/after-run.yaml", atomically: true, encoding: .utf8)
        sandbox.environment["BATON_PROFILE_PATH"] = sandbox.folder + "/profiles"
        sandbox.environment["BATON_ECHO_SCRIPT"] = nil
        return sandbox
    }

    static let arguments = ["run", "after-run.yaml", "--profile", "stand-in"]

    /// Waits (up to a minute) until the second stage's chat has started streaming.
    static func waitForTheSecondStage(_ standIn: OllamaStandIn) async throws {
        let deadline = ContinuousClock.now + .seconds(60)
        while !standIn.requests.contains(where: { $0.model == "gemma3:1b" && $0.path == "/api/chat" && !$0.isEmptyChat }) {
            try #require(ContinuousClock.now < deadline, "the second stage never started")
            try await Task.sleep(for: .milliseconds(20))
        }
        try await Task.sleep(for: .milliseconds(200))
    }

    static func settings() -> OllamaStandIn.Settings {
        var settings = OllamaStandIn.Settings()
        settings.tokenDelay = 0.3
        return settings
    }

    @Test func ctrlCMidStageLeavesTheModelsAsFound() async throws {
        try await OllamaStandIn.with(models: Self.models, settings: Self.settings()) { standIn in
            // Given a model another client loaded, which the run unloads to make room
            standIn.preload("llama3.2:3b")
            let sandbox = try Self.sandbox("after-run-sigint", standIn: standIn)

            // When Ctrl-C arrives while the second stage streams
            let running = try sandbox.start(Self.arguments)
            try await Self.waitForTheSecondStage(standIn)
            running.send(SIGINT)
            let stopped = await running.wait()

            // Then the run is interrupted, and exactly the model resident before is resident again
            #expect(stopped.status == 130, "\(stopped.summary)")
            #expect(standIn.loadedNames == ["llama3.2:3b"])
            #expect(
                stopped.stderr.contains(
                    "models: unloaded ollama:gemma3:1b, ollama:qwen3:4b (loaded by this run); loaded ollama:llama3.2:3b again (resident before the run)"
                ), "\(stopped.stderr)")
            let id = try await sandbox.onlyRunID()
            #expect(try sandbox.store().run(id).status == .interrupted)
        }
    }

    @Test func aKilledRunIsRestoredAtTheEndOfItsResume() async throws {
        try await OllamaStandIn.with(models: Self.models, settings: Self.settings()) { standIn in
            standIn.preload("llama3.2:3b")
            let sandbox = try Self.sandbox("after-run-sigkill", standIn: standIn)

            // When the process is killed while the second stage streams: nothing runs after_run
            let running = try sandbox.start(Self.arguments)
            try await Self.waitForTheSecondStage(standIn)
            running.send(SIGKILL)
            _ = await running.wait()
            #expect(standIn.loadedNames == ["gemma3:1b", "qwen3:4b"])
            let id = try await sandbox.onlyRunID()

            // And the run is resumed (with the models the killed process loaded still resident)
            standIn.configure { $0.tokenDelay = 0 }
            let resumed = try await sandbox.baton(["resume", id])

            // Then the resume restores what the first process found, not what it found itself
            #expect(resumed.status == 0, "\(resumed.summary)")
            #expect(standIn.loadedNames == ["llama3.2:3b"])
            let store = try sandbox.store()
            #expect(try store.events(id, kind: .modelsAtStart).count == 1)
            let reports = try store.events(id, kind: .afterRun).map {
                try JSONDecoder().decode(AfterRunReport.self, from: Data(($0.payload ?? "").utf8))
            }
            #expect(
                reports == [
                    AfterRunReport(policy: .restore, unloaded: ["ollama:gemma3:1b", "ollama:qwen3:4b"], reloaded: ["ollama:llama3.2:3b"])
                ])
        }
    }

    @Test func jsonHasOneAfterRunEventAndShowSaysWhatWasDone() async throws {
        try await OllamaStandIn.with(models: Self.models) { standIn in
            standIn.preload("llama3.2:3b")
            let sandbox = try Self.sandbox("after-run-json", standIn: standIn, policy: "unload")

            // When
            let result = try await sandbox.baton(Self.arguments + ["--json"])

            // Then one line of --json says what after_run did
            #expect(result.status == 0, "\(result.summary)")
            let events = result.stdout.split(separator: "\n").compactMap {
                try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
            }
            let afterRun = events.filter { $0["event"] as? String == "after-run" }
            #expect(afterRun.count == 1)
            #expect(afterRun.first?["policy"] as? String == "unload")
            #expect(afterRun.first?["unloaded"] as? [String] == ["ollama:gemma3:1b", "ollama:qwen3:4b"])
            #expect(afterRun.first?["reloaded"] as? [String] == [])
            // `unload` loads nothing again: the model the run unloaded to make room stays unloaded
            #expect(standIn.loadedNames == [])

            // And `baton show` has a line for it
            let id = try await sandbox.onlyRunID()
            let shown = try await sandbox.baton(["show", id])
            #expect(
                shown.stdout.contains("after_run unload: models: unloaded ollama:gemma3:1b, ollama:qwen3:4b (loaded by this run)"),
                "\(shown.stdout)")
        }
    }
}
