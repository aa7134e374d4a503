import BatonSpec
import BatonTestSupport
import Foundation
import Testing

@testable import BatonEngine

/// The Anthropic client against the Anthropic stand-in: the request it sends, streaming and usage, stop reasons,
/// thinking, structured output through a forced tool (and a server that ignores it), the model rules, and the
/// API's errors. Tests named `C-…` cover a finding of the cloud fidelity study.
@Suite struct AnthropicClientTests {
    @Test("C-B7: tokens, usage (cache reads counted once though message_delta repeats input_tokens), the system prompt on top")
    func anthropicStreamsTokensAndUsageWithTheSystemPromptOnTop() async throws {
        try await AnthropicStandIn.with(apiKey: Cloud.anthropicKey, models: [.init("claude-test", cachedPromptTokens: 4)]) { standIn in
            let settings = StageSettings(temperature: 0.3, topK: 40, maxTokens: 50, seed: 7, stop: ["END"])
            let outcome = await Cloud.run(Cloud.anthropic(standIn), Cloud.request("claude-test", system: "Be brief.", settings: settings))

            #expect(outcome.error == nil)
            #expect(outcome.text == "You said: Write a short poem about the quiet sea")
            #expect(outcome.tokens.count == 10)
            // 10 prompt tokens, 4 of them read from the cache: input_tokens alone would say 6.
            #expect(outcome.usage?.promptTokens == 10)
            #expect(outcome.usage?.outputTokens == 10)  // from message_delta, not message_start's placeholder
            #expect(outcome.finish == FinishReason(.complete, raw: "end_turn"))
            #expect(outcome.notices.isEmpty)

            let sent = try #require(standIn.messages.last)
            #expect(sent.header("x-api-key") == Cloud.anthropicKey)
            #expect(sent.header("anthropic-version") == "2023-06-01")
            #expect(sent.header("content-type") == "application/json")
            #expect(sent.header("authorization") == nil)
            let body = try #require(sent.body)
            #expect(body["system"] == .string("Be brief."))
            #expect(body["messages"]?.keysSorted == .array([.object([("content", .string(Cloud.prompt)), ("role", .string("user"))])]))
            #expect(body["max_tokens"] == .number(50))
            #expect(body["stream"] == .bool(true))
            #expect(body["temperature"] == .number(0.3))
            #expect(body["top_k"] == .number(40))
            #expect(body["stop_sequences"] == .array([.string("END")]))
            #expect(body["seed"] == nil)  // the API has none, and rejects unknown fields
            #expect(body["tools"] == nil)
        }
    }

    @Test func anthropicAlwaysSendsMaxTokens() async throws {
        try await AnthropicStandIn.with(apiKey: Cloud.anthropicKey, models: [.init("claude-test")]) { standIn in
            let defaulted = await Cloud.run(Cloud.anthropic(standIn), Cloud.request("claude-test"))
            #expect(defaulted.error == nil)
            #expect(standIn.messages.last?.body?["max_tokens"] == .number(Double(AnthropicClient.defaultMaxTokens)))
            #expect(standIn.messages.last?.body?["system"] == nil)

            let short = await Cloud.run(Cloud.anthropic(standIn), Cloud.request("claude-test", settings: StageSettings(maxTokens: 2)))
            #expect(short.error == nil)
            #expect(short.tokens == ["You ", "said: "])
            #expect(short.usage?.outputTokens == 2)
            // C-B3: the cut is reported, not passed off as a whole answer.
            #expect(short.finish == FinishReason(.truncated, raw: "max_tokens"))
        }
    }

    @Test func anthropicStructuredOutputIsAForcedToolStreamedAsJSON() async throws {
        try await AnthropicStandIn.with(apiKey: Cloud.anthropicKey, models: [.init("claude-test")]) { standIn in
            let judged = await Cloud.run(Cloud.anthropic(standIn), Cloud.request("claude-test", schema: Cloud.verdictSchema))
            #expect(judged.error == nil)
            #expect(judged.tokens.count > 1)  // input_json_delta fragments, as they arrive
            #expect(!judged.tokens.contains(""))  // the API's opening empty fragment is not a token
            let verdict = try JSONDecoder().decode(JSONValue.self, from: Data(judged.text.utf8))
            #expect(verdict["verdict"] == .string("approve"))

            let body = try #require(standIn.messages.last?.body)
            guard case .array(let tools)? = body["tools"] else {
                Issue.record("no tools")
                return
            }
            #expect(tools.count == 1)
            #expect(tools[0]["name"] == .string(AnthropicClient.outputTool))
            #expect(tools[0]["input_schema"]?.keysSorted == Cloud.verdictSchema.keysSorted)
            #expect(body["tool_choice"]?["type"] == .string("tool"))
            #expect(body["tool_choice"]?["name"] == .string(AnthropicClient.outputTool))
        }
    }

