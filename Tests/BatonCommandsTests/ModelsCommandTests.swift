import BatonTestSupport
import Foundation
import Testing

/// `baton models` and the model choices `baton plan` explains, with Ollama played by the stand-in.
@Suite struct ModelsCommandTests {
    /// Runtimes nobody listens on, and a run database that does not exist.
    static func environment(ollama: String = "http://127.0.0.1:1") -> [String: String] {
        [
            "BATON_OLLAMA_URL": ollama, "BATON_LLAMA_URL": "http://127.0.0.1:1",
            "BATON_DB": NSTemporaryDirectory() + "baton-models-\(UUID().uuidString).sqlite",
        ]
    }

    /// `baton arguments` (waited for without holding a cooperative thread: see `BatonProcess.Running.wait()`).
    static func run(_ arguments: [String], environment: [String: String]) async throws -> BatonProcess.Result {
        try await BatonProcess.run(arguments, environment: environment)
    }

    static func json(_ text: String) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
    }

    @Test func jsonListsTheRegistryWithUnreachableRuntimesAsSuch() async throws {
        // When
        let result = try await BatonProcess.run(["models", "--profile", "m3-16gb", "--json"], environment: Self.environment())

        // Then
        #expect(result.status == 0, "\(result.stderr)")
        let object = try Self.json(result.stdout)
        #expect(object["profile"] as? String == "m3-16gb")
        #expect(object["budget_bytes"] as? Int == 14_000_000_000)
        let runtimes = try #require(object["runtimes"] as? [[String: Any]])
        let ollama = try #require(runtimes.first { $0["name"] as? String == "ollama" })
        #expect(ollama["status"] as? String == "unreachable")
        #expect((ollama["reason"] as? String)?.contains("127.0.0.1:1") == true)
        #expect(runtimes.first { $0["name"] as? String == "openai" }?["status"] as? String == "not asked")
        let models = try #require(object["models"] as? [[String: Any]])
        let mistral = try #require(models.first { $0["name"] as? String == "mistral:7b-instruct" })
        #expect(mistral["footprint_bytes"] as? Int == 5_700_000_000)
        #expect(mistral["footprint_source"] as? String == "registry")
        #expect(mistral["installed"] as? String == "unknown")
        #expect(mistral["fits"] as? Bool == true)
        #expect(mistral["context_length"] as? Int == 32768)
        #expect((mistral["capabilities"] as? [String: Any])?["reasoning"] as? Double == 5)
        #expect(mistral["roles_chosen"] as? [String] == ["planner", "critic"])
        let big = try #require(models.first { $0["name"] as? String == "qwen2.5:32b-instruct" })
        #expect(big["fits"] as? Bool == false)
        #expect(big["roles_chosen"] as? [String] == [])
    }

    @Test func discoveredModelsJoinAndPlanExplainsEachChoice() async throws {
        let models = [
            OllamaStandIn.Model("phi4:14b", diskBytes: 9_100_000_000, contextLength: 16384, family: "phi3", parameterSize: "14.7B"),
            OllamaStandIn.Model("qwen2.5-coder:7b", diskBytes: 4_700_000_000, family: "qwen2", parameterSize: "7.6B"),
            OllamaStandIn.Model("smollm2:135m", diskBytes: 270_000_000, family: "llama", parameterSize: "135M"),
        ]
        try await OllamaStandIn.with(models: models) { standIn in
            let folder = NSTemporaryDirectory() + "baton-models-\(UUID().uuidString.prefix(8))"
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(atPath: folder) }
            let pipeline = folder + "/roles.yaml"
            try """
            version: 1
            name: roles
            memory_budget: 14GB
            stages:
              plan: {role: planner, prompt: Plan}
              code: {role: executor, prompt: "Code {{stages.plan.output}}"}
              write: {role: writer, prompt: "Write up {{stages.code.output}}"}
            """.write(toFile: pipeline, atomically: true, encoding: .utf8)
            let environment = Self.environment(ollama: standIn.baseURL)

            // When
            // (waited for without blocking: `baton` asks the stand-in, which needs this process's cooperative threads)
            let listed = try await Self.run(["models", "--profile", "default", "--json"], environment: environment)
            let planned = try await Self.run(["plan", pipeline, "--profile", "default"], environment: environment)
            let offline = try await Self.run(["plan", pipeline, "--profile", "default", "--offline"], environment: environment)

            // Then the model Ollama has that the registry does not is listed, without invented scores
            #expect(listed.status == 0, "\(listed.stderr)")
            let entries = try #require(try Self.json(listed.stdout)["models"] as? [[String: Any]])
            let smol = try #require(entries.first { $0["name"] as? String == "smollm2:135m" })
            #expect(smol["in_registry"] as? Bool == false && smol["installed"] as? String == "yes")
            #expect((smol["capabilities"] as? [String: Any])?.isEmpty == true)
            #expect(smol["footprint_source"] as? String == "metadata")
            #expect((smol["discovered"] as? [String: Any])?["parameter_size"] as? String == "135M")
            let qwen = try #require(entries.first { $0["name"] as? String == "qwen2.5:14b-instruct" })
            #expect(qwen["installed"] as? String == "no")

            // And plan says why each stage got its model
            #expect(planned.status == 0, "\(planned.stderr)")
            #expect(
                planned.stdout.contains(
                    "  plan   qwen2.5:14b-instruct skipped: not installed on ollama; took phi4:14b (2nd preference of role 'planner' of profile 'default')\n"
                ), "\(planned.stdout)")
            #expect(planned.stdout.contains("took qwen2.5-coder:7b (4th preference of role 'executor' of profile 'default')"))
            #expect(
                planned.stdout.contains("took phi4:14b, best creativity score 5 among 2 local models that fit 14 GB\n"),
                "\(planned.stdout)")
            #expect(planned.stdout.contains(" 1  plan   ollama:phi4:14b "))
            // Offline, the first preference that fits is taken as before
            #expect(
                offline.stdout.contains("  plan   role 'planner' of profile 'default' prefers qwen2.5:14b-instruct\n"), "\(offline.stdout)")
        }
    }
}
