import BatonSpec
import BatonTestSupport
import Foundation
import Testing

@testable import BatonEngine

/// The embedding clients against the stand-ins (Ollama's `/api/embed`, OpenAI's `/v1/embeddings`) and canned
/// llama-server answers, the echo runtime's vectors, and the ``Embedder`` above them: request shapes, order, batches
/// and request counts, retries, errors, dimensions, normalization.
@Suite struct EmbeddingClientTests {
    static let texts = [
        "The cat sleeps on the warm windowsill", "Quarterly revenue grew in Europe", "How do I reset my password",
    ]

    static func norm(_ vector: [Float]) -> Double { Double(vector.reduce(Float(0)) { $0 + $1 * $1 }).squareRoot() }

    static func cosine(_ a: [Float], _ b: [Float]) -> Double {
        zip(a, b).reduce(0) { $0 + Double($1.0) * Double($1.1) } / (norm(a) * norm(b))
    }

    // MARK: - Ollama

    @Test func ollamaSendsTheTextsInOneRequestAndKeepsTheirOrder() async throws {
        try await OllamaStandIn.with(models: [.init("minilm")]) { standIn in
            let client = OllamaClient(baseURL: standIn.baseURL)
            let batch = try await client.embed(Self.texts, model: "minilm")
            #expect(batch.vectors == Self.texts.map { EchoRuntime.hashedVector(of: $0, dimensions: 384) })
            #expect(batch.promptTokens == Self.texts.map { $0.split(separator: " ").count }.reduce(0, +))
            let request = try #require(standIn.embedRequests.first)
            #expect(standIn.embedRequests.count == 1)
            #expect(request.body?["model"] == .string("minilm"))
            #expect(request.body?["input"] == .array(Self.texts.map { .string($0) }))
            #expect(request.body?["truncate"] == .bool(true))
            #expect(request.body?["keep_alive"] == .number(-1))
            #expect(request.body?["options"]?["num_ctx"] == .number(Double(OllamaClient.defaultNumCtx)))
            // The model is scheduled like a chat's, with the options a load sends, so no reload follows.
            #expect(standIn.loadedNames == ["minilm:latest"])
            #expect(standIn.reloads == 0)
        }
    }