    @Test func anthropicWrapsASchemaThatIsNotAnObject() async throws {
        // A tool's input is always an object: an array schema goes under "value", and the value comes back.
        let model = AnthropicStandIn.Model("claude-test", answer: #"{"value": ["a", "b"]}"#)
        try await AnthropicStandIn.with(apiKey: Cloud.anthropicKey, models: [model]) { standIn in
            let list: JSONValue = .object([("type", .string("array")), ("items", .object([("type", .string("string"))]))])
            let outcome = await Cloud.run(Cloud.anthropic(standIn), Cloud.request("claude-test", schema: list))
            #expect(outcome.error == nil)
            #expect(outcome.text == #"["a","b"]"#)
            guard case .array(let tools)? = standIn.messages.last?.body?["tools"], let schema = tools.first?["input_schema"] else {
                Issue.record("no tool")
                return
            }
            #expect(schema["type"] == .string("object"))
            #expect(schema["properties"]?["value"]?.keysSorted == list.keysSorted)
        }
    }

    @Test func anthropicModelListNeedsTheKey() async throws {
        try await AnthropicStandIn.with(apiKey: Cloud.anthropicKey, models: [.init("claude-a"), .init("claude-b")]) { standIn in
            let listed = try await Cloud.anthropic(standIn).models()
            #expect(listed == ["claude-a", "claude-b"])
            #expect(standIn.requests.last?.header("anthropic-version") == "2023-06-01")
            let denied = await Cloud.thrown { try await Cloud.anthropic(standIn, key: "sk-ant-wrong-000000000000").models() }
            #expect(denied?.code == .httpStatus)
            #expect(denied?.message.contains("sk-ant-wrong-000000000000") == false)
        }
    }

    @Test("C-A1: a temperature above 1 is left out on Anthropic, with a notice; the stand-in refuses it as the API does")
    func aTemperatureAboveOneIsLeftOut() async throws {
        try await AnthropicStandIn.with(apiKey: Cloud.anthropicKey, models: [.init("claude-test")]) { standIn in
            // Baton allows temperatures up to 2; Anthropic only up to 1.
            let hot = await Cloud.run(Cloud.anthropic(standIn), Cloud.request("claude-test", settings: StageSettings(temperature: 1.5)))
            #expect(hot.error == nil)
            #expect(standIn.messages.last?.body?["temperature"] == nil)
            #expect(hot.notices.first?.code == "setting-dropped")
            #expect(
                hot.notices.first?.message.contains("temperature 1.5, but model 'claude-test' runs on Anthropic, which accepts 0 to 1")
                    == true)

            let raw = try await Cloud.rawAnthropic(
                standIn, ["model": "claude-test", "max_tokens": 10, "messages": [["role": "user", "content": "Hi"]], "temperature": 1.5])
            #expect(raw.status == 400)
            #expect(raw.text.contains("temperature: range: 0..1"))
        }
    }

    @Test func anthropicBadRequestsArePermanentAndCarryTheAPIsMessage() async throws {
        try await AnthropicStandIn.with(apiKey: Cloud.anthropicKey, models: [.init("claude-test")]) { standIn in
            standIn.inject(.status(400, message: "messages.0.content: Input should be a valid list"))
            let error = try #require(await Cloud.run(Cloud.anthropic(standIn), Cloud.request("claude-test")).runtimeError)
            #expect(error.code == .httpStatus)
            #expect(!error.isTransient)
            #expect(error.message.contains("messages.0.content: Input should be a valid list"))
            #expect(error.message.contains("invalid_request_error"))
        }
    }

    @Test func anthropicUnknownModelIsModelNotFound() async throws {
        try await AnthropicStandIn.with(apiKey: Cloud.anthropicKey, models: [.init("claude-test")]) { standIn in
            let missing = await Cloud.run(Cloud.anthropic(standIn), Cloud.request("claude-nope"))
            #expect(missing.runtimeError?.code == .modelNotFound)
            #expect(missing.runtimeError?.isTransient == false)
            #expect(missing.runtimeError?.message.contains("claude-nope") == true)
        }
    }

