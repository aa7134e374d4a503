/// Parses and type-checks each stage's `when:` condition in the names of its scope (docs/pipeline-format.md,
/// "Conditions"), and makes every stage a condition reads a dependency of the stage.
///
/// Errors inside an expression are reported at their line and column inside it, mapped into the YAML file
/// as template positions are (``TemplatePlacement``).
enum ConditionCheck {
    static func run(_ context: inout CompilationContext) {
        let conditioned = context.spec.stages.filter { $0.when != nil }
        guard !conditioned.isEmpty else { return }
        let scope = ConditionScope(context)
        for stage in conditioned {
            check(stage, scope: scope, &context)
        }
    }

    private static func check(_ stage: StageSpec, scope: ConditionScope, _ context: inout CompilationContext) {
        guard let text = stage.when else { return }
        let path = "stages.\(stage.name).when"
        if stage.isCritic {
            // Reported, and the condition checked all the same, so one pass finds everything.
            context.emit(.conditionOnCritic(stage.name, reviews: stage.reviews ?? ""), at: context.sourceMap.keyLocation(path))
        }
        let expression: Expression
        do {
            expression = try Expression.parse(text)
        } catch {
            // The condition's references are unknown, so the usage warnings would be guesses.
            context.hasTemplateErrors = true
            report(error, text: text, path: path, &context)
            return
        }
        context.conditions[stage.name] = expression
        for error in expression.checkCondition(in: scope.scope(for: stage.name)) {
            report(error, text: text, path: path, &context)
        }
        context.recordReferences(of: expression, from: stage.name, .condition(context.sourceMap.location(path)))
    }

    private static func report(_ error: ExpressionError, text: String, path: String, _ context: inout CompilationContext) {
        let location = ExpressionLocation.locate(error, in: text, path: path, context)
        context.emit(toolFieldMessage(error, context) ?? error.diagnosticMessage, at: location)
    }

    /// A tool stage's field read on a stage of another kind (`stages.X.exit_code` of a model stage) says so, instead of
    /// listing the fields X has.
    private static func toolFieldMessage(_ error: ExpressionError, _ context: CompilationContext) -> Diagnostic.Message? {
        guard error.code == "unknown-field", error.message.hasPrefix("'stages.") else { return nil }
        for stage in context.spec.stages where !stage.isRetrieve && error.message.hasPrefix("'stages.\(stage.name)' has no field 'chunks'")
        {
            return .retrieveFieldUnavailable("stages.\(stage.name).chunks", stage: stage.name, kind: TemplateCheck.kindText(of: stage))
        }
        for field in ["exit_code", "stderr", "status"] {
            for stage in context.spec.stages where error.message.hasPrefix("'stages.\(stage.name)' has no field '\(field)'") {
                return .toolFieldUnavailable(
                    "stages.\(stage.name).\(field)", field: field, stage: stage.name, kind: TemplateCheck.kindText(of: stage))
            }
        }
        return nil
    }
}

/// The names a `when:` condition can read (shared.md §1): `inputs.NAME`, and `stages.X` for every other stage with
/// `output`, `skipped`, `json` (JSON stages), `verdict` and `feedback` (critics) and `branch` (routers). Both objects
/// are closed, so a misspelt input, stage or field is an `unknown-field` error with a did-you-mean.
struct ConditionScope {
    private let inputs: ExpressionType
    /// The inputs as a `for_each` list reads them: each holds JSON text, parsed as a list when the stage starts.
    private let listInputs: ExpressionType
    private let stages: [String: ExpressionType]

    init(_ context: CompilationContext) {
        var inputFields: [String: ExpressionType] = [:]
        var listFields: [String: ExpressionType] = [:]
        for input in context.spec.inputs {
            // An input that is neither required nor defaulted may be left out of a run.
            let present = input.required || input.defaultValue != nil
            inputFields[input.name] = present ? .string : .optional(.string)
            listFields[input.name] = present ? .list(.any) : .optional(.list(.any))
        }
        inputs = .object(fields: inputFields, open: false)
        listInputs = .object(fields: listFields, open: false)
        var stages: [String: ExpressionType] = [:]
        for stage in context.spec.stages {
            stages[stage.name] = Self.type(of: stage, context)
        }
        self.stages = stages
    }

    /// The scope of the condition of stage `name`: every stage but itself. With `inputsAsLists` (a `for_each`
    /// list), each input is a list of any: the run parses its JSON text and fails the stage if it is not an array.
    func scope(for name: String, inputsAsLists: Bool = false) -> ExpressionScope {
        var others = stages
        others[name] = nil
        return ExpressionScope(["inputs": inputsAsLists ? listInputs : inputs, "stages": .object(fields: others, open: false)])
    }

