/// Checks the fan-out and voting keys of each stage (docs/pipeline-format.md, "Fan-out" and "Voting"): `for_each` is
/// an expression giving a list, checked in the names of a condition's scope (an input reads as a list: it holds JSON
/// text); `as` names the item; `max_items`, `concurrency`, `as` and `vote` appear only with the key they qualify;
/// `repeat` is not combined with `for_each`; `vote` is a field of a JSON answer; a critic does not fan out itself.
/// The stages a `for_each` list reads become dependencies. ``checkConcurrency(_:)``, run once models are resolved,
/// allows `concurrency` above 1 only where items running at once cannot break the memory budget.
enum FanOutCheck {
    /// Names an item cannot take: the template roots, and the item's own index.
    static let reservedItemNames: Set<String> = ["inputs", "stages", "item_index", "feedback", "history", "round", "pipeline"]
    /// The fields of `stages.X.vote`.
    static let voteFields = ["value", "count", "total"]
    /// The type of `stages.X.vote`: the winning value (JSON text when not a string), its count and the number of samples.
    static let voteType = ExpressionType.object(fields: ["value": .string, "count": .int, "total": .int], open: false)

    static func run(_ context: inout CompilationContext) {
        for stage in context.spec.stages {
            checkKeys(stage, &context)
            if stage.vote != nil, stage.repeatCount != nil { checkVote(stage, &context) }
        }
        // After the keys: a list's scope holds the other stages' items, typed by what is known so far.
        for stage in context.spec.stages where stage.forEach != nil {
            checkSource(stage, &context)
        }
    }

    /// Whether `stages.X.json` is one answer: not for a `for_each` stage (one per item), nor for `repeat` without
    /// `vote` (one per sample); with `vote`, it is the first sample holding the winning value.
    static func hasOneJSON(_ stage: StageSpec) -> Bool {
        if stage.forEach != nil { return false }
        if stage.repeatCount != nil { return stage.vote != nil }
        return true
    }

    /// The type of the items of a fan-out stage (`any` when not known; `int` for `repeat`, the sample number); nil when
    /// the stage does not fan out.
    static func itemType(of stage: StageSpec, _ context: CompilationContext) -> ExpressionType? {
        if stage.forEach != nil { return context.fanOutItemTypes[stage.name] ?? .any }
        return stage.repeatCount != nil ? .int : nil
    }

    /// The fan-out stage whose item a template of `stage` sees: the stage itself, or the stage a critic reviews.
    static func fanOutContext(of stage: StageSpec, _ context: CompilationContext) -> StageSpec? {
        // A critic's own for_each or repeat is an error (fan-out-critic); its templates see the reviewed stage's item.
        guard let reviewed = stage.reviews else { return stage.isFanOut ? stage : nil }
        return context.stage(reviewed).flatMap { $0.isFanOut ? $0 : nil }
    }

    /// The item's name in `stage`'s templates.
    static func itemName(of stage: StageSpec) -> String { stage.itemName ?? FanOut.defaultItemName }

    // MARK: - Keys

    private static func checkKeys(_ stage: StageSpec, _ context: inout CompilationContext) {
        let path = "stages.\(stage.name)"
        func keyLocation(_ key: String) -> SourceLocation? { context.sourceMap.keyLocation("\(path).\(key)") }
        func has(_ key: String) -> Bool { context.sourceMap.values["\(path).\(key)#key"] != nil }

        if let reviewed = stage.reviews {
            for key in ["for_each", "repeat"] where has(key) {
                context.emit(.fanOutOnCritic(stage.name, key: key, reviews: reviewed), at: keyLocation(key))
            }
        }
        if has("for_each"), has("repeat") {
            context.emit(.conflictingKeys("for_each", "repeat", in: "stage '\(stage.name)'"), at: keyLocation("repeat"))
        }
        let fansOut = has("for_each") || has("repeat")
        for key in ["as", "concurrency"] where has(key) && !fansOut {
            context.emit(.fanOutKeyWithout(key, stage: stage.name, needs: "'for_each' or 'repeat'"), at: keyLocation(key))
        }
        if has("max_items"), !has("for_each") {
            context.emit(
                has("repeat") ? .maxItemsWithRepeat(stage.name) : .fanOutKeyWithout("max_items", stage: stage.name, needs: "'for_each'"),
                at: keyLocation("max_items"))
        }
        if has("vote"), !has("repeat") {
            context.emit(.fanOutKeyWithout("vote", stage: stage.name, needs: "'repeat'"), at: keyLocation("vote"))
        }
        if stage.route != nil, fansOut, !hasOneJSON(stage) {
            context.emit(.routeOnFanOut(stage.name, repeated: has("repeat")), at: keyLocation("route"))
        }
        if let name = stage.itemName, !isItemName(name) || reservedItemNames.contains(name) {
            context.emit(
                .fanOutItemName(name, stage: stage.name, reserved: reservedItemNames.contains(name)),
                at: context.sourceMap.location("\(path).as"))
        }
    }

