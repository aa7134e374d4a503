import Mustache

/// Parses every template with swift-mustache and checks each name it uses against the pipeline.
enum TemplateCheck {
    /// Names a template can use at its top level.
    static let rootNames = ["inputs", "stages", "feedback", "round", "history", "pipeline"]
    /// Fields of an entry of `history`.
    static let historyFields = ["round", "output", "verdict", "feedback"]

    static func run(_ context: inout CompilationContext) {
        for stage in context.spec.stages {
            // A call's `with` values are templates in this pipeline's scope; what they read, the call waits for.
            for (name, text) in (stage.with ?? [:]).sorted(by: { $0.key < $1.key }) {
                check(text, placement: placement(of: "stages.\(stage.name).with.\(name)", context), stage: stage, &context)
            }
            for key in ["system", "prompt"] {
                let text = key == "system" ? stage.system : stage.prompt
                guard let text else { continue }
                check(text, placement: placement(of: "stages.\(stage.name).\(key)", context), stage: stage, &context)
            }
            // A tool stage's templates (argv, stdin, cwd, env, url, headers, body, arguments) read like a prompt, and
            // what they read, the stage waits for.
            for (path, text) in toolTemplates(of: stage) {
                check(text, placement: placement(of: "stages.\(stage.name).\(path)", context), stage: stage, &context)
            }
            // A retrieve stage's query reads like a prompt too.
            if let query = stage.retrieve?.query {
                check(query, placement: placement(of: "stages.\(stage.name).retrieve.query", context), stage: stage, &context)
            }
        }
    }

    /// A tool stage's templates, each with its source-map path below the stage, in a stable order.
    static func toolTemplates(of stage: StageSpec) -> [(String, String)] {
        func sorted(_ map: [String: String]?, _ prefix: String) -> [(String, String)] {
            (map ?? [:]).sorted { $0.key < $1.key }.map { ("\(prefix).\($0.key)", $0.value) }
        }
        var templates: [(String, String)] = []
        for (index, argument) in (stage.run ?? []).enumerated() { templates.append(("run[\(index)]", argument)) }
        if let stdin = stage.stdin { templates.append(("stdin", stdin)) }
        if let cwd = stage.cwd { templates.append(("cwd", cwd)) }
        templates += sorted(stage.env, "env")
        if let http = stage.http {
            templates.append(("http.url", http.url))
            templates += sorted(http.headers, "http.headers")
            if let body = http.body { templates.append(("http.body", body)) }
        }
        templates += sorted(stage.mcp?.arguments, "mcp.arguments")
        return templates
    }

    /// How positions inside the template at `path` map into its file.
    private static func placement(of path: String, _ context: CompilationContext) -> TemplatePlacement {
        context.sourceMap.templates[path]
            ?? TemplatePlacement(
                kind: .flowing(start: context.sourceMap.location(path) ?? SourceLocation(file: context.file.path, line: 1, column: 1)),
                file: context.file.path)
    }

