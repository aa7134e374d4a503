import BatonSpec
import Foundation
import GRDB
import GRDBSQLite

/// An index's SQLite file: files, chunks with unit vectors as float32 BLOBs, an FTS5 table; exact search by SIMD dot
/// products; optional sqlite-vec.
///
/// Tables: `meta` (format version, fingerprint JSON, updated_at, a write generation), `files` (path, SHA-256,
/// size, chunk count), `chunks` (id never reused, file, lines, text, vector: float32 little-endian, unit length) and
/// `chunks_fts`, an FTS5 index over the chunks' text (external content kept in step by triggers, porter stemming
/// over unicode61 words). With `vector: .sqliteVec` a `vec0` table `chunks_vec` mirrors the vectors; it is derived
/// data, brought in step with `chunks` when the store opens, so an index written without the extension can be
/// searched with it.
///
/// Every change of a file's chunks is one transaction, so a killed process leaves each file old or new. The file is
/// created with mode 0600 in a folder created with 0700; WAL mode with a 10 s busy timeout lets `baton search` read
/// while a run updates the index.
public final class IndexStore: Sendable {
    /// The index file.
    public let path: String
    /// How vectors are searched.
    public let vector: VectorBackend
    let queue: DatabaseQueue
    /// Whether the `vec0` extension is loaded on the connection.
    let sqliteVecLoaded: Bool
    /// Exact search's vectors, loaded once and reloaded when the write generation moves.
    let cache = Locked<IndexVectorCache?>(nil)

    /// The layout this code writes.
    static let formatVersion = 1

    /// Opens the index file at `path`, creating it (mode 0600, its folder 0700) when missing.
    ///
    /// - Throws: ``IndexError``: `.unreadable` when the file or folder cannot be created or opened, `.damaged` when
    ///   it is not an index or a newer Baton wrote it, `.extensionUnavailable` when `vector` is `.sqliteVec` and the
    ///   extension at `sqliteVecPath` is missing or does not load.
    public init(path: String, vector: VectorBackend = .exact, sqliteVecPath: String? = nil) throws {
        self.path = path
        self.vector = vector
        // The extension is checked first, so a missing one leaves no empty index file behind.
        let extensionPath = vector == .sqliteVec ? try Self.checkedExtension(sqliteVecPath) : nil
        try Self.createFile(path)
        var configuration = Configuration()
        configuration.busyMode = .timeout(10)
        configuration.journalMode = .wal
        configuration.prepareDatabase { db in
            try db.execute(sql: "PRAGMA synchronous = NORMAL")
            if let extensionPath { try Self.loadExtension(extensionPath, into: db) }
        }
        do {
            queue = try DatabaseQueue(path: path, configuration: configuration)
        } catch let error as IndexError {
            throw error
        } catch {
            throw Self.wrap(error, path: path)
        }
        sqliteVecLoaded = extensionPath != nil
        try migrate()
        if sqliteVecLoaded { try synchronizeVectorTable() }
    }

    /// Opens the index file at `path` when it exists.
    ///
    /// - Returns: nil when there is no file at `path`.
    /// - Throws: as ``init(path:vector:sqliteVecPath:)``.
    public static func openExisting(path: String, vector: VectorBackend = .exact, sqliteVecPath: String? = nil) throws
        -> IndexStore?
    {
        guard FileManager.default.fileExists(atPath: path) else { return nil }
        return try IndexStore(path: path, vector: vector, sqliteVecPath: sqliteVecPath)
    }

    /// Closes the connection (before the file is renamed or removed).
    func closeDatabase() throws {
        do { try queue.close() } catch { throw Self.wrap(error, path: path) }
    }

