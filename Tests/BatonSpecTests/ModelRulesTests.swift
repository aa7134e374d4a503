import BatonSpec
import BatonTestSupport
import Testing

/// The model-rules table (``ModelRules``): which names fall in which family, what each family refuses, and
/// `validate`'s `runtime-limit` warnings for it, located where the setting is written.
@Suite struct ModelRulesTests {
    @Test(arguments: [
        ("claude-sonnet-4-5", ModelRules.Family.claude), ("claude-opus-4-1-20250805", .claude), ("claude-haiku-4-5", .claude),
        ("claude-sonnet-4-20250514", .claude), ("anthropic/claude-opus-5", .claude), ("claude-3-5-haiku-latest", .claudeLegacy),
        ("claude-3-7-sonnet-20250219", .claudeLegacy), ("o1", .openAIReasoning), ("o3-mini", .openAIReasoning),
        ("o4-mini", .openAIReasoning), ("gpt-5", .openAIReasoning), ("gpt-5-mini", .openAIReasoning), ("gpt-5.1", .openAIReasoning),
        ("openai/gpt-5-nano", .openAIReasoning), ("gpt-5-chat-latest", .openAIChat), ("gpt-4.1-mini", .openAIChat),
        ("gpt-4o-mini", .openAIChat), ("gpt-oss:20b", .other), ("ollama", .other), ("qwen2.5:14b-instruct", .other),
    ])
    func familiesByName(_ name: String, _ family: ModelRules.Family) {
        #expect(ModelRules.family(of: name) == family)
    }

    @Test("C-A1: Claude 4 takes temperature or top_p, not both; top_p is the one left out")
    func claudeFourTakesOneSamplingKey() {
        let both = StageSettings(temperature: 0.2, topP: 0.9)
        let ruled = ModelRules.apply(model: "claude-haiku-4-5", kind: .anthropic, settings: both)
        #expect(ruled.settings.temperature == 0.2)
        #expect(ruled.settings.topP == nil)
        #expect(ruled.refusals.map(\.setting) == ["top_p"])
        // Through an OpenAI-compatible proxy the model refuses the same.
        #expect(ModelRules.apply(model: "claude-haiku-4-5", kind: .openai, settings: both).refusals.count == 1)
        // Either alone is fine; local runtimes have no such rules.
        #expect(ModelRules.apply(model: "claude-haiku-4-5", kind: .anthropic, settings: StageSettings(topP: 0.9)).refusals.isEmpty)
        #expect(ModelRules.apply(model: "claude-haiku-4-5", kind: .ollama, settings: both).refusals.isEmpty)
        // A temperature above Anthropic's 1 is left out first; top_p alone then stays.
        let hot = ModelRules.apply(model: "claude-sonnet-4-5", kind: .anthropic, settings: StageSettings(temperature: 1.5, topP: 0.9))
        #expect(hot.refusals.map(\.setting) == ["temperature"])
        #expect(hot.settings.topP == 0.9)
    }

    @Test("C-A2: OpenAI reasoning models take the default temperature and top_p only, and no stop")
    func reasoningModelsTakeDefaultsOnly() {
        let settings = StageSettings(temperature: 0.2, topP: 0.9, maxTokens: 10, seed: 1, stop: ["END"])
        let ruled = ModelRules.apply(model: "gpt-5-mini", kind: .openai, settings: settings)
        #expect(ruled.refusals.map(\.setting) == ["temperature", "top_p", "stop"])
        #expect(ruled.settings == StageSettings(maxTokens: 10, seed: 1))
        #expect(ModelRules.apply(model: "o3", kind: .openai, settings: StageSettings(temperature: 1, topP: 1)).refusals.isEmpty)
        #expect(ModelRules.usesMaxCompletionTokens("o4-mini"))
        #expect(!ModelRules.usesMaxCompletionTokens("gpt-4.1-mini"))
        // Chat models take sampling settings.
        #expect(ModelRules.apply(model: "gpt-4.1-mini", kind: .openai, settings: settings).refusals.isEmpty)
    }

    @Test("C-A12: OpenAI models take at most 4 stop sequences; the first 4 are sent")
    func stopHasFourItemsAtMost() {
        let ruled = ModelRules.apply(model: "gpt-4o-mini", kind: .openai, settings: StageSettings(stop: ["a", "b", "c", "d", "e"]))
        #expect(ruled.settings.stop == ["a", "b", "c", "d"])
        #expect(ruled.refusals.first?.message(stage: "s", model: "gpt-4o-mini").contains("at most 4") == true)
        // Not an OpenAI model behind a compatible server: no limit from OpenAI's spec.
        #expect(
            ModelRules.apply(model: "llama3.1:8b", kind: .openai, settings: StageSettings(stop: ["a", "b", "c", "d", "e"])).refusals.isEmpty
        )
    }

    static func profile() -> ResolvedProfile {
        let text = """
            version: 1
            name: cloud
            runtimes:
              claude: {kind: anthropic, url: "https://api.anthropic.com", api_key_env: K}
            models:
              claude-sonnet-4-5: {runtime: claude, footprint: 0}
              claude-3-5-haiku-latest: {runtime: claude, footprint: 0}
            roles:
              writer: {models: [claude-sonnet-4-5], temperature: 0.8, top_p: 0.95}
            """
        let (profile, diagnostics) = ProfileResolver.resolve(
            ProfileDecoder.decode(SourceFile(path: "cloud.yaml", text: text), environment: [:])
        ) { _ in nil }
        #expect(diagnostics.isEmpty)
        return profile!
    }

    @Test("C-A1: validate warns, at the setting and with the model named, when a Claude 4 stage gets temperature and top_p")
    func validateWarnsWhereTheSettingIsWritten() throws {
        let result = PipelineCompiler(profile: Self.profile()).compile(
            SourceFile(
                path: "t.yaml",
                text: """
                    version: 1
                    stages:
                      write:
                        role: writer
                        prompt: Write.
                      edit:
                        model: claude-sonnet-4-5
                        temperature: 0.3
                        top_p: 0.9
                        prompt: "Edit {{stages.write.output}}"
                      old:
                        model: claude-3-5-haiku-latest
                        temperature: 0.3
                        top_p: 0.9
                        prompt: "Check {{stages.edit.output}}"
                    """))
        #expect(result.plan != nil)
        #expect(result.diagnostics.map(\.code) == ["runtime-limit", "runtime-limit"])
        let fromRole = try #require(result.diagnostics.first { $0.message.contains("stage 'write'") })
        #expect(fromRole.location?.line == 3)
        #expect(fromRole.notes.first?.message.contains("role 'writer' of profile 'cloud'") == true)
        let onStage = try #require(result.diagnostics.first { $0.message.contains("stage 'edit'") })
        #expect(onStage.location?.line == 9)
        #expect(onStage.message.contains("model 'claude-sonnet-4-5' takes temperature or top_p, not both"))
    }
}