    private static func check(_ text: String, placement: TemplatePlacement, stage: StageSpec, _ context: inout CompilationContext) {
        let source = context.sources[placement.file] ?? context.file
        do {
            _ = try MustacheTemplate(string: text)
        } catch {
            context.hasTemplateErrors = true
            let parserError = error as? MustacheTemplate.ParserError
            let problem = parserError?.error ?? error
            let blame = culprit(in: text)
            func located(_ tag: TemplateTag) -> SourceLocation {
                let occurrence = TemplateScanner.tags(in: text).filter {
                    $0.text == tag.text && ($0.line, $0.column) < (tag.line, tag.column)
                }.count
                return placement.location(line: tag.line, column: tag.column, tagText: tag.text, occurrence: occurrence, in: source)
            }
            let location =
                blame.map { located($0.tag) }
                ?? placement.location(
                    line: parserError?.context.lineNumber ?? 1, column: parserError?.context.columnNumber ?? 1, tagText: nil,
                    occurrence: 0, in: source)
            let opener = blame?.opener.map { ($0, located($0)) }
            context.emit(.templateSyntax(describe(problem, culprit: blame?.tag, at: location, opener: opener)), at: location)
            return
        }

        var occurrences: [String: Int] = [:]
        var sections: [String] = []
        for tag in TemplateScanner.tags(in: text) {
            let occurrence = occurrences[tag.text, default: 0]
            occurrences[tag.text] = occurrence + 1
            let location = placement.location(line: tag.line, column: tag.column, tagText: tag.text, occurrence: occurrence, in: source)
            switch tag.kind {
            case .other:
                continue
            case .partial:
                context.emit(.unsupportedTemplateTag(tag.text, "partials and template inheritance"), at: location)
            case .sectionEnd:
                if !sections.isEmpty { sections.removeLast() }
            case .variable:
                checkName(tag.name, sections: sections, stage: stage, at: location, &context)
            case .section, .invertedSection:
                checkName(tag.name, sections: sections, stage: stage, at: location, &context)
                sections.append(tag.name)
            }
        }
    }

    /// The tag to blame for a parse error (the section left open, the close tag that does not match, or the tag
    /// that never ends) and, for a close tag that does not match, the section it should close. swift-mustache
    /// reports where it stopped reading, which is often the end.
    private static func culprit(in text: String) -> (tag: TemplateTag, opener: TemplateTag?)? {
        let (tags, unterminated) = TemplateScanner.scan(text)
        if let unterminated { return (unterminated, nil) }
        var open: [TemplateTag] = []
        for tag in tags {
            switch tag.kind {
            case .section, .invertedSection:
                open.append(tag)
            case .sectionEnd:
                guard let last = open.popLast() else { return (tag, nil) }
                if last.name != tag.name { return (tag, last) }
            case .variable where !isName(tag.name):
                return (tag, nil)
            default:
                break
            }
        }
        return open.last.map { ($0, nil) }
    }

    /// Whether `name` reads as a Mustache name (swift-mustache refuses spaces and most punctuation inside one).
    private static func isName(_ name: String) -> Bool {
        !name.isEmpty && !name.contains { $0 == " " || $0 == "\t" || $0 == "{" || $0 == "}" }
    }

    /// What is wrong, naming the tag: the section left open and where, the close tag that does not match the
    /// section it closes, the tag without its end, the unknown tag.
    private static func describe(
        _ error: any Error, culprit: TemplateTag?, at location: SourceLocation, opener: (tag: TemplateTag, at: SourceLocation)?
    ) -> String {
        let position = "\(location.line):\(location.column)"
        if let tag = culprit {
            switch tag.kind {
            case .section, .invertedSection:
                let close = "{{/\(tag.name)}}"
                return "section '\(tag.name)' is opened at \(position) and never closed; close it with \(close)"
            case .sectionEnd:
                guard let opener else {
                    return "'\(tag.text)' closes section '\(tag.name)', which is not open; "
                        + "remove it or open the section with {{#\(tag.name)}}"
                }
                return "'\(tag.text)' closes section '\(tag.name)', but the section open there is "
                    + "'\(opener.tag.name)', opened at \(opener.at.line):\(opener.at.column); close it with {{/\(opener.tag.name)}}"
            case .variable where tag.name.isEmpty && !tag.text.hasSuffix("}}"):
                // The scanner's tag without its end.
                return "the tag '\(tag.text)' is never closed with '}}' before the end of the template"
            case .variable:
                return "the tag '\(tag.text)' is not a name: a tag holds one name such as inputs.task "
                    + "(letters, digits, '_', '-' and dots)"
            default:
                break
            }
        }
        guard let error = error as? MustacheTemplate.Error else {
            // swift-mustache's reader runs off the end of the text on an unclosed tag.
            return "\(error)" == "overflow" ? "a tag is not closed before the end of the template" : "\(error)"
        }
        switch error {
        case .sectionCloseNameIncorrect: return "a section is closed with a different name than it was opened with"
        case .unfinishedName: return "a tag is not closed or its name is malformed"
        case .expectedSectionEnd: return "a section is opened but never closed"
        case .invalidSetDelimiter: return "malformed set-delimiter tag at \(position): write it as {{=<% %>=}}"
        case .transformAppliedToInheritanceSection: return "a transform is applied to an inheritance section"
        case .illegalTokenInsideInheritSection: return "illegal tag inside an inheritance section"
        case .textInsideInheritSection: return "text inside an inheritance section"
        case .invalidConfigVariableSyntax: return "malformed pragma tag at \(position)"
        case .unrecognisedConfigVariable: return "unknown pragma at \(position)"
        }
    }

