// The wording of every diagnostic, in one place. Messages name the entity, quote the value, start in
// lower case, end without a period, and put the fix after a semicolon.

extension Diagnostic.Message {
    // MARK: - YAML and structure

    static func yamlSyntax(_ problem: String) -> Self {
        .init("yaml-syntax", "invalid YAML: \(problem)")
    }

    static func duplicateKey(_ key: String) -> Self {
        .init("duplicate-key", "duplicate key '\(key)'; each key may appear once in a mapping")
    }

    static func emptyFile(_ kind: String) -> Self {
        .init("empty-file", "the \(kind) file is empty; it needs at least 'version: 1'")
    }

    static func unknownKey(_ key: String, in context: String, suggestion: String?) -> Self {
        .init("unknown-key", "unknown key '\(key)' in \(context)" + didYouMean(suggestion))
    }

    static func typeMismatch(expected: String, for subject: String, found: String) -> Self {
        .init("type-mismatch", "expected \(expected) for \(subject), found \(found)")
    }

    static func missingKey(_ key: String, in context: String, hint: String? = nil) -> Self {
        .init("missing-key", "\(context) has no '\(key)'" + (hint.map { "; \($0)" } ?? ""))
    }

    static func unsupportedVersion(_ found: String) -> Self {
        .init("unsupported-version", "unsupported version \(found); this baton reads version 1")
    }

    static func invalidName(_ name: String, kind: String, rule: String) -> Self {
        .init("invalid-name", "'\(name)' is not a valid \(kind) name; \(rule)")
    }

    static func invalidSize(_ value: String, for subject: String) -> Self {
        .init(
            "invalid-size",
            "'\(value)' is not a size for \(subject); write bytes, or a number with B, KB, MB, GB, TB, KiB, MiB, GiB or TiB"
        )
    }

    static func invalidDuration(_ value: String, for subject: String) -> Self {
        .init(
            "invalid-duration",
            "'\(value)' is not a duration for \(subject); write seconds, or a number with ms, s, m or h"
        )
    }

    static func outOfRange(_ value: String, for subject: String, range: String) -> Self {
        .init("out-of-range", "\(value) is out of range for \(subject); use \(range)")
    }

    static func invalidValue(_ value: String, for subject: String, allowed: [String]) -> Self {
        .init("invalid-value", "'\(value)' is not valid for \(subject); use \(quotedList(allowed, conjunction: "or"))")
    }

    static func conflictingKeys(_ first: String, _ second: String, in context: String) -> Self {
        .init("conflicting-keys", "\(context) sets both '\(first)' and '\(second)'; keep one")
    }

    static func requiredWithDefault(_ input: String) -> Self {
        .init("conflicting-keys", "input '\(input)' is required but has a default; remove 'required: true' or the default")
    }

    static var noStages: Self {
        .init("no-stages", "the pipeline has no stages; add at least one under 'stages'")
    }

    static func fileNotFound(_ path: String, for subject: String) -> Self {
        .init("file-not-found", "\(subject) '\(path)' was not found; the path is relative to the pipeline file")
    }

    static func duplicateEntry(_ value: String, in subject: String) -> Self {
        .init("duplicate-entry", .warning, "'\(value)' appears more than once in \(subject)")
    }

    static func emptyValue(_ subject: String) -> Self {
        .init("empty-value", "\(subject) is empty; give it a value or remove the key")
    }

    // MARK: - Templates and references

    static func templateSyntax(_ problem: String) -> Self {
        .init("template-syntax", "invalid template: \(problem)")
    }

    static func unsupportedTemplateTag(_ tag: String, _ what: String) -> Self {
        .init("template-syntax", "invalid template: \(what) ('\(tag)') are not supported in prompts")
    }

    static func undeclaredInput(_ name: String, suggestion: String?) -> Self {
        .init(
            "undeclared-input", "template uses undeclared input '\(name)'" + didYouMean(suggestion, orElse: "; declare it under 'inputs'"))
    }

    static func unknownStage(_ name: String, usedBy subject: String, suggestion: String?) -> Self {
        .init("unknown-stage", "\(subject) unknown stage '\(name)'" + didYouMean(suggestion))
    }

    static func selfReference(_ stage: String, how: String) -> Self {
        .init("self-reference", "stage '\(stage)' \(how) itself")
    }

