import BatonEngine
import BatonSpec
import BatonTestSupport
import Foundation
import Testing

/// One test per stand-in finding of the Ollama fidelity study (O-B1..O-B14): the stand-in does what Ollama
/// v0.33.0-rc2 does, checked over raw HTTP so the client's own handling does not hide a difference.
@Suite struct OllamaStandInTests {
    static let tiny = OllamaFidelityTests.tiny
    static let qwen = OllamaFidelityTests.qwen
    static let thinker = OllamaFidelityTests.thinker

    static func post(_ standIn: OllamaStandIn, _ body: [String: Any]) async throws -> (status: Int, lines: [JSONValue]) {
        try await OllamaFidelityTests.post(standIn, "/api/chat", body)
    }

    static func show(_ standIn: OllamaStandIn, _ body: [String: Any]) async throws -> (status: Int, lines: [JSONValue]) {
        try await OllamaFidelityTests.post(standIn, "/api/show", body)
    }

    static func array(_ value: JSONValue?) -> [JSONValue]? {
        if case .array(let items)? = value { return items }
        return nil
    }

    static func number(_ value: JSONValue?) -> Double? { OllamaFidelityTests.number(value) }

    static func chat(_ model: String, _ prompt: String = "Say something kind", _ extra: [String: Any] = [:]) -> [String: Any] {
        var body: [String: Any] = ["model": model, "messages": [["role": "user", "content": prompt]], "stream": false]
        for (key, value) in extra { body[key] = value }
        return body
    }

    static func load(_ model: String, _ extra: [String: Any] = [:]) -> [String: Any] {
        var body: [String: Any] = ["model": model, "messages": [Any]()]
        for (key, value) in extra { body[key] = value }
        return body
    }

    @Test("O-B1: /api/ps always lists the tag, tiny:latest for tiny")
    func psListsTags() async throws {
        try await OllamaStandIn.with(models: [Self.tiny]) { standIn in
            standIn.preload("tiny")
            let response = try await AsyncHTTPTransport().send(
                HTTPRequest(method: "GET", url: standIn.baseURL + "/api/ps"), connectTimeout: 5)
            let ps = try JSONDecoder().decode(JSONValue.self, from: try await response.collect())
            #expect(Self.array(ps["models"])?.first?["name"] == .string("tiny:latest"))
            #expect(Self.array(ps["models"])?.first?["model"] == .string("tiny:latest"))
        }
    }

    @Test("O-B2: load_duration is on every reply, the model already loaded or not")
    func loadDurationOnEveryReply() async throws {
        try await OllamaStandIn.with(models: [Self.tiny]) { standIn in
            let cold = try await Self.post(standIn, Self.chat("tiny"))
            let warm = try await Self.post(standIn, Self.chat("tiny"))
            #expect((Self.number(cold.lines.last?["load_duration"]) ?? 0) > 0)
            #expect((Self.number(warm.lines.last?["load_duration"]) ?? 0) > 0)
            #expect(standIn.loads == 1)
        }
    }

    @Test("O-B3: a model that does not fit fails with llama-server's out-of-memory text; one that fits alone evicts the others")
    func outOfMemoryAsV033() async throws {
        var settings = OllamaStandIn.Settings()
        settings.memoryCapacity = 3_500_000_000
        let big = OllamaStandIn.Model("big", memoryBytes: 5_000_000_000)
        let judge = OllamaFidelityTests.judge
        try await OllamaStandIn.with(models: [Self.tiny, judge, big], settings: settings) { standIn in
            let failed = try await Self.post(standIn, Self.load("big"))
            #expect(failed.status == 500)
            let text = failed.lines.first?["error"]?.stringValue ?? ""
            #expect(text.hasPrefix("llama-server reported out-of-memory during startup: "))
            #expect(!text.contains("requires more system memory"))

            let reply1 = try await Self.post(standIn, Self.load("tiny"))
            #expect(reply1.status == 200)
            let reply2 = try await Self.post(standIn, Self.load("judge:3b"))
            #expect(reply2.status == 200)
            #expect(standIn.loadedNames == ["judge:3b"])
            #expect(standIn.evictions == 1)
        }
    }

