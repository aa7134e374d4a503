import BatonEngine
import BatonSpec
import BatonTestSupport
import Foundation
import Testing

/// One test per finding of the Ollama fidelity study (`shared/reference/ollama-fidelity.md`): O-A1..O-A15 on
/// the client and the executor, through the client and (A1, A2, A3, A5, A11, A13, A15) through the executor,
/// against the stand-in corrected to Ollama v0.33.0-rc2.
@Suite struct OllamaFidelityTests {
    static let qwen = OllamaStandIn.Model("qwen:7b", memoryBytes: 2_000_000_000, family: "qwen2", parameterSize: "7.6B")
    static let tiny = OllamaStandIn.Model("tiny", memoryBytes: 1_000_000_000, kvBytesPerToken: 100_000, contextLength: 8192)
    static let judge = OllamaStandIn.Model("judge:3b", memoryBytes: 3_000_000_000, family: "qwen2", parameterSize: "3.1B")
    static let thinker = OllamaStandIn.Model(
        "qwen3:8b", memoryBytes: 2_000_000_000, family: "qwen3", answer: "Approved.",
        thinking: "The user wants a review so I will read it carefully and weigh each point before I answer.")

    /// A client with short waits: a load that is never confirmed fails in about a second.
    /// A client of `standIn`. The load timeout is also the wait for a reply's head (OllamaClient+Generation), so it is
    /// long enough for a loaded 2-core machine: at 1 s, three tests failed there while other builds ran. Tests of the
    /// timeouts themselves pass their own.
    static func client(_ standIn: OllamaStandIn, loadTimeout: Double = 10, connectTimeout: Double = 10) -> OllamaClient {
        OllamaClient(
            baseURL: standIn.baseURL, loadTimeout: loadTimeout, unloadTimeout: 5, pollInterval: 0.02, connectTimeout: connectTimeout)
    }

    static func request(
        _ model: String, prompt: String = "Write a short poem about the quiet sea", settings: StageSettings = StageSettings()
    )
        -> GenerationRequest
    {
        GenerationRequest(model: model, system: nil, prompt: prompt, settings: settings, responseSchema: nil, stage: "s", round: 1)
    }

    struct Provider: RuntimeProvider {
        var client: OllamaClient
        func runtime(for model: ResolvedModel, snapshot: RunSnapshot) throws -> any LLMRuntime { client }
    }

    /// Runs `yaml` on `client` with retries that give up at once; returns the store and the run's id.
    static func execute(_ yaml: String, on client: OllamaClient) async throws -> (store: RunStore, outcome: RunOutcome) {
        let store = try RunStore.inMemory()
        let executor = Executor(store: store, runtimes: Provider(client: client), sleep: { _ in })
        let plan = try snapshot(yaml)
        let inputs = try RunInputs.resolve(plan.plan.inputs, given: [:])
        return (store, try await executor.start(plan, inputs: inputs, claim: .current()))
    }

    static func events(_ store: RunStore, _ outcome: RunOutcome, kind: EventKind) throws -> [[String: String]] {
        guard case .completed(let id) = outcome else { return [] }
        return try store.events(id, kind: kind).compactMap { event in
            event.payload.flatMap { try? JSONDecoder().decode([String: String].self, from: Data($0.utf8)) }
        }
    }

    /// A raw POST to the stand-in: the status and the reply's JSON objects (one per NDJSON line).
    static func post(_ standIn: OllamaStandIn, _ path: String, _ body: [String: Any]) async throws -> (status: Int, lines: [JSONValue]) {
        let response = try await AsyncHTTPTransport().send(.json(standIn.baseURL + path, body), connectTimeout: 10)
        let data = try await response.collect()
        let lines = String(decoding: data, as: UTF8.self).split(separator: "\n").compactMap {
            try? JSONDecoder().decode(JSONValue.self, from: Data($0.utf8))
        }
        return (response.status, lines)
    }

    static func number(_ value: JSONValue?) -> Double? {
        if case .number(let number)? = value { return number }
        return nil
    }

    // MARK: - O-A1: aliases and derived models share a runner

