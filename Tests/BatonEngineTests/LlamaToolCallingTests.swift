import BatonEngine
import BatonSpec
import BatonTestSupport
import Foundation
import Testing

/// Tool calling on the real llama-server (b11434, `scripts/start-llama-router.sh`, `--jinja` with Baton's Gemma
/// template) with Gemma 3 270M.
///
/// Native tools do not work there: asked directly, the server answered HTTP 200 with plain text and no `tool_calls`,
/// both with `tool_choice: "auto"` and `"required"` (checked by hand, 2026-12-07), because Gemma's template renders no
/// tools and so no tool parser or grammar is built. `GET /props?model=` reports it as
/// `chat_template_caps.supports_tools: false`, which the client turns into an error. `tool_mode: json` works.
@Suite(.serialized, .enabled(if: !LlamaRouter.skipped, "BATON_SKIP_INTEGRATION=1"))
struct LlamaToolCallingTests {
    static let weather = ToolDefinition(
        name: "get_weather", description: "The weather in a city now",
        parameters: .object([
            ("type", .string("object")),
            ("properties", .object([("city", .object([("type", .string("string")), ("maxLength", .number(20))]))])),
            ("required", .array([.string("city")])), ("additionalProperties", .bool(false)),
        ]))
    static let clock = ToolDefinition(
        name: "get_time", description: "The time now in a time zone",
        parameters: .object([
            ("type", .string("object")),
            ("properties", .object([("zone", .object([("type", .string("string")), ("maxLength", .number(20))]))])),
            ("required", .array([.string("zone")])), ("additionalProperties", .bool(false)),
        ]))

    static func request(_ prompt: String) -> GenerationRequest {
        var settings = StageSettings()
        settings.maxTokens = 120
        settings.temperature = 0
        settings.seed = 7
        return GenerationRequest(
            model: "executor", system: nil, prompt: prompt, settings: settings, responseSchema: nil, stage: "s", round: 1)
    }

    @Test("Native tools with Gemma's template are refused before the request, naming the model and tool_mode: json")
    func nativeRefused() async throws {
        try await LlamaRouter.with(names: ["executor"]) { router in
            let client = LlamaServerClient(baseURL: router.url)
            try await client.load("executor", settings: StageSettings())
            var request = Self.request("What is the weather in Paris?")
            request.tools = [Self.weather]

            let outcome = await GenerationOutcome.of(client, request)

            let error = try #require(outcome.runtimeError)
            #expect(!error.isTransient && error.message.contains("'executor'") && error.message.contains("tool_mode: json"))
            #expect(error.message.contains("supports_tools is false"))
            #expect(outcome.tokens.isEmpty)
        }
    }

    @Test("json mode: Gemma 3 270M's grammar-constrained answer parses into a call of a listed tool")
    func jsonModeCall() async throws {
        try await LlamaRouter.with(names: ["executor"]) { router in
            let client = LlamaServerClient(baseURL: router.url)
            let tools = [Self.weather, Self.clock]
            var request = Self.request(
                "What is the weather in Paris? Call get_weather.\n\n" + ToolChoice.instructions(tools: tools))
            request.responseSchema = ToolChoice.schema(tools: tools, final: nil)

            let outcome = await GenerationOutcome.of(client, request)

            #expect(outcome.error == nil)
            let choice = try ToolChoice.parse(outcome.text)
            switch choice {
            case .call(let call):
                #expect(tools.map(\.name).contains(call.name))
                let arguments = try JSONSerialization.jsonObject(with: Data(call.argumentsJSON.utf8)) as? [String: Any]
                #expect(arguments?.keys.count == 1 && (arguments?["city"] is String || arguments?["zone"] is String))
            case .final(let text):
                Issue.record("Gemma answered without calling a tool: \(text)")
            }
        }
    }
}

