import BatonSpec
import BatonTestSupport
import Foundation
import Testing

/// The plan the compiler builds: order, dependencies, critic loops, settings layering.
@Suite struct CompilerTests {
    static let profileText = """
        version: 1
        name: p
        memory_budget: 16GB
        default_runtime: ollama
        runtimes:
          ollama: {kind: ollama, url: "${OLLAMA:-http://127.0.0.1:11434}"}
          openai: {kind: openai, url: "https://api.openai.com/v1"}
        models:
          big: {runtime: ollama, footprint: 9GB}
        roles:
          planner: {models: [big], temperature: 0.3, max_tokens: 100}
        defaults:
          temperature: 0.9
          top_p: 0.8
          num_ctx: 4096
        """

    static func profile(environment: [String: String] = [:]) -> ResolvedProfile {
        let document = ProfileDecoder.decode(SourceFile(path: "p.yaml", text: profileText), environment: environment)
        let (profile, diagnostics) = ProfileResolver.resolve(document) { _ in nil }
        #expect(diagnostics.isEmpty)
        return profile!
    }

    @Test func criticRunsRightAfterTheStageItReviewsAndDependentsWaitForIt() throws {
        // Given a pipeline whose file order puts an unrelated stage between plan and its critic
        let plan = try #require(
            compileValid(
                """
                version: 1
                stages:
                  plan: {model: m, prompt: Plan}
                  other: {model: m, prompt: Other}
                  implement: {model: m, prompt: "Do {{stages.plan.output}} {{stages.other.output}}"}
                  review: {model: m, reviews: plan, max_rounds: 4, on_exhausted: accept, prompt: "{{stages.plan.output}}"}
                """))

