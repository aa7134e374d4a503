import BatonSpec
import Foundation
import GRDB
import GRDBSQLite

/// A source file as the index last recorded it.
package struct IndexedFile: Sendable, Hashable {
    package var sha256: String
    package var size: Int64
    package var chunkCount: Int
}

extension IndexStore {
    /// The recorded files by path.
    package func indexedFiles() throws -> [String: IndexedFile] {
        try read { db in
            var files: [String: IndexedFile] = [:]
            for row in try Row.fetchAll(db, sql: "SELECT path, sha256, size, chunk_count FROM files") {
                files[row["path"]] = IndexedFile(sha256: row["sha256"], size: row["size"], chunkCount: row["chunk_count"])
            }
            return files
        }
    }

    /// Records `fingerprint` when the file has none yet (the first write of an index).
    package func adoptFingerprint(_ fingerprint: IndexFingerprint) throws {
        try write { db in try Self.adopt(fingerprint, db, path: path) }
    }

    private static func adopt(_ fingerprint: IndexFingerprint, _ db: Database, path: String) throws {
        guard try Self.fingerprint(db, path: path) == nil else { return }
        let json = String(decoding: try JSONEncoder().encode(fingerprint), as: UTF8.self)
        try db.execute(sql: "INSERT OR REPLACE INTO meta (key, value) VALUES ('fingerprint', ?)", arguments: [json])
    }

    /// Replaces the chunks of the file at `path` (relative to the index root) with `chunks` and their `vectors`, and
    /// records its new hash, in one transaction: a killed process leaves the file's old rows or its new ones.
    ///
    /// - Throws: ``IndexError`` `.embedding` when the vectors do not match the chunks in number or the fingerprint's
    ///   dimensions, or cannot be normalized; as ``write(_:)`` for the database.
    package func replaceFile(
        _ file: String, sha256: String, size: Int64, chunks: [Chunk], vectors: [[Float]], fingerprint: IndexFingerprint
    ) throws {
        guard chunks.count == vectors.count else {
            throw IndexError(
                kind: .embedding,
                message:
                    "the embedding model returned \(vectors.count) vectors for the \(chunks.count) chunks of '\(file)'; check the runtime serving '\(fingerprint.model)'"
            )
        }
        var blobs: [Data] = []
        blobs.reserveCapacity(vectors.count)
        for vector in vectors {
            guard fingerprint.dimensions == 0 || vector.count == fingerprint.dimensions else {
                throw IndexError(
                    kind: .embedding,
                    message:
                        "the embedding model '\(fingerprint.model)' returned a \(vector.count)-dimensional vector for '\(file)', but the index holds \(fingerprint.dimensions)-dimensional ones; rebuild it with `baton index NAME --rebuild` if the model changed"
                )
            }
            guard let unit = VectorMath.normalized(vector) else {
                throw IndexError(
                    kind: .embedding,
                    message:
                        "the embedding model '\(fingerprint.model)' returned a zero or non-finite vector for a chunk of '\(file)'; check the runtime serving it"
                )
            }
            blobs.append(VectorMath.blob(unit))
        }
        let vecLoaded = sqliteVecLoaded
        try write { db in
            try Self.adopt(fingerprint, db, path: path)
            if vecLoaded {
                try Self.ensureVectorTable(db, dimensions: vectors.first?.count ?? fingerprint.dimensions)
                try db.execute(
                    sql:
                        "DELETE FROM chunks_vec WHERE rowid IN (SELECT c.id FROM chunks c JOIN files f ON f.id = c.file_id WHERE f.path = ?)",
                    arguments: [file])
            }
            try db.execute(sql: "DELETE FROM chunks WHERE file_id IN (SELECT id FROM files WHERE path = ?)", arguments: [file])
            try db.execute(sql: "DELETE FROM files WHERE path = ?", arguments: [file])
            try db.execute(
                sql: "INSERT INTO files (path, sha256, size, chunk_count, indexed_at) VALUES (?, ?, ?, ?, ?)",
                arguments: [file, sha256, size, chunks.count, Date().timeIntervalSince1970])
            let fileID = db.lastInsertedRowID
            let insert = try db.makeStatement(
                sql: "INSERT INTO chunks (file_id, start_line, end_line, text, vector) VALUES (?, ?, ?, ?, ?)")
            let insertVector = vecLoaded ? try db.makeStatement(sql: "INSERT INTO chunks_vec (rowid, embedding) VALUES (?, ?)") : nil
            for (chunk, blob) in zip(chunks, blobs) {
                try insert.execute(arguments: [fileID, chunk.startLine, chunk.endLine, chunk.text, blob])
                try insertVector?.execute(arguments: [db.lastInsertedRowID, blob])
            }
        }
    }

