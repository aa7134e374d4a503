import Foundation

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
    /// The files of the pipelines it calls (`uses:`), directly or through others, by path, sorted.
    public var calledFiles: [String] = []
}

/// Compiles pipeline files to execution plans: YAML nodes, decoded spec, checks, then the plan.
///
/// Pure: prompt files and called pipelines come through closures, the profile is a parameter.
public struct PipelineCompiler: Sendable {
    /// The profile that places models on runtimes and supplies role defaults; nil checks the pipeline alone.
    public var profile: ResolvedProfile?
    /// Returns the file at a path (relative paths are already joined to the pipeline's folder), or throws why it
    /// cannot: a missing file is reported as `file-not-found`, any other reason as `unreadable-file`.
    public var readFile: @Sendable (String) throws(SourceReadError) -> SourceFile
    /// What model discovery found, for mapping roles to installed models; nil compiles offline.
    public var inventory: ModelInventory?
    /// Returns the pipeline a `uses:` value names, called from the file at `fromFile`: a name as `baton run` finds it
    /// on the search path, or a path ending in .yaml/.yml relative to `fromFile`'s folder. The returned file's path
    /// identifies the pipeline (cycles, the cache), so the same file must come back under the same path.
    public var resolvePipeline: @Sendable (_ nameOrPath: String, _ fromFile: String) throws(SourceReadError) -> SourceFile =
        { _, _ throws(SourceReadError) in throw .notFound }
    /// The pipeline names on the search path, for the did-you-mean of a `uses:` that names none of them.
    public var pipelineNames: @Sendable () -> [String] = { [] }
    /// The folder relative file paths are relative to, which makes the roots of indexes absolute; nil: the process's
    /// current directory.
    public var currentDirectory: String? = nil
    /// The most stages a plan with sub-pipelines inlined may hold (``YAMLLimits/maxPlanStages``).
    public var maxPlanStages = YAMLLimits.maxPlanStages

    /// The most sub-pipeline calls a stage may be inlined through.
    public static let maxCallDepth = 8

    /// Creates a compiler; without `readFile`, every prompt file is missing; without `resolvePipeline`, every
    /// called pipeline.
    public init(
        profile: ResolvedProfile?, inventory: ModelInventory? = nil,
        readFile: @escaping @Sendable (String) throws(SourceReadError) -> SourceFile = { _ throws(SourceReadError) in
            throw .notFound
        },
        resolvePipeline: @escaping @Sendable (_ nameOrPath: String, _ fromFile: String) throws(SourceReadError) -> SourceFile = {
            _, _ throws(SourceReadError) in throw .notFound
        },
        pipelineNames: @escaping @Sendable () -> [String] = { [] }
    ) {
        self.profile = profile
        self.inventory = inventory
        self.readFile = readFile
        self.resolvePipeline = resolvePipeline
        self.pipelineNames = pipelineNames
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
        let result = compile(file, stack: [], cache: CallCache())
        guard result.sources.count > 1 else { return result }
        // A pipeline called from two places reports its own problems once.
        var seen = Set<Diagnostic>()
        var copy = result
        copy.diagnostics = result.diagnostics.filter { $0.location?.file == file.path || seen.insert($0).inserted }
        return copy
    }

    /// The called pipelines compiled so far in one compile, by path.
    final class CallCache {
        var results: [String: CompileResult] = [:]
    }

    /// A pipeline on the stack of calls being compiled.
    struct Caller {
        var path: String
        var name: String
    }

