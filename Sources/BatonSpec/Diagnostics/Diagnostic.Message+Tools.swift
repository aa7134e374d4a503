// The wording of the tool-stage diagnostics (`run`, `http`, `mcp`, `tools:`), apart from the long catalog. Written as
// `Diagnostic.Message(` so DiagnosticsDocTests finds the codes here too.

extension Diagnostic.Message {
    /// A stage with two of `prompt`/`prompt_file`, `run`, `http`, `mcp`.
    static func stageKinds(_ stage: String, first: String, second: String) -> Self {
        Diagnostic.Message(
            "stage-kinds",
            "stage '\(stage)' has both '\(first)' and '\(second)'; a stage is one kind: a model stage ('prompt' or "
                + "'prompt_file'), a command ('run'), an HTTP request ('http') or an MCP call ('mcp'): split it into two stages")
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

    /// A `tools:` entry naming a stage that is not a tool stage.
    static func toolNotATool(_ entry: String, stage: String) -> Self {
        Diagnostic.Message(
            "tool-unknown",
            "stage '\(entry)' in 'tools' of stage '\(stage)' is not a tool stage; a model can call only 'run', 'http' and 'mcp' "
                + "stages, or SERVER.TOOL")
    }
}
