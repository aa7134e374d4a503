/// What a retrieve stage may hold, what its index and `cite` mean, and the planned indexes (docs/pipeline-format.md,
/// "Retrieval").
///
/// A retrieve stage runs no chat model, is no critic and has a fixed output (the chunks it found), so it takes only
/// `retrieve`, `needs`, `when`, `timeout`, `for_each` (one query per item, with `as`, `max_items`, `concurrency`) and
/// `description`; any other key is `retrieve-stage-key`, reported at the key and taken out of the spec, as
/// ``ToolStageRules`` does for tool stages. Its model is its index's `embed.model`, resolved like a stage's model.
enum RetrieveRules {
    /// The keys a retrieve stage takes.
    static let allowedOnRetrieve: Set<String> = [
        "retrieve", "needs", "when", "timeout", "for_each", "as", "max_items", "concurrency", "description",
    ]
    /// The keys that make a stage of another kind: `stage-kinds` (or `uses-conflict`) reports those.
    static let otherKinds = ["prompt", "prompt_file", "run", "http", "mcp", "uses"]

    static func removeConflicts(_ spec: inout PipelineSpec, sourceMap: SourceMap, diagnostics: inout [Diagnostic]) {
        for index in spec.stages.indices {
            let stage = spec.stages[index]
            let path = "stages.\(stage.name)"
            func has(_ key: String) -> Bool { sourceMap.values["\(path).\(key)#key"] != nil }
            // A stage of two kinds is `stage-kinds` already; its keys are judged once it is one.
            guard has("retrieve"), !otherKinds.contains(where: has) else { continue }
            for key in AllowedKeys.stage where !allowedOnRetrieve.contains(key) && has(key) {
                diagnostics.append(Diagnostic(.retrieveStageKey(key, stage: stage.name), at: sourceMap.keyLocation("\(path).\(key)")))
            }
            spec.stages[index] = StageSpec(
                name: stage.name, description: stage.description, role: nil, settings: StageSettings(timeout: stage.settings.timeout),
                system: nil, prompt: nil, promptFile: nil, needs: stage.needs, reviews: nil, maxRounds: nil, onExhausted: nil,
                output: nil, when: stage.when, forEach: stage.forEach, itemName: stage.itemName, maxItems: stage.maxItems,
                concurrency: stage.concurrency, retrieve: stage.retrieve)
        }
    }

    /// Whether `stage` was written as a retrieve stage (its `retrieve:` may not have decoded).
    static func isWrittenAsRetrieve(_ stage: StageSpec, _ context: CompilationContext) -> Bool {
        stage.isRetrieve || context.sourceMap.values["stages.\(stage.name).retrieve#key"] != nil
    }

    /// The indexes stages may query: the pipeline's, then the profile's under names the pipeline does not use.
    static func declaredIndexes(_ context: CompilationContext) -> [IndexSpec] {
        let own = context.spec.indexes ?? []
        let names = Set(own.map(\.name))
        return own + (context.profile?.spec.indexes ?? []).filter { !names.contains($0.name) }
    }

    /// Index names, embedding models, critics of retrieve stages; plans the indexes and gives each retrieve stage its
    /// index's model (so the memory planner, `baton plan` and fan-out's concurrency check count it).
    static func run(_ context: inout CompilationContext) {
        let declared = declaredIndexes(context)
        let names = declared.map(\.name)
        let profile = context.profile?.spec
        let pipelineFolder = IndexDecoder.folder(of: context.file.path)
        for index in declared {
            context.indexPlans[index.name] = IndexPlanning.plan(
                index, profile: profile, currentDirectory: context.currentDirectory, pipelineFolder: pipelineFolder)
        }
        checkModels(&context)

        var used: Set<String> = []
        for stage in context.spec.stages {
            let path = "stages.\(stage.name)"
            if let reviewed = stage.reviews, let target = context.stage(reviewed), isWrittenAsRetrieve(target, context) {
                context.emit(.criticReviewsRetrieve(stage.name, stage: reviewed), at: context.sourceMap.location("\(path).reviews"))
            }
            guard let retrieve = stage.retrieve else { continue }
            used.insert(retrieve.index)
            guard let plan = context.indexPlans[retrieve.index] else {
                let suggestion = Suggestion.closest(to: retrieve.index, in: names)
                // The index meant is used, misspelt: it is not reported unused as well.
                if let suggestion { used.insert(suggestion) }
                context.emit(
                    .indexUnknown(retrieve.index, stage: stage.name, indexes: names, suggestion: suggestion),
                    at: context.sourceMap.location("\(path).retrieve.index"))
                continue
            }
            context.models[stage.name] = [plan.model]
        }
        for index in context.spec.indexes ?? [] where !used.contains(index.name) {
            context.emit(.indexUnused(index.name), at: context.sourceMap.keyLocation("indexes.\(index.name)"))
        }
        checkCalledIndexes(&context)
    }

