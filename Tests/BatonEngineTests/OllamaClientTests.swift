import BatonEngine
import BatonSpec
import BatonTestSupport
import Foundation
import Testing

/// The Ollama client against a local stand-in of Ollama's API: streaming, options and keep_alive,
/// loads and asynchronous unloads confirmed through /api/ps, reloads, errors, discovery, and a run.
@Suite struct OllamaClientTests {
    static let tiny = OllamaStandIn.Model("tiny", memoryBytes: 1_000_000_000, kvBytesPerToken: 100_000, contextLength: 8192)
    static let judge = OllamaStandIn.Model(
        "judge:3b", memoryBytes: 3_000_000_000, family: "qwen2", parameterSize: "3.1B", parameterCount: 3_085_938_688)

    static func client(_ standIn: OllamaStandIn, unloadTimeout: Double = 10) -> OllamaClient {
        OllamaClient(baseURL: standIn.baseURL, loadTimeout: 10, unloadTimeout: unloadTimeout, pollInterval: 0.02)
    }

    static func request(
        _ model: String, prompt: String = "Write a short poem about the quiet sea", system: String? = nil,
        settings: StageSettings = StageSettings(), schema: JSONValue? = nil
    ) -> GenerationRequest {
        GenerationRequest(model: model, system: system, prompt: prompt, settings: settings, responseSchema: schema, stage: "s", round: 1)
    }

    static func run(_ client: OllamaClient, _ request: GenerationRequest) async -> GenerationOutcome {
        await GenerationOutcome.of(client, request)
    }

    static func error(_ body: () async throws -> some Any) async -> RuntimeError? {
        await GenerationOutcome.runtimeError(body)
    }

    // MARK: - Generation

    @Test func streamsTokensThenUsageWithTimingsInMilliseconds() async throws {
        try await OllamaStandIn.with(models: [Self.tiny]) { standIn in
            let client = Self.client(standIn)

            // A cold model: Ollama loads it first and reports the load.
            let cold = await Self.run(client, Self.request("tiny", system: "Be brief."))
            #expect(cold.error == nil)
            #expect(cold.tokens.count == 10)
            #expect(cold.text == "You said: Write a short poem about the quiet sea")
            let usage = try #require(cold.usage)
            #expect(usage.promptTokens == 10)  // "Be brief." and the prompt's 8 words
            #expect(usage.outputTokens == 10)
            #expect(usage.runtimeTimings["prompt"] == 10)  // 1 ms per prompt token, sent as 10,000,000 ns
            #expect(usage.runtimeTimings["generation"] == 20)  // 2 ms per token
            let load = try #require(usage.runtimeTimings["runtime_load"])
            #expect(load > 0)
            #expect(abs((usage.runtimeTimings["total"] ?? 0) - load - 30) < 0.001)

            // Loaded now: Ollama still measures load_duration (never zero, O-B2), kept as runtime_load, never as a load.
            let warm = await Self.run(client, Self.request("tiny"))
            let warmLoad = try #require(warm.usage?.runtimeTimings["runtime_load"])
            #expect(warm.usage?.runtimeTimings["load"] == nil)
            #expect(abs((warm.usage?.runtimeTimings["total"] ?? 0) - warmLoad - 28) < 0.001)
            #expect(warm.usage?.promptTokens == 8)
        }
    }

    @Test func absentMetricsStayAbsent() async throws {
        var silent = Self.tiny
        silent.answer = ""
        try await OllamaStandIn.with(models: [silent]) { standIn in
            let outcome = await Self.run(Self.client(standIn), Self.request("tiny"))
            #expect(outcome.error == nil)
            #expect(outcome.tokens.isEmpty)
            #expect(outcome.usage?.outputTokens == nil)
            #expect(outcome.usage?.runtimeTimings["generation"] == nil)
            #expect(outcome.usage?.promptTokens == 8)
        }
    }

