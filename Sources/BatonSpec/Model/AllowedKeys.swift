/// The keys each object of the file formats accepts, derived from the model types' `CodingKeys`.
///
/// The decoders check files against these lists, and a test checks that the JSON Schemas in `schemas/`
/// list exactly the same properties, so the schemas cannot drift from the Swift types.
public enum AllowedKeys {
    /// Top level of a pipeline file.
    public static let pipeline = PipelineSpec.CodingKeys.allCases.map(\.rawValue)
    /// A stage.
    public static let stage =
        StageSpec.CodingKeys.allCases.filter { $0 != .name && $0 != .settings }.map(\.rawValue)
        + StageSettings.CodingKeys.allCases.map(\.rawValue)
    /// A pipeline's `defaults`.
    public static let pipelineDefaults = StageSettings.CodingKeys.allCases.map(\.rawValue)
    /// An input.
    public static let input = InputSpec.CodingKeys.allCases.filter { $0 != .name }.map(\.rawValue)
    /// A stage's `http`.
    public static let http = HTTPSpec.CodingKeys.allCases.map(\.rawValue)
    /// A stage's `mcp`.
    public static let mcp = MCPCallSpec.CodingKeys.allCases.map(\.rawValue)
    /// An MCP server under `mcp_servers` (pipeline or profile).
    public static let mcpServer = MCPServerSpec.CodingKeys.allCases.filter { $0 != .name }.map(\.rawValue)
    /// An index under `indexes` (pipeline or profile); `embed` holds ``embed``.
    public static let index = ["sources", "exclude", "chunk", "embed", "path", "vector"]
    /// An index's `chunk`.
    public static let chunk = ChunkSpec.CodingKeys.allCases.map(\.rawValue)
    /// An index's `embed`.
    public static let embed = ["model", "batch"]
    /// A stage's `retrieve`.
    public static let retrieve = RetrieveSpec.CodingKeys.allCases.map(\.rawValue)
    /// A profile's `tools`.
    public static let toolPolicy = ToolPolicy.CodingKeys.allCases.map(\.rawValue)
    /// A `retry` policy.
    public static let retry = RetryPolicy.CodingKeys.allCases.map(\.rawValue)
    /// The mapping form of a stage's `output`.
    public static let output = OutputSpec.CodingKeys.allCases.map(\.rawValue)
    /// A stage's `route`.
    public static let route = RouteSpec.CodingKeys.allCases.map(\.rawValue)
    /// Top level of a profile file.
    public static let profile = ProfileSpec.CodingKeys.allCases.map(\.rawValue)
    /// A profile runtime.
    public static let runtime = RuntimeSpec.CodingKeys.allCases.filter { $0 != .name }.map(\.rawValue)
    /// A profile registry entry.
    public static let model = ModelEntry.CodingKeys.allCases.filter { $0 != .name }.map(\.rawValue)
    /// The sampling keys of a profile's `defaults` and roles (no model or runtime).
    public static let profileDefaults = StageSettings.CodingKeys.allCases
        .filter { $0 != .model && $0 != .runtime }.map(\.rawValue)
    /// A profile role.
    public static let role = ["models", "capability"] + profileDefaults
    /// A profile's `thermal` policy.
    public static let thermal = ThermalPolicy.CodingKeys.allCases.map(\.rawValue)
}
