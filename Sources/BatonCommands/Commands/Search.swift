import ArgumentParser
import BatonEngine
import BatonSpec
import Foundation

extension BatonCommand {
    /// `baton search NAME "query"`: tries an index by hand.
    struct Search: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Search an index by hand: the chunks a retrieve stage with this query would get.",
            discussion: """
                Prints each chunk as `[n] path:line-end_line  score` (hybrid: the reciprocal rank fusion score, with the \
                cosine similarity beside it) and its text. Modes: vector (cosine similarity of the query's embedding), \
                keyword (FTS5 bm25 over the chunks' words; no embedding), hybrid (both, fused by reciprocal rank with \
                k = 60; the default, as in a retrieve stage). The index is not updated: a stale one answers from what it \
                holds and a note says so ('baton index NAME' updates it). With --json: the chunks with full text, the \
                index's fingerprint and the time spent embedding and searching. Exit codes: \(BatonExitCode.ok) searched \
                (also when nothing matched), \(BatonExitCode.runFailed) the index is not built or cannot be read, \
                \(BatonExitCode.usage) bad options or NAME declared differently by several pipelines, \
                \(BatonExitCode.invalidPipeline) the index was built with another model or chunker (rebuild it), \
                \(BatonExitCode.notFound) no such index, \(BatonExitCode.runtimeUnavailable) the runtime is down, \
                \(BatonExitCode.untrusted) refused by trust.

                Examples:
                  baton search baton-docs "how do I resume a run?"
                  baton search baton-docs "exit code 79" --mode keyword --top-k 3
                  baton search notes "quarterly budget" --json
                """)

        @Argument(help: "The index's name (its key under `indexes:`).")
        var name: String

        @Argument(help: "What to search for.")
        var query: String

        /// `--mode`: how the chunks are ranked.
        enum Mode: String, ExpressibleByArgument, CaseIterable {
            case vector, keyword, hybrid

            var searchMode: SearchMode {
                switch self {
                case .vector: return .vector
                case .keyword: return .keyword
                case .hybrid: return .hybrid
                }
            }
        }

        @Option(help: "vector, keyword or hybrid.")
        var mode: Mode = .hybrid

        @Option(name: .customLong("top-k"), help: "How many chunks to print (1 to 100).")
        var topK = RetrieveSpec.defaultTopK

        @Option(name: .customLong("min-score"), help: "The least cosine similarity a chunk must have (-1 to 1).")
        var minScore: Double?

        @Option(help: "The pipeline declaring the index (a name on the search path, or a file); default: any that does.")
        var pipeline: String?

        @OptionGroup var profileOption: ProfileOption

        @Flag(help: "Print one JSON document: the chunks, the fingerprint, timings.")
        var json = false

        @Flag(help: "Trust the project folder for this invocation only: its profile may send the query to a runtime off this machine.")
        var trust = false

        /// An index without `path:` lives beside this database.
        @OptionGroup var database: DatabaseOption

        func validate() throws {
            guard RetrieveSpec.topKRange.contains(topK) else {
                throw ValidationError(
                    "--top-k must be between \(RetrieveSpec.topKRange.lowerBound) and \(RetrieveSpec.topKRange.upperBound)")
            }
            if let minScore, !RetrieveSpec.minScoreRange.contains(minScore) {
                throw ValidationError("--min-score must be between -1 and 1 (a cosine similarity)")
            }
            guard !query.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else {
                throw ValidationError("the query is empty; give the words to search for")
            }
        }

        func run() async throws {
            let workspace = Workspace.current()
            let environment = workspace.environment
            let catalog = try await IndexCommandSupport.catalog(
                workspace: workspace, profileName: profileOption.resolvedName(environment: environment), pipeline: pipeline)
            let declaration = try IndexCommandSupport.declaration(named: name, in: catalog)
            let planned = try IndexCommandSupport.plan(declaration, catalog: catalog, trust: trust)
            let service = IndexService.forSession(
                snapshot: planned.snapshot, databasePath: database.path(environment: environment), environment: environment)
            let index = planned.index
            let result: IndexService.QueryResult
            var stale: Bool?
            do {
                // A stale index still answers; say so, since the answer may miss what changed.
                stale = try service.isStale(index)
                if mode != .keyword { try await IndexCommandSupport.loadModel(index, service: service) }
                result = try await service.query(index, text: query, mode: mode.searchMode, topK: topK, minScore: minScore)
            } catch {
                throw IndexCommandSupport.fail(error, index: index.name)
            }
            if stale == true {
                Console.error(
                    "note: index '\(index.name)' is stale (files changed since it was built); 'baton index \(index.name)' updates it")
            }
            let document = SearchDocument(index: index.name, query: query, mode: mode.searchMode, topK: topK, result: result)
            if json {
                try Console.json(document)
            } else {
                Console.out(TerminalText.forStream(document.text, STDOUT_FILENO, raw: false), terminator: "")
            }
        }
    }
}

/// What `baton search` prints.
struct SearchDocument: Encodable {
    /// One chunk found.
    struct Hit: Encodable {
        var n: Int
        var id: Int64
        var source: String
        var line: Int
        var endLine: Int
        var score: Double
        var similarity: Double?
        var text: String

        enum CodingKeys: String, CodingKey {
            case n, id, source, line, score, similarity, text
            case endLine = "end_line"
        }
    }

    /// Milliseconds spent, for comparing modes and indexes.
    struct Timings: Encodable {
        var embedMs: Double
        var searchMs: Double

        enum CodingKeys: String, CodingKey {
            case embedMs = "embed_ms"
            case searchMs = "search_ms"
        }
    }

    var index: String
    var query: String
    var mode: SearchMode
    var topK: Int
    var fingerprint: IndexFingerprint
    var timings: Timings
    var results: [Hit]

    enum CodingKeys: String, CodingKey {
        case index, query, mode, fingerprint, timings, results
        case topK = "top_k"
    }

    init(index: String, query: String, mode: SearchMode, topK: Int, result: IndexService.QueryResult) {
        self.index = index
        self.query = query
        self.mode = mode
        self.topK = topK
        fingerprint = result.fingerprint
        timings = Timings(embedMs: result.embedSeconds * 1000, searchMs: result.searchSeconds * 1000)
        results = result.hits.enumerated().map { offset, hit in
            Hit(
                n: offset + 1, id: hit.chunkID, source: hit.source, line: hit.startLine, endLine: hit.endLine, score: hit.score,
                similarity: hit.similarity, text: hit.text)
        }
    }

    /// The most lines of a chunk's text shown; --json has all of it.
    static let shownLines = 8

    var text: String {
        guard !results.isEmpty else { return "no chunk of index \(index) matches (\(mode.rawValue) search)\n" }
        var lines: [String] = []
        for hit in results {
            var score = String(format: "%.4f", hit.score)
            if mode != .vector, let similarity = hit.similarity { score += String(format: " (cosine %.3f)", similarity) }
            lines.append("[\(hit.n)] \(hit.source):\(hit.line)-\(hit.endLine)  \(score)")
            let body = hit.text.trimmingCharacters(in: .whitespacesAndNewlines).split(separator: "\n", omittingEmptySubsequences: false)
            lines += body.prefix(Self.shownLines).map { $0.isEmpty ? "" : "    " + $0 }
            if body.count > Self.shownLines { lines.append("    … \(body.count - Self.shownLines) more lines") }
            lines.append("")
        }
        return lines.joined(separator: "\n")
    }
}
