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

        @OptionGroup var discovery: DiscoveryOptions<GraphDiscoveryHelp>

        func run() async throws {
            let workspace = Workspace.current()
            // The same models as `baton plan` and `baton run` choose: with discovery unless --offline.
            let plan = try await PlanLoader(workspace: workspace).loadReporting(
                pipeline, profileName: profileOption.resolvedName(environment: workspace.environment), discover: discovery.discover,
                database: nil
            ).plan
            Console.out(GraphFormatter.render(plan, format: format), terminator: "")
        }
    }
}

extension GraphFormatter.Format: ExpressibleByArgument {}
