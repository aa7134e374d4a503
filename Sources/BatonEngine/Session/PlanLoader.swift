import BatonSpec
import Foundation

/// The load path that `graph`, `plan` and `run` share: profile → footprints measured in earlier runs → model
/// discovery → compile. It prints nothing: warnings come back in ``Loaded/diagnostics``, errors as ``PipelineInvalid``.
public struct PlanLoader: Sendable {
    /// Where pipelines and profiles are found.
    public var workspace: Workspace

    /// Whether this invocation is trusted whatever the trust records say (`--trust`): discovery then asks every runtime.
    public var trustedForThisRun = false

    /// A loader over `workspace`.
    public init(workspace: Workspace) { self.workspace = workspace }

    /// A compiled pipeline with what a run pins.
    public struct Loaded: Sendable {
        /// The compiled pipeline.
        public var plan: ExecutionPlan
        /// The profile it was compiled with.
        public var profile: ResolvedProfile?
        /// The pipeline file and its prompt files, by absolute path.
        public var sources: [String: SourceFile]
        /// The pipeline file's absolute path.
        public var path: String
        /// What discovery found, when it ran.
        public var inventory: ModelInventory? = nil
        /// Footprints measured at earlier loads (the run database).
        public var measured: [ModelKey: Int64] = [:]
        /// Warnings about the profile and the pipeline (no errors: those throw).
        public var diagnostics: [Diagnostic] = []
        /// The files the warnings point into, by displayed path.
        public var diagnosticSources: [String: SourceFile] = [:]
        /// The project folders the pipeline and profile files came from (``Workspace/origin(of:)``), sorted; empty when
        /// every file is the user's, installed or built in. The trust check reads them.
        public var projectFolders: [String] = []
    }

    /// Compiles with model discovery when `discover` (and `BATON_DISCOVERY` is not `off`): the profile's
    /// Ollama and llama-server runtimes are asked what they have (briefly; one that does not answer leaves
    /// its models unknown), so stages that name no model get an installed one; footprints measured in
    /// earlier runs come from `database`. With `echo` (`run --runtime echo`), the built-in echo layer goes over
    /// the profile so every stage has a model without any installed (``BuiltInProfiles/echoLayer(over:roles:)``).
    ///
    /// - Throws: ``PipelineInvalid`` when the profile or the pipeline has errors; `WorkspaceError` when a file is missing.
    public func load(_ pipeline: String, profileName: String?, discover: Bool, database: String?, echo: Bool = false) async throws -> Loaded
    {
        var (profile, sources, diagnostics) = try loadProfile(profileName)
        if echo, let base = profile, !diagnostics.hasErrors {
            profile = BuiltInProfiles.echoLayer(over: base, roles: rolesWithCalls(ofPipeline: try workspace.pipelinePath(pipeline)))
        }
        let measured = measuredFootprints(database: database)
        var inventory: ModelInventory?
        if let profile, !diagnostics.hasErrors {
            // An untrusted project's profile may not make Baton contact hosts off this machine, not even to list models.
            let untrusted = untrustedFolders(pipeline: pipeline, profileSources: sources.keys)
            var asked = profile
            if !untrusted.isEmpty { asked.spec.runtimes.removeAll { !RunReach.isLoopback($0.url ?? "") } }
            inventory = await discoveredInventory(profile: asked, measured: measured, discover: discover)
            for runtime in profile.spec.runtimes
            where (runtime.kind == .ollama || runtime.kind == .llamaServer) && inventory?.runtimes[runtime.name] == nil && discover {
                let folders = untrusted.joined(separator: " and ")
                inventory?.runtimes[runtime.name] = .unknown(
                    "not asked: \(runtime.url ?? "its url") is not on this machine and \(folders) is not trusted ('baton trust')")
            }
        }
        return try load(pipeline, profile: profile, sources: sources, diagnostics: diagnostics, inventory: inventory, measured: measured)
    }

