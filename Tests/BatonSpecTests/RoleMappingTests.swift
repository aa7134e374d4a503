import BatonSpec
import BatonTestSupport
import Foundation
import Testing

/// Role mapping: a stage that names no model gets its role's first preference that is available and fits
/// the budget (the rest stay as fallbacks), else the local model with the best score for the role's
/// capability that fits; deterministic, and explained.
@Suite struct RoleMappingTests {
    /// A registry of five Ollama models, one llama-server model and one cloud model.
    static let registry: [String] = [
        "big: {runtime: ollama, footprint: 20GB, capabilities: {reasoning: 9, coding: 9}}",
        "mid-a: {runtime: ollama, footprint: 9GB, capabilities: {reasoning: 7, coding: 5, creativity: 6}}",
        "mid-b: {runtime: ollama, footprint: 8GB, capabilities: {reasoning: 7, coding: 6}}",
        "small: {runtime: ollama, footprint: 3GB, capabilities: {reasoning: 4, coding: 4, creativity: 8}}",
        "tiny: {runtime: local, footprint: 400MB, capabilities: {reasoning: 2}}",
        "unscored: {runtime: ollama, footprint: 1GB}",
        "cloud: {runtime: openai, footprint: 0, capabilities: {reasoning: 10, coding: 10, creativity: 10}}",
    ]

    static func profileText(registry: [String] = registry, budget: String = "14GB", roles: String = defaultRoles) -> String {
        """
        version: 1
        name: box
        memory_budget: \(budget)
        default_runtime: ollama
        runtimes:
          ollama: {kind: ollama, url: "http://127.0.0.1:11434"}
          local: {kind: llama-server, url: "http://127.0.0.1:8080"}
          openai: {kind: openai, url: "https://api.openai.com/v1"}
        models:
        \(registry.map { "  " + $0 }.joined(separator: "\n"))
        roles:
        \(roles)
        """
    }

    static let defaultRoles = """
          planner: {models: [big, mid-a, small]}
          critic: {models: [mid-b]}
          writer: {capability: creativity}
          executor: {}
        """

    static func profile(_ text: String) throws -> ResolvedProfile {
        let document = ProfileDecoder.decode(SourceFile(path: "box.yaml", text: text), environment: [:])
        let (profile, diagnostics) = ProfileResolver.resolve(document) { _ in nil }
        #expect(diagnostics.isEmpty, "\(diagnostics)")
        return try #require(profile)
    }

    static let pipeline = """
        version: 1
        stages:
          plan: {role: planner, prompt: Plan}
          review: {role: critic, reviews: plan, prompt: "Review {{stages.plan.output}}"}
          write: {role: writer, prompt: "Write {{stages.plan.output}}"}
          code: {role: executor, prompt: "Code {{stages.write.output}}"}
        """

    static func compile(
        _ pipeline: String = pipeline, profile: ResolvedProfile, inventory: ModelInventory?
    ) -> CompileResult {
        PipelineCompiler(profile: profile, inventory: inventory).compile(SourceFile(path: "p.yaml", text: pipeline))
    }

    static func ollama(_ names: [String]) -> RuntimeModels {
        .known(names.map { DiscoveredModel(name: $0, runtime: "ollama") })
    }

    static func chains(_ plan: ExecutionPlan) -> [String: [String]] {
        Dictionary(uniqueKeysWithValues: plan.stages.map { ($0.name, $0.models.map(\.description)) })
    }

    // MARK: - Preference lists