    static func notUpstream(stage: String, uses other: String, path: [String]) -> Self {
        .init(
            "not-upstream",
            "stage '\(stage)' uses the output of stage '\(other)', which runs after it (\(path.joined(separator: " -> "))); "
                + "a stage can only use the output of stages upstream of it"
        )
    }

    static func usesOwnCritic(stage: String, critic: String) -> Self {
        .init(
            "not-upstream",
            "stage '\(stage)' uses the output of its critic '\(critic)', which runs after it; "
                + "use {{feedback}} for the critic's feedback on the previous round"
        )
    }

    static func cycle(_ path: [String]) -> Self {
        .init("cycle", "stages form a cycle: \(path.joined(separator: " -> ")); remove one of these dependencies")
    }

    static func unknownVariable(_ name: String, suggestion: String?) -> Self {
        .init(
            "unknown-variable",
            "template uses unknown name '\(name)'"
                + didYouMean(suggestion, orElse: "; use inputs.NAME, stages.NAME.output, feedback, round or history")
        )
    }

    static func badStageField(_ name: String, stage: String, suggestion: String?) -> Self {
        .init(
            "unknown-variable",
            "template uses '\(name)', which stage '\(stage)' does not provide"
                + didYouMean(
                    suggestion,
                    orElse: "; use stages.\(stage).output, stages.\(stage).json.FIELD, "
                        + "or for a critic stages.\(stage).verdict and stages.\(stage).feedback")
        )
    }

    static func inputHasNoFields(_ name: String) -> Self {
        .init("unknown-variable", "template uses '\(name)', but inputs are text and have no fields")
    }

    static func feedbackWithoutCritic(_ name: String, stage: String) -> Self {
        .init("feedback-without-critic", "stage '\(stage)' uses '\(name)', but no critic reviews it; add a stage with 'reviews: \(stage)'")
    }

    static func verdictOfNonCritic(_ name: String, stage: String) -> Self {
        .init("not-a-critic", "template uses '\(name)', but stage '\(stage)' is not a critic; only critics have a verdict and feedback")
    }

    static func notJSONOutput(_ name: String, stage: String) -> Self {
        .init("not-json-output", "template uses '\(name)', but stage '\(stage)' has text output; set 'output: json' on '\(stage)'")
    }

    static func unknownOutputField(_ field: String, stage: String, suggestion: String?) -> Self {
        .init("unknown-output-field", "the output schema of stage '\(stage)' has no field '\(field)'" + didYouMean(suggestion))
    }

    // MARK: - Critic loops

    static func criticReviewsItself(_ stage: String) -> Self {
        .init("critic-reviews-itself", "stage '\(stage)' reviews itself; a critic reviews another stage")
    }

    static func criticReviewsCritic(_ stage: String, other: String) -> Self {
        .init(
            "critic-reviews-critic",
            "critic '\(stage)' reviews '\(other)', which is a critic itself; review the stage '\(other)' reviews instead")
    }

    static func duplicateCritic(_ reviewed: String, first: String, second: String) -> Self {
        .init(
            "duplicate-critic", "stage '\(reviewed)' is reviewed by two critics, '\(first)' and '\(second)'; a stage has at most one critic"
        )
    }

    static func criticSettingWithoutReviews(_ key: String, stage: String) -> Self {
        .init("critic-setting", "stage '\(stage)' sets '\(key)' but is not a critic; add 'reviews: STAGE' or remove '\(key)'")
    }

    static func criticOutput(_ stage: String) -> Self {
        .init("critic-setting", "critic '\(stage)' cannot set 'output'; a critic's output is its verdict and feedback")
    }

    // MARK: - Conditions and routes

    static func conditionOnCritic(_ stage: String, reviews: String) -> Self {
        .init(
            "condition-on-critic",
            "critic '\(stage)' has a 'when' condition; a critic runs when the stage it reviews does, so put the condition on '\(reviews)'")
    }

    static func branchWithoutRoute(_ name: String, stage: String) -> Self {
        .init("unknown-variable", "template uses '\(name)', but stage '\(stage)' has no route; only a stage with 'route' has a branch")
    }

    static func routeNotJSON(_ stage: String, field: String) -> Self {
        .init(
            "route-not-json",
            "stage '\(stage)' has a route, but its output is text; "
                + "set 'output: json' on '\(stage)', with a schema that has the field '\(field)'")
    }

