// The wording of the retrieval diagnostics (`indexes:`, `retrieve:`, `cite:`), apart from the long catalog. Written as
// `Diagnostic.Message(` so DiagnosticsDocTests finds the codes here too.

extension Diagnostic.Message {
    /// A glob of `sources` or `exclude` whose syntax the engine does not read.
    static func indexGlobInvalid(_ glob: String, in subject: String, problem: String) -> Self {
        Diagnostic.Message(
            "index-glob-invalid",
            "'\(glob)' in \(subject) is not a glob the engine reads: \(problem); globs use '*' (any characters but '/'), "
                + "'?' (one), '[abc]', '[a-z]', '[!a]' and '**' as a whole segment (any folders)")
    }

    /// A retrieve stage naming an index that no `indexes:` (pipeline or profile) declares.
    static func indexUnknown(_ index: String, stage: String, indexes: [String], suggestion: String?) -> Self {
        Diagnostic.Message(
            "index-unknown",
            "stage '\(stage)' queries index '\(index)', which is not declared"
                + (suggestion.map { "; did you mean '\($0)'?" }
                    ?? (indexes.isEmpty
                        ? "; declare it under 'indexes' in the pipeline or the profile, with its 'sources' and 'embed'"
                        : "; the declared indexes are \(indexes.map { "'\($0)'" }.joined(separator: ", "))"))
        )
    }

    /// An index of the pipeline that no retrieve stage queries.
    static func indexUnused(_ index: String) -> Self {
        Diagnostic.Message(
            "index-unused", .warning,
            "index '\(index)' is declared but no stage queries it; add a stage with 'retrieve: {index: \(index), query: ...}' "
                + "or remove it (`baton index \(index)` still builds it)")
    }

    /// A called pipeline's index with the name of another index of the plan, declared differently.
    static func indexConflict(_ index: String, pipeline: String) -> Self {
        Diagnostic.Message(
            "index-conflict",
            "called pipeline '\(pipeline)' declares index '\(index)' differently from an index of that name this pipeline "
                + "(or another call, or the profile) declares; one run has one index of a name: rename one of them")
    }

    /// A key a retrieve stage cannot set.
    static func retrieveStageKey(_ key: String, stage: String) -> Self {
        let why: String
        switch key {
        case "output": why = "its output is the chunks it found (read stages.\(stage).chunks or stages.\(stage).output)"
        case "retry": why = "the embedding requests are retried by the engine on their own"
        case "cite": why = "it finds chunks; a model stage that answers from them cites them"
        case "model", "runtime": why = "its model is its index's 'embed.model'"
        default: why = "it runs no chat model"
        }
        return Diagnostic.Message(
            "retrieve-stage-key",
            "stage '\(stage)' is a retrieve stage, which cannot set '\(key)': \(why); a retrieve stage takes 'retrieve', "
                + "'needs', 'when', 'timeout', 'for_each' (with 'as', 'max_items', 'concurrency') and 'description'")
    }

    /// A critic reviewing a retrieve stage.
    static func criticReviewsRetrieve(_ critic: String, stage: String) -> Self {
        Diagnostic.Message(
            "critic-reviews-retrieve",
            "critic '\(critic)' reviews stage '\(stage)', a retrieve stage; a critic reviews a model's answer, and a retrieve "
                + "stage's chunks come from its index: review the stage that answers from them")
    }

    /// `stages.X.chunks` of a stage that is not a retrieve stage.
    static func retrieveFieldUnavailable(_ name: String, stage: String, kind: String) -> Self {
        Diagnostic.Message(
            "retrieve-field-unavailable",
            "'\(name)' reads 'chunks', which is a retrieve stage's field, but stage '\(stage)' is \(kind); read stages.\(stage).output")
    }

    /// `cite:` naming something other than a retrieve stage (or set where it means nothing).
    static func citeInvalid(_ stage: String, cite: String, problem: String) -> Self {
        Diagnostic.Message("cite-invalid", "'cite: \(cite)' of stage '\(stage)' \(problem)")
    }

    /// `cite: X` where X does not run before the citing stage.
    static func citeNotUpstream(_ stage: String, cite: String) -> Self {
        Diagnostic.Message(
            "cite-not-upstream",
            "stage '\(stage)' cites '\(cite)', which it does not wait for; read its chunks in the prompt "
                + "({{#stages.\(cite).chunks}}[{{n}}] {{text}}{{/stages.\(cite).chunks}}) or add '\(cite)' to 'needs'")
    }

    /// `cite:` on a stage whose answer is not a JSON object.
    static func citeNotJSON(_ stage: String, problem: String) -> Self {
        Diagnostic.Message(
            "cite-not-json",
            "stage '\(stage)' has 'cite' but \(problem); its citations are a field of its JSON answer: set "
                + "'output: {format: json}' (a default schema {answer, citations} is used) or an object schema")
    }
}

extension Diagnostic.Message {
    /// An index's embedding model that no runtime places.
    static func indexNoRuntime(_ model: String, index: String) -> Self {
        Diagnostic.Message(
            "unknown-runtime",
            "model '\(model)' of index '\(index)' has no runtime; the profile's registry does not place it and no "
                + "'default_runtime' is set: give it a runtime in the registry or write RUNTIME:\(model)")
    }
}