    @Test func preferencesOverTheBudgetAreSkippedAndTheRestStayAsFallbacks() throws {
        // Given a 14 GB budget: 'big' (20 GB) cannot be loaded; nothing was discovered
        let profile = try Self.profile(Self.profileText())

        // When
        let result = Self.compile(profile: profile, inventory: nil)

        // Then the planner takes mid-a with small as its fallback, and says why
        let plan = try #require(result.plan, "\(result.diagnostics)")
        #expect(Self.chains(plan)["plan"] == ["ollama:mid-a", "ollama:small"])
        let choice = try #require(plan.stage(named: "plan")?.modelChoice)
        #expect(choice.rule == .preference)
        #expect(choice.skipped == [SkippedModel(model: "big", reason: "needs 20 GB (registry), more than the budget of 14 GB")])
        #expect(
            choice.explanation
                == "big skipped: needs 20 GB (registry), more than the budget of 14 GB; took mid-a (2nd preference of role 'planner' of profile 'box')"
        )
        #expect(plan.stage(named: "review")?.modelChoice?.explanation == "role 'critic' of profile 'box' prefers mid-b")
    }

    @Test func modelsARuntimeDoesNotHaveAreSkipped() throws {
        // Given Ollama answered and has only small and mid-b
        let profile = try Self.profile(Self.profileText())
        let inventory = ModelInventory(runtimes: ["ollama": Self.ollama(["small:latest", "mid-b"])])

        // When
        let plan = try #require(Self.compile(profile: profile, inventory: inventory).plan)

        // Then mid-a is passed over as not installed (and 'small' matches Ollama's 'small:latest')
        #expect(Self.chains(plan)["plan"] == ["ollama:small"])
        #expect(
            plan.stage(named: "plan")?.modelChoice?.explanation
                == "big skipped: needs 20 GB (registry), more than the budget of 14 GB; mid-a skipped: not installed on ollama; took small (3rd preference of role 'planner' of profile 'box')"
        )
    }

    @Test func anUnreachableRuntimeCountsAsAvailableAndSaysSo() throws {
        let profile = try Self.profile(Self.profileText())
        let inventory = ModelInventory(runtimes: ["ollama": .unknown("cannot connect to http://127.0.0.1:11434/api/tags")])

        let plan = try #require(Self.compile(profile: profile, inventory: inventory).plan)

        #expect(Self.chains(plan)["plan"] == ["ollama:mid-a", "ollama:small"])
        #expect(
            plan.stage(named: "review")?.modelChoice?.explanation
                == "role 'critic' of profile 'box' prefers mid-b (ollama was not reached, so whether it is installed is unknown)"
        )
    }

    @Test func aMeasuredFootprintDecidesTheFit() throws {
        // Given 'big' was measured at 12 GB by an earlier load (its registry says 20 GB)
        let profile = try Self.profile(Self.profileText())
        let inventory = ModelInventory(measured: [ModelInventory.key(runtime: "ollama", name: "big"): ByteCount(bytes: 12_000_000_000)])

        let plan = try #require(Self.compile(profile: profile, inventory: inventory).plan)

        #expect(Self.chains(plan)["plan"] == ["ollama:big", "ollama:mid-a", "ollama:small"])
    }

    // MARK: - Capability fallback

    @Test func withNoPreferenceLeftTheBestScoreThatFitsWinsAmongLocalScoredModels() throws {
        // Given Ollama has neither of the planner's preferences, only mid-a and an unscored model, and
        // llama-server has nothing
        let profile = try Self.profile(Self.profileText(roles: "  planner: {models: [big, small]}"))
        let inventory = ModelInventory(runtimes: ["ollama": Self.ollama(["mid-a", "unscored"]), "local": .known([])])

        // When
        let plan = try #require(Self.compile(profile: profile, inventory: inventory).plan)

        // Then mid-a, the one scored local model that is installed and fits; the cloud model (reasoning 10)
        // and the unscored model are never ranked
        let choice = try #require(plan.stage(named: "plan")?.modelChoice)
        #expect(choice.rule == .capability)
        #expect(Self.chains(plan)["plan"] == ["ollama:mid-a"])
        #expect(
            choice.explanation
                == "no preference of role 'planner' of profile 'box' is available and fits (big skipped: needs 20 GB (registry), more than the budget of 14 GB; small skipped: not installed on ollama); took mid-a, best reasoning score 7 among 1 local model that fit 14 GB"
        )
    }

    @Test func tiesGoToTheSmallerFootprintThenTheName() throws {
        // Given two models with the same reasoning score: 'zeta' is smaller than 'alpha'
        let registry = [
            "alpha: {runtime: ollama, footprint: 9GB, capabilities: {reasoning: 7}}",
            "zeta: {runtime: ollama, footprint: 8GB, capabilities: {reasoning: 7}}",
            "beta: {runtime: ollama, footprint: 8GB, capabilities: {reasoning: 7}}",
        ]
        let profile = try Self.profile(Self.profileText(registry: registry, roles: "  planner: {}"))
        let pipeline = "version: 1\nstages:\n  plan: {role: planner, prompt: Plan}\n"

        let plan = try #require(Self.compile(pipeline, profile: profile, inventory: nil).plan)

        // Then beta: 8 GB like zeta, and first by name
        #expect(Self.chains(plan)["plan"] == ["ollama:beta"])
        #expect(
            plan.stage(named: "plan")?.modelChoice?.explanation
                == "role 'planner' of profile 'box' lists no models; took beta, best reasoning score 7 among 3 local models that fit 14 GB")
    }

    @Test func rolesRankByTheirDeclaredCapabilityElseTheDefaultForTheirName() throws {
        // Given the writer declares creativity, the executor declares nothing (coding by default)
        let profile = try Self.profile(Self.profileText())

        let plan = try #require(Self.compile(profile: profile, inventory: nil).plan)

        // Then the writer takes small (creativity 8), the executor mid-b (coding 6; big does not fit)
        #expect(Self.chains(plan)["write"] == ["ollama:small"])
        #expect(Self.chains(plan)["code"] == ["ollama:mid-b"])
        #expect(profile.spec.role(named: "writer")?.capability == "creativity")
        #expect(RoleSpec.defaultCapability(of: "executor") == "coding")
        #expect(RoleSpec.defaultCapability(of: "critic") == "reasoning")
        #expect(RoleSpec.defaultCapability(of: "summarizer") == nil)
    }

    @Test func autoBudgetsAreCheckedOnlyWhenDiscoveryKnowsWhatAutoGives() throws {
        let profile = try Self.profile(Self.profileText(budget: "auto"))

        let offline = try #require(Self.compile(profile: profile, inventory: nil).plan)
        let here = try #require(
            Self.compile(profile: profile, inventory: ModelInventory(autoBudget: ByteCount(bytes: 10_000_000_000))).plan)

        #expect(Self.chains(offline)["plan"] == ["ollama:big", "ollama:mid-a", "ollama:small"])
        #expect(Self.chains(here)["plan"] == ["ollama:mid-a", "ollama:small"])
        #expect(
            here.stage(named: "plan")?.modelChoice?.skipped.first?.reason
                == "needs 20 GB (registry), more than the budget of 10 GB ('auto' on this machine)")
    }

    // MARK: - Errors and what stays as it was

    @Test func aStageWhoseRoleHasNothingThatFitsIsAnErrorWithTheReasons() throws {
        // Given a 2 GB budget: nothing but 'tiny' (on llama-server) fits, and llama-server answered without it
        let profile = try Self.profile(Self.profileText(budget: "2GB"))
        let inventory = ModelInventory(runtimes: ["local": .known([])])
        let pipeline = "version: 1\nstages:\n  plan: {role: critic, prompt: Plan}\n"

        let result = Self.compile(pipeline, profile: profile, inventory: inventory)

        #expect(result.plan == nil)
        let diagnostic = try #require(result.diagnostics.first)
        #expect(diagnostic.code == "missing-model")
        #expect(
            diagnostic.message
                == "stage 'plan' has no model: none of the models that role 'critic' of profile 'box' prefers, and no local model with a 'reasoning' score, is available and fits 2 GB; set 'model' on the stage, add a model that fits to the role's 'models', or raise 'memory_budget'"
        )
        #expect(
            diagnostic.notes.map(\.message) == [
                "mid-b skipped: needs 8 GB (registry), more than the budget of 2 GB", "the budget is profile 'box' 'memory_budget'",
            ])
    }

    @Test func aModelTheStageNamesStaysAnErrorWhenOverTheBudget() throws {
        let profile = try Self.profile(Self.profileText())
        let pipeline = "version: 1\nstages:\n  plan: {role: planner, model: big, prompt: Plan}\n"

        let result = Self.compile(pipeline, profile: profile, inventory: nil)

        #expect(result.diagnostics.map(\.code) == ["model-exceeds-budget"])
    }

    @Test func aNamedModelKeepsItsPlaceAndTheExplanationSaysWhenItIsNotInstalled() throws {
        let profile = try Self.profile(Self.profileText())
        let pipeline = "version: 1\ndefaults: {model: [mid-a, small]}\nstages:\n  plan: {role: planner, prompt: Plan}\n"

        let plan = try #require(
            Self.compile(pipeline, profile: profile, inventory: ModelInventory(runtimes: ["ollama": Self.ollama(["small"])])).plan)

        #expect(Self.chains(plan)["plan"] == ["ollama:mid-a", "ollama:small"])
        #expect(plan.stage(named: "plan")?.modelChoice?.rule == .pipelineDefaults)
        #expect(
            plan.stage(named: "plan")?.modelChoice?.explanation
                == "the pipeline's defaults name [mid-a, small]; not installed: ollama:mid-a")
    }

    @Test func theExplanationIsNotPartOfTheEncodedStage() throws {
        // Fingerprints hash the encoded stage: the same models must encode the same whatever the wording.
        let profile = try Self.profile(Self.profileText())
        let plan = try #require(Self.compile(profile: profile, inventory: nil).plan)
        var stage = try #require(plan.stage(named: "plan"))
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let encoded = try encoder.encode(stage)
        stage.modelChoice = ModelChoice(rule: .stage, explanation: "other words")

        #expect(try encoder.encode(stage) == encoded)
        #expect(!String(decoding: encoded, as: UTF8.self).contains("modelChoice"))
    }

    // MARK: - Determinism

    @Test(arguments: 0..<8)
    func theChoiceDoesNotDependOnTheOrderOfTheRegistryOrTheInventory(seed: Int) throws {
        // Given the registry and the discovered models in a shuffled order
        var generator = SeededGenerator(seed: UInt64(seed) + 1)
        let shuffled = Self.registry.shuffled(using: &generator)
        let names = ["small", "mid-b", "mid-a", "unscored"].shuffled(using: &generator)
        let profile = try Self.profile(Self.profileText(registry: shuffled, roles: "  planner: {models: [big]}\n  writer: {}"))
        let reference = try Self.profile(Self.profileText(roles: "  planner: {models: [big]}\n  writer: {}"))
        let pipeline =
            "version: 1\nstages:\n  plan: {role: planner, prompt: Plan}\n  write: {role: writer, prompt: \"{{stages.plan.output}}\"}\n"
        let inventory = ModelInventory(runtimes: ["ollama": Self.ollama(names)])

        // When
        let plan = try #require(Self.compile(pipeline, profile: profile, inventory: inventory).plan)
        let expected = try #require(
            Self.compile(pipeline, profile: reference, inventory: ModelInventory(runtimes: ["ollama": Self.ollama(names.sorted())])).plan)

        // Then: planner by reasoning 7 at 8 GB (mid-b), writer by creativity 8 (small)
        #expect(Self.chains(plan)["plan"] == ["ollama:mid-b"])
        #expect(Self.chains(plan)["write"] == ["ollama:small"])
        #expect(plan == expected)
        #expect(plan.stages.map(\.modelChoice) == expected.stages.map(\.modelChoice))
    }

    @Test func roleCapabilityIsReadMergedAndCheckedAgainstTheKeys() throws {
        // Given a child that sets only the planner's temperature
        let parent = try Self.profile(Self.profileText(roles: "  planner: {models: [small], capability: coding}"))
        let childText = "version: 1\nname: child\nextends: box\nroles:\n  planner: {temperature: 0.5}\n"
        let child = ProfileDecoder.decode(SourceFile(path: "child.yaml", text: childText), environment: [:])
        let parentDocument = ProfileDecoder.decode(
            SourceFile(path: "box.yaml", text: Self.profileText(roles: "  planner: {models: [small], capability: coding}")),
            environment: [:])

        let (merged, diagnostics) = ProfileResolver.resolve(child) { $0 == "box" ? parentDocument : nil }

        #expect(diagnostics.isEmpty)
        #expect(merged?.spec.role(named: "planner")?.capability == "coding")
        #expect(parent.spec.role(named: "planner")?.effectiveCapability == "coding")
        #expect(AllowedKeys.role.contains("capability"))
        let wrong = ProfileDecoder.decode(
            SourceFile(path: "w.yaml", text: "version: 1\nroles:\n  planner: {capability: [a]}\n"), environment: [:])
        #expect(wrong.diagnostics.map(\.code) == ["type-mismatch"])
    }
}