    private static func checkName(
        _ name: String, sections: [String], stage: StageSpec, at location: SourceLocation, _ context: inout CompilationContext
    ) {
        if name == "." || name.isEmpty { return }
        let segments = name.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
        let head = segments[0]
        switch head {
        case "inputs":
            checkInput(name, segments: segments, at: location, &context)
        case "stages":
            checkStage(name, segments: segments, user: stage, at: location, &context)
        case "feedback":
            // Inside a section over a stage's value, it may name one of its fields (each item of a critic's `items`).
            if sections.contains(where: { $0.hasPrefix("stages.") }) { return }
            if context.criticOf[stage.name] == nil, !isInHistory(sections) {
                context.emit(.feedbackWithoutCritic(name, stage: stage.name), at: location)
            } else if segments.count > 1 {
                context.emit(.unknownVariable(name, suggestion: "feedback"), at: location)
            }
        case "history":
            if context.criticOf[stage.name] == nil, !stage.isCritic {
                context.emit(.feedbackWithoutCritic(name, stage: stage.name), at: location)
            } else if segments.count > 1 {
                context.emit(.unknownVariable(name, suggestion: "history"), at: location)
            }
        case "args" where isToolDefinition(stage, context):
            // A tool definition's arguments, given by the model that calls it; `parameters` says which.
            if segments.count < 2 || segments[1].isEmpty {
                context.emit(.unknownVariable(name, suggestion: nil), at: location)
            } else if stage.parameters == nil {
                if context.argsWithoutParameters.insert(stage.name).inserted {
                    context.emit(.toolParametersMissing(name, stage: stage.name), at: location)
                }
            } else if let properties = ToolCheck.argumentNames(of: stage), !properties.contains(segments[1]) {
                context.emit(
                    .toolArgumentUnknown(
                        name, argument: segments[1], stage: stage.name, properties: properties,
                        suggestion: Suggestion.closest(to: segments[1], in: properties)),
                    at: location)
            }
        case "args":
            context.emit(.argsOutsideToolDefinition(name, stage: stage.name), at: location)
        case "round":
            if segments.count > 1 { context.emit(.unknownVariable(name, suggestion: "round"), at: location) }
        case "pipeline":
            if segments != ["pipeline", "name"] { context.emit(.unknownVariable(name, suggestion: "pipeline.name"), at: location) }
        case "item_index" where FanOutCheck.fanOutContext(of: stage, context) != nil:
            if segments.count > 1 { context.emit(.unknownVariable(name, suggestion: "item_index"), at: location) }
        case _ where FanOutCheck.fanOutContext(of: stage, context).map(FanOutCheck.itemName) == head:
            checkItem(name, segments: segments, of: FanOutCheck.fanOutContext(of: stage, context)!, at: location, &context)
        default:
            if isInHistory(sections), historyFields.contains(head), segments.count == 1 { return }
            if !sections.isEmpty, !isInHistory(sections) { return }  // may name a field of the section's value
            if head == "item_index" {
                context.emit(.itemIndexOutsideFanOut(name), at: location)
                return
            }
            if let owner = context.spec.stages.first(where: { $0.forEach != nil && FanOutCheck.itemName(of: $0) == head }) {
                context.emit(.itemOutsideFanOut(name, item: head, stage: owner.name), at: location)
                return
            }
            var suggestion: String?
            let inputNames = context.spec.inputs.map(\.name)
            let rest = segments.dropFirst().joined(separator: ".")
            let itemNames = FanOutCheck.fanOutContext(of: stage, context).map { [FanOutCheck.itemName(of: $0), "item_index"] } ?? []
            if inputNames.contains(head) {
                suggestion = "inputs.\(head)"
            } else if let item = Suggestion.closest(to: head, in: itemNames) {
                // A misspelt item keeps its fields: {{sectoin.title}} means section.title.
                suggestion = rest.isEmpty ? item : "\(item).\(rest)"
            } else if context.stageNames.contains(head) {
                suggestion = "stages.\(head).output"
            } else if let root = Suggestion.closest(to: head, in: rootNames + (isInHistory(sections) ? historyFields : [])) {
                // A misspelled root keeps the rest of the name: {{input.task}} means inputs.task.
                suggestion = rest.isEmpty ? root : "\(root).\(rest)"
            } else if segments.count == 1, let input = Suggestion.closest(to: head, in: inputNames) {
                suggestion = "inputs.\(input)"
            } else if segments.count == 1, let stage = Suggestion.closest(to: head, in: context.stageNames) {
                suggestion = "stages.\(stage).output"
            }
            context.emit(.unknownVariable(name, suggestion: suggestion), at: location)
        }
    }

