import BatonEngine
import BatonSpec
import BatonTestSupport
import Foundation
import Testing

/// `tool_mode: native` in each client against the stand-ins, which replay tool-call streams as the upstream APIs send
/// them (Ollama v0.33.0-rc2, OpenAI's recorded streams in openai-python 3.3.1, Anthropic's in anthropic-sdk-python
/// 0.121.0): calls arrive as `.toolCall` once each, results go back in each API's own shape, and a model that takes no
/// tools is a permanent error that says `tool_mode: json`.
@Suite struct NativeToolCallingTests {
    static let weather = ToolDefinition(
        name: "get_weather", description: "The weather in a city now",
        parameters: .object([
            ("type", .string("object")), ("properties", .object([("city", .object([("type", .string("string"))]))])),
            ("required", .array([.string("city")])),
        ]))
    static let stock = ToolDefinition(
        name: "get_stock_price", description: "The latest price of a ticker",
        parameters: .object([("type", .string("object")), ("properties", .object([("ticker", .object([("type", .string("string"))]))]))]))

    static func request(_ model: String, tools: [ToolDefinition]? = [weather], history: [ChatTurn] = []) -> GenerationRequest {
        var request = GenerationRequest(
            model: model, system: nil, prompt: "What is the weather in Paris?", settings: StageSettings(), responseSchema: nil, stage: "s",
            round: 1)
        request.tools = tools
        request.history = history
        return request
    }

    /// A call's arguments as compact JSON with sorted keys, so equal objects compare equal whatever their spacing.
    static func arguments(_ call: ToolCall) -> String {
        guard let object = try? JSONSerialization.jsonObject(with: Data(call.argumentsJSON.utf8)),
            let data = try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
        else { return "not JSON: " + call.argumentsJSON }
        return String(decoding: data, as: UTF8.self)
    }

    static func ollama(_ standIn: OllamaStandIn) -> OllamaClient {
        OllamaClient(baseURL: standIn.baseURL, loadTimeout: 10, pollInterval: 0.02)
    }

    // MARK: - Ollama

