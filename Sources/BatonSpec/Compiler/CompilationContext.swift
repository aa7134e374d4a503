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
    /// The stage's `when:` condition reads the other stage.
    case condition(SourceLocation?)
    /// A branch of the other stage's `route` runs this stage.
    case route(SourceLocation?)
    /// The stage's `for_each` list reads the other stage.
    case fanOut(SourceLocation?)

    var location: SourceLocation? {
        switch self {
        case .needs(let location), .reference(let location), .reviews(let location), .condition(let location),
            .route(let location), .fanOut(let location):
            location
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
    /// What discovery found; nil compiles offline.
    let inventory: ModelInventory?
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
    /// How each stage got its model.
    var modelChoices: [String: ModelChoice] = [:]
    /// Parsed `when:` conditions by stage (those that parse).
    var conditions: [String: Expression] = [:]
    /// For each stage a route's branch runs: the router and the branches that run it.
    var routedBy: [String: RouteChoice] = [:]
    /// Parsed `for_each` expressions by stage (those that parse).
    var fanOutSources: [String: Expression] = [:]
    /// The type of the items of each `for_each` stage's list, when known (else `any`).
    var fanOutItemTypes: [String: ExpressionType] = [:]
    /// The pipelines `uses:` stages call, by stage, for those that compiled without errors.
    var calls: [String: CalledPipeline] = [:]
    /// Tool definitions already reported for reading `args.*` without `parameters` (once per stage).
    var argsWithoutParameters: Set<String> = []
    /// The indexes retrieve stages may query (the pipeline's and the profile's), planned, by name.
    var indexPlans: [String: IndexPlan] = [:]
    /// The folder a relative file path is relative to, for the absolute roots of indexes.
    var currentDirectory = "/"

    /// Each stage's position in the file.
    let stageIndex: [String: Int]
    /// The stage names in file order.
    let stageNames: [String]

    init(
        spec: PipelineSpec, sourceMap: SourceMap, file: SourceFile, sources: [String: SourceFile], profile: ResolvedProfile?,
        inventory: ModelInventory? = nil
    ) {
        self.spec = spec
        self.sourceMap = sourceMap
        self.file = file
        self.sources = sources
        self.profile = profile
        self.inventory = inventory
        stageNames = spec.stages.map(\.name)
        stageIndex = Dictionary(spec.stages.enumerated().map { ($1.name, $0) }) { first, _ in first }
        for stage in spec.stages { dependencies[stage.name] = [] }
    }

    func stage(_ name: String) -> StageSpec? { stageIndex[name].map { spec.stages[$0] } }

    func index(of stage: String) -> Int { stageIndex[stage] ?? Int.max }

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

    /// Records what an expression written on `stage` (its condition, its `for_each` list) reads: the inputs it uses,
    /// and the other stages it reads, which become its dependencies for `reason`.
    mutating func recordReferences(of expression: Expression, from stage: String, _ reason: DependencyReason) {
        for reference in expression.references where reference.count > 1 {
            switch reference[0] {
            case "inputs":
                usedInputs.insert(reference[1])
            case "stages" where reference[1] != stage && stageIndex[reference[1]] != nil:
                referencedStages.insert(reference[1])
                addDependency(stage, on: reference[1], reason)
            default:
                break
            }
        }
    }

    /// For each stage, the stages that depend on it.
    var dependents: [String: Set<String>] {
        var result: [String: Set<String>] = [:]
        for (stage, list) in dependencies {
            for dependency in list { result[dependency.stage, default: []].insert(stage) }
        }
        return result
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
        let dependents = self.dependents
        let definitions = toolDefinitions
        // A tool definition runs only when a model calls it: it has no output of its own.
        return spec.stages.filter { stage in
            !stage.isCritic && !definitions.contains(stage.name)
                && (dependents[stage.name] ?? []).subtracting([criticOf[stage.name]].compactMap { $0 }).isEmpty
        }.map(\.name)
    }

    /// A topological order that keeps file order where it can and runs a critic right after the stage it reviews.
    func executionOrder() -> [String] {
        // Kahn's algorithm with the ready stages kept sorted by file position (a binary heap).
        var waiting: [String: Int] = [:]
        for name in stageNames { waiting[name] = dependencies[name]?.count ?? 0 }
        let dependents = self.dependents
        var ready = Heap()
        for name in stageNames where waiting[name] == 0 { ready.push(index(of: name)) }
        var order: [String] = []
        var done: Set<String> = []
        func take(_ name: String) {
            order.append(name)
            done.insert(name)
            for dependent in dependents[name] ?? [] {
                waiting[dependent]! -= 1
                if waiting[dependent] == 0 { ready.push(index(of: dependent)) }
            }
        }
        while let next = ready.pop() {
            let name = stageNames[next]
            guard !done.contains(name) else { continue }
            take(name)
            // A critic right after the stage it reviews, when nothing else holds it back.
            if let critic = criticOf[name], !done.contains(critic), waiting[critic] == 0 {
                take(critic)
            }
        }
        return order
    }

    func plannedStage(_ name: String) -> PlannedStage {
        let stage = stage(name)!
        if let retrieve = stage.retrieve { return plannedRetrieveStage(stage, retrieve) }
        let critic = stage.reviews.map {
            CriticLoop(
                reviews: $0, maxRounds: stage.maxRounds ?? CriticLoop.defaultMaxRounds, onExhausted: stage.onExhausted ?? .fail)
        }
        return PlannedStage(
            name: name, role: stage.role, models: models[name] ?? [], settings: settings[name] ?? stage.settings,
            system: stage.system, prompt: stage.prompt ?? "",
            dependencies: (dependencies[name] ?? []).map(\.stage).sorted { index(of: $0) < index(of: $1) },
            critic: critic, reviewedBy: criticOf[name], output: stage.output ?? .text, modelChoice: modelChoices[name],
            condition: conditions[name], routedBy: routedBy[name], route: stage.route, fanOut: fanOut(of: stage),
            tool: toolStep(of: stage), effects: stage.effects, approve: stage.approve,
            toolUse: stage.tools.map { ToolUse(tools: $0, maxToolCalls: stage.maxToolCalls ?? 1, mode: stage.toolMode ?? .json) },
            parameters: stage.parameters, description: stage.isTool ? stage.description : nil, cite: stage.cite,
            toolDefinition: toolDefinitions.contains(name) ? true : nil)
    }

    /// A retrieve stage as planned: its index's embedding model, no prompt, the chunks as its JSON output.
    private func plannedRetrieveStage(_ stage: StageSpec, _ retrieve: RetrieveSpec) -> PlannedStage {
        PlannedStage(
            name: stage.name, role: nil, models: models[stage.name] ?? [], settings: settings[stage.name] ?? stage.settings, system: nil,
            prompt: "",
            dependencies: sortedDependencies(of: stage.name), critic: nil, reviewedBy: nil,
            output: OutputSpec(format: .json, schema: nil), condition: conditions[stage.name], routedBy: routedBy[stage.name],
            fanOut: fanOut(of: stage),
            retrieve: RetrieveStep(
                index: retrieve.index, query: retrieve.query, topK: retrieve.topK ?? RetrieveSpec.defaultTopK,
                hybrid: retrieve.hybrid ?? true, minScore: retrieve.minScore))
    }

    /// The plan's indexes: those its retrieve stages (its called pipelines' included) query, sorted by name; nil when
    /// no stage retrieves, so plans without retrieval stay byte-identical.
    func plannedIndexes(for stages: [PlannedStage]) -> [IndexPlan]? {
        let used = Set(stages.compactMap { $0.retrieve?.index })
        guard !used.isEmpty else { return nil }
        var known = indexPlans
        for name in calls.keys.sorted() {
            for index in calls[name]!.plan.indexes ?? [] where known[index.name] == nil { known[index.name] = index }
        }
        return used.sorted().compactMap { known[$0] }
    }

    /// The tool stages some stage names in its `tools:`: tool definitions, not walked on their own.
    var toolDefinitions: Set<String> {
        let named = Set(spec.stages.flatMap { $0.tools ?? [] })
        return Set(spec.stages.filter { $0.isTool && named.contains($0.name) }.map(\.name))
    }

    /// The plan's MCP servers: this pipeline's, its called pipelines', then the profile's, the first of a name
    /// winning, sorted by name; nil when no planned stage runs or uses a tool (plans without tools stay unchanged).
    func plannedMCPServers(for stages: [PlannedStage]) -> [MCPServerSpec]? {
        guard stages.contains(where: { $0.isTool || $0.toolUse != nil }) else { return nil }
        var servers: [String: MCPServerSpec] = [:]
        let called = calls.keys.sorted().flatMap { calls[$0]!.plan.mcpServers ?? [] }
        for server in (spec.mcpServers ?? []) + called + (profile?.spec.mcpServers ?? []) where servers[server.name] == nil {
            servers[server.name] = server
        }
        return servers.isEmpty ? nil : servers.keys.sorted().map { servers[$0]! }
    }

    /// The plan's tool policy: the compile-time profile's `tools:` (none: an empty allow-list); nil without a
    /// profile or when no planned stage runs or uses a tool.
    func plannedToolPolicy(for stages: [PlannedStage]) -> ToolPolicy? {
        guard let profile, stages.contains(where: { $0.isTool || $0.toolUse != nil }) else { return nil }
        return profile.spec.tools ?? ToolPolicy(allow: [])
    }

    /// The planned form of a tool stage's keys; nil for a model stage.
    func toolStep(of stage: StageSpec) -> ToolStep? {
        if let argv = stage.run {
            return .run(
                RunStep(
                    argv: argv, shell: stage.shell ?? false, stdin: stage.stdin, cwd: stage.cwd, env: stage.env,
                    exitCodes: stage.exitCodes ?? RunStep.defaultExitCodes, maxOutput: stage.maxOutput ?? RunStep.defaultMaxOutput))
        }
        if let http = stage.http { return .http(http) }
        if let mcp = stage.mcp { return .mcp(mcp) }
        return nil
    }

    /// The stage's ``FanOut``: a `repeat` is a fan-out over its samples, `max_items` being the sample count.
    func fanOut(of stage: StageSpec) -> FanOut? {
        if let count = stage.repeatCount {
            return FanOut(
                source: nil, itemName: stage.itemName ?? FanOut.defaultItemName, maxItems: count, concurrency: stage.concurrency ?? 1,
                repeatCount: count, vote: stage.vote)
        }
        guard stage.forEach != nil, let source = fanOutSources[stage.name] else { return nil }
        return FanOut(
            source: source, itemName: stage.itemName ?? FanOut.defaultItemName,
            maxItems: stage.maxItems ?? FlowDecoder.maxItemsRange.upperBound,
            concurrency: stage.concurrency ?? 1, repeatCount: nil, vote: nil)
    }
}

/// A min-heap of stage positions.
private struct Heap {
    private var items: [Int] = []

    mutating func push(_ value: Int) {
        items.append(value)
        var child = items.count - 1
        while child > 0 {
            let parent = (child - 1) / 2
            guard items[child] < items[parent] else { break }
            items.swapAt(child, parent)
            child = parent
        }
    }

    mutating func pop() -> Int? {
        guard !items.isEmpty else { return nil }
        items.swapAt(0, items.count - 1)
        let top = items.removeLast()
        var parent = 0
        while true {
            let left = parent * 2 + 1
            let right = left + 1
            var smallest = parent
            if left < items.count, items[left] < items[smallest] { smallest = left }
            if right < items.count, items[right] < items[smallest] { smallest = right }
            guard smallest != parent else { break }
            items.swapAt(parent, smallest)
            parent = smallest
        }
        return top
    }
}