    /// With a profile: a pipeline index's `embed.model` must be in the registry (or pinned to a runtime), have a runtime,
    /// and fit a fixed budget. A profile's own indexes are checked when the profile is resolved.
    private static func checkModels(_ context: inout CompilationContext) {
        guard let profile = context.profile?.spec else { return }
        let runtimes = Set(profile.runtimes.map(\.name))
        let registry = profile.models.map(\.name)
        let budget = (context.spec.memoryBudget ?? profile.memoryBudget)?.fixedSize
        for index in context.spec.indexes ?? [] {
            let location = context.sourceMap.location("indexes.\(index.name).embed.model")
            let (pinned, name) = ModelReference(index.model).split(knownRuntimes: runtimes)
            if pinned == nil, !registry.contains(name) {
                context.emit(
                    .unknownModel(
                        name, usedBy: "index '\(index.name)' embeds with", suggestion: Suggestion.closest(to: name, in: registry)),
                    at: location)
                continue
            }
            guard let model = context.indexPlans[index.name]?.model else { continue }
            if model.runtime == nil {
                context.emit(.indexNoRuntime(name, index: index.name), at: location)
            }
            if let footprint = model.footprint, let budget, footprint > budget {
                context.emit(.modelExceedsBudget(name, footprint: footprint, budget: budget), at: location)
            }
        }
    }

    /// A called pipeline's indexes join the plan's; one of a name this plan already has must be the same index.
    private static func checkCalledIndexes(_ context: inout CompilationContext) {
        var known = context.indexPlans
        for name in context.calls.keys.sorted() {
            let call = context.calls[name]!
            for index in call.plan.indexes ?? [] {
                if let existing = known[index.name] {
                    if existing != index {
                        context.emit(
                            .indexConflict(index.name, pipeline: call.plan.pipeline),
                            at: context.sourceMap.location("stages.\(name).uses"))
                    }
                } else {
                    known[index.name] = index
                }
            }
        }
    }

    /// `cite: X`: X is a retrieve stage with one list of chunks that the citing model stage waits for, and the citing
    /// stage answers a JSON object. Runs once the dependencies are known (templates, conditions, `needs`).
    static func checkCites(_ context: inout CompilationContext) {
        let retrieveStages = context.spec.stages.filter(\.isRetrieve).map(\.name)
        for stage in context.spec.stages {
            guard let cite = stage.cite else { continue }
            let location = context.sourceMap.location("stages.\(stage.name).cite")
            func invalid(_ problem: String) { context.emit(.citeInvalid(stage.name, cite: cite, problem: problem), at: location) }
            if stage.isCritic {
                invalid("is on a critic, whose answer is a verdict; set 'cite' on the stage that answers from the chunks")
                continue
            }
            guard cite != stage.name else {
                invalid("names the stage itself; name the retrieve stage whose chunks it answers from")
                continue
            }
            guard let target = context.stage(cite) else {
                let hint =
                    Suggestion.closest(to: cite, in: retrieveStages).map { "; did you mean '\($0)'?" }
                    ?? (retrieveStages.isEmpty
                        ? "; add a stage with 'retrieve:' and cite it"
                        : "; the retrieve stages are \(retrieveStages.map { "'\($0)'" }.joined(separator: ", "))")
                invalid("names no stage of this pipeline" + hint)
                continue
            }
            guard target.isRetrieve else {
                if !isWrittenAsRetrieve(target, context) {
                    invalid(
                        "names stage '\(cite)', which is \(TemplateCheck.kindText(of: target)), not a retrieve stage; "
                            + "cite a stage with 'retrieve:'")
                }
                continue
            }
            if target.forEach != nil {
                invalid("names stage '\(cite)', which runs once per item ('for_each'), so it has no one list of chunks to cite")
                continue
            }
            context.referencedStages.insert(cite)
            if !upstream(of: stage.name, context).contains(cite) {
                context.emit(.citeNotUpstream(stage.name, cite: cite), at: location)
            }
            checkCitingOutput(stage, &context)
        }
    }

    /// The stages `stage` waits for, directly or through others.
    static func upstream(of stage: String, _ context: CompilationContext) -> Set<String> {
        var seen: Set<String> = []
        var pending = [stage]
        while let next = pending.popLast() {
            for dependency in context.dependencies[next] ?? [] where seen.insert(dependency.stage).inserted {
                pending.append(dependency.stage)
            }
        }
        return seen
    }

    /// A citing stage answers JSON: no schema (the default {answer, citations}) or an object schema.
    private static func checkCitingOutput(_ stage: StageSpec, _ context: inout CompilationContext) {
        let location = context.sourceMap.location("stages.\(stage.name).cite")
        guard let output = stage.output, output.format == .json else {
            context.emit(.citeNotJSON(stage.name, problem: "its output is text"), at: location)
            return
        }
        guard let schema = output.schema else { return }
        let outputLocation = context.sourceMap.location("stages.\(stage.name).output.schema") ?? location
        guard case .string("object")? = schema["type"] else {
            let found = schema["type"].map { "'type: \($0.stringValue ?? "a non-string")'" } ?? "no 'type'"
            context.emit(.citeNotJSON(stage.name, problem: "its output schema has \(found), not 'type: object'"), at: outputLocation)
            return
        }
        if let properties = schema["properties"], case .object = properties {
            return
        } else if schema["properties"] != nil {
            context.emit(.citeNotJSON(stage.name, problem: "its output schema's 'properties' is not a mapping"), at: outputLocation)
        }
    }
}