    static func routeFieldPath(_ on: String, stage: String) -> Self {
        .init(
            "route-field",
            "'\(on)' is not a field path for 'on' in the route of stage '\(stage)'; "
                + "join field names with dots, as in category or triage.team")
    }

    static func unknownRouteField(_ field: String, in parent: String, stage: String, fields: [String], suggestion: String?) -> Self {
        let prefix = parent.isEmpty ? "" : parent + "."
        let listed = quotedList(fields.map { prefix + $0 }, conjunction: "and")
        let fallback = fields.isEmpty ? "; the schema lists no fields there" : "; the fields there are \(listed)"
        return .init(
            "route-field",
            "the route of stage '\(stage)' is on '\(prefix + field)', which the output schema of '\(stage)' does not have"
                + didYouMean(suggestion.map { prefix + $0 }, orElse: fallback))
    }

    static func routeFieldNotObject(_ parent: String, type: String, stage: String) -> Self {
        .init(
            "route-field",
            "the route of stage '\(stage)' reads a field of '\(parent)', which is \(type) in the output schema of '\(stage)' "
                + "and has no fields; route on '\(parent)' itself or on a field of an object")
    }

    static func routeCaseNamedDefault(_ stage: String) -> Self {
        .init(
            "route-case",
            "the route of stage '\(stage)' has a case named 'default', the name of the default branch; "
                + "list those stages under the route's 'default' key")
    }

    static func unknownRouteCase(_ value: String, field: String, stage: String, allowed: [String], suggestion: String?) -> Self {
        .init(
            "route-case",
            "case '\(value)' of the route of stage '\(stage)' is never a value of '\(field)', "
                + "which is \(quotedList(allowed, conjunction: "or"))"
                + didYouMean(suggestion, orElse: "; use one of those values or add it to the schema's enum"))
    }

    static func routeUnhandledValues(_ missing: [String], field: String, stage: String) -> Self {
        .init(
            "route-unhandled",
            "the route of stage '\(stage)' has no case for \(quotedList(missing, conjunction: "or")) of '\(field)' and no 'default'; "
                + "add a case for \(missing.count == 1 ? "it" : "each") or a 'default' branch")
    }

    static func routeNeedsDefault(_ field: String, type: String, stage: String) -> Self {
        let what = type == "any" ? "has no enum of strings in the output schema" : "is \(type), not an enum of strings"
        return .init(
            "route-unhandled",
            "the route of stage '\(stage)' has no 'default', and '\(field)' \(what), so a value may match no case; "
                + "add 'default: STAGE' (or 'default: []' to run nothing) or give the field an 'enum'")
    }

    static func routeToItself(_ stage: String) -> Self {
        .init("route-stage", "the route of stage '\(stage)' runs '\(stage)' itself; a branch runs stages after the router")
    }

    static func routeToCritic(_ critic: String, router: String, reviews: String) -> Self {
        .init(
            "route-stage",
            "the route of stage '\(router)' runs critic '\(critic)'; "
                + "a critic runs when the stage it reviews does, so route to '\(reviews)' instead")
    }

    static func stageInTwoRoutes(_ stage: String, first: String, second: String) -> Self {
        .init(
            "route-conflict",
            "stage '\(stage)' is in the routes of both '\(first)' and '\(second)'; a stage is in one route at most, "
                + "so leave it out of one and give it a condition such as 'when: stages.\(second).branch == ...'")
    }

    // MARK: - Fan-out and voting

    static func fanOutNotList(_ text: String, type: String, stage: String) -> Self {
        .init(
            "fan-out-list",
            "'for_each' of stage '\(stage)' is \(type), not a list: '\(text)'; "
                + "give an expression that is a list, such as a JSON array field (stages.X.json.items) or an input holding one")
    }

    static func fanOutInputNotWhole(_ text: String, input: String, stage: String) -> Self {
        .init(
            "fan-out-list",
            "'for_each' of stage '\(stage)' reads input '\(input)' inside '\(text)'; an input holds JSON text, which the run "
                + "parses as a list only when it is the whole expression: write 'for_each: inputs.\(input)'")
    }

    static func fanOutKeyWithout(_ key: String, stage: String, needs: String) -> Self {
        .init("fan-out-setting", "stage '\(stage)' sets '\(key)' without \(needs); add \(needs) or remove '\(key)'")
    }

