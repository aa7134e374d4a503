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
        return GenerationRequest(model: "executor", system: nil, prompt: prompt, settings: settings, responseSchema: nil, stage: "s", round: 1)
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
