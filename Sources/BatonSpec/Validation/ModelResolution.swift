/// Layers each stage's settings, resolves its model chain to runtimes and footprints, and checks the budget.
///
/// Settings layer, first set wins: the stage, the pipeline's `defaults`, the profile role, the profile's `defaults`.
enum ModelResolution {
    static func run(_ context: inout CompilationContext) {
        let profile = context.profile?.spec
        let runtimeNames = profile.map { Set($0.runtimes.map(\.name)) } ?? []
        let budget = (context.spec.memoryBudget ?? profile?.memoryBudget)?.fixedSize
        let budgetOrigin = context.spec.memoryBudget != nil ? "the pipeline's" : "profile '\(profile?.name ?? "")'"

        // The pipeline's own `defaults.runtime` must exist too.
        if let profile, let runtime = context.spec.defaults.runtime, !runtimeNames.contains(runtime) {
            context.emit(
                .unknownRuntime(runtime, usedBy: "'defaults' uses", suggestion: Suggestion.closest(to: runtime, in: profile.runtimes.map(\.name))),
                at: context.sourceMap.location("defaults.runtime"))
        }

        for stage in context.spec.stages {
            let path = "stages.\(stage.name)"
            let role = stage.role.flatMap { profile?.role(named: $0) }
            var settings = stage.settings.overriding(context.spec.defaults)
            if let role { settings = settings.overriding(role.settings) }
            if let profile { settings = settings.overriding(profile.defaults) }

            var modelPath = "\(path).model"
            var chain = stage.settings.model
            if chain == nil, let defaults = context.spec.defaults.model {
                chain = defaults
                modelPath = "defaults.model"
            }
            if chain == nil, let preferred = role?.models {
                chain = preferred
                modelPath = ""
            }
            settings.model = chain
            context.settings[stage.name] = settings

            guard let chain else {
                context.emit(.missingModel(stage.name, role: stage.role), at: context.stageLocation(stage.name))
                continue
            }

            if let profile, let runtime = stage.settings.runtime, !runtimeNames.contains(runtime) {
                context.emit(
                    .unknownRuntime(runtime, usedBy: "stage '\(stage.name)' uses", suggestion: Suggestion.closest(to: runtime, in: profile.runtimes.map(\.name))),
                    at: context.sourceMap.location("\(path).runtime"))
            }

            var resolved: [ResolvedModel] = []
            for (index, reference) in chain.enumerated() {
                let location = modelPath.isEmpty ? context.stageLocation(stage.name) : context.sourceMap.location("\(modelPath)[\(index)]")
                let (pinned, name) = reference.split(knownRuntimes: runtimeNames)
                let entry = profile?.model(named: name)
                // A runtime the profile does not declare was reported where it is named (stage, defaults or
                // registry entry); here it only means the model has no usable runtime.
                var runtime = pinned ?? entry?.runtime ?? settings.runtime ?? profile?.defaultRuntime
                if let named = runtime, profile != nil, !runtimeNames.contains(named) {
                    runtime = nil
                } else if profile != nil, runtime == nil {
                    context.emit(.noRuntime(name, stage: stage.name), at: location)
                }
                let footprint = entry?.footprint
                if let footprint, let budget, footprint > budget {
                    var notes: [Diagnostic.Note] = []
                    if modelPath.isEmpty {
                        notes.append(Diagnostic.Note("the model comes from role '\(stage.role ?? "")' of profile '\(profile?.name ?? "")'", at: nil))
                    }
                    notes.append(Diagnostic.Note("the budget is \(budgetOrigin) 'memory_budget'", at: context.spec.memoryBudget != nil ? context.sourceMap.location("memory_budget") : nil))
                    context.emit(.modelExceedsBudget(name, footprint: footprint, budget: budget), at: location, notes: notes)
                }
                resolved.append(ResolvedModel(name: name, runtime: runtime, footprint: footprint))
            }
            context.models[stage.name] = resolved
        }
    }
}
