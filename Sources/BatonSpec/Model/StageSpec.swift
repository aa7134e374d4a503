/// One stage of a pipeline file as decoded.
public struct StageSpec: Sendable, Hashable, Codable {
    /// The stage's name (its key under `stages`).
    public var name: String
    /// Free text.
    public var description: String?
    /// The role (`planner`, `critic`, ...), used by profiles to choose models and settings.
    public var role: String?
    /// Model, runtime and sampling settings set on the stage itself.
    public var settings: StageSettings
    /// The system message template.
    public var system: String?
    /// The prompt template (from `prompt`, or the text of `prompt_file`).
    public var prompt: String?
    /// The prompt file, as written, when the prompt comes from a file.
    public var promptFile: String?
    /// Stages that must finish first, as written.
    public var needs: [String]
    /// The stage this critic reviews.
    public var reviews: String?
    /// Attempts the reviewed stage gets (critics only).
    public var maxRounds: Int?
    /// What happens when the rounds run out (critics only).
    public var onExhausted: ExhaustedAction?
    /// The expected output.
    public var output: OutputSpec?
    /// The condition under which the stage runs (`when:`, an expression: docs/expressions.md), as written; nil: always.
    public var when: String? = nil
    /// The branches this stage's JSON answer selects (`route:`).
    public var route: RouteSpec? = nil
    /// The list the stage runs once per item of (`for_each:`, an expression: docs/pipeline-format.md, "Fan-out").
    public var forEach: String? = nil
    /// The item's name in the stage's templates (`as:`); nil: `item`.
    public var itemName: String? = nil
    /// The most items the list may have at run time (`max_items:`, required with `for_each`).
    public var maxItems: Int? = nil
    /// How many items (or samples) may run at once (`concurrency:`); nil: 1.
    public var concurrency: Int? = nil
    /// How many samples the stage draws, each with its own seed (`repeat:`).
    public var repeatCount: Int? = nil
    /// The field of each sample's JSON answer the samples vote on (`vote:`, a dotted path).
    public var vote: String? = nil
    /// The pipeline this stage calls (`uses:`): a name on the search path, or a path ending in .yaml/.yml relative
    /// to this file's folder; nil: an ordinary stage.
    public var uses: String? = nil
    /// The called pipeline's inputs (`with:`): input name → template in this pipeline's scope.
    public var with: [String: String]? = nil
    /// The command of a `run` stage: argument templates; with `shell: true`, the one script `/bin/sh -c` runs.
    public var run: [String]? = nil
    /// Whether `run` is a shell script (`shell: true`, a `shell-tool` warning).
    public var shell: Bool? = nil
    /// A `run` stage's standard input template.
    public var stdin: String? = nil
    /// A `run` stage's working folder template; nil: the run's scratch folder.
    public var cwd: String? = nil
    /// A `run` stage's environment: name → template; nothing else is inherited.
    public var env: [String: String]? = nil
    /// The exit codes a `run` stage accepts; nil: `[0]`.
    public var exitCodes: [Int]? = nil
    /// The most stdout a `run` stage keeps; nil: 1 MB.
    public var maxOutput: ByteCount? = nil
    /// An `http` stage's request.
    public var http: HTTPSpec? = nil
    /// An `mcp` stage's call.
    public var mcp: MCPCallSpec? = nil
    /// What a tool stage's call changes (`effects:`); nil: the MCP tool's annotations, else `external`.
    public var effects: ToolEffects? = nil
    /// Whether the call needs approval (tool stage), or which tools do (model stage with `tools`).
    public var approve: ToolApproval? = nil
    /// A tool definition's arguments, as a JSON schema object (`parameters:`).
    public var parameters: JSONValue? = nil
    /// The tools a model stage may call: tool stages of this pipeline or `SERVER.TOOL`.
    public var tools: [String]? = nil
    /// The most tool calls of a model stage with `tools` (required with it, 1 to 100).
    public var maxToolCalls: Int? = nil
    /// How a model stage with `tools` asks for calls; nil: `json`.
    public var toolMode: ToolMode? = nil
    /// A retrieve stage's query (`retrieve:`).
    public var retrieve: RetrieveSpec? = nil
    /// The retrieve stage whose chunks this stage's JSON answer cites (`cite:`).
    public var cite: String? = nil

    /// The keys as written in files: these plus the keys of ``StageSettings`` (`name` is the mapping key).
    public enum CodingKeys: String, CodingKey, CaseIterable {
        case name, description, role, settings, system, prompt
        case promptFile = "prompt_file"
        case needs, reviews
        case maxRounds = "max_rounds"
        case onExhausted = "on_exhausted"
        case output
        case when, route
        case forEach = "for_each"
        case itemName = "as"
        case maxItems = "max_items"
        case concurrency
        case repeatCount = "repeat"
        case vote
        case uses, with
        case run, shell, stdin, cwd, env
        case exitCodes = "exit_codes"
        case maxOutput = "max_output"
        case http, mcp, effects, approve, parameters, tools
        case maxToolCalls = "max_tool_calls"
        case toolMode = "tool_mode"
        case retrieve, cite
    }

    /// Whether this stage is a critic.
    public var isCritic: Bool { reviews != nil }

    /// Whether this stage calls a sub-pipeline.
    public var isCall: Bool { uses != nil }

    /// The kind of tool stage this is (`run`, `http`, `mcp`); nil: a model stage or a call.
    public var toolKind: ToolKind? {
        if run != nil { return .run }
        if http != nil { return .http }
        if mcp != nil { return .mcp }
        return nil
    }

    /// Whether this stage runs a tool rather than a model.
    public var isTool: Bool { toolKind != nil }

    /// Whether this stage queries an index rather than running a model.
    public var isRetrieve: Bool { retrieve != nil }

    /// Whether the stage runs more than once: once per item (`for_each`) or once per sample (`repeat`).
    public var isFanOut: Bool { forEach != nil || repeatCount != nil }
}