    static func routeOnFanOut(_ stage: String, repeated: Bool) -> Self {
        .init(
            "fan-out-setting",
            repeated
                ? "stage '\(stage)' has a route but draws samples without a 'vote', so it has no single answer to route on; "
                    + "add 'vote: FIELD' (the route then reads the voted answer) or route from a stage that reads the samples"
                : "stage '\(stage)' has a route but runs once per item, so it has no single answer to route on; "
                    + "route from a stage that reads stages.\(stage).items")
    }

    static func maxItemsWithRepeat(_ stage: String) -> Self {
        .init(
            "fan-out-setting",
            "stage '\(stage)' sets 'max_items' with 'repeat'; the number of samples is 'repeat', so remove 'max_items'")
    }

    static func fanOutItemName(_ name: String, stage: String, reserved: Bool) -> Self {
        let why =
            reserved
            ? "'\(name)' is a name templates already use"
            : "use letters, digits and '_', starting with a letter or '_'"
        return .init(
            "fan-out-name", "'\(name)' cannot name the item of stage '\(stage)' ('as'); \(why); choose another name, such as 'section'")
    }

    static func fanOutOnCritic(_ critic: String, key: String, reviews: String) -> Self {
        .init(
            "fan-out-critic",
            "critic '\(critic)' sets '\(key)'; a critic runs per item when the stage it reviews fans out, "
                + "so put '\(key)' on '\(reviews)'")
    }

    static func voteNotJSON(_ stage: String, field: String) -> Self {
        .init(
            "vote-not-json",
            "stage '\(stage)' votes on '\(field)', but its output is text; "
                + "set 'output: json' on '\(stage)', with a schema that has the field '\(field)'")
    }

    static func voteFieldPath(_ vote: String, stage: String) -> Self {
        .init(
            "vote-field",
            "'\(vote)' is not a field path for 'vote' of stage '\(stage)'; join field names with dots, as in label or triage.label")
    }

    static func unknownVoteField(_ field: String, in parent: String, stage: String, fields: [String], suggestion: String?) -> Self {
        let prefix = parent.isEmpty ? "" : parent + "."
        let listed = quotedList(fields.map { prefix + $0 }, conjunction: "and")
        let fallback = fields.isEmpty ? "; the schema lists no fields there" : "; the fields there are \(listed)"
        return .init(
            "vote-field",
            "stage '\(stage)' votes on '\(prefix + field)', which its output schema does not have"
                + didYouMean(suggestion.map { prefix + $0 }, orElse: fallback))
    }

    static func voteFieldNotObject(_ parent: String, type: String, stage: String) -> Self {
        .init(
            "vote-field",
            "stage '\(stage)' votes on a field of '\(parent)', which is \(type) in its output schema and has no fields; "
                + "vote on '\(parent)' itself or on a field of an object")
    }

    static func concurrencyUnsafe(_ stage: String, concurrency: Int, model: String, why: String, fix: String) -> Self {
        .init(
            "fan-out-concurrency",
            "stage '\(stage)' sets 'concurrency: \(concurrency)', but its model '\(model)' \(why), "
                + "so running items at once could break the memory budget; \(fix)")
    }

    static func itemOutsideFanOut(_ name: String, item: String, stage: String) -> Self {
        .init(
            "unknown-variable",
            "template uses '\(name)', but '\(item)' is the item of fan-out stage '\(stage)'; only the templates of '\(stage)' "
                + "and of its critic see it; read the items elsewhere with {{#stages.\(stage).items}}...{{/stages.\(stage).items}}")
    }

    static func itemIndexOutsideFanOut(_ name: String) -> Self {
        .init(
            "unknown-variable",
            "template uses '\(name)', but this stage does not fan out; only the templates of a stage with 'for_each' or 'repeat' "
                + "(and of its critic) have item_index")
    }

    static func unknownItemField(_ name: String, field: String, item: String, type: String, fields: [String], suggestion: String?)
        -> Self
    {
        let fallback =
            fields.isEmpty
            ? "; the items are \(type) and have no such field"
            : "; its fields are \(quotedList(fields.map { "\(item).\($0)" }, conjunction: "and"))"
        return .init(
            "unknown-field",
            "template uses '\(name)', but the items of the list have no field '\(field)'"
                + didYouMean(suggestion.map { "\(item).\($0)" }, orElse: fallback))
    }

    static func fanOutFieldUnavailable(_ name: String, stage: String, reason: String) -> Self {
        .init("unknown-variable", "template uses '\(name)', but \(reason)")
    }

    // MARK: - Models, runtimes, budget

