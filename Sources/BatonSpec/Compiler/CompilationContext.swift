/// Why one stage runs after another.
enum DependencyReason: Sendable, Hashable {
    /// Listed in `needs`.
    case needs(SourceLocation?)
    /// A template uses the other stage's output.
    case reference(SourceLocation?)
    /// A critic runs after the stage it reviews.
    case reviews(SourceLocation?)
    /// A stage that needs a reviewed stage also waits for its critic.
    case critic

    var location: SourceLocation? {
        switch self {
        case .needs(let location), .reference(let location), .reviews(let location): location
        case .critic: nil
        }
    }
}

/// The state the checks share while compiling one pipeline.
struct CompilationContext {
    let spec: PipelineSpec
    let sourceMap: SourceMap
    let file: SourceFile
    let sources: [String: SourceFile]
    let profile: ResolvedProfile?
    var diagnostics: [Diagnostic] = []

    /// For each stage, the stages it depends on, with why (first reason kept).
    var dependencies: [String: [(stage: String, reason: DependencyReason)]] = [:]
    /// Reviewed stage -> its critic.
    var criticOf: [String: String] = [:]
    /// Inputs used by any template.
    var usedInputs: Set<String> = []
    /// Stages whose output some template uses.
    var referencedStages: Set<String> = []
    /// Whether a template failed to parse (its references are then unknown, so usage warnings are skipped).
    var hasTemplateErrors = false
    /// Resolved model chains by stage.
    var models: [String: [ResolvedModel]] = [:]
    /// Resolved settings by stage.
    var settings: [String: StageSettings] = [:]

    init(spec: PipelineSpec, sourceMap: SourceMap, file: SourceFile, sources: [String: SourceFile], profile: ResolvedProfile?) {
        self.spec = spec
        self.sourceMap = sourceMap
        self.file = file
        self.sources = sources
        self.profile = profile
        for stage in spec.stages { dependencies[stage.name] = [] }
    }

    var stageNames: [String] { spec.stages.map(\.name) }

    func stage(_ name: String) -> StageSpec? { spec.stage(named: name) }

    func index(of stage: String) -> Int { spec.stages.firstIndex { $0.name == stage } ?? Int.max }

    mutating func emit(_ message: Diagnostic.Message, at location: SourceLocation?, notes: [Diagnostic.Note] = []) {
        diagnostics.append(Diagnostic(message, at: location, notes: notes))
    }

    /// The location of a stage's name in the file.
    func stageLocation(_ stage: String) -> SourceLocation? {
        sourceMap.keyLocation("stages.\(stage)")
    }

    mutating func addDependency(_ stage: String, on other: String, _ reason: DependencyReason) {
        guard dependencies[stage] != nil, dependencies[other] != nil, stage != other else { return }
        if dependencies[stage]!.contains(where: { $0.stage == other }) { return }
        dependencies[stage]!.append((other, reason))
    }

    /// After references are known: a stage that depends on a reviewed stage waits for its critic too.
    mutating func addCriticDependencies() {
        for stage in stageNames {
            for dependency in dependencies[stage] ?? [] {
                if let critic = criticOf[dependency.stage], critic != stage {
                    addDependency(stage, on: critic, .critic)
                }
            }
        }
    }

    // MARK: - Output stages and order

    /// The stages whose output is the result: `outputs`, else every non-critic stage that nothing but its critic depends on.
    var outputStages: [String] {
        if let outputs = spec.outputs { return outputs }
        return spec.stages.filter { stage in
            !stage.isCritic
                && !stageNames.contains { other in
                    other != criticOf[stage.name] && (dependencies[other] ?? []).contains { $0.stage == stage.name }
                }
        }.map(\.name)
    }

    /// A topological order that keeps file order where it can and runs a critic right after the stage it reviews.
    func executionOrder() -> [String] {
        var remaining = Dictionary(uniqueKeysWithValues: stageNames.map { ($0, Set((dependencies[$0] ?? []).map(\.stage))) })
        var order: [String] = []
        func take(_ stage: String) {
            order.append(stage)
            remaining[stage] = nil
            for key in remaining.keys { remaining[key]!.remove(stage) }
        }
        while !remaining.isEmpty {
            guard let next = stageNames.first(where: { remaining[$0]?.isEmpty == true }) else { break }
            take(next)
            if let critic = criticOf[next], remaining[critic]?.isEmpty == true {
                take(critic)
            }
        }
        return order
    }

    func plannedStage(_ name: String) -> PlannedStage {
        let stage = stage(name)!
        let critic = stage.reviews.map {
            CriticLoop(
                reviews: $0, maxRounds: stage.maxRounds ?? CriticLoop.defaultMaxRounds, onExhausted: stage.onExhausted ?? .fail)
        }
        return PlannedStage(
            name: name, role: stage.role, models: models[name] ?? [], settings: settings[name] ?? stage.settings,
            system: stage.system, prompt: stage.prompt ?? "",
            dependencies: (dependencies[name] ?? []).map(\.stage).sorted { index(of: $0) < index(of: $1) },
            critic: critic, reviewedBy: criticOf[name], output: stage.output ?? .text)
    }
}