    private func compile(_ file: SourceFile, stack: [Caller], cache: CallCache) -> CompileResult {
        let document = PipelineDecoder.decode(file)
        var sources = [file.path: file]
        guard var spec = document.spec else {
            return CompileResult(plan: nil, diagnostics: document.diagnostics.sortedByLocation(), sources: sources, spec: nil)
        }
        var diagnostics = document.diagnostics
        var sourceMap = document.sourceMap
        let stack = stack + [Caller(path: file.path, name: spec.name)]

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
        if stack.count > 1, spec.memoryBudget != nil {
            diagnostics.append(
                Diagnostic(.usesBudgetIgnored(spec.name, caller: stack[stack.count - 2].name), at: sourceMap.keyLocation("memory_budget")))
        }

        // Called pipelines first: what they declare shapes the checks of `with` and of the templates reading them.
        var calls: [String: CalledPipeline] = [:]
        var calledFiles: Set<String> = []
        for stage in spec.stages {
            guard let reference = stage.uses else { continue }
            let called = compileCall(
                reference, at: sourceMap.location("stages.\(stage.name).uses"), from: file, stack: stack, cache: cache)
            diagnostics += called.diagnostics
            sources.merge(called.sources) { current, _ in current }
            if let pipeline = called.pipeline { calls[stage.name] = pipeline }
            calledFiles.formUnion(called.files)
        }
        CallCheck.removeConflicts(&spec, sourceMap: sourceMap, calls: calls, diagnostics: &diagnostics)
        ToolStageRules.removeConflicts(&spec, sourceMap: sourceMap, diagnostics: &diagnostics)
        RetrieveRules.removeConflicts(&spec, sourceMap: sourceMap, diagnostics: &diagnostics)

        var context = CompilationContext(
            spec: spec, sourceMap: sourceMap, file: file, sources: sources, profile: profile, inventory: inventory)
        context.calls = calls
        context.currentDirectory = currentDirectory ?? FileManager.default.currentDirectoryPath
        StageGraphCheck.run(&context)
        CallCheck.run(&context)
        // Routes first: whether a stage may be skipped shapes the types the fan-out lists and templates are checked
        // against; fan-out lists next: their item types shape the checks of the templates that use the items.
        RouteCheck.run(&context)
        FanOutCheck.run(&context)
        TemplateCheck.run(&context)
        ToolCheck.run(&context)
        ConditionCheck.run(&context)
        ToolCheck.checkDefinitionReads(&context)
        RetrieveRules.checkCites(&context)
        StageGraphCheck.checkCycles(&context)
        ModelResolution.run(&context)
        RetrieveRules.run(&context)
        FanOutCheck.checkConcurrency(&context)
        UsageCheck.run(&context)
        CallCheck.checkStageCount(limit: maxPlanStages, &context)
        diagnostics += context.diagnostics

        let sorted = diagnostics.sortedByLocation()
        guard !sorted.hasErrors else {
            return CompileResult(plan: nil, diagnostics: sorted, sources: sources, spec: spec, calledFiles: calledFiles.sorted())
        }
        let stages = context.inlinedStages()
        let plan = ExecutionPlan(
            pipeline: spec.name, description: spec.description, inputs: spec.inputs,
            memoryBudget: spec.memoryBudget ?? profile?.spec.memoryBudget, profile: profile?.spec.name,
            stages: stages, outputs: context.inlinedOutputs(), mcpServers: context.plannedMCPServers(for: stages),
            toolPolicy: context.plannedToolPolicy(for: stages), indexes: context.plannedIndexes(for: stages))
        return CompileResult(plan: plan, diagnostics: sorted, sources: sources, spec: spec, calledFiles: calledFiles.sorted())
    }

    /// One `uses:` resolved and compiled (or taken from the cache), with what to report at `location`.
    private func compileCall(
        _ reference: String, at location: SourceLocation?, from file: SourceFile, stack: [Caller], cache: CallCache
    ) -> (pipeline: CalledPipeline?, diagnostics: [Diagnostic], sources: [String: SourceFile], files: [String]) {
        let source: SourceFile
        do {
            source = try resolvePipeline(reference, file.path)
        } catch {
            let isPath = reference.hasSuffix(".yaml") || reference.hasSuffix(".yml")
            let message: Diagnostic.Message =
                error == .notFound
                ? .usesNotFound(
                    reference, isPath: isPath, suggestion: isPath ? nil : Suggestion.closest(to: reference, in: pipelineNames()))
                : .usesUnread(reference, error)
            return (nil, [Diagnostic(message, at: location)], [:], [])
        }
        if let start = stack.firstIndex(where: { $0.path == source.path }) {
            let chain = stack[start...].map(\.name) + [stack[start].name]
            return (nil, [Diagnostic(.usesCycle(chain), at: location)], [:], [source.path])
        }
        // A bound on the recursion itself (a chain of many distinct files): a call this deep is too deep whatever it
        // holds. Shallower ones are judged by the called plan's height below, so the error lands where the chain starts.
        if stack.count > 2 * Self.maxCallDepth, cache.results[source.path] == nil {
            let diagnostic = Diagnostic(.usesTooDeep(source.stem, depth: stack.count, limit: Self.maxCallDepth), at: location)
            return (nil, [diagnostic], [:], [source.path])
        }
        var diagnostics: [Diagnostic] = []
        let result: CompileResult
        if let cached = cache.results[source.path] {
            result = cached
        } else {
            result = compile(source, stack: stack, cache: cache)
            cache.results[source.path] = result
            diagnostics = result.diagnostics
        }
        let name = result.spec?.name ?? source.stem
        let files = [source.path] + result.calledFiles
        guard let plan = result.plan else {
            let errors = result.diagnostics.filter { $0.severity == .error }.count
            diagnostics.append(Diagnostic(.usesInvalid(name, errors: errors, file: source.path), at: location))
            return (nil, diagnostics, result.sources, files)
        }
        let called = CalledPipeline(file: source.path, plan: plan)
        if called.height + 1 > Self.maxCallDepth {
            diagnostics.append(Diagnostic(.usesTooDeep(name, depth: called.height + 1, limit: Self.maxCallDepth), at: location))
            return (nil, diagnostics, result.sources, files)
        }
        return (called, diagnostics, result.sources, files)
    }

    /// `base`'s folder joined with `relative`, unless `relative` is absolute.
    static func join(directoryOf base: String, _ relative: String) -> String {
        if relative.hasPrefix("/") { return relative }
        guard let slash = base.lastIndex(of: "/") else { return relative }
        return String(base[...slash]) + relative
    }
}
