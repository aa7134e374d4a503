import BatonSpec
import Foundation
import GRDB

/// One search result.
public struct SearchHit: Sendable, Hashable, Codable {
    /// The chunk's id in the index (never reused for another chunk).
    public var chunkID: Int64
    /// The file, relative to the index root.
    public var source: String
    /// The chunk's first line in the file, 1-based.
    public var startLine: Int
    /// The chunk's last line in the file, 1-based, inclusive.
    public var endLine: Int
    /// The chunk's text.
    public var text: String
    /// The ranking score: cosine (vector), RRF (hybrid), -bm25 (keyword).
    public var score: Double
    /// Cosine similarity to the query vector (nil for keyword search without a vector).
    public var similarity: Double?

    /// Creates a hit.
    public init(chunkID: Int64, source: String, startLine: Int, endLine: Int, text: String, score: Double, similarity: Double?) {
        self.chunkID = chunkID
        self.source = source
        self.startLine = startLine
        self.endLine = endLine
        self.text = text
        self.score = score
        self.similarity = similarity
    }
}

/// How a search ranks.
public enum SearchMode: String, Sendable, Hashable, Codable, CaseIterable {
    /// Cosine similarity to the query vector.
    case vector
    /// FTS5 BM25 over the chunks' words.
    case keyword
    /// Vector and keyword results fused by reciprocal rank (k = 60).
    case hybrid
}

extension IndexStore {
    /// Candidates each side contributes to a hybrid search (at least `topK`).
    static let hybridCandidates = 50
    /// Extra neighbours asked of sqlite-vec, re-ranked exactly before the cut.
    static let vecMargin = 16
    /// The constant of reciprocal rank fusion: a result's score is the sum of 1 / (k + rank) over the lists.
    static let rrfK = 60.0

    /// The `topK` chunks best matching `query` (keyword) or `vector` (the query's embedding), best first.
    ///
    /// `minScore` keeps only chunks whose cosine similarity to `vector` is at least that, in every mode; a keyword
    /// search without a vector has no similarity to compare, so it ignores `minScore`. Equal scores rank the lower
    /// chunk id first.
    ///
    /// - Parameters:
    ///   - query: the query's text, for keyword and hybrid search; any text is safe (it is split into words, each
    ///     quoted, so FTS5 operators in it are plain words).
    ///   - vector: the query's embedding (normalized here), required for vector and hybrid search.
    /// - Throws: ``IndexError``: `.embedding` when a vector search has no usable vector, `.fingerprintMismatch`
    ///   when the vector's dimensions differ from the index's, as ``init(path:vector:sqliteVecPath:)`` for the file.
    public func search(_ query: String, vector: [Float]?, mode: SearchMode, topK: Int, minScore: Double?) throws -> [SearchHit] {
        guard topK > 0 else { return [] }
        let unit = try vector.map { try queryVector($0) }
        switch mode {
        case .vector:
            guard let unit else { throw missingVector(mode) }
            let ranked = try nearest(unit, count: topK, minSimilarity: minScore)
            return try hits(ids: ranked.map(\.id), scores: ranked.map { Double($0.score) }, query: unit)
        case .keyword:
            let ranked = try keywordRanking(query, limit: topK)
            var found = try hits(ids: ranked.map(\.id), scores: ranked.map(\.score), query: unit)
            if let minScore, unit != nil { found.removeAll { ($0.similarity ?? -2) < minScore } }
            return found
        case .hybrid:
            guard let unit else { throw missingVector(mode) }
            let candidates = max(Self.hybridCandidates, topK)
            let byVector = try nearest(unit, count: candidates, minSimilarity: nil).map(\.id)
            let byKeyword = try keywordRanking(query, limit: candidates).map(\.id)
            let fused = Self.reciprocalRankFusion([byVector, byKeyword])
            var found = try hits(ids: fused.map(\.id), scores: fused.map(\.score), query: unit)
            if let minScore { found.removeAll { ($0.similarity ?? -2) < minScore } }
            return Array(found.prefix(topK))
        }
    }

    /// The chunks with ids `ids`, in that order (ids no longer in the index are left out), with score 0 and no
    /// similarity: what `show` and a replay check read back.
    public func hits(ids: [Int64]) throws -> [SearchHit] {
        try hits(ids: ids, scores: Array(repeating: 0, count: ids.count), query: nil)
    }

