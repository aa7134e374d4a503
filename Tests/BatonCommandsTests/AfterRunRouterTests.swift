import BatonEngine
import BatonSpec
import BatonTestSupport
import Foundation
import Testing

/// `after_run` on a real llama-server router (Gemma 3 270M under three names): after a run with the default policy the
/// router lists only the models it listed before, even one the run had to unload to make room.
@Suite(.serialized, .enabled(if: !LlamaRouter.skipped, "BATON_SKIP_INTEGRATION=1"))
struct AfterRunRouterTests {
    @Test func afterARunTheRouterListsOnlyWhatItListedBefore() async throws {
        try await LlamaRouter.with { router in
            // Given `critic` loaded by another client, and room for one model only
            let workspace = try LlamaServerIntegrationTests.Workspace(url: router.url, budget: "600MB")
            defer { workspace.remove() }
            let client = LlamaServerClient(baseURL: router.url)
            _ = try await client.load("critic", settings: .init())
            let before = try await client.residentModels().map(\.name).sorted()
            #expect(before == ["critic"])
            let pipeline = try workspace.write(
                "two.yaml",
                """
                version: 1
                name: two
                defaults: {max_tokens: 8, seed: 1, temperature: 0}
                stages:
                  plan: {role: planner, prompt: "Name a fruit."}
                  answer: {role: executor, prompt: "Describe {{stages.plan.output}} in one line."}
                """)

            // When a run with the profile's default after_run (restore) loads planner and executor, unloading critic
            let result = try await workspace.run(["run", pipeline, "--profile", "test"], url: router.url)

            // Then the router lists what it listed before, and nothing else
            #expect(result.status == 0, "\(result.stderr)")
            #expect(try workspace.events([.modelUnloaded]).contains("unload local:critic"), "the run had to make room")
            let after = try await client.residentModels().map(\.name).sorted()
            #expect(after == before)
            #expect(
                result.stderr.contains(
                    "models: unloaded local:executor (loaded by this run); loaded local:critic again (resident before the run)"),
                "\(result.stderr)")
        }
    }
}