    /// Removes the files at `paths` (relative to the index root) and their chunks, in one transaction.
    package func removeFiles(_ paths: [String]) throws {
        guard !paths.isEmpty else { return }
        let vecLoaded = sqliteVecLoaded
        try write { db in
            for file in paths {
                if vecLoaded, try db.tableExists("chunks_vec") {
                    try db.execute(
                        sql:
                            "DELETE FROM chunks_vec WHERE rowid IN (SELECT c.id FROM chunks c JOIN files f ON f.id = c.file_id WHERE f.path = ?)",
                        arguments: [file])
                }
                try db.execute(sql: "DELETE FROM chunks WHERE file_id IN (SELECT id FROM files WHERE path = ?)", arguments: [file])
                try db.execute(sql: "DELETE FROM files WHERE path = ?", arguments: [file])
            }
        }
    }

    // MARK: - sqlite-vec

    /// The extension's path when it exists.
    ///
    /// - Throws: ``IndexError`` `.extensionUnavailable` when no path is given or nothing is there.
    static func checkedExtension(_ path: String?) throws -> String {
        guard let path, !path.isEmpty else {
            throw IndexError(
                kind: .extensionUnavailable,
                message:
                    "vector: sqlite-vec needs the path of the vec0 extension; set BATON_SQLITE_VEC to the vec0.so that scripts/setup-sqlite-vec.sh prints, or use vector: exact"
            )
        }
        guard FileManager.default.fileExists(atPath: path) else {
            throw IndexError(
                kind: .extensionUnavailable,
                message:
                    "the sqlite-vec extension '\(path)' (BATON_SQLITE_VEC) does not exist; run scripts/setup-sqlite-vec.sh and set BATON_SQLITE_VEC to the path it prints, or use vector: exact"
            )
        }
        return path
    }

    /// Loads the `vec0` extension on a connection (called as each connection opens).
    static func loadExtension(_ path: String, into db: Database) throws {
        let connection = db.sqliteConnection
        // Enabled only while loading, so SQL's load_extension() is off again afterwards.
        sqlite3_enable_load_extension(connection, 1)
        defer { sqlite3_enable_load_extension(connection, 0) }
        var message: UnsafeMutablePointer<CChar>?
        let code = sqlite3_load_extension(connection, path, nil, &message)
        guard code == SQLITE_OK else {
            let reason = message.map { String(cString: $0) } ?? "error \(code)"
            sqlite3_free(message)
            throw IndexError(
                kind: .extensionUnavailable,
                message:
                    "the sqlite-vec extension '\(path)' (BATON_SQLITE_VEC) does not load (\(reason)); run scripts/setup-sqlite-vec.sh and set BATON_SQLITE_VEC to the path it prints, or use vector: exact"
            )
        }
    }

    /// Creates `chunks_vec` for `dimensions`, or recreates it when it was made for other dimensions.
    static func ensureVectorTable(_ db: Database, dimensions: Int) throws {
        guard dimensions > 0 else { return }
        let current = try String.fetchOne(db, sql: "SELECT value FROM meta WHERE key = 'vec_dimensions'").flatMap { Int($0) }
        if current == dimensions, try db.tableExists("chunks_vec") { return }
        try db.execute(sql: "DROP TABLE IF EXISTS chunks_vec")
        try db.execute(sql: "CREATE VIRTUAL TABLE chunks_vec USING vec0(embedding float[\(dimensions)])")
        try db.execute(sql: "INSERT OR REPLACE INTO meta (key, value) VALUES ('vec_dimensions', ?)", arguments: ["\(dimensions)"])
    }

    /// Brings `chunks_vec` in step with `chunks`: rows of deleted chunks go, missing ones are copied from the BLOBs.
    func synchronizeVectorTable() throws {
        let stale = try read { db -> Bool in
            guard let dimensions = try Self.fingerprint(db, path: path)?.dimensions, dimensions > 0 else { return false }
            let current = try String.fetchOne(db, sql: "SELECT value FROM meta WHERE key = 'vec_dimensions'").flatMap { Int($0) }
            guard current == dimensions, try db.tableExists("chunks_vec") else { return true }
            let missing = try Bool.fetchOne(db, sql: "SELECT EXISTS (SELECT 1 FROM chunks WHERE id NOT IN (SELECT rowid FROM chunks_vec))")
            let extra = try Bool.fetchOne(db, sql: "SELECT EXISTS (SELECT 1 FROM chunks_vec WHERE rowid NOT IN (SELECT id FROM chunks))")
            return missing == true || extra == true
        }
        guard stale else { return }
        try write { db in
            guard let dimensions = try Self.fingerprint(db, path: path)?.dimensions, dimensions > 0 else { return }
            try Self.ensureVectorTable(db, dimensions: dimensions)
            try db.execute(sql: "DELETE FROM chunks_vec WHERE rowid NOT IN (SELECT id FROM chunks)")
            try db.execute(
                sql:
                    "INSERT INTO chunks_vec (rowid, embedding) SELECT id, vector FROM chunks WHERE id NOT IN (SELECT rowid FROM chunks_vec)"
            )
        }
    }
}
