import BatonEngine
import BatonSpec
import BatonTestSupport
import Foundation
import Testing

/// Embeddings on the real llama-server (b11434) with all-MiniLM-L6-v2 converted to GGUF by
/// `scripts/setup-embedding-model.sh`, served by the router beside a Gemma chat name with its own flags
/// (`scripts/start-llama-router.sh --embedding minilm=GGUF`: `--embeddings --pooling mean` for that model only).
///
/// The vectors are compared with `Fixtures/minilm-reference.json`, which `scripts/embedding/reference_embeddings.py`
/// computed from the same safetensors weights by a NumPy forward pass (no llama.cpp, no torch): a wrong conversion
/// (vocab, token types, pooling, a tensor mapped to the wrong name) moves the cosine far below 0.99.
@Suite(
    .serialized, .enabled(if: !LlamaRouter.skipped, "BATON_SKIP_INTEGRATION=1"),
    .enabled(if: LlamaRouter.embeddingModel != nil, "BATON_EMBED_GGUF is unset (scripts/setup-embedding-model.sh)"))
struct LlamaEmbeddingTests {
    struct Reference: Decodable {
        struct Sentence: Decodable {
            var text: String
            var vector: [Float]
        }
        var package: String
        var dimensions: Int
        var sentences: [Sentence]
    }

    static func reference() throws -> Reference {
        let data = try Data(contentsOf: URL(fileURLWithPath: Fixtures.path("Tests/BatonEngineTests/Fixtures/minilm-reference.json")))
        return try JSONDecoder().decode(Reference.self, from: data)
    }

    static func dot(_ a: [Float], _ b: [Float]) -> Double { zip(a, b).reduce(0) { $0 + Double($1.0) * Double($1.1) } }

    static func withRouter<T>(_ body: (LlamaServerClient) async throws -> T) async throws -> T {
        let model = try #require(LlamaRouter.embeddingModel)
        return try await LlamaRouter.with(names: ["planner"], embeddings: ["minilm": model]) { router in
            try await body(LlamaServerClient(baseURL: router.url))
        }
    }

    @Test("Every reference sentence embeds to a unit vector of 384 floats within cosine 0.99 of the NumPy reference")
    func matchesTheReference() async throws {
        let reference = try Self.reference()
        #expect(reference.sentences.count >= 8)
        try await Self.withRouter { client in
            // Batches of 3: several requests, and the order kept across them.
            let embedder = Embedder(runtime: client, model: "minilm", batchSize: 3)
            let vectors = try await embedder.embed(reference.sentences.map(\.text))
            #expect(embedder.requestCount == (reference.sentences.count + 2) / 3)
            for (sentence, vector) in zip(reference.sentences, vectors) {
                #expect(vector.count == 384)
                #expect(abs(Self.dot(vector, vector) - 1) < 1e-5)
                let cosine = Self.dot(vector, sentence.vector)
                #expect(cosine >= 0.99, "cosine \(cosine) for '\(sentence.text)'")
            }
            // The server normalizes by itself (`embd_normalize` 2): its raw vectors are unit length too.
            let raw = try await client.embed([reference.sentences[0].text], model: "minilm")
            #expect(abs(Self.dot(raw.vectors[0], raw.vectors[0]) - 1) < 1e-4)
            #expect(raw.promptTokens == 12)  // [CLS] + 10 word pieces + [SEP]
        }
    }

    @Test("A paraphrase scores above every unrelated sentence")
    func paraphrasesScoreHigher() async throws {
        try await Self.withRouter { client in
            let texts = [
                "A man is playing a guitar on the stage.", "Someone performs music with a guitar in front of an audience.",
                "The cat sleeps on the warm windowsill.", "Quarterly revenue grew by twelve percent in Europe.",
                "How do I reset my password?", "I forgot my login credentials and need to change them.",
            ]
            let vectors = try await Embedder(runtime: client, model: "minilm", batchSize: 32).embed(texts)
            for (a, b) in [(0, 1), (4, 5)] {
                let paraphrase = Self.dot(vectors[a], vectors[b])
                #expect(paraphrase > 0.5, "'\(texts[a])' ~ '\(texts[b])': \(paraphrase)")
                for other in texts.indices where other != a && other != b {
                    #expect(paraphrase > Self.dot(vectors[a], vectors[other]) + 0.3)
                }
            }
        }
    }

    @Test("The digest is the GGUF's SHA-256; a chat model and an unknown name are refused with the fix")
    func identityAndRefusals() async throws {
        let digest = try EmbeddingIdentity.sha256(ofFile: try #require(LlamaRouter.embeddingModel))
        try await Self.withRouter { client in
            #expect(await client.embeddingModelDigest("minilm") == digest)
            #expect(await client.embeddingModelDigest("nosuch") == nil)
            let chat = await #expect(throws: RuntimeError.self) { _ = try await client.embed(["hello"], model: "planner") }
            #expect(chat?.isTransient == false)
            #expect(chat?.message.contains("without embeddings") == true, "\(chat?.message ?? "")")
            let unknown = await #expect(throws: RuntimeError.self) { _ = try await client.embed(["hello"], model: "nosuch") }
            #expect(unknown?.code == .modelNotFound)
        }
    }
}
