import Foundation

/// One embedding request's answer.
public struct EmbeddingBatch: Sendable, Hashable {
    /// One vector per input text, in the order of the inputs.
    public var vectors: [[Float]]
    /// Tokens the runtime read, when it says (`usage.prompt_tokens`, Ollama's `prompt_eval_count`).
    public var promptTokens: Int?

    /// Creates a batch.
    public init(vectors: [[Float]], promptTokens: Int?) {
        self.vectors = vectors
        self.promptTokens = promptTokens
    }
}

/// A runtime that turns texts into vectors.
public protocol EmbeddingRuntime: Sendable {
    /// Embeds `texts` in one request; one vector per text, in order. Throws RuntimeError (transient or not).
    func embed(_ texts: [String], model: String) async throws -> EmbeddingBatch
    /// A stable identity of the model's weights (a GGUF file's SHA-256, Ollama's digest), nil when unknown.
    func embeddingModelDigest(_ model: String) async -> String?
}