    /// What `stages.X` holds. A stage that may be skipped (it has a condition, a route's branch runs it, or it
    /// reviews such a stage) has no `json`, `verdict`, `feedback` or `branch` when it was, so those are optional.
    static func type(of stage: StageSpec, _ context: CompilationContext) -> ExpressionType {
        let skippable = mayBeSkipped(stage.name, context) || stage.reviews.map { mayBeSkipped($0, context) } == true
        func maybe(_ type: ExpressionType) -> ExpressionType { skippable && !type.isOptional ? .optional(type) : type }
        if stage.isCall {
            // calls.md: a call's first output stage gives output and json; outputs holds each output stage's text.
            guard let call = context.calls[stage.name] else {
                return .object(fields: ["output": .string, "skipped": .bool, "json": .any, "outputs": .any], open: false)
            }
            let json = call.jsonType
            let outputs = Dictionary(call.plan.outputs.map { ($0, ExpressionType.string) }) { first, _ in first }
            return .object(
                fields: [
                    "output": .string, "skipped": .bool, "outputs": .object(fields: outputs, open: false),
                    "json": call.outputMayBeSkipped && !json.isOptional ? .optional(json) : maybe(json),
                ],
                open: false)
        }
        var fields: [String: ExpressionType] = ["output": .string, "skipped": .bool]
        let json = stage.output?.format == .json ? stage.output?.schema.map { ExpressionType(jsonSchema: $0) } ?? .any : nil
        if let json, FanOutCheck.hasOneJSON(stage) {
            fields["json"] = maybe(json)
        }
        if let item = FanOutCheck.itemType(of: stage, context) {
            // A skipped fan-out stage has no items: the list is empty, never absent.
            var entry: [String: ExpressionType] = ["index": .int, "item": item, "output": .string]
            if let json { entry["json"] = json }
            fields["items"] = .list(.object(fields: entry, open: false))
        }
        if stage.vote != nil, stage.repeatCount != nil {
            fields["vote"] = maybe(FanOutCheck.voteType)
        }
        if stage.isCritic {
            fields["verdict"] = maybe(.verdict)
            fields["feedback"] = maybe(.string)
            // A critic of a fan-out stage: each item's last verdict (the combined one is `approve` only if all are).
            if let reviewed = FanOutCheck.fanOutContext(of: stage, context), let item = FanOutCheck.itemType(of: reviewed, context) {
                let entry: [String: ExpressionType] = ["index": .int, "item": item, "verdict": .verdict, "feedback": .string]
                fields["items"] = .list(.object(fields: entry, open: false))
            }
        }
        if let route = stage.route {
            fields["branch"] = maybe(.strings(route.branchNames))
        }
        // A tool stage's own results (a skipped one has none): the command's exit code and its standard error, the
        // response's status.
        if stage.run != nil {
            fields["exit_code"] = maybe(.int)
            fields["stderr"] = maybe(.string)
        }
        if stage.http != nil {
            fields["status"] = maybe(.int)
        }
        // A retrieve stage's chunks, best first (a skipped one has none: absent, as its other results are).
        if stage.isRetrieve, stage.forEach == nil {
            fields["chunks"] = maybe(.list(Self.chunkType))
        }
        return .object(fields: fields, open: false)
    }

    /// One chunk of `stages.X.chunks`: its rank, its id in the index, its text, file and lines, and its score.
    static let chunkType = ExpressionType.object(
        fields: [
            "n": .int, "id": .int, "text": .string, "source": .string, "line": .int, "end_line": .int, "score": .double,
        ],
        open: false)

    private static func mayBeSkipped(_ name: String, _ context: CompilationContext) -> Bool {
        guard let stage = context.stage(name) else { return false }
        return stage.when != nil || context.routedBy[name] != nil
    }
}

extension RouteSpec {
    /// The names of the branches: the case values, then `default` when there is one.
    var branchNames: [String] {
        cases.map(\.value) + (otherwise == nil ? [] : ["default"])
    }
}

/// Maps a position inside an expression (``ExpressionError``) to the file the expression was written in.
enum ExpressionLocation {
    static func locate(_ error: ExpressionError, in text: String, path: String, _ context: CompilationContext) -> SourceLocation? {
        guard let placement = context.sourceMap.templates[path] else { return context.sourceMap.location(path) }
        let source = context.sources[placement.file] ?? context.file
        let (culprit, occurrence) = culprit(of: error, in: text)
        return placement.location(
            line: error.line, column: error.scalarColumn, tagText: culprit, occurrence: occurrence, in: source)
    }

    /// The culprit's text (cut at the end of its line), to find it in a folded scalar, and how many times it
    /// occurs before it.
    static func culprit(of error: ExpressionError, in text: String) -> (String?, Int) {
        let characters = Array(text)
        var line = 1
        var column = 1
        var offset: Int?
        for (index, character) in characters.enumerated() {
            if line == error.line && column == error.column {
                offset = index
                break
            }
            if character.isNewline {
                line += 1
                column = 1
            } else {
                column += 1
            }
        }
        guard let start = offset else { return (nil, 0) }
        var end = min(start + max(error.length, 1), characters.count)
        if let newline = characters[start..<end].firstIndex(where: \.isNewline) { end = newline }
        guard end > start else { return (nil, 0) }
        let needle = Array(characters[start..<end])
        var occurrence = 0
        var index = 0
        while index < start {
            if index + needle.count <= characters.count, Array(characters[index..<index + needle.count]) == needle {
                occurrence += 1
            }
            index += 1
        }
        return (String(needle), occurrence)
    }
}
