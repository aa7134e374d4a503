/// What a tool stage may hold and what only a tool stage (or a model stage with `tools:`) may hold
/// (docs/pipeline-format.md, "Tool stages"), checked on the decoded spec before the other checks, as
/// ``CallCheck/removeConflicts(_:sourceMap:calls:diagnostics:)`` is for calls.
///
/// A tool stage runs no model, is no critic and draws no samples, so it cannot set `role`, model and sampling settings,
/// `system`, the critic keys, `repeat`/`vote` or `tools`/`max_tool_calls`/`tool_mode` (`tool-stage-key`); `timeout`,
/// `retry`, `for_each` (one call per item), `when`, `route`, `output` and `description` it keeps. `effects` and
/// `approve: true` belong to tool stages, `approve: [..]`, `max_tool_calls` and `tool_mode` to a model stage with
/// `tools`, `run`'s options to `run` stages, `parameters` to tool definitions (`tool-only-key`). Each refused key is
/// reported at the key and taken out of the spec, so later checks do not report it again in their own terms.
enum ToolStageRules {
    /// Stage keys a tool stage cannot set.
    static let refusedOnTools: [String] = [
        "role", "system", "model", "runtime", "temperature", "top_p", "top_k", "max_tokens", "seed", "stop", "num_ctx", "think",
        "reviews", "max_rounds", "on_exhausted", "repeat", "vote", "tools", "max_tool_calls", "tool_mode", "cite",
    ]
    /// Stage keys a tool definition cannot set, besides ``refusedOnTools``: it runs when a model calls it, once per call.
    static let definitionRefused = ["when", "for_each", "as", "max_items", "concurrency", "route"]
    /// The options of a `run` stage.
    static let runOptions = ["shell", "stdin", "cwd", "env", "exit_codes", "max_output"]

    static func removeConflicts(_ spec: inout PipelineSpec, sourceMap: SourceMap, diagnostics: inout [Diagnostic]) {
        let named = Set(spec.stages.flatMap { $0.tools ?? [] })
        for index in spec.stages.indices {
            let stage = spec.stages[index]
            guard !stage.isCall else { continue }  // a call's keys are CallCheck's
            let path = "stages.\(stage.name)"
            func has(_ key: String) -> Bool { sourceMap.values["\(path).\(key)#key"] != nil }
            func refuse(_ message: Diagnostic.Message, _ key: String) {
                diagnostics.append(Diagnostic(message, at: sourceMap.keyLocation("\(path).\(key)")))
            }
            // A stage of two kinds is `stage-kinds` already; its keys are judged once it is one.
            if let kind = stage.toolKind, !has("prompt"), !has("prompt_file") {
                for key in refusedOnTools where has(key) {
                    refuse(.toolStageKey(key, stage: stage.name, kind: kind), key)
                }
                if case .tools = stage.approve {
                    refuse(
                        .toolOnlyKey(
                            "approve: [..]", stage: stage.name, onlyOn: "a model stage with 'tools' (a tool stage takes 'approve: true')"),
                        "approve")
                }
                if kind != .run {
                    for key in runOptions where has(key) { refuse(.toolOnlyKey(key, stage: stage.name, onlyOn: "a 'run' stage"), key) }
                }
                if named.contains(stage.name) {
                    // A tool definition is never walked: what decides whether and how often a walked stage runs means
                    // nothing on it.
                    for key in definitionRefused where has(key) {
                        refuse(
                            .toolOnlyKey(
                                key, stage: stage.name, onlyOn: "a stage that runs on its own ('\(stage.name)' is a tool a model calls)"),
                            key)
                    }
                }
                if has("parameters"), !named.contains(stage.name) {
                    refuse(
                        .toolOnlyKey(
                            "parameters", stage: stage.name, onlyOn: "a tool definition (a tool stage some model stage names in 'tools:')"),
                        "parameters")
                }
                var kept = stage
                kept.role = nil
                kept.system = nil
                kept.settings = StageSettings(timeout: stage.settings.timeout, retry: stage.settings.retry)
                kept.reviews = nil
                kept.maxRounds = nil
                kept.onExhausted = nil
                kept.repeatCount = nil
                kept.vote = nil
                kept.tools = nil
                kept.maxToolCalls = nil
                kept.toolMode = nil
                kept.cite = nil
                spec.stages[index] = kept
                continue
            }
            // A model stage (a tool key whose value did not decode is reported as such, not again here).
            guard !["run", "http", "mcp"].contains(where: has) else { continue }
            if has("effects") {
                refuse(.toolOnlyKey("effects", stage: stage.name, onlyOn: "a tool stage ('run', 'http' or 'mcp')"), "effects")
            }
            switch stage.approve {
            case .all?:
                refuse(
                    .toolOnlyKey(
                        "approve", stage: stage.name,
                        onlyOn: "a tool stage as 'approve: true' (a model stage with 'tools' lists the tools: 'approve: [TOOL, ..]')"),
                    "approve")
            case .tools? where stage.tools == nil:
                refuse(.toolOnlyKey("approve", stage: stage.name, onlyOn: "a model stage with 'tools'"), "approve")
            default:
                break
            }
            for key in runOptions where has(key) {
                refuse(.toolOnlyKey(key, stage: stage.name, onlyOn: "a 'run' stage"), key)
            }
            if has("parameters") {
                refuse(
                    .toolOnlyKey(
                        "parameters", stage: stage.name, onlyOn: "a tool definition (a tool stage some model stage names in 'tools:')"),
                    "parameters")
            }
            if stage.tools == nil {
                for key in ["max_tool_calls", "tool_mode"] where has(key) {
                    refuse(.toolOnlyKey(key, stage: stage.name, onlyOn: "a model stage with 'tools'"), key)
                }
            }
        }
    }
}