    static func missingModel(_ stage: String, role: String?) -> Self {
        let roleHint =
            role.map { ", or use a profile whose role '\($0)' names models" }
            ?? ", or give the stage a role that the profile maps to models"
        return .init("missing-model", "stage '\(stage)' has no model; set 'model' on the stage or in 'defaults'" + roleHint)
    }

    static func unknownRuntime(_ runtime: String, usedBy subject: String, suggestion: String?) -> Self {
        .init(
            "unknown-runtime",
            "\(subject) runtime '\(runtime)', which the profile does not declare"
                + didYouMean(suggestion, orElse: "; declare it under 'runtimes' in the profile")
        )
    }

    static func noRuntime(_ model: String, stage: String) -> Self {
        .init(
            "unknown-runtime",
            "model '\(model)' of stage '\(stage)' has no runtime; the profile's registry does not place it and no 'runtime' or 'default_runtime' is set"
        )
    }

    static func modelExceedsBudget(_ model: String, footprint: ByteCount, budget: ByteCount) -> Self {
        .init(
            "model-exceeds-budget",
            "model '\(model)' needs \(footprint), more than the memory budget of \(budget); choose a smaller model or raise 'memory_budget'"
        )
    }

    static func unknownModel(_ model: String, usedBy subject: String, suggestion: String?) -> Self {
        .init(
            "unknown-model",
            "\(subject) model '\(model)', which the profile's registry does not list"
                + didYouMean(suggestion, orElse: "; add it under 'models' or qualify it with a runtime (RUNTIME:MODEL)")
        )
    }

    static func missingURL(_ runtime: String, kind: String) -> Self {
        .init("missing-key", "runtime '\(runtime)' of kind '\(kind)' has no 'url'; add the runtime's base URL")
    }

    static func unknownProfile(_ name: String, suggestion: String?) -> Self {
        .init(
            "unknown-profile",
            "profile '\(name)' was not found" + didYouMean(suggestion, orElse: "; look in the profiles folder for its name"))
    }

    static func extendsCycle(_ path: [String]) -> Self {
        .init("extends-cycle", "profiles extend each other in a cycle: \(path.joined(separator: " -> "))")
    }

    // MARK: - Warnings

    static func runtimeLimit(_ text: String) -> Self {
        .init("runtime-limit", .warning, text)
    }

    static func unscoredCapability(_ capability: String, role: String, suggestion: String?) -> Self {
        .init(
            "unscored-capability",
            .warning,
            "role '\(role)' maps by capability '\(capability)', which no model in the registry is scored on"
                + didYouMean(suggestion, orElse: "; add it to some models' 'capabilities' or use one they have")
        )
    }

    static func unusedInput(_ name: String) -> Self {
        .init("unused-input", .warning, "input '\(name)' is never used; use it in a template or remove it")
    }

    static func unusedOutput(_ stage: String) -> Self {
        .init(
            "unused-output",
            .warning,
            "the output of stage '\(stage)' is never used; use it in a later template or list the stage in 'outputs'"
        )
    }

    // MARK: - Helpers

    private static func didYouMean(_ suggestion: String?, orElse fallback: String = "") -> String {
        suggestion.map { "; did you mean '\($0)'?" } ?? fallback
    }
}

/// `'a', 'b' or 'c'`.
func quotedList(_ values: [String], conjunction: String) -> String {
    let quoted = values.map { "'\($0)'" }
    guard quoted.count > 1 else { return quoted.first ?? "" }
    return quoted.dropLast().joined(separator: ", ") + " \(conjunction) " + quoted.last!
}

extension Diagnostic.Message {
    /// A file that could not be read at all.
    public static func unreadableFile(_ reason: String) -> Self {
        .init("unreadable-file", reason)
    }

    /// A `prompt_file` that could not be read: missing, or there but too large, not readable or not UTF-8.
    static func promptFileUnread(_ path: String, _ error: SourceReadError) -> Self {
        let file = "prompt file '\(path)'"
        switch error {
        case .notFound:
            return .fileNotFound(path, for: "prompt file")
        case .tooLarge(let bytes, let limit):
            // Just over the limit, megabytes round to the limit itself; bytes say why it is over.
            let size = megabytes(bytes) == megabytes(limit) ? "\(bytes) bytes" : "\(megabytes(bytes)) MB"
            return .init(
                "unreadable-file", "\(file) is \(size), over the \(megabytes(limit)) MB Baton reads from one file; make it smaller")
        case .unreadable(let reason):
            return .init(
                "unreadable-file",
                "\(file) is there but could not be read\(reason.map { " (\($0))" } ?? ""); check its permissions (chmod u+r)")
        case .notUTF8:
            return .init("unreadable-file", "\(file) is not UTF-8 text; save it as UTF-8")
        }
    }
}

