import Foundation

/// The echo runtime's embeddings: deterministic vectors without a model, so CI can build and query indexes.
///
/// A text is split into words (runs of letters and digits, lower-cased); each word is hashed with 64-bit FNV-1a
/// (stable across processes and platforms, unlike Swift's seeded `Hasher`) into one of `embed_dimensions` buckets
/// (the hash modulo the width) with a sign (bit 32 of the hash), and the counts are scaled to unit length. Texts that
/// share words share buckets, so their cosine is higher than that of texts with no word in common (which is 0 up to
/// bucket collisions): a paraphrase that reuses words scores above an unrelated text, as a real model would, but a
/// paraphrase in other words does not. A text without words gets one fixed bucket, so every vector is non-zero.
/// `promptTokens` is the number of words.
extension EchoRuntime: EmbeddingRuntime {
    /// The width of echo vectors when the profile sets no `embed_dimensions`: that of all-MiniLM-L6-v2.
    public static let defaultEmbedDimensions = 384

    public func embed(_ texts: [String], model: String) async throws -> EmbeddingBatch {
        var tokens = 0
        let vectors = texts.map { text in
            tokens += Self.words(text).count
            return Self.hashedVector(of: text, dimensions: options.embedDimensions)
        }
        return EmbeddingBatch(vectors: vectors, promptTokens: tokens)
    }

    /// A digest of the method and the width: echo vectors of another width or method are not comparable.
    public func embeddingModelDigest(_ model: String) async -> String? {
        "echo-fnv1a-words-\(options.embedDimensions)"
    }

    /// The lower-cased runs of letters and digits of `text`.
    static func words(_ text: String) -> [String] {
        text.lowercased().split { !($0.isLetter || $0.isNumber) }.map(String.init)
    }

    /// The unit vector of `text` (see the type's documentation); the stand-ins embed with it too.
    public static func hashedVector(of text: String, dimensions: Int) -> [Float] {
        vector(words(text), dimensions: max(1, dimensions))
    }

    /// The unit vector of `words`.
    static func vector(_ words: [String], dimensions: Int) -> [Float] {
        var vector = [Float](repeating: 0, count: dimensions)
        for word in words.isEmpty ? ["\u{0}"] : words {
            let hash = fnv1a(word)
            vector[Int(hash % UInt64(dimensions))] += (hash >> 32) & 1 == 0 ? 1 : -1
        }
        let norm = vector.reduce(Float(0)) { $0 + $1 * $1 }.squareRoot()
        // Two words with opposite signs in one bucket can cancel out: fall back to the fixed bucket.
        guard norm > 0 else { return Self.vector(["\u{0}"], dimensions: dimensions) }
        return vector.map { $0 / norm }
    }

    /// 64-bit FNV-1a of the UTF-8 bytes.
    static func fnv1a(_ text: String) -> UInt64 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in text.utf8 {
            hash ^= UInt64(byte)
            hash = hash &* 0x0000_0100_0000_01b3
        }
        return hash
    }
}