    @Test func anthropicWrongKeyIsPermanentAndTheKeyNeverAppears() async throws {
        let wrong = "sk-ant-api03-WRONG-9876543210fedcbaQRST"
        try await AnthropicStandIn.with(apiKey: Cloud.anthropicKey, models: [.init("claude-test")]) { standIn in
            let failed = await Cloud.run(Cloud.anthropic(standIn, key: wrong), Cloud.request("claude-test"))
            let error = try #require(failed.runtimeError)
            #expect(error.code == .httpStatus)
            #expect(!error.isTransient)
            #expect(!error.message.contains(wrong))
            #expect(error.message.contains("invalid x-api-key: [redacted]"))
            #expect(error.message.contains("set ANTHROPIC_TEST_KEY"))
            #expect(standIn.messages.last?.header("x-api-key") == wrong)  // it was really sent
            #expect(!"\(Cloud.anthropic(standIn, key: wrong))".contains(wrong))
        }
    }

    @Test func anthropicMidStreamFailures() async throws {
        try await AnthropicStandIn.with(apiKey: Cloud.anthropicKey, models: [.init("claude-test")]) { standIn in
            let client = Cloud.anthropic(standIn)

            standIn.inject(.cutStream(afterTokens: 3))
            let cut = await Cloud.run(client, Cloud.request("claude-test"))
            // A cut connection may drop what was still buffered: what arrived is a prefix of the three tokens sent.
            #expect(["You ", "said: ", "Write "].starts(with: cut.tokens))
            #expect(cut.usage == nil)
            #expect(cut.runtimeError?.code == .badResponse)
            #expect(cut.runtimeError?.isTransient == true)

            standIn.inject(.endEarly(afterTokens: 10))  // every token, but no message_stop
            let early = await Cloud.run(client, Cloud.request("claude-test"))
            #expect(early.tokens.count == 10)
            #expect(early.runtimeError?.code == .badResponse)
            #expect(early.runtimeError?.isTransient == true)

            standIn.inject(.errorEvent(afterTokens: 2, type: "overloaded_error", message: "Overloaded"))
            let overloaded = await Cloud.run(client, Cloud.request("claude-test"))
            #expect(overloaded.tokens.count == 2)
            #expect(overloaded.runtimeError?.isTransient == true)
            #expect(overloaded.runtimeError?.message.contains("overloaded_error: Overloaded") == true)

            standIn.inject(.errorEvent(afterTokens: 0, type: "invalid_request_error", message: "prompt is too long"))
            let invalid = await Cloud.run(client, Cloud.request("claude-test"))
            #expect(invalid.runtimeError?.isTransient == false)
            #expect(invalid.runtimeError?.message.contains("prompt is too long") == true)
        }
    }

    // MARK: - Findings of the cloud fidelity study

    @Test("C-A1: a Claude 4 model gets temperature without top_p, with a notice naming the model, the setting and the value")
    func claudeFourTakesTemperatureOrTopP() async throws {
        try await AnthropicStandIn.with(apiKey: Cloud.anthropicKey, models: [.init("claude-sonnet-4-5")]) { standIn in
            let settings = StageSettings(temperature: 0.2, topP: 0.9, maxTokens: 100)
            let outcome = await Cloud.run(Cloud.anthropic(standIn), Cloud.request("claude-sonnet-4-5", settings: settings))
            #expect(outcome.error == nil)
            let body = try #require(standIn.messages.last?.body)
            #expect(body["temperature"] == .number(0.2))
            #expect(body["top_p"] == nil)
            let notice = try #require(outcome.notices.first)
            #expect(notice.code == "setting-dropped")
            #expect(notice.message.contains("model 'claude-sonnet-4-5'"))
            #expect(notice.message.contains("top_p 0.9"))
            // An older model takes both.
            #expect(ModelRules.apply(model: "claude-3-5-haiku-latest", kind: .anthropic, settings: settings).refusals.isEmpty)
        }
    }

    @Test("C-B1: the Anthropic stand-in refuses temperature with top_p on Claude 4 models, with the real body")
    func theStandInRefusesBothSamplingKeys() async throws {
        try await AnthropicStandIn.with(apiKey: Cloud.anthropicKey, models: [.init("claude-haiku-4-5"), .init("claude-test")]) { standIn in
            func send(_ model: String) async throws -> (status: Int, text: String) {
                try await Cloud.rawAnthropic(
                    standIn,
                    ["model": model, "max_tokens": 10, "messages": [["role": "user", "content": "Hi"]], "temperature": 0.2, "top_p": 0.9])
            }
            let refused = try await send("claude-haiku-4-5")
            #expect(refused.status == 400)
            #expect(refused.text.contains("`temperature` and `top_p` cannot both be specified for this model. Please use only one."))
            #expect(try await send("claude-test").status == 200)
        }
    }

