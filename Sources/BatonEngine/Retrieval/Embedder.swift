import Foundation

/// Embeds many texts for one model: batches, retries transient errors, checks one dimension, unit-normalizes.
///
/// Vectors come back unit length whatever the runtime does, so a dot product is the cosine similarity and an
/// index can store them as they are. llama-server normalizes already (`embd_normalize` 2, llama.cpp b11434
/// `common/common.h:620`), and so does Ollama's `/api/embed` (`normalize`, `server/routes.go:985-998, 1026-1040` at
/// v0.33.0-rc2); a compatible server or a model served with `--embd-normalize -1` need not, and normalizing twice
/// changes nothing.
public struct Embedder: Sendable {
    /// The runtime asked.
    public let runtime: any EmbeddingRuntime
    /// The model name sent with every request.
    public let model: String
    /// Most texts in one request.
    public let batchSize: Int
    /// Retries of one request after a transient error.
    public let retries: Int
    /// Shared by copies of one embedder, so a copy's requests count too.
    private let requests = Locked(0)
    private let width = Locked<Int?>(nil)

    /// Creates an embedder; `batchSize` below 1 is taken as 1.
    public init(runtime: any EmbeddingRuntime, model: String, batchSize: Int, retries: Int = 2) {
        self.runtime = runtime
        self.model = model
        self.batchSize = max(1, batchSize)
        self.retries = max(0, retries)
    }

    /// Requests made so far (for tests and progress).
    public var requestCount: Int { requests.current }

    /// The vector width seen so far (nil before the first answer).
    public var dimensions: Int? { width.current }

    /// Embeds `texts`, `batchSize` at a time; one unit vector per text, in order.
    ///
    /// - Throws: ``RuntimeError``: the runtime's last error after the retries, `.badResponse` when an answer has
    ///   the wrong number of vectors, vectors of different widths, or a zero or non-finite vector.
    public func embed(_ texts: [String]) async throws -> [[Float]] {
        var vectors: [[Float]] = []
        vectors.reserveCapacity(texts.count)
        var start = 0
        while start < texts.count {
            let end = min(start + batchSize, texts.count)
            let batch = Array(texts[start..<end])
            let answer = try await request(batch)
            guard answer.vectors.count == batch.count else {
                throw RuntimeError(
                    .badResponse,
                    "embedding model '\(model)' returned \(answer.vectors.count) vectors for \(batch.count) texts; "
                        + "check that the runtime serves '\(model)' as an embedding model", isTransient: false)
            }
            for vector in answer.vectors { vectors.append(try checked(vector)) }
            start = end
        }
        return vectors
    }

    /// One request, retried on transient errors with a short, growing pause (0.2 s, 0.4 s, ..., at most 2 s,
    /// or what the runtime asked for up to 10 s).
    private func request(_ batch: [String]) async throws -> EmbeddingBatch {
        var attempt = 0
        while true {
            requests.withLock { $0 += 1 }
            do {
                return try await runtime.embed(batch, model: model)
            } catch let error as RuntimeError where error.isTransient && attempt < retries {
                attempt += 1
                let pause = error.retryAfter.map { min($0, 10) } ?? min(0.2 * Double(1 << (attempt - 1)), 2)
                try await Task.sleep(for: .milliseconds(Int(pause * 1000)))
            }
        }
    }

    /// Checks `vector`'s width against the first one seen and scales it to unit length.
    private func checked(_ vector: [Float]) throws -> [Float] {
        let expected = width.withLock { seen in
            if seen == nil { seen = vector.count }
            return seen!
        }
        guard vector.count == expected, expected > 0 else {
            throw RuntimeError(
                .badResponse,
                "embedding model '\(model)' returned a vector of \(vector.count) dimensions after one of \(expected); "
                    + "one index needs one model with one width", isTransient: false)
        }
        var sum: Double = 0
        for value in vector { sum += Double(value) * Double(value) }
        let norm = sum.squareRoot()
        guard norm.isFinite, norm > 0 else {
            throw RuntimeError(
                .badResponse, "embedding model '\(model)' returned a zero or non-finite vector; it cannot be compared",
                isTransient: false)
        }
        let scale = Float(1 / norm)
        return vector.map { $0 * scale }
    }
}
