import BatonEngine
import BatonSpec
import Foundation
import GRDB
import Testing

/// A seeded random generator, so failures reproduce.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    mutating func unitVector(_ dimensions: Int) -> [Float] {
        let raw = (0..<dimensions).map { _ in Float.random(in: -1...1, using: &self) }
        let norm = raw.reduce(0) { $0 + $1 * $1 }.squareRoot()
        return raw.map { $0 / norm }
    }
}

/// The index file: layout and permissions, exact search against a naive computation, keyword search with hostile
/// text, hybrid fusion on a hand-checked case, integrity checks, and sqlite-vec parity when it is configured.
@Suite struct IndexStoreTests {
    static let chunkSpec = ChunkSpec(by: .paragraph, size: 400, overlap: 0)

    static func fingerprint(_ dimensions: Int, model: String = "minilm") -> IndexFingerprint {
        IndexFingerprint(model: model, runtime: "local", modelDigest: nil, dimensions: dimensions, chunk: chunkSpec)
    }

    /// Stores one file per `(text, vector)`, named `f<n>.md`; chunk ids are 1, 2, ... in order.
    static func store(_ entries: [(String, [Float])], at path: String, vector: VectorBackend = .exact, sqliteVec: String? = nil)
        throws -> IndexStore
    {
        let store = try IndexStore(path: path, vector: vector, sqliteVecPath: sqliteVec)
        let dimensions = entries.first?.1.count ?? 0
        for (number, (text, vector)) in entries.enumerated() {
            try store.replaceFile(
                "f\(number + 1).md", sha256: "h\(number)", size: Int64(text.utf8.count),
                chunks: [Chunk(source: "f\(number + 1).md", startLine: 1, endLine: 1, text: text)], vectors: [vector],
                fingerprint: fingerprint(dimensions))
        }
        return store
    }

    /// Many chunks in few transactions (benchmarks and parity tests).
    static func bulkStore(_ vectors: [[Float]], at path: String) throws -> IndexStore {
        let store = try IndexStore(path: path)
        for start in stride(from: 0, to: vectors.count, by: 1000) {
            let slice = Array(vectors[start..<min(vectors.count, start + 1000)])
            let chunks = slice.indices.map {
                Chunk(source: "bulk\(start).md", startLine: $0 + 1, endLine: $0 + 1, text: "chunk \(start + $0)")
            }
            try store.replaceFile(
                "bulk\(start).md", sha256: "h\(start)", size: 1, chunks: chunks, vectors: slice,
                fingerprint: fingerprint(vectors[0].count))
        }
        return store
    }

    static func temporaryPath() -> String {
        NSTemporaryDirectory() + "baton-index-\(UUID().uuidString.prefix(8))/sub/docs.sqlite"
    }

    static func cleanUp(_ path: String) {
        try? FileManager.default.removeItem(atPath: ((path as NSString).deletingLastPathComponent as NSString).deletingLastPathComponent)
    }

    @Test func theFileIsPrivateInAPrivateFolderAndInWALMode() throws {
        let path = Self.temporaryPath()
        defer { Self.cleanUp(path) }
        let store = try Self.store([("hello", [1, 0])], at: path)
        #expect((try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int) == 0o600)
        let folder = (path as NSString).deletingLastPathComponent
        #expect((try FileManager.default.attributesOfItem(atPath: folder)[.posixPermissions] as? Int) == 0o700)
        let mode = try DatabaseQueue(path: path).read { try String.fetchOne($0, sql: "PRAGMA journal_mode") }
        #expect(mode == "wal")
        try store.integrityCheck()
        let stats = try store.stats()
        #expect(stats.files == 1)
        #expect(stats.chunks == 1)
        #expect(stats.bytes > 0)
        #expect(stats.fingerprint == Self.fingerprint(2))
        #expect(stats.updatedAt != nil)
    }

    @Test func openExistingIsNilWithoutAFile() throws {
        #expect(try IndexStore.openExisting(path: Self.temporaryPath()) == nil)
    }

