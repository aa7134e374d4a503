/// Checks each `uses:` stage (docs/pipeline-format.md, "Sub-pipelines"; calls.md): it sets only `uses`, `with`,
/// `needs`, `when` and `description`; its `with` names inputs the called pipeline declares and gives every required
/// one without a default; and the plan with every call inlined stays within the stage limit. Resolving and compiling
/// the called pipeline is ``PipelineCompiler``'s; the `with` templates are checked by ``TemplateCheck``.
enum CallCheck {
    /// The keys a `uses:` stage may have.
    static let callKeys: Set<String> = ["description", "needs", "when", "uses", "with"]

    /// Reports every other key of a `uses:` stage (`uses-conflict`) and takes it out of the spec, so that later checks
    /// do not report the same key again in their own terms (a prompt's names, a model, a route's field), and a `with`
    /// without `uses` (`missing-key`).
    static func removeConflicts(
        _ spec: inout PipelineSpec, sourceMap: SourceMap, calls: [String: CalledPipeline], diagnostics: inout [Diagnostic]
    ) {
        for index in spec.stages.indices {
            let stage = spec.stages[index]
            let path = "stages.\(stage.name)"
            func has(_ key: String) -> Bool { sourceMap.values["\(path).\(key)#key"] != nil }
            guard let reference = stage.uses else {
                if has("with") {
                    diagnostics.append(Diagnostic(.withWithoutUses(stage.name), at: sourceMap.keyLocation("\(path).with")))
                }
                continue
            }
            let pipeline = calls[stage.name]?.plan.pipeline ?? reference
            for key in AllowedKeys.stage where !callKeys.contains(key) && has(key) {
                diagnostics.append(
                    Diagnostic(.usesConflict(key, stage: stage.name, pipeline: pipeline), at: sourceMap.keyLocation("\(path).\(key)")))
            }
            spec.stages[index] = StageSpec(
                name: stage.name, description: stage.description, role: nil, settings: StageSettings(), system: nil, prompt: nil,
                promptFile: nil, needs: stage.needs, reviews: nil, maxRounds: nil, onExhausted: nil, output: nil, when: stage.when,
                uses: stage.uses, with: stage.with)
        }
    }

    /// The `with` of each call against the called pipeline's inputs, and a critic reviewing a call.
    static func run(_ context: inout CompilationContext) {
        for stage in context.spec.stages {
            if let reviewed = stage.reviews, let target = context.stage(reviewed), let reference = target.uses {
                context.emit(
                    .criticOfCall(stage.name, stage: reviewed, pipeline: context.calls[reviewed]?.plan.pipeline ?? reference),
                    at: context.sourceMap.location("stages.\(stage.name).reviews"))
            }
            guard let call = context.calls[stage.name] else { continue }
            checkWith(stage, call: call, &context)
        }
    }

    private static func checkWith(_ stage: StageSpec, call: CalledPipeline, _ context: inout CompilationContext) {
        let path = "stages.\(stage.name)"
        let with = stage.with ?? [:]
        let inputs = call.plan.inputs.map(\.name)
        for name in with.keys.sorted() where !inputs.contains(name) {
            context.emit(
                .withUnknownInput(name, pipeline: call.plan.pipeline, inputs: inputs, suggestion: Suggestion.closest(to: name, in: inputs)),
                at: context.sourceMap.keyLocation("\(path).with.\(name)"))
        }
        let location =
            context.sourceMap.values["\(path).with#key"] != nil
            ? context.sourceMap.keyLocation("\(path).with") : context.sourceMap.location("\(path).uses")
        // An entry whose value is not text is reported as such, not as missing too.
        for input in call.plan.inputs
        where input.required && input.defaultValue == nil && context.sourceMap.values["\(path).with.\(input.name)#key"] == nil {
            context.emit(.withMissingInput(input.name, pipeline: call.plan.pipeline, stage: stage.name), at: location)
        }
    }

    /// The stages of the plan with every call inlined: more than `limit` is an error at the call that crosses it.
    static func checkStageCount(limit: Int, _ context: inout CompilationContext) {
        guard !context.calls.isEmpty else { return }
        let own = context.spec.stages.filter { !$0.isCall }.count
        let total = own + context.calls.values.map(\.plan.stages.count).reduce(0, +)
        guard total > limit else { return }
        var count = own
        for stage in context.spec.stages {
            guard let call = context.calls[stage.name] else { continue }
            count += call.plan.stages.count
            if count > limit {
                context.emit(
                    .usesStageLimit(call.plan.pipeline, stages: total, limit: limit),
                    at: context.sourceMap.location("stages.\(stage.name).uses"))
                return
            }
        }
    }
}