    @Test("O-A1: a load under an alias or a derived name of loaded weights is confirmed, and its unload waits for the shared runner")
    func aliasLoadsAreConfirmed() async throws {
        let alias = OllamaStandIn.Model("qwen:7b-instruct", aliasOf: Self.qwen)
        let derived = OllamaStandIn.Model("reviewer", derivedFrom: Self.qwen, system: "You review plans.")
        try await OllamaStandIn.with(models: [Self.qwen, alias, derived]) { standIn in
            let client = Self.client(standIn)
            let first = try await client.load("qwen:7b", settings: StageSettings())
            let aliased = try await client.load("qwen:7b-instruct", settings: StageSettings())
            let fromDerived = try await client.load("reviewer", settings: StageSettings())

            #expect(standIn.loads == 1)  // one runner for the weights file
            #expect(standIn.loadedNames == ["qwen:7b"])  // listed under the name that created it
            #expect(first.measuredBytes != nil)
            #expect(aliased.measuredBytes == first.measuredBytes)
            #expect(fromDerived.measuredBytes == first.measuredBytes)
            #expect(try await client.residentModels(naming: ["reviewer"]).map(\.name) == ["reviewer"])

            try await client.unload("reviewer")
            #expect(standIn.loadedNames.isEmpty)  // confirmed only once the shared runner was gone
        }
    }

    @Test("O-A1: the executor runs stages on two names for the same weights without a load timeout")
    func aliasStagesRunThroughTheExecutor() async throws {
        let alias = OllamaStandIn.Model("qwen:7b-instruct", aliasOf: Self.qwen)
        let yaml = """
            version: 1
            memory_budget: 8GB
            stages:
              plan: {model: "qwen:7b", prompt: "Plan it"}
              write: {model: "qwen:7b-instruct", needs: [plan], prompt: "Write it"}
            """
        try await OllamaStandIn.with(models: [Self.qwen, alias]) { standIn in
            let (store, outcome) = try await Self.execute(yaml, on: Self.client(standIn))
            guard case .completed(let id) = outcome else {
                Issue.record("\(outcome)")
                return
            }
            #expect(try store.attempts(id).map(\.status) == [.completed, .completed])
            #expect(standIn.loads == 1)
        }
    }

    // MARK: - O-A2: names as Ollama matches them

    @Test("O-A2: names differing in case, default namespace or host are loaded, confirmed and reported under Baton's spelling")
    func namesMatchAsOllamaMatchesThem() async throws {
        try await OllamaStandIn.with(models: [Self.qwen, Self.tiny]) { standIn in
            let client = Self.client(standIn)
            #expect(OllamaClient.normalizedName("Qwen:7B") == "qwen:7b")
            #expect(OllamaClient.normalizedName("registry.ollama.ai/library/llama3.2") == "llama3.2:latest")
            #expect(OllamaClient.normalizedName("library/llama3.2:latest") == "llama3.2:latest")
            #expect(OllamaClient.normalizedName("team/tiny") == "team/tiny:latest")
            #expect(OllamaClient.normalizedName("registry.local:5000/team/tiny") == "registry.local:5000/team/tiny:latest")

            let report = try await client.load("Qwen:7B", settings: StageSettings())
            #expect(report.measuredBytes != nil)
            _ = try await client.load("library/tiny", settings: StageSettings())
            let names = try await client.residentModels(naming: ["Qwen:7B", "library/tiny"]).map(\.name).sorted()
            #expect(names == ["Qwen:7B", "library/tiny"])

            try await client.unload("QWEN:7b")
            #expect(standIn.loadedNames == ["tiny:latest"])
        }
    }

    @Test("O-A2: the executor keeps a model spelled differently from Ollama's listing resident between stages")
    func differentlySpelledModelStaysResident() async throws {
        let yaml = """
            version: 1
            memory_budget: 8GB
            stages:
              plan: {model: "Tiny", prompt: "Plan it"}
              write: {model: "Tiny", needs: [plan], prompt: "Write it"}
            """
        try await OllamaStandIn.with(models: [Self.tiny]) { standIn in
            let (store, outcome) = try await Self.execute(yaml, on: Self.client(standIn))
            guard case .completed = outcome else {
                Issue.record("\(outcome)")
                return
            }
            #expect(try Self.events(store, outcome, kind: .modelLoaded).count == 1)
            #expect(try Self.events(store, outcome, kind: .modelUnloaded).isEmpty)
            #expect(standIn.loads == 1)
        }
    }

