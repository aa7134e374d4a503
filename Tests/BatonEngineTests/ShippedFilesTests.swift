import BatonEngine
import BatonSpec
import BatonTestSupport
import Foundation
import Testing

/// Every shipped pipeline and profile is valid, and the JSON Schemas say exactly what the Swift types say.
@Suite struct ShippedFilesTests {
    static let workspace = Fixtures.repositoryWorkspace()
    static let pipelines = workspace.pipelines().map(\.name)
    static let profiles = workspace.profiles().map(\.name)

    @Test func theShippedSetIsComplete() {
        #expect(Set(["code-task", "code-review", "essay", "research-summary", "hello", "ask-docs"]).isSubset(of: Self.pipelines))
        #expect(Set(["default", "coding", "writing", "research", "m3-16gb"]).isSubset(of: Self.profiles))
    }

    @Test(arguments: profiles)
    func profileIsValid(_ name: String) throws {
        let loaded = try Self.workspace.loadProfile(name)
        #expect(loaded.diagnostics.isEmpty, "\(loaded.diagnostics.map { "\($0.location.map(\.description) ?? "") \($0.message)" })")
        #expect(loaded.profile != nil)
    }

    /// Each pipeline compiles without a single diagnostic under the default profile, and without errors under every profile.
    @Test(arguments: pipelines)
    func pipelineCompiles(_ name: String) throws {
        let path = try Self.workspace.pipelinePath(name)
        let defaultResult = try Self.workspace.compile(path: path, profile: try Self.workspace.loadProfile("default").profile)
        #expect(
            defaultResult.diagnostics.isEmpty,
            "\(defaultResult.diagnostics.map { "\($0.location.map(\.description) ?? "") \($0.message)" })")
        #expect(defaultResult.plan != nil)
        for profile in Self.profiles {
            let result = try Self.workspace.compile(path: path, profile: try Self.workspace.loadProfile(profile).profile)
            #expect(!result.diagnostics.hasErrors, "\(name) with profile \(profile): \(result.diagnostics.map(\.message))")
        }
    }

    /// The benchmark's pipeline with every control-flow construct (Benchmarks/validate.py times its validation).
    @Test func theEveryConstructBenchmarkPipelineCompilesWithEachConstruct() throws {
        let result = try Self.workspace.compile(
            path: "Benchmarks/pipelines/every-construct.yaml", profile: try Self.workspace.loadProfile("default").profile)
        #expect(result.diagnostics.isEmpty, "\(result.diagnostics.map(\.message))")
        let plan = try #require(result.plan)
        #expect(plan.stage(named: "classify")?.route != nil)
        #expect(plan.stage(named: "escalate")?.condition != nil)
        #expect(plan.stage(named: "each")?.fanOut?.source != nil)
        #expect(plan.stage(named: "check")?.critic?.reviews == "each")
        #expect(plan.stage(named: "mood")?.fanOut?.vote != nil)
        // compare-sources calls research-summary: two levels of calls inlined.
        #expect(plan.stages.contains { ($0.calls?.count ?? 0) == 2 && $0.name.hasPrefix("research/first/") })
    }

    @Test("C-A1, C-A15: every role of every shipped profile, sent to each cloud model it registers, passes the model rules")
    func rolesSendWhatCloudModelsAccept() throws {
        for name in Self.profiles {
            let profile = try #require(try Self.workspace.loadProfile(name).profile).spec
            let cloud = profile.models.compactMap { model -> (String, RuntimeSpec.Kind)? in
                guard let kind = model.runtime.flatMap({ profile.runtime(named: $0)?.kind }), kind == .openai || kind == .anthropic else {
                    return nil
                }
                return (model.name, kind)
            }
            // Names retired by their provider (Anthropic's deprecation table: claude-3-5-haiku on 2026-02-19).
            #expect(!cloud.contains { $0.0.hasPrefix("claude-3") }, "profile \(name) registers a retired Claude model")
            for role in profile.roles {
                let settings = role.settings.overriding(profile.defaults)
                for (model, kind) in cloud {
                    let refusals = ModelRules.apply(model: model, kind: kind, settings: settings).refusals
                    #expect(refusals.isEmpty, "profile \(name), role \(role.name), model \(model): \(refusals.map(\.setting))")
                }
            }
            // And `baton validate` of every shipped pipeline with this profile has no runtime-limit warning.
            for pipeline in Self.pipelines {
                let result = try Self.workspace.compile(
                    path: try Self.workspace.pipelinePath(pipeline), profile: try Self.workspace.loadProfile(name).profile)
                let limits = result.diagnostics.filter { $0.code == "runtime-limit" }
                #expect(limits.isEmpty, "\(pipeline) with profile \(name): \(limits.map(\.message))")
            }
        }
    }

    @Test func theOriginSetupFitsItsBudget() throws {
        let profile = try Self.workspace.loadProfile("m3-16gb").profile
        let plan = try #require(try Self.workspace.compile(path: "pipelines/code-task.yaml", profile: profile).plan)
        #expect(plan.stage(named: "plan")?.models.first?.name == "mistral:7b-instruct")
        #expect(plan.stage(named: "review")?.models.first?.name == "mistral:7b-instruct")
        #expect(plan.stage(named: "implement")?.models.first?.name == "qwen2.5:14b-instruct")
        let budget = try #require(plan.memoryBudget?.fixedSize)
        for stage in plan.stages {
            #expect(try #require(stage.models.first?.footprint) <= budget)
        }
    }

    @Test func helloRunsOnTheGemmaProfile() throws {
        let profile = try Self.workspace.loadProfile("local-gemma").profile
        let plan = try #require(try Self.workspace.compile(path: "pipelines/hello.yaml", profile: profile).plan)
        #expect(plan.stages.allSatisfy { $0.models.first?.runtime == "local" })
        #expect(plan.stages.contains { $0.critic != nil })
    }

    // MARK: - JSON Schemas

    static func python(_ arguments: [String]) async throws -> (status: Int32, output: String) {
        try await Tools.run("/usr/bin/env", ["python3"] + arguments)
    }

    @Test func schemaPropertiesMatchTheSwiftKeys() async throws {
        let (status, output) = try await Self.python(["scripts/check-schemas.py", "--dump-properties"])
        try #require(
            status == 0, "scripts/check-schemas.py --dump-properties failed (needs python3 with jsonschema and PyYAML):\n\(output)")
        let schema = try JSONDecoder().decode([String: [String]].self, from: Data(output.utf8))
        let swift: [String: [String]] = [
            "pipeline": AllowedKeys.pipeline, "stage": AllowedKeys.stage, "defaults": AllowedKeys.pipelineDefaults,
            "input": AllowedKeys.input, "retry": AllowedKeys.retry, "output": AllowedKeys.output, "profile": AllowedKeys.profile,
            "runtime": AllowedKeys.runtime, "model": AllowedKeys.model, "role": AllowedKeys.role,
            "profile_defaults": AllowedKeys.profileDefaults, "thermal": AllowedKeys.thermal,
            "runtime_host": RuntimeHostSpec.CodingKeys.allCases.map(\.rawValue),
            // Test files (schemas/test.schema.json).
            "test": TestDecoder.topKeys, "test_case": TestDecoder.caseKeys,
            "test_assertion": TestAssertion.keys + TestDecoder.assertionItemKeys, "test_json_path": TestDecoder.jsonPathKeys,
            "test_critic_rounds": TestDecoder.criticRoundsKeys, "test_similar": TestDecoder.similarKeys,
            "test_judge": TestDecoder.judgeKeys, "echo_answer": EchoScriptSpec.answerKeys,
        ]
        #expect(Set(schema.keys) == Set(swift.keys))
        for (object, keys) in swift {
            #expect(schema[object] == keys.sorted(), "schema and Swift disagree on the keys of '\(object)'")
        }
    }

    @Test func shippedFilesValidateAgainstTheSchemas() async throws {
        let (status, output) = try await Self.python(["scripts/check-schemas.py"])
        #expect(status == 0, "\(output)")
        #expect(output.contains(" passed, 0 failed"))
    }
}
