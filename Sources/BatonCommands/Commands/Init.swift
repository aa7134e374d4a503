import ArgumentParser
import BatonEngine
import BatonSpec
import Foundation

extension BatonCommand {
    /// `baton init`: scaffold a project in a folder.
    struct Init: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Scaffold a project: a starter pipeline, a profile for this machine, a .gitignore and a CI workflow.",
            discussion: """
                Writes pipelines/starter.yaml (plan, review, write), profiles/default.yaml (the local runtimes that \
                answer now, their models, and this machine's memory as the budget), .gitignore (the run database) and \
                .github/workflows/baton.yml (baton validate --strict --format github). A file that exists is never \
                overwritten: it is listed as skipped. Exits \(BatonExitCode.ok), or \(BatonExitCode.cannotCreate) when a file \
                cannot be written.
                """)

        @Argument(help: "The project folder (created when missing). Default: the current folder.")
        var directory: String?

        func run() async throws {
            // No ArgumentParser default: it would print "(default: .)" after the help's own "Default: the current folder."
            let directory = self.directory ?? "."
            let environment = ProcessInfo.processInfo.environment
            let machine = await MachineProfile.detect(environment: environment)
            for runtime in machine.runtimes {
                let count = runtime.models.count
                Console.error("found \(runtime.kind.rawValue) at \(runtime.url) with \(count) model\(count == 1 ? "" : "s")")
            }
            for missing in machine.unreachable {
                Console.error("no \(missing.name) at \(missing.url)")
            }
            let results: [(path: String, outcome: ProjectScaffold.Outcome)]
            do {
                results = try ProjectScaffold.standard(profile: machine).write(to: directory)
            } catch {
                Console.error("error: cannot write the project in '\(directory)': \(error.localizedDescription)")
                throw ExitCode(BatonExitCode.cannotCreate)
            }
            let prefix = directory == "." ? "" : (directory.hasSuffix("/") ? directory : directory + "/")
            for (path, outcome) in results {
                switch outcome {
                case .written: Console.out("wrote \(prefix)\(path)")
                case .skipped: Console.out("skipped \(prefix)\(path): it exists (init never overwrites)")
                }
            }
            let starter = ProjectScaffold.starterName
            Console.out("next: baton validate --strict, then baton run \(starter) --runtime echo (no model) or baton run \(starter)")
        }
    }
}
