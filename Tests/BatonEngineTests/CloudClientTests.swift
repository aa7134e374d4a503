import BatonEngine
import BatonSpec
import BatonTestSupport
import Foundation
import Testing

/// What the cloud client suites share (``OpenAIClientTests``, ``AnthropicClientTests``, ``CloudRetryTests``), and
/// the clients through the runtime catalog: keys found or missing, the dialect of a `kind: openai` runtime, a
/// closed port, and a pipeline run on both stand-ins.
typealias Cloud = CloudClientTests

@Suite struct CloudClientTests {
    static let openAIKey = "sk-proj-standin-0123456789abcdefWXYZ"
    static let anthropicKey = "sk-ant-api03-standin-0123456789abcdefWXYZ"
    static let prompt = "Write a short poem about the quiet sea"

    static func request(
        _ model: String, prompt: String = CloudClientTests.prompt, system: String? = nil, settings: StageSettings = StageSettings(),
        schema: JSONValue? = nil
    ) -> GenerationRequest {
        GenerationRequest(model: model, system: system, prompt: prompt, settings: settings, responseSchema: schema, stage: "s", round: 1)
    }

    static func run(_ runtime: any LLMRuntime, _ request: GenerationRequest) async -> GenerationOutcome {
        await GenerationOutcome.of(runtime, request)
    }

    /// The runtime error `body` throws, or nil.
    static func thrown(_ body: () async throws -> some Any) async -> RuntimeError? {
        await GenerationOutcome.runtimeError(body)
    }

    static func openAI(
        _ standIn: OpenAIStandIn, key: String = CloudClientTests.openAIKey, dialect: OpenAICompatibleClient.Dialect = .openAI
    )
        -> OpenAICompatibleClient
    {
        OpenAICompatibleClient(
            chatURL: standIn.baseURL + "/chat/completions", apiKey: key, keyHint: "set OPENAI_TEST_KEY", dialect: dialect,
            connectTimeout: 10)
    }

    static func anthropic(_ standIn: AnthropicStandIn, key: String = CloudClientTests.anthropicKey) -> AnthropicClient {
        AnthropicClient(baseURL: standIn.baseURL, apiKey: key, keyHint: "set ANTHROPIC_TEST_KEY", connectTimeout: 10)
    }

    static let verdictSchema: JSONValue = .object([
        ("type", .string("object")),
        (
            "properties",
            .object([
                ("verdict", .object([("type", .string("string")), ("enum", .array([.string("approve"), .string("revise")]))])),
                ("feedback", .object([("type", .string("string")), ("maxLength", .number(160))])),
            ])
        ),
        ("required", .array([.string("verdict"), .string("feedback")])),
        ("additionalProperties", .bool(false)),
    ])

    static let strictSchema: JSONValue = .object([
        ("type", .string("object")),
        ("properties", .object([("title", .object([("type", .string("string"))]))])),
        ("required", .array([.string("title")])),
        ("additionalProperties", .bool(false)),
    ])

    /// What a stand-in answers to `body` sent as is, without a client in between: the status and the whole body.
    static func raw(_ url: String, _ body: [String: Any], headers: [(String, String)]) async throws -> (status: Int, text: String) {
        let response = try await AsyncHTTPTransport().send(HTTPRequest.json(url, body, headers: headers), connectTimeout: 10)
        return (response.status, String(decoding: try await response.collect(), as: UTF8.self))
    }

    /// Sends `body` to the OpenAI stand-in's chat endpoint with the right key.
    static func rawOpenAI(_ standIn: OpenAIStandIn, _ body: [String: Any]) async throws -> (status: Int, text: String) {
        try await raw(standIn.baseURL + "/chat/completions", body, headers: [("Authorization", "Bearer \(openAIKey)")])
    }

    /// Sends `body` to the Anthropic stand-in's messages endpoint with the right key and version.
    static func rawAnthropic(_ standIn: AnthropicStandIn, _ body: [String: Any]) async throws -> (status: Int, text: String) {
        try await raw(standIn.baseURL + "/v1/messages", body, headers: [("x-api-key", anthropicKey), ("anthropic-version", "2023-06-01")])
    }