    @Test func vectorsAreStoredAsUnitFloat32LittleEndian() throws {
        let path = Self.temporaryPath()
        defer { Self.cleanUp(path) }
        _ = try Self.store([("a", [3, 4])], at: path)
        let blob = try DatabaseQueue(path: path).read { try Data.fetchOne($0, sql: "SELECT vector FROM chunks") }
        #expect(blob == Data([0x9A, 0x99, 0x19, 0x3F, 0xCD, 0xCC, 0x4C, 0x3F]))  // 0.6f, 0.8f
    }

    @Test func exactTopKMatchesANaiveComputation() throws {
        // Given 2,000 random unit vectors of 96 dimensions (not a multiple of 32: the SIMD tail is exercised)
        var random = SplitMix64(state: 42)
        let vectors = (0..<2000).map { _ in random.unitVector(96) }
        let path = Self.temporaryPath()
        defer { Self.cleanUp(path) }
        let store = try Self.bulkStore(vectors, at: path)

        for _ in 0..<20 {
            let query = random.unitVector(96)
            // When searching exactly
            let hits = try store.search("", vector: query, mode: .vector, topK: 10, minScore: nil)

            // Then the ids and scores are the naive ones (scores sorted, ties by id)
            var naive: [(id: Int64, score: Float)] = []
            for (offset, vector) in vectors.enumerated() {
                var score: Float = 0
                for (a, b) in zip(vector, query) { score += a * b }
                naive.append((Int64(offset + 1), score))
            }
            naive.sort { $0.score > $1.score || ($0.score == $1.score && $0.id < $1.id) }
            naive = Array(naive.prefix(10))
            #expect(hits.map(\.chunkID) == naive.map { $0.id })
            for (hit, expected) in zip(hits, naive) {
                #expect(abs(hit.score - Double(expected.score)) < 1e-5)
                #expect(hit.similarity == hit.score)
            }
        }
    }

    @Test func minScoreKeepsOnlySimilarChunksInEveryMode() throws {
        let path = Self.temporaryPath()
        defer { Self.cleanUp(path) }
        let store = try Self.store([("alpha kiwi", [1, 0]), ("beta kiwi", [0.6, 0.8]), ("gamma kiwi", [0, 1])], at: path)
        for mode in [SearchMode.vector, .hybrid, .keyword] {
            let hits = try store.search("kiwi", vector: [1, 0], mode: mode, topK: 10, minScore: 0.5)
            #expect(Set(hits.map(\.chunkID)) == [1, 2], "\(mode)")
            #expect(hits.allSatisfy { ($0.similarity ?? 0) >= 0.5 })
        }
        // Without a vector, keyword search has no similarity to filter on
        #expect(try store.search("kiwi", vector: nil, mode: .keyword, topK: 10, minScore: 0.5).count == 3)
    }

    @Test func hybridFusesRanksReciprocally() throws {
        // Given: by vector A > B > C > D; by keyword ('kiwi') D > C
        let path = Self.temporaryPath()
        defer { Self.cleanUp(path) }
        let store = try Self.store(
            [("apple", [1, 0]), ("banana", [0.8, 0.6]), ("kiwi banana", [0.6, 0.8]), ("kiwi kiwi kiwi", [0, 1])], at: path)
        #expect(try store.search("kiwi", vector: nil, mode: .keyword, topK: 10, minScore: nil).map(\.chunkID) == [4, 3])

        // When fusing: A 1/61, B 1/62, C 1/63 + 1/62, D 1/64 + 1/61
        let hits = try store.search("kiwi", vector: [1, 0], mode: .hybrid, topK: 10, minScore: nil)

        // Then D (0.032018) > C (0.032002) > A (0.016393) > B (0.016129)
        #expect(hits.map(\.chunkID) == [4, 3, 1, 2])
        #expect(abs(hits[0].score - (1.0 / 64 + 1.0 / 61)) < 1e-12)
        #expect(abs(hits[1].score - (1.0 / 63 + 1.0 / 62)) < 1e-12)
        #expect(hits.map { $0.similarity.map { ($0 * 100).rounded() / 100 } } == [0, 0.6, 1, 0.8])
        #expect(try store.search("kiwi", vector: [1, 0], mode: .hybrid, topK: 2, minScore: nil).map(\.chunkID) == [4, 3])
    }

