import BatonSpec
import Foundation

/// What one host of a pool has: the models loaded now (Ollama `GET /api/ps`, llama-server `GET /models`) and the ones
/// it can load (Ollama `GET /api/tags`, llama-server's router list). A host that does not answer is left out of
/// placement for that round, not failed: it may come back.
enum HostProbe {
    /// A client for the server of `kind` at `url`.
    static func client(kind: RuntimeSpec.Kind, url: String, options: [String: String], runtime: String) throws
        -> any LLMRuntime & ModelManaging
    {
        switch kind {
        case .llamaServer:
            return LlamaServerClient(baseURL: url)
        default:
            let loadTimeout = try OllamaClient.loadTimeout(options: options, runtime: runtime) ?? OllamaClient.defaultLoadTimeout
            return OllamaClient(baseURL: url, loadTimeout: loadTimeout)
        }
    }

    /// The models loaded on the host, with their sizes when it says; nil when it did not answer.
    static func resident(_ client: any ModelManaging, naming planned: [String]) async -> [String: Int64?]? {
        guard let listed = try? await client.residentModels(naming: planned) else { return nil }
        var resident: [String: Int64?] = [:]
        for model in listed { resident[model.name] = model.bytes }
        return resident
    }

    /// The models the host can load, nil when unknown (it did not answer, or its kind cannot say).
    static func installed(_ client: any ModelManaging) async -> Set<String>? {
        if let ollama = client as? OllamaClient, let models = try? await ollama.installedModels() {
            // `llama3` is `llama3:latest` to Ollama.
            return Set(
                models.flatMap { model in
                    model.name.hasSuffix(":latest") ? [model.name, String(model.name.dropLast(":latest".count))] : [model.name]
                })
        }
        if let server = client as? LlamaServerClient, let models = try? await server.models() {
            return Set(models.map(\.id))
        }
        return nil
    }
}
