import Foundation

/// What model discovery found for one profile: the models each local runtime reports (or why it could not
/// be asked), what the GGUF files of registry entries say, footprints runtimes measured at earlier loads,
/// and what `memory_budget: auto` gives on this machine.
///
/// BatonEngine's `ModelDiscovery` fills it in; the compiler only reads it, so compiling stays free of I/O.
/// An empty inventory knows nothing: every runtime's models are unknown and only registry footprints count.
public struct ModelInventory: Sendable, Hashable, Codable {
    /// The models of each runtime that was asked, by the profile's runtime name. Runtimes not listed were
    /// not asked (cloud, echo, or discovery was off).
    public var runtimes: [String: RuntimeModels]
    /// Facts from the GGUF file of registry entries with a `file:`, by registry name.
    public var files: [String: DiscoveredModel]
    /// Footprints runtimes measured when they last loaded a model (the run database), by ``key(runtime:name:)``.
    public var measured: [String: ByteCount]
    /// What `memory_budget: auto` gives on this machine, used to pick models for roles when the budget is
    /// `auto` or not set; nil leaves such budgets unchecked, as offline validation does.
    public var autoBudget: ByteCount?

    /// Creates an inventory; the defaults know nothing.
    public init(
        runtimes: [String: RuntimeModels] = [:], files: [String: DiscoveredModel] = [:], measured: [String: ByteCount] = [:],
        autoBudget: ByteCount? = nil
    ) {
        self.runtimes = runtimes
        self.files = files
        self.measured = measured
        self.autoBudget = autoBudget
    }

    /// The key of ``measured``: `runtime:name`.
    public static func key(runtime: String, name: String) -> String { "\(runtime):\(name)" }

    /// Whether two names denote the same model on a runtime of `kind`: on Ollama, as Ollama resolves names
    /// (``ollamaName(_:)``: `Llama3.2`, `library/llama3.2` and `llama3.2:latest` are one model).
    public static func sameModel(_ a: String, _ b: String, kind: RuntimeSpec.Kind?) -> Bool {
        guard kind == .ollama else { return a == b }
        return ollamaName(a) == ollamaName(b)
    }

    /// An Ollama model name as Ollama resolves it: `host/namespace/model:tag` (`types/model/name.go`,
    /// `ParseNameBare` at :146-176, Ollama v0.33.0-rc2) with the default host `registry.ollama.ai` and namespace
    /// `library` dropped as `DisplayShortest` does (:230-251), the implicit `:latest` written out, and
    /// lower-cased, because Ollama looks installed names up case-insensitively (`getExistingName`,
    /// `server/routes.go:1222-1245`). `Qwen2.5:7B`, `library/qwen2.5:7b` and
    /// `registry.ollama.ai/library/qwen2.5:7b` all give `qwen2.5:7b`.
    public static func ollamaName(_ name: String) -> String {
        var rest = Substring(name.trimmingCharacters(in: .whitespaces))
        if let at = rest.lastIndex(of: "@") { rest = rest[..<at] }  // a `@digest` pins the same model
        var tag = "latest"
        if let colon = rest.lastIndex(of: ":"), colon > (rest.lastIndex(of: "/") ?? rest.startIndex) || rest.lastIndex(of: "/") == nil {
            tag = String(rest[rest.index(after: colon)...])
            rest = rest[..<colon]
        }
        var parts = rest.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        let model = parts.popLast() ?? ""
        let namespace = parts.popLast() ?? "library"
        var host = parts.isEmpty ? "registry.ollama.ai" : parts.joined(separator: "/")
        if let scheme = host.range(of: "://") { host = String(host[scheme.upperBound...]) }
        let shortest: String
        switch (host.lowercased(), namespace.lowercased()) {
        case ("registry.ollama.ai", "library"): shortest = "\(model):\(tag)"
        case ("registry.ollama.ai", _): shortest = "\(namespace)/\(model):\(tag)"
        default: shortest = "\(host)/\(namespace)/\(model):\(tag)"
        }
        return shortest.lowercased()
    }

    /// The model `name` as discovered on `runtime`, if that runtime reported it.
    public func discovered(_ name: String, on runtime: String, kind: RuntimeSpec.Kind?) -> DiscoveredModel? {
        guard case .known(let models) = runtimes[runtime] else { return nil }
        return models.first { Self.sameModel($0.name, name, kind: kind) }
    }

    /// Whether `name` can be used on `runtime` (a profile runtime, nil when the model has none).
    public func availability(of name: String, on runtime: RuntimeSpec?) -> ModelAvailability {
        guard let runtime else { return .unknown("it has no runtime") }
        switch runtime.kind {
        case .openai, .anthropic: return .remote
        case .echo: return .builtIn
        case .ollama, .llamaServer:
            switch runtimes[runtime.name] {
            case .known(let models):
                if let model = models.first(where: { Self.sameModel($0.name, name, kind: runtime.kind) }) { return .installed(model) }
                return .missing
            case .unknown(let reason): return .unknown(reason)
            case nil: return .unknown("\(runtime.name) was not asked")
            }
        }
    }

