import BatonEngine
import BatonSpec
import BatonTestSupport
import Foundation
import Testing

/// The OpenAI and Anthropic clients against local stand-ins of their APIs: what goes on the wire,
/// streaming and usage, structured output, every error mapping and whether a retry is allowed, a stream
/// cut mid-way, keys scrubbed from errors, and keys found (or missing) through the runtime catalog.
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

    static func openAI(_ standIn: OpenAIStandIn, key: String = CloudClientTests.openAIKey, dialect: OpenAICompatibleClient.Dialect = .openAI)
        -> OpenAICompatibleClient
    {
        OpenAICompatibleClient(
            chatURL: standIn.baseURL + "/chat/completions", apiKey: key, keyHint: "set OPENAI_TEST_KEY", dialect: dialect, connectTimeout: 10)
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

    // MARK: - OpenAI: generation

    @Test func openAIStreamsTokensAndUsageWithTheKeyInABearerHeader() async throws {
        try await OpenAIStandIn.with(apiKey: Self.openAIKey, models: [.init("gpt-test")]) { standIn in
            let settings = StageSettings(temperature: 0.3, topP: 0.9, topK: 40, maxTokens: 50, seed: 7, stop: ["END"])
            let outcome = await Self.run(Self.openAI(standIn), Self.request("gpt-test", system: "Be brief.", settings: settings))

            #expect(outcome.error == nil)
            #expect(outcome.text == "You said: Write a short poem about the quiet sea")
            #expect(outcome.tokens.count == 10)
            #expect(outcome.usage?.promptTokens == 10)  // "Be brief." and the prompt's 8 words
            #expect(outcome.usage?.outputTokens == 10)

            let sent = try #require(standIn.chats.last)
            #expect(sent.header("authorization") == "Bearer \(Self.openAIKey)")
            #expect(sent.header("content-type") == "application/json")
            let body = try #require(sent.body)
            #expect(body["stream"] == .bool(true))
            #expect(body["stream_options"]?["include_usage"] == .bool(true))
            #expect(body["messages"]?.keysSorted == .array([
                .object([("content", .string("Be brief.")), ("role", .string("system"))]),
                .object([("content", .string(Self.prompt)), ("role", .string("user"))]),
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

    @Test func openAIMaxTokensCutsTheAnswerAndNoSystemMeansNoSystemMessage() async throws {
        try await OpenAIStandIn.with(apiKey: Self.openAIKey, models: [.init("gpt-test")]) { standIn in
            let outcome = await Self.run(Self.openAI(standIn), Self.request("gpt-test", settings: StageSettings(maxTokens: 3)))
            #expect(outcome.error == nil)
            #expect(outcome.tokens == ["You ", "said: ", "Write "])
            #expect(outcome.usage?.outputTokens == 3)
            guard case .array(let messages)? = standIn.chats.last?.body?["messages"] else { Issue.record("no messages"); return }
            #expect(messages.map { $0["role"] } == [.string("user")])
        }
    }

    @Test func openAIStructuredOutputIsAJSONSchemaResponseFormat() async throws {
        try await OpenAIStandIn.with(apiKey: Self.openAIKey, models: [.init("gpt-test")]) { standIn in
            let client = Self.openAI(standIn)

            // The verdict schema bounds feedback with maxLength, outside strict mode's subset: sent not strict.
            let judged = await Self.run(client, Self.request("gpt-test", schema: Self.verdictSchema))
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
            let strict = await Self.run(client, Self.request("gpt-test", schema: Self.strictSchema))
            #expect(strict.error == nil)
            #expect(standIn.chats.last?.body?["response_format"]?["json_schema"]?["strict"] == .bool(true))

            // Without a schema, no response_format.
            _ = await Self.run(client, Self.request("gpt-test"))
            #expect(standIn.chats.last?.body?["response_format"] == nil)
        }
    }

    @Test func strictCompatibilityFollowsOpenAIsRules() {
        #expect(OpenAIStandIn.strictProblem(Self.strictSchema, context: "()") == nil)
        let open: JSONValue = .object([("type", .string("object")), ("properties", .object([("a", .object([("type", .string("string"))]))]))])
        #expect(OpenAIStandIn.strictProblem(open, context: "()")?.contains("additionalProperties") == true)
    }

    @Test func openAIModelListNeedsTheKey() async throws {
        try await OpenAIStandIn.with(apiKey: Self.openAIKey, models: [.init("gpt-a"), .init("gpt-b")]) { standIn in
            let listed = try await Self.openAI(standIn).models()
            #expect(listed == ["gpt-a", "gpt-b"])
            let denied = await Self.thrown { try await Self.openAI(standIn, key: "sk-wrong-key-0000000000000").models() }
            #expect(denied?.code == .httpStatus)
            #expect(denied?.message.contains("sk-wrong-key-0000000000000") == false)
        }
    }

    // MARK: - OpenAI: errors

    struct StatusCase: Sendable, CustomStringConvertible {
        var status: Int
        var code: RuntimeError.Code
        var transient: Bool
        var description: String { "\(status)" }
    }

    static let openAIStatuses: [StatusCase] = [
        .init(status: 400, code: .httpStatus, transient: false), .init(status: 401, code: .httpStatus, transient: false),
        .init(status: 403, code: .httpStatus, transient: false), .init(status: 404, code: .modelNotFound, transient: false),
        .init(status: 429, code: .httpStatus, transient: true), .init(status: 500, code: .httpStatus, transient: true),
        .init(status: 503, code: .httpStatus, transient: true),
    ]

    @Test(arguments: openAIStatuses)
    func openAIStatusesMapToCodesAndTransience(_ expected: StatusCase) async throws {
        try await OpenAIStandIn.with(apiKey: Self.openAIKey, models: [.init("gpt-test")]) { standIn in
            standIn.inject(.status(expected.status))
            let failed = await Self.run(Self.openAI(standIn), Self.request("gpt-test"))
            let error = try #require(failed.runtimeError)
            #expect(error.code == expected.code)
            #expect(error.isTransient == expected.transient)
            #expect(error.message.contains(standIn.baseURL))
            #expect(failed.tokens.isEmpty)
            // The fault was for one request: the next one succeeds.
            let next = await Self.run(Self.openAI(standIn), Self.request("gpt-test"))
            #expect(next.error == nil)
        }
    }

    @Test func openAIFaultsLastForTheScriptedNumberOfRequests() async throws {
        try await OpenAIStandIn.with(apiKey: Self.openAIKey, models: [.init("gpt-test")]) { standIn in
            standIn.inject(.status(503, count: 2))
            let client = Self.openAI(standIn)
            let first = await Self.run(client, Self.request("gpt-test"))
            let second = await Self.run(client, Self.request("gpt-test"))
            let third = await Self.run(client, Self.request("gpt-test"))
            #expect(first.runtimeError?.message.contains("503") == true)
            #expect(first.runtimeError?.message.contains("The engine is currently overloaded") == true)
            #expect(second.runtimeError?.isTransient == true)
            #expect(third.error == nil)
        }
    }

    @Test func aRateLimitCarriesTheWaitTheAPIAsksFor() async throws {
        try await OpenAIStandIn.with(apiKey: Self.openAIKey, models: [.init("gpt-test")]) { openAI in
            openAI.inject(.status(429))
            let limited = await Self.run(Self.openAI(openAI), Self.request("gpt-test"))
            #expect(limited.runtimeError?.isTransient == true)
            #expect(limited.runtimeError?.retryAfter == 1)
        }
        try await AnthropicStandIn.with(apiKey: Self.anthropicKey, models: [.init("claude-test")]) { anthropic in
            anthropic.inject(.status(429))
            let limited = await Self.run(Self.anthropic(anthropic), Self.request("claude-test"))
            #expect(limited.runtimeError?.retryAfter == 1)
            anthropic.inject(.status(500))
            let failed = await Self.run(Self.anthropic(anthropic), Self.request("claude-test"))
            #expect(failed.runtimeError?.isTransient == true)
            #expect(failed.runtimeError?.retryAfter == nil)
        }
    }

    @Test func retryAfterReadsSecondsAndHTTPDates() {
        let now = Date(timeIntervalSince1970: 1_780_000_000)
        func response(_ value: String) -> HTTPResponse {
            HTTPResponse(status: 429, body: AsyncThrowingStream { $0.finish() }, headers: [("retry-after", value)])
        }
        #expect(response("7").retryAfter(now: now) == 7)
        #expect(response("86400").retryAfter(now: now) == 600)
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "GMT")
        formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss 'GMT'"
        #expect(response(formatter.string(from: now.addingTimeInterval(30))).retryAfter(now: now) == 30)
        #expect(response("soon").retryAfter(now: now) == nil)
        #expect(HTTPResponse(status: 429, body: AsyncThrowingStream { $0.finish() }).retryAfter(now: now) == nil)
    }

    @Test func openAIExhaustedQuotaIsNotRetried() async throws {
        try await OpenAIStandIn.with(apiKey: Self.openAIKey, models: [.init("gpt-test")]) { standIn in
            // A 429 is usually a rate limit (retry later), but not when the account's quota is used up.
            standIn.inject(
                .status(429, message: "You exceeded your current quota, please check your plan and billing details.", code: "insufficient_quota"))
            let failed = await Self.run(Self.openAI(standIn), Self.request("gpt-test"))
            #expect(failed.runtimeError?.isTransient == false)
            #expect(failed.runtimeError?.message.contains("quota") == true)
        }
    }

    @Test func openAIBadRequestsArePermanentAndCarryTheAPIsMessage() async throws {
        try await OpenAIStandIn.with(apiKey: Self.openAIKey, models: [.init("gpt-test")]) { standIn in
            // llama.cpp's dialect sends top_k, which OpenAI does not know.
            let llamaStyle = Self.openAI(standIn, dialect: .llamaCpp)
            let unknownField = await Self.run(llamaStyle, Self.request("gpt-test", settings: StageSettings(topK: 40)))
            let error = try #require(unknownField.runtimeError)
            #expect(error.code == .httpStatus)
            #expect(!error.isTransient)
            #expect(error.message.contains("Unrecognized request argument supplied: top_k"))

            let hot = await Self.run(Self.openAI(standIn), Self.request("gpt-test", settings: StageSettings(temperature: 2.5)))
            #expect(hot.runtimeError?.isTransient == false)
            #expect(hot.runtimeError?.message.contains("Invalid 'temperature'") == true)
        }
    }

    @Test func openAIUnknownModelIsModelNotFoundAndAWrongURLIsNot() async throws {
        try await OpenAIStandIn.with(apiKey: Self.openAIKey, models: [.init("gpt-test")]) { standIn in
            let missing = await Self.run(Self.openAI(standIn), Self.request("gpt-nope"))
            #expect(missing.runtimeError?.code == .modelNotFound)
            #expect(missing.runtimeError?.isTransient == false)
            #expect(missing.runtimeError?.message.contains("gpt-nope") == true)

            let wrongPath = OpenAICompatibleClient(chatURL: standIn.baseURL + "/chat/completionz", apiKey: Self.openAIKey, dialect: .openAI)
            let lost = await Self.run(wrongPath, Self.request("gpt-test"))
            #expect(lost.runtimeError?.code == .httpStatus)
            #expect(lost.runtimeError?.isTransient == false)
            #expect(lost.runtimeError?.message.contains("check the runtime's url") == true)
        }
    }

    @Test func openAIWrongKeyIsPermanentAndTheKeyNeverAppears() async throws {
        let wrong = "sk-proj-WRONG-9876543210fedcbaQRST"
        try await OpenAIStandIn.with(apiKey: Self.openAIKey, models: [.init("gpt-test")]) { standIn in
            let failed = await Self.run(Self.openAI(standIn, key: wrong), Self.request("gpt-test"))
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
            #expect(!"\(Self.openAI(standIn, key: wrong))".contains(wrong))
        }
    }

    @Test func theScrubberAlsoCatchesMaskedEchoes() async throws {
        // OpenAI's real 401 masks the middle of the key: "sk-proj-****…QRST".
        let key = "sk-proj-WRONG-9876543210fedcbaQRST"
        try await OpenAIStandIn.with(apiKey: Self.openAIKey, models: [.init("gpt-test")]) { standIn in
            standIn.inject(.status(401, message: "Incorrect API key provided: sk-proj-************************QRST. You can find your API key at https://platform.openai.com/account/api-keys."))
            let failed = await Self.run(Self.openAI(standIn, key: key), Self.request("gpt-test"))
            let message = try #require(failed.runtimeError?.message)
            #expect(!message.contains("QRST"))
            #expect(message.contains("Incorrect API key provided: [redacted]"))
            #expect(message.contains("https://platform.openai.com/account/api-keys"))
        }
    }

    @Test func openAIStreamCutMidwayIsTransient() async throws {
        try await OpenAIStandIn.with(apiKey: Self.openAIKey, models: [.init("gpt-test")]) { standIn in
            let client = Self.openAI(standIn)

            standIn.inject(.cutStream(afterTokens: 3))
            let cut = await Self.run(client, Self.request("gpt-test"))
            // A cut connection may drop what was still buffered: what arrived is a prefix of the three tokens sent.
            #expect(["You ", "said: ", "Write "].starts(with: cut.tokens))
            #expect(cut.usage == nil)
            #expect(cut.runtimeError?.code == .badResponse)
            #expect(cut.runtimeError?.isTransient == true)

            standIn.inject(.endEarly(afterTokens: 2))
            let early = await Self.run(client, Self.request("gpt-test"))
            #expect(early.tokens.count == 2)
            #expect(early.runtimeError?.code == .badResponse)
            #expect(early.runtimeError?.isTransient == true)

            standIn.inject(.errorEvent(afterTokens: 1, type: "server_error", message: "The server had an error while processing your request."))
            let broken = await Self.run(client, Self.request("gpt-test"))
            #expect(broken.tokens.count == 1)
            #expect(broken.runtimeError?.isTransient == true)
            #expect(broken.runtimeError?.message.contains("The server had an error") == true)
        }
    }

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

    // MARK: - Anthropic: generation

    @Test func anthropicStreamsTokensAndUsageWithTheSystemPromptOnTop() async throws {
        try await AnthropicStandIn.with(apiKey: Self.anthropicKey, models: [.init("claude-test", cachedPromptTokens: 4)]) { standIn in
            let settings = StageSettings(temperature: 0.3, topP: 0.9, topK: 40, maxTokens: 50, seed: 7, stop: ["END"])
            let outcome = await Self.run(Self.anthropic(standIn), Self.request("claude-test", system: "Be brief.", settings: settings))

            #expect(outcome.error == nil)
            #expect(outcome.text == "You said: Write a short poem about the quiet sea")
            #expect(outcome.tokens.count == 10)
            // 10 prompt tokens, 4 of them read from the cache: input_tokens alone would say 6.
            #expect(outcome.usage?.promptTokens == 10)
            #expect(outcome.usage?.outputTokens == 10)  // from message_delta, not message_start's placeholder

            let sent = try #require(standIn.messages.last)
            #expect(sent.header("x-api-key") == Self.anthropicKey)
            #expect(sent.header("anthropic-version") == "2023-06-01")
            #expect(sent.header("content-type") == "application/json")
            #expect(sent.header("authorization") == nil)
            let body = try #require(sent.body)
            #expect(body["system"] == .string("Be brief."))
            #expect(body["messages"]?.keysSorted == .array([.object([("content", .string(Self.prompt)), ("role", .string("user"))])]))
            #expect(body["max_tokens"] == .number(50))
            #expect(body["stream"] == .bool(true))
            #expect(body["temperature"] == .number(0.3))
            #expect(body["top_p"] == .number(0.9))
            #expect(body["top_k"] == .number(40))
            #expect(body["stop_sequences"] == .array([.string("END")]))
            #expect(body["seed"] == nil)  // the API has none, and rejects unknown fields
            #expect(body["tools"] == nil)
        }
    }

    @Test func anthropicAlwaysSendsMaxTokens() async throws {
        try await AnthropicStandIn.with(apiKey: Self.anthropicKey, models: [.init("claude-test")]) { standIn in
            let defaulted = await Self.run(Self.anthropic(standIn), Self.request("claude-test"))
            #expect(defaulted.error == nil)
            #expect(standIn.messages.last?.body?["max_tokens"] == .number(Double(AnthropicClient.defaultMaxTokens)))
            #expect(standIn.messages.last?.body?["system"] == nil)

            let short = await Self.run(Self.anthropic(standIn), Self.request("claude-test", settings: StageSettings(maxTokens: 2)))
            #expect(short.error == nil)
            #expect(short.tokens == ["You ", "said: "])
            #expect(short.usage?.outputTokens == 2)
        }
    }

    @Test func anthropicStructuredOutputIsAForcedToolStreamedAsJSON() async throws {
        try await AnthropicStandIn.with(apiKey: Self.anthropicKey, models: [.init("claude-test")]) { standIn in
            let judged = await Self.run(Self.anthropic(standIn), Self.request("claude-test", schema: Self.verdictSchema))
            #expect(judged.error == nil)
            #expect(judged.tokens.count > 1)  // input_json_delta fragments, as they arrive
            #expect(!judged.tokens.contains(""))  // the API's opening empty fragment is not a token
            let verdict = try JSONDecoder().decode(JSONValue.self, from: Data(judged.text.utf8))
            #expect(verdict["verdict"] == .string("approve"))

            let body = try #require(standIn.messages.last?.body)
            guard case .array(let tools)? = body["tools"] else { Issue.record("no tools"); return }
            #expect(tools.count == 1)
            #expect(tools[0]["name"] == .string(AnthropicClient.outputTool))
            #expect(tools[0]["input_schema"]?.keysSorted == Self.verdictSchema.keysSorted)
            #expect(body["tool_choice"]?["type"] == .string("tool"))
            #expect(body["tool_choice"]?["name"] == .string(AnthropicClient.outputTool))
        }
    }

    @Test func anthropicWrapsASchemaThatIsNotAnObject() async throws {
        // A tool's input is always an object: an array schema goes under "value", and the value comes back.
        let model = AnthropicStandIn.Model("claude-test", answer: #"{"value": ["a", "b"]}"#)
        try await AnthropicStandIn.with(apiKey: Self.anthropicKey, models: [model]) { standIn in
            let list: JSONValue = .object([("type", .string("array")), ("items", .object([("type", .string("string"))]))])
            let outcome = await Self.run(Self.anthropic(standIn), Self.request("claude-test", schema: list))
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
        try await AnthropicStandIn.with(apiKey: Self.anthropicKey, models: [.init("claude-a"), .init("claude-b")]) { standIn in
            let listed = try await Self.anthropic(standIn).models()
            #expect(listed == ["claude-a", "claude-b"])
            #expect(standIn.requests.last?.header("anthropic-version") == "2023-06-01")
            let denied = await Self.thrown { try await Self.anthropic(standIn, key: "sk-ant-wrong-000000000000").models() }
            #expect(denied?.code == .httpStatus)
            #expect(denied?.message.contains("sk-ant-wrong-000000000000") == false)
        }
    }

    // MARK: - Anthropic: errors

    static let anthropicStatuses: [StatusCase] = [
        .init(status: 400, code: .httpStatus, transient: false), .init(status: 401, code: .httpStatus, transient: false),
        .init(status: 402, code: .httpStatus, transient: false), .init(status: 403, code: .httpStatus, transient: false),
        .init(status: 413, code: .httpStatus, transient: false), .init(status: 429, code: .httpStatus, transient: true),
        .init(status: 500, code: .httpStatus, transient: true), .init(status: 504, code: .httpStatus, transient: true),
        .init(status: 529, code: .httpStatus, transient: true),
    ]

    @Test(arguments: anthropicStatuses)
    func anthropicStatusesMapToCodesAndTransience(_ expected: StatusCase) async throws {
        try await AnthropicStandIn.with(apiKey: Self.anthropicKey, models: [.init("claude-test")]) { standIn in
            standIn.inject(.status(expected.status))
            let failed = await Self.run(Self.anthropic(standIn), Self.request("claude-test"))
            let error = try #require(failed.runtimeError)
            #expect(error.code == expected.code)
            #expect(error.isTransient == expected.transient)
            #expect(error.message.contains(standIn.baseURL))
            let next = await Self.run(Self.anthropic(standIn), Self.request("claude-test"))
            #expect(next.error == nil)
        }
    }

    @Test func anthropicOverloadedSaysSo() async throws {
        try await AnthropicStandIn.with(apiKey: Self.anthropicKey, models: [.init("claude-test")]) { standIn in
            standIn.inject(.status(529, count: 3))
            let client = Self.anthropic(standIn)
            var errors: [RuntimeError] = []
            for _ in 0..<3 { if let error = await Self.run(client, Self.request("claude-test")).runtimeError { errors.append(error) } }
            #expect(errors.count == 3)
            #expect(errors.allSatisfy { $0.isTransient && $0.message.contains("overloaded (529)") && $0.message.contains("Overloaded") })
            #expect(await Self.run(client, Self.request("claude-test")).error == nil)
        }
    }

    @Test func anthropicBadRequestsArePermanentAndCarryTheAPIsMessage() async throws {
        try await AnthropicStandIn.with(apiKey: Self.anthropicKey, models: [.init("claude-test")]) { standIn in
            // Baton allows temperatures up to 2; Anthropic only up to 1, and says so.
            let hot = await Self.run(Self.anthropic(standIn), Self.request("claude-test", settings: StageSettings(temperature: 1.5)))
            let error = try #require(hot.runtimeError)
            #expect(error.code == .httpStatus)
            #expect(!error.isTransient)
            #expect(error.message.contains("temperature: range: 0..1"))
            #expect(error.message.contains("invalid_request_error"))
        }
    }

    @Test func anthropicUnknownModelIsModelNotFound() async throws {
        try await AnthropicStandIn.with(apiKey: Self.anthropicKey, models: [.init("claude-test")]) { standIn in
            let missing = await Self.run(Self.anthropic(standIn), Self.request("claude-nope"))
            #expect(missing.runtimeError?.code == .modelNotFound)
            #expect(missing.runtimeError?.isTransient == false)
            #expect(missing.runtimeError?.message.contains("claude-nope") == true)
        }
    }

    @Test func anthropicWrongKeyIsPermanentAndTheKeyNeverAppears() async throws {
        let wrong = "sk-ant-api03-WRONG-9876543210fedcbaQRST"
        try await AnthropicStandIn.with(apiKey: Self.anthropicKey, models: [.init("claude-test")]) { standIn in
            let failed = await Self.run(Self.anthropic(standIn, key: wrong), Self.request("claude-test"))
            let error = try #require(failed.runtimeError)
            #expect(error.code == .httpStatus)
            #expect(!error.isTransient)
            #expect(!error.message.contains(wrong))
            #expect(error.message.contains("invalid x-api-key: [redacted]"))
            #expect(error.message.contains("set ANTHROPIC_TEST_KEY"))
            #expect(standIn.messages.last?.header("x-api-key") == wrong)  // it was really sent
            #expect(!"\(Self.anthropic(standIn, key: wrong))".contains(wrong))
        }
    }

    @Test func anthropicMidStreamFailures() async throws {
        try await AnthropicStandIn.with(apiKey: Self.anthropicKey, models: [.init("claude-test")]) { standIn in
            let client = Self.anthropic(standIn)

            standIn.inject(.cutStream(afterTokens: 3))
            let cut = await Self.run(client, Self.request("claude-test"))
            // A cut connection may drop what was still buffered: what arrived is a prefix of the three tokens sent.
            #expect(["You ", "said: ", "Write "].starts(with: cut.tokens))
            #expect(cut.usage == nil)
            #expect(cut.runtimeError?.code == .badResponse)
            #expect(cut.runtimeError?.isTransient == true)

            standIn.inject(.endEarly(afterTokens: 10))  // every token, but no message_stop
            let early = await Self.run(client, Self.request("claude-test"))
            #expect(early.tokens.count == 10)
            #expect(early.runtimeError?.code == .badResponse)
            #expect(early.runtimeError?.isTransient == true)

            standIn.inject(.errorEvent(afterTokens: 2, type: "overloaded_error", message: "Overloaded"))
            let overloaded = await Self.run(client, Self.request("claude-test"))
            #expect(overloaded.tokens.count == 2)
            #expect(overloaded.runtimeError?.isTransient == true)
            #expect(overloaded.runtimeError?.message.contains("overloaded_error: Overloaded") == true)

            standIn.inject(.errorEvent(afterTokens: 0, type: "invalid_request_error", message: "prompt is too long"))
            let invalid = await Self.run(client, Self.request("claude-test"))
            #expect(invalid.runtimeError?.isTransient == false)
            #expect(invalid.runtimeError?.message.contains("prompt is too long") == true)
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

    /// Keys from somewhere other than the environment (the key store's seam).
    struct FixedKeys: APIKeySource {
        var keys: [String: String]
        var failure: String?
        func apiKey(for runtime: RuntimeSpec) throws -> String? {
            if let failure { throw RuntimeError(.unreachable, failure, isTransient: false) }
            return keys[runtime.name]
        }
    }

    @Test func theCatalogTakesKeysFromItsKeySource() async throws {
        try await OpenAIStandIn.with(apiKey: Self.openAIKey, models: [.init("gpt-test")]) { openAI in
            try await AnthropicStandIn.with(apiKey: Self.anthropicKey, models: [.init("claude-test")]) { anthropic in
                let snapshot = try Self.snapshot(openAIURL: openAI.baseURL, anthropicURL: anthropic.baseURL)
                // The environment has other keys; the key source wins.
                let catalog = RuntimeCatalog(
                    environment: ["OPENAI_TEST_KEY": "sk-from-env", "ANTHROPIC_TEST_KEY": "sk-ant-from-env"],
                    keys: FixedKeys(keys: ["gpt": Self.openAIKey, "claude": Self.anthropicKey]))
                let gpt = try catalog.runtime(for: ResolvedModel(name: "gpt-test", runtime: "gpt", footprint: nil), snapshot: snapshot)
                let claude = try catalog.runtime(for: ResolvedModel(name: "claude-test", runtime: "claude", footprint: nil), snapshot: snapshot)
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
            let catalog = RuntimeCatalog(environment: ["ANTHROPIC_TEST_KEY": wrong])
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
                let catalog = RuntimeCatalog(environment: ["OPENAI_TEST_KEY": Self.openAIKey, "ANTHROPIC_TEST_KEY": Self.anthropicKey])
                let store = try RunStore.inMemory()
                let executor = Executor(store: store, runtimes: catalog, sleep: { _ in })
                let inputs = try RunInputs.resolve(snapshot.plan.inputs, given: ["task": "a parser"])

                // When
                let outcome = try await executor.start(snapshot, inputs: inputs, claim: .current())

                // Then the plan came from OpenAI and the verdict from Anthropic's forced tool
                guard case .completed(let id) = outcome else { Issue.record("\(outcome)"); return }
                let attempts = try store.attempts(id)
                #expect(attempts.map(\.stage) == ["plan", "review"])
                #expect(attempts[0].output == "You said: Plan a parser in three steps")
                #expect(attempts[1].verdict == "approve")
                #expect(attempts.allSatisfy { $0.outputTokens != nil })
                #expect(anthropic.messages.last?.body?["tool_choice"]?["name"] == .string(AnthropicClient.outputTool))
            }
        }
    }
}