        // Then
        #expect(plan.stages.map(\.name) == ["plan", "review", "other", "implement"])
        #expect(plan.stage(named: "implement")?.dependencies == ["plan", "other", "review"])
        #expect(plan.stage(named: "review")?.critic == CriticLoop(reviews: "plan", maxRounds: 4, onExhausted: .accept))
        #expect(plan.stage(named: "plan")?.reviewedBy == "review")
        #expect(plan.outputs == ["implement"])
    }

    @Test func settingsLayerStageThenPipelineThenRoleThenProfile() throws {
        let plan = try #require(
            compileValid(
                """
                version: 1
                defaults: {max_tokens: 50, top_p: 0.5}
                stages:
                  plan: {role: planner, prompt: Plan, seed: 7}
                """, profile: Self.profile()))
        let stage = try #require(plan.stage(named: "plan"))
        #expect(stage.settings.seed == 7)  // stage
        #expect(stage.settings.maxTokens == 50)  // pipeline defaults over role
        #expect(stage.settings.topP == 0.5)  // pipeline defaults over profile defaults
        #expect(stage.settings.temperature == 0.3)  // role over profile defaults
        #expect(stage.settings.numCtx == 4096)  // profile defaults
        #expect(stage.models == [ResolvedModel(name: "big", runtime: "ollama", footprint: ByteCount(bytes: 9_000_000_000))])
        #expect(plan.memoryBudget == .fixed(ByteCount(bytes: 16_000_000_000)))
    }

    @Test func aTemperatureAnthropicRefusesIsAWarningWhereItIsSet() {
        let profile = ProfileResolver.resolve(
            ProfileDecoder.decode(
                SourceFile(
                    path: "c.yaml",
                    text: """
                        version: 1
                        runtimes:
                          claude: {kind: anthropic, url: "https://api.anthropic.com", api_key_env: K}
                          ollama: {kind: ollama, url: "http://127.0.0.1:11434"}
                        models:
                          haiku: {runtime: claude, footprint: 0}
                          local: {runtime: ollama, footprint: 1GB}
                        """), environment: [:])
        ) { _ in nil }.profile
        let result = PipelineCompiler(profile: profile).compile(
            SourceFile(
                path: "t.yaml",
                text: """
                    version: 1
                    stages:
                      hot:
                        model: [local, haiku]
                        temperature: 1.5
                        prompt: Write.
                      cool:
                        model: haiku
                        temperature: 0.7
                        prompt: "Edit {{stages.hot.output}}"
                    """))
        #expect(result.plan != nil)
        #expect(result.diagnostics.map(\.code) == ["runtime-limit"])
        #expect(result.diagnostics.first?.location?.line == 5)
        #expect(result.diagnostics.first?.message.contains("model 'haiku' runs on Anthropic, which accepts 0 to 1") == true)
    }

    @Test func runtimePrefixesOnlyCountForDeclaredRuntimes() throws {
        let plan = try #require(
            compileValid(
                """
                version: 1
                stages:
                  plan: {model: ["qwen2.5:14b", "openai:gpt-4o-mini"], prompt: Plan}
                """, profile: Self.profile()))
        #expect(
            plan.stages[0].models == [
                ResolvedModel(name: "qwen2.5:14b", runtime: "ollama", footprint: nil),
                ResolvedModel(name: "gpt-4o-mini", runtime: "openai", footprint: nil),
            ])
    }

    @Test func profileValuesExpandEnvironmentVariables() {
        let profile = Self.profile(environment: ["OLLAMA": "http://10.0.0.5:11434"])
        #expect(profile.spec.runtime(named: "ollama")?.url == "http://10.0.0.5:11434")
        #expect(Self.profile().spec.runtime(named: "ollama")?.url == "http://127.0.0.1:11434")
    }

    @Test(arguments: [
        ("14GB", Int64(14_000_000_000)), ("512 MiB", 536_870_912), ("1.5GiB", 1_610_612_736), ("1048576", 1_048_576),
        ("2 KB", 2000), ("3B", 3),
    ])
    func sizesParse(_ text: String, _ bytes: Int64) {
        #expect(ByteCount(parsing: text)?.bytes == bytes)
    }

    @Test(arguments: ["14 gigs", "GB", ".5GB", "1e9", "-1GB", "", "1..2MB"])
    func badSizesAreRejected(_ text: String) {
        #expect(ByteCount(parsing: text) == nil)
    }

    @Test func extendsMergesRolesKeyByKeyAndReplacesModels() throws {
        let base = ProfileDecoder.decode(
            SourceFile(path: "base.yaml", text: Self.profileText.replacingOccurrences(of: "name: p", with: "name: base")),
            environment: [:])
        let child = ProfileDecoder.decode(
            SourceFile(
                path: "child.yaml",
                text: """
                    version: 1
                    extends: base
                    memory_budget: 8GB
                    models:
                      big: {runtime: ollama, footprint: 7GB}
                    roles:
                      planner: {temperature: 0.1}
                    """), environment: [:])
        let (resolved, diagnostics) = ProfileResolver.resolve(child) { $0 == "base" ? base : nil }
        #expect(diagnostics.isEmpty)
        let spec = try #require(resolved?.spec)
        #expect(resolved?.chain == ["child", "base"])
        #expect(spec.memoryBudget == .fixed(ByteCount(bytes: 8_000_000_000)))
        #expect(spec.model(named: "big")?.footprint == ByteCount(bytes: 7_000_000_000))
        #expect(spec.role(named: "planner")?.settings.temperature == 0.1)
        #expect(spec.role(named: "planner")?.settings.maxTokens == 100)
        #expect(spec.role(named: "planner")?.models == [ModelReference("big")])
        #expect(spec.defaults.numCtx == 4096)
    }

    @Test func extendsCyclesAndUnknownParentsAreErrors() {
        let a = ProfileDecoder.decode(SourceFile(path: "a.yaml", text: "version: 1\nextends: b\n"), environment: [:])
        let b = ProfileDecoder.decode(SourceFile(path: "b.yaml", text: "version: 1\nextends: a\n"), environment: [:])
        let (_, cycle) = ProfileResolver.resolve(a) { $0 == "b" ? b : a }
        #expect(cycle.map(\.code) == ["extends-cycle"])
        #expect(cycle.first?.message == "profiles extend each other in a cycle: a -> b -> a")
        let (_, missing) = ProfileResolver.resolve(a) { _ in nil }
        #expect(missing.map(\.code) == ["unknown-profile"])
        #expect(missing.first?.location == SourceLocation(file: "a.yaml", line: 2, column: 10))
    }
}
