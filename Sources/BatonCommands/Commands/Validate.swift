import ArgumentParser
import BatonEngine
import BatonSpec
import Foundation

extension BatonCommand {
    /// `baton validate`: check pipelines and profiles like a compiler, for editors and CI.
    struct Validate: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Check pipeline and profile files and report every problem.",
            discussion: """
                With no paths, checks every pipeline on the pipeline search path. Folders are searched for .yaml \
                and .yml files; files in a folder named 'profiles' are checked as profiles. Exits \(BatonExitCode.ok) when every file \
                is valid, \(BatonExitCode.invalidPipeline) when any is invalid, \(BatonExitCode.notFound) when a path does not \
                exist, \(BatonExitCode.usage) for a wrong command line.
                """
        )

        @Argument(help: "Pipeline or profile files, or folders holding them.")
        var paths: [String] = []

        @Option(help: "Output format: text, json or github.")
        var format: DiagnosticFormatter.Format = .text

        @Flag(help: "Treat warnings as errors.")
        var strict = false

        @OptionGroup var profileOption: ProfileOption

        func run() throws {
            let workspace = Workspace.current()
            let report = try Validator(workspace: workspace).validate(
                paths: paths, profileName: profileOption.resolvedName(environment: workspace.environment))
            var diagnostics = report.diagnostics
            if strict { diagnostics = diagnostics.map { $0.promotedToError() } }

            switch format {
            case .text:
                Console.out(
                    DiagnosticFormatter.text(diagnostics, sources: report.sources, color: Console.colorsOnStandardOutput),
                    terminator: "")
                let errors = diagnostics.filter { $0.severity == .error }.count
                let warnings = diagnostics.count - errors
                let invalid = report.files.filter { file in
                    file.diagnostics.contains { $0.severity == .error || strict }
                }.count
                Console.out(
                    "\(count(report.files.count, "file")) checked: \(count(invalid, "invalid file")), "
                        + "\(count(errors, "error")), \(count(warnings, "warning"))")
            case .json:
                Console.out(DiagnosticFormatter.json(diagnostics), terminator: "")
            case .github:
                Console.out(DiagnosticFormatter.github(diagnostics), terminator: "")
            }
            if diagnostics.hasErrors { throw ExitCode.invalidPipeline }
        }

        private func count(_ n: Int, _ noun: String) -> String {
            "\(n) \(noun)\(n == 1 ? "" : "s")"
        }
    }
}

extension DiagnosticFormatter.Format: ExpressibleByArgument {}
