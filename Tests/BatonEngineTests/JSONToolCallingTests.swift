import BatonEngine
import BatonSpec
import BatonTestSupport
import Foundation
import Testing

/// `tool_mode: json` (``ToolChoice``): the turn's schema, the reading of an answer, and how a result goes back.
@Suite struct JSONToolCallingTests {
    static let weather = NativeToolCallingTests.weather
    static let clock = ToolDefinition(name: "now", description: "", parameters: .object([]))

    @Test("The schema is an anyOf of one closed call object per tool (name a const, arguments its schema) and a final answer")
    func schemaShape() throws {
        let schema = ToolChoice.schema(tools: [Self.weather, Self.clock], final: nil)

        guard case .array(let branches)? = schema["anyOf"] else {
            Issue.record("no anyOf: \(schema)")
            return
        }
        #expect(schema["oneOf"] == nil && branches.count == 3)
        let call = try #require(branches[0]["properties"]?["call"])
        #expect(branches[0]["required"] == .array([.string("call")]) && branches[0]["additionalProperties"] == .bool(false))
        #expect(call["properties"]?["name"] == .object([("const", .string("get_weather"))]))
        #expect(call["properties"]?["arguments"] == Self.weather.parameters)
        #expect(call["required"] == .array([.string("name"), .string("arguments")]))
        // A tool without parameters is called with an empty object
        #expect(branches[1]["properties"]?["call"]?["properties"]?["arguments"]?["type"] == .string("object"))
        #expect(branches[2]["properties"]?["final"] == .object([("type", .string("string"))]))
    }

    @Test("The final answer takes the stage's output schema; with no tools left only the final answer is allowed")
    func finalBranch() {
        let output: JSONValue = .object([
            ("type", .string("object")), ("properties", .object([("title", .object([("type", .string("string"))]))])),
        ])

        let schema = ToolChoice.schema(tools: [], final: output)

        #expect(schema["anyOf"] == nil)
        #expect(schema["properties"]?["final"] == output && schema["required"] == .array([.string("final")]))
    }

    @Test("An answer with `call` is a call of that tool with its arguments as JSON text; `final` is the answer")
    func parsing() throws {
        let call = try ToolChoice.parse(#" {"call": {"name": "get_weather", "arguments": {"city": "Paris"}}} "#)
        #expect(call == .call(ToolCall(id: nil, name: "get_weather", argumentsJSON: #"{"city":"Paris"}"#)))
        // A call without arguments is a call with none
        #expect(try ToolChoice.parse(#"{"call": {"name": "now"}}"#) == .call(ToolCall(id: nil, name: "now", argumentsJSON: "{}")))
        // A name the schema would not allow is still read: the loop answers it with an error the model sees
        #expect(
            try ToolChoice.parse(#"{"call": {"name": "rm", "arguments": {}}}"#) == .call(ToolCall(id: nil, name: "rm", argumentsJSON: "{}"))
        )
        #expect(try ToolChoice.parse(#"{"final": "It is sunny."}"#) == .final("It is sunny."))
        #expect(try ToolChoice.parse(#"{"final": {"title": "Sun", "n": 2}}"#) == .final(#"{"n":2,"title":"Sun"}"#))
    }

    @Test("An answer that is not JSON, or names neither call nor final, is a transient invalid-output error quoting it")
    func invalidAnswers() {
        for answer in ["It is sunny.", #"{"answer": 1}"#, #"{"call": {"arguments": {}}}"#, "[1, 2]"] {
            let error = #expect(throws: RuntimeError.self) { try ToolChoice.parse(answer) }
            #expect(error?.code == .invalidOutput && error?.isTransient == true)
            #expect(error?.message.contains(String(answer.prefix(20))) == true)
        }
    }

    @Test("A json-mode result goes back as the model's own answer, then a user message with the tool's output or error")
    func resultTurns() {
        let call = ToolCall(id: nil, name: "get_weather", argumentsJSON: #"{"city":"Paris"}"#)
        let answer = #"{"call":{"name":"get_weather","arguments":{"city":"Paris"}}}"#

        let turns = ToolChoice.turns(answer: answer, call: call, output: "sunny", isError: false)
        let failed = ToolChoice.resultMessage(call: call, output: "no such city", isError: true)

        #expect(turns.first == .assistant(text: answer, calls: []))
        guard case .user(let text)? = turns.last else {
            Issue.record("the result should be a user turn: \(turns)")
            return
        }
        #expect(text.hasPrefix("Result of tool get_weather:\nsunny") && text.contains("\"final\""))
        #expect(failed.hasPrefix("The call of tool get_weather failed:\nno such city"))
    }

    @Test("The instructions name every tool with its description and arguments, and both answer shapes")
    func instructions() {
        let text = ToolChoice.instructions(tools: [Self.weather, Self.clock])

        #expect(text.contains("- get_weather: The weather in a city now. Arguments: {"))
        #expect(text.contains("- now. Arguments: {}"))
        #expect(text.contains(#"{"call": {"name": TOOL, "arguments": {...}}}"#) && text.contains(#"{"final": ANSWER}"#))
    }

    @Test("The echo runtime answers a json-mode turn with its final answer, so an echo run's tool loop ends at once")
    func echoAnswersFinal() async throws {
        var request = NativeToolCallingTests.request("m", tools: nil)
        request.responseSchema = ToolChoice.schema(tools: [Self.weather], final: nil)

        let outcome = await GenerationOutcome.of(EchoRuntime(), request)

        #expect(try ToolChoice.parse(outcome.text) == .final("echo"))
    }

    @Test("A json-mode history goes out as plain user and assistant turns, never a `tool` role (Gemma's template has none)")
    func historyAsPlainTurns() async throws {
        // The anyOf root is wrapped under `value` for OpenAI (an object root is required), so the answer comes wrapped.
        let model = OpenAIStandIn.Model("gpt-4o-mini", answer: #"{"value":{"final":"sunny"}}"#)
        try await OpenAIStandIn.with(apiKey: Cloud.openAIKey, models: [model]) { standIn in
            let call = ToolCall(id: nil, name: "get_weather", argumentsJSON: #"{"city":"Paris"}"#)
            var request = NativeToolCallingTests.request("gpt-4o-mini", tools: nil)
            request.responseSchema = ToolChoice.schema(tools: [Self.weather], final: nil)
            request.history = ToolChoice.turns(
                answer: #"{"call":{"name":"get_weather","arguments":{"city":"Paris"}}}"#, call: call, output: "sunny", isError: false)

            let outcome = await Cloud.run(Cloud.openAI(standIn), request)

            #expect(outcome.error == nil)
            #expect((try? ToolChoice.parse(outcome.text)) == .final("sunny"))
            guard case .array(let messages)? = standIn.chats.last?.body?["messages"] else {
                Issue.record("no messages sent")
                return
            }
            #expect(messages.map { $0["role"]?.stringValue ?? "" } == ["user", "assistant", "user"])
            #expect(standIn.chats.last?.body?["tools"] == nil)
        }
    }
}