    /// The project folders of `pipeline`, the pipelines it calls and the profile files that are not trusted now (none
    /// with ``trustedForThisRun``); a folder whose trust records cannot be read counts as untrusted (the run's check
    /// reports the file).
    public func untrustedFolders(pipeline: String, profileSources: some Sequence<String>) -> [String] {
        guard !trustedForThisRun, let path = try? workspace.pipelinePath(pipeline) else { return [] }
        let folders = workspace.projectFolders(of: [path] + calledPipelineFiles(of: path) + Array(profileSources))
        guard !folders.isEmpty else { return [] }
        let store = ProjectTrust(workspace: workspace)
        return folders.filter { folder in
            guard let store, case .trusted = (try? store.status(of: folder)) ?? .untrusted else { return true }
            return false
        }
    }

    /// The roles the stages of the pipeline at `path` and of the pipelines it calls name, for the echo layer: a role
    /// only a called pipeline uses needs an echo model too.
    func rolesWithCalls(ofPipeline path: String) -> [String] {
        var roles: [String] = []
        for file in [path] + calledPipelineFiles(of: path) {
            for role in workspace.roles(ofPipeline: file) where !roles.contains(role) { roles.append(role) }
        }
        return roles
    }

    /// The files of the pipelines the pipeline at `path` calls (`uses:`, followed through nested calls, each file once;
    /// the ones that cannot be read or decoded are the compiler's to report), before it is compiled.
    func calledPipelineFiles(of path: String) -> [String] {
        var seen: Set<String> = [workspace.absolute(path)]
        var files: [String] = []
        var pending = [path]
        while let next = pending.popLast(), files.count < 256 {
            guard let source = try? workspace.read(next), let spec = PipelineDecoder.decode(source).spec else { continue }
            for reference in spec.stages.compactMap(\.uses) {
                guard let called = try? workspace.readCalledPipeline(reference, from: source.path),
                    seen.insert(workspace.absolute(called.path)).inserted
                else { continue }
                files.append(called.path)
                pending.append(called.path)
            }
        }
        return files
    }

    /// Footprints measured at earlier loads, from the run database at `database` (none when it does not exist).
    public func measuredFootprints(database: String?) -> [ModelKey: Int64] {
        guard let database, FileManager.default.fileExists(atPath: database) else { return [:] }
        return (try? RunStore(path: database).measuredFootprints()) ?? [:]
    }

    /// What the profile's runtimes report having, nil when `discover` is false or `BATON_DISCOVERY` is `off`.
    public func discoveredInventory(profile: ResolvedProfile, measured: [ModelKey: Int64], discover: Bool) async -> ModelInventory? {
        guard discover, workspace.environment["BATON_DISCOVERY"] != "off" else { return nil }
        return await ModelDiscovery.discover(profile: profile, measured: measured, machine: .current())
    }

    private func loadProfile(_ profileName: String?) throws -> (ResolvedProfile?, [String: SourceFile], [Diagnostic]) {
        guard let name = workspace.profileName(requested: profileName) else { return (nil, [:], []) }
        let loaded = try workspace.loadProfile(name)
        return (loaded.profile, loaded.sources, loaded.diagnostics)
    }

    private func load(
        _ pipeline: String, profile: ResolvedProfile?, sources profileSources: [String: SourceFile],
        diagnostics profileDiagnostics: [Diagnostic],
        inventory: ModelInventory?, measured: [ModelKey: Int64]
    ) throws -> Loaded {
        var sources = profileSources
        var diagnostics = profileDiagnostics
        let path = try workspace.pipelinePath(pipeline)
        let source = try workspace.read(path)
        let result = workspace.compiler(profile: diagnostics.hasErrors ? nil : profile, inventory: inventory).compile(source)
        // The pipelines it calls are the run's pipeline too: their folders must be trusted as its own is.
        let projectFolders = workspace.projectFolders(of: [path] + profileSources.keys + result.calledFiles)
        sources.merge(result.sources) { current, _ in current }
        diagnostics += result.diagnostics
        guard let plan = result.plan, !diagnostics.hasErrors else {
            throw PipelineInvalid(diagnostics: diagnostics, sources: sources)
        }
        // Absolute paths, so a resume from another folder still finds the files to compare.
        let absoluteSources = Dictionary(result.sources.map { (workspace.absolute($0.key), $0.value) }) { first, _ in first }
        return Loaded(
            plan: plan, profile: profile, sources: absoluteSources, path: workspace.absolute(path), inventory: inventory,
            measured: measured,
            diagnostics: diagnostics, diagnosticSources: sources, projectFolders: projectFolders)
    }
}