    // MARK: - O-A3: cloud models

    @Test("O-A3: a :cloud or -cloud model is not loaded, unloaded or planned, and plan says where it runs")
    func cloudModelsAreNotManaged() async throws {
        #expect(OllamaClient.isCloudModel("gpt-oss:120b-cloud"))
        #expect(OllamaClient.isCloudModel("kimi-k2:CLOUD"))
        #expect(!OllamaClient.isCloudModel("my-cloud"))
        #expect(!OllamaClient.isCloudModel("registry.cloud:5000/team/tiny"))
        let cloud = OllamaStandIn.Model("gpt-oss:120b-cloud")
        let yaml = """
            version: 1
            stages:
              plan: {model: "gpt-oss:120b-cloud", prompt: "Plan it"}
            """
        try await OllamaStandIn.with(models: [cloud]) { standIn in
            let client = Self.client(standIn)
            #expect(!client.manages("gpt-oss:120b-cloud"))
            let (store, outcome) = try await Self.execute(yaml, on: client)
            guard case .completed(let id) = outcome else {
                Issue.record("\(outcome)")
                return
            }
            #expect(try store.attempts(id).first?.output.hasPrefix("You said: Plan it") == true)
            #expect(!standIn.requests.contains { $0.isEmptyChat })  // no load, no unload
            #expect(try Self.events(store, outcome, kind: .modelLoaded).isEmpty)
        }

        let profile = try Self.profile(url: "http://127.0.0.1:9", options: "")
        let pipeline = """
            version: 1
            stages:
              plan: {model: "gpt-oss:120b-cloud", prompt: "Plan it"}
              write: {model: "tiny", needs: [plan], prompt: "Write it"}
            """
        let plan = try #require(PipelineCompiler(profile: profile).compile(SourceFile(path: "p.yaml", text: pipeline)).plan)
        let schedule = try LoadSchedule.make(plan, profile: profile, machine: MachineMemory(total: 32_000_000_000, available: nil))
        #expect(schedule.rows[0].servedBy == "ollama.com")
        #expect(schedule.rows[0].loads == false && schedule.rows[0].footprint == nil)
        #expect(schedule.rows[1].servedBy == nil && schedule.rows[1].loads)
        #expect(!schedule.unknownFootprints.contains { $0.name.hasSuffix("cloud") })
        #expect(schedule.loadCount == 1)
    }

    static func profile(url: String, options: String) throws -> ResolvedProfile {
        let text = """
            version: 1
            name: local
            runtimes:
              local: {kind: ollama, url: "\(url)"\(options)}
            models:
              tiny: {runtime: local, footprint: 2GB}
              gpt-oss:120b-cloud: {runtime: local}
            """
        let document = ProfileDecoder.decode(SourceFile(path: "local.yaml", text: text), environment: [:])
        let (resolved, diagnostics) = ProfileResolver.resolve(document) { _ in nil }
        return try #require(resolved, "\(diagnostics)")
    }

    // MARK: - O-A4: the load timeout is a stall timeout

    @Test("O-A4: a load slower than load_timeout completes while the server answers; a server that stops answering fails it")
    func loadTimeoutIsAStallTimeout() async throws {
        var settings = OllamaStandIn.Settings()
        settings.loadDelay = 1.2
        try await OllamaStandIn.with(models: [Self.tiny], settings: settings) { standIn in
            let report = try await Self.client(standIn, loadTimeout: 0.4).load("tiny", settings: StageSettings())
            #expect(report.seconds >= 1.2)
            #expect(standIn.loadedNames == ["tiny:latest"])
        }
        settings.loadDelay = 2
        settings.psDelay = 2
        try await OllamaStandIn.with(models: [Self.tiny], settings: settings) { standIn in
            let client = Self.client(standIn, loadTimeout: 0.4, connectTimeout: 0.2)
            let error = await GenerationOutcome.runtimeError { try await client.load("tiny", settings: StageSettings()) }
            #expect(error?.code == .timeout)
            #expect(error?.message.contains("load_timeout") == true)
        }
    }