    struct StatusCase: Sendable, CustomStringConvertible {
        var status: Int
        var code: RuntimeError.Code
        var transient: Bool
        var description: String { "\(status)" }
    }

    // MARK: - Through the runtime catalog

    @Test func aClosedPortIsUnreachableAndTransient() async throws {
        let openAIStandIn = try await OpenAIStandIn.start(apiKey: Self.openAIKey, models: [.init("gpt-test")])
        let anthropicStandIn = try await AnthropicStandIn.start(apiKey: Self.anthropicKey, models: [.init("claude-test")])
        let openAI = Self.openAI(openAIStandIn)
        let anthropic = Self.anthropic(anthropicStandIn)
        await openAIStandIn.stop()
        await anthropicStandIn.stop()

        for outcome in [await Self.run(openAI, Self.request("gpt-test")), await Self.run(anthropic, Self.request("claude-test"))] {
            let error = try #require(outcome.runtimeError)
            #expect(error.code == .unreachable)
            #expect(error.isTransient)
        }
    }

    // MARK: - Keys through the runtime catalog

    static func snapshot(openAIURL: String, anthropicURL: String, openAIKeyEnv: String? = "OPENAI_TEST_KEY") throws -> RunSnapshot {
        let openAIKeyLine = openAIKeyEnv.map { ", api_key_env: \($0)" } ?? ""
        let profileText = """
            version: 1
            name: cloud
            runtimes:
              gpt: {kind: openai, url: "\(openAIURL)"\(openAIKeyLine)}
              claude: {kind: anthropic, url: "\(anthropicURL)", api_key_env: ANTHROPIC_TEST_KEY}
            models:
              gpt-test: {runtime: gpt}
              claude-test: {runtime: claude}
            """
        let document = ProfileDecoder.decode(SourceFile(path: "cloud.yaml", text: profileText), environment: [:])
        let (resolved, diagnostics) = ProfileResolver.resolve(document) { _ in nil }
        let profile = try #require(resolved, "\(diagnostics)")
        let yaml = """
            version: 1
            inputs:
              task: {}
            stages:
              plan:
                model: gpt-test
                prompt: "Plan {{inputs.task}} in three steps"
              review:
                model: claude-test
                reviews: plan
                max_rounds: 2
                prompt: "Review this plan: {{stages.plan.output}}"
            """
        let result = PipelineCompiler(profile: profile).compile(SourceFile(path: "cloud-test.yaml", text: yaml))
        let plan = try #require(result.plan, "\(result.diagnostics.map(\.message))")
        return RunSnapshot(plan: plan, profile: profile, sources: ["cloud-test.yaml": yaml], pipelinePath: nil, forcedRuntime: nil)
    }

    static func catalogError(_ catalog: RuntimeCatalog, _ model: String, runtime: String, _ snapshot: RunSnapshot) -> RuntimeError? {
        do {
            _ = try catalog.runtime(for: ResolvedModel(name: model, runtime: runtime, footprint: nil), snapshot: snapshot)
            return nil
        } catch {
            return error as? RuntimeError
        }
    }

    @Test func aCloudRuntimeWithoutAKeySaysWhichVariableToSet() throws {
        let snapshot = try Self.snapshot(openAIURL: "https://api.openai.example/v1", anthropicURL: "https://api.anthropic.example")
        let catalog = RuntimeCatalog(environment: ["ANTHROPIC_TEST_KEY": ""])  // empty counts as unset

        let claude = try #require(Self.catalogError(catalog, "claude-test", runtime: "claude", snapshot))
        #expect(!claude.isTransient)
        #expect(claude.message.contains("runtime 'claude' has no API key"))
        #expect(claude.message.contains("ANTHROPIC_TEST_KEY"))
        #expect(claude.message.contains("baton keys set claude"))

        let gpt = try #require(Self.catalogError(catalog, "gpt-test", runtime: "gpt", snapshot))
        #expect(!gpt.isTransient)
        #expect(gpt.message.contains("OPENAI_TEST_KEY"))

        // An OpenAI-compatible server on this machine with no api_key_env needs no key.
        let local = try Self.snapshot(openAIURL: "http://127.0.0.1:9/v1", anthropicURL: "https://x.example", openAIKeyEnv: nil)
        #expect(Self.catalogError(RuntimeCatalog(environment: [:]), "gpt-test", runtime: "gpt", local) == nil)

        // A cloud OpenAI-compatible runtime with no api_key_env still needs a key.
        let unnamed = try Self.snapshot(openAIURL: "https://api.openai.example/v1", anthropicURL: "https://x.example", openAIKeyEnv: nil)
        let bare = try #require(Self.catalogError(catalog, "gpt-test", runtime: "gpt", unnamed))
        #expect(bare.message.contains("api_key_env"))
        #expect(bare.message.contains("baton keys set gpt"))
    }