    @Test("O-B4: one runner per weights file: an alias and a derived model reuse it, listed under the first name")
    func oneRunnerPerWeightsFile() async throws {
        let alias = OllamaStandIn.Model("qwen:7b-instruct", aliasOf: Self.qwen)
        let derived = OllamaStandIn.Model("reviewer", derivedFrom: Self.qwen, system: "You review.")
        try await OllamaStandIn.with(models: [Self.qwen, alias, derived]) { standIn in
            for name in ["qwen:7b", "qwen:7b-instruct", "reviewer"] {
                let reply = try await Self.post(standIn, Self.load(name, ["options": ["num_ctx": 2048]]))
                #expect(reply.lines.first?["done_reason"] == .string("load"))
            }
            #expect(standIn.loads == 1)
            #expect(standIn.loadedNames == ["qwen:7b"])
            // A different num_ctx makes a new runner, created (and listed) by the alias.
            _ = try await Self.post(standIn, Self.load("qwen:7b-instruct", ["options": ["num_ctx": 4096]]))
            #expect(standIn.loadedNames == ["qwen:7b-instruct"])
            #expect(standIn.reloads == 1)
        }
    }

    @Test("O-B5: names are looked up case-insensitively, default namespace dropped; an unknown tag is a 404")
    func caseInsensitiveNames() async throws {
        try await OllamaStandIn.with(models: [Self.tiny]) { standIn in
            let reply3 = try await Self.post(standIn, Self.chat("TINY"))
            #expect(reply3.status == 200)
            let reply4 = try await Self.post(standIn, Self.chat("library/Tiny:Latest"))
            #expect(reply4.status == 200)
            let reply5 = try await Self.show(standIn, ["model": "Tiny"])
            #expect(reply5.status == 200)
            let reply6 = try await Self.post(standIn, Self.chat("tiny:2b"))
            #expect(reply6.status == 404)
            #expect(standIn.loadedNames == ["tiny:latest"])  // the installed spelling
        }
    }

    @Test("O-B6: num_ctx is compared after clamping to the trained context; automatic on both sides never reloads")
    func reloadsCompareClampedContexts() async throws {
        try await OllamaStandIn.with(models: [Self.tiny]) { standIn in
            _ = try await Self.post(standIn, Self.load("tiny", ["options": ["num_ctx": 16384]]))
            _ = try await Self.post(standIn, Self.load("tiny", ["options": ["num_ctx": 32768]]))
            #expect(standIn.reloads == 0)
            _ = try await Self.post(standIn, Self.load("tiny", ["options": ["num_ctx": 2048]]))
            #expect(standIn.reloads == 1)
            _ = try await Self.post(standIn, Self.load("tiny"))  // automatic (4096 here) after an explicit 2048
            #expect(standIn.reloads == 2)
            _ = try await Self.post(standIn, Self.load("tiny"))  // automatic on both sides
            #expect(standIn.reloads == 2)
        }
    }

    @Test("O-B7: at most 3 models are loaded; the fourth evicts the one with the shortest keep-alive")
    func threeModelsAtMost() async throws {
        let models = ["a", "b", "c", "d"].map { OllamaStandIn.Model($0) }
        try await OllamaStandIn.with(models: models) { standIn in
            _ = try await Self.post(standIn, Self.load("b", ["keep_alive": -1]))
            _ = try await Self.post(standIn, Self.load("a", ["keep_alive": "10m"]))
            _ = try await Self.post(standIn, Self.load("c", ["keep_alive": -1]))
            #expect(standIn.evictions == 0)
            _ = try await Self.post(standIn, Self.load("d", ["keep_alive": -1]))
            #expect(standIn.evictions == 1)
            #expect(standIn.loadedNames == ["b:latest", "c:latest", "d:latest"])
        }
    }