    @Test("O-A4: a profile's load_timeout option reaches the Ollama client, and a bad value is refused")
    func loadTimeoutComesFromTheProfile() throws {
        #expect(try OllamaClient.loadTimeout(options: ["load_timeout": "10m"], runtime: "local") == 600)
        #expect(try OllamaClient.loadTimeout(options: [:], runtime: "local") == nil)
        #expect(throws: RuntimeError.self) { try OllamaClient.loadTimeout(options: ["load_timeout": "soon"], runtime: "local") }
        let profile = try Self.profile(url: "http://127.0.0.1:9", options: ", options: {load_timeout: 10m}")
        let plan = try #require(
            PipelineCompiler(profile: profile).compile(
                SourceFile(path: "p.yaml", text: "version: 1\nstages:\n  a: {model: tiny, prompt: x}\n")
            ).plan)
        let snapshot = RunSnapshot(plan: plan, profile: profile, sources: [:], pipelinePath: nil, forcedRuntime: nil)
        let runtime = try RuntimeCatalog(environment: [:])
            .runtime(for: ResolvedModel(name: "tiny", runtime: "local", footprint: nil), snapshot: snapshot)
        #expect((runtime as? OllamaClient)?.loadTimeout == 600)
    }

    // MARK: - O-A5: residency includes the context

    @Test("O-A5: a stage needing another context gets a planned, recorded reload from Baton, none from Ollama")
    func aChangedContextIsReloadedByBaton() async throws {
        let yaml = """
            version: 1
            memory_budget: 8GB
            stages:
              plan: {model: tiny, num_ctx: 2048, prompt: "Plan it"}
              write: {model: tiny, num_ctx: 4096, needs: [plan], prompt: "Write it"}
              check: {model: tiny, num_ctx: 4096, needs: [write], prompt: "Check it"}
            """
        try await OllamaStandIn.with(models: [Self.tiny]) { standIn in
            let (store, outcome) = try await Self.execute(yaml, on: Self.client(standIn))
            guard case .completed = outcome else {
                Issue.record("\(outcome)")
                return
            }
            #expect(standIn.reloads == 0)  // never behind Baton's back
            #expect(standIn.loads == 2)
            let unloads = try Self.events(store, outcome, kind: .modelUnloaded)
            #expect(unloads.count == 1)
            #expect(unloads.first?["reason"]?.contains("2048") == true && unloads.first?["reason"]?.contains("4096") == true)
            #expect(try Self.events(store, outcome, kind: .modelLoaded).map { $0["num_ctx"] } == ["2048", "4096"])
            // The footprint kept is the larger one, measured at 4096 tokens.
            #expect(try store.measuredFootprints()[ModelKey(runtime: "?", name: "tiny")] == 1_000_000_000 + 100_000 * 4096)
        }
    }

    @Test("O-A5: the plan schedules Baton's reload, and a critic loop at two contexts of one model swaps every round")
    func thePlanShowsContextReloads() throws {
        let profile = try Self.profile(url: "http://127.0.0.1:9", options: "")
        let pipeline = """
            version: 1
            stages:
              write: {model: tiny, num_ctx: 2048, prompt: "Write it"}
              review: {model: tiny, num_ctx: 4096, reviews: write, max_rounds: 2, prompt: "Review {{stages.write.output}}"}
            """
        let plan = try #require(PipelineCompiler(profile: profile).compile(SourceFile(path: "p.yaml", text: pipeline)).plan)
        let schedule = try LoadSchedule.make(plan, profile: profile, machine: MachineMemory(total: 32_000_000_000, available: nil))
        #expect(schedule.rows.map(\.contextReload) == [nil, 4096])
        #expect(schedule.loadCount == 2)
        #expect(schedule.loops.first?.staysResident == false)
    }

    @Test("O-A5: contexts are compared after clamping to the trained context, so 16384 and 32768 on an 8192 model do not reload")
    func clampedContextsAreCompared() async throws {
        let yaml = """
            version: 1
            memory_budget: 8GB
            stages:
              plan: {model: tiny, num_ctx: 16384, prompt: "Plan it"}
              write: {model: tiny, num_ctx: 32768, needs: [plan], prompt: "Write it"}
            """
        try await OllamaStandIn.with(models: [Self.tiny]) { standIn in
            let (store, outcome) = try await Self.execute(yaml, on: Self.client(standIn))
            guard case .completed = outcome else {
                Issue.record("\(outcome)")
                return
            }
            #expect(standIn.loads == 1)
            #expect(standIn.reloads == 0)
            #expect(try Self.events(store, outcome, kind: .modelUnloaded).isEmpty)
        }
    }

    // MARK: - O-A6, O-A7: thinking and finish reasons

    @Test("O-A6: think is always sent (false unless asked; efforts as strings), never on loads, and thinking streams apart")
    func thinkIsSentAndThinkingStreamsApart() async throws {
        try await OllamaStandIn.with(models: [Self.thinker, Self.tiny]) { standIn in
            let client = Self.client(standIn)
            _ = try await client.load("qwen3:8b", settings: StageSettings())
            let quiet = await GenerationOutcome.of(client, Self.request("qwen3:8b"))
            #expect(quiet.thinking.isEmpty)
            #expect(quiet.text == "Approved.")
            let thoughtful = await GenerationOutcome.of(client, Self.request("qwen3:8b", settings: StageSettings(think: .on)))
            #expect(thoughtful.thinking.joined().hasPrefix("The user wants a review"))
            #expect(thoughtful.text == "Approved.")
            _ = await GenerationOutcome.of(client, Self.request("qwen3:8b", settings: StageSettings(think: .low)))
            let plain = await GenerationOutcome.of(client, Self.request("tiny"))
            #expect(plain.error == nil)  // think: false is accepted by a model that cannot think

            let chats = standIn.requests.filter { $0.path == "/api/chat" }
            #expect(chats.map(\.think) == [nil, .bool(false), .bool(true), .string("low"), .bool(false)])
            // Thinking asked of a model that cannot think: Ollama's 400, permanent, with the fix.
            let refused = await GenerationOutcome.of(client, Self.request("tiny", settings: StageSettings(think: .on))).runtimeError
            #expect(refused?.isTransient == false)
            #expect(refused?.message.contains("remove 'think' from the stage") == true)
        }
    }

    @Test("O-A7: done_reason is the finish: length is truncated, stop complete, and thinking that used the budget is said")
    func doneReasonIsTheFinish() async throws {
        try await OllamaStandIn.with(models: [Self.thinker, Self.tiny]) { standIn in
            let client = Self.client(standIn)
            let cut = await GenerationOutcome.of(client, Self.request("tiny", settings: StageSettings(maxTokens: 3)))
            #expect(cut.finish == FinishReason(.truncated, raw: "length"))
            let whole = await GenerationOutcome.of(client, Self.request("tiny"))
            #expect(whole.finish == FinishReason(.complete, raw: "stop"))

            let starved = await GenerationOutcome.of(client, Self.request("qwen3:8b", settings: StageSettings(maxTokens: 6, think: .on)))
            #expect(starved.text.isEmpty)
            #expect(starved.finish?.kind == .truncated)
            #expect(starved.finish?.detail?.contains("thinking") == true)
            #expect(starved.finish?.detail?.contains("think: false") == true)
            #expect(starved.notices.map(\.code) == ["thinking-used-budget"])
        }
    }

    // MARK: - O-A8: prompts longer than the context

    @Test("O-A8: a prompt that cannot fit num_ctx is refused before the call; one Ollama cut is reported, one that fits is not")
    func promptsLongerThanTheContext() async throws {
        try await OllamaStandIn.with(models: [Self.tiny]) { standIn in
            let client = Self.client(standIn)
            let settings = StageSettings(maxTokens: 100, numCtx: 512)
            let huge = String(repeating: "abcdefghij ", count: 600)  // 6,600 bytes: at least 825 tokens
            let refused = await GenerationOutcome.of(client, Self.request("tiny", prompt: huge, settings: settings))
            #expect(refused.runtimeError?.code == .contextExceeded)
            #expect(refused.runtimeError?.isTransient == false)
            #expect(refused.runtimeError?.message.contains("num_ctx 512") == true)
            #expect(refused.runtimeError?.message.contains("raise num_ctx or shorten the inputs") == true)
            #expect(!standIn.requests.contains { $0.path == "/api/chat" })

            // 700 short words pass the estimate (2,100 bytes) but overflow 512 tokens: Ollama keeps 4 + the tail.
            let long = String(repeating: "ab ", count: 700)
            let cut = await GenerationOutcome.of(client, Self.request("tiny", prompt: long, settings: settings))
            #expect(cut.usage?.promptTokens == 258)
            #expect(cut.finish?.kind == .contextExceeded)
            #expect(cut.finish?.detail?.contains("num_ctx 512") == true)

            let fits = await GenerationOutcome.of(
                client, Self.request("tiny", prompt: String(repeating: "ab ", count: 300), settings: settings))
            #expect(fits.finish?.kind == .complete)
            // A max_tokens as large as num_ctx reserves at most half the window: a short prompt still runs.
            let greedy = await GenerationOutcome.of(client, Self.request("tiny", settings: StageSettings(maxTokens: 512, numCtx: 512)))
            #expect(greedy.error == nil)
        }
    }

    // MARK: - O-A9: the default context

    @Test("O-A9: num_ctx is always sent, 4096 when unset, so the plan's estimate and the loaded context agree")
    func numCtxIsAlwaysSent() async throws {
        try await OllamaStandIn.with(models: [Self.tiny]) { standIn in
            standIn.configure { $0.defaultNumCtx = 32768 }  // a server with 24 GB of VRAM
            let client = Self.client(standIn)
            _ = try await client.load("tiny", settings: StageSettings())
            _ = await GenerationOutcome.of(client, Self.request("tiny"))
            #expect(standIn.requests.filter { $0.path == "/api/chat" }.map(\.numCtx) == [4096, 4096])
            #expect(try await client.loadedModels().first?.contextLength == 4096)
            #expect(await client.contextLength(of: "tiny", settings: StageSettings()) == 4096)
        }
    }

    // MARK: - O-A10: out-of-memory texts

    @Test(
        "O-A10: Ollama v0.33's out-of-memory texts are recognised as out of memory, permanently",
        arguments: [
            "llama-server reported out-of-memory during startup: unable to allocate backend buffer",
            "llama-server process has terminated: hipMalloc failed: error", "ggml: allocation failed",
            "vk_error_out_of_device_memory", "ErrorOutOfMemory while creating buffer", "cudaMalloc failed: out of memory",
        ])
    func outOfMemoryTexts(text: String) async throws {
        try await OllamaStandIn.with(models: [OllamaStandIn.Model("m", fault: .status(500, message: text))]) { standIn in
            let outcome = await GenerationOutcome.of(Self.client(standIn), Self.request("m"))
            #expect(outcome.runtimeError?.code == .outOfMemory)
            #expect(outcome.runtimeError?.isTransient == false)
        }
    }

    // MARK: - O-A11: Ollama evicts on its own

    @Test("O-A11: a model Ollama evicted on its own is recorded as model-evicted-by-runtime and loaded again")
    func runtimeEvictionsAreRecorded() async throws {
        var settings = OllamaStandIn.Settings()
        settings.maxLoadedModels = 1
        let yaml = """
            version: 1
            memory_budget: 8GB
            stages:
              plan: {model: tiny, prompt: "Plan it"}
              review: {model: "judge:3b", needs: [plan], prompt: "Review it"}
              write: {model: tiny, needs: [review], prompt: "Write it"}
            """
        try await OllamaStandIn.with(models: [Self.tiny, Self.judge], settings: settings) { standIn in
            let (store, outcome) = try await Self.execute(yaml, on: Self.client(standIn))
            guard case .completed = outcome else {
                Issue.record("\(outcome)")
                return
            }
            let evicted = try Self.events(store, outcome, kind: .modelEvictedByRuntime)
            #expect(evicted == [["model": "?:tiny", "runtime": "?"]])
            #expect(try Self.events(store, outcome, kind: .modelLoaded).count == 3)
        }
    }

    // MARK: - O-A12: a load placed partly on the CPU

    @Test("O-A12: a load whose size_vram is below its size comes with a partly-on-cpu notice (a check, not a fix)")
    func partlyOnCPUIsNoticed() async throws {
        var settings = OllamaStandIn.Settings()
        settings.gpuMemory = 1_500_000_000
        try await OllamaStandIn.with(models: [Self.qwen, Self.tiny], settings: settings) { standIn in
            let client = Self.client(standIn)
            let small = try await client.load("tiny", settings: StageSettings(numCtx: 1024))
            #expect(small.notices.isEmpty)
            let large = try await client.load("qwen:7b", settings: StageSettings())
            #expect(large.notices.map(\.code) == ["partly-on-cpu"])
            #expect(large.notices.first?.message.contains("qwen:7b") == true)
        }
        // The executor records the notice with the run.
        try await OllamaStandIn.with(models: [Self.qwen], settings: settings) { standIn in
            let yaml = "version: 1\nstages:\n  plan: {model: \"qwen:7b\", prompt: \"Plan it\"}\n"
            let (store, outcome) = try await Self.execute(yaml, on: Self.client(standIn))
            #expect(try Self.events(store, outcome, kind: .runtimeNotice).map { $0["code"] } == ["partly-on-cpu"])
        }
    }

    // MARK: - O-A13: load_duration

    @Test("O-A13: load_duration, present on every reply, is recorded as runtime_load and never as a load")
    func loadDurationIsRuntimeLoad() async throws {
        let yaml = """
            version: 1
            stages:
              plan: {model: tiny, prompt: "Plan it"}
              write: {model: tiny, needs: [plan], prompt: "Write it"}
            """
        try await OllamaStandIn.with(models: [Self.tiny]) { standIn in
            let (store, outcome) = try await Self.execute(yaml, on: Self.client(standIn))
            guard case .completed(let id) = outcome else {
                Issue.record("\(outcome)")
                return
            }
            let timings = try store.attempts(id).compactMap(\.timings)
            #expect(timings.count == 2)
            #expect(timings.allSatisfy { $0.contains("\"runtime_load\"") && !$0.contains("\"load\"") })
        }
    }

    // MARK: - O-A14: per-layer arrays in /api/show

    @Test("O-A14: per-layer head counts elided without verbose are asked for again with verbose")
    func perLayerArraysAreReadVerbose() async throws {
        var layered = Self.qwen
        layered.headCountKVPerLayer = [8, 8, 4, 4, 8, 8, 4, 2]
        try await OllamaStandIn.with(models: [layered]) { standIn in
            let info = try await Self.client(standIn).show("qwen:7b")
            #expect(info.headCountKV == 8)
            let shows = standIn.requests.filter { $0.path == "/api/show" }
            #expect(shows.map { $0.body?["verbose"] } == [nil, .bool(true)])
        }
    }

    // MARK: - O-A15: MLX models

    @Test("O-A15: an MLX model Ollama would not reload for a larger context is reloaded by Baton")
    func mlxModelsGetTheirContext() async throws {
        var mlx = Self.tiny
        mlx.isMLX = true
        let yaml = """
            version: 1
            memory_budget: 8GB
            stages:
              plan: {model: tiny, num_ctx: 2048, prompt: "Plan it"}
              write: {model: tiny, num_ctx: 4096, needs: [plan], prompt: "Write it"}
            """
        try await OllamaStandIn.with(models: [mlx]) { standIn in
            let client = Self.client(standIn)
            let (_, outcome) = try await Self.execute(yaml, on: client)
            guard case .completed = outcome else {
                Issue.record("\(outcome)")
                return
            }
            // Loaded again with 4096 for `write` (and unloaded at the end by after_run, restore by default)
            let loads = standIn.requests.filter { $0.isEmptyChat && $0.keepAlive == .number(-1) }
            #expect(loads.last?.numCtx == 4096, "\(loads.map(\.numCtx))")
        }
    }
}