    @Test("C-A3: a refusal (empty text block, stop_reason refusal) is reported as refused with its explanation")
    func aRefusalIsReported() async throws {
        let model = AnthropicStandIn.Model(
            "claude-test", refusal: (category: "cyber", explanation: "This request was refused due to policy."))
        try await AnthropicStandIn.with(apiKey: Cloud.anthropicKey, models: [model]) { standIn in
            let outcome = await Cloud.run(Cloud.anthropic(standIn), Cloud.request("claude-test"))
            #expect(outcome.error == nil)  // the executor fails the stage, quoting the detail
            #expect(outcome.text.isEmpty)
            #expect(outcome.finish == FinishReason(.refused, raw: "refusal", detail: "This request was refused due to policy. (cyber)"))
            let judged = await Cloud.run(Cloud.anthropic(standIn), Cloud.request("claude-test", schema: Cloud.verdictSchema))
            #expect(judged.finish?.kind == .refused)
        }
    }

    @Test("C-A3: thinking blocks stream as thinking, apart from the answer")
    func thinkingIsNotOutput() async throws {
        let model = AnthropicStandIn.Model("claude-test", thinking: "Let me think about the sea.")
        try await AnthropicStandIn.with(apiKey: Cloud.anthropicKey, models: [model]) { standIn in
            let outcome = await Cloud.run(Cloud.anthropic(standIn), Cloud.request("claude-test"))
            #expect(outcome.error == nil)
            #expect(outcome.thinking.joined() == "Let me think about the sea.")
            #expect(outcome.text == "You said: Write a short poem about the quiet sea")
        }
    }

    @Test("C-A5, C-B5: a server that ignores the forced tool and answers in text still gives the answer")
    func anAnswerInTextIsKept() async throws {
        let answer = "Here is my verdict:\n```json\n{\"verdict\":\"revise\",\"feedback\":\"Shorter.\"}\n```"
        let model = AnthropicStandIn.Model("claude-test", answer: answer, ignoresToolChoice: true)
        try await AnthropicStandIn.with(apiKey: Cloud.anthropicKey, models: [model]) { standIn in
            let outcome = await Cloud.run(Cloud.anthropic(standIn), Cloud.request("claude-test", schema: Cloud.verdictSchema))
            #expect(outcome.error == nil)
            #expect(outcome.text == answer)
            #expect(outcome.finish == FinishReason(.complete, raw: "end_turn"))
            // The stage parser takes the JSON out of the fence and the prose around it.
            #expect(StageResult.parseJSON(outcome.text)?["verdict"] == .string("revise"))
        }
    }

    @Test("C-A11: the forced tool is sent with disable_parallel_tool_use")
    func oneToolUseOnly() async throws {
        try await AnthropicStandIn.with(apiKey: Cloud.anthropicKey, models: [.init("claude-test")]) { standIn in
            #expect(await Cloud.run(Cloud.anthropic(standIn), Cloud.request("claude-test", schema: Cloud.verdictSchema)).error == nil)
            let choice = try #require(standIn.messages.last?.body?["tool_choice"])
            #expect(choice["disable_parallel_tool_use"] == .bool(true))
            #expect(choice["type"] == .string("tool"))
        }
    }

    @Test("C-A14: an Anthropic 403 says the API's reason, not only 'check the key'")
    func anthropicForbiddenNamesTheReason() async throws {
        try await AnthropicStandIn.with(apiKey: Cloud.anthropicKey, models: [.init("claude-test")]) { standIn in
            standIn.inject(.status(403))
            let error = try #require(await Cloud.run(Cloud.anthropic(standIn), Cloud.request("claude-test")).runtimeError)
            #expect(error.message.contains("does not have permission to use the specified resource"))
            #expect(error.message.contains("refused access (403"))
            #expect(!error.isTransient)
        }
    }

    @Test("C-B9: the stand-in accepts the Messages fields the SDK sends, such as output_config")
    func theStandInKnowsTheAPIsFields() async throws {
        try await AnthropicStandIn.with(apiKey: Cloud.anthropicKey, models: [.init("claude-test")]) { standIn in
            let answer = try await Cloud.rawAnthropic(
                standIn,
                [
                    "model": "claude-test", "max_tokens": 10, "messages": [["role": "user", "content": "Hi"]],
                    "output_config": [String: Any](),
                ])
            #expect(answer.status == 200)
            let unknown = try await Cloud.rawAnthropic(
                standIn, ["model": "claude-test", "max_tokens": 10, "messages": [["role": "user", "content": "Hi"]], "seed": 1])
            #expect(unknown.status == 400)
            #expect(unknown.text.contains("seed: Extra inputs are not permitted"))
        }
    }
}