    @Test func fusionBreaksTiesByLowerID() {
        let fused = IndexStore.reciprocalRankFusion([[7, 3], [3, 7]])
        #expect(fused.map(\.id) == [3, 7])
    }

    @Test(arguments: [
        "\"", "*", "NEAR(", "-", "resume NEAR(", "\"unterminated", "a AND OR NOT", "text:resume", "^resume", "(((", "resume*",
        "-resume", "{resume}", "'", "", "   ", "🙂", "résumé", "NOT", "AND",
    ])
    func keywordSearchTakesAnyTextWithoutSyntaxErrors(_ query: String) throws {
        let path = Self.temporaryPath()
        defer { Self.cleanUp(path) }
        let store = try Self.store([("A killed run resumes where it stopped", [1, 0]), ("Profiles name runtimes", [0, 1])], at: path)
        let hits = try store.search(query, vector: nil, mode: .keyword, topK: 5, minScore: nil)
        if query.lowercased().contains("resume") && !query.contains("é") {
            #expect(hits.map(\.chunkID) == [1], "the word 'resume' is found, stemmed, whatever surrounds it")
        }
        _ = try store.search(query, vector: [1, 0], mode: .hybrid, topK: 5, minScore: nil)
    }

    @Test func ftsQueryQuotesEveryWord() {
        #expect(IndexStore.ftsQuery("resume NEAR(x \"y\" -z*") == "\"resume\" OR \"NEAR\" OR \"x\" OR \"y\" OR \"z\"")
        #expect(IndexStore.ftsQuery("--- *** \"\"") == nil)
    }

    @Test func hitsByIDKeepTheOrderGivenAndDropUnknownIDs() throws {
        let path = Self.temporaryPath()
        defer { Self.cleanUp(path) }
        let store = try Self.store([("one", [1, 0]), ("two", [0, 1])], at: path)
        let hits = try store.hits(ids: [2, 99, 1])
        #expect(hits.map(\.chunkID) == [2, 1])
        #expect(hits.map(\.text) == ["two", "one"])
        #expect(hits.first?.source == "f2.md")
        #expect(hits.first?.similarity == nil)
    }

    @Test func aSearchSeesWhatAnotherConnectionWrote() throws {
        // Given a store whose vectors are cached by a first search
        let path = Self.temporaryPath()
        defer { Self.cleanUp(path) }
        let store = try Self.store([("one", [1, 0])], at: path)
        #expect(try store.search("", vector: [0, 1], mode: .vector, topK: 5, minScore: nil).map(\.chunkID) == [1])

        // When another connection (another process, say) adds a file
        let other = try IndexStore(path: path)
        try other.replaceFile(
            "new.md", sha256: "n", size: 1, chunks: [Chunk(source: "new.md", startLine: 1, endLine: 1, text: "new")],
            vectors: [[0, 1]], fingerprint: Self.fingerprint(2))

        // Then the first store's next search includes it
        #expect(try store.search("", vector: [0, 1], mode: .vector, topK: 5, minScore: nil).map(\.chunkID) == [2, 1])
    }

