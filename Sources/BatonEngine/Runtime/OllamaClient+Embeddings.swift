import Foundation

/// Ollama's `POST /api/embed` (v0.33, ollama/ollama `fb30760`).
///
/// The request is `api.EmbedRequest` (`api/types.go:599-618`): `model`, `input` (a string or an array of strings),
/// `truncate` (nil means true: a text longer than the context is cut to fit, `server/routes.go:895-936`), `keep_alive`,
/// `options`. Baton sends the texts as an array, `truncate: true` (an over-long chunk is embedded from its start rather
/// than failing the whole index), `keep_alive: -1` and `num_ctx` as a load sends it, because Ollama reloads a model
/// whose runner options change (`server/sched.go:1381-1428`) and Baton decides what stays loaded.
///
/// The answer is `api.EmbedResponse` (`api/types.go:621-628`): `embeddings` in input order (`routes.go:965-998`), each
/// already L2-normalized by the handler (`normalize`, `routes.go:1026-1040`, "this first normalization should be done
/// by the model"), and `prompt_eval_count`, the summed token count (omitted when 0).
///
/// Errors (`routes.go:795-1014`): an unknown model is 404 "model 'X' not found" (``RuntimeError/Code/modelNotFound``);
/// a non-string input is 400 "invalid input type"; a runner failure is a 400 with its text, or the schedule errors of
/// `handleScheduleError` (`routes.go:3107-3120`: 503 for a full queue, 500 otherwise), which map as for a chat.
/// An empty input is not an error there: it answers 200 with no embeddings (`routes.go:860-863`); this client sends no
/// request for no texts.
extension OllamaClient: EmbeddingRuntime {
    public func embed(_ texts: [String], model: String) async throws -> EmbeddingBatch {
        guard !texts.isEmpty else { return EmbeddingBatch(vectors: [], promptTokens: 0) }
        book.remember(model)
        let body: [String: Any] = [
            "model": model, "input": texts, "truncate": true, "keep_alive": -1, "options": ["num_ctx": Self.defaultNumCtx],
        ]
        let response = try await send(
            HTTPRequest.json(baseURL + "/api/embed", body), timeout: loadTimeout, model: model, doing: "embedding with")
        let data = try await response.collect(limit: 256 * 1024 * 1024)
        guard response.status == 200 else {
            throw failure(status: response.status, body: data, model: model, doing: "embedding with")
        }
        struct Reply: Decodable {
            var embeddings: [[Float]]?
            var promptEvalCount: Int?
        }
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        guard let reply = try? decoder.decode(Reply.self, from: data), let vectors = reply.embeddings else {
            throw RuntimeError(
                .badResponse, "Ollama at \(baseURL) answered /api/embed for model '\(model)' without an 'embeddings' list",
                isTransient: false)
        }
        guard vectors.count == texts.count else {
            throw RuntimeError(
                .badResponse, "Ollama at \(baseURL) returned \(vectors.count) embeddings for \(texts.count) texts with model '\(model)'",
                isTransient: false)
        }
        return EmbeddingBatch(vectors: vectors, promptTokens: reply.promptEvalCount)
    }

    /// The model's manifest digest from `GET /api/tags` (names for the same weights share it), nil when Ollama does
    /// not list the model or cannot be asked.
    public func embeddingModelDigest(_ model: String) async -> String? {
        if let known = book.digest(of: model) { return known }
        guard let installed = try? await installedModels(),
            let digest = installed.first(where: { Self.sameModel($0.name, model) })?.digest
        else { return nil }
        book.setDigest(digest, of: model)
        return digest
    }
}