    /// The best footprint known for `name` on `runtime`, in this order: measured at an earlier load, the
    /// registry, the runtime's report for a model loaded now, the estimate from the registry entry's GGUF
    /// file, the estimate discovery made from what the runtime says about the model.
    public func footprint(of name: String, runtime: String?, kind: RuntimeSpec.Kind?, entry: ModelEntry?) -> FootprintEstimate? {
        if let runtime, let bytes = measured[Self.key(runtime: runtime, name: name)] {
            return FootprintEstimate(bytes: bytes, source: .measured)
        }
        if let footprint = entry?.footprint { return FootprintEstimate(bytes: footprint, source: .registry) }
        let found = runtime.flatMap { discovered(name, on: $0, kind: kind) }
        if let estimate = found?.footprint, estimate.source == .runtime { return estimate }
        if entry != nil, let estimate = files[name]?.footprint { return estimate }
        return found?.footprint
    }
}

/// The models one runtime reported, or why they are unknown.
public enum RuntimeModels: Sendable, Hashable, Codable {
    /// The runtime answered: these are installed (Ollama) or in its models folder (llama-server router).
    case known([DiscoveredModel])
    /// The runtime could not be asked (unreachable, timed out, an error); the reason says which.
    case unknown(String)
}

/// Whether a model can be used, as far as discovery knows.
public enum ModelAvailability: Sendable, Hashable {
    /// The runtime reported it.
    case installed(DiscoveredModel)
    /// The runtime answered and does not have it.
    case missing
    /// Not known: the runtime was not asked or not reached (the reason says which). Counts as available.
    case unknown(String)
    /// A cloud runtime; counts as available.
    case remote
    /// The built-in echo runtime; always available.
    case builtIn

    /// Whether the model may be chosen: everything but ``missing``.
    public var isAvailable: Bool {
        if case .missing = self { return false }
        return true
    }

    /// `yes`, `no` or `unknown`, for listings.
    public var installedText: String {
        switch self {
        case .installed, .builtIn: "yes"
        case .missing: "no"
        case .unknown: "unknown"
        case .remote: "remote"
        }
    }
}

/// A model as a runtime or its GGUF file describes it.
public struct DiscoveredModel: Sendable, Hashable, Codable {
    /// The model's name on its runtime (Ollama `name:tag`, llama-server model id, or the registry name for a file).
    public var name: String
    /// The profile runtime that reported it (or the registry entry's runtime, for a file).
    public var runtime: String?
    /// The model family or architecture (`llama`, `gemma3`).
    public var family: String?
    /// Parameters, when known exactly (`general.parameter_count`, llama-server's `n_params`, or counted from
    /// the GGUF file's tensors).
    public var parameterCount: Int64?
    /// The parameter count as a label (`8.0B`, `270M`).
    public var parameterSize: String?
    /// The quantization (`Q4_K_M`).
    public var quantization: String?
    /// The context length the model was trained for, in tokens.
    public var contextLength: Int?
    /// Bytes of the weight file (Ollama's size on disk, or the GGUF file's size).
    public var fileSize: Int64?
    /// The GGUF file, when known (llama-server's `--model` argument, or the registry's `file:`).
    public var path: String?
    /// The estimated memory when loaded, and where the estimate comes from.
    public var footprint: FootprintEstimate?

    /// Creates a description; everything but the name is optional.
    public init(
        name: String, runtime: String?, family: String? = nil, parameterCount: Int64? = nil, parameterSize: String? = nil,
        quantization: String? = nil, contextLength: Int? = nil, fileSize: Int64? = nil, path: String? = nil,
        footprint: FootprintEstimate? = nil
    ) {
        self.name = name
        self.runtime = runtime
        self.family = family
        self.parameterCount = parameterCount
        self.parameterSize = parameterSize
        self.quantization = quantization
        self.contextLength = contextLength
        self.fileSize = fileSize
        self.path = path
        self.footprint = footprint
    }
}

/// A model's memory footprint and where the number comes from.
public struct FootprintEstimate: Sendable, Hashable, Codable, CustomStringConvertible {
    /// Where a footprint comes from, most trusted first.
    public enum Source: String, Sendable, Hashable, Codable, CaseIterable {
        /// Measured by a runtime at an earlier load (the run database).
        case measured
        /// The profile's registry.
        case registry
        /// Reported by the runtime for the model loaded now (Ollama `/api/ps` `size`).
        case runtime
        /// Estimated from the model's GGUF header: weights, an f16 KV cache, buffers.
        case gguf
        /// Estimated from what the runtime says about the model (Ollama: size on disk and `/api/show`'s layers).
        case metadata

        /// How listings name it.
        public var label: String {
            switch self {
            case .measured: "measured"
            case .registry: "registry"
            case .runtime: "runtime report"
            case .gguf: "GGUF estimate"
            case .metadata: "metadata estimate"
            }
        }
    }

    /// The footprint.
    public var bytes: ByteCount
    /// Where it comes from.
    public var source: Source
    /// The context size an estimate assumes, in tokens.
    public var contextSize: Int?

    /// Creates an estimate.
    public init(bytes: ByteCount, source: Source, contextSize: Int? = nil) {
        self.bytes = bytes
        self.source = source
        self.contextSize = contextSize
    }

    /// `5.7 GB (registry)`, `419 MB (GGUF estimate at 2048 tokens)`.
    public var description: String {
        "\(bytes) (\(source.label)\(contextSize.map { " at \($0) tokens" } ?? ""))"
    }
}