    @Test func aQueryOfOtherDimensionsIsRefused() throws {
        let path = Self.temporaryPath()
        defer { Self.cleanUp(path) }
        let store = try Self.store([("one", [1, 0])], at: path)
        let error = try #require(throws: IndexError.self) {
            try store.search("", vector: [1, 0, 0], mode: .vector, topK: 5, minScore: nil)
        }
        #expect(error.kind == .fingerprintMismatch)
        #expect(error.message.contains("3 dimensions but the index '\(path)' holds 2-dimensional vectors"))
        let noVector = try #require(throws: IndexError.self) { try store.search("one", vector: nil, mode: .hybrid, topK: 5, minScore: nil) }
        #expect(noVector.kind == .embedding)
    }

    @Test func vectorsOfTheWrongWidthAreRefusedBeforeAnythingIsWritten() throws {
        let path = Self.temporaryPath()
        defer { Self.cleanUp(path) }
        let store = try Self.store([("one", [1, 0])], at: path)
        let error = try #require(throws: IndexError.self) {
            try store.replaceFile(
                "f1.md", sha256: "changed", size: 1, chunks: [Chunk(source: "f1.md", startLine: 1, endLine: 1, text: "x")],
                vectors: [[1, 0, 0]], fingerprint: Self.fingerprint(2))
        }
        #expect(error.kind == .embedding)
        #expect(try store.hits(ids: [1]).map(\.text) == ["one"])
    }

    // MARK: - Damage

    @Test func integrityCheckFindsAWrongChunkCount() throws {
        let path = Self.temporaryPath()
        defer { Self.cleanUp(path) }
        let store = try Self.store([("one", [1, 0]), ("two", [0, 1])], at: path)
        try DatabaseQueue(path: path).write { try $0.execute(sql: "UPDATE files SET chunk_count = 5 WHERE path = 'f2.md'") }
        let error = try #require(throws: IndexError.self) { try store.integrityCheck() }
        #expect(error.kind == .damaged)
        #expect(error.message.contains("'f2.md' should have 5 chunks but has 1"))
    }

    @Test func integrityCheckFindsAKeywordIndexOutOfStep() throws {
        let path = Self.temporaryPath()
        defer { Self.cleanUp(path) }
        let store = try Self.store([("one", [1, 0]), ("two", [0, 1])], at: path)
        try DatabaseQueue(path: path).write { db in
            try db.execute(sql: "DROP TRIGGER chunks_fts_delete")
            try db.execute(sql: "DELETE FROM chunks WHERE id = 2")
            try db.execute(sql: "UPDATE files SET chunk_count = 0 WHERE path = 'f2.md'")
        }
        let error = try #require(throws: IndexError.self) { try store.integrityCheck() }
        #expect(error.kind == .damaged)
        #expect(error.message.contains("damaged keyword index"))
    }

    @Test func aFileThatIsNotAnIndexIsRefused() throws {
        let path = Self.temporaryPath()
        defer { Self.cleanUp(path) }
        try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try "this is not sqlite at all, just some text that is long enough to be a header".write(
            toFile: path, atomically: true, encoding: .utf8)
        let garbage = try #require(throws: IndexError.self) { _ = try IndexStore(path: path) }
        #expect(garbage.kind == .damaged)
        #expect(garbage.message.contains("'\(path)' is damaged"))

        try FileManager.default.removeItem(atPath: path)
        try DatabaseQueue(path: path).write { try $0.execute(sql: "CREATE TABLE runs (id TEXT)") }
        let other = try #require(throws: IndexError.self) { _ = try IndexStore(path: path) }
        #expect(other.kind == .damaged)
        #expect(other.message == "'\(path)' is a SQLite database but not a Baton index; move it aside, or give the index another path:")
    }

    // MARK: - sqlite-vec

    static let sqliteVec = ProcessInfo.processInfo.environment["BATON_SQLITE_VEC"].flatMap { $0.isEmpty ? nil : $0 }

    @Test func aMissingExtensionIsNamedWithTheFix() throws {
        let path = Self.temporaryPath()
        defer { Self.cleanUp(path) }
        let error = try #require(throws: IndexError.self) {
            _ = try IndexStore(path: path, vector: .sqliteVec, sqliteVecPath: "/nonexistent/vec0.so")
        }
        #expect(error.kind == .extensionUnavailable)
        #expect(error.message.contains("'/nonexistent/vec0.so'"))
        #expect(error.message.contains("scripts/setup-sqlite-vec.sh"))
        #expect(!FileManager.default.fileExists(atPath: path))
        try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        let notALibrary = path + ".so"
        try "not a library".write(toFile: notALibrary, atomically: true, encoding: .utf8)
        let loadError = try #require(throws: IndexError.self) {
            _ = try IndexStore(path: path, vector: .sqliteVec, sqliteVecPath: notALibrary)
        }
        #expect(loadError.kind == .extensionUnavailable)
        #expect(loadError.message.contains("does not load"))
    }

    @Test(.enabled(if: sqliteVec != nil, "BATON_SQLITE_VEC is not set: run scripts/setup-sqlite-vec.sh and export its path"))
    func sqliteVecReturnsTheSameTopKAsExactSearch() throws {
        // Given 2,000 random 384-dimensional vectors written without the extension
        var random = SplitMix64(state: 7)
        let vectors = (0..<2000).map { _ in random.unitVector(384) }
        let path = Self.temporaryPath()
        defer { Self.cleanUp(path) }
        let exact = try Self.bulkStore(vectors, at: path)

        // When the same file is opened with sqlite-vec (its vec0 table is filled from the stored vectors)
        let vec = try IndexStore(path: path, vector: .sqliteVec, sqliteVecPath: Self.sqliteVec)

        // Then both return the same ids and scores
        for _ in 0..<25 {
            let query = random.unitVector(384)
            let byExact = try exact.search("", vector: query, mode: .vector, topK: 10, minScore: nil)
            let byVec = try vec.search("", vector: query, mode: .vector, topK: 10, minScore: nil)
            #expect(byVec.map(\.chunkID) == byExact.map(\.chunkID))
            #expect(byVec.map(\.score) == byExact.map(\.score))
        }

        // And writes through the extension keep the vec0 table in step
        try vec.removeFiles(["bulk0.md"])
        try vec.replaceFile(
            "new.md", sha256: "n", size: 1, chunks: [Chunk(source: "new.md", startLine: 1, endLine: 1, text: "new")],
            vectors: [vectors[5]], fingerprint: Self.fingerprint(384))
        let top = try vec.search("", vector: vectors[5], mode: .vector, topK: 3, minScore: nil)
        #expect(top.first?.source == "new.md")
        #expect(try exact.search("", vector: vectors[5], mode: .vector, topK: 3, minScore: nil).map(\.chunkID) == top.map(\.chunkID))
        try vec.integrityCheck()

        // And a file with a vec0 table still works without the extension; what it writes is mirrored on the next open
        try exact.integrityCheck()
        try exact.replaceFile(
            "later.md", sha256: "l", size: 1, chunks: [Chunk(source: "later.md", startLine: 1, endLine: 1, text: "later")],
            vectors: [vectors[9]], fingerprint: Self.fingerprint(384))
        try exact.removeFiles(["bulk1000.md"])
        let reopened = try IndexStore(path: path, vector: .sqliteVec, sqliteVecPath: Self.sqliteVec)
        for query in [vectors[9], vectors[1500], random.unitVector(384)] {
            let byVec = try reopened.search("", vector: query, mode: .vector, topK: 10, minScore: nil).map(\.chunkID)
            #expect(byVec == (try exact.search("", vector: query, mode: .vector, topK: 10, minScore: nil).map(\.chunkID)))
        }
        #expect(try reopened.search("", vector: vectors[9], mode: .vector, topK: 1, minScore: nil).first?.source == "later.md")
        try reopened.integrityCheck()
    }

    @Test(.enabled(if: sqliteVec != nil, "BATON_SQLITE_VEC is not set: run scripts/setup-sqlite-vec.sh and export its path"))
    func anIndexBuiltWithSqliteVecAnswersLikeExact() async throws {
        let folder = try IndexBuilderTests.corpus()
        let index = folder.index(["docs/*.md"], vector: .sqliteVec)
        _ = try await IndexBuilder.update(
            index, at: index.path!, fingerprint: IndexBuilderTests.fingerprint(), rebuild: false, sqliteVecPath: Self.sqliteVec,
            embed: { try CountingEmbedder().embed($0) })
        let vec = try #require(try IndexStore.openExisting(path: index.path!, vector: .sqliteVec, sqliteVecPath: Self.sqliteVec))
        let exact = try #require(try IndexStore.openExisting(path: index.path!))
        for query in ["the resume feature", "install Baton", "citations"] {
            let vector = CountingEmbedder.vector(query)
            for mode in [SearchMode.vector, .hybrid] {
                let byVec = try vec.search(query, vector: vector, mode: mode, topK: 5, minScore: nil)
                #expect(byVec == (try exact.search(query, vector: vector, mode: mode, topK: 5, minScore: nil)))
            }
        }
        try vec.integrityCheck()
    }

    // MARK: - Benchmark (Benchmarks/retrieval.py)

    static let benchmarkQueries = ProcessInfo.processInfo.environment["BATON_BENCH_RETRIEVAL"].flatMap { Int($0) }

    /// Exact top-10 latency over 100,000 random 384-dimensional unit vectors (and sqlite-vec's on the same file when
    /// configured); prints `BENCH` lines, asserts nothing about time.
    @Test(.enabled(if: benchmarkQueries != nil, "a benchmark: BATON_BENCH_RETRIEVAL=queries (Benchmarks/retrieval.py)"))
    func benchmarkExactSearch() throws {
        let queries = Self.benchmarkQueries ?? 100
        var random = SplitMix64(state: 2026)
        let vectors = (0..<100_000).map { _ in random.unitVector(384) }
        let path = Self.temporaryPath()
        defer { Self.cleanUp(path) }
        let buildStart = Date()
        let exact = try Self.bulkStore(vectors, at: path)
        print("BENCH build seconds=\(Date().timeIntervalSince(buildStart))")
        let queryVectors = (0..<queries).map { _ in random.unitVector(384) }
        // The first search of a store reads every vector into memory once
        let reopened = try IndexStore(path: path)
        let loadStart = DispatchTime.now().uptimeNanoseconds
        _ = try reopened.search("", vector: queryVectors[0], mode: .vector, topK: 10, minScore: nil)
        print("BENCH first-search ms=\(Double(DispatchTime.now().uptimeNanoseconds - loadStart) / 1e6)")
        _ = try exact.search("", vector: queryVectors[0], mode: .vector, topK: 10, minScore: nil)

        func measure(_ name: String, _ store: IndexStore) throws -> [[Int64]] {
            var times: [Double] = []
            var results: [[Int64]] = []
            for query in queryVectors {
                let start = DispatchTime.now().uptimeNanoseconds
                let hits = try store.search("", vector: query, mode: .vector, topK: 10, minScore: nil)
                times.append(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6)
                results.append(hits.map(\.chunkID))
            }
            times.sort()
            let median = times[times.count / 2]
            let p95 = times[min(times.count - 1, Int(Double(times.count) * 0.95))]
            print("BENCH \(name) vectors=100000 dimensions=384 queries=\(queries) median_ms=\(median) p95_ms=\(p95) min_ms=\(times[0])")
            return results
        }
        let exactResults = try measure("exact-top10", exact)
        if let sqliteVec = Self.sqliteVec {
            let syncStart = Date()
            let vec = try IndexStore(path: path, vector: .sqliteVec, sqliteVecPath: sqliteVec)
            print("BENCH vec0-fill seconds=\(Date().timeIntervalSince(syncStart))")
            let vecResults = try measure("sqlite-vec-top10", vec)
            print("BENCH parity same_top10=\(zip(exactResults, vecResults).filter { $0 == $1 }.count) of=\(queries)")
        } else {
            print("BENCH sqlite-vec skipped: BATON_SQLITE_VEC is not set")
        }
    }
}