    @Test("Ollama: a call arrives once as .toolCall, its object arguments as JSON text, with Ollama's call id")
    func ollamaCall() async throws {
        var model = OllamaStandIn.Model("qwen3:0.6b")
        model.supportsTools = true
        model.toolCalls = [ScriptedToolCall(name: "get_weather", arguments: #"{"city":"Paris"}"#)]
        try await OllamaStandIn.with(models: [model]) { standIn in
            let outcome = await GenerationOutcome.of(Self.ollama(standIn), Self.request("qwen3:0.6b"))

            #expect(outcome.error == nil)
            let call = try #require(outcome.toolCalls.first)
            #expect(outcome.toolCalls.count == 1 && call.name == "get_weather")
            #expect(Self.arguments(call) == #"{"city":"Paris"}"#)
            #expect(call.id?.hasPrefix("call_") == true && call.id?.count == 13)
            #expect(outcome.finish?.kind == .complete)
            // Sent as OpenAI-shaped function tools
            let tool = try #require(standIn.requests.last(where: { $0.path == "/api/chat" })?.body?["tools"]?[0])
            #expect(tool["type"] == .string("function") && tool["function"]?["name"] == .string("get_weather"))
            #expect(tool["function"]?["parameters"]?["required"] == .array([.string("city")]))
        }
    }

    @Test("Ollama: a result goes back as a `tool` message naming its tool in tool_name, the call's arguments as an object")
    func ollamaResult() async throws {
        var model = OllamaStandIn.Model("qwen3:0.6b", answer: "It is sunny in Paris.")
        model.supportsTools = true
        model.toolCalls = [ScriptedToolCall(name: "get_weather", arguments: #"{"city":"Paris"}"#)]
        try await OllamaStandIn.with(models: [model]) { standIn in
            let call = ToolCall(id: "call_ab12cd34", name: "get_weather", argumentsJSON: #"{"city":"Paris"}"#)
            let history: [ChatTurn] = [
                .assistant(text: "", calls: [call]),
                .toolResult(callID: "call_ab12cd34", name: "get_weather", content: "sunny, 21 C", isError: false),
            ]
            let outcome = await GenerationOutcome.of(Self.ollama(standIn), Self.request("qwen3:0.6b", history: history))

            // After a result the model answers in text
            #expect(outcome.error == nil && outcome.toolCalls.isEmpty && outcome.text == "It is sunny in Paris.")
            guard case .array(let messages)? = standIn.requests.last(where: { $0.path == "/api/chat" })?.body?["messages"] else {
                Issue.record("no messages sent")
                return
            }
            #expect(messages.map { $0["role"]?.stringValue ?? "" } == ["user", "assistant", "tool"])
            #expect(messages[1]["tool_calls"]?[0]?["function"]?["arguments"] == .object([("city", .string("Paris"))]))
            #expect(messages[2]["tool_name"] == .string("get_weather") && messages[2]["content"] == .string("sunny, 21 C"))
            #expect(messages[2]["tool_call_id"] == .string("call_ab12cd34"))
        }
    }

    @Test(
        "Ollama: a model without tools answers 400 '<name> does not support tools': a permanent error naming the model and tool_mode: json")
    func ollamaRefusesTools() async throws {
        try await OllamaStandIn.with(models: [OllamaStandIn.Model("gemma3:270m")]) { standIn in
            let outcome = await GenerationOutcome.of(Self.ollama(standIn), Self.request("gemma3:270m"))

            let error = try #require(outcome.runtimeError)
            #expect(!error.isTransient)
            #expect(error.message.contains("'gemma3:270m'") && error.message.contains("tool_mode: json"))
            #expect(error.message.contains("registry.ollama.ai/library/gemma3:270m does not support tools"))
            // Without tools the same model answers
            let plain = await GenerationOutcome.of(Self.ollama(standIn), Self.request("gemma3:270m", tools: nil))
            #expect(plain.error == nil && !plain.text.isEmpty)
        }
    }

    @Test("Ollama: with tools offered the stage's schema is not sent as `format`, which would keep any tool from being called")
    func ollamaNoFormatBesideTools() async throws {
        var model = OllamaStandIn.Model("qwen3:0.6b")
        model.supportsTools = true
        try await OllamaStandIn.with(models: [model]) { standIn in
            var request = Self.request("qwen3:0.6b")
            request.responseSchema = .object([("type", .string("object"))])

            _ = await GenerationOutcome.of(Self.ollama(standIn), request)
            request.tools = nil
            _ = await GenerationOutcome.of(Self.ollama(standIn), request)

            let chats = standIn.requests.filter { $0.path == "/api/chat" && !$0.isEmptyChat }
            #expect(chats.count == 2)
            #expect(chats.first?.body?["format"] == nil && chats.first?.body?["tools"] != nil)
            #expect(chats.last?.body?["format"] == .object([("type", .string("object"))]) && chats.last?.body?["tools"] == nil)
        }
    }

    // MARK: - OpenAI-compatible

    @Test("OpenAI: the recorded stream of one call in 14 argument fragments is assembled into one call with its id")
    func openAIRecordedCall() async throws {
        let model = OpenAIStandIn.Model("gpt-4o-2024-08-06", toolCalls: [.openAIRecordedWeather])
        try await OpenAIStandIn.with(apiKey: Cloud.openAIKey, models: [model]) { standIn in
            let outcome = await Cloud.run(Cloud.openAI(standIn), Self.request("gpt-4o-2024-08-06"))

            #expect(outcome.error == nil && outcome.text.isEmpty)
            #expect(
                outcome.toolCalls == [
                    ToolCall(
                        id: "call_c91SqDXlYFuETYv8mUHzz6pp", name: "GetWeatherArgs",
                        argumentsJSON: #"{"city":"Edinburgh","country":"UK","units":"c"}"#)
                ])
            #expect(outcome.finish == FinishReason(.complete, raw: "tool_calls"))
            #expect(standIn.chats.last?.body?["tools"]?[0]?["function"]?["name"] == .string("get_weather"))
        }
    }

    @Test("OpenAI: two calls streamed by index arrive as two calls, in index order")
    func openAITwoCalls() async throws {
        let calls = [
            ScriptedToolCall(
                id: "call_JMW1whyEaYG438VE1OIflxA2", name: "get_weather", fragments: ["{\"ci", "ty\": ", "\"Edinb", "urgh\"}"]),
            ScriptedToolCall(
                id: "call_DNYTawLBoN8fj3KN6qU9N1Ou", name: "get_stock_price", fragments: ["{\"ti", "cker\"", ": \"AAP", "L\"}"]),
        ]
        try await OpenAIStandIn.with(apiKey: Cloud.openAIKey, models: [OpenAIStandIn.Model("gpt-4o", toolCalls: calls)]) { standIn in
            let outcome = await Cloud.run(Cloud.openAI(standIn), Self.request("gpt-4o", tools: [Self.weather, Self.stock]))

            #expect(outcome.toolCalls.map(\.name) == ["get_weather", "get_stock_price"])
            #expect(outcome.toolCalls.map(\.id) == ["call_JMW1whyEaYG438VE1OIflxA2", "call_DNYTawLBoN8fj3KN6qU9N1Ou"])
            #expect(outcome.toolCalls.map(Self.arguments) == [#"{"city":"Edinburgh"}"#, #"{"ticker":"AAPL"}"#])
        }
    }

    @Test("OpenAI: results go back as `tool` messages answering each call's id, which OpenAI checks; a call without an id gets one")
    func openAIResults() async throws {
        let model = OpenAIStandIn.Model("gpt-4o", answer: "Sunny in Paris, AAPL at 230.", toolCalls: [.openAIRecordedWeather])
        try await OpenAIStandIn.with(apiKey: Cloud.openAIKey, models: [model]) { standIn in
            let history: [ChatTurn] = [
                .assistant(
                    text: "",
                    calls: [
                        ToolCall(id: "call_1", name: "get_weather", argumentsJSON: #"{"city":"Paris"}"#),
                        ToolCall(id: nil, name: "get_stock_price", argumentsJSON: #"{"ticker":"AAPL"}"#),
                    ]),
                .toolResult(callID: "call_1", name: "get_weather", content: "sunny", isError: false),
                .toolResult(callID: nil, name: "get_stock_price", content: "230", isError: false),
            ]
            let outcome = await Cloud.run(
                Cloud.openAI(standIn), Self.request("gpt-4o", tools: [Self.weather, Self.stock], history: history))

            #expect(outcome.error == nil)
            #expect(outcome.toolCalls.isEmpty && outcome.text == "Sunny in Paris, AAPL at 230.")
            guard case .array(let messages)? = standIn.chats.last?.body?["messages"] else {
                Issue.record("no messages sent")
                return
            }
            #expect(messages[1]["tool_calls"]?[0]?["function"]?["arguments"] == .string(#"{"city":"Paris"}"#))
            let generated = try #require(messages[1]["tool_calls"]?[1]?["id"]?.stringValue)
            #expect(messages[3]["tool_call_id"]?.stringValue == generated)
        }
    }

    @Test("OpenAI: a 400 \"'tools' is not supported with this model\" is a permanent error naming the model and tool_mode: json")
    func openAIRefusesTools() async throws {
        try await OpenAIStandIn.with(apiKey: Cloud.openAIKey, models: [OpenAIStandIn.Model("o1-mini", refusesTools: true)]) { standIn in
            let outcome = await Cloud.run(Cloud.openAI(standIn), Self.request("o1-mini"))

            let error = try #require(outcome.runtimeError)
            #expect(!error.isTransient && error.message.contains("'o1-mini'") && error.message.contains("tool_mode: json"))
            #expect(standIn.chats.count == 1)
        }
    }

    // MARK: - Anthropic

    @Test("Anthropic: the recorded tool_use stream gives its text, then one call whose input came in input_json_delta pieces")
    func anthropicRecordedCall() async throws {
        var model = AnthropicStandIn.Model("claude-sonnet-4-20250514")
        model.toolPreamble = "I'll check the current weather in Paris for you."
        model.toolCalls = [.anthropicRecordedWeather]
        try await AnthropicStandIn.with(apiKey: Cloud.anthropicKey, models: [model]) { standIn in
            let outcome = await Cloud.run(Cloud.anthropic(standIn), Self.request("claude-sonnet-4-20250514"))

            #expect(outcome.error == nil)
            #expect(outcome.text == "I'll check the current weather in Paris for you.")
            #expect(
                outcome.toolCalls == [
                    ToolCall(id: "toolu_01NRLabsLyVHZPKxbKvkfSMn", name: "get_weather", argumentsJSON: #"{"location": "Paris"}"#)
                ])
            #expect(outcome.finish == FinishReason(.complete, raw: "tool_use"))
            let sent = try #require(standIn.requests.last?.body)
            #expect(sent["tools"]?[0]?["name"] == .string("get_weather"))
            #expect(sent["tools"]?[0]?["input_schema"]?["type"] == .string("object"))
            #expect(sent["tool_choice"] == nil)
        }
    }

    @Test("Anthropic: results go back as tool_result blocks in one user turn after the tool_use turn, an error flagged is_error")
    func anthropicResults() async throws {
        var model = AnthropicStandIn.Model("claude-sonnet-4-5", answer: "Sunny; the price is unknown.")
        model.toolCalls = [.anthropicRecordedWeather]
        try await AnthropicStandIn.with(apiKey: Cloud.anthropicKey, models: [model]) { standIn in
            let history: [ChatTurn] = [
                .assistant(
                    text: "Checking.",
                    calls: [
                        ToolCall(id: "toolu_1", name: "get_weather", argumentsJSON: #"{"city":"Paris"}"#),
                        ToolCall(id: "toolu_2", name: "get_stock_price", argumentsJSON: #"{"ticker":"AAPL"}"#),
                    ]),
                .toolResult(callID: "toolu_1", name: "get_weather", content: "sunny", isError: false),
                .toolResult(callID: "toolu_2", name: "get_stock_price", content: "the exchange is closed", isError: true),
            ]
            let outcome = await Cloud.run(
                Cloud.anthropic(standIn), Self.request("claude-sonnet-4-5", tools: [Self.weather, Self.stock], history: history))

            #expect(outcome.error == nil && outcome.toolCalls.isEmpty && outcome.text == "Sunny; the price is unknown.")
            guard case .array(let messages)? = standIn.requests.last?.body?["messages"] else {
                Issue.record("no messages sent")
                return
            }
            #expect(messages.map { $0["role"]?.stringValue ?? "" } == ["user", "assistant", "user"])
            #expect(messages[1]["content"]?[1]?["input"] == .object([("city", .string("Paris"))]))
            #expect(messages[2]["content"]?[0]?["tool_use_id"] == .string("toolu_1"))
            #expect(
                messages[2]["content"]?[1]?["tool_use_id"] == .string("toolu_2") && messages[2]["content"]?[1]?["is_error"] == .bool(true))
            #expect(messages[2]["content"]?[0]?["is_error"] == nil)
        }
    }
}

extension JSONValue {
    /// The element at `index` of an array.
    fileprivate subscript(index: Int) -> JSONValue? {
        if case .array(let values) = self, values.indices.contains(index) { return values[index] }
        return nil
    }
}
