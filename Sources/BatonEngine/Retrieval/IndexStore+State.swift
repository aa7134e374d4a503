import BatonSpec
import Foundation
import GRDB

/// Sizes and state of an index file, for `baton indexes`.
public struct IndexStats: Sendable, Hashable {
    /// Source files recorded.
    public var files: Int
    /// Chunks stored (each with its vector).
    public var chunks: Int
    /// Bytes on disk (the database and its write-ahead log).
    public var bytes: Int64
    /// How its vectors were made; nil when nothing was written yet.
    public var fingerprint: IndexFingerprint?
    /// The last write; nil when nothing was written yet.
    public var updatedAt: Date?

    /// Creates index statistics.
    public init(files: Int, chunks: Int, bytes: Int64, fingerprint: IndexFingerprint?, updatedAt: Date?) {
        self.files = files
        self.chunks = chunks
        self.bytes = bytes
        self.fingerprint = fingerprint
        self.updatedAt = updatedAt
    }
}

extension IndexStore {
    /// Sizes and state of the file.
    public func stats() throws -> IndexStats {
        let (files, chunks, fingerprint, updated) = try read { db in
            (
                try Int.fetchOne(db, sql: "SELECT count(*) FROM files") ?? 0,
                try Int.fetchOne(db, sql: "SELECT count(*) FROM chunks") ?? 0,
                try Self.fingerprint(db, path: path),
                try String.fetchOne(db, sql: "SELECT value FROM meta WHERE key = 'updated_at'").flatMap(Double.init)
            )
        }
        var bytes: Int64 = 0
        for file in [path, path + "-wal"] {
            bytes += ((try? FileManager.default.attributesOfItem(atPath: file))?[.size] as? NSNumber)?.int64Value ?? 0
        }
        return IndexStats(
            files: files, chunks: chunks, bytes: bytes, fingerprint: fingerprint,
            updatedAt: updated.map { Date(timeIntervalSince1970: $0) })
    }

    /// Checks the file: SQLite's integrity check, the FTS5 index against the chunks, every file's chunk count, and
    /// every vector's length against the fingerprint.
    ///
    /// - Throws: ``IndexError`` `.damaged` naming what is wrong and the fix.
    public func integrityCheck() throws {
        let problem: String? = try read { db in
            let sqlite = try String.fetchAll(db, sql: "PRAGMA integrity_check")
            if sqlite != ["ok"] { return "SQLite reports: \(sqlite.prefix(3).joined(separator: "; "))" }
            if let row = try Row.fetchOne(
                db,
                sql: """
                    SELECT f.path, f.chunk_count, (SELECT count(*) FROM chunks c WHERE c.file_id = f.id) AS actual
                    FROM files f WHERE f.chunk_count != (SELECT count(*) FROM chunks c WHERE c.file_id = f.id) LIMIT 1
                    """)
            {
                let file: String = row["path"]
                let expected: Int = row["chunk_count"]
                let actual: Int = row["actual"]
                return "'\(file)' should have \(expected) chunks but has \(actual)"
            }
            if let dimensions = try Self.fingerprint(db, path: path)?.dimensions, dimensions > 0,
                let bad = try Int64.fetchOne(
                    db, sql: "SELECT id FROM chunks WHERE length(vector) != ? LIMIT 1", arguments: [dimensions * 4])
            {
                return "chunk \(bad) has a vector that is not \(dimensions) float32 values"
            }
            return nil
        }
        if let problem {
            throw IndexError(
                kind: .damaged,
                message:
                    "the index file '\(path)' is damaged: \(problem); rebuild it with `baton index NAME --rebuild`")
        }
        do {
            // A write statement that only reads: FTS5's own check, against the chunks table too (rank 1).
            try queue.write { db in
                try db.execute(sql: "INSERT INTO chunks_fts(chunks_fts, rank) VALUES ('integrity-check', 1)")
            }
        } catch let error as DatabaseError where error.resultCode == .SQLITE_CORRUPT {
            throw IndexError(
                kind: .damaged,
                message:
                    "the index file '\(path)' has a damaged keyword index (\(error.message ?? "corrupt")); rebuild it with `baton index NAME --rebuild`"
            )
        } catch {
            // A file that cannot be written cannot run FTS5's check either: that is not damage.
            throw Self.wrap(error, path: path)
        }
    }
}
