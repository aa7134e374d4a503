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
}