    /// Keys from somewhere other than the environment (the key store's seam), as key-file entries bound to `hosts`.
    struct FixedKeys: APIKeySource {
        var keys: [String: String]
        var failure: String?
        var hosts: [KeyHost] = []
        func apiKey(for runtime: RuntimeSpec) throws -> APIKey? {
            if let failure { throw RuntimeError(.unreachable, failure, isTransient: false) }
            return keys[runtime.name].map { APIKey(value: $0, origin: .keyFile(entry: runtime.name, hosts: hosts)) }
        }
    }

    /// The policy of a user who allowed the stand-ins' hosts for the test variables (what `baton keys allow` records).
    static func allowing(_ urls: String...) -> KeyHostPolicy {
        let hosts = urls.compactMap { KeyEndpoint(url: $0)?.allowance }
        return KeyHostPolicy(allowances: KeyHostAllowances(["OPENAI_TEST_KEY": hosts, "ANTHROPIC_TEST_KEY": hosts]))
    }

    @Test func theCatalogTakesKeysFromItsKeySource() async throws {
        try await OpenAIStandIn.with(apiKey: Self.openAIKey, models: [.init("gpt-test")]) { openAI in
            try await AnthropicStandIn.with(apiKey: Self.anthropicKey, models: [.init("claude-test")]) { anthropic in
                let snapshot = try Self.snapshot(openAIURL: openAI.baseURL, anthropicURL: anthropic.baseURL)
                // The environment has other keys; the key source wins.
                let catalog = RuntimeCatalog(
                    environment: ["OPENAI_TEST_KEY": "sk-from-env", "ANTHROPIC_TEST_KEY": "sk-ant-from-env"],
                    keys: FixedKeys(
                        keys: ["gpt": Self.openAIKey, "claude": Self.anthropicKey],
                        hosts: [openAI.baseURL, anthropic.baseURL].compactMap { KeyEndpoint(url: $0)?.allowance }))
                let gpt = try catalog.runtime(for: ResolvedModel(name: "gpt-test", runtime: "gpt", footprint: nil), snapshot: snapshot)
                let claude = try catalog.runtime(
                    for: ResolvedModel(name: "claude-test", runtime: "claude", footprint: nil), snapshot: snapshot)
                #expect(gpt is OpenAICompatibleClient)
                #expect(claude is AnthropicClient)
                #expect(await Self.run(gpt, Self.request("gpt-test")).error == nil)
                #expect(await Self.run(claude, Self.request("claude-test")).error == nil)
                #expect(openAI.chats.last?.header("authorization") == "Bearer \(Self.openAIKey)")
                #expect(anthropic.messages.last?.header("x-api-key") == Self.anthropicKey)

                let broken = RuntimeCatalog(environment: [:], keys: FixedKeys(keys: [:], failure: "the key file cannot be opened"))
                let error = try #require(Self.catalogError(broken, "claude-test", runtime: "claude", snapshot))
                #expect(error.message == "the key file cannot be opened")
            }
        }
    }