    /// Reciprocal rank fusion of ranked id lists: score = sum of 1 / (60 + rank), rank 1-based; best first, equal
    /// scores by lower id.
    package static func reciprocalRankFusion(_ lists: [[Int64]]) -> [(id: Int64, score: Double)] {
        var scores: [Int64: Double] = [:]
        for list in lists {
            for (index, id) in list.enumerated() { scores[id, default: 0] += 1 / (rrfK + Double(index + 1)) }
        }
        return scores.map { (id: $0.key, score: $0.value) }.sorted { $0.score > $1.score || ($0.score == $1.score && $0.id < $1.id) }
    }

    // MARK: - Vector search

    private func queryVector(_ vector: [Float]) throws -> [Float] {
        guard let unit = VectorMath.normalized(vector) else {
            throw IndexError(
                kind: .embedding,
                message:
                    "the query's embedding is a zero or non-finite vector; check the runtime serving the index's model")
        }
        return unit
    }

    private func missingVector(_ mode: SearchMode) -> IndexError {
        IndexError(
            kind: .embedding,
            message:
                "a \(mode.rawValue) search of the index '\(path)' needs the query's embedding; embed the query, or search by keyword")
    }

    /// The `count` nearest chunks to the unit vector `query`, by cosine similarity.
    func nearest(_ query: [Float], count: Int, minSimilarity: Double?) throws -> [TopK.Entry] {
        if sqliteVecLoaded { return try nearestBySqliteVec(query, count: count, minSimilarity: minSimilarity) }
        let snapshot = try vectorCache()
        guard !snapshot.ids.isEmpty else { return [] }
        try checkDimensions(query.count, snapshot.dimensions)
        var best = TopK(capacity: count)
        let floor = minSimilarity.map { Float($0) } ?? -.infinity
        let dimensions = snapshot.dimensions
        snapshot.vectors.withUnsafeBufferPointer { stored in
            query.withUnsafeBufferPointer { q in
                guard let base = stored.baseAddress, let queryBase = q.baseAddress else { return }
                for (row, id) in snapshot.ids.enumerated() {
                    let score = VectorMath.dot(base + row * dimensions, queryBase, count: dimensions)
                    if score >= floor { best.offer(score: score, id: id) }
                }
            }
        }
        return best.sorted()
    }

    private func checkDimensions(_ query: Int, _ stored: Int) throws {
        guard query != stored else { return }
        throw IndexError(
            kind: .fingerprintMismatch,
            message:
                "the query's embedding has \(query) dimensions but the index '\(path)' holds \(stored)-dimensional vectors; embed with the index's model, or rebuild it with `baton index NAME --rebuild`"
        )
    }

    /// Every vector, loaded once and again only after a write (this process's or another's).
    func vectorCache() throws -> IndexVectorCache {
        let generation = try read { db in
            try String.fetchOne(db, sql: "SELECT value FROM meta WHERE key = 'generation'").flatMap { Int64($0) } ?? 0
        }
        if let cached = cache.current, cached.generation == generation { return cached }
        let loaded: IndexVectorCache = try read { db in
            // Read in the same transaction as the generation it is tagged with.
            let generation = try String.fetchOne(db, sql: "SELECT value FROM meta WHERE key = 'generation'").flatMap { Int64($0) } ?? 0
            let count = try Int.fetchOne(db, sql: "SELECT count(*) FROM chunks") ?? 0
            var dimensions = try Self.fingerprint(db, path: path)?.dimensions ?? 0
            var ids: [Int64] = []
            var vectors: [Float] = []
            ids.reserveCapacity(count)
            let rows = try Row.fetchCursor(db, sql: "SELECT id, vector FROM chunks ORDER BY id")
            while let row = try rows.next() {
                let blob: Data = row["vector"]
                if dimensions == 0 { dimensions = blob.count / 4 }
                if vectors.isEmpty { vectors.reserveCapacity(count * dimensions) }
                guard VectorMath.appendFloats(of: blob, dimensions: dimensions, to: &vectors) else {
                    let id: Int64 = row["id"]
                    throw IndexError(
                        kind: .damaged,
                        message:
                            "the index file '\(path)' is damaged: chunk \(id) has a vector that is not \(dimensions) float32 values; rebuild it with `baton index NAME --rebuild`"
                    )
                }
                ids.append(row["id"])
            }
            return IndexVectorCache(generation: generation, dimensions: dimensions, ids: ids, vectors: vectors)
        }
        cache.withLock { $0 = loaded }
        return loaded
    }