extension Diagnostic.Message {
    /// A YAML file over one of the ``YAMLLimits``: too large, too deep, or expanding too far through aliases.
    static func yamlLimit(_ violation: YAMLLimitViolation) -> Self {
        let limit = violation.limit
        switch violation.kind {
        case .bytes(let found):
            // Just over the limit, megabytes round to the limit itself; bytes say why it is over.
            let size = megabytes(found) == megabytes(limit) ? "\(found) bytes" : "\(megabytes(found)) MB"
            return .init(
                "yaml-limit", "the file is \(size), over the \(megabytes(limit)) MB Baton reads from one YAML file; make it smaller")
        case .nodes:
            return .init(
                "yaml-limit",
                "the file holds more than \(limit) YAML nodes with its aliases expanded; Baton reads at most that many, "
                    + "so make it smaller")
        case .aliasedNodes(let anchor):
            return .init(
                "yaml-limit",
                "alias '*\(anchor)' takes the nodes that aliases repeat past \(limit); a file that expands this far is refused "
                    + "as hostile ('billion laughs'), so write the values out or use fewer aliases")
        case .depth:
            return .init(
                "yaml-limit", "sequences and mappings nested more than \(limit) deep; Baton reads at most that depth, so flatten them")
        }
    }

    /// `12.5`, `10` for a byte count in MiB.
    private static func megabytes(_ bytes: Int) -> String {
        let tenths = (bytes * 10 + 524_288) / 1_048_576
        return tenths % 10 == 0 ? "\(tenths / 10)" : "\(tenths / 10).\(tenths % 10)"
    }
}

// MARK: - Expressions

extension Diagnostic.Message {
    static func expressionUnexpectedCharacter(_ character: Character) -> Self {
        let hint: String =
            switch character {
            case "=": "; use '==' to compare"
            case "&": "; use '&&' or 'and'"
            case "|": "; use '||' or 'or'"
            case "+", "*", "/", "%": "; expressions have no arithmetic"
            case "`": "; quote text with ' or \""
            default: ""
            }
        let shown =
            character.unicodeScalars.allSatisfy { $0.properties.isWhitespace || $0.value < 0x20 }
            ? "U+" + character.unicodeScalars.map { String($0.value, radix: 16, uppercase: true) }.joined(separator: " U+")
            : "'\(character)'"
        return .init("expression-syntax", "invalid expression: unexpected character \(shown)" + hint)
    }

    static func expressionUnterminatedString(quote: Character) -> Self {
        .init("expression-syntax", "invalid expression: a string is never closed; end it with \(quote) on the same line")
    }

    static func expressionBadEscape(_ escape: String) -> Self {
        .init("expression-syntax", "invalid expression: unknown escape '\(escape)' in a string; use \\\\, \\\", \\', \\n or \\t")
    }

    static func expressionBadNumber(_ text: String) -> Self {
        .init(
            "expression-syntax",
            "invalid expression: '\(text)' is not a number; write digits, with one '.' and digits after it for a decimal")
    }

    static func expressionNumberTooLarge(_ text: String) -> Self {
        .init("expression-syntax", "invalid expression: the number \(text) is too large; whole numbers go up to 9223372036854775807")
    }

    static func expressionUnexpectedToken(_ found: String, expected: String) -> Self {
        .init("expression-syntax", "invalid expression: expected \(expected), found \(found)")
    }

    static func expressionUnclosed(_ open: String, close: String) -> Self {
        .init("expression-syntax", "invalid expression: '\(open)' is never closed; add '\(close)'")
    }

    static var expressionChainedComparison: Self {
        .init("expression-syntax", "invalid expression: comparisons do not chain; join them with '&&', as in a < b && b < c")
    }

    static var expressionHasArgument: Self {
        .init("expression-syntax", "invalid expression: has() takes a field, as in has(stages.review.json.score)")
    }

    static var expressionEmpty: Self {
        .init("expression-syntax", "invalid expression: the expression is empty; write a condition such as inputs.mode == 'fast'")
    }