    @Test("O-B8: a thinking model says so, thinks unless think is false, counts thinking in num_predict; think on another model is a 400")
    func thinkingModel() async throws {
        try await OllamaStandIn.with(models: [Self.thinker, Self.tiny]) { standIn in
            let shown = try await Self.show(standIn, ["model": "qwen3:8b"])
            #expect(Self.array(shown.lines.first?["capabilities"])?.contains(.string("thinking")) == true)

            let byDefault = try await Self.post(standIn, Self.chat("qwen3:8b"))
            #expect(byDefault.lines.last?["message"]?["thinking"]?.stringValue?.hasPrefix("The user wants") == true)
            let off = try await Self.post(standIn, Self.chat("qwen3:8b", "Hi", ["think": false]))
            #expect(off.lines.last?["message"]?["thinking"] == nil)
            #expect(off.lines.last?["message"]?["content"] == .string("Approved."))
            let budget = try await Self.post(standIn, Self.chat("qwen3:8b", "Hi", ["options": ["num_predict": 3]]))
            #expect(budget.lines.last?["message"]?["content"] == .string(""))
            #expect(budget.lines.last?["done_reason"] == .string("length"))
            #expect(Self.number(budget.lines.last?["eval_count"]) == 3)

            let refused = try await Self.post(standIn, Self.chat("tiny", "Hi", ["think": true]))
            #expect(refused.status == 400)
            #expect(refused.lines.first?["error"] == .string("\"tiny\" does not support thinking"))
            let reply7 = try await Self.post(standIn, Self.chat("tiny", "Hi", ["think": false]))
            #expect(reply7.status == 200)
        }
    }

    @Test("O-B9: a prompt longer than the context is cut to num_keep plus the tail; without context shift it is a 400")
    func contextTruncation() async throws {
        var rigid = Self.tiny
        rigid.name = "rigid:latest"
        rigid.contextShift = false
        try await OllamaStandIn.with(models: [Self.tiny, rigid]) { standIn in
            let prompt = (0..<700).map { "w\($0)" }.joined(separator: " ")
            let cut = try await Self.post(standIn, Self.chat("tiny", prompt, ["options": ["num_ctx": 512]]))
            #expect(Self.number(cut.lines.last?["prompt_eval_count"]) == 258)  // 512 - (512 - 4) / 2
            // The first 4 words and the tail: the answer starts with what was kept.
            #expect(cut.lines.last?["message"]?["content"]?.stringValue?.hasPrefix("You said: w0 w1 w2 w3 w446") == true)
            let refused = try await Self.post(standIn, Self.chat("rigid", prompt, ["options": ["num_ctx": 512]]))
            #expect(refused.status == 400)
            #expect(refused.lines.first?["error"]?.stringValue?.contains("longer than the context length") == true)
        }
    }

    @Test("O-B10: a :cloud model is answered but never listed in /api/ps; /api/tags marks it remote")
    func cloudNamesAreNeverLoaded() async throws {
        let cloud = OllamaStandIn.Model("gpt-oss:120b-cloud")
        try await OllamaStandIn.with(models: [cloud]) { standIn in
            let reply = try await Self.post(standIn, Self.chat("gpt-oss:120b-cloud"))
            #expect(reply.status == 200)
            #expect(standIn.loadedNames.isEmpty)
            let installed = try await OllamaClient(baseURL: standIn.baseURL).installedModels()
            #expect(installed.first?.remoteHost != nil)
        }
    }