    @Test func aRejectedKeySaysWhereItCameFromAndNeverShowsIt() async throws {
        let wrong = "sk-ant-api03-from-the-environment-but-revoked"
        try await AnthropicStandIn.with(apiKey: Self.anthropicKey, models: [.init("claude-test")]) { anthropic in
            let snapshot = try Self.snapshot(openAIURL: "https://api.openai.example/v1", anthropicURL: anthropic.baseURL)
            let catalog = RuntimeCatalog(environment: ["ANTHROPIC_TEST_KEY": wrong], keyHosts: Self.allowing(anthropic.baseURL))
            let claude = try catalog.runtime(for: ResolvedModel(name: "claude-test", runtime: "claude", footprint: nil), snapshot: snapshot)
            let error = try #require(await Self.run(claude, Self.request("claude-test")).runtimeError)
            #expect(!error.isTransient)
            #expect(error.message.contains("rejected the API key (401"))
            #expect(error.message.contains("ANTHROPIC_TEST_KEY"))
            #expect(error.message.contains("baton keys set claude"))
            #expect(!error.message.contains(wrong))
        }
    }

    @Test func theExecutorRunsAPipelineOnBothClouds() async throws {
        try await OpenAIStandIn.with(apiKey: Self.openAIKey, models: [.init("gpt-test")]) { openAI in
            try await AnthropicStandIn.with(apiKey: Self.anthropicKey, models: [.init("claude-test")]) { anthropic in
                // Given keys in the environment variables the profile names
                let snapshot = try Self.snapshot(openAIURL: openAI.baseURL, anthropicURL: anthropic.baseURL)
                let catalog = RuntimeCatalog(
                    environment: ["OPENAI_TEST_KEY": Self.openAIKey, "ANTHROPIC_TEST_KEY": Self.anthropicKey],
                    keyHosts: Self.allowing(openAI.baseURL, anthropic.baseURL))
                let store = try RunStore.inMemory()
                let executor = Executor(store: store, runtimes: catalog, sleep: { _ in })
                let inputs = try RunInputs.resolve(snapshot.plan.inputs, given: ["task": "a parser"])

                // When
                let outcome = try await executor.start(snapshot, inputs: inputs, claim: .current())

                // Then the plan came from OpenAI and the verdict from Anthropic's forced tool
                guard case .completed(let id) = outcome else {
                    Issue.record("\(outcome)")
                    return
                }
                let attempts = try store.attempts(id)
                #expect(attempts.map(\.stage) == ["plan", "review"])
                #expect(attempts[0].output == "You said: Plan a parser in three steps")
                #expect(attempts[1].verdict == "approve")
                #expect(attempts.allSatisfy { $0.outputTokens != nil })
                #expect(anthropic.messages.last?.body?["tool_choice"]?["name"] == .string(AnthropicClient.outputTool))
            }
        }
    }

    @Test("C-A5: a critic on a server that ignores the forced tool gets its verdict from the text, not \"it answered: ''\"")
    func aCriticOnAServerThatIgnoresTheToolCompletes() async throws {
        let verdict = "Verdict: {\"verdict\": \"approve\", \"feedback\": \"Clear steps.\"}"
        try await OpenAIStandIn.with(apiKey: Self.openAIKey, models: [.init("gpt-test")]) { openAI in
            let claude = AnthropicStandIn.Model("claude-test", answer: verdict, ignoresToolChoice: true)
            try await AnthropicStandIn.with(apiKey: Self.anthropicKey, models: [claude]) { anthropic in
                let snapshot = try Self.snapshot(openAIURL: openAI.baseURL, anthropicURL: anthropic.baseURL)
                let catalog = RuntimeCatalog(
                    environment: ["OPENAI_TEST_KEY": Self.openAIKey, "ANTHROPIC_TEST_KEY": Self.anthropicKey],
                    keyHosts: Self.allowing(openAI.baseURL, anthropic.baseURL))
                let store = try RunStore.inMemory()
                let executor = Executor(store: store, runtimes: catalog, sleep: { _ in })
                let inputs = try RunInputs.resolve(snapshot.plan.inputs, given: ["task": "a parser"])

                let outcome = try await executor.start(snapshot, inputs: inputs, claim: .current())

                guard case .completed(let id) = outcome else {
                    Issue.record("\(outcome)")
                    return
                }
                #expect(try store.attempts(id).last?.verdict == "approve")
                #expect(anthropic.messages.count == 1)
            }
        }
    }
}
