import ArgumentParser
import BatonEngine
import BatonSpec

extension BatonCommand {
    /// `baton graph`: a pipeline's DAG as Mermaid or DOT.
    struct Graph: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print a pipeline's stage graph as Mermaid or Graphviz DOT.")

        @Argument(help: "A pipeline name on the search path, or a pipeline file.")
        var pipeline: String

        @Option(help: "mermaid or dot.")
        var format: GraphFormatter.Format = .mermaid

        @OptionGroup var profileOption: ProfileOption

        func run() throws {
            let workspace = Workspace.current()
            let plan = try PlanLoader(workspace: workspace).compile(
                pipeline, profileName: profileOption.resolvedName(environment: workspace.environment))
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
    }

    func compile(_ pipeline: String, profileName: String?) throws -> ExecutionPlan {
        try load(pipeline, profileName: profileName).plan
    }

    func load(_ pipeline: String, profileName: String?) throws -> Loaded {
        var profile: ResolvedProfile?
        var sources: [String: SourceFile] = [:]
        var diagnostics: [Diagnostic] = []
        if let name = workspace.profileName(requested: profileName) {
            let loaded = try workspace.loadProfile(name)
            profile = loaded.profile
            sources.merge(loaded.sources) { current, _ in current }
            diagnostics += loaded.diagnostics
        }
        let path = try workspace.pipelinePath(pipeline)
        let result = try workspace.compile(path: path, profile: diagnostics.hasErrors ? nil : profile)
        sources.merge(result.sources) { current, _ in current }
        diagnostics += result.diagnostics
        if !diagnostics.isEmpty {
            Console.error(DiagnosticFormatter.text(diagnostics, sources: sources, color: false), terminator: "")
        }
        guard let plan = result.plan, !diagnostics.hasErrors else { throw ExitCode.invalidPipeline }
        // Absolute paths, so a resume from another folder still finds the files to compare.
        let absoluteSources = Dictionary(result.sources.map { (workspace.absolute($0.key), $0.value) }) { first, _ in first }
        return Loaded(plan: plan, profile: profile, sources: absoluteSources, path: workspace.absolute(path))
    }
}
