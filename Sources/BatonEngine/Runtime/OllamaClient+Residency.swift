import BatonSpec
import Foundation

// What is loaded: `/api/ps`, matching a runner to a model by name, digest or weights file, and the context a load gets.
extension OllamaClient {
    /// A model loaded on the server (`GET /api/ps`).
    public struct LoadedModel: Sendable, Hashable {
        /// The name as the server lists it: the name that created the runner, with its tag.
        public var name: String
        /// Bytes it occupies: weights, KV cache and compute graph.
        public var size: Int64?
        /// The part of `size` in GPU memory (`0`: CPU only).
        public var sizeVRAM: Int64?
        /// The context window allocated, in tokens (`num_ctx` after clamping).
        public var contextLength: Int?
        /// When the server will unload it by itself (far in the future for `keep_alive: -1`).
        public var expiresAt: String?
        /// The digest of the weights' manifest, shared by every name for the same weights.
        public var digest: String? = nil
    }

    private struct PSReply: Decodable {
        struct Entry: Decodable {
            var name: String?
            var model: String?
            var size: Int64?
            var sizeVram: Int64?
            var contextLength: Int?
            var expiresAt: String?
            var digest: String?
        }
        var models: [Entry]?
    }

    /// The models loaded now, as `GET /api/ps` lists them.
    public func loadedModels() async throws -> [LoadedModel] {
        let reply: PSReply = try await getJSON("/api/ps", doing: "listing the loaded models")
        return (reply.models ?? []).compactMap { entry in
            guard let name = entry.name ?? entry.model else { return nil }
            return LoadedModel(
                name: name, size: entry.size, sizeVRAM: entry.sizeVram, contextLength: entry.contextLength, expiresAt: entry.expiresAt,
                digest: entry.digest)
        }
    }

    /// The runner serving `model` among `loaded`: listed under its name as Ollama normalises it, else
    /// under another name for the same weights. Ollama keeps one runner per weights file and lists the name
    /// that created it (`sched.go:110-127, 475-492`, `routes.go:2276`): a tag alias has the same manifest
    /// `digest`; a derived model (`FROM` another plus a `SYSTEM` line) has its own digest but the same
    /// weights file, which `/api/show` names in its Modelfile's `FROM` line (`routes.go:1520-1533`).
    func runner(of model: String, in loaded: [LoadedModel]) async -> LoadedModel? {
        for entry in loaded where await same(entry, model) { return entry }
        return nil
    }

    /// Whether the runner `entry` serves `model`: same name, same digest, or same weights file.
    func same(_ entry: LoadedModel, _ model: String) async -> Bool {
        if Self.sameModel(entry.name, model) { return true }
        if let digest = entry.digest, await self.digest(of: model) == digest { return true }
        guard let weights = await weights(of: model) else { return false }
        return await self.weights(of: entry.name) == weights
    }

    /// The weights digest of `model` from `/api/tags` (cached per client); nil when it cannot be had.
    /// A lookup that found nothing is not repeated for this long (each stage re-reads what is resident).
    static let missRetention = 30.0

    func digest(of model: String) async -> String? {
        if let known = book.digest(of: model) { return known }
        guard !book.missedRecently("digest", model, within: Self.missRetention) else { return nil }
        if let installed = try? await installedModels() {
            for entry in installed { if let digest = entry.digest { book.setDigest(digest, of: entry.name) } }
        }
        if let found = book.digest(of: model) { return found }
        book.missed("digest", model)
        return nil
    }

    /// The weights file of `model` (the `FROM` of the Modelfile `/api/show` reports; cached per client).
    func weights(of model: String) async -> String? {
        if let known = book.weights(of: model) { return known }
        guard manages(model), !book.missedRecently("weights", model, within: Self.missRetention) else { return nil }
        guard let weights = try? await show(model).weights else {
            book.missed("weights", model)
            return nil
        }
        book.setWeights(weights, of: model)
        return weights
    }

    /// The loaded models, each named as Baton last asked for it (by name as Ollama matches names, or by
    /// weights digest for an alias), else as the server lists it.
    public func residentModels() async throws -> [ResidentModel] {
        try await residentModels(naming: [])
    }

    /// The loaded models, each under the spelling of `planned` (or of a name Baton used before) that
    /// denotes it: the same name as Ollama matches names, else the same weights (digest).
    public func residentModels(naming planned: [String]) async throws -> [ResidentModel] {
        for name in planned { book.remember(name) }
        let loaded = try await loadedModels()
        var result: [ResidentModel] = []
        for entry in loaded {
            // The plan's spellings first, then any Baton used; the same name first, then the same weights.
            var name = planned.first { Self.sameModel($0, entry.name) }
            for spelling in planned + book.spellings where name == nil {
                if await same(entry, spelling) { name = spelling }
            }
            let spelling = name ?? book.spelling(of: entry.name) ?? entry.name
            result.append(ResidentModel(name: spelling, bytes: entry.size, contextLength: entry.contextLength))
        }
        return result
    }

    /// The context a load of `model` with `settings` gets: `num_ctx` (``defaultNumCtx`` when unset) clamped
    /// to the model's trained context (`<arch>.context_length` from `/api/show`, cached), as `/api/ps`
    /// `context_length` reports it (`llm/server.go:111-116`). Comparing clamped values matters: a stage
    /// asking 32768 of a model trained for 8192 gets 8192, and must not be reloaded for it.
    public func contextLength(of model: String, settings: StageSettings) async -> Int? {
        guard manages(model) else { return nil }
        if book.trainedContext(of: model) == nil, let trained = try? await show(model).contextLength {
            book.setTrainedContext(trained, of: model)
        }
        return contextWindow(model, numCtx: settings.numCtx)
    }
}