    /// KNN through the `vec0` table (SQLite 3.40 needs `k = ?`, not LIMIT). A few more than `count` are fetched and
    /// ranked again by the exact dot product of the stored vectors, ties by id: both backends then report the same
    /// numbers, and agree on ties and near-ties that vec0's float distances order otherwise.
    private func nearestBySqliteVec(_ query: [Float], count: Int, minSimilarity: Double?) throws -> [TopK.Entry] {
        try read { db in
            guard try db.tableExists("chunks_vec") else { return [] }
            if let stored = try String.fetchOne(db, sql: "SELECT value FROM meta WHERE key = 'vec_dimensions'").flatMap({ Int($0) }) {
                try checkDimensions(query.count, stored)
            }
            let rows = try Row.fetchAll(
                db,
                sql: """
                    SELECT v.rowid AS id, c.vector AS vector FROM chunks_vec v JOIN chunks c ON c.id = v.rowid
                    WHERE v.embedding MATCH ? AND k = ? ORDER BY v.distance
                    """,
                arguments: [VectorMath.blob(query), count + Self.vecMargin])
            var entries: [TopK.Entry] = []
            for row in rows {
                let id: Int64 = row["id"]
                guard let stored = VectorMath.vector(of: row["vector"]), stored.count == query.count else { continue }
                let score = VectorMath.dot(stored, query)
                if let minSimilarity, Double(score) < minSimilarity { continue }
                entries.append(TopK.Entry(score: score, id: id))
            }
            entries.sort { $0.score > $1.score || ($0.score == $1.score && $0.id < $1.id) }
            return Array(entries.prefix(count))
        }
    }

    // MARK: - Keyword search

    /// The best `limit` chunks for the words of `query` by BM25 (any word may match), best first, score -bm25.
    func keywordRanking(_ query: String, limit: Int) throws -> [(id: Int64, score: Double)] {
        guard let match = Self.ftsQuery(query) else { return [] }
        return try read { db in
            try Row.fetchAll(
                db,
                sql: "SELECT rowid AS id, bm25(chunks_fts) AS rank FROM chunks_fts WHERE chunks_fts MATCH ? ORDER BY rank, rowid LIMIT ?",
                arguments: [match, limit]
            ).map { (id: $0["id"], score: -($0["rank"] as Double)) }
        }
    }

    /// The FTS5 query for user text: its words (letters and digits), each quoted, joined by OR; nil when it has
    /// none. Quoting makes `"`, `*`, `NEAR(`, `-`, `AND`, column filters and the like plain words, never syntax.
    package static func ftsQuery(_ text: String) -> String? {
        var words: [String] = []
        var seen: Set<String> = []
        var current = ""
        for character in text + " " {
            if character.isLetter || character.isNumber {
                current.append(character)
            } else if !current.isEmpty {
                if seen.insert(current.lowercased()).inserted { words.append(current) }
                current = ""
            }
        }
        guard !words.isEmpty else { return nil }
        return words.prefix(64).map { "\"\($0)\"" }.joined(separator: " OR ")
    }

    // MARK: - Rows to hits

    private func hits(ids: [Int64], scores: [Double], query: [Float]?) throws -> [SearchHit] {
        guard !ids.isEmpty else { return [] }
        let rows: [Int64: Row] = try read { db in
            var rows: [Int64: Row] = [:]
            for start in stride(from: 0, to: ids.count, by: 500) {
                let slice = Array(ids[start..<min(ids.count, start + 500)])
                let marks = Array(repeating: "?", count: slice.count).joined(separator: ",")
                for row in try Row.fetchAll(
                    db,
                    sql: """
                        SELECT c.id, f.path, c.start_line, c.end_line, c.text, c.vector
                        FROM chunks c JOIN files f ON f.id = c.file_id WHERE c.id IN (\(marks))
                        """,
                    arguments: StatementArguments(slice))
                {
                    rows[row["id"]] = row
                }
            }
            return rows
        }
        return zip(ids, scores).compactMap { id, score in
            guard let row = rows[id] else { return nil }
            var similarity: Double?
            if let query, let stored = VectorMath.vector(of: row["vector"]), stored.count == query.count {
                similarity = Double(VectorMath.dot(stored, query))
            }
            return SearchHit(
                chunkID: id, source: row["path"], startLine: row["start_line"], endLine: row["end_line"], text: row["text"],
                score: score, similarity: similarity)
        }
    }
}
