import Foundation

/// Why an index cannot be built or queried; `message` names the index, the file and the fix.
public struct IndexError: Error, Sendable, Hashable, CustomStringConvertible {
    /// What went wrong.
    public enum Kind: Sendable, Hashable {
        /// No file matches the index's `sources` (or every match is excluded or unusable).
        case noSources
        /// The index was built with another embedding model, runtime, dimensions or chunker.
        case fingerprintMismatch
        /// The index file does not exist or was never written.
        case notBuilt
        /// The index file fails its integrity check or is not an index.
        case damaged
        /// The index file or a source file cannot be read or written.
        case unreadable
        /// The sqlite-vec extension is missing or does not load.
        case extensionUnavailable
        /// The embedding model's answer cannot be stored (wrong count or dimensions).
        case embedding
    }

    /// What went wrong.
    public var kind: Kind
    /// A full sentence for the user: the index, the file and the fix.
    public var message: String

    /// Creates an error.
    public init(kind: Kind, message: String) {
        self.kind = kind
        self.message = message
    }

    public var description: String { message }
}
