/// A pipeline file as decoded: what the file says, before references are checked or settings resolved.
public struct PipelineSpec: Sendable, Hashable, Codable {
    /// The format version; only 1 exists.
    public var version: Int
    /// The pipeline's name (the file name when the file gives none).
    public var name: String
    /// One line for `baton list`.
    public var description: String?
    /// The inputs, in file order.
    public var inputs: [InputSpec]
    /// The budget for models resident at once; a profile may set it instead.
    public var memoryBudget: MemoryBudget?
    /// Settings every stage inherits.
    public var defaults: StageSettings
    /// The stages whose output is the result, if the file lists them.
    public var outputs: [String]?
    /// The stages, in file order.
    public var stages: [StageSpec]
    /// The MCP servers this pipeline's stages may call (`mcp_servers:`), in file order; nil when the file has none.
    public var mcpServers: [MCPServerSpec]? = nil
    /// The indexes this pipeline's retrieve stages may query (`indexes:`), in file order; nil when the file has none.
    public var indexes: [IndexSpec]? = nil

    /// The keys as written in files.
    public enum CodingKeys: String, CodingKey, CaseIterable {
        case version, name, description, inputs
        case memoryBudget = "memory_budget"
        case defaults, outputs, stages
        case mcpServers = "mcp_servers"
        case indexes
    }

    /// The stage called `name`.
    public func stage(named name: String) -> StageSpec? { stages.first { $0.name == name } }
}

/// One declared input of a pipeline.
public struct InputSpec: Sendable, Hashable, Codable {
    /// The input's name (its key under `inputs`).
    public var name: String
    /// What the input is for.
    public var description: String?
    /// The value used when the run gives none.
    public var defaultValue: String?
    /// Whether a run must give a value (true unless the input has a default or says `required: false`).
    public var required: Bool

    /// The keys as written in files (`name` is the mapping key, not a key of its own).
    public enum CodingKeys: String, CodingKey, CaseIterable {
        case name, description
        case defaultValue = "default"
        case required
    }

    /// Creates an input.
    public init(name: String, description: String? = nil, defaultValue: String? = nil, required: Bool) {
        self.name = name
        self.description = description
        self.defaultValue = defaultValue
        self.required = required
    }
}

/// What a stage is expected to produce.
public struct OutputSpec: Sendable, Hashable, Codable {
    /// Text or JSON.
    public enum Format: String, Sendable, Hashable, Codable, CaseIterable {
        /// Free text (the default).
        case text
        /// A JSON value, parsed and available to later templates.
        case json
    }

    /// Text or JSON.
    public var format: Format
    /// The JSON schema requested from the runtime, for JSON output.
    public var schema: JSONValue?

    /// Plain text output.
    public static let text = OutputSpec(format: .text, schema: nil)

    /// The keys of the mapping form.
    public enum CodingKeys: String, CodingKey, CaseIterable {
        case format, schema
    }

    /// Creates an output description.
    public init(format: Format, schema: JSONValue?) {
        self.format = format
        self.schema = schema
    }
}

/// What a critic does when the reviewed stage used all its rounds and the verdict is still `revise`.
public enum ExhaustedAction: String, Sendable, Hashable, Codable, CaseIterable {
    /// The run fails.
    case fail
    /// The last attempt is kept and the run goes on.
    case accept
}
