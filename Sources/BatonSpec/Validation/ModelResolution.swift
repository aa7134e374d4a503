/// Layers each stage's settings, resolves its model chain to runtimes and footprints, and checks the budget.
///
/// Settings layer, first set wins: the stage, the pipeline's `defaults`, the profile role, the profile's `defaults`.
enum ModelResolution {
    static func run(_ context: inout CompilationContext) {
        let scope = Scope(context)
        checkDefaultsRuntime(scope, &context)
        // A `uses:` stage runs no model: its called pipeline's stages were resolved when it was compiled. A tool stage
        // (`run`, `http`, `mcp`) loads no model at all: its plan has `models: []`.
        // A retrieve stage's model is its index's embedding model (RetrieveRules).
        for stage in context.spec.stages where !stage.isCall && !stage.isTool {
            if RetrieveRules.isWrittenAsRetrieve(stage, context) {
                // Its timeout and retries layer like any stage's, so a run and its resume (whose snapshot stores the
                // profile's defaults once and gives them back to every stage) see the same settings; its model is the
                // index's, never the defaults'.
                var settings = layeredSettings(stage, scope, context)
                settings.model = nil
                context.settings[stage.name] = settings
            } else {
                resolve(stage, scope, &context)
            }
        }
    }

    /// What every stage's resolution reads: the profile, its runtimes, the memory budget and discovery's inventory.
    struct Scope {
        let profile: ProfileSpec?
        let runtimeNames: Set<String>
        /// The fixed budget that a model the stage or the pipeline names must fit; nil for `auto` or none.
        let budget: ByteCount?
        /// The budget role mapping checks: the fixed one, or `auto` when discovery says what it gives here.
        let mappingBudget: RoleMapper.Budget?
        /// Says where the budget came from, attached to budget diagnostics.
        let budgetNote: Diagnostic.Note
        let inventory: ModelInventory

        init(_ context: CompilationContext) {
            let profile = context.profile?.spec
            self.profile = profile
            runtimeNames = profile.map { Set($0.runtimes.map(\.name)) } ?? []
            let budget = (context.spec.memoryBudget ?? profile?.memoryBudget)?.fixedSize
            self.budget = budget
            let budgetOrigin = context.spec.memoryBudget != nil ? "the pipeline's" : "profile '\(profile?.name ?? "")'"
            // Role mapping also checks `auto` (and no budget, which means auto at run time) when discovery
            // says what it gives here; offline, such budgets stay unchecked.
            let inventory = context.inventory ?? ModelInventory()
            self.inventory = inventory
            mappingBudget =
                budget.map { RoleMapper.Budget(bytes: $0) }
                ?? inventory.autoBudget.map { RoleMapper.Budget(bytes: $0, text: "\($0) ('auto' on this machine)") }
            budgetNote = Diagnostic.Note(
                budget != nil
                    ? "the budget is \(budgetOrigin) 'memory_budget'"
                    : (context.spec.memoryBudget ?? profile?.memoryBudget) == nil
                        ? "no 'memory_budget' is set, so the budget is the machine's memory minus a reserve"
                        : "the budget is \(budgetOrigin) 'memory_budget: auto', the machine's memory minus a reserve",
                at: context.spec.memoryBudget != nil ? context.sourceMap.location("memory_budget") : nil)
        }
    }

    /// The model chain a stage gets, and where it was written (`path` is empty when role mapping chose it).
    struct ChainChoice {
        var chain: [ModelReference]?
        var path: String
        var choice: ModelChoice?
        /// Role mapping's outcome, when it ran.
        var mapping: RoleMapper.Outcome?
    }

    /// The pipeline's own `defaults.runtime` must exist too.
    static func checkDefaultsRuntime(_ scope: Scope, _ context: inout CompilationContext) {
        guard let profile = scope.profile, let runtime = context.spec.defaults.runtime, !scope.runtimeNames.contains(runtime)
        else { return }
        context.emit(
            .unknownRuntime(
                runtime, usedBy: "'defaults' uses", suggestion: Suggestion.closest(to: runtime, in: profile.runtimes.map(\.name))),
            at: context.sourceMap.location("defaults.runtime"))
    }

