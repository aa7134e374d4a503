import ArgumentParser
import BatonEngine
import BatonSpec
import Foundation

extension BatonCommand {
    /// `baton list`: the pipelines on the search path, with their descriptions.
    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List the pipelines on the pipeline search path.",
            discussion:
                "The path: $BATON_PIPELINE_PATH, else ./pipelines, ~/.config/baton/pipelines, then the installed share/baton/pipelines.")

        @Flag(help: "Print JSON: an array of {name, path, description, valid}.")
        var json = false

        func run() throws {
            let workspace = Workspace.current()
            let catalog = PipelineCatalog(workspace: workspace).entries()
            if json {
                try Console.json(catalog)
                return
            }
            guard !catalog.isEmpty else {
                Console.error(
                    "no pipelines in \(workspace.pipelineSearchPath.joined(separator: ", ")); 'baton init' writes a starter pipeline")
                return
            }
            let width = catalog.map(\.name.count).max() ?? 0
            for entry in catalog {
                let padded = entry.name.padding(toLength: width, withPad: " ", startingAt: 0)
                let note = entry.valid ? "" : " (invalid: run 'baton validate \(entry.path)')"
                Console.out("\(padded)  \(entry.description ?? "")\(note)")
            }
        }
    }
}
