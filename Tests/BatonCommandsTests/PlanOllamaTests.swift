import BatonTestSupport
import Foundation
import Testing

/// What `baton plan` says about Ollama models it does not load (O-A3) and contexts it reloads for (O-A5).
@Suite struct PlanOllamaTests {
    @Test("O-A3, O-A5: plan says a :cloud model is served by ollama.com, and schedules a reload for a larger num_ctx")
    func planSaysWhatOllamaDoes() async throws {
        let folder = NSTemporaryDirectory() + "baton-plan-ollama-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let pipeline = folder + "/p.yaml"
        try """
        version: 1
        outputs: [check]
        stages:
          plan: {model: "ollama:gpt-oss:120b-cloud", prompt: "Plan it"}
          write: {model: "mistral:7b-instruct", num_ctx: 4096, prompt: "Write {{stages.plan.output}}"}
          check: {model: "mistral:7b-instruct", num_ctx: 8192, prompt: "Check {{stages.write.output}}"}
        """.write(toFile: pipeline, atomically: true, encoding: .utf8)
        let environment = [
            "BATON_OLLAMA_URL": "http://127.0.0.1:1", "BATON_LLAMA_URL": "http://127.0.0.1:1", "BATON_DB": folder + "/runs.sqlite",
        ]

        let result = try await BatonProcess.run(["plan", pipeline, "--profile", "m3-16gb", "--offline"], environment: environment)

        #expect(result.status == 0, "\(result.stderr)")
        let lines = result.stdout.split(separator: "\n")
        #expect(lines.first { $0.contains(" plan ") }?.hasSuffix("served by ollama.com, not loaded here") == true)
        #expect(lines.first { $0.contains(" check ") }?.contains("reload ollama:mistral:7b-instruct with num_ctx 8192") == true)
        #expect(result.stdout.contains("2 loads, 0 unloads"))
    }
}
