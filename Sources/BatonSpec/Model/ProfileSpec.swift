/// A profile file as decoded: the runtimes, memory budget, model registry and role defaults of a machine or task.
public struct ProfileSpec: Sendable, Hashable, Codable {
    /// The format version; only 1 exists.
    public var version: Int
    /// The profile's name (the file name when the file gives none).
    public var name: String
    /// What the profile is for.
    public var description: String?
    /// The profile this one builds on.
    public var extends: String?
    /// The budget for models resident at once.
    public var memoryBudget: MemoryBudget?
    /// The runtime for models that neither the registry nor the stage places.
    public var defaultRuntime: String?
    /// The runtimes, in file order.
    public var runtimes: [RuntimeSpec]
    /// The model registry, in file order.
    public var models: [ModelEntry]
    /// Per-role model preferences and settings, in file order.
    public var roles: [RoleSpec]
    /// Sampling settings for every stage.
    public var defaults: StageSettings
    /// Pauses between stages while the machine is hot; nil when the profile sets none.
    public var thermal: ThermalPolicy?
    /// The executables `run` stages may start (`tools: {allow: [...]}`); nil: none may.
    public var tools: ToolPolicy? = nil
    /// MCP servers every pipeline run with this profile may call (`mcp_servers:`).
    public var mcpServers: [MCPServerSpec]? = nil
    /// Indexes every pipeline run with this profile may query (`indexes:`); a pipeline's own win on a name clash.
    public var indexes: [IndexSpec]? = nil
    /// Whether the executor may load the next stage's model while the current one generates, within the budget
    /// (`preload:`); nil: yes where the runtime can load and generate at once.
    public var preload: Bool? = nil
    /// What a run does with the models it loaded when it ends (`after_run:`); nil: ``AfterRunPolicy/restore``.
    public var afterRun: AfterRunPolicy? = nil

    /// The keys as written in files.
    public enum CodingKeys: String, CodingKey, CaseIterable {
        case version, name, description, extends
        case memoryBudget = "memory_budget"
        case defaultRuntime = "default_runtime"
        case runtimes, models, roles, defaults
        case thermal, tools
        case mcpServers = "mcp_servers"
        case indexes
        case preload
        case afterRun = "after_run"
    }

    /// The runtime called `name`.
    public func runtime(named name: String) -> RuntimeSpec? { runtimes.first { $0.name == name } }
    /// The registry entry for `name`.
    public func model(named name: String) -> ModelEntry? { models.first { $0.name == name } }
    /// The role called `name`.
    public func role(named name: String) -> RoleSpec? { roles.first { $0.name == name } }
}

/// What a run does with the models it loaded once it completes, fails or is interrupted (`after_run:`).
public enum AfterRunPolicy: String, Sendable, Hashable, Codable, CaseIterable {
    /// Leave every model resident (the runtime's own rules apply from then on).
    case keep
    /// Leave the runtimes as the run found them: unload the models the run loaded, load again the ones it unloaded.
    case restore
    /// Unload every model the run loaded; load nothing again.
    case unload
}

/// A runtime a profile declares: where a kind of model server listens.
public struct RuntimeSpec: Sendable, Hashable, Codable {
    /// The kinds of runtime Baton speaks to.
    public enum Kind: String, Sendable, Hashable, Codable, CaseIterable {
        /// Ollama's native API.
        case ollama
        /// llama.cpp's llama-server (single model or router mode).
        case llamaServer = "llama-server"
        /// An OpenAI-compatible Chat Completions endpoint.
        case openai
        /// The Anthropic Messages API.
        case anthropic
        /// The built-in deterministic runtime, for dry runs and benchmarks.
        case echo
    }

    /// The runtime's name (its key under `runtimes`).
    public var name: String
    /// Which API it speaks.
    public var kind: Kind
    /// The base URL (not needed for `echo`).
    public var url: String?
    /// The environment variable holding the API key, for cloud kinds.
    public var apiKeyEnv: String?
    /// Options of the kind (for `echo`: `call_delay`, `token_delay`, `script`, `call_log`).
    public var options: [String: String]
    /// How many requests the server answers at once with one resident model (llama-server `--parallel`,
    /// `OLLAMA_NUM_PARALLEL`); nil: one. A fan-out stage's `concurrency` above 1 needs at least that many here.
    public var parallel: Int? = nil
    /// The machines of a pool (`hosts:`), each with its own memory budget; nil: the runtime is the one `url`.
    public var hosts: [RuntimeHostSpec]? = nil

    /// Whether the runtime is a pool of hosts, placed by budget and residency.
    public var isPool: Bool { !(hosts ?? []).isEmpty }

    /// The keys as written in files (`name` is the mapping key).
    public enum CodingKeys: String, CodingKey, CaseIterable {
        case name, kind, url
        case apiKeyEnv = "api_key_env"
        case options
        case parallel
        case hosts
    }
}

/// A model in a profile's registry.
public struct ModelEntry: Sendable, Hashable, Codable {
    /// The model's name as the runtime knows it (its key under `models`).
    public var name: String
    /// The runtime that serves it.
    public var runtime: String?
    /// Memory when loaded with the context below.
    public var footprint: ByteCount?
    /// The context length the footprint assumes.
    public var contextLength: Int?
    /// Capability scores from 0 to 10 (`reasoning`, `coding`, `creativity`, ...).
    public var capabilities: [String: Double]
    /// The model's GGUF file, from which a footprint is estimated when none is given.
    public var file: String?

    /// The keys as written in files (`name` is the mapping key).
    public enum CodingKeys: String, CodingKey, CaseIterable {
        case name, runtime, footprint
        case contextLength = "context_length"
        case capabilities, file
    }
}

/// A profile's defaults for one role: preferred models and sampling settings.
public struct RoleSpec: Sendable, Hashable, Codable {
    /// The role's name (its key under `roles`).
    public var name: String
    /// Models in order of preference.
    public var models: [ModelReference]?
    /// The capability score that ranks models for this role when no preference fits (`reasoning`, ...);
    /// nil takes ``RoleSpec/defaultCapability(of:)``.
    public var capability: String?
    /// Sampling settings for stages of this role.
    public var settings: StageSettings

    /// The keys as written in files: these plus the sampling keys of ``StageSettings``.
    public enum CodingKeys: String, CodingKey, CaseIterable {
        case name, models, capability, settings
    }

    /// Creates a role.
    public init(name: String, models: [ModelReference]?, capability: String? = nil, settings: StageSettings) {
        self.name = name
        self.models = models
        self.capability = capability
        self.settings = settings
    }

    /// The capability a role ranks by when its profile declares none: planner, critic and researcher
    /// `reasoning`, executor `coding`, writer `creativity`; nil for other roles.
    public static func defaultCapability(of role: String) -> String? {
        switch role {
        case "planner", "critic", "researcher": "reasoning"
        case "executor": "coding"
        case "writer": "creativity"
        default: nil
        }
    }

    /// The capability this role ranks by: its own, else the default for its name.
    public var effectiveCapability: String? { capability ?? Self.defaultCapability(of: name) }

}
