// The wording of the sub-pipeline (`uses:`) diagnostics, apart from the long catalog. Written as
// `Diagnostic.Message(` so DiagnosticsDocTests finds the codes here too.

extension Diagnostic.Message {
    /// A key a `uses:` stage cannot have: the called pipeline's own stages carry prompts and settings.
    static func usesConflict(_ key: String, stage: String, pipeline: String) -> Self {
        Diagnostic.Message(
            "uses-conflict",
            "stage '\(stage)' calls pipeline '\(pipeline)' ('uses'), so it cannot set '\(key)'; the called pipeline's own "
                + "stages carry their prompts and settings: remove '\(key)' here (a 'uses' stage takes 'with', 'needs', "
                + "'when' and 'description')")
    }

    /// A critic reviewing a `uses:` stage.
    static func criticOfCall(_ critic: String, stage: String, pipeline: String) -> Self {
        Diagnostic.Message(
            "uses-conflict",
            "critic '\(critic)' reviews stage '\(stage)', which calls pipeline '\(pipeline)' ('uses'); a critic reviews one "
                + "model call: put the critic inside '\(pipeline)', or review a stage that reads stages.\(stage).output")
    }

    /// `uses:` names no pipeline on the search path, or a path with no file.
    static func usesNotFound(_ reference: String, isPath: Bool, suggestion: String?) -> Self {
        let text =
            isPath
            ? "pipeline file '\(reference)' ('uses') was not found; the path is relative to this pipeline file's folder"
            : "pipeline '\(reference)' ('uses') was not found on the pipeline search path"
                + (suggestion.map { "; did you mean '\($0)'?" }
                    ?? "; name a pipeline 'baton list' shows, or give a path ending in .yaml or .yml")
        return Diagnostic.Message("uses-not-found", text)
    }

    /// The called file is there but cannot be read.
    static func usesUnread(_ reference: String, _ error: SourceReadError) -> Self {
        let reason: String
        switch error {
        case .notFound: return usesNotFound(reference, isPath: true, suggestion: nil)
        case .tooLarge(let bytes, let limit): reason = "is \(bytes) bytes, over the \(limit) bytes Baton reads from one file"
        case .unreadable(let why): reason = "could not be read\(why.map { " (\($0))" } ?? "")"
        case .notUTF8: reason = "is not UTF-8 text"
        }
        return Diagnostic.Message("unreadable-file", "the pipeline '\(reference)' ('uses') \(reason); fix the file or call another")
    }

    /// A pipeline that calls itself, directly or through others.
    static func usesCycle(_ chain: [String]) -> Self {
        Diagnostic.Message(
            "uses-cycle",
            "pipelines call each other in a cycle: \(chain.joined(separator: " → ")); a pipeline cannot call itself, "
                + "directly or through others: remove one of these 'uses'")
    }

    /// The called pipeline has errors of its own.
    static func usesInvalid(_ pipeline: String, errors: Int, file: String) -> Self {
        Diagnostic.Message(
            "uses-invalid",
            "pipeline '\(pipeline)' has \(errors) \(errors == 1 ? "error" : "errors"), reported in \(file); fix "
                + (errors == 1 ? "it" : "them") + " to call it")
    }

    /// Sub-pipelines nested deeper than ``PipelineCompiler/maxCallDepth``.
    static func usesTooDeep(_ pipeline: String, depth: Int, limit: Int) -> Self {
        Diagnostic.Message(
            "uses-too-deep",
            "calling pipeline '\(pipeline)' nests sub-pipelines \(depth) deep, more than the \(limit) levels Baton allows; "
                + "call fewer levels of pipelines (move a nested call's stages up)")
    }

    /// The inlined plan over the stage limit.
    static func usesStageLimit(_ pipeline: String, stages: Int, limit: Int) -> Self {
        Diagnostic.Message(
            "uses-stage-limit",
            "with pipeline '\(pipeline)' called here, the plan has \(stages) stages with its sub-pipelines inlined, more "
                + "than the \(limit) Baton plans at once; call fewer or smaller pipelines")
    }

    /// A `with` entry the called pipeline does not declare.
    static func withUnknownInput(_ name: String, pipeline: String, inputs: [String], suggestion: String?) -> Self {
        let fix =
            suggestion.map { "; did you mean '\($0)'?" }
            ?? (inputs.isEmpty
                ? "; it declares no inputs, so remove 'with'"
                : "; its inputs are \(quotedList(inputs, conjunction: "and"))")
        return Diagnostic.Message("with-unknown-input", "pipeline '\(pipeline)' has no input '\(name)'" + fix)
    }

    /// A required input of the called pipeline that `with` leaves out.
    static func withMissingInput(_ name: String, pipeline: String, stage: String) -> Self {
        Diagnostic.Message(
            "with-missing-input",
            "stage '\(stage)' gives no value for input '\(name)' of pipeline '\(pipeline)', which is required and has no "
                + "default; add '\(name): ...' under 'with'")
    }

    /// The called pipeline's own `memory_budget`, which the caller's budget overrides.
    static func usesBudgetIgnored(_ pipeline: String, caller: String) -> Self {
        Diagnostic.Message(
            "uses-budget-ignored", .warning,
            "the 'memory_budget' of pipeline '\(pipeline)' is ignored when '\(caller)' calls it ('uses'): the calling "
                + "pipeline's budget (or its profile's) rules the whole run; set the budget there")
    }

    /// `with` on a stage without `uses`.
    static func withWithoutUses(_ stage: String) -> Self {
        .missingKey(
            "uses", in: "stage '\(stage)'",
            hint: "'with' gives the inputs of a called pipeline: add 'uses: PIPELINE', or remove 'with'")
    }

    /// `stages.X.outputs.NAME` naming no output stage of the call X.
    static func unknownCallOutput(_ name: String, stage: String, pipeline: String, outputs: [String], suggestion: String?) -> Self {
        Diagnostic.Message(
            "unknown-variable",
            "template uses '\(name)', but pipeline '\(pipeline)' (called by stage '\(stage)') has no output stage by that name"
                + (suggestion.map { "; did you mean 'stages.\(stage).outputs.\($0)'?" }
                    ?? "; its outputs are \(quotedList(outputs, conjunction: "and"))"))
    }
}
