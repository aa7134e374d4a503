import BatonSpec
import Foundation

/// What identifies the vectors of an index: a query of another fingerprint is refused.
///
/// Two fingerprints are compatible when the chunker settings are equal, the dimensions agree (0 means not yet
/// known and matches any) and they name the same model: the same weights digest when both sides know one (then the
/// runtime serving it does not matter), else the same model name on the same runtime.
public struct IndexFingerprint: Sendable, Hashable, Codable {
    /// The model's name as the pipeline declares it (a registry model).
    public var model: String
    /// The runtime that served the model.
    public var runtime: String
    /// A stable identity of the weights (a GGUF file's SHA-256, Ollama's digest), nil when the runtime does not say.
    public var modelDigest: String?
    /// The length of every vector; 0 before the first vector is known.
    public var dimensions: Int
    /// How files were split into chunks.
    public var chunk: ChunkSpec

    /// Creates a fingerprint.
    public init(model: String, runtime: String, modelDigest: String?, dimensions: Int, chunk: ChunkSpec) {
        self.model = model
        self.runtime = runtime
        self.modelDigest = modelDigest
        self.dimensions = dimensions
        self.chunk = chunk
    }

    /// Why `other` cannot use vectors made under `self`, in words naming both sides; nil when it can.
    ///
    /// "it was built with model 'minilm' on 'local' (384 dimensions, ...); this pipeline embeds with model 'other'
    /// on 'local' (...) (the model differs)": the caller adds the index's name and the fix
    /// (``mismatch(_:index:)`` does both).
    public func mismatch(_ other: IndexFingerprint) -> String? {
        guard let differences = differences(from: other) else { return nil }
        return "it was built with \(summary); this pipeline embeds with \(other.summary) (\(differences))"
    }

    /// Why `other` cannot use vectors made under `self`, the fingerprint stored in index `index`, in words naming
    /// the index, both sides and the fix (`baton index NAME --rebuild`); nil when it can.
    public func mismatch(_ other: IndexFingerprint, index: String) -> String? {
        guard let differences = differences(from: other) else { return nil }
        return
            "index '\(index)' was built with \(summary); this pipeline embeds with \(other.summary) (\(differences)); rebuild it with `baton index \(index) --rebuild`"
    }

    /// What differs, in words; nil when nothing that matters does.
    private func differences(from other: IndexFingerprint) -> String? {
        var differences: [String] = []
        if let mine = modelDigest, let theirs = other.modelDigest {
            if mine != theirs { differences.append(model == other.model ? "the model's weights differ" : "the model differs") }
        } else if model != other.model {
            differences.append("the model differs")
        } else if runtime != other.runtime {
            differences.append("the runtime differs")
        }
        if dimensions != 0, other.dimensions != 0, dimensions != other.dimensions {
            differences.append("the dimensions differ")
        }
        if chunk != other.chunk { differences.append("the chunker settings differ") }
        return differences.isEmpty ? nil : differences.joined(separator: ", ")
    }

    /// The fingerprint in words: "model 'minilm' on 'local' (384 dimensions, chunks by paragraph of 1200 with 150 overlap)".
    public var summary: String {
        var details: [String] = []
        if let modelDigest { details.append("digest \(modelDigest.prefix(12))") }
        details.append(dimensions == 0 ? "dimensions not yet known" : "\(dimensions) dimensions")
        let unit = chunk.by == .lines ? " lines" : ""
        details.append("chunks by \(chunk.by.rawValue) of \(chunk.size)\(unit) with \(chunk.overlap) overlap")
        return "model '\(model)' on '\(runtime)' (\(details.joined(separator: ", ")))"
    }
}
