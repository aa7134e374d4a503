import BatonEngine
import BatonSpec
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
        guard let data = FileManager.default.contents(atPath: path), let document = try? JSONDecoder().decode(Document.self, from: data)
        else {
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
        /// Questions whose file was the first chunk's (printed, not required).
        var first = 0
        var total: Int
        var misses: [String]
        var share: Double { total == 0 ? 0 : Double(hits) / Double(total) }
        var description: String { "\(mode) \(hits)/\(total) (\(Int((share * 100).rounded())) %; first: \(first))" }
    }

    /// Asks every question with `baton search corpus Q --mode MODE --top-k 3 --json` (the sandbox's profile) and counts
    /// the hits.
    static func rate(_ sandbox: RunSandbox, mode: String) async throws -> Rate {
        var rate = Rate(mode: mode, hits: 0, total: questions.count, misses: [])
        for question in questions {
            let (result, document) = try await IndexSandbox.search(sandbox, question.question, ["--mode", mode, "--top-k", "3"])
            try #require(result.status == 0, "\(mode) search of '\(question.question)': \(result.summary)")
            let sources = (document["results"] as? [[String: Any]] ?? []).compactMap { $0["source"] as? String }
            if sources.first == "corpus/" + question.file { rate.first += 1 }
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

    @Test(
        "sqlite-vec returns the same chunks in the same order as exact search for every golden question (vector and hybrid)",
        .enabled(
            if: ProcessInfo.processInfo.environment["BATON_SQLITE_VEC"] != nil,
            "BATON_SQLITE_VEC is unset (scripts/setup-sqlite-vec.sh prints it; scripts/test.sh exports it)"))
    func sqliteVecParity() async throws {
        let sandbox = try IndexSandbox.make("golden-sqlite-vec")
        sandbox.environment["BATON_SQLITE_VEC"] = ProcessInfo.processInfo.environment["BATON_SQLITE_VEC"]
        // The same corpus twice: `corpus` searched exactly, `vec` through the vec0 table.
        try """
        version: 1
        name: vec
        indexes:
          vec:
            sources: ["corpus/**/*"]
            chunk: {by: paragraph, size: 800, overlap: 100}
            embed: {model: all-minilm, batch: 16}
            vector: sqlite-vec
        stages:
          facts:
            retrieve: {index: vec, query: x}
        """.write(toFile: sandbox.folder + "/vec.yaml", atomically: true, encoding: .utf8)
        try #require(try await IndexSandbox.index(sandbox).result.status == 0)
        let built = try await IndexSandbox.index(sandbox, ["vec"])
        try #require(built.result.status == 0, "\(built.result.summary)")
        for mode in ["vector", "hybrid"] {
            for question in Self.questions {
                func ranked(_ index: String) async throws -> [String] {
                    let result = try await sandbox.baton(["search", index, question.question, "--mode", mode, "--top-k", "5", "--json"])
                    try #require(result.status == 0, "\(result.summary)")
                    let document = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
                    return (document["results"] as? [[String: Any]] ?? []).map { "\($0["source"] ?? ""):\($0["line"] ?? "")" }
                }
                let exact = try await ranked("corpus")
                #expect(exact.count == 5)
                #expect(try await ranked("vec") == exact, "\(mode): '\(question.question)'")
            }
        }
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

/// The golden questions and incremental indexing with the real embedding model: all-MiniLM-L6-v2 as a GGUF
/// (`BATON_EMBED_GGUF`, from scripts/setup-embedding-model.sh) on a llama-server router of its own, started with
/// `scripts/start-llama-router.sh --embedding`. Embedding requests are counted on the server: the router logs
/// "proxying request to model NAME" for each request it forwards to the model's server.
@Suite(
    .enabled(
        if: RealEmbeddings.gguf != nil && !LlamaRouter.skipped,
        "BATON_EMBED_GGUF is unset (scripts/setup-embedding-model.sh prints the GGUF; scripts/test.sh exports it) or BATON_SKIP_INTEGRATION=1"
    ), .serialized)
struct GoldenRetrievalRealModelTests {
    /// A router serving the GGUF as `all-minilm`, and Gemma 3 270M (scripts/setup-model.sh) as `gemma-embed` (mean
    /// pooling over a chat model's last layer: another model, of another width, for the model switch); a sandbox whose
    /// profile `embed.yaml` registers both on it.
    static func withRouter(_ name: String, _ body: (RunSandbox, RealEmbeddings.Router) async throws -> Void) async throws {
        let gguf = try #require(RealEmbeddings.gguf)
        let (status, output) = try await Tools.run("/bin/bash", [Fixtures.path("scripts/setup-model.sh")])
        let gemma = try #require(
            output.split(separator: "\n").last { $0.hasSuffix(".gguf") }.map(String.init), "setup-model.sh (\(status)): \(output)")
        let router = try await RealEmbeddings.Router.start(embeddings: ["all-minilm": gguf, "gemma-embed": gemma])
        do {
            let sandbox = try IndexSandbox.make(name)
            try """
            version: 1
            name: embed
            memory_budget: 2GB
            default_runtime: local
            runtimes:
              local: {kind: llama-server, url: "\(router.url)"}
            models:
              all-minilm: {runtime: local, footprint: 120MB, context_length: 512, file: "\(gguf)"}
              gemma-embed: {runtime: local, footprint: 430MB, context_length: 2048, file: "\(gemma)"}
            """.write(toFile: sandbox.folder + "/embed.yaml", atomically: true, encoding: .utf8)
            sandbox.environment["BATON_PROFILE"] = sandbox.folder + "/embed.yaml"
            try await body(sandbox, router)
            await router.stop()
        } catch {
            await router.stop()
            throw error
        }
    }

    @Test("the real model: the answering file is in the top 3 for at least 90 % of the questions, in vector, keyword and hybrid search")
    func golden() async throws {
        try await Self.withRouter("golden-real") { sandbox, _ in
            let built = try await IndexSandbox.index(sandbox)
            try #require(built.result.status == 0, "\(built.result.summary)")
            var rates: [GoldenRetrievalTests.Rate] = []
            for mode in ["vector", "keyword", "hybrid"] { rates.append(try await GoldenRetrievalTests.rate(sandbox, mode: mode)) }
            print("golden retrieval, all-MiniLM-L6-v2 on llama-server, top 3: \(rates.map(\.description).joined(separator: ", "))")
            for rate in rates {
                #expect(rate.share >= GoldenRetrievalTests.required, "\(rate): \(rate.misses.joined(separator: "\n"))")
            }
        }
    }

    @Test(
        "the real model: nothing changed makes no embedding request on the server, one changed file only its chunks', another model is refused"
    )
    func incremental() async throws {
        try await Self.withRouter("incremental-real") { sandbox, router in
            let built = try await IndexSandbox.index(sandbox)
            try #require(built.result.status == 0, "\(built.result.summary)")
            let chunks = try #require(built.summary["chunks_embedded"] as? Int)
            // Batches of 16 chunks (library.yaml), and the fingerprint's probe of the width.
            #expect(router.embeddingRequests("all-minilm") >= (chunks + 15) / 16, "\(chunks) chunks")

            var before = router.embeddingRequests("all-minilm")
            let again = try await IndexSandbox.index(sandbox)
            #expect(again.result.status == 0 && again.summary["chunks_embedded"] as? Int == 0, "\(again.result.summary)")
            #expect(router.embeddingRequests("all-minilm") == before, "an update with nothing to do sent embedding requests")

            let changed = sandbox.folder + "/corpus/docs/metrics.md"
            let text =
                try String(contentsOfFile: changed, encoding: .utf8)
                + "\n## Dashboards\n\nImport `deploy/grafana/quill.json` into Grafana.\n"
            try text.write(toFile: changed, atomically: true, encoding: .utf8)
            let expected = Chunker.chunks(
                of: text, source: "corpus/docs/metrics.md", spec: ChunkSpec(by: .paragraph, size: 800, overlap: 100))
            before = router.embeddingRequests("all-minilm")
            let update = try await IndexSandbox.index(sandbox)
            #expect(
                update.summary["changed"] as? Int == 1 && update.summary["chunks_embedded"] as? Int == expected.count,
                "\(update.result.summary)")
            #expect(router.embeddingRequests("all-minilm") - before == (expected.count + 15) / 16, "requests for one changed file")

            // Another model (other weights, another width): refused, and nothing is stored.
            try IndexSandbox.writeLibrary(sandbox, model: "gemma-embed")
            let refused = try await IndexSandbox.index(sandbox)
            #expect(refused.result.status == 65, "\(refused.result.summary)")
            #expect(
                refused.result.stderr.contains("'all-minilm'") && refused.result.stderr.contains("'gemma-embed'")
                    && refused.result.stderr.contains("--rebuild"), "\(refused.result.stderr)")
            let search = try await IndexSandbox.search(sandbox, "Grafana dashboards")
            #expect(search.result.status == 65, "\(search.result.summary)")
            let store = try #require(try IndexStore.openExisting(path: IndexSandbox.indexFile(sandbox)))
            #expect(try store.fingerprint()?.model == "all-minilm" && store.fingerprint()?.dimensions == 384)
        }
    }
}

