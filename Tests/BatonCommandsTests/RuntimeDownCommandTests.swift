import BatonTestSupport
import Foundation
import Testing

/// A run whose runtimes are down, through the real binary: each runtime is announced once, the other models
/// on it are not tried, and the run exits 69 with one message naming what starts each runtime.
@Suite struct RuntimeDownCommandTests {
    /// An Ollama and a llama-server router on closed ports (nothing listens on the discard port 9).
    static let profile = """
        version: 1
        name: closed
        memory_budget: 8GB
        runtimes:
          ollama: {kind: ollama, url: "http://127.0.0.1:9"}
          router: {kind: llama-server, url: "http://127.0.0.1:9"}
        models:
          qwen2.5:14b: {runtime: ollama, footprint: 1GB}
          llama3.2: {runtime: ollama, footprint: 1GB}
          gemma3: {runtime: ollama, footprint: 1GB}
          phi4: {runtime: ollama, footprint: 1GB}
          planner: {runtime: router, footprint: 1GB}
        """

    static let pipeline = """
        version: 1
        stages:
          plan:
            model: [qwen2.5:14b, llama3.2, gemma3, phi4, planner]
            retry: {max_attempts: 2, initial_backoff: 10ms}
            prompt: Plan a picnic.
        """

    @Test func aChainOnDownRuntimesTriesEachRuntimeOnceAndExits69WithOneMessage() async throws {
        // Given
        let sandbox = try RunSandbox("runtime-down")
        try FileManager.default.createDirectory(atPath: sandbox.folder + "/profiles", withIntermediateDirectories: true)
        try Self.profile.write(toFile: sandbox.folder + "/profiles/closed.yaml", atomically: true, encoding: .utf8)
        try Self.pipeline.write(toFile: sandbox.folder + "/down.yaml", atomically: true, encoding: .utf8)
        sandbox.environment["BATON_PROFILE_PATH"] = sandbox.folder + "/profiles"
        sandbox.environment["BATON_ECHO_SCRIPT"] = nil

        // When
        let started = Date()
        let run = try await sandbox.baton(["run", sandbox.folder + "/down.yaml", "--profile", "closed"])
        print("run against closed ports took \(String(format: "%.2f", Date().timeIntervalSince(started))) s")

        // Then it exits 69, and the failure is one line naming both runtimes and what starts each
        #expect(run.status == 69, "\(run.summary)")
        let failed = run.stderr.split(separator: "\n").filter { $0.contains(" failed: stage 'plan' failed after 2 tries") }
        #expect(failed.count == 1, "\(run.stderr)")
        let message = String(failed.first ?? "")
        #expect(message.contains("runtime 'ollama' is not reachable"), "\(message)")
        #expect(message.contains("start it with: OLLAMA_HOST=127.0.0.1:9 ollama serve"), "\(message)")
        #expect(message.contains("runtime 'router' is not reachable: start llama-server"), "\(message)")
        #expect(message.contains("start llama-server at http://127.0.0.1:9"), "\(message)")
        // Each runtime announced once while running, naming the models skipped
        let announced = run.stderr.split(separator: "\n").filter { $0.hasPrefix("  ✗ plan: runtime '") }
        #expect(announced.count == 2, "\(run.stderr)")
        #expect(announced.first?.contains("ollama:llama3.2, ollama:gemma3, ollama:phi4") == true, "\(run.stderr)")
        // One fallback line, straight from the first Ollama model to the router's
        #expect(run.stderr.components(separatedBy: "↪").count - 1 == 1, "\(run.stderr)")
        #expect(run.stderr.contains("↪ plan: ollama:qwen2.5:14b runtime unreachable; falling back to router:planner"))

        // And the store shows one load retry per runtime (max_attempts: 2): the other Ollama models sent nothing
        let id = try #require(try await sandbox.runIDs().first)
        let show = try await sandbox.baton(["show", id, "--format", "json"])
        let object = try JSONSerialization.jsonObject(with: Data(show.stdout.utf8)) as? [String: Any]
        let events = (object?["events"] as? [[String: Any]]) ?? []
        #expect(events.filter { $0["kind"] as? String == "retry" }.count == 2, "\(show.stdout)")
        #expect(events.filter { $0["kind"] as? String == "runtime-unreachable" }.count == 2)
        #expect(events.filter { $0["kind"] as? String == "model-fallback" }.count == 1)

        // And show's text names the runtimes found down and the models skipped
        let text = try await sandbox.baton(["show", id])
        #expect(text.stdout.contains("runtime down (stage plan): ollama: "), "\(text.stdout)")
        #expect(text.stdout.contains("start it with: OLLAMA_HOST=127.0.0.1:9 ollama serve"), "\(text.stdout)")
        #expect(
            text.stdout.contains(
                "fallback (stage plan): ollama:qwen2.5:14b → router:planner, runtime unreachable (skipped ollama:llama3.2, ollama:gemma3, ollama:phi4)"
            ), "\(text.stdout)")
    }
}
