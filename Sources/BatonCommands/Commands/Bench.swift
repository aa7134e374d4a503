import ArgumentParser
import BatonEngine
import BatonSpec
import Foundation

extension BatonCommand {
    /// `baton bench`: which model serves each role best on this machine, measured over the pipeline test cases.
    struct Bench: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Benchmark candidate models per role over pipeline test cases: pass rate, speed, memory.",
            discussion: """
                For each --role ROLE=M1,M2 and each candidate, runs the test cases (as 'baton test' does) with every stage \
                of that role on the candidate, then prints one row per role and model: pass rate, mean judge score, median \
                time to first token, prompt and generation tokens per second (from the runtime's own timings), mean load \
                time and peak resident memory. The rows are kept in the run database. --write-profile makes each role's \
                best model the first of its 'models:' in the profile (the diff is shown first). Exit codes: \
                \(BatonExitCode.ok) measured, \(BatonExitCode.usage) a wrong command line or a candidate that cannot run, \
                \(BatonExitCode.invalidPipeline) an invalid test or bench file, \(BatonExitCode.notFound) a path that does \
                not exist, \(BatonExitCode.storeFailure) run database failure. See docs/bench.md.
                """)

        @Argument(help: "Test files, folders holding them, or pipelines (default: every test file in the pipeline folders).")
        var paths: [String] = []

        @Option(name: .customLong("role"), help: ArgumentHelp("A role and its candidate models (repeatable).", valueName: "ROLE=M1,M2"))
        var roles: [String] = []

        @Option(help: "A bench file: {tests: [paths], profile, repeat, roles: {ROLE: [models]}}.")
        var file: String?

        @OptionGroup var profileOption: ProfileOption

        @Option(help: "Only 'echo': run every stage on the built-in echo runtime (checks the bench, measures no model).")
        var runtime: String?

        @Option(name: .customLong("repeat"), help: "Runs of each case per candidate (default 1, or the bench file's).")
        var repeatCount: Int?

        @Option(name: .customLong("case"), help: "Only the cases whose name contains this text.")
        var caseFilter: String?

        @Flag(help: "Print the results as JSON on standard output (the table goes to standard error).")
        var json = false

        @Option(help: "Write the chart (generation tok/s against pass rate or judge score, per role) as SVG to this file.")
        var svg: String?

        @Flag(help: "Make each role's best model the first of its 'models:' in the profile file (shows the diff first).")
        var writeProfile = false

        @Flag(name: .shortAndLong, help: "With --write-profile: write without asking.")
        var yes = false

        @OptionGroup var database: DatabaseOption

        @Flag(help: "Trust the project folder for this invocation only, recording nothing (see docs/trust.md).")
        var trust = false

        func validate() throws {
            if let runtime, runtime != "echo" { throw ValidationError("--runtime only takes 'echo'; real models come from --profile") }
            if let repeatCount, repeatCount < 1 { throw ValidationError("--repeat must be at least 1") }
            if roles.isEmpty && file == nil {
                throw ValidationError("give the candidates: --role ROLE=M1,M2 (repeatable) or --file bench.yaml")
            }
            if yes && !writeProfile { throw ValidationError("--yes confirms --write-profile; add --write-profile") }
            for role in roles {
                do { _ = try BenchRole(argument: role) } catch { throw ValidationError(error.message) }
            }
        }

        /// The bench's options and test paths, from the flags and the bench file (flags win).
        func options(workspace: Workspace) throws -> (BenchOptions, [String]) {
            var options = BenchOptions()
            var paths = self.paths
            if let file {
                let spec: BenchSpec
                do {
                    spec = try BenchSpec.load(path: workspace.absolute(file))
                } catch {
                    Console.error(error.message)
                    throw ExitCode.invalidPipeline
                }
                if paths.isEmpty { paths = spec.tests }
                options.profileName = spec.profile
                options.repeatCount = spec.repeatCount ?? 1
                options.roles = spec.roles
            }
            for argument in roles {
                let role = try BenchRole(argument: argument)
                options.roles.removeAll { $0.name == role.name }
                options.roles.append(role)
            }
            // `--profile` wins over the bench file, which wins over $BATON_PROFILE.
            if let profile = profileOption.profile ?? options.profileName ?? ProfileOption.fromEnvironment(workspace.environment) {
                options.profileName = profile
            }
            if let repeatCount { options.repeatCount = repeatCount }
            options.echo = runtime == "echo"
            if options.echo && options.repeatCount > 1 {
                throw ValidationError("--repeat is for real models: echo runs are deterministic, so each case runs once")
            }
            options.caseFilter = caseFilter
            options.database = database.db
            options.trusted = trust
            return (options, paths)
        }

        func run() async throws {
            let workspace = Workspace.current()
            let (options, paths) = try options(workspace: workspace)
            let toStandardOutput = !json
            let print: @Sendable (String) -> Void = { line in
                if toStandardOutput { Console.out(line) } else { Console.error(line) }
            }
            let runner = BenchRunner(workspace: workspace, options: options) { event in
                switch event {
                case .candidateStarted(let role, let model, let index, let total):
                    Console.error("[\(index)/\(total)] \(role) on \(model)")
                case .test(.caseFinished(let result)):
                    // As `baton test` prints a case, indented under its candidate: failed assertions show why.
                    for line in TestReportFormatter.caseBlock(result) { Console.error("  " + line) }
                case .test, .candidateFinished:
                    break
                }
            }
            let files = try runner.load(paths)
            try refuseInvalid(files)
            if files.isEmpty {
                Console.error("error: no test files (NAME.test.yaml beside NAME.yaml) to bench on; docs/bench.md shows how to start")
                throw ExitCode(BatonExitCode.notFound)
            }
            let report: BenchReport
            do {
                report = try await runner.run(files)
            } catch let refused as BenchRefused {
                for failure in refused.failures { Console.error("error: \(failure.message)") }
                throw ExitCode(BatonExitCode.usage)
            } catch {
                throw RunSession.fail(error)
            }
            for line in BenchFormatter.lines(report) { print(line) }
            let winners = ProfileWinners.winners(report.results)
            if let svg {
                let title = "baton bench" + (report.profile.map { " (profile \($0))" } ?? "")
                do {
                    try Data(BenchChart.svg(report.results, title: title).utf8).write(
                        to: URL(fileURLWithPath: workspace.absolute(svg)), options: .atomic)
                } catch {
                    Console.error(
                        "error: cannot write the chart '\(svg)': \(error.localizedDescription); check the folder exists and is writable")
                    throw ExitCode(BatonExitCode.cannotCreate)
                }
            }
            if json { Console.out(try JSONOutput.text(report)) }
            if writeProfile { try write(winners, profile: report.profile, workspace: workspace, print: print) }
            print(BenchFormatter.summary(report, winners: winners))
        }

        /// Shows the profile edit that puts each winner first in its role, then writes it: with --yes, or when the
        /// user says yes on a terminal; without a terminal and --yes, nothing is written (exit 0, and it says so).
        private func write(
            _ winners: [(role: String, model: String)], profile: String?, workspace: Workspace, print: @Sendable (String) -> Void
        ) throws {
            guard !winners.isEmpty else {
                print("--write-profile: no candidate passed any run without errors; the profile is unchanged")
                return
            }
            let name = workspace.profileName(requested: profile) ?? BuiltInProfiles.defaultName
            let loaded = try workspace.loadProfile(name)
            guard let path = loaded.documents.first?.file.path, FileManager.default.fileExists(atPath: workspace.absolute(path)) else {
                Console.error(
                    "error: the profile '\(name)' is built in, so there is no file to change; 'baton profiles' shows how to make one, then bench with --profile"
                )
                throw ExitCode(BatonExitCode.cannotCreate)
            }
            let absolute = workspace.absolute(path)
            let old = try String(contentsOfFile: absolute, encoding: .utf8)
            var inherited: [String: [String]] = [:]
            for (role, _) in winners {
                inherited[role] = loaded.profile?.spec.role(named: role)?.models?.map(\.description) ?? []
            }
            let new: String
            do {
                new = try ProfileWinners.edit(old, path: workspace.display(absolute), winners: winners, inherited: inherited)
            } catch {
                Console.error("error: \(error.message)")
                throw ExitCode(BatonExitCode.cannotCreate)
            }
            let display = workspace.display(absolute)
            let diff = ProfileDiff.unified(old: old, new: new, oldName: "a/\(display)", newName: "b/\(display)")
            guard !diff.isEmpty else {
                print("--write-profile: \(display) already lists each best model first; unchanged")
                return
            }
            for line in diff.split(separator: "\n", omittingEmptySubsequences: false).dropLast() { print(String(line)) }
            if !yes {
                guard isatty(STDIN_FILENO) == 1 else {
                    print("--write-profile: not written: standard input is not a terminal; run again with --yes to write \(display)")
                    return
                }
                Console.error("Write these changes to \(display)? [y/N] ", terminator: "")
                let answer = readLine(strippingNewline: true)?.trimmingCharacters(in: .whitespaces).lowercased()
                guard answer == "y" || answer == "yes" else {
                    print("--write-profile: not written")
                    return
                }
            }
            do {
                try Data(new.utf8).write(to: URL(fileURLWithPath: absolute), options: .atomic)
            } catch {
                Console.error("error: cannot write the profile '\(display)': \(error.localizedDescription); check it is writable")
                throw ExitCode(BatonExitCode.cannotCreate)
            }
            print("--write-profile: wrote \(display)")
        }

        /// Prints the files' diagnostics (as `validate` does) and stops with 65 when any file is invalid.
        private func refuseInvalid(_ files: [LoadedTestFile]) throws {
            let diagnostics = files.flatMap(\.diagnostics)
            guard !diagnostics.isEmpty else { return }
            var sources: [String: SourceFile] = [:]
            for file in files { sources.merge(file.sources) { current, _ in current } }
            Console.diagnostics(diagnostics, sources: sources)
            if files.contains(where: { !$0.isValid }) { throw ExitCode.invalidPipeline }
        }
    }
}
