// The wording of the tool-stage diagnostics (`run`, `http`, `mcp`, `tools:`), apart from the long catalog. Written as
// `Diagnostic.Message(` so DiagnosticsDocTests finds the codes here too.

extension Diagnostic.Message {
    /// A stage with two of `prompt`/`prompt_file`, `run`, `http`, `mcp`, `retrieve`.
    static func stageKinds(_ stage: String, first: String, second: String) -> Self {
        Diagnostic.Message(
            "stage-kinds",
            "stage '\(stage)' has both '\(first)' and '\(second)'; a stage is one kind: a model stage ('prompt' or "
                + "'prompt_file'), a command ('run'), an HTTP request ('http'), an MCP call ('mcp') or an index query ('retrieve'): "
                + "split it into two stages")
    }

    /// `run:` written as one string without `shell: true`.
    static func runNotList(_ text: String, in context: String) -> Self {
        let words = text.split(separator: " ").map { "'\($0)'" }.joined(separator: ", ")
        return Diagnostic.Message(
            "run-not-list",
            "'run' in \(context) is one string; write the command as a list of arguments, e.g. run: [\(words)], so no "
                + "shell splits or expands it (or add 'shell: true' to run it with /bin/sh -c)")
    }

    /// `shell: true`: the script goes through /bin/sh, which expands whatever a template puts in it.
    static func shellTool(in context: String) -> Self {
        Diagnostic.Message(
            "shell-tool", .warning,
            "\(context) runs its command through /bin/sh ('shell: true'); text a template puts in it is expanded by the "
                + "shell: prefer 'run' as a list of arguments, or pass values through 'stdin' or 'env'")
    }

    /// `{{args.NAME}}` in a stage that no model stage names in its `tools:`.
    static func argsOutsideToolDefinition(_ name: String, stage: String) -> Self {
        Diagnostic.Message(
            "args-outside-tool",
            "'\(name)' is a tool argument, but stage '\(stage)' is not a tool a model calls; 'args' is given only to a tool "
                + "stage named in some model stage's 'tools:' (with its 'parameters'): list '\(stage)' there, or read inputs or stages")
    }

    /// An `http` URL whose literal host is neither loopback nor in `allow_hosts`.
    static func httpHostNotAllowed(_ host: String, stage: String) -> Self {
        Diagnostic.Message(
            "http-host-not-allowed",
            "stage '\(stage)' sends a request to '\(host)', which is not allowed; an http stage reaches only loopback "
                + "(localhost, 127.0.0.0/8, ::1) unless 'allow_hosts' lists the host: add 'allow_hosts: [\(host)]' to its 'http'")
    }

    /// An MCP server no `mcp_servers` (pipeline or profile) declares.
    static func mcpServerUnknown(_ server: String, servers: [String], suggestion: String?) -> Self {
        Diagnostic.Message(
            "mcp-server-unknown",
            "MCP server '\(server)' is not declared"
                + (suggestion.map { "; did you mean '\($0)'?" }
                    ?? (servers.isEmpty
                        ? "; declare it under 'mcp_servers' in the pipeline or the profile, with its 'command'"
                        : "; the declared servers are \(servers.map { "'\($0)'" }.joined(separator: ", "))"))
        )
    }

    /// A tool the server's `allow_tools` does not list.
    static func mcpToolNotAllowed(_ tool: String, server: String, allowed: [String]) -> Self {
        Diagnostic.Message(
            "mcp-tool-not-allowed",
            "tool '\(tool)' of MCP server '\(server)' is not in its 'allow_tools' (\(allowed.map { "'\($0)'" }.joined(separator: ", "))); "
                + "add it there to allow it")
    }

    /// A `tools:` entry that names no stage and no SERVER.TOOL.
    static func toolUnknown(_ entry: String, stage: String, suggestion: String?) -> Self {
        Diagnostic.Message(
            "tool-unknown",
            "'\(entry)' in 'tools' of stage '\(stage)' is neither a tool stage of this pipeline nor SERVER.TOOL"
                + (suggestion.map { "; did you mean '\($0)'?" }
                    ?? "; name a 'run', 'http' or 'mcp' stage, or a tool of a declared MCP server"))
    }

    /// An `approve:` entry of a model stage that is not one of its `tools`.
    static func approveNotATool(_ entry: String, stage: String, tools: [String], suggestion: String?) -> Self {
        Diagnostic.Message(
            "tool-unknown",
            "'\(entry)' in 'approve' of stage '\(stage)' is not one of its 'tools'"
                + (suggestion.map { "; did you mean '\($0)'?" } ?? "; its tools are \(tools.map { "'\($0)'" }.joined(separator: ", "))"))
    }

    /// A `tools:` entry naming a stage that is not a tool stage.
    static func toolNotATool(_ entry: String, stage: String) -> Self {
        Diagnostic.Message(
            "tool-unknown",
            "stage '\(entry)' in 'tools' of stage '\(stage)' is not a tool stage; a model can call only 'run', 'http' and 'mcp' "
                + "stages, or SERVER.TOOL")
    }
}

// MARK: - Issue 12, session 7: what tool stages may hold, tool definitions, the executables a profile allows

