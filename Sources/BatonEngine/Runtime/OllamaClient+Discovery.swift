import BatonSpec
import Foundation

/// What an Ollama server has: its version, its installed models (`/api/tags`) and each one's metadata
/// (`/api/show`), for `baton doctor`, `baton models` and role mapping.
extension OllamaClient {
    /// The server's version (`GET /api/version`), such as `0.33.0`.
    public func version() async throws -> String {
        struct Reply: Decodable { var version: String? }
        let reply: Reply = try await getJSON("/api/version", doing: "asking the version")
        guard let version = reply.version else {
            throw RuntimeError(.badResponse, "Ollama at \(baseURL) answered /api/version without a version", isTransient: false)
        }
        return version
    }

    /// A model installed on the server (`GET /api/tags`).
    public struct InstalledModel: Sendable, Hashable {
        /// The model's name, `name:tag`.
        public var name: String
        /// Bytes on disk (not memory use).
        public var sizeOnDisk: Int64?
        /// The model family, such as `llama`.
        public var family: String?
        /// The parameter count as a label, such as `8.0B`.
        public var parameterSize: String?
        /// The quantization, such as `Q4_K_M`.
        public var quantization: String?
        /// The weights' manifest digest; names for the same weights share it (and one runner).
        public var digest: String? = nil
        /// Set for a cloud model (`remote_host`, `api/types.go:822-832`): served by ollama.com, not loaded here.
        public var remoteHost: String? = nil
    }

    private struct Details: Decodable {
        var family: String?
        var parameterSize: String?
        var quantizationLevel: String?
    }

    /// The installed models (`GET /api/tags`).
    public func installedModels() async throws -> [InstalledModel] {
        struct Reply: Decodable {
            struct Entry: Decodable {
                var name: String?
                var model: String?
                var size: Int64?
                var details: Details?
                var digest: String?
                var remoteHost: String?
            }
            var models: [Entry]?
        }
        let reply: Reply = try await getJSON("/api/tags", doing: "listing the installed models")
        return (reply.models ?? []).compactMap { entry in
            guard let name = entry.name ?? entry.model else { return nil }
            return InstalledModel(
                name: name, sizeOnDisk: entry.size, family: entry.details?.family, parameterSize: entry.details?.parameterSize,
                quantization: entry.details?.quantizationLevel, digest: entry.digest, remoteHost: entry.remoteHost)
        }
    }

    /// What `POST /api/show` says about a model; architecture-specific numbers are nil when absent.
    public struct ModelInfo: Sendable, Hashable {
        /// The model's name as asked.
        public var name: String
        /// The model family, such as `llama`.
        public var family: String?
        /// The parameter count as a label, such as `8.0B`.
        public var parameterSize: String?
        /// The quantization, such as `Q4_K_M`.
        public var quantization: String?
        /// `general.architecture`, the prefix of the architecture-specific keys.
        public var architecture: String?
        /// The context length the model was trained for (`<arch>.context_length`).
        public var contextLength: Int?
        /// Parameters (`general.parameter_count`).
        public var parameterCount: Int64?
        /// Transformer layers (`<arch>.block_count`).
        public var blockCount: Int?
        /// Key-value heads (`<arch>.attention.head_count_kv`; the largest, when it varies by layer).
        public var headCountKV: Int?
        /// Embedding width (`<arch>.embedding_length`).
        public var embeddingLength: Int?
        /// What the model can do (`completion`, `tools`, `vision`, `thinking`, ...).
        public var capabilities: [String]
        /// Attention heads (`<arch>.attention.head_count`), for the KV-cache head size.
        public var headCount: Int? = nil
        /// Key and value widths per head (`<arch>.attention.key_length`, `value_length`), when given.
        public var keyLength: Int? = nil
        public var valueLength: Int? = nil
        /// The weights file its Modelfile starts `FROM` (shared by every name for the same weights).
        public var weights: String? = nil
        /// Whether per-layer arrays came as `[]` (asked without `verbose`).
        var perLayerArraysElided = false
    }

    /// Metadata of an installed model (`POST /api/show`). Without `verbose` Ollama sends every array longer
    /// than 5 as `[]` (`routes.go:1600-1621`), per-layer head counts included, so when those arrive empty
    /// the model is asked again with `"verbose": true` (which also sends the large tokenizer arrays).
    public func show(_ model: String) async throws -> ModelInfo {
        let info = try await show(model, verbose: false)
        guard info.perLayerArraysElided else { return info }
        return try await show(model, verbose: true)
    }

    /// The reply of `/api/show`. No key strategy: it would rewrite model_info's own keys (`llama.context_length`) too.
    private struct ShowReply: Decodable {
        var details: ShowDetails?
        var modelInfo: JSONValue?
        var capabilities: [String]?
        var modelfile: String?
        enum CodingKeys: String, CodingKey {
            case details, capabilities, modelfile
            case modelInfo = "model_info"
        }
    }

    /// The `details` object of `/api/show`.
    private struct ShowDetails: Decodable {
        var family: String?
        var parameterSize: String?
        var quantizationLevel: String?
        enum CodingKeys: String, CodingKey {
            case family
            case parameterSize = "parameter_size"
            case quantizationLevel = "quantization_level"
        }
    }

    private func show(_ model: String, verbose: Bool) async throws -> ModelInfo {
        let response = try await send(
            .json(baseURL + "/api/show", verbose ? ["model": model, "verbose": true] : ["model": model]), timeout: connectTimeout,
            model: model,
            doing: "describing")
        let data = try await response.collect()
        guard response.status == 200 else { throw failure(status: response.status, body: data, model: model, doing: "describing") }
        guard let reply = try? JSONDecoder().decode(ShowReply.self, from: data) else {
            throw RuntimeError(
                .badResponse, "Ollama at \(baseURL) answered /api/show for model '\(model)' with something that is not its JSON",
                isTransient: false)
        }
        let info = reply.modelInfo
        let architecture = info?["general.architecture"]?.stringValue
        func number(_ key: String) -> Double? {
            switch info?[key] {
            case .number(let value): value
            case .array(let values):
                values.compactMap { value -> Double? in
                    guard case .number(let number) = value else { return nil }
                    return number
                }.max()
            default: nil
            }
        }
        func archInt(_ suffix: String) -> Int? {
            architecture.flatMap { number("\($0).\(suffix)") }.map { Int($0) }
        }
        let elided = ["attention.head_count_kv", "attention.head_count"].contains { suffix in
            architecture.map { info?["\($0).\(suffix)"] == .array([]) } ?? false
        }
        if let context = archInt("context_length") { book.setTrainedContext(context, of: model) }
        var result = ModelInfo(
            name: model, family: reply.details?.family, parameterSize: reply.details?.parameterSize,
            quantization: reply.details?.quantizationLevel, architecture: architecture, contextLength: archInt("context_length"),
            parameterCount: number("general.parameter_count").map { Int64($0) }, blockCount: archInt("block_count"),
            headCountKV: archInt("attention.head_count_kv"), embeddingLength: archInt("embedding_length"),
            capabilities: reply.capabilities ?? [], headCount: archInt("attention.head_count"),
            keyLength: archInt("attention.key_length"), valueLength: archInt("attention.value_length"))
        result.perLayerArraysElided = elided
        // The first uncommented `FROM` line names the weights file (`server/images.go:586-592`).
        result.weights = reply.modelfile?.split(separator: "\n").lazy.map { $0.trimmingCharacters(in: .whitespaces) }
            .first { $0.uppercased().hasPrefix("FROM ") }.map { String($0.dropFirst(5)).trimmingCharacters(in: .whitespaces) }
        return result
    }
}