    @Test func ollamaReportsAnUnknownModelAsModelNotFound() async throws {
        try await OllamaStandIn.with(models: [.init("minilm")]) { standIn in
            let error = await #expect(throws: RuntimeError.self) {
                _ = try await OllamaClient(baseURL: standIn.baseURL).embed(["hello"], model: "nomic-embed-text")
            }
            #expect(error?.code == .modelNotFound)
            #expect(error?.isTransient == false)
            #expect(error?.message.contains("nomic-embed-text") == true)
            #expect(error?.message.contains("ollama pull") == true)
        }
    }

    @Test func ollamaRetriesA503ThenSucceeds() async throws {
        var settings = OllamaStandIn.Settings()
        settings.embedFaults = [(503, "server busy, please try again.  maximum pending requests exceeded")]
        try await OllamaStandIn.with(models: [.init("minilm")], settings: settings) { standIn in
            let embedder = Embedder(runtime: OllamaClient(baseURL: standIn.baseURL), model: "minilm", batchSize: 8)
            let vectors = try await embedder.embed(Self.texts)
            #expect(vectors.count == 3)
            #expect(embedder.requestCount == 2)
            #expect(standIn.embedRequests.count == 2)
        }
    }

    @Test func ollamaDigestComesFromTheTagsList() async throws {
        let model = OllamaStandIn.Model("minilm")
        try await OllamaStandIn.with(models: [model, .init("other")]) { standIn in
            let client = OllamaClient(baseURL: standIn.baseURL)
            #expect(await client.embeddingModelDigest("minilm") == model.digest)
            #expect(await client.embeddingModelDigest("minilm:latest") == model.digest)
            #expect(await client.embeddingModelDigest("missing") == nil)
        }
    }

    @Test func theOllamaStandInAnswersEdgeCasesAsUpstream() async throws {
        try await OllamaStandIn.with(models: [.init("minilm", contextLength: 4)]) { standIn in
            func post(_ body: [String: Any]) async throws -> (Int, [String: Any]) {
                let response = try await AsyncHTTPTransport().send(
                    HTTPRequest.json(standIn.baseURL + "/api/embed", body), connectTimeout: 10)
                let data = try await response.collect()
                return (response.status, (try JSONSerialization.jsonObject(with: data) as? [String: Any]) ?? [:])
            }
            // An empty string is no input: 200 with no embeddings (`routes.go:819-823, 860-863`).
            let (emptyStatus, empty) = try await post(["model": "minilm", "input": ""])
            #expect(emptyStatus == 200)
            #expect((empty["embeddings"] as? [Any])?.isEmpty == true)
            #expect(empty["prompt_eval_count"] == nil)
            // A single string is one input.
            let (_, single) = try await post(["model": "minilm", "input": "hello there"])
            #expect((single["embeddings"] as? [Any])?.count == 1)
            #expect(single["prompt_eval_count"] as? Int == 2)
            let (badStatus, bad) = try await post(["model": "minilm", "input": [1, 2]])
            #expect(badStatus == 400)
            #expect(bad["error"] as? String == "invalid input type")
            // Longer than the context: cut by default, refused with `truncate: false`.
            let long = "one two three four five six"
            let (cutStatus, cut) = try await post(["model": "minilm", "input": [long]])
            #expect(cutStatus == 200)
            #expect(cut["prompt_eval_count"] as? Int == 4)
            let (refusedStatus, refused) = try await post(["model": "minilm", "input": [long], "truncate": false])
            #expect(refusedStatus == 400)
            #expect(refused["error"] as? String == "the input length exceeds the context length")
        }
    }

    // MARK: - OpenAI and compatible servers

    @Test func openAISendsTheKeyAndTheOpenAIShape() async throws {
        try await OpenAIStandIn.with(apiKey: CloudClientTests.openAIKey, models: [.init("text-embedding-3-small")]) { standIn in
            let client = CloudClientTests.openAI(standIn)
            #expect(client.embeddingsURL == standIn.baseURL + "/embeddings")
            let batch = try await client.embed(Self.texts, model: "text-embedding-3-small")
            #expect(batch.vectors == Self.texts.map { EchoRuntime.hashedVector(of: $0, dimensions: 1536) })
            #expect(batch.promptTokens == Self.texts.map { $0.split(separator: " ").count }.reduce(0, +))
            let request = try #require(standIn.embeddingRequests.first)
            #expect(request.header("authorization") == "Bearer \(CloudClientTests.openAIKey)")
            #expect(request.body?["model"] == .string("text-embedding-3-small"))
            #expect(request.body?["input"] == .array(Self.texts.map { .string($0) }))
            #expect(request.body?["encoding_format"] == .string("float"))
            #expect(await client.embeddingModelDigest("text-embedding-3-small") == nil)
        }
    }

    @Test func vectorsArePlacedByTheirIndexNotByArrival() async throws {
        var quirks = OpenAIStandIn.Quirks()
        quirks.reversedEmbeddings = true
        try await OpenAIStandIn.with(apiKey: CloudClientTests.openAIKey, models: [.init("embed")], quirks: quirks) { standIn in
            let batch = try await CloudClientTests.openAI(standIn).embed(Self.texts, model: "embed")
            #expect(batch.vectors == Self.texts.map { EchoRuntime.hashedVector(of: $0, dimensions: 1536) })
        }
    }

    @Test func openAIErrorsMapToCodesAndNeverShowTheKey() async throws {
        try await OpenAIStandIn.with(apiKey: CloudClientTests.openAIKey, models: [.init("embed")]) { standIn in
            let missing = await #expect(throws: RuntimeError.self) {
                _ = try await CloudClientTests.openAI(standIn).embed(["hello"], model: "text-embedding-9")
            }
            #expect(missing?.code == .modelNotFound)
            #expect(missing?.isTransient == false)
            // An empty text is a 400 at OpenAI ("cannot be an empty string"): permanent, with the API's message.
            let empty = await #expect(throws: RuntimeError.self) {
                _ = try await CloudClientTests.openAI(standIn).embed(["hello", ""], model: "embed")
            }
            #expect(empty?.code == .httpStatus)
            #expect(empty?.isTransient == false)
            #expect(empty?.message.contains("'$.input' is invalid") == true)
            let wrongKey = "sk-proj-wrong-0123456789abcdefWXYZ"
            let rejected = await #expect(throws: RuntimeError.self) {
                _ = try await CloudClientTests.openAI(standIn, key: wrongKey).embed(["hello"], model: "embed")
            }
            #expect(rejected?.message.contains("rejected the API key") == true)
            #expect(rejected?.message.contains(wrongKey) == false)
        }
    }

    @Test func openAIRetriesA503ThenSucceedsAndGivesUpAfterItsRetries() async throws {
        try await OpenAIStandIn.with(apiKey: CloudClientTests.openAIKey, models: [.init("embed")]) { standIn in
            standIn.inject(.status(503))
            let embedder = Embedder(runtime: CloudClientTests.openAI(standIn), model: "embed", batchSize: 32)
            let vectors = try await embedder.embed(Self.texts)
            #expect(vectors == Self.texts.map { EchoRuntime.hashedVector(of: $0, dimensions: 1536) })
            #expect(embedder.requestCount == 2)
            #expect(standIn.embeddingRequests.count == 2)

            standIn.inject(.status(503, count: 5))
            let patient = Embedder(runtime: CloudClientTests.openAI(standIn), model: "embed", batchSize: 32, retries: 1)
            let error = await #expect(throws: RuntimeError.self) { _ = try await patient.embed(Self.texts) }
            #expect(error?.isTransient == true)
            #expect(error?.message.contains("503") == true)
            #expect(patient.requestCount == 2)
        }
    }

    // MARK: - llama-server (canned answers; the real server is in LlamaEmbeddingTests)

    /// Answers every request with one status and body, and records the requests.
    final class CannedTransport: HTTPTransport, @unchecked Sendable {
        let status: Int
        let body: String
        private let lock = NSLock()
        private var sent: [HTTPRequest] = []

        init(status: Int, body: String) {
            self.status = status
            self.body = body
        }

        var requests: [HTTPRequest] { lock.withLock { sent } }

        func send(_ request: HTTPRequest, connectTimeout: Double) async throws -> HTTPResponse {
            lock.withLock { sent.append(request) }
            let data = Data(body.utf8)
            return HTTPResponse(
                status: status,
                body: AsyncThrowingStream {
                    $0.yield(data)
                    $0.finish()
                })
        }
    }

    @Test func llamaServerSendsTheModelAndReadsTheOpenAIShape() async throws {
        let answer = """
            {"model":"minilm","object":"list","usage":{"prompt_tokens":9,"total_tokens":9},"data":[\
            {"embedding":[0.6,0.8],"index":1,"object":"embedding"},{"embedding":[1,0],"index":0,"object":"embedding"}]}
            """
        let transport = CannedTransport(status: 200, body: answer)
        let batch = try await LlamaServerClient(baseURL: "http://127.0.0.1:9", transport: transport).embed(["a", "b"], model: "minilm")
        #expect(batch == EmbeddingBatch(vectors: [[1, 0], [0.6, 0.8]], promptTokens: 9))
        let request = try #require(transport.requests.first)
        #expect(request.url == "http://127.0.0.1:9/v1/embeddings")
        let body = try #require(try JSONSerialization.jsonObject(with: request.body ?? Data()) as? [String: Any])
        #expect(body["model"] as? String == "minilm")
        #expect(body["input"] as? [String] == ["a", "b"])
    }

    struct LlamaErrorCase: Sendable, CustomTestStringConvertible {
        var status: Int
        var body: String
        var code: RuntimeError.Code
        var transient: Bool
        var mentions: String
        var testDescription: String { "\(status) \(mentions)" }
    }

    /// The error bodies of llama-server b11434 (`server-context.cpp` `handle_embeddings_impl`, `server-models.cpp`),
    /// as the router sent them here.
    static let llamaErrors: [LlamaErrorCase] = [
        .init(
            status: 501,
            body:
                #"{"error":{"code":501,"message":"This server does not support embeddings. Start it with `--embeddings`","type":"not_supported_error"}}"#,
            code: .httpStatus, transient: false, mentions: "--embedding minilm="),
        .init(
            status: 400, body: #"{"error":{"code":400,"message":"model 'minilm' not found","type":"invalid_request_error"}}"#,
            code: .modelNotFound, transient: false, mentions: "has no model 'minilm'"),
        .init(
            status: 500,
            body:
                #"{"error":{"code":500,"message":"input (600 tokens) is too large to process. increase the physical batch size (current batch size: 512)","type":"server_error"}}"#,
            code: .contextExceeded, transient: false, mentions: "lower the index's chunk size"),
        .init(
            status: 503, body: #"{"error":{"code":503,"message":"Loading model","type":"unavailable_error"}}"#, code: .httpStatus,
            transient: true, mentions: "Loading model"),
    ]

    @Test(arguments: llamaErrors)
    func llamaServerErrorsNameTheFix(_ expected: LlamaErrorCase) async throws {
        let transport = CannedTransport(status: expected.status, body: expected.body)
        let client = LlamaServerClient(baseURL: "http://127.0.0.1:9", transport: transport)
        let error = await #expect(throws: RuntimeError.self) { _ = try await client.embed(["a"], model: "minilm") }
        #expect(error?.code == expected.code)
        #expect(error?.isTransient == expected.transient)
        #expect(error?.message.contains(expected.mentions) == true, "\(error?.message ?? "")")
    }

    @Test func noTextsMeansNoRequest() async throws {
        let transport = CannedTransport(status: 500, body: "{}")
        let batch = try await LlamaServerClient(baseURL: "http://127.0.0.1:9", transport: transport).embed([], model: "minilm")
        #expect(batch.vectors.isEmpty)
        #expect(transport.requests.isEmpty)
    }

    // MARK: - Embedder

    /// Returns scripted vectors per request and counts the texts it saw.
    final class FakeRuntime: EmbeddingRuntime, @unchecked Sendable {
        let answer: @Sendable (_ request: Int, _ texts: [String]) throws -> [[Float]]
        private let lock = NSLock()
        private var batches: [[String]] = []

        init(_ answer: @escaping @Sendable (_ request: Int, _ texts: [String]) throws -> [[Float]]) { self.answer = answer }

        var seen: [[String]] { lock.withLock { batches } }

        func embed(_ texts: [String], model: String) async throws -> EmbeddingBatch {
            let index = lock.withLock {
                batches.append(texts)
                return batches.count - 1
            }
            return EmbeddingBatch(vectors: try answer(index, texts), promptTokens: nil)
        }

        func embeddingModelDigest(_ model: String) async -> String? { nil }
    }

    @Test func theEmbedderBatchesInOrder() async throws {
        let texts = (1...70).map { "text number \($0)" }
        let runtime = FakeRuntime { _, texts in texts.map { [Float(Int($0.split(separator: " ").last!)!), 1] } }
        let embedder = Embedder(runtime: runtime, model: "m", batchSize: 32)
        let vectors = try await embedder.embed(texts)
        #expect(runtime.seen.map(\.count) == [32, 32, 6])
        #expect(runtime.seen.flatMap { $0 } == texts)
        #expect(embedder.requestCount == 3)
        #expect(vectors.count == 70)
        for (index, vector) in vectors.enumerated() {
            let n = Float(index + 1)
            let scale = 1 / (n * n + 1).squareRoot()
            #expect(abs(vector[0] - n * scale) < 1e-6 && abs(vector[1] - scale) < 1e-6)
        }
    }

    @Test func theEmbedderNormalizesWhatTheRuntimeDoesNot() async throws {
        let embedder = Embedder(runtime: FakeRuntime { _, texts in texts.map { _ in [3, 4, 0] } }, model: "m", batchSize: 4)
        let vectors = try await embedder.embed(["a", "b"])
        #expect(vectors == [[0.6, 0.8, 0], [0.6, 0.8, 0]])
    }

    @Test func aChangeOfDimensionIsRefusedNamingTheModel() async throws {
        let runtime = FakeRuntime { request, texts in texts.map { _ in [Float](repeating: 1, count: request == 0 ? 384 : 256) } }
        let embedder = Embedder(runtime: runtime, model: "all-minilm", batchSize: 2)
        let error = await #expect(throws: RuntimeError.self) { _ = try await embedder.embed(["a", "b", "c"]) }
        #expect(error?.code == .badResponse)
        #expect(error?.isTransient == false)
        #expect(error?.message.contains("'all-minilm'") == true)
        #expect(error?.message.contains("256") == true && error?.message.contains("384") == true)
    }

    @Test func aWrongNumberOfVectorsOrAZeroVectorIsRefused() async throws {
        let short = Embedder(runtime: FakeRuntime { _, _ in [[1, 0]] }, model: "m", batchSize: 4)
        let count = await #expect(throws: RuntimeError.self) { _ = try await short.embed(["a", "b"]) }
        #expect(count?.message.contains("1 vectors for 2 texts") == true)
        let zero = Embedder(runtime: FakeRuntime { _, texts in texts.map { _ in [0, 0] } }, model: "m", batchSize: 4)
        let error = await #expect(throws: RuntimeError.self) { _ = try await zero.embed(["a"]) }
        #expect(error?.message.contains("zero") == true)
    }

    @Test func aPermanentErrorIsNotRetried() async throws {
        let runtime = FakeRuntime { _, _ in throw RuntimeError(.modelNotFound, "no such model", isTransient: false) }
        let embedder = Embedder(runtime: runtime, model: "m", batchSize: 4)
        await #expect(throws: RuntimeError.self) { _ = try await embedder.embed(["a"]) }
        #expect(embedder.requestCount == 1)
    }

    // MARK: - Weights identity

    @Test func theFileDigestIsItsSHA256AndFollowsChanges() throws {
        let path = NSTemporaryDirectory() + "embedding-identity-\(UUID().uuidString).gguf"
        defer { try? FileManager.default.removeItem(atPath: path) }
        try Data("abc".utf8).write(to: URL(fileURLWithPath: path))
        #expect(try EmbeddingIdentity.sha256(ofFile: path) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        // Another size (and time): hashed again, not served from the cache.
        try Data("abcd".utf8).write(to: URL(fileURLWithPath: path))
        #expect(try EmbeddingIdentity.sha256(ofFile: path) == "88d4266fd4e6338d13b845fcf289579d209c897823b9217da3e161936f031589")
        #expect(throws: (any Error).self) { try EmbeddingIdentity.sha256(ofFile: path + ".missing") }
    }

    // MARK: - Echo

    @Test func echoVectorsAreDeterministicUnitVectorsOfTheConfiguredWidth() async throws {
        let first = try await EchoRuntime().embed(Self.texts, model: "any")
        let second = try await EchoRuntime().embed(Self.texts, model: "other")
        #expect(first == second)
        #expect(first.vectors.allSatisfy { $0.count == 384 && abs(Self.norm($0) - 1) < 1e-6 })
        #expect(first.promptTokens == 18)
        // A fixed expectation, so a change of hash (or a seeded one) is caught: FNV-1a 64 of "cat".
        #expect(EchoRuntime.fnv1a("cat") == 0xf5e3_0719_0ce4_a327)
        let cat = EchoRuntime.hashedVector(of: "Cat!", dimensions: 384)
        #expect(cat[Int(EchoRuntime.fnv1a("cat") % 384)].magnitude == 1)

        let options = try EchoRuntime.options(from: ["embed_dimensions": "64"], environment: [:])
        let narrow = try await EchoRuntime(options: options).embed(["hello"], model: "m")
        #expect(narrow.vectors[0].count == 64)
        #expect(await EchoRuntime(options: options).embeddingModelDigest("m") != (await EchoRuntime().embeddingModelDigest("m")))
        #expect(throws: RuntimeError.self) { try EchoRuntime.options(from: ["embed_dimensions": "0"], environment: [:]) }
        // A text without words still gets a unit vector.
        #expect(abs(Self.norm(EchoRuntime.hashedVector(of: "  ?! ", dimensions: 8)) - 1) < 1e-6)
    }

    @Test func echoScoresAParaphraseWithSharedWordsAboveAnUnrelatedText() async throws {
        let batch = try await EchoRuntime().embed(
            [
                "how do I reset my password", "reset the password of my account",
                "quarterly revenue grew by twelve percent in europe",
            ], model: "m")
        let paraphrase = Self.cosine(batch.vectors[0], batch.vectors[1])
        let unrelated = Self.cosine(batch.vectors[0], batch.vectors[2])
        #expect(paraphrase > 0.4)
        #expect(paraphrase > unrelated + 0.3)
    }
}