    /// The item of a fan-out stage, its fields checked against the list's item type when it is known.
    private static func checkItem(
        _ name: String, segments: [String], of owner: StageSpec, at location: SourceLocation, _ context: inout CompilationContext
    ) {
        guard let type = FanOutCheck.itemType(of: owner, context) else { return }
        let fields = Array(segments.dropFirst())
        switch type.follow(fields, listsAreOpaque: true) {
        case .found:
            return
        case .unknownField(let index, let object, let names):
            context.emit(
                .unknownItemField(
                    name, field: fields[index], item: segments[0], type: object.description, fields: names,
                    suggestion: Suggestion.closest(to: fields[index], in: names)),
                at: location)
        case .notObject(let index, let found):
            context.emit(
                .unknownItemField(name, field: fields[index], item: segments[0], type: found.description, fields: [], suggestion: nil),
                at: location)
        }
    }

    /// What kind of stage `stage` is, for a message: "a model stage", "an 'http' stage".
    static func kindText(of stage: StageSpec) -> String {
        switch stage.toolKind {
        case .run?: "a 'run' stage"
        case .http?: "an 'http' stage"
        case .mcp?: "an 'mcp' stage"
        case nil: stage.isCall ? "a call ('uses')" : stage.isRetrieve ? "a retrieve stage" : "a model stage"
        }
    }

    /// Whether a model stage names `stage` in its `tools:`: then it is a tool definition, run when the model calls it.
    static func isToolDefinition(_ stage: StageSpec, _ context: CompilationContext) -> Bool {
        stage.isTool && context.spec.stages.contains { $0.tools?.contains(stage.name) == true }
    }

    private static func isInHistory(_ sections: [String]) -> Bool {
        sections.last == "history"
    }

    private static func checkInput(_ name: String, segments: [String], at location: SourceLocation, _ context: inout CompilationContext) {
        guard segments.count >= 2, !segments[1].isEmpty else {
            context.emit(.unknownVariable(name, suggestion: context.spec.inputs.first.map { "inputs.\($0.name)" }), at: location)
            return
        }
        let input = segments[1]
        let declared = context.spec.inputs.map(\.name)
        guard declared.contains(input) else {
            context.emit(.undeclaredInput(input, suggestion: Suggestion.closest(to: input, in: declared)), at: location)
            return
        }
        context.usedInputs.insert(input)
        if segments.count > 2 {
            context.emit(.inputHasNoFields(name), at: location)
        }
    }

