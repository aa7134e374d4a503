import BatonSpec
import Foundation

/// What one update did.
public struct IndexUpdate: Sendable, Hashable {
    /// Files indexed for the first time.
    public var added: Int
    /// Files whose contents changed, re-chunked and re-embedded.
    public var changed: Int
    /// Files gone (or no longer matched, or now unusable), whose chunks were removed.
    public var removed: Int
    /// Files left as they were.
    public var unchanged: Int
    /// Chunks embedded by this update.
    public var chunksEmbedded: Int
    /// Matched files that cannot be indexed, with why.
    public var skipped: [SkippedSource]

    /// Creates an update summary.
    public init(added: Int, changed: Int, removed: Int, unchanged: Int, chunksEmbedded: Int, skipped: [SkippedSource]) {
        self.added = added
        self.changed = changed
        self.removed = removed
        self.unchanged = unchanged
        self.chunksEmbedded = chunksEmbedded
        self.skipped = skipped
    }
}

/// Progress of an update, for the command's bar.
public struct IndexProgress: Sendable {
    /// Files to chunk and embed that are done.
    public var filesDone: Int
    /// Files to chunk and embed in this update (new and changed ones).
    public var filesTotal: Int
    /// Chunks embedded so far.
    public var chunksEmbedded: Int

    /// Creates a progress report.
    public init(filesDone: Int, filesTotal: Int, chunksEmbedded: Int) {
        self.filesDone = filesDone
        self.filesTotal = filesTotal
        self.chunksEmbedded = chunksEmbedded
    }
}

