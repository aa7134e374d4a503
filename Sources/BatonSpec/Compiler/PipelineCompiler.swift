/// The result of compiling one pipeline file.
public struct CompileResult: Sendable {
    /// The plan, when the file has no errors.
    public var plan: ExecutionPlan?
    /// Every problem found, errors and warnings, sorted by location.
    public var diagnostics: [Diagnostic]
    /// The files read for this pipeline (the pipeline and its prompt files), for printing snippets.
    public var sources: [String: SourceFile]
    /// The decoded pipeline, when the file could be decoded.
    public var spec: PipelineSpec?
}

/// Compiles pipeline files to execution plans: YAML nodes, decoded spec, checks, then the plan.
///
/// Pure: prompt files come through the `readFile` closure, the profile is a parameter.
public struct PipelineCompiler: Sendable {
    /// The profile that places models on runtimes and supplies role defaults; nil checks the pipeline alone.
    public var profile: ResolvedProfile?
    /// Returns the file at a path (relative paths are already joined to the pipeline's folder), or throws why it
    /// cannot: a missing file is reported as `file-not-found`, any other reason as `unreadable-file`.
    public var readFile: @Sendable (String) throws(SourceReadError) -> SourceFile
    /// What model discovery found, for mapping roles to installed models; nil compiles offline.
    public var inventory: ModelInventory?

    /// Creates a compiler; without `readFile`, every prompt file is missing.
    public init(
        profile: ResolvedProfile?, inventory: ModelInventory? = nil,
        readFile: @escaping @Sendable (String) throws(SourceReadError) -> SourceFile = { _ throws(SourceReadError) in
            throw .notFound
        }
    ) {
        self.profile = profile
        self.inventory = inventory
        self.readFile = readFile
    }

    /// Creates a compiler whose reader only says found or not: nil is ``SourceReadError/notFound``.
    public init(
        profile: ResolvedProfile?, inventory: ModelInventory? = nil, readFile: @escaping @Sendable (String) -> SourceFile?
    ) {
        self.init(profile: profile, inventory: inventory) { path throws(SourceReadError) in
            guard let file = readFile(path) else { throw .notFound }
            return file
        }
    }

    /// Compiles `file`. Never throws: every problem is a diagnostic in the result.
    public func compile(_ file: SourceFile) -> CompileResult {
        let document = PipelineDecoder.decode(file)
        var sources = [file.path: file]
        guard var spec = document.spec else {
            return CompileResult(plan: nil, diagnostics: document.diagnostics.sortedByLocation(), sources: sources, spec: nil)
        }
        var diagnostics = document.diagnostics
        var sourceMap = document.sourceMap

        // Prompt files join the spec as if written inline; their templates are located in their own file.
        for index in spec.stages.indices {
            guard let promptFile = spec.stages[index].promptFile, spec.stages[index].prompt == nil else { continue }
            let path = Self.join(directoryOf: file.path, promptFile)
            let stagePath = "stages.\(spec.stages[index].name)"
            do {
                let promptSource = try readFile(path)
                sources[promptSource.path] = promptSource
                spec.stages[index].prompt = promptSource.text
                sourceMap.templates["\(stagePath).prompt"] = .wholeFile(promptSource.path)
            } catch {
                diagnostics.append(
                    Diagnostic(.promptFileUnread(promptFile, error), at: sourceMap.location("\(stagePath).prompt_file")))
            }
        }

        var context = CompilationContext(
            spec: spec, sourceMap: sourceMap, file: file, sources: sources, profile: profile, inventory: inventory)
        StageGraphCheck.run(&context)
        // Routes first: whether a stage may be skipped shapes the types the fan-out lists and templates are checked
        // against; fan-out lists next: their item types shape the checks of the templates that use the items.
        RouteCheck.run(&context)
        FanOutCheck.run(&context)
        TemplateCheck.run(&context)
        ConditionCheck.run(&context)
        StageGraphCheck.checkCycles(&context)
        ModelResolution.run(&context)
        FanOutCheck.checkConcurrency(&context)
        UsageCheck.run(&context)
        diagnostics += context.diagnostics

        let sorted = diagnostics.sortedByLocation()
        guard !sorted.hasErrors else {
            return CompileResult(plan: nil, diagnostics: sorted, sources: sources, spec: spec)
        }
        let plan = ExecutionPlan(
            pipeline: spec.name, description: spec.description, inputs: spec.inputs,
            memoryBudget: spec.memoryBudget ?? profile?.spec.memoryBudget, profile: profile?.spec.name,
            stages: context.executionOrder().map { context.plannedStage($0) }, outputs: context.outputStages)
        return CompileResult(plan: plan, diagnostics: sorted, sources: sources, spec: spec)
    }

    /// `base`'s folder joined with `relative`, unless `relative` is absolute.
    static func join(directoryOf base: String, _ relative: String) -> String {
        if relative.hasPrefix("/") { return relative }
        guard let slash = base.lastIndex(of: "/") else { return relative }
        return String(base[...slash]) + relative
    }
}
