import ArgumentParser
import BatonEngine
import BatonSpec
import Foundation

extension BatonCommand {
    /// `baton graph`: a pipeline's DAG as Mermaid or DOT.
    struct Graph: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print a pipeline's stage graph as Mermaid or Graphviz DOT.")

        @Argument(help: "A pipeline name on the search path, or a pipeline file.")
        var pipeline: String

        @Option(help: "mermaid or dot.")
        var format: GraphFormatter.Format = .mermaid

        @OptionGroup var profileOption: ProfileOption

        @Flag(help: "Do not ask the profile's runtimes which models they have (as 'baton plan --offline').")
        var offline = false

        func run() async throws {
            let workspace = Workspace.current()
            // The same models as `baton plan` and `baton run` choose: with discovery unless --offline.
            let plan = try await PlanLoader(workspace: workspace).load(
                pipeline, profileName: profileOption.resolvedName(environment: workspace.environment), discover: !offline,
                database: nil
            ).plan
            Console.out(GraphFormatter.render(plan, format: format), terminator: "")
        }
    }
}

extension GraphFormatter.Format: ExpressibleByArgument {}

/// Compiles a pipeline for a command, printing its diagnostics and failing with 65 when it is invalid.
struct PlanLoader {
    var workspace: Workspace

    /// A compiled pipeline with what a run pins.
    struct Loaded {
        var plan: ExecutionPlan
        var profile: ResolvedProfile?
        /// The pipeline file and its prompt files.
        var sources: [String: SourceFile]
        /// The pipeline file's absolute path.
        var path: String
        /// What discovery found, when it ran.
        var inventory: ModelInventory? = nil
        /// Footprints measured at earlier loads (the run database).
        var measured: [ModelKey: Int64] = [:]
    }

    /// Compiles offline: stages that name no model take their role's preferences as the registry allows.
    func load(_ pipeline: String, profileName: String?) throws -> Loaded {
        let (profile, sources, diagnostics) = try loadProfile(profileName)
        return try load(pipeline, profile: profile, sources: sources, diagnostics: diagnostics, inventory: nil, measured: [:])
    }

    /// Compiles with model discovery when `discover` (and `BATON_DISCOVERY` is not `off`): the profile's
    /// Ollama and llama-server runtimes are asked what they have (briefly; one that does not answer leaves
    /// its models unknown), so stages that name no model get an installed one; footprints measured in
    /// earlier runs come from `database`. With `echo` (`run --runtime echo`), the built-in echo layer goes over
    /// the profile so every stage has a model without any installed (``BuiltInProfiles/echoLayer(over:roles:)``).
    func load(_ pipeline: String, profileName: String?, discover: Bool, database: String?, echo: Bool = false) async throws -> Loaded {
        var (profile, sources, diagnostics) = try loadProfile(profileName)
        if echo, let base = profile, !diagnostics.hasErrors {
            profile = BuiltInProfiles.echoLayer(over: base, roles: workspace.roles(ofPipeline: try workspace.pipelinePath(pipeline)))
        }
        var measured: [ModelKey: Int64] = [:]
        if let database, FileManager.default.fileExists(atPath: database) {
            measured = (try? RunStore(path: database).measuredFootprints()) ?? [:]
        }
        var inventory: ModelInventory?
        if discover, workspace.environment["BATON_DISCOVERY"] != "off", let profile, !diagnostics.hasErrors {
            inventory = await ModelDiscovery.discover(profile: profile, measured: measured, machine: .current())
        }
        return try load(pipeline, profile: profile, sources: sources, diagnostics: diagnostics, inventory: inventory, measured: measured)
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
        let compiler = PipelineCompiler(profile: diagnostics.hasErrors ? nil : profile, inventory: inventory) { [workspace] promptPath in
            try? workspace.read(promptPath)
        }
        let result = compiler.compile(source)
        sources.merge(result.sources) { current, _ in current }
        diagnostics += result.diagnostics
        if !diagnostics.isEmpty {
            Console.error(DiagnosticFormatter.text(diagnostics, sources: sources, color: false), terminator: "")
        }
        guard let plan = result.plan, !diagnostics.hasErrors else { throw ExitCode.invalidPipeline }
        // Absolute paths, so a resume from another folder still finds the files to compare.
        let absoluteSources = Dictionary(result.sources.map { (workspace.absolute($0.key), $0.value) }) { first, _ in first }
        return Loaded(
            plan: plan, profile: profile, sources: absoluteSources, path: workspace.absolute(path), inventory: inventory, measured: measured
        )
    }
}