    static func resolve(_ stage: StageSpec, _ scope: Scope, _ context: inout CompilationContext) {
        var settings = layeredSettings(stage, scope, context)
        let chosen = chooseChain(stage, settings: settings, scope, context)
        settings.model = chosen.chain
        context.settings[stage.name] = settings

        guard let chain = chosen.chain else {
            reportNoModel(stage, mapping: chosen.mapping, scope, &context)
            return
        }
        context.modelChoices[stage.name] = chosen.choice

        if let profile = scope.profile, let runtime = stage.settings.runtime, !scope.runtimeNames.contains(runtime) {
            context.emit(
                .unknownRuntime(
                    runtime, usedBy: "stage '\(stage.name)' uses",
                    suggestion: Suggestion.closest(to: runtime, in: profile.runtimes.map(\.name))),
                at: context.sourceMap.location("stages.\(stage.name).runtime"))
        }

        let resolved = chain.enumerated().map { index, reference in
            resolveModel(reference, index: index, stage: stage, modelPath: chosen.path, settings: settings, scope, &context)
        }
        context.models[stage.name] = resolved
        if !chosen.path.isEmpty {
            noteMissingModels(resolved, stage: stage, scope, &context)
        }
    }

    /// First set wins: the stage, the pipeline's `defaults`, the profile role, the profile's `defaults`.
    static func layeredSettings(_ stage: StageSpec, _ scope: Scope, _ context: CompilationContext) -> StageSettings {
        var settings = stage.settings.overriding(context.spec.defaults)
        if let role = stage.role.flatMap({ scope.profile?.role(named: $0) }) { settings = settings.overriding(role.settings) }
        if let profile = scope.profile { settings = settings.overriding(profile.defaults) }
        return settings
    }

    /// The stage's own `model`, else the pipeline's `defaults.model`, else what role mapping picks.
    static func chooseChain(
        _ stage: StageSpec, settings: StageSettings, _ scope: Scope, _ context: CompilationContext
    ) -> ChainChoice {
        if let chain = stage.settings.model {
            return ChainChoice(
                chain: chain, path: "stages.\(stage.name).model",
                choice: ModelChoice(rule: .stage, explanation: "stage '\(stage.name)' names \(Self.list(chain))"))
        }
        if let defaults = context.spec.defaults.model {
            return ChainChoice(
                chain: defaults, path: "defaults.model",
                choice: ModelChoice(rule: .pipelineDefaults, explanation: "the pipeline's defaults name \(Self.list(defaults))"))
        }
        var chosen = ChainChoice(path: "stages.\(stage.name).model")
        if let resolvedProfile = context.profile, let roleName = stage.role {
            let outcome = RoleMapper.map(
                role: roleName, profile: resolvedProfile, inventory: scope.inventory, budget: scope.mappingBudget,
                fallbackRuntime: settings.runtime)
            if !outcome.chain.isEmpty {
                chosen.chain = outcome.chain
                chosen.path = ""
                chosen.choice = outcome.choice
            }
            chosen.mapping = outcome
        }
        return chosen
    }

    /// A stage left without a model: say why role mapping found none, or that nothing names one.
    static func reportNoModel(_ stage: StageSpec, mapping: RoleMapper.Outcome?, _ scope: Scope, _ context: inout CompilationContext) {
        guard let mapping, mapping.hasPreferences || mapping.capability != nil else {
            context.emit(.missingModel(stage.name, role: stage.role), at: context.stageLocation(stage.name))
            return
        }
        var notes = mapping.skipped.map { Diagnostic.Note($0.description, at: nil) }
        if scope.mappingBudget != nil {
            notes.append(scope.budgetNote)
        }
        context.emit(
            Self.noModelFits(
                stage.name, role: stage.role ?? "", profile: scope.profile?.name ?? "", mapping: mapping,
                budget: scope.mappingBudget),
            at: context.stageLocation(stage.name), notes: notes)
    }

