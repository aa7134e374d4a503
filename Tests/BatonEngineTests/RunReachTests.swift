import BatonEngine
import BatonSpec
import Foundation
import Testing

/// ``RunReach``: what a run of a plan would reach (issue 18, item 3), computed from the plan and profile alone.
@Suite struct RunReachTests {
    static let profileText = """
        version: 1
        name: reach
        runtimes:
          local: {kind: ollama, url: "http://127.0.0.1:11434"}
          box: {kind: llama-server, url: "http://gpu-box.lan:8080/"}
          gpt: {kind: openai, url: "https://api.openai.com/v1", api_key_env: OPENAI_API_KEY}
          compat: {kind: openai, url: "http://localhost:1234/v1"}
          claude: {kind: anthropic, api_key_env: MY_CLAUDE}
          six: {kind: ollama, url: "http://[::1]:11434"}
          echo: {kind: echo}
        models:
          qwen: {runtime: local, footprint: 1GB}
          planner: {runtime: box, footprint: 1GB}
          gpt-test: {runtime: gpt}
          compat-test: {runtime: compat}
          claude-test: {runtime: claude}
          six-test: {runtime: six, footprint: 1GB}
          tiny: {runtime: echo, footprint: 0}
        """

    static func compile(_ yaml: String) throws -> (ExecutionPlan, ResolvedProfile) {
        let document = ProfileDecoder.decode(SourceFile(path: "reach.yaml", text: profileText), environment: [:])
        let (resolved, diagnostics) = ProfileResolver.resolve(document) { _ in nil }
        let profile = try #require(resolved, "\(diagnostics)")
        let result = PipelineCompiler(profile: profile).compile(SourceFile(path: "reach-test.yaml", text: yaml))
        let plan = try #require(result.plan, "\(result.diagnostics.map(\.message))")
        return (plan, profile)
    }

    static let pipeline = """
        version: 1
        stages:
          draft:
            model: [qwen, gpt-test, claude-test]
            prompt: Draft
          plan:
            model: [planner, qwen]
            prompt: "Plan {{stages.draft.output}}"
          check:
            model: [compat-test, six-test, tiny]
            prompt: "Check {{stages.plan.output}}"
        """

    @Test func everyRuntimeOfEveryChainIsListedWithItsHostPortAndStages() throws {
        let (plan, profile) = try Self.compile(Self.pipeline)
        let reach = RunReach(plan: plan, profile: profile)

        #expect(reach.runtimes.map(\.name) == ["local", "gpt", "claude", "box", "compat", "six", "echo"])
        let byName = Dictionary(uniqueKeysWithValues: reach.runtimes.map { ($0.name, $0) })
        #expect(byName["local"]?.hostAndPort == "127.0.0.1:11434")
        #expect(byName["local"]?.isLoopback == true)
        #expect(byName["local"]?.stages == ["draft", "plan"])
        #expect(byName["local"]?.models == ["qwen"])
        #expect(byName["box"]?.hostAndPort == "gpu-box.lan:8080")
        #expect(byName["box"]?.isLoopback == false)
        #expect(byName["box"]?.kind == .llamaServer)
        // The scheme's port when the URL gives none.
        #expect(byName["gpt"]?.hostAndPort == "api.openai.com:443")
        // Anthropic without a url goes to the official host, as RuntimeCatalog sends it.
        #expect(byName["claude"]?.url == "https://api.anthropic.com")
        #expect(byName["claude"]?.hostAndPort == "api.anthropic.com:443")
        #expect(byName["compat"]?.isLoopback == true)
        #expect(byName["six"]?.host == "::1")
        #expect(byName["six"]?.hostAndPort == "[::1]:11434")
        #expect(byName["six"]?.isLoopback == true)
        // Echo reaches nothing.
        #expect(byName["echo"]?.url == nil)
        #expect(byName["echo"]?.hostAndPort == nil)
        #expect(reach.remoteRuntimes.map(\.name) == ["gpt", "claude", "box"])
    }

    @Test func keysAreNamedInTheKeyLookupsOrderNeverRead() throws {
        let (plan, profile) = try Self.compile(Self.pipeline)
        let reach = RunReach(plan: plan, profile: profile)

        #expect(
            reach.keys == [
                RunReach.Key(
                    runtime: "gpt", destination: "api.openai.com:443", environmentVariable: "OPENAI_API_KEY",
                    keyFileEntries: ["gpt", "OPENAI_API_KEY"], isRequired: true),
                RunReach.Key(
                    runtime: "claude", destination: "api.anthropic.com:443", environmentVariable: "MY_CLAUDE",
                    keyFileEntries: ["claude", "MY_CLAUDE"], isRequired: true),
                // A local compatible server is sent a key from the key file when one is stored, but runs without one.
                RunReach.Key(
                    runtime: "compat", destination: "localhost:1234", environmentVariable: nil, keyFileEntries: ["compat"],
                    isRequired: false),
            ])
        #expect(reach.commands.isEmpty)
    }

    @Test func aForcedRuntimeReplacesEveryStagesOwn() throws {
        let (plan, profile) = try Self.compile(Self.pipeline)
        let reach = RunReach(plan: plan, profile: profile, forcedRuntime: "echo")

        #expect(reach.runtimes.map(\.name) == ["echo"])
        #expect(reach.runtimes.first?.stages == ["draft", "plan", "check"])
        #expect(reach.keys.isEmpty)
        #expect(reach.remoteRuntimes.isEmpty)
    }

    @Test func anUndeclaredRuntimeHasNoKindAndCountsAsRemote() throws {
        let (plan, _) = try Self.compile(Self.pipeline)
        // Without its profile, the plan names runtimes the run cannot know: they are not assumed local.
        let reach = RunReach(plan: plan, profile: nil)

        #expect(reach.runtimes.first { $0.name == "gpt" }?.kind == nil)
        #expect(reach.runtimes.first { $0.name == "echo" }?.kind == .echo)
        #expect(reach.remoteRuntimes.map(\.name) == ["local", "gpt", "claude", "box", "compat", "six"])
        #expect(reach.keys.isEmpty)
    }
}

@Suite struct LoopbackTests {
    @Test(arguments: [
        ("http://127.0.0.1:8080", true), ("http://127.1.2.3", true), ("http://localhost:11434", true), ("http://[::1]:8080", true),
        ("http://127.evil.example:8080", false), ("http://127.0.0.1.example.com", false), ("http://127.0.0.256", false),
        ("https://api.openai.com", false), ("http://10.0.0.5:11434", false),
    ])
    func onlyThisMachinesAddressesAreLoopback(url: String, loopback: Bool) {
        #expect(RunReach.isLoopback(url) == loopback, "\(url)")
    }
}