    @Test func optionsAndKeepAliveGoOnEveryRequest() async throws {
        try await OllamaStandIn.with(models: [Self.tiny]) { standIn in
            let client = Self.client(standIn)
            let settings = StageSettings(temperature: 0.2, topP: 0.9, topK: 40, maxTokens: 3, seed: 7, stop: ["END"], numCtx: 2048)

            _ = try await client.load("tiny", settings: settings)
            let outcome = await Self.run(client, Self.request("tiny", system: "Be brief.", settings: settings))
            _ = await Self.run(client, Self.request("tiny", settings: settings))
            try await client.unload("tiny")

            let chats = standIn.requests.filter { $0.path == "/api/chat" }
            #expect(chats.count == 4)
            let expected: JSONValue = .object([
                ("num_ctx", .number(2048)), ("num_predict", .number(3)), ("seed", .number(7)), ("stop", .array([.string("END")])),
                ("temperature", .number(0.2)), ("top_k", .number(40)), ("top_p", .number(0.9)),
            ])
            for chat in chats.prefix(3) {
                #expect(chat.keepAlive == .number(-1))  // a JSON number, not "-1"
                #expect(chat.options.map(Self.sorted) == expected)
            }
            #expect(chats[3].keepAlive == .number(0))
            #expect(chats[1].body?["stream"] == .bool(true))
            #expect(
                chats[1].body?["messages"]?.keysSorted
                    == .array([
                        .object([("content", .string("Be brief.")), ("role", .string("system"))]).keysSorted,
                        .object([("content", .string("Write a short poem about the quiet sea")), ("role", .string("user"))]).keysSorted,
                    ]).keysSorted)
            // num_predict 3 cut the answer short.
            #expect(outcome.tokens.count == 3)
            #expect(standIn.reloads == 0)
        }
    }

    static func sorted(_ value: JSONValue) -> JSONValue { value.keysSorted }

    @Test func structuredOutputSendsTheSchemaAsFormat() async throws {
        try await OllamaStandIn.with(models: [Self.judge]) { standIn in
            let client = Self.client(standIn)
            let verdict: JSONValue = .object([
                ("type", .string("object")),
                (
                    "properties",
                    .object([("verdict", .object([("type", .string("string"))])), ("feedback", .object([("type", .string("string"))]))])
                ),
                ("required", .array([.string("verdict"), .string("feedback")])),
            ])
            let judged = await Self.run(client, Self.request("judge:3b", schema: verdict))
            #expect(judged.error == nil)
            #expect(judged.tokens.count > 1)  // JSON arrives in pieces
            let answer = try JSONDecoder().decode(JSONValue.self, from: Data(judged.text.utf8))
            #expect(answer["verdict"] == .string("approve"))
            #expect(standIn.requests.last?.body?["format"]?.keysSorted == verdict.keysSorted)

            let other = await Self.run(client, Self.request("judge:3b", schema: .object([("type", .string("object"))])))
            #expect(other.text == "{}")
            let plain = await Self.run(client, Self.request("judge:3b"))
            #expect(standIn.requests.last?.body?["format"] == nil)
            #expect(plain.text.hasPrefix("You said:"))
        }
    }

    // MARK: - Loading, unloading, reloads

    @Test func loadWaitsForTheModelAndIsConfirmedByPs() async throws {
        var settings = OllamaStandIn.Settings()
        settings.loadDelay = 0.2
        try await OllamaStandIn.with(models: [Self.tiny, Self.judge], settings: settings) { standIn in
            let client = Self.client(standIn)
            #expect(try await client.residentModels().isEmpty)

            let report = try await client.load("tiny:latest", settings: StageSettings(numCtx: 2048))

            #expect(report.seconds >= 0.2)
            let footprint: Int64 = 1_000_000_000 + 100_000 * 2048  // weights + KV cache for 2048 tokens
            #expect(report.measuredBytes == footprint)
            // The load's own /api/chat, then /api/ps confirming it. A liveness probe of /api/ps may come in between
            // when the machine is so busy that the 0.2 s load takes longer than the probe interval (CI, 2026-12-07).
            let paths = standIn.requests.map(\.path)
            let loadRequest = try #require(paths.lastIndex(of: "/api/chat"))
            #expect(paths[(loadRequest + 1)...].allSatisfy { $0 == "/api/ps" })
            #expect(paths.last == "/api/ps")
            #expect(standIn.requests.last?.listed == ["tiny:latest"])  // always with its tag (O-B1)...
            let resident = try await client.residentModels()
            #expect(resident == [ResidentModel(name: "tiny:latest", bytes: footprint, contextLength: 2048)])  // ...under Baton's name
            let loaded = try await client.loadedModels()
            #expect(loaded.first?.contextLength == 2048)
            #expect(standIn.loads == 1)
        }
    }

    @Test func unloadWaitsUntilTheModelIsGoneFromPs() async throws {
        var settings = OllamaStandIn.Settings()
        settings.unloadLinger = 8  // long enough for the first poll to see it on a busy machine (2 s was not, 2026-12-07)
        try await OllamaStandIn.with(models: [Self.tiny], settings: settings) { standIn in
            let client = Self.client(standIn)
            _ = try await client.load("tiny", settings: StageSettings())
            let before = standIn.requests.count

            try await client.unload("tiny")

            let after = Array(standIn.requests[before...])
            #expect(after.first?.path == "/api/chat")
            #expect(after.first?.keepAlive == .number(0))
            let listings = after.filter { $0.path == "/api/ps" }.compactMap(\.listed)
            // Right after the unload reply Ollama still lists the model; only polling saw it go.
            #expect(listings.first == ["tiny:latest"])
            #expect(listings.count >= 2)
            #expect(listings.last == [])
            #expect(standIn.loadedNames.isEmpty)
            #expect(try await client.residentModels().isEmpty)
        }
    }

    @Test func residentModelsKeepBatonsSpellingElseOllamas() async throws {
        try await OllamaStandIn.with(models: [Self.tiny, Self.judge]) { standIn in
            let client = Self.client(standIn)
            standIn.preload("tiny")  // loaded by someone else: listed as Ollama lists it
            _ = try await client.load("judge:3b", settings: StageSettings())

            let names = try await client.residentModels().map(\.name).sorted()

            #expect(names == ["judge:3b", "tiny:latest"])
            #expect(OllamaClient.sameModel("tiny", "tiny:latest"))
            #expect(!OllamaClient.sameModel("tiny", "tiny:1b"))
            #expect(OllamaClient.normalizedName("registry.local:5000/team/tiny") == "registry.local:5000/team/tiny:latest")
        }
    }

    @Test func anUnloadThatIsNeverConfirmedIsAnError() async throws {
        var settings = OllamaStandIn.Settings()
        settings.unloadLinger = 30
        try await OllamaStandIn.with(models: [Self.tiny], settings: settings) { standIn in
            let client = Self.client(standIn, unloadTimeout: 0.2)
            _ = try await client.load("tiny", settings: StageSettings())

            let error = await Self.error { try await client.unload("tiny") }

            #expect(error?.code == .timeout)
            #expect(error?.message.contains("the unload was not confirmed") == true)
            #expect(error?.message.contains(standIn.baseURL) == true)
        }
    }

    @Test func identicalNumCtxOnLoadAndChatNeverReloads() async throws {
        try await OllamaStandIn.with(models: [Self.tiny]) { standIn in
            let client = Self.client(standIn)
            let settings = StageSettings(temperature: 0.7, numCtx: 8192)

            _ = try await client.load("tiny", settings: settings)
            for _ in 0..<3 { _ = await Self.run(client, Self.request("tiny", settings: settings)) }

            #expect(standIn.reloads == 0)
            #expect(standIn.loads == 1)
            #expect(standIn.requests.filter { $0.path == "/api/chat" }.map(\.numCtx) == [8192, 8192, 8192, 8192])
        }
    }

    @Test func aDifferentNumCtxReloadsTheModel() async throws {
        try await OllamaStandIn.with(models: [Self.tiny]) { standIn in
            let client = Self.client(standIn)
            _ = try await client.load("tiny", settings: StageSettings(numCtx: 8192))

            _ = await Self.run(client, Self.request("tiny", settings: StageSettings(numCtx: 2048)))
            #expect(standIn.reloads == 1)
            // A request without num_ctx gets Baton's default, sent explicitly, which differs as well.
            _ = await Self.run(client, Self.request("tiny"))
            #expect(standIn.reloads == 2)
            #expect(standIn.requests.last?.numCtx == OllamaClient.defaultNumCtx)
            #expect(try await client.loadedModels().first?.contextLength == 4096)
        }
    }

    // MARK: - Errors

    @Test func anUnknownModelIsNotFoundAndPermanent() async throws {
        try await OllamaStandIn.with(models: [Self.tiny]) { standIn in
            let client = Self.client(standIn)

            let chat = await Self.run(client, Self.request("nope:7b")).runtimeError
            let load = await Self.error { try await client.load("nope:7b", settings: StageSettings()) }
            let show = await Self.error { try await client.show("nope:7b") }

            for error in [chat, load, show] {
                #expect(error?.code == .modelNotFound)
                #expect(error?.isTransient == false)
                #expect(error?.message.contains("ollama pull nope:7b") == true)
                #expect(error?.message.contains(standIn.baseURL) == true)
            }
        }
    }

    @Test func outOfMemoryIsRecognisedAndPermanent() async throws {
        var settings = OllamaStandIn.Settings()
        settings.memoryCapacity = 2_000_000_000
        try await OllamaStandIn.with(models: [Self.tiny, Self.judge], settings: settings) { standIn in
            let client = Self.client(standIn)

            let load = await Self.error { try await client.load("judge:3b", settings: StageSettings()) }
            let chat = await Self.run(client, Self.request("judge:3b")).runtimeError

            for error in [load, chat] {
                #expect(error?.code == .outOfMemory)
                #expect(error?.isTransient == false)
                #expect(error?.message.contains("llama-server reported out-of-memory during startup") == true)
                #expect(error?.message.contains("judge:3b") == true)
            }
            // The small model still fits.
            _ = try await client.load("tiny", settings: StageSettings())
        }
    }

    @Test func httpStatusesAreTransientOrPermanentAsOllamaMeansThem() async throws {
        func model(_ name: String, _ status: Int, _ message: String) -> OllamaStandIn.Model {
            OllamaStandIn.Model(name, fault: .status(status, message: message))
        }
        let models = [
            model("bad", 400, "\"bad\" does not support thinking"),
            model("busy", 503, "server busy, please try again.  maximum pending requests exceeded"),
            // v0.33 texts (`llm/llama_server.go:1303-1323`); local Ollama sends 429 only for cloud models (O-B14).
            model("crash", 500, "llama-server process has terminated: exit status 2"), model("limited:cloud", 429, "too many requests"),
            model("gpu", 500, "llama-server process has terminated: cudaMalloc failed: out of memory"),
        ]
        try await OllamaStandIn.with(models: models) { standIn in
            let client = Self.client(standIn)
            var seen: [String: RuntimeError] = [:]
            for name in ["bad", "busy", "crash", "limited:cloud", "gpu"] {
                seen[name] = await Self.run(client, Self.request(name)).runtimeError
            }
            #expect(seen["bad"]?.code == .httpStatus)
            #expect(seen["bad"]?.isTransient == false)
            for name in ["busy", "crash", "limited:cloud"] {
                #expect(seen[name]?.code == .httpStatus)
                #expect(seen[name]?.isTransient == true)
            }
            #expect(seen["gpu"]?.code == .outOfMemory)
            #expect(seen["busy"]?.message.contains("503") == true)
            // Messages quote the server, never the request.
            #expect(seen.values.allSatisfy { !$0.message.contains("Write a short poem") && !$0.message.contains("keep_alive") })
        }
    }

    @Test func aRefusedConnectionIsUnreachableAndTransient() async throws {
        let standIn = try await OllamaStandIn.start(models: [Self.tiny])
        // Short deadlines: AsyncHTTPClient on its own retries a refused connection until the request's deadline.
        let client = OllamaClient(baseURL: standIn.baseURL, loadTimeout: 1, pollInterval: 0.02, connectTimeout: 1)
        await standIn.stop()

        let chat = await Self.run(client, Self.request("tiny")).runtimeError
        let resident = await Self.error { try await client.residentModels() }
        let load = await Self.error { try await client.load("tiny", settings: StageSettings()) }

        for error in [chat, resident, load] {
            #expect(error?.code == .unreachable)
            #expect(error?.isTransient == true)
            #expect(error?.message.contains(standIn.baseURL) == true)
        }
        #expect(chat?.message.contains("'tiny'") == true)
    }

    @Test(arguments: [
        OllamaStandIn.Fault.dropConnection(afterTokens: 2), .endWithoutDone(afterTokens: 2),
        .errorLine(afterTokens: 2, message: "llama-server process has terminated"),
    ])
    func aStreamCutMidwayIsATransientBadResponse(fault: OllamaStandIn.Fault) async throws {
        var broken = Self.tiny
        broken.fault = fault
        try await OllamaStandIn.with(models: [broken]) { standIn in
            let outcome = await Self.run(Self.client(standIn), Self.request("tiny"))

            // A dropped connection may lose what was in flight; the other faults deliver both tokens.
            #expect(["You ", "said: "].starts(with: outcome.tokens))
            if case .dropConnection = fault {} else { #expect(outcome.tokens.count == 2) }
            #expect(outcome.usage == nil)
            #expect(outcome.runtimeError?.code == .badResponse)
            #expect(outcome.runtimeError?.isTransient == true)
            #expect(outcome.runtimeError?.message.contains("Ollama at \(standIn.baseURL)") == true)
            #expect(outcome.runtimeError?.message.contains("'tiny'") == true)
        }
    }

    @Test func anOutOfMemoryErrorLineMidStreamIsOutOfMemory() async throws {
        var broken = Self.tiny
        broken.fault = .errorLine(
            afterTokens: 1, message: "ggml_backend_cuda_buffer_type_alloc_buffer: allocating 512 MiB: out of device memory")
        try await OllamaStandIn.with(models: [broken]) { standIn in
            let outcome = await Self.run(Self.client(standIn), Self.request("tiny"))
            #expect(outcome.runtimeError?.code == .outOfMemory)
            #expect(outcome.runtimeError?.isTransient == false)
        }
    }

    // MARK: - Discovery

    @Test func discoveryReadsVersionTagsAndModelMetadata() async throws {
        try await OllamaStandIn.with(models: [Self.tiny, Self.judge]) { standIn in
            let client = Self.client(standIn)

            #expect(try await client.version() == "0.33.0")

            let installed = try await client.installedModels()
            #expect(installed.map(\.name) == ["judge:3b", "tiny:latest"])
            #expect(installed.first?.family == "qwen2")
            #expect(installed.first?.parameterSize == "3.1B")
            #expect(installed.first?.quantization == "Q4_K_M")
            #expect(installed.first?.sizeOnDisk == 800_000_000)

            let info = try await client.show("judge:3b")
            #expect(info.architecture == "qwen2")
            #expect(info.contextLength == 8192)
            #expect(info.parameterCount == 3_085_938_688)
            #expect(info.blockCount == 16)
            #expect(info.headCountKV == 8)
            #expect(info.embeddingLength == 2048)
            #expect(info.capabilities == ["completion"])
        }
    }

    // MARK: - The stand-in itself

    @Test func theStandInParsesKeepAliveLikeOllama() async throws {
        try await OllamaStandIn.with(models: [Self.tiny]) { standIn in
            let transport = AsyncHTTPTransport()
            func status(_ keepAlive: Any) async throws -> Int {
                let request = HTTPRequest.json(
                    standIn.baseURL + "/api/chat", ["model": "tiny", "messages": [Any](), "keep_alive": keepAlive])
                let response = try await transport.send(request, connectTimeout: 30)
                _ = try await response.collect()
                return response.status
            }
            var statuses: [Int] = []
            for keepAlive: Any in ["300", "5m", "1h30m", 300, "0"] { statuses.append(try await status(keepAlive)) }
            // A unit-less string is not a Go duration; "0" is the one exception (an unload).
            #expect(statuses == [400, 200, 200, 200, 200])
            #expect(OllamaStandIn.goDuration("1h30m") == 5400)
            #expect(OllamaStandIn.goDuration("-1m") == -60)
            #expect(OllamaStandIn.goDuration("250ms") == 0.25)
            #expect(OllamaStandIn.goDuration("300") == nil)
        }
    }

    // MARK: - End to end

    struct Provider: RuntimeProvider {
        var client: OllamaClient
        func runtime(for model: ResolvedModel, snapshot: RunSnapshot) throws -> any LLMRuntime { client }
    }

    @Test func theExecutorRunsAPipelineOnOllama() async throws {
        let yaml = """
            version: 1
            inputs:
              task: {}
            memory_budget: 4GB
            defaults: {num_ctx: 2048, temperature: 0.3}
            stages:
              plan:
                model: tiny
                prompt: "Plan {{inputs.task}} in three steps"
              review:
                model: judge:3b
                reviews: plan
                max_rounds: 2
                prompt: "Review this plan: {{stages.plan.output}}"
              write:
                model: tiny
                needs: [review]
                prompt: "Write it: {{stages.plan.output}}"
            """
        try await OllamaStandIn.with(models: [Self.tiny, Self.judge]) { standIn in
            let store = try RunStore.inMemory()
            let executor = Executor(store: store, runtimes: Provider(client: Self.client(standIn)), sleep: { _ in })
            let plan = try snapshot(yaml)
            let inputs = try RunInputs.resolve(plan.plan.inputs, given: ["task": "a parser"])

            let outcome = try await executor.start(plan, inputs: inputs, claim: .current())

            guard case .completed(let id) = outcome else {
                Issue.record("\(outcome)")
                return
            }
            let attempts = try store.attempts(id)
            #expect(attempts.map(\.stage) == ["plan", "review", "write"])
            #expect(attempts.map(\.status) == [.completed, .completed, .completed])
            #expect(attempts[0].output == "You said: Plan a parser in three steps")
            #expect(attempts[1].verdict == "approve")
            #expect(attempts[2].output.hasPrefix("You said: Write it: You said: Plan"))
            #expect(attempts.allSatisfy { $0.outputTokens != nil && $0.timings?.contains("\"generation\"") == true })
            let chats = standIn.requests.filter { $0.path == "/api/chat" && $0.keepAlive != .number(0) }
            #expect(chats.allSatisfy { $0.keepAlive == .number(-1) && $0.numCtx == 2048 })
            #expect(chats.first?.isEmptyChat == true)  // Baton loaded the model before the first chat
            #expect(standIn.reloads == 0)
            #expect(standIn.evictions == 0)
            // tiny (1.2 GB once loaded) and judge (3 GB) exceed the 4 GB budget together: Baton unloaded judge,
            // and waited for /api/ps to confirm, before writing with tiny.
            let unloadIndex = try #require(standIn.requests.firstIndex { $0.keepAlive == .number(0) })
            #expect(standIn.requests[unloadIndex].model == "judge:3b")
            let confirmed = standIn.requests[unloadIndex...].first { $0.listed?.contains("judge:3b") == false }
            #expect(confirmed != nil)
            let lastChat = try #require(standIn.requests.lastIndex { $0.path == "/api/chat" })
            #expect(unloadIndex < lastChat)
            // after_run (restore, the default) unloaded tiny at the end: the run loaded it
            #expect(standIn.loadedNames == [])
            #expect(chats.first { $0.model == "judge:3b" && !$0.isEmptyChat }?.body?["format"] != nil)
        }
    }
}