/// The real embedding model, when set up.
enum RealEmbeddings {
    /// `BATON_EMBED_GGUF`, when it names a file.
    static let gguf: String? = {
        guard let path = ProcessInfo.processInfo.environment["BATON_EMBED_GGUF"], FileManager.default.fileExists(atPath: path) else {
            return nil
        }
        return path
    }()

    /// The router did not start.
    struct Failure: Error, CustomStringConvertible {
        var message: String
        var description: String { message }
    }

    /// A llama-server router of a test's own, serving embedding models (`start-llama-router.sh --embedding`).
    struct Router: Sendable {
        var url: String
        var stateDirectory: String

        static func start(embeddings: [String: String]) async throws -> Router {
            let state = NSTemporaryDirectory() + "baton-embed-router-\(UUID().uuidString.prefix(8))"
            var arguments = [
                Fixtures.path("scripts/start-llama-router.sh"), "--state-dir", state, "--names", "planner", "--models-max", "0",
                "--timeout", "120",
            ]
            for (name, path) in embeddings.sorted(by: { $0.key < $1.key }) { arguments += ["--embedding", "\(name)=\(path)"] }
            let (status, output) = try await Tools.run("/bin/bash", arguments)
            guard status == 0, let line = output.split(separator: "\n").first(where: { $0.hasPrefix("BATON_LLAMA_URL=") }) else {
                throw Failure(message: "start-llama-router.sh --embedding failed (\(status)):\n\(output)")
            }
            return Router(url: String(line.dropFirst("BATON_LLAMA_URL=".count)), stateDirectory: state)
        }

        /// Requests the router forwarded to model `name`'s server so far (its log's "proxying request to model NAME").
        func embeddingRequests(_ name: String) -> Int {
            let log = (try? String(contentsOfFile: stateDirectory + "/llama-server.log", encoding: .utf8)) ?? ""
            return log.components(separatedBy: "proxying request to model \(name) on port").count - 1
        }

        func stop() async {
            _ = try? await Tools.run(
                "/bin/bash", [Fixtures.path("scripts/stop-llama-router.sh"), "--state-dir", stateDirectory, "--timeout", "3"])
            if ProcessInfo.processInfo.environment["BATON_KEEP_ROUTER_STATE"] == nil {
                try? FileManager.default.removeItem(atPath: stateDirectory)
            }
        }
    }
}