/// Builds or updates an index incrementally: only new or changed files are chunked and embedded.
///
/// Files are compared by SHA-256 with what the index recorded. Chunks of several files are embedded together in
/// requests of up to `batch` texts; each file's rows are then replaced in one transaction together with its new
/// hash, so a killed process (or a failed request) leaves every file old or new, and the next update embeds only
/// what is still missing.
public enum IndexBuilder {
    /// Refuses (IndexError.fingerprintMismatch) when the file's fingerprint differs from `fingerprint` unless `rebuild`;
    /// `rebuild` builds a new file beside the old and renames it over at the end (a kill leaves the old one).
    ///
    /// - Parameters:
    ///   - fingerprint: how the vectors are made now; `dimensions` 0 takes the width of the first vector.
    ///   - embed: embeds texts, one vector per text in order (the closure may batch and retry on its own).
    ///   - progress: called after each file is stored (and once at the start).
    /// - Throws: ``IndexError`` (`.noSources`, `.fingerprintMismatch`, `.embedding`, the file's errors); what
    ///   `embed` throws, after storing every file embedded before it.
    public static func update(
        _ index: IndexPlan, at path: String, fingerprint: IndexFingerprint, rebuild: Bool, sqliteVecPath: String? = nil,
        embed: @Sendable ([String]) async throws -> [[Float]], progress: @Sendable (IndexProgress) -> Void = { _ in }
    ) async throws -> IndexUpdate {
        let scan = try SourceScanner.scan(index)
        let target = rebuild ? path + ".rebuild" : path
        if rebuild {
            // A leftover of a killed rebuild starts over: its files may be of an older fingerprint.
            for leftover in [target, target + "-wal", target + "-shm"] { try? FileManager.default.removeItem(atPath: leftover) }
        } else if let existing = try IndexStore.openExisting(path: path, vector: index.vector, sqliteVecPath: sqliteVecPath),
            let stored = try existing.fingerprint(), let why = stored.mismatch(fingerprint, index: index.name)
        {
            throw IndexError(kind: .fingerprintMismatch, message: why)
        }
        let store = try IndexStore(path: target, vector: index.vector, sqliteVecPath: sqliteVecPath)
        let recorded = try store.indexedFiles()
        let current = Set(scan.files.map(\.path))
        let gone = recorded.keys.filter { !current.contains($0) }.sorted()
        try store.removeFiles(gone)
        let work = scan.files.filter { recorded[$0.path]?.sha256 != $0.sha256 }
        var summary = IndexUpdate(
            added: 0, changed: 0, removed: gone.count, unchanged: scan.files.count - work.count, chunksEmbedded: 0,
            skipped: scan.skipped)
        var fingerprint = fingerprint
        if let stored = try store.fingerprint(), fingerprint.dimensions == 0 { fingerprint.dimensions = stored.dimensions }
        progress(IndexProgress(filesDone: 0, filesTotal: work.count, chunksEmbedded: 0))

        // Files waiting for their chunks' vectors, embedded together once `batch` chunks wait.
        var pending: [(file: IndexSourceFile, sha256: String, size: Int64, chunks: [Chunk])] = []
        var pendingChunks = 0
        var filesDone = 0
        let batch = max(1, index.batch)

        func flush() async throws {
            let texts = pending.flatMap { $0.chunks.map(\.text) }
            var vectors: [[Float]] = []
            vectors.reserveCapacity(texts.count)
            for start in stride(from: 0, to: texts.count, by: batch) {
                let slice = Array(texts[start..<min(texts.count, start + batch)])
                let answer = try await embed(slice)
                guard answer.count == slice.count else {
                    throw IndexError(
                        kind: .embedding,
                        message:
                            "index '\(index.name)': the embedding model '\(fingerprint.model)' returned \(answer.count) vectors for \(slice.count) texts; check the runtime serving it"
                    )
                }
                if fingerprint.dimensions == 0, let first = answer.first { fingerprint.dimensions = first.count }
                vectors += answer
            }
            var offset = 0
            for entry in pending {
                let mine = Array(vectors[offset..<(offset + entry.chunks.count)])
                offset += entry.chunks.count
                try store.replaceFile(
                    entry.file.path, sha256: entry.sha256, size: entry.size, chunks: entry.chunks, vectors: mine,
                    fingerprint: fingerprint)
                if recorded[entry.file.path] == nil { summary.added += 1 } else { summary.changed += 1 }
                summary.chunksEmbedded += entry.chunks.count
                filesDone += 1
                progress(IndexProgress(filesDone: filesDone, filesTotal: work.count, chunksEmbedded: summary.chunksEmbedded))
            }
            pending.removeAll()
            pendingChunks = 0
        }

        for file in work {
            // Read again: what is chunked is what is hashed, even if the file changed since the scan.
            let data: Data
            switch SourceScanner.read(absolutePath: file.absolutePath) {
            case .success(let contents): data = contents
            case .failure(let refusal):
                summary.skipped.append(SkippedSource(path: file.path, reason: refusal.message))
                if recorded[file.path] != nil {
                    try store.removeFiles([file.path])
                    summary.removed += 1
                }
                continue
            }
            let text = String(decoding: data, as: UTF8.self)
            let chunks = Chunker.chunks(of: text, source: file.path, spec: index.chunk)
            pending.append((file, SourceScanner.sha256(data), Int64(data.count), chunks))
            pendingChunks += chunks.count
            if pendingChunks >= batch { try await flush() }
        }
        try await flush()
        try store.adoptFingerprint(fingerprint)
        summary.skipped.sort { $0.path < $1.path }

        if rebuild {
            try store.closeDatabase()
            // The old file's log must not be applied to the new file once it takes the old one's name.
            for stale in [path + "-wal", path + "-shm"] { try? FileManager.default.removeItem(atPath: stale) }
            guard rename(target, path) == 0 else {
                throw IndexError(
                    kind: .unreadable,
                    message:
                        "index '\(index.name)': the rebuilt file '\(target)' cannot replace '\(path)' (\(String(cString: strerror(errno)))); check the folder's permissions"
                )
            }
        }
        return summary
    }

    /// Whether the index at `path` would change: files added, changed or removed since it was built (no embedding).
    ///
    /// An index file that does not exist, or was never written, is stale.
    ///
    /// - Throws: ``IndexError`` (`.noSources` when nothing matches, the file's errors).
    public static func isStale(_ index: IndexPlan, at path: String) throws -> Bool {
        guard let store = try IndexStore.openExisting(path: path) else { return true }
        guard try store.fingerprint() != nil else { return true }
        let scan = try SourceScanner.scan(index)
        let recorded = try store.indexedFiles()
        guard recorded.count == scan.files.count else { return true }
        return scan.files.contains { recorded[$0.path]?.sha256 != $0.sha256 }
    }
}
