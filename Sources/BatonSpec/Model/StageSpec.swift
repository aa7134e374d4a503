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
    }

    /// Whether this stage is a critic.
    public var isCritic: Bool { reviews != nil }

    /// Whether this stage calls a sub-pipeline.
    public var isCall: Bool { uses != nil }

    /// Whether the stage runs more than once: once per item (`for_each`) or once per sample (`repeat`).
    public var isFanOut: Bool { forEach != nil || repeatCount != nil }
}
