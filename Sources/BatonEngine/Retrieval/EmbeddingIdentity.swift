import Crypto
import Foundation

/// What identifies an embedding model's weights, so an index built with one file refuses vectors of another.
public enum EmbeddingIdentity {
    /// Digests already computed, by path, size and modification time: a 90 MB GGUF is hashed once per process,
    /// not once per run or query, and hashed again when the file changes.
    private static let cache = Locked<[String: (size: Int64, modified: Date, digest: String)]>([:])

    /// The lower-case hex SHA-256 of the file at `path` (`~` expanded), read in 1 MiB pieces.
    ///
    /// llama-server names a model by its preset or file name, which says nothing about the weights; the registry's
    /// `file:` does, so the engine hashes it.
    ///
    /// - Throws: `CocoaError` when the file cannot be read.
    public static func sha256(ofFile path: String) throws -> String {
        let path = (path as NSString).expandingTildeInPath
        let attributes = try FileManager.default.attributesOfItem(atPath: path)
        let size = (attributes[.size] as? NSNumber)?.int64Value ?? -1
        let modified = attributes[.modificationDate] as? Date ?? .distantPast
        if let known = cache.withLock({ $0[path] }), known.size == size, known.modified == modified {
            return known.digest
        }
        guard let handle = FileHandle(forReadingAtPath: path) else {
            throw CocoaError(.fileReadNoPermission, userInfo: [NSFilePathErrorKey: path])
        }
        defer { try? handle.close() }
        var hasher = SHA256()
        while let piece = try handle.read(upToCount: 1 << 20), !piece.isEmpty {
            hasher.update(data: piece)
        }
        let digest = hasher.finalize().map { String(format: "%02x", $0) }.joined()
        cache.withLock { $0[path] = (size, modified, digest) }
        return digest
    }
}