    @Test("O-B11: nothing, not even the head, is sent before the prompt is evaluated")
    func headAfterPromptEvaluation() async throws {
        var settings = OllamaStandIn.Settings()
        settings.promptDelay = 0.4
        try await OllamaStandIn.with(models: [Self.tiny], settings: settings) { standIn in
            _ = try await Self.post(standIn, Self.load("tiny"))
            var body = Self.chat("tiny")
            body["stream"] = true
            let started = ContinuousClock.now
            let response = try await AsyncHTTPTransport().send(.json(standIn.baseURL + "/api/chat", body), connectTimeout: 5)
            #expect(ContinuousClock.now - started >= .milliseconds(400))
            _ = try await response.collect()
        }
    }

    @Test("O-B12: /api/show sends arrays longer than 5 as [] unless verbose, and always tensors")
    func showArraysAndTensors() async throws {
        var layered = Self.qwen
        layered.headCountKVPerLayer = [8, 8, 4, 4, 8, 8]
        try await OllamaStandIn.with(models: [layered]) { standIn in
            let brief = try await Self.show(standIn, ["model": "qwen:7b"])
            let full = try await Self.show(standIn, ["model": "qwen:7b", "verbose": true])
            #expect(brief.lines.first?["model_info"]?["qwen2.attention.head_count_kv"] == .array([]))
            #expect(brief.lines.first?["model_info"]?["tokenizer.ggml.tokens"] == .array([]))
            #expect(Self.array(full.lines.first?["model_info"]?["qwen2.attention.head_count_kv"])?.count == 6)
            #expect(Self.array(brief.lines.first?["tensors"])?.isEmpty == false)
            #expect(Self.array(full.lines.first?["tensors"])?.isEmpty == false)
        }
    }

    @Test("O-B13: an unloaded model stays listed, expiring now, until its running request ends and its process exits")
    func unloadLingersUntilIdle() async throws {
        var settings = OllamaStandIn.Settings()
        settings.tokenDelay = 0.3  // a 3-second reply: the unload lands while it runs, even on a busy machine
        settings.unloadLinger = 0.1
        try await OllamaStandIn.with(models: [Self.tiny], settings: settings) { standIn in
            let client = OllamaClient(baseURL: standIn.baseURL, pollInterval: 0.02)
            _ = try await client.load("tiny", settings: StageSettings())
            let running = Task { await GenerationOutcome.of(client, OllamaFidelityTests.request("tiny")).error == nil }
            // The unload must land while the request runs: wait until it does (a fixed 300 ms was not enough on a
            // loaded machine, 2026-12-07: the unload came first and the request loaded the model again).
            let started = ContinuousClock.now + .seconds(120)
            while standIn.requestsInFlight == 0, ContinuousClock.now < started { try await Task.sleep(for: .milliseconds(20)) }
            #expect(standIn.requestsInFlight == 1)
            let unload = try await Self.post(standIn, Self.load("tiny", ["keep_alive": 0]))
            #expect(unload.lines.first?["done_reason"] == .string("unload"))
            let during = try await client.loadedModels()
            #expect(during.map(\.name) == ["tiny:latest"])  // still running a request
            let expires = try #require(during.first?.expiresAt.flatMap(OllamaClient.goTime))
            #expect(expires.timeIntervalSinceNow < 5)
            #expect(await running.value)
            // Gone once the request ended and the linger passed; polled, since a loaded machine delays both.
            let deadline = ContinuousClock.now + .seconds(120)
            while !standIn.loadedNames.isEmpty, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(50)) }
            #expect(standIn.loadedNames.isEmpty)
        }
    }

    @Test("O-B14: v0.33's texts: /api/show names an unknown model with its tag, chat as asked")
    func notFoundTexts() async throws {
        try await OllamaStandIn.with(models: [Self.tiny]) { standIn in
            let show = try await Self.show(standIn, ["model": "nope"])
            #expect(show.status == 404)
            #expect(show.lines.first?["error"] == .string("model 'nope:latest' not found"))
            let chat = try await Self.post(standIn, Self.chat("nope"))
            #expect(chat.lines.first?["error"] == .string("model 'nope' not found"))
        }
    }
}