/// The executor's tool loop on the real llama-server with Gemma 3 270M in `tool_mode: json` (issue 12, "How it is
/// checked"): a tool call runs, the loop ends within its bound, and after the run dies with a committed tool result,
/// resume does not run that tool again.
@Suite(.serialized, .enabled(if: !LlamaRouter.skipped, "BATON_SKIP_INTEGRATION=1"))
struct LlamaToolLoopTests {
    /// llama-server for every model, failing the stage's second turn while `failSecondTurn` is set: the run stops
    /// after its first call's result is committed, as a crash there would leave it.
    final class Provider: RuntimeProvider, @unchecked Sendable {
        let client: LlamaServerClient
        let failSecondTurn: Bool
        init(url: String, failSecondTurn: Bool) {
            client = LlamaServerClient(baseURL: url)
            self.failSecondTurn = failSecondTurn
        }
        func runtime(for model: ResolvedModel, snapshot: RunSnapshot) throws -> any LLMRuntime {
            failSecondTurn ? Failing(base: client) : client
        }
    }

    /// Fails any turn that carries a tool result (a non-transient error: the run fails there).
    struct Failing: LLMRuntime, ModelManaging {
        let base: LlamaServerClient
        func generate(_ request: GenerationRequest) -> AsyncThrowingStream<GenerationEvent, any Error> {
            guard request.history.isEmpty else {
                return AsyncThrowingStream { $0.finish(throwing: RuntimeError(.injected, "the run dies here", isTransient: false)) }
            }
            return base.generate(request)
        }
        func residentModels() async throws -> [ResidentModel] { try await base.residentModels() }
        func load(_ model: String, settings: StageSettings) async throws -> LoadReport { try await base.load(model, settings: settings) }
        func unload(_ model: String) async throws { try await base.unload(model) }
    }

    @Test(
        "json mode on Gemma 3 270M: a call runs, the loop ends within max_tool_calls, and resume after its committed result does not run it again"
    )
    func loopAndResume() async throws {
        let folder = try ToolsExecutionTests.Folder()
        let counter = folder.path + "/calls.txt"
        let plan = try ToolsExecutionTests.plan(
            """
              count:
                description: Counts the words of a text.
                run: [sh, -c, "cat > /dev/null; echo called >> \(counter); echo 3"]
                stdin: "{{args.text}}"
                parameters:
                  type: object
                  properties: {text: {type: string, maxLength: 40}}
                  required: [text]
              ask:
                model: executor
                prompt: "How many words are in the text 'a b c'? Use the count tool."
                tools: [count]
                max_tool_calls: 2
                tool_mode: json
                temperature: 0
                seed: 7
                max_tokens: 120

            """)
        try await LlamaRouter.with(names: ["executor"]) { router in
            let store = try folder.store()
            let first = Executor(
                store: store, runtimes: Provider(url: router.url, failSecondTurn: true), observer: { _ in }, sleep: { _ in },
                random: { 0.5 })

            let failed = try await ToolsExecutionTests.start(plan, first)

            guard case .failed(let runID, _, _) = failed else {
                Issue.record("the first run should fail at its second turn: \(failed)")
                return
            }
            #expect(folder.lines("calls.txt") == ["called"])
            let call = try #require(try store.toolCall(runID, stage: "ask", item: nil, round: 1, turn: 1, callIndex: 0))
            #expect(call.status == .done && call.tool == "count")

            // Resume: the model asks again (temperature 0, same seed), its first call is replayed, not run
            let second = Executor(
                store: store, runtimes: Provider(url: router.url, failSecondTurn: false), observer: { _ in }, sleep: { _ in },
                random: { 0.5 })
            let resumed = try await second.resume(runID, claim: .current())

            guard case .completed = resumed else {
                Issue.record("the resumed run should complete: \(resumed)")
                return
            }
            // The first call was replayed; every recorded call ran exactly once, and no more than the bound
            #expect(try !store.events(runID, kind: .toolCallReplayed).isEmpty)
            let calls = try (1...3).compactMap { try store.toolCall(runID, stage: "ask", item: nil, round: 1, turn: $0, callIndex: 0) }
            #expect((1...2).contains(calls.count))
            #expect(folder.lines("calls.txt").count == calls.count)
        }
    }
}