    static func expressionTooLong(_ count: Int, limit: Int) -> Self {
        .init("expression-limit", "the expression is \(count) characters long, over the \(limit) Baton reads; shorten it")
    }

    static func expressionTooDeep(limit: Int) -> Self {
        .init(
            "expression-limit",
            "the expression nests more than \(limit) levels deep; Baton reads at most that depth, so flatten it")
    }

    static func unknownExpressionName(_ name: String, available: [String], suggestion: String?) -> Self {
        .init(
            "unknown-name",
            "unknown name '\(name)'"
                + didYouMean(
                    suggestion, orElse: available.isEmpty ? "" : "; the names here are \(quotedList(available, conjunction: "and"))"))
    }

    static func unknownExpressionField(_ field: String, of subject: String, fields: [String], suggestion: String?) -> Self {
        // `stages` of a large pipeline has a field per stage: name the first few and count the rest.
        let listed =
            fields.count > 12
            ? fields.prefix(10).map { "'\($0)'" }.joined(separator: ", ") + " and \(fields.count - 10) more"
            : quotedList(fields, conjunction: "and")
        let known = fields.isEmpty ? "it has no fields" : "its fields are \(listed)"
        let fix = suggestion.map { "; did you mean '\($0)'? \(known)" } ?? "; \(known)"
        return .init("unknown-field", "'\(subject)' has no field '\(field)'" + fix)
    }

    static func unknownExpressionFunction(_ name: String, suggestion: String?) -> Self {
        if name == "matches" {
            return .init(
                "unknown-function",
                "'matches' is not supported: a regular expression can take exponential time on some texts; "
                    + "use contains, startsWith or endsWith")
        }
        return .init(
            "unknown-function",
            "unknown function '\(name)'"
                + didYouMean(suggestion, orElse: "; use size, has, or the string methods contains, startsWith, endsWith, lower, upper"))
    }

    static func unknownEnumValue(_ value: String, of subject: String, allowed: [String], suggestion: String?) -> Self {
        .init(
            "unknown-enum-value",
            "'\(value)' is never a value of '\(subject)', which is \(quotedList(allowed, conjunction: "or"))" + didYouMean(suggestion))
    }

    static func expressionCannotCompare(
        _ left: String, _ leftType: String, _ right: String, _ rightType: String, using op: String
    ) -> Self {
        .init(
            "expression-type",
            "cannot compare '\(left)' (\(leftType)) with '\(right)' (\(rightType)) using '\(op)'; compare values of the same type")
    }

    static func expressionNeverNull(_ subject: String, _ type: String) -> Self {
        .init("expression-type", "'\(subject)' (\(type)) is never null; use has() to test whether a field is there")
    }

    static func expressionOperand(_ subject: String, _ type: String, of op: String, expected: String) -> Self {
        .init("expression-type", "'\(op)' needs \(expected), but '\(subject)' is \(type)")
    }

    static func expressionConditionNotBool(_ subject: String, _ type: String) -> Self {
        .init(
            "expression-type",
            "the condition '\(subject)' is \(type), not true or false; compare it, as in \(subject) == 'yes', or test it with has()")
    }

    static func expressionArgumentCount(_ function: String, expected: Int, found: Int) -> Self {
        .init(
            "expression-type",
            "'\(function)' takes \(expected == 1 ? "1 argument" : "\(expected) arguments"), found \(found)")
    }

    static func expressionNoFields(_ subject: String, _ type: String) -> Self {
        .init("expression-type", "'\(subject)' is \(type) and has no fields; only objects have fields")
    }

    static func expressionIndex(_ subject: String, _ type: String, index: String) -> Self {
        .init(
            "expression-type",
            "'\(subject)' is \(type) and cannot be indexed by \(index); index a list by a whole number, an object by a string")
    }

    static func absentValue(_ path: String) -> Self {
        .init("absent-value", "'\(path)' has no value in this run; guard it with has(\(path)) && ...")
    }

    static func absentIndex(_ index: String, of path: String, count: Int) -> Self {
        .init(
            "absent-value",
            "'\(path)' has \(count) item\(count == 1 ? "" : "s"), so [\(index)] is out of range; check size(\(path)) first")
    }

    static func absentKey(_ key: String, of path: String) -> Self {
        .init("absent-value", "'\(path)' has no key '\(key)' in this run; guard it with '\(key)' in \(path) && ...")
    }
}
