/// A compiled pipeline: stages in the order they run, each with its resolved model chain, settings,
/// templates and dependencies. What the executor walks and what `baton plan` and `baton graph` print.
public struct ExecutionPlan: Sendable, Hashable, Codable {
    /// The pipeline's name.
    public var pipeline: String
    /// The pipeline's description.
    public var description: String?
    /// The declared inputs.
    public var inputs: [InputSpec]
    /// The budget in force: the pipeline's, else the profile's.
    public var memoryBudget: MemoryBudget?
    /// The profile the plan was compiled with, if any.
    public var profile: String?
    /// The stages in execution order (a topological order that keeps file order where it can and runs a
    /// critic right after the stage it reviews).
    public var stages: [PlannedStage]
    /// The stages whose output is the pipeline's result.
    public var outputs: [String]
    /// The MCP servers the plan's stages may call: the pipeline's (and its called pipelines') merged with the
    /// compile-time profile's, the pipeline's winning on a name clash, sorted by name. Nil when the plan has no
    /// tool stage and no tool use, so plans without tools stay byte-identical.
    public var mcpServers: [MCPServerSpec]? = nil
    /// The executables `run` stages may start: the compile-time profile's `tools:` (a profile without one allows
    /// nothing). Nil when no profile was known at compile time (the run's profile decides) or the plan has no tool.
    public var toolPolicy: ToolPolicy? = nil
    /// The indexes the plan's retrieve stages query, defaults applied and paths resolved, sorted by name (only those
    /// some stage uses). Nil when the plan has no retrieve stage, so plans without retrieval stay byte-identical.
    public var indexes: [IndexPlan]? = nil

    /// The stage called `name`.
    public func stage(named name: String) -> PlannedStage? { stages.first { $0.name == name } }
}

/// A stage as the executor runs it.
public struct PlannedStage: Sendable, Hashable, Codable {
    /// The stage's name.
    public var name: String
    /// The stage's role, if any.
    public var role: String?
    /// The models to try, in order; the first is the stage's own model, the rest fallbacks.
    public var models: [ResolvedModel]
    /// Sampling and load settings after layering stage, pipeline defaults, profile role and profile defaults.
    public var settings: StageSettings
    /// The system template.
    public var system: String?
    /// The prompt template.
    public var prompt: String
    /// Stages that must finish (and be approved by their critic) first.
    public var dependencies: [String]
    /// For a critic: the loop it drives.
    public var critic: CriticLoop?
    /// For a stage that a critic reviews: that critic's name.
    public var reviewedBy: String?
    /// The expected output.
    public var output: OutputSpec
    /// How the compiler chose `models` (the stage's own, the pipeline's defaults, the role's preference
    /// list, or the best capability score), for `baton plan`. Not encoded: it explains the compile and is
    /// no part of the stage's definition, so fingerprints do not depend on discovery's wording.
    public var modelChoice: ModelChoice? = nil
    /// The stage's `when:` condition, parsed and checked; nil: the stage runs unless a route leaves it out.
    public var condition: Expression? = nil
    /// When a route's branch runs this stage: the routing stage and the branches that run it. The stage is skipped
    /// when the router's answer selects another branch.
    public var routedBy: RouteChoice? = nil
    /// The branches this stage's JSON answer selects.
    public var route: RouteSpec? = nil
    /// For a stage that runs once per item (`for_each`) or per sample (`repeat`): how; nil: the stage runs once.
    public var fanOut: FanOut? = nil
    /// The sub-pipeline calls this stage was inlined through, outermost first; nil outside sub-pipelines.
    public var calls: [CallFrame]? = nil
    /// For a tool stage (`run`, `http`, `mcp`): what it runs; such a stage has no models. Nil for model stages.
    public var tool: ToolStep? = nil
    /// What the tool stage's call changes, as written (`effects:`); nil: decided at run time (MCP annotations, else
    /// `external`).
    public var effects: ToolEffects? = nil
    /// Whether the tool stage's call, or which of a model stage's tools, need approval.
    public var approve: ToolApproval? = nil
    /// For a model stage with `tools:`: the tools it may call and its bound.
    public var toolUse: ToolUse? = nil
    /// A tool definition's arguments schema (`parameters:`).
    public var parameters: JSONValue? = nil
    /// A tool stage's `description:` (what a model reads of a tool definition); nil for model stages, whose
    /// description is a note in the file and no part of the plan.
    public var description: String? = nil
    /// For a retrieve stage: the query it runs; its ``models`` are the index's embedding model. Nil for other stages.
    public var retrieve: RetrieveStep? = nil
    /// The retrieve stage whose chunks this stage's JSON answer cites (`cite:`); its schema gains `citations`.
    public var cite: String? = nil
    /// Whether this tool stage is named in some stage's `tools:`: a tool definition, called by models, never walked
    /// on its own.
    public var isToolDefinition: Bool {
        get { toolDefinition ?? false }
        set { toolDefinition = newValue ? true : nil }
    }
    /// ``isToolDefinition`` as stored: nil for false, so plans without tool definitions encode nothing for it.
    var toolDefinition: Bool? = nil

    /// The keys encoded: every property but ``modelChoice``. Optionals encode nothing when nil (synthesized
    /// `encodeIfPresent`), so plans of pipelines without `uses` or tools stay byte-identical.
    enum CodingKeys: String, CodingKey {
        case name, role, models, settings, system, prompt, dependencies, critic, reviewedBy, output
        case condition, routedBy, route, fanOut, calls
        case tool, effects, approve, toolUse, parameters, description
        case toolDefinition = "isToolDefinition"
        case retrieve, cite
    }

    /// Whether the stage runs a tool (`run`, `http`, `mcp`) rather than a model.
    public var isTool: Bool { tool != nil }

    /// Whether the stage queries an index (`retrieve:`) rather than running a model or a tool.
    public var isRetrieve: Bool { retrieve != nil }

    /// The index a retrieve stage queries, from `plan`'s indexes; nil for other stages.
    public func index(in plan: ExecutionPlan) -> IndexPlan? {
        guard let name = retrieve?.index else { return nil }
        return plan.indexes?.first { $0.name == name }
    }
}

/// A model a stage may run on, with the runtime and footprint the compiler found for it.
public struct ResolvedModel: Sendable, Hashable, Codable, CustomStringConvertible {
    /// The model's name as its runtime knows it.
    public var name: String
    /// The profile runtime that serves it (nil when compiled without a profile).
    public var runtime: String?
    /// Memory when loaded, when the registry knows it.
    public var footprint: ByteCount?

    /// Creates a resolved model.
    public init(name: String, runtime: String?, footprint: ByteCount?) {
        self.name = name
        self.runtime = runtime
        self.footprint = footprint
    }

    public var description: String { runtime.map { "\($0):\(name)" } ?? name }
}

/// A critic loop: the critic, the stage it reviews, and its limits.
public struct CriticLoop: Sendable, Hashable, Codable {
    /// The reviewed stage.
    public var reviews: String
    /// Attempts the reviewed stage gets.
    public var maxRounds: Int
    /// What happens when the rounds run out.
    public var onExhausted: ExhaustedAction

    /// Rounds when the file gives none.
    public static let defaultMaxRounds = 3

    /// Creates a loop description.
    public init(reviews: String, maxRounds: Int, onExhausted: ExhaustedAction) {
        self.reviews = reviews
        self.maxRounds = maxRounds
        self.onExhausted = onExhausted
    }
}
