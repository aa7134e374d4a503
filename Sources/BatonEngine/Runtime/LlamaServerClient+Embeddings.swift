import Foundation

/// llama-server's `POST /v1/embeddings` (llama.cpp b11434, `tools/server/server-context.cpp:5832` `handle_embeddings_impl`;
/// the answer built by `server-common.cpp:1494` `format_embeddings_response_oaicompat`): the OpenAI shape, one vector per
/// input with its `index`, `usage.prompt_tokens`. The router picks the model by the body's `model`
/// (`server-models.cpp:1922`, "model name is missing from the request" without it). Vectors come back L2-normalized:
/// `embd_normalize` defaults to 2, the Euclidean norm (`common/common.h:620`, applied in `server-context.cpp`
/// `send_embedding`), and the pooling is the model's (`--pooling mean` for a sentence model).
///
/// Errors it sends, as this client reports them:
/// - 501 `not_supported_error` "This server does not support embeddings. Start it with `--embeddings`": the model is
///   served without `--embeddings` (a chat model, or an embedding model without its preset;
///   `server-context.cpp:5834-5836`); permanent.
/// - 400 "model 'X' not found" from the router (`server-models.cpp:1927`): ``RuntimeError/Code/modelNotFound``.
/// - 500 "input (N tokens) is too large to process. increase the physical batch size": a text longer than one
///   micro-batch (`--ubatch-size`, 512 by default) of a non-causal model, which cannot be split
///   (`server-context.cpp:3396-3404`, `!slot.can_split()`); permanent (``RuntimeError/Code/contextExceeded``), not
///   retried as a 5xx would be.
extension LlamaServerClient: EmbeddingRuntime {
    public func embed(_ texts: [String], model: String) async throws -> EmbeddingBatch {
        let base = baseURL
        return try await OpenAIEmbeddings.embed(
            texts, model: model, url: base + "/v1/embeddings", headers: [], keyHint: nil, transport: transport, connectTimeout: loadTimeout,
            scrubber: SecretScrubber(nil)
        ) { status, body, url, model, keyHint in
            Self.embeddingError(status, body: body, url: url, model: model, server: base)
        }
    }

    /// The SHA-256 of the GGUF the router serves `model` from (`--model` of its child, or `model =` of its preset),
    /// when that file is on this machine; nil when the server is elsewhere or does not say.
    public func embeddingModelDigest(_ model: String) async -> String? {
        guard let entry = try? await models().first(where: { $0.id == model }), let path = entry.path,
            FileManager.default.isReadableFile(atPath: path)
        else { return nil }
        return try? EmbeddingIdentity.sha256(ofFile: path)
    }

    /// llama-server's embedding errors in words that name the fix; anything else as for a chat request.
    static func embeddingError(_ status: Int, body: Data?, url: String, model: String, server: String) -> RuntimeError {
        let object = body.flatMap { try? JSONSerialization.jsonObject(with: $0) as? [String: Any] }
        let detail = (object?["error"]).map(OpenAICompatibleClient.message) ?? ""
        switch status {
        case 501:
            return RuntimeError(
                .httpStatus,
                "llama-server at \(server) serves '\(model)' without embeddings (\(detail)); give that model `embeddings = true` and `pooling = mean` in the router's --models-preset (scripts/start-llama-router.sh --embedding \(model)=FILE.gguf), or pick an embedding model",
                isTransient: false)
        case 400 where detail.contains("not found"):
            return RuntimeError(
                .modelNotFound,
                "llama-server at \(server) has no model '\(model)' (\(detail)); add it to the router (scripts/start-llama-router.sh --embedding \(model)=FILE.gguf) or fix the index's embed model",
                isTransient: false)
        case 500 where detail.contains("too large to process"):
            return RuntimeError(
                .contextExceeded,
                "llama-server at \(server) could not embed a text with '\(model)': \(detail); lower the index's chunk size, or raise the model's --ubatch-size",
                isTransient: false)
        default:
            return OpenAICompatibleClient.httpError(status, body: body, url: url, model: model)
        }
    }
}