    /// An identifier: the item is read in templates (`{{section.title}}`), where a '-' would be ambiguous with a name
    /// of the item's fields.
    static func isItemName(_ name: String) -> Bool {
        guard let first = name.unicodeScalars.first, first == "_" || (first.isASCII && first.properties.isAlphabetic)
        else { return false }
        return name.unicodeScalars.allSatisfy { $0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0) || $0 == "_") }
    }

    // MARK: - The vote

    private static func checkVote(_ stage: StageSpec, _ context: inout CompilationContext) {
        guard let vote = stage.vote else { return }
        let location = context.sourceMap.location("stages.\(stage.name).vote")
        guard stage.output?.format == .json else {
            context.emit(.voteNotJSON(stage.name, field: vote), at: context.sourceMap.keyLocation("stages.\(stage.name).vote"))
            return
        }
        let segments = vote.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
        guard segments.allSatisfy({ !$0.isEmpty && !$0.contains(where: \.isWhitespace) }) else {
            context.emit(.voteFieldPath(vote, stage: stage.name), at: location)
            return
        }
        let schema = stage.output?.schema.map { ExpressionType(jsonSchema: $0) } ?? .any
        switch schema.follow(segments) {
        case .found:
            break
        case .unknownField(let index, _, let names):
            let segment = segments[index]
            context.emit(
                .unknownVoteField(
                    segment, in: segments[..<index].joined(separator: "."), stage: stage.name, fields: names,
                    suggestion: Suggestion.closest(to: segment, in: names)),
                at: location)
        case .notObject(let index, let type):
            context.emit(
                .voteFieldNotObject(segments[..<index].joined(separator: "."), type: type.description, stage: stage.name), at: location)
        }
    }

    // MARK: - The list

    private static func checkSource(_ stage: StageSpec, _ context: inout CompilationContext) {
        guard let text = stage.forEach else { return }
        let path = "stages.\(stage.name).for_each"
        let expression: Expression
        do {
            expression = try Expression.parse(text)
        } catch {
            // The list's references are unknown, so the usage warnings would be guesses.
            context.hasTemplateErrors = true
            context.emit(error.diagnosticMessage, at: ExpressionLocation.locate(error, in: text, path: path, context))
            return
        }
        context.fanOutSources[stage.name] = expression
        let scope = ConditionScope(context).scope(for: stage.name, inputsAsLists: true)
        let (type, errors) = expression.check(in: scope)
        for error in errors {
            context.emit(error.diagnosticMessage, at: ExpressionLocation.locate(error, in: text, path: path, context))
        }
        let location = context.sourceMap.location(path)
        // The run parses an input's JSON text only when the input is the whole list; inside a larger expression it
        // would still be text there.
        let inputs = expression.references.filter { $0.first == "inputs" && $0.count > 1 }
        let compact = String(text.filter { !$0.isWhitespace })
        if let input = inputs.first, inputs.count > 1 || compact != "inputs.\(input[1])" {
            context.emit(.fanOutInputNotWhole(text, input: input[1], stage: stage.name), at: location)
        } else if errors.isEmpty {
            switch type.unwrapped {
            case .list(let item):
                context.fanOutItemTypes[stage.name] = item
            case .any:
                break
            default:
                context.emit(.fanOutNotList(text, type: type.description, stage: stage.name), at: location)
            }
        }
        context.recordReferences(of: expression, from: stage.name, .fanOut(location))
    }

    // MARK: - Concurrency

    /// `concurrency` above 1 needs every model of the stage (its own and its fallbacks) on a remote runtime (`openai`,
    /// `anthropic`: the model is not in this machine's memory) or on one declaring at least that many parallel slots
    /// (`parallel: N`: one resident model serving N requests at once).
    static func checkConcurrency(_ context: inout CompilationContext) {
        for stage in context.spec.stages {
            guard let concurrency = stage.concurrency, concurrency > 1, stage.isFanOut else { continue }
            let location = context.sourceMap.location("stages.\(stage.name).concurrency")
            for model in context.models[stage.name] ?? [] {
                if let problem = concurrencyProblem(model, concurrency: concurrency, context) {
                    context.emit(
                        .concurrencyUnsafe(stage.name, concurrency: concurrency, model: model.name, why: problem.why, fix: problem.fix),
                        at: location)
                    break
                }
            }
        }
    }

    private static func concurrencyProblem(
        _ model: ResolvedModel, concurrency: Int, _ context: CompilationContext
    ) -> (why: String, fix: String)? {
        guard let name = model.runtime, let runtime = context.profile?.spec.runtime(named: name) else {
            return (
                "has no runtime (no profile places it)",
                "validate with a profile that puts it on a remote runtime or one with 'parallel: \(concurrency)', or remove 'concurrency'"
            )
        }
        switch runtime.kind {
        case .openai, .anthropic:
            return nil
        case .ollama, .llamaServer, .echo:
            let fix =
                "set 'parallel: \(concurrency)' on runtime '\(name)' if its server answers that many requests at once "
                + "(llama-server --parallel, OLLAMA_NUM_PARALLEL), or lower 'concurrency'"
            guard let slots = runtime.parallel else {
                return ("is on runtime '\(name)' (\(runtime.kind.rawValue)), which runs here and declares no parallel slots", fix)
            }
            guard slots >= concurrency else {
                return (
                    "is on runtime '\(name)' (\(runtime.kind.rawValue)), which declares 'parallel: \(slots)', fewer than \(concurrency)",
                    fix
                )
            }
            return nil
        }
    }
}