extension Diagnostic.Message {
    /// A `run` stage's executable the compile-time profile's `tools.allow` does not list (a profile without `tools:`, the
    /// built-in default among them, allows none).
    static func toolNotAllowed(_ executable: String, stage: String, profile: String, hasPolicy: Bool, shell: Bool) -> Self {
        let what = shell ? "runs its script with '/bin/sh' ('shell: true')" : "runs '\(executable)'"
        let fix =
            hasPolicy
            ? "profile '\(profile)' does not allow it: add \(executable) to tools.allow in profile \(profile) "
                + "('tools: {allow: [\(executable)]}')"
            : "profile '\(profile)' has no 'tools:', so it allows no executable (nor does the built-in default profile): add "
                + "'tools: {allow: [\(executable)]}' to profile \(profile), or run with a profile that has it (--profile)"
        return Diagnostic.Message("tool-not-allowed", "stage '\(stage)' \(what); \(fix)")
    }

    /// A key a tool stage cannot have: it runs no model, has no critic loop and draws no samples.
    static func toolStageKey(_ key: String, stage: String, kind: ToolKind) -> Self {
        let why: String
        switch key {
        case "role", "model", "runtime", "system", "temperature", "top_p", "top_k", "max_tokens", "seed", "stop", "num_ctx", "think":
            why = "it runs no model"
        case "reviews", "max_rounds", "on_exhausted":
            why = "a critic is a model stage that judges another stage's output"
        case "repeat", "vote":
            why = "it has no samples to draw (use 'for_each' to run it once per item)"
        default:
            why = "only a model stage calls tools"
        }
        return Diagnostic.Message(
            "tool-stage-key",
            "stage '\(stage)' is \(kind.article) '\(kind.rawValue)' stage, so it cannot set '\(key)': \(why); remove '\(key)'")
    }

    /// A key that means something only on another kind of stage (`effects`, `approve`, `run`'s options, `parameters`,
    /// `max_tool_calls`, `tool_mode`).
    static func toolOnlyKey(_ key: String, stage: String, onlyOn: String) -> Self {
        Diagnostic.Message(
            "tool-only-key", "stage '\(stage)' sets '\(key)', which applies only to \(onlyOn); remove '\(key)' here")
    }

    /// A critic whose `reviews:` names a tool stage.
    static func criticReviewsTool(_ critic: String, stage: String, kind: ToolKind) -> Self {
        Diagnostic.Message(
            "critic-reviews-tool",
            "critic '\(critic)' reviews stage '\(stage)', \(kind.article) '\(kind.rawValue)' stage; a tool's output is not revised by "
                + "feedback (running it again gives the same answer): review the stage that reads stages.\(stage).output instead")
    }

    /// A tool definition whose templates read `args.*` without `parameters`.
    static func toolParametersMissing(_ name: String, stage: String) -> Self {
        Diagnostic.Message(
            "tool-parameters-missing",
            "tool '\(stage)' reads '\(name)', but has no 'parameters'; a model fills a tool's arguments from its schema: add "
                + "'parameters: {type: object, properties: {\(name.split(separator: ".").dropFirst().first ?? "NAME"): {type: string}}}'")
    }

    /// `parameters` that is not a JSON schema of an object.
    static func toolParametersInvalid(_ stage: String, problem: String) -> Self {
        Diagnostic.Message(
            "tool-parameters-invalid",
            "'parameters' of tool '\(stage)' \(problem); it is the JSON schema of the tool's arguments: "
                + "{type: object, properties: {NAME: {type: string}}, required: [NAME]}")
    }

    /// `args.NAME` where NAME is not a property of the tool's `parameters`.
    static func toolArgumentUnknown(_ name: String, argument: String, stage: String, properties: [String], suggestion: String?) -> Self {
        Diagnostic.Message(
            "tool-argument-unknown",
            "tool '\(stage)' reads '\(name)', but its 'parameters' have no property '\(argument)'"
                + (suggestion.map { "; did you mean 'args.\($0)'?" }
                    ?? (properties.isEmpty
                        ? "; add it under 'parameters.properties'"
                        : "; its properties are \(properties.map { "'\($0)'" }.joined(separator: ", ")), or add '\(argument)' there"))
        )
    }

    /// A stage reading (or needing) a tool definition, which runs only when a model calls it.
    static func toolDefinitionRead(_ definition: String, by stage: String, users: [String]) -> Self {
        Diagnostic.Message(
            "tool-definition-read",
            "stage '\(stage)' reads stage '\(definition)', a tool that \(users.map { "'\($0)'" }.joined(separator: ", ")) "
                + "calls ('tools:'); a tool runs only when a model calls it, so it has no output of its own to read: read the "
                + "output of the model stage that calls it, or make a separate '\(definition)' stage to run it once")
    }

    /// `stages.X.FIELD` where FIELD is a tool stage's field of another kind.
    static func toolFieldUnavailable(_ name: String, field: String, stage: String, kind: String) -> Self {
        let owner = field == "status" || field == "headers" ? "an 'http' stage's" : "a 'run' stage's"
        return Diagnostic.Message(
            "tool-field-unavailable",
            "'\(name)' reads '\(field)', which is \(owner) field, but stage '\(stage)' is \(kind); read stages.\(stage).output")
    }
}

extension ToolKind {
    /// The article before the kind's name in a message: "a 'run' stage", "an 'http' stage".
    var article: String { self == .run ? "a" : "an" }
}
