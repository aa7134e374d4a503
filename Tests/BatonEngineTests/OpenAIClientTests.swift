import BatonEngine
import BatonSpec
import BatonTestSupport
import Foundation
import Testing

/// The OpenAI client against the OpenAI stand-in: the request it sends, streaming and usage, finish reasons and
/// refusals, structured output, the model rules, the dialects, and the API's errors. Tests named `C-…` cover a
/// finding of the cloud fidelity study.
@Suite struct OpenAIClientTests {
    @Test func openAIStreamsTokensAndUsageWithTheKeyInABearerHeader() async throws {
        try await OpenAIStandIn.with(apiKey: Cloud.openAIKey, models: [.init("gpt-test")]) { standIn in
            let settings = StageSettings(temperature: 0.3, topP: 0.9, topK: 40, maxTokens: 50, seed: 7, stop: ["END"])
            let outcome = await Cloud.run(Cloud.openAI(standIn), Cloud.request("gpt-test", system: "Be brief.", settings: settings))

            #expect(outcome.error == nil)
            #expect(outcome.text == "You said: Write a short poem about the quiet sea")
            #expect(outcome.tokens.count == 10)
            #expect(outcome.usage?.promptTokens == 10)  // "Be brief." and the prompt's 8 words
            #expect(outcome.usage?.outputTokens == 10)

            let sent = try #require(standIn.chats.last)
            #expect(sent.header("authorization") == "Bearer \(Cloud.openAIKey)")
            #expect(sent.header("content-type") == "application/json")
            let body = try #require(sent.body)
            #expect(body["stream"] == .bool(true))
            #expect(body["stream_options"]?["include_usage"] == .bool(true))
            #expect(
                body["messages"]?.keysSorted
                    == .array([
                        .object([("content", .string("Be brief.")), ("role", .string("system"))]),
                        .object([("content", .string(Cloud.prompt)), ("role", .string("user"))]),
                    ]))
            #expect(body["max_completion_tokens"] == .number(50))
            #expect(body["temperature"] == .number(0.3))
            #expect(body["top_p"] == .number(0.9))
            #expect(body["seed"] == .number(7))
            #expect(body["stop"] == .array([.string("END")]))
            // OpenAI rejects fields it does not know (the stand-in too): no top_k, no max_tokens.
            #expect(body["top_k"] == nil)
            #expect(body["max_tokens"] == nil)
        }
    }

    @Test("C-B3: a cut answer is reported as truncated (finish_reason length), and no system means no system message")
    func openAIMaxTokensCutsTheAnswerAndNoSystemMeansNoSystemMessage() async throws {
        try await OpenAIStandIn.with(apiKey: Cloud.openAIKey, models: [.init("gpt-test")]) { standIn in
            let outcome = await Cloud.run(Cloud.openAI(standIn), Cloud.request("gpt-test", settings: StageSettings(maxTokens: 3)))
            #expect(outcome.error == nil)
            #expect(outcome.tokens == ["You ", "said: ", "Write "])
            #expect(outcome.usage?.outputTokens == 3)
            #expect(outcome.finish == FinishReason(.truncated, raw: "length"))
            let whole = await Cloud.run(Cloud.openAI(standIn), Cloud.request("gpt-test"))
            #expect(whole.finish == FinishReason(.complete, raw: "stop"))
            guard case .array(let messages)? = standIn.chats.last?.body?["messages"] else {
                Issue.record("no messages")
                return
            }
            #expect(messages.map { $0["role"] } == [.string("user")])
        }
    }

    @Test func openAIStructuredOutputIsAJSONSchemaResponseFormat() async throws {
        try await OpenAIStandIn.with(apiKey: Cloud.openAIKey, models: [.init("gpt-test")]) { standIn in
            let client = Cloud.openAI(standIn)

            // The verdict schema bounds feedback with maxLength, outside strict mode's subset: sent not strict.
            let judged = await Cloud.run(client, Cloud.request("gpt-test", schema: Cloud.verdictSchema))
            #expect(judged.error == nil)
            #expect(judged.tokens.count > 1)  // JSON arrives in pieces
            let verdict = try JSONDecoder().decode(JSONValue.self, from: Data(judged.text.utf8))
            #expect(verdict["verdict"] == .string("approve"))
            let format = try #require(standIn.chats.last?.body?["response_format"])
            #expect(format["type"] == .string("json_schema"))
            #expect(format["json_schema"]?["name"] == .string("output"))
            #expect(format["json_schema"]?["strict"] == .bool(false))
            #expect(format["json_schema"]?["schema"]?["required"] == .array([.string("verdict"), .string("feedback")]))

            // A schema within the subset goes strict, and the stand-in (like OpenAI) accepts it.
            let strict = await Cloud.run(client, Cloud.request("gpt-test", schema: Cloud.strictSchema))
            #expect(strict.error == nil)
            #expect(standIn.chats.last?.body?["response_format"]?["json_schema"]?["strict"] == .bool(true))

            // Without a schema, no response_format.
            _ = await Cloud.run(client, Cloud.request("gpt-test"))
            #expect(standIn.chats.last?.body?["response_format"] == nil)
        }
    }

    @Test("C-B4: the stand-in's strict check refuses what OpenAI refuses, in its words")
    func strictCompatibilityFollowsOpenAIsRules() {
        #expect(OpenAIStandIn.strictProblem(Cloud.strictSchema, context: "()") == nil)
        let open: JSONValue = .object([
            ("type", .string("object")), ("properties", .object([("a", .object([("type", .string("string"))]))])),
        ])
        #expect(OpenAIStandIn.strictProblem(open, context: "()")?.contains("additionalProperties") == true)
        #expect(
            OpenAIStandIn.strictProblem(Self.listSchema, context: "()")
                == "schema must be a JSON Schema of 'type: \"object\"', got 'type: \"array\"'.")
        #expect(
            OpenAIStandIn.strictProblem(Self.defaultedSchema, context: "()")
                == "In context=('properties', 'placeholder'), 'default' is not permitted.")
        // The client agrees with the stand-in on both.
        #expect(!OpenAICompatibleClient.isStrictCompatible(Self.listSchema))
        #expect(!OpenAICompatibleClient.isStrictCompatible(Self.defaultedSchema))
        #expect(OpenAICompatibleClient.isStrictCompatible(OpenAICompatibleClient.wrap(Self.listSchema)))
    }

    @Test func openAIModelListNeedsTheKey() async throws {
        try await OpenAIStandIn.with(apiKey: Cloud.openAIKey, models: [.init("gpt-a"), .init("gpt-b")]) { standIn in
            let listed = try await Cloud.openAI(standIn).models()
            #expect(listed == ["gpt-a", "gpt-b"])
            let denied = await Cloud.thrown { try await Cloud.openAI(standIn, key: "sk-wrong-key-0000000000000").models() }
            #expect(denied?.code == .httpStatus)
            #expect(denied?.message.contains("sk-wrong-key-0000000000000") == false)
        }
    }

    @Test func openAIBadRequestsArePermanentAndCarryTheAPIsMessage() async throws {
        try await OpenAIStandIn.with(apiKey: Cloud.openAIKey, models: [.init("gpt-test")]) { standIn in
            // llama.cpp's dialect sends top_k, which OpenAI does not know.
            let llamaStyle = Cloud.openAI(standIn, dialect: .llamaCpp)
            let unknownField = await Cloud.run(llamaStyle, Cloud.request("gpt-test", settings: StageSettings(topK: 40)))
            let error = try #require(unknownField.runtimeError)
            #expect(error.code == .httpStatus)
            #expect(!error.isTransient)
            #expect(error.message.contains("Unrecognized request argument supplied: top_k"))

            let hot = await Cloud.run(Cloud.openAI(standIn), Cloud.request("gpt-test", settings: StageSettings(temperature: 2.5)))
            #expect(hot.runtimeError?.isTransient == false)
            #expect(hot.runtimeError?.message.contains("Invalid 'temperature'") == true)
        }
    }

    @Test func openAIUnknownModelIsModelNotFoundAndAWrongURLIsNot() async throws {
        try await OpenAIStandIn.with(apiKey: Cloud.openAIKey, models: [.init("gpt-test")]) { standIn in
            let missing = await Cloud.run(Cloud.openAI(standIn), Cloud.request("gpt-nope"))
            #expect(missing.runtimeError?.code == .modelNotFound)
            #expect(missing.runtimeError?.isTransient == false)
            #expect(missing.runtimeError?.message.contains("gpt-nope") == true)

            let wrongPath = OpenAICompatibleClient(
                chatURL: standIn.baseURL + "/chat/completionz", apiKey: Cloud.openAIKey, dialect: .openAI)
            let lost = await Cloud.run(wrongPath, Cloud.request("gpt-test"))
            #expect(lost.runtimeError?.code == .httpStatus)
            #expect(lost.runtimeError?.isTransient == false)
            #expect(lost.runtimeError?.message.contains("check the runtime's url") == true)
        }
    }

    @Test func openAIWrongKeyIsPermanentAndTheKeyNeverAppears() async throws {
        let wrong = "sk-proj-WRONG-9876543210fedcbaQRST"
        try await OpenAIStandIn.with(apiKey: Cloud.openAIKey, models: [.init("gpt-test")]) { standIn in
            let failed = await Cloud.run(Cloud.openAI(standIn, key: wrong), Cloud.request("gpt-test"))
            let error = try #require(failed.runtimeError)
            #expect(error.code == .httpStatus)
            #expect(!error.isTransient)
            // The stand-in echoed the whole key; the client scrubbed it.
            #expect(!error.message.contains(wrong))
            #expect(!"\(error)".contains(wrong))
            #expect(error.message.contains("Incorrect API key provided: [redacted]"))
            #expect(error.message.contains("set OPENAI_TEST_KEY"))
            #expect(standIn.chats.last?.header("authorization") == "Bearer \(wrong)")  // it was really sent
            // A printed client does not show it either.
            #expect(!"\(Cloud.openAI(standIn, key: wrong))".contains(wrong))
        }
    }

    @Test func theScrubberAlsoCatchesMaskedEchoes() async throws {
        // OpenAI's real 401 masks the middle of the key: "sk-proj-****…QRST".
        let key = "sk-proj-WRONG-9876543210fedcbaQRST"
        try await OpenAIStandIn.with(apiKey: Cloud.openAIKey, models: [.init("gpt-test")]) { standIn in
            standIn.inject(
                .status(
                    401,
                    message:
                        "Incorrect API key provided: sk-proj-************************QRST. You can find your API key at https://platform.openai.com/account/api-keys."
                ))
            let failed = await Cloud.run(Cloud.openAI(standIn, key: key), Cloud.request("gpt-test"))
            let message = try #require(failed.runtimeError?.message)
            #expect(!message.contains("QRST"))
            #expect(message.contains("Incorrect API key provided: [redacted]"))
            #expect(message.contains("https://platform.openai.com/account/api-keys"))
        }
    }

    @Test func openAIStreamCutMidwayIsTransient() async throws {
        try await OpenAIStandIn.with(apiKey: Cloud.openAIKey, models: [.init("gpt-test")]) { standIn in
            let client = Cloud.openAI(standIn)

            standIn.inject(.cutStream(afterTokens: 3))
            let cut = await Cloud.run(client, Cloud.request("gpt-test"))
            // A cut connection may drop what was still buffered: what arrived is a prefix of the three tokens sent.
            #expect(["You ", "said: ", "Write "].starts(with: cut.tokens))
            #expect(cut.usage == nil)
            #expect(cut.runtimeError?.code == .badResponse)
            #expect(cut.runtimeError?.isTransient == true)

            standIn.inject(.endEarly(afterTokens: 2))
            let early = await Cloud.run(client, Cloud.request("gpt-test"))
            #expect(early.tokens.count == 2)
            #expect(early.runtimeError?.code == .badResponse)
            #expect(early.runtimeError?.isTransient == true)

            standIn.inject(
                .errorEvent(afterTokens: 1, type: "server_error", message: "The server had an error while processing your request."))
            let broken = await Cloud.run(client, Cloud.request("gpt-test"))
            #expect(broken.tokens.count == 1)
            #expect(broken.runtimeError?.isTransient == true)
            #expect(broken.runtimeError?.message.contains("The server had an error") == true)
        }
    }

    // MARK: - Findings of the cloud fidelity study

    static let listSchema: JSONValue = .object([("type", .string("array")), ("items", .object([("type", .string("string"))]))])

    static let defaultedSchema: JSONValue = .object([
        ("type", .string("object")),
        ("properties", .object([("placeholder", .object([("type", .string("string")), ("default", .string("none"))]))])),
        ("required", .array([.string("placeholder")])),
        ("additionalProperties", .bool(false)),
    ])

    @Test("C-A2: a GPT-5 model gets no temperature, top_p or stop; each is named in a setting-dropped notice")
    func reasoningModelsGetOnlyTheDefaultSampling() async throws {
        try await OpenAIStandIn.with(apiKey: Cloud.openAIKey, models: [.init("gpt-5-mini"), .init("o3")]) { standIn in
            let settings = StageSettings(temperature: 0.2, topP: 0.9, maxTokens: 50, seed: 7, stop: ["END"])
            let outcome = await Cloud.run(Cloud.openAI(standIn), Cloud.request("gpt-5-mini", settings: settings))
            #expect(outcome.error == nil)
            let body = try #require(standIn.chats.last?.body)
            #expect(body["temperature"] == nil)
            #expect(body["top_p"] == nil)
            #expect(body["stop"] == nil)
            #expect(body["seed"] == .number(7))
            #expect(body["max_completion_tokens"] == .number(50))
            #expect(outcome.notices.map(\.code) == ["setting-dropped", "setting-dropped", "setting-dropped"])
            let messages = outcome.notices.map(\.message)
            #expect(messages[0].contains("model 'gpt-5-mini'") && messages[0].contains("temperature 0.2"))
            #expect(messages[1].contains("top_p 0.9"))
            #expect(messages[2].contains("stop [\"END\"]"))

            // The default temperature is accepted, so it is sent.
            let one = await Cloud.run(Cloud.openAI(standIn), Cloud.request("o3", settings: StageSettings(temperature: 1)))
            #expect(one.error == nil)
            #expect(one.notices.isEmpty)
            #expect(standIn.chats.last?.body?["temperature"] == .number(1))
        }
    }

    @Test("C-A12: more than 4 stop sequences: the first 4 are sent, with a notice")
    func stopIsCutToFourSequences() async throws {
        try await OpenAIStandIn.with(apiKey: Cloud.openAIKey, models: [.init("gpt-4.1-mini")]) { standIn in
            let stop = ["a", "b", "c", "d", "e"]
            let outcome = await Cloud.run(Cloud.openAI(standIn), Cloud.request("gpt-4.1-mini", settings: StageSettings(stop: stop)))
            #expect(outcome.error == nil)
            #expect(standIn.chats.last?.body?["stop"] == .array(["a", "b", "c", "d"].map(JSONValue.string)))
            #expect(outcome.notices.count == 1)
            #expect(outcome.notices.first?.message.contains("at most 4") == true)
        }
    }

    @Test("C-B1: the OpenAI stand-in refuses what reasoning models refuse, with the real error bodies")
    func theStandInRefusesReasoningModelSettings() async throws {
        try await OpenAIStandIn.with(apiKey: Cloud.openAIKey, models: [.init("gpt-5"), .init("o4-mini"), .init("gpt-4.1")]) { standIn in
            let messages = [["role": "user", "content": "Hi"]]
            let hot = try await Cloud.rawOpenAI(standIn, ["model": "gpt-5", "messages": messages, "temperature": 0.5])
            #expect(hot.status == 400)
            #expect(
                hot.text.contains(
                    "Unsupported value: 'temperature' does not support 0.5 with this model. Only the default (1) value is supported."))
            #expect(hot.text.contains("unsupported_value"))
            let stop = try await Cloud.rawOpenAI(standIn, ["model": "o4-mini", "messages": messages, "stop": ["END"]])
            #expect(stop.status == 400)
            #expect(stop.text.contains("'stop' is not supported with this model"))
            let many = try await Cloud.rawOpenAI(standIn, ["model": "gpt-4.1", "messages": messages, "stop": ["a", "b", "c", "d", "e"]])
            #expect(many.status == 400)
            #expect(many.text.contains("maximum length 4"))
            let old = try await Cloud.rawOpenAI(standIn, ["model": "gpt-5", "messages": messages, "max_tokens": 10])
            #expect(old.status == 400)
            #expect(old.text.contains("Use 'max_completion_tokens' instead."))
            let fine = try await Cloud.rawOpenAI(standIn, ["model": "gpt-4.1", "messages": messages, "temperature": 0.5, "top_p": 0.9])
            #expect(fine.status == 200)
        }
    }

    @Test("C-A4: a refusal in delta.refusal is reported as refused, with its text, and is not output")
    func aRefusalIsReportedNotAnswered() async throws {
        let refusal = "I'm sorry, I can't help with that."
        try await OpenAIStandIn.with(apiKey: Cloud.openAIKey, models: [.init("gpt-4.1-mini", refusal: refusal)]) { standIn in
            let outcome = await Cloud.run(Cloud.openAI(standIn), Cloud.request("gpt-4.1-mini", schema: Cloud.strictSchema))
            #expect(outcome.error == nil)  // the executor decides: a refusal fails the stage at once
            #expect(outcome.text.isEmpty)
            #expect(outcome.finish == FinishReason(.refused, raw: "refusal", detail: refusal))
        }
    }

    @Test("C-A4: finish_reason content_filter is reported as filtered")
    func aContentFilterIsReported() async throws {
        try await OpenAIStandIn.with(apiKey: Cloud.openAIKey, models: [.init("gpt-4.1-mini", finishReason: "content_filter")]) { standIn in
            let outcome = await Cloud.run(Cloud.openAI(standIn), Cloud.request("gpt-4.1-mini"))
            #expect(outcome.error == nil)
            #expect(outcome.finish == FinishReason(.filtered, raw: "content_filter"))
        }
    }

    @Test("C-B2: the stand-in streams a refusal in delta.refusal, never in content, and ends it with stop")
    func theStandInStreamsRefusalsAsOpenAIDoes() async throws {
        try await OpenAIStandIn.with(apiKey: Cloud.openAIKey, models: [.init("gpt-4.1-mini", refusal: "No.")]) { standIn in
            let answer = try await Cloud.rawOpenAI(
                standIn, ["model": "gpt-4.1-mini", "messages": [["role": "user", "content": "Hi"]], "stream": true])
            #expect(answer.text.contains(#""refusal":"No.""#))
            #expect(!answer.text.contains(#""content":"No.""#))
            #expect(answer.text.contains(#""finish_reason":"stop""#))
        }
    }

    @Test("C-A6: an array schema is wrapped in an object for strict mode, and the value comes back unwrapped")
    func aNonObjectRootIsWrapped() async throws {
        let model = OpenAIStandIn.Model("gpt-4.1-mini", answer: #"{"value":["a","b"]}"#)
        try await OpenAIStandIn.with(apiKey: Cloud.openAIKey, models: [model]) { standIn in
            let outcome = await Cloud.run(Cloud.openAI(standIn), Cloud.request("gpt-4.1-mini", schema: Self.listSchema))
            #expect(outcome.error == nil)
            #expect(outcome.text == #"["a","b"]"#)
            let format = try #require(standIn.chats.last?.body?["response_format"]?["json_schema"])
            #expect(format["strict"] == .bool(true))
            #expect(format["schema"]?["type"] == .string("object"))
            #expect(format["schema"]?["properties"]?["value"]?.keysSorted == Self.listSchema.keysSorted)
        }
    }

    @Test("C-A6: a schema with default is sent with strict false, which the stand-in accepts")
    func aSchemaStrictModeRefusesIsNotStrict() async throws {
        try await OpenAIStandIn.with(apiKey: Cloud.openAIKey, models: [.init("gpt-4.1-mini")]) { standIn in
            let outcome = await Cloud.run(Cloud.openAI(standIn), Cloud.request("gpt-4.1-mini", schema: Self.defaultedSchema))
            #expect(outcome.error == nil)
            #expect(standIn.chats.last?.body?["response_format"]?["json_schema"]?["strict"] == .bool(false))
            // Sent strict, the stand-in refuses it as OpenAI does.
            let refused = try await Cloud.rawOpenAI(
                standIn,
                [
                    "model": "gpt-4.1-mini", "messages": [["role": "user", "content": "Hi"]],
                    "response_format": [
                        "type": "json_schema",
                        "json_schema": ["name": "output", "strict": true, "schema": OpenAICompatibleClient.foundation(Self.listSchema)],
                    ] as [String: Any],
                ])
            #expect(refused.status == 400)
            #expect(refused.text.contains("schema must be a JSON Schema of 'type: \\\"object\\\"'"))
        }
    }

    @Test("C-A7: a compatible server gets max_tokens; OpenAI itself, and reasoning models anywhere, max_completion_tokens")
    func theDialectDecidesTheTokenLimitField() async throws {
        try await OpenAIStandIn.with(apiKey: Cloud.openAIKey, models: [.init("gpt-4.1-mini"), .init("gpt-5-mini")]) { standIn in
            let generic = Cloud.openAI(standIn, dialect: .compatible)
            #expect(await Cloud.run(generic, Cloud.request("gpt-4.1-mini", settings: StageSettings(topK: 40, maxTokens: 20))).error == nil)
            let body = try #require(standIn.chats.last?.body)
            #expect(body["max_tokens"] == .number(20))
            #expect(body["max_completion_tokens"] == nil)
            #expect(body["top_k"] == nil)
            #expect(await Cloud.run(generic, Cloud.request("gpt-5-mini", settings: StageSettings(maxTokens: 20))).error == nil)
            #expect(standIn.chats.last?.body?["max_completion_tokens"] == .number(20))
        }
        #expect(try RuntimeCatalog.openAIDialect(url: "https://api.openai.com/v1", options: [:], runtime: "openai") == .openAI)
        #expect(try RuntimeCatalog.openAIDialect(url: "https://api.together.xyz/v1", options: [:], runtime: "together") == .compatible)
        #expect(try RuntimeCatalog.openAIDialect(url: "https://proxy.example/v1", options: ["api": "openai"], runtime: "p") == .openAI)
        #expect(
            try RuntimeCatalog.openAIDialect(url: "https://api.openai.com/v1", options: ["api": "compatible"], runtime: "o") == .compatible)
        let wrong = await Cloud.thrown {
            try RuntimeCatalog.openAIDialect(url: "https://x.example/v1", options: ["api": "azure"], runtime: "x")
        }
        #expect(wrong?.message.contains("use 'openai'") == true)
    }

    @Test("C-A8: a mid-stream invalid_request_error is permanent; a server_error is transient")
    func midStreamErrorsAreTransientOnlyWhenTheirTypeSaysSo() async throws {
        try await OpenAIStandIn.with(apiKey: Cloud.openAIKey, models: [.init("gpt-test")]) { standIn in
            standIn.inject(.errorEvent(afterTokens: 1, type: "invalid_request_error", message: "Invalid prompt."))
            let invalid = await Cloud.run(Cloud.openAI(standIn), Cloud.request("gpt-test"))
            #expect(invalid.runtimeError?.isTransient == false)
            #expect(invalid.runtimeError?.message.contains("Invalid prompt.") == true)
            standIn.inject(.errorEvent(afterTokens: 1, type: "server_error", message: "The server had an error."))
            #expect(await Cloud.run(Cloud.openAI(standIn), Cloud.request("gpt-test")).runtimeError?.isTransient == true)
        }
    }

    @Test("C-A9: chunks that carry \"error\": null are not errors")
    func aNullErrorIsNoError() async throws {
        try await OpenAIStandIn.with(apiKey: Cloud.openAIKey, models: [.init("gpt-test")], quirks: .init(nullErrorOnChunks: true)) {
            standIn in
            let outcome = await Cloud.run(Cloud.openAI(standIn), Cloud.request("gpt-test"))
            #expect(outcome.error == nil)
            #expect(outcome.text == "You said: Write a short poem about the quiet sea")
        }
    }

    @Test("C-A10: streams with CR or CRLF line breaks read like LF ones", arguments: ["\r", "\r\n"])
    func anySSELineBreakIsALineBreak(_ lineBreak: String) async throws {
        try await OpenAIStandIn.with(apiKey: Cloud.openAIKey, models: [.init("gpt-test")], quirks: .init(lineBreak: lineBreak)) { standIn in
            let outcome = await Cloud.run(Cloud.openAI(standIn), Cloud.request("gpt-test"))
            #expect(outcome.error == nil)
            #expect(outcome.text == "You said: Write a short poem about the quiet sea")
            #expect(outcome.usage?.outputTokens == 10)
        }
    }

    @Test("C-B8: a CRLF split between two chunks is one line break")
    func aCRLFAcrossChunksIsOneBreak() async throws {
        let chunks = ["data: a\r", "\ndata: b\r\n", "\r\ndata: c"].map { Data($0.utf8) }
        let body = AsyncThrowingStream<Data, any Error> { continuation in
            for chunk in chunks { continuation.yield(chunk) }
            continuation.finish()
        }
        var lines: [String] = []
        for try await line in HTTPResponse(status: 200, body: body).lines { lines.append(line) }
        #expect(lines == ["data: a", "data: b", "", "data: c"])
    }

    @Test("C-A14: a 403 names the region and the account, not only the key")
    func aForbiddenIsNotAlwaysTheKey() async throws {
        try await OpenAIStandIn.with(apiKey: Cloud.openAIKey, models: [.init("gpt-test")]) { standIn in
            standIn.inject(.status(403))
            let error = try #require(await Cloud.run(Cloud.openAI(standIn), Cloud.request("gpt-test")).runtimeError)
            #expect(error.message.contains("Country, region, or territory not supported"))
            #expect(error.message.contains("a region it does not serve"))
            #expect(!error.message.contains("refused access with this API key"))
        }
    }

    @Test("C-B9: the stand-in accepts every Chat Completions field of the spec, such as prompt_cache_retention")
    func theStandInKnowsTheSpecsFields() async throws {
        try await OpenAIStandIn.with(apiKey: Cloud.openAIKey, models: [.init("gpt-4.1-mini")]) { standIn in
            let messages = [["role": "user", "content": "Hi"]]
            for field in ["prompt_cache_retention", "moderation", "function_call"] {
                let answer = try await Cloud.rawOpenAI(standIn, ["model": "gpt-4.1-mini", "messages": messages, field: "auto"])
                #expect(answer.status == 200, "\(field): \(answer.text)")
            }
            let unknown = try await Cloud.rawOpenAI(standIn, ["model": "gpt-4.1-mini", "messages": messages, "top_k": 40])
            #expect(unknown.text.contains("Unrecognized request argument supplied: top_k"))
        }
    }

    @Test("C-A13: a stream that ends after its finish chunk, before the usage chunk, keeps the whole answer without counts")
    func aStreamCutAfterTheFinishIsWhole() async throws {
        try await OpenAIStandIn.with(apiKey: Cloud.openAIKey, models: [.init("gpt-test")]) { standIn in
            standIn.inject(.endAfterFinish)
            let outcome = await Cloud.run(Cloud.openAI(standIn), Cloud.request("gpt-test"))
            #expect(outcome.error == nil)
            #expect(outcome.text == "You said: Write a short poem about the quiet sea")
            #expect(outcome.finish == FinishReason(.complete, raw: "stop"))
            #expect(outcome.usage?.outputTokens == nil)
        }
    }
}