    private static func createFile(_ path: String) throws {
        let folder = (path as NSString).deletingLastPathComponent
        if !folder.isEmpty, !FileManager.default.fileExists(atPath: folder) {
            do {
                try FileManager.default.createDirectory(
                    atPath: folder, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
            } catch {
                throw IndexError(
                    kind: .unreadable,
                    message:
                        "the folder '\(folder)' for the index file cannot be created (\(SourceScanner.reason(of: error))); check its parent's permissions, or give the index another path:"
                )
            }
        }
        if !FileManager.default.fileExists(atPath: path) {
            let descriptor = open(path, O_WRONLY | O_CREAT | O_EXCL, 0o600)
            if descriptor >= 0 { close(descriptor) }
        }
    }

    private func migrate() throws {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1") { db in
            try db.execute(
                sql: """
                    CREATE TABLE meta (key TEXT PRIMARY KEY NOT NULL, value TEXT NOT NULL);
                    CREATE TABLE files (
                        id INTEGER PRIMARY KEY AUTOINCREMENT, path TEXT NOT NULL UNIQUE, sha256 TEXT NOT NULL,
                        size INTEGER NOT NULL, chunk_count INTEGER NOT NULL, indexed_at REAL NOT NULL);
                    CREATE TABLE chunks (
                        id INTEGER PRIMARY KEY AUTOINCREMENT,
                        file_id INTEGER NOT NULL REFERENCES files(id) ON DELETE CASCADE,
                        start_line INTEGER NOT NULL, end_line INTEGER NOT NULL, text TEXT NOT NULL, vector BLOB NOT NULL);
                    CREATE INDEX chunks_by_file ON chunks(file_id);
                    CREATE VIRTUAL TABLE chunks_fts USING fts5(
                        text, content='chunks', content_rowid='id', tokenize='porter unicode61');
                    CREATE TRIGGER chunks_fts_insert AFTER INSERT ON chunks BEGIN
                        INSERT INTO chunks_fts(rowid, text) VALUES (new.id, new.text);
                    END;
                    CREATE TRIGGER chunks_fts_delete AFTER DELETE ON chunks BEGIN
                        INSERT INTO chunks_fts(chunks_fts, rowid, text) VALUES ('delete', old.id, old.text);
                    END;
                    """)
            try db.execute(
                sql: "INSERT INTO meta (key, value) VALUES ('format_version', ?), ('generation', '0')",
                arguments: ["\(Self.formatVersion)"])
        }
        do {
            if try queue.read({ try migrator.hasBeenSuperseded($0) }) {
                throw IndexError(
                    kind: .damaged,
                    message:
                        "the index file '\(path)' was written by a newer version of baton; upgrade baton, or rebuild the index (`baton index NAME --rebuild`)"
                )
            }
            let hasOtherTables = try queue.read { db in
                try !db.tableExists("meta") && !db.tableExists("grdb_migrations")
                    && Int.fetchOne(db, sql: "SELECT count(*) FROM sqlite_master WHERE type = 'table'") ?? 0 > 0
            }
            if hasOtherTables {
                throw IndexError(
                    kind: .damaged,
                    message: "'\(path)' is a SQLite database but not a Baton index; move it aside, or give the index another path:")
            }
            try migrator.migrate(queue)
        } catch let error as IndexError {
            throw error
        } catch {
            throw Self.wrap(error, path: path)
        }
    }

    // MARK: - Transactions

    /// Runs `body` in one write transaction that also moves the write generation, mapping database errors.
    @discardableResult
    func write<T>(_ body: (Database) throws -> T) throws -> T {
        do {
            return try queue.write { db in
                let result = try body(db)
                try db.execute(sql: "UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'generation'")
                try db.execute(
                    sql: "INSERT OR REPLACE INTO meta (key, value) VALUES ('updated_at', ?)",
                    arguments: ["\(Date().timeIntervalSince1970)"])
                return result
            }
        } catch let error as IndexError {
            throw error
        } catch {
            throw Self.wrap(error, path: path)
        }
    }

    func read<T>(_ body: (Database) throws -> T) throws -> T {
        do {
            return try queue.read(body)
        } catch let error as IndexError {
            throw error
        } catch {
            throw Self.wrap(error, path: path)
        }
    }

    /// Maps a GRDB error to an index error about the file at `path`.
    static func wrap(_ error: any Error, path: String) -> IndexError {
        if let error = error as? IndexError { return error }
        guard let error = error as? DatabaseError else {
            return IndexError(kind: .unreadable, message: "the index file '\(path)' failed: \(error)")
        }
        let detail = error.message ?? "\(error.resultCode)"
        switch error.resultCode {
        case .SQLITE_NOTADB, .SQLITE_CORRUPT:
            return IndexError(
                kind: .damaged,
                message: "the index file '\(path)' is damaged (\(detail)); rebuild it with `baton index NAME --rebuild`, or delete it")
        case .SQLITE_FULL:
            return IndexError(
                kind: .unreadable,
                message:
                    "the disk holding the index file '\(path)' is full; free some space, then update the index again")
        default:
            return IndexError(
                kind: .unreadable,
                message:
                    "the index file '\(path)' cannot be read or written (\(detail)); check the file's and its folder's permissions, or give the index another path:"
            )
        }
    }

    // MARK: - State

    /// How the stored vectors were made; nil before the first write.
    ///
    /// - Throws: ``IndexError`` `.damaged` when the stored fingerprint cannot be read.
    public func fingerprint() throws -> IndexFingerprint? {
        try read { db in try Self.fingerprint(db, path: path) }
    }

    static func fingerprint(_ db: Database, path: String) throws -> IndexFingerprint? {
        guard let json = try String.fetchOne(db, sql: "SELECT value FROM meta WHERE key = 'fingerprint'") else { return nil }
        do {
            return try JSONDecoder().decode(IndexFingerprint.self, from: Data(json.utf8))
        } catch {
            throw IndexError(
                kind: .damaged,
                message:
                    "the index file '\(path)' holds an unreadable fingerprint (\(error)); rebuild it with `baton index NAME --rebuild`")
        }
    }
}

/// Exact search's copy of every vector: contiguous, in chunk id order.
struct IndexVectorCache: Sendable {
    var generation: Int64
    var dimensions: Int
    var ids: [Int64]
    var vectors: [Float]
}