/// Ollama names in the spec layer match as the Ollama client matches them (O-A2).
@Suite struct OllamaNameTests {
    @Test("O-A2: role mapping and discovery match Ollama names as Ollama resolves them")
    func namesMatchAsOllamaResolvesThem() {
        for spelling in ["Qwen2.5:7B", "library/qwen2.5:7b", "registry.ollama.ai/library/qwen2.5:7b", "qwen2.5:7b"] {
            #expect(ModelInventory.sameModel(spelling, "qwen2.5:7b", kind: .ollama), "\(spelling)")
        }
        #expect(ModelInventory.sameModel("Llama3.2", "llama3.2:latest", kind: .ollama))
        #expect(!ModelInventory.sameModel("qwen2.5:7b", "qwen2.5:14b", kind: .ollama))
        #expect(!ModelInventory.sameModel("someone/qwen2.5:7b", "qwen2.5:7b", kind: .ollama))
        #expect(!ModelInventory.sameModel("Qwen2.5:7B", "qwen2.5:7b", kind: .llamaServer))
        let inventory = ModelInventory(
            runtimes: ["ollama": .known([DiscoveredModel(name: "qwen2.5:7b-instruct", runtime: "ollama")])])
        #expect(inventory.discovered("Qwen2.5:7B-Instruct", on: "ollama", kind: .ollama)?.name == "qwen2.5:7b-instruct")
    }
}