    /// One model of the chain: its runtime and footprint, checked against the profile, the budget and ModelRules.
    static func resolveModel(
        _ reference: ModelReference, index: Int, stage: StageSpec, modelPath: String, settings: StageSettings, _ scope: Scope,
        _ context: inout CompilationContext
    ) -> ResolvedModel {
        let profile = scope.profile
        let location = modelPath.isEmpty ? context.stageLocation(stage.name) : context.sourceMap.location("\(modelPath)[\(index)]")
        let (pinned, name) = reference.split(knownRuntimes: scope.runtimeNames)
        let entry = profile?.model(named: name)
        // A runtime the profile does not declare was reported where it is named (stage, defaults or
        // registry entry); here it only means the model has no usable runtime.
        var runtime = pinned ?? entry?.runtime ?? settings.runtime ?? profile?.defaultRuntime
        if let named = runtime, profile != nil, !scope.runtimeNames.contains(named) {
            runtime = nil
        } else if profile != nil, runtime == nil {
            context.emit(.noRuntime(name, stage: stage.name), at: location)
        }
        let footprint = entry?.footprint
        // A model the stage or the pipeline names must fit; role mapping already skipped the ones that do not.
        if let footprint, let budget = scope.budget, footprint > budget, !modelPath.isEmpty {
            context.emit(.modelExceedsBudget(name, footprint: footprint, budget: budget), at: location, notes: [scope.budgetNote])
        }
        // Settings the model refuses (ModelRules): the clients leave them out and say so; say it here first.
        let kind = runtime.flatMap { profile?.runtime(named: $0)?.kind }
        for refusal in ModelRules.apply(model: name, kind: kind, settings: settings).refusals {
            let (at, notes) = Self.settingLocation(refusal.setting, stage: stage, context: context, fallback: location)
            context.emit(.runtimeLimit(refusal.message(stage: stage.name, model: name)), at: at, notes: notes)
        }
        return ResolvedModel(name: name, runtime: runtime, footprint: footprint)
    }

    /// Says when discovery found a model the stage or pipeline names missing; the stage keeps it (the run will fail
    /// or fall back).
    static func noteMissingModels(
        _ resolved: [ResolvedModel], stage: StageSpec, _ scope: Scope, _ context: inout CompilationContext
    ) {
        guard let profile = scope.profile, var stated = context.modelChoices[stage.name] else { return }
        let runtimes = Dictionary(profile.runtimes.map { ($0.name, $0) }) { first, _ in first }
        let missing = resolved.filter { model in
            guard let runtime = model.runtime else { return false }
            return !scope.inventory.availability(of: model.name, on: runtimes[runtime]).isAvailable
        }
        if !missing.isEmpty {
            stated.explanation += "; not installed: " + missing.map(\.description).joined(separator: ", ")
            context.modelChoices[stage.name] = stated
        }
    }

    /// Where a resolved setting of `stage` was written: on the stage, in the pipeline's `defaults`, or (for a
    /// role's or the profile's value) at `fallback` with a note naming where it came from.
    static func settingLocation(
        _ key: String, stage: StageSpec, context: CompilationContext, fallback: SourceLocation?
    ) -> (SourceLocation?, [Diagnostic.Note]) {
        let path = "stages.\(stage.name).\(key)"
        if context.sourceMap.values[path] != nil { return (context.sourceMap.location(path), []) }
        if context.sourceMap.values["defaults.\(key)"] != nil { return (context.sourceMap.location("defaults.\(key)"), []) }
        let profile = context.profile?.spec.name ?? ""
        let role = stage.role.flatMap { context.profile?.spec.role(named: $0) }
        let roleSetsIt: Bool
        switch key {
        case "temperature": roleSetsIt = role?.settings.temperature != nil
        case "top_p": roleSetsIt = role?.settings.topP != nil
        default: roleSetsIt = role?.settings.stop != nil
        }
        let origin = roleSetsIt ? "role '\(stage.role ?? "")' of profile '\(profile)'" : "the 'defaults' of profile '\(profile)'"
        return (
            fallback, [Diagnostic.Note("\(key) comes from \(origin) when the stage and the pipeline's defaults do not set it", at: nil)]
        )
    }

    static func list(_ chain: [ModelReference]) -> String {
        chain.count == 1 ? chain[0].text : "[" + chain.map(\.text).joined(separator: ", ") + "]"
    }

    /// A stage whose role could not be mapped to any model.
    static func noModelFits(
        _ stage: String, role: String, profile: String, mapping: RoleMapper.Outcome, budget: RoleMapper.Budget?
    ) -> Diagnostic.Message {
        let fit = "available" + (budget.map { " and fits \($0.text)" } ?? "")
        let owner = "role '\(role)' of profile '\(profile)'"
        let scored = mapping.capability.map { "no local model with a '\($0)' score" }
        let reason: String
        switch (mapping.hasPreferences, scored) {
        case (true, let scored?): reason = "none of the models that \(owner) prefers, and \(scored), is \(fit)"
        case (true, nil): reason = "none of the models that \(owner) prefers is \(fit)"
        case (false, let scored?): reason = "\(owner) lists no models, and \(scored) is \(fit)"
        case (false, nil): reason = "\(owner) lists no models"
        }
        return Diagnostic.Message(
            "missing-model",
            "stage '\(stage)' has no model: " + reason
                + "; set 'model' on the stage, add a model that fits to the role's 'models', or raise 'memory_budget'")
    }
}