    private static func checkStage(
        _ name: String, segments: [String], user: StageSpec, at location: SourceLocation, _ context: inout CompilationContext
    ) {
        guard segments.count >= 2, !segments[1].isEmpty else {
            context.emit(.unknownVariable(name, suggestion: nil), at: location)
            return
        }
        let target = segments[1]
        guard let stage = context.stage(target) else {
            context.emit(
                .unknownStage(target, usedBy: "template uses", suggestion: Suggestion.closest(to: target, in: context.stageNames)),
                at: location)
            return
        }
        if target == user.name {
            context.emit(.selfReference(user.name, how: "uses the output of"), at: location)
            return
        }
        if stage.isCall {
            guard checkCallField(name, segments: segments, call: target, at: location, &context) else { return }
            context.referencedStages.insert(target)
            context.addDependency(user.name, on: target, .reference(location))
            return
        }
        let field = segments.count > 2 ? segments[2] : ""
        switch field {
        case "output" where segments.count == 3, "skipped" where segments.count == 3:
            break
        case "chunks" where segments.count == 3 && stage.isRetrieve && stage.forEach == nil:
            break
        case "chunks" where !stage.isRetrieve:
            context.emit(.retrieveFieldUnavailable(name, stage: target, kind: kindText(of: stage)), at: location)
            return
        case "chunks" where stage.forEach != nil:
            context.emit(
                .fanOutFieldUnavailable(
                    name, stage: target,
                    reason: "stage '\(target)' runs one query per item; read each item's chunks as its output in "
                        + "{{#stages.\(target).items}}...{{output}}"),
                at: location)
            return
        case "branch" where segments.count == 3:
            guard stage.route != nil else {
                context.emit(.branchWithoutRoute(name, stage: target), at: location)
                return
            }
        case "items" where segments.count == 3:
            // A critic reviewing a fan-out stage has items too: each item's last verdict and feedback.
            guard stage.isFanOut || (stage.isCritic && FanOutCheck.fanOutContext(of: stage, context) != nil) else {
                context.emit(
                    .fanOutFieldUnavailable(
                        name, stage: target, reason: "stage '\(target)' has no 'for_each' or 'repeat', so it has no items"),
                    at: location)
                return
            }
        case "vote":
            guard stage.vote != nil, stage.repeatCount != nil else {
                context.emit(
                    .fanOutFieldUnavailable(
                        name, stage: target, reason: "stage '\(target)' has no 'repeat' with 'vote', so it has no vote"),
                    at: location)
                return
            }
            guard segments.count == 4, FanOutCheck.voteFields.contains(segments[3]) else {
                let suggestion = segments.count == 4 ? Suggestion.closest(to: segments[3], in: FanOutCheck.voteFields) : "value"
                context.emit(
                    .badStageField(name, stage: target, suggestion: suggestion.map { "stages.\(target).vote.\($0)" }), at: location)
                return
            }
        case "json" where stage.isRetrieve:
            // A retrieve stage's answer is its chunks, read as such.
            context.emit(
                .badStageField(
                    name, stage: target, suggestion: stage.forEach == nil ? "stages.\(target).chunks" : "stages.\(target).items"),
                at: location)
            return
        case "json":
            guard stage.output?.format == .json else {
                context.emit(.notJSONOutput(name, stage: target), at: location)
                return
            }
            guard FanOutCheck.hasOneJSON(stage) else {
                let reason =
                    stage.forEach != nil
                    ? "stage '\(target)' runs once per item, with one JSON answer each; read them in {{#stages.\(target).items}}...{{json}}"
                    : "stage '\(target)' draws samples without a 'vote', so it has no single JSON answer; "
                        + "add 'vote: FIELD' or read each sample in {{#stages.\(target).items}}...{{json}}"
                context.emit(.fanOutFieldUnavailable(name, stage: target, reason: reason), at: location)
                return
            }
            if segments.count > 3, case .object(let properties)? = stage.output?.schema?["properties"] {
                let fields = properties.map(\.key)
                if !fields.contains(segments[3]) {
                    context.emit(
                        .unknownOutputField(segments[3], stage: target, suggestion: Suggestion.closest(to: segments[3], in: fields)),
                        at: location)
                    return
                }
            }
        case "exit_code" where segments.count == 3 && stage.run != nil, "stderr" where segments.count == 3 && stage.run != nil,
            "status" where segments.count == 3 && stage.http != nil, "headers" where segments.count <= 4 && stage.http != nil:
            break
        case "exit_code", "stderr", "status", "headers":
            let rightKind = field == "status" || field == "headers" ? stage.http != nil : stage.run != nil
            guard rightKind else {
                context.emit(.toolFieldUnavailable(name, field: field, stage: target, kind: kindText(of: stage)), at: location)
                return
            }
            context.emit(.badStageField(name, stage: target, suggestion: "stages.\(target).\(field)"), at: location)
            return
        case "verdict", "feedback":
            guard stage.isCritic, segments.count == 3 else {
                context.emit(
                    stage.isCritic ? .badStageField(name, stage: target, suggestion: nil) : .verdictOfNonCritic(name, stage: target),
                    at: location)
                return
            }
        default:
            var fields = ["output", "skipped"]
            if stage.output?.format == .json { fields.append("json") }
            if stage.isCritic { fields += ["verdict", "feedback"] }
            if stage.route != nil { fields.append("branch") }
            if stage.isFanOut || (stage.isCritic && FanOutCheck.fanOutContext(of: stage, context) != nil) { fields.append("items") }
            if stage.vote != nil, stage.repeatCount != nil { fields.append("vote") }
            if stage.run != nil { fields += ["exit_code", "stderr"] }
            if stage.http != nil { fields += ["status", "headers"] }
            if stage.isRetrieve, stage.forEach == nil { fields.append("chunks") }
            let suggestion = Suggestion.closest(to: field, in: fields).map { "stages.\(target).\($0)" }
            context.emit(.badStageField(name, stage: target, suggestion: suggestion), at: location)
            return
        }
        context.referencedStages.insert(target)
        context.addDependency(user.name, on: target, .reference(location))
    }

