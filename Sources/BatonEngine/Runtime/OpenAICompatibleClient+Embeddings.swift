import Foundation

/// `POST …/embeddings`, beside the chat endpoint: OpenAI's cloud and any compatible server.
///
/// The request is the OpenAI shape (openai/openai-openapi `f85dbe22` `CreateEmbeddingRequest`: `model`, `input` as an
/// array of strings, `encoding_format: float`), sent with the key headers the chat client sends. The answer's
/// `data[].index` says which input each vector belongs to (`Embedding.index`, "The index of the embedding in the list
/// of embeddings"; openai-python 3.3.1 `src/openai/types/embedding.py`), so vectors are put in that order, not in the
/// order they arrive. `usage.prompt_tokens` is the token count (`CreateEmbeddingResponse.usage`). The weights of a
/// cloud model are not known, so ``embeddingModelDigest(_:)`` is nil: the model name alone identifies it.
extension OpenAICompatibleClient: EmbeddingRuntime {
    /// The URL of `POST …/embeddings`, beside the chat endpoint.
    public var embeddingsURL: String {
        let suffix = "/chat/completions"
        return (chatURL.hasSuffix(suffix) ? String(chatURL.dropLast(suffix.count)) : chatURL) + "/embeddings"
    }

    public func embed(_ texts: [String], model: String) async throws -> EmbeddingBatch {
        try await OpenAIEmbeddings.embed(
            texts, model: model, url: embeddingsURL, headers: allHeaders, keyHint: keyHint, transport: transport,
            connectTimeout: connectTimeout, scrubber: scrubber, httpError: Self.httpError)
    }

    /// Nil: an API model's weights have no identity Baton can see.
    public func embeddingModelDigest(_ model: String) async -> String? { nil }
}

/// The OpenAI embeddings wire format, shared by ``OpenAICompatibleClient`` and ``LlamaServerClient``.
enum OpenAIEmbeddings {
    /// The request body: the texts as an `input` array, floats (not base64) back.
    static func body(_ texts: [String], model: String) -> [String: Any] {
        ["model": model, "input": texts, "encoding_format": "float"]
    }

    /// One request: no request for no texts; a status other than 200 mapped by `httpError` under the SDKs' retry
    /// rules (``ServerSentEventAPI/retryRules(_:response:url:)``); the key scrubbed from every error.
    static func embed(
        _ texts: [String], model: String, url: String, headers: [(String, String)], keyHint: String?, transport: any HTTPTransport,
        connectTimeout: Double, scrubber: SecretScrubber, httpError: ServerSentEventAPI.ErrorMapping
    ) async throws -> EmbeddingBatch {
        guard !texts.isEmpty else { return EmbeddingBatch(vectors: [], promptTokens: 0) }
        do {
            let request = HTTPRequest.json(url, body(texts, model: model), headers: headers)
            let response = try await transport.send(request, connectTimeout: connectTimeout)
            let data = try await response.collect(limit: 256 * 1024 * 1024)
            guard response.status == 200 else {
                let error = httpError(response.status, data, url, model, keyHint)
                throw ServerSentEventAPI.retryRules(error, response: response, url: url)
            }
            return try decode(data, count: texts.count, url: url, model: model)
        } catch {
            throw scrubber.scrub(error)
        }
    }

    /// The vectors of a `CreateEmbeddingResponse`, ordered by `index`; exactly one per input.
    static func decode(_ data: Data, count: Int, url: String, model: String) throws -> EmbeddingBatch {
        func bad(_ why: String) -> RuntimeError {
            RuntimeError(.badResponse, "\(url) answered the embedding request for '\(model)' with \(why)", isTransient: false)
        }
        guard let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
            let entries = object["data"] as? [[String: Any]]
        else { throw bad("something that is not an embeddings list (no 'data' array)") }
        var vectors = [[Float]?](repeating: nil, count: count)
        for (position, entry) in entries.enumerated() {
            let index = (entry["index"] as? NSNumber)?.intValue ?? position
            guard vectors.indices.contains(index), vectors[index] == nil else {
                throw bad("a vector for input \(index), but it sent \(count) texts")
            }
            guard let values = entry["embedding"] as? [Any] else {
                throw bad("an 'embedding' that is not a list of numbers (a base64 string?)")
            }
            var vector: [Float] = []
            vector.reserveCapacity(values.count)
            for value in values {
                guard let number = value as? NSNumber else { throw bad("an 'embedding' that is not a list of numbers") }
                vector.append(number.floatValue)
            }
            vectors[index] = vector
        }
        let missing = vectors.indices.filter { vectors[$0] == nil }
        guard missing.isEmpty else {
            throw bad("\(entries.count) vectors for \(count) texts (none for input \(missing.map(String.init).joined(separator: ", ")))")
        }
        let usage = object["usage"] as? [String: Any]
        return EmbeddingBatch(vectors: vectors.map { $0! }, promptTokens: (usage?["prompt_tokens"] as? NSNumber)?.intValue)
    }
}