    /// `stages.X.FIELD` of a call X: `output` and `json` (its first output stage's), `outputs.NAME` (each output stage's
    /// text) and `skipped`. Whether the template may read it; a call whose pipeline did not compile reads as anything.
    private static func checkCallField(
        _ name: String, segments: [String], call target: String, at location: SourceLocation, _ context: inout CompilationContext
    ) -> Bool {
        guard let call = context.calls[target] else { return true }
        let field = segments.count > 2 ? segments[2] : ""
        switch field {
        case "output" where segments.count == 3, "skipped" where segments.count == 3:
            return true
        case "json":
            if segments.count > 3, let first = call.firstOutput, first.output.format == .json,
                case .object(let properties)? = first.output.schema?["properties"]
            {
                let fields = properties.map(\.key)
                if !fields.contains(segments[3]) {
                    context.emit(
                        .unknownOutputField(segments[3], stage: target, suggestion: Suggestion.closest(to: segments[3], in: fields)),
                        at: location)
                    return false
                }
            }
            return true
        case "outputs" where segments.count == 4:
            let outputs = call.plan.outputs
            guard outputs.contains(segments[3]) else {
                context.emit(
                    .unknownCallOutput(
                        name, stage: target, pipeline: call.plan.pipeline, outputs: outputs,
                        suggestion: Suggestion.closest(to: segments[3], in: outputs)),
                    at: location)
                return false
            }
            return true
        default:
            let fields = ["output", "skipped", "json", "outputs"]
            var suggestion = Suggestion.closest(to: field, in: fields).map { "stages.\(target).\($0)" }
            if field == "outputs" || suggestion == "stages.\(target).outputs", let first = call.plan.outputs.first {
                suggestion = "stages.\(target).outputs.\(first)"
            }
            context.emit(.badStageField(name, stage: target, suggestion: suggestion), at: location)
            return false
        }
    }
}
