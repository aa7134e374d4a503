import ArgumentParser
import BatonEngine
import BatonSpec
import Foundation

extension BatonCommand {
    /// `baton test`: run the cases of pipeline test files (`NAME.test.yaml`) and judge them.
    struct Test: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Run pipeline test files (NAME.test.yaml): cases with inputs, echo scripts and assertions.",
            discussion: """
                With no paths, runs every *.test.yaml in the pipeline folders. A path may be a test file, a folder \
                (searched for *.test.yaml) or a pipeline (its NAME.test.yaml beside it). Cases run on the built-in echo \
                runtime unless --profile names a profile of real models; sampling differs run to run, so real models \
                are judged by pass rate (--repeat, --min-pass-rate). --record keeps their answers in the run database \
                and --replay runs them again offline. Each case's run is a normal run: 'baton show RUN' shows it. The \
                report ends with 'N passed, N failed, N errors, N skipped'. Exit codes: \(BatonExitCode.ok) every case \
                passed (or was skipped), \(BatonExitCode.runFailed) a case failed or could not be judged (error), \
                \(BatonExitCode.invalidPipeline) an invalid test file (nothing runs), \(BatonExitCode.usage) a wrong \
                command line, \(BatonExitCode.notFound) a path that does not exist or no test file, \(BatonExitCode.cannotCreate) the JUnit file \
                cannot be written, \(BatonExitCode.storeFailure) run database failure, \(BatonExitCode.interrupted) interrupted. See \
                docs/testing.md.
                """)

        @Argument(help: "Test files, folders holding them, or pipelines (default: every test file in the pipeline folders).")
        var paths: [String] = []

        @Option(
            help: """
                Run on this profile's real models (without --runtime echo). With --runtime echo or --replay: the \
                profile to compile with.
                """)
        var profile: String?

        @Option(help: "Only 'echo': run every stage on the built-in deterministic echo runtime (the default).")
        var runtime: String?

        @Option(
            name: .customLong("repeat"), help: ArgumentHelp("Runs of each case on real models or replay (echo runs once).", valueName: "n"))
        var repeatCount = 1

        @Option(help: ArgumentHelp("A case passes when at least this share of its runs pass, 0 to 1.", valueName: "rate"))
        var minPassRate = 1.0

        @Flag(help: "Keep the real models' answers in the run database, for --replay (needs real models).")
        var record = false

        @Flag(help: "Run the cases from the answers recorded with --record; no runtime is contacted.")
        var replay = false

        @Flag(help: "Write each case's stage outputs as its snapshot (__snapshots__/NAME.snap.yaml) instead of comparing.")
        var updateSnapshots = false

        @Option(name: .customLong("case"), help: ArgumentHelp("Only the cases whose name contains this text.", valueName: "text"))
        var caseFilter: String?

        @Option(help: ArgumentHelp("Also write the report as JUnit XML to this file.", valueName: "file"))
        var junit: String?

        @Flag(help: "Print the report as JSON on standard output (the case lines go to standard error).")
        var json = false

        @OptionGroup var database: DatabaseOption

        @Flag(
            help: """
                Trust the project folder for this invocation only, recording nothing: it may send API keys, reach \
                runtimes off this machine and run tools (for CI; see docs/trust.md).
                """)
        var trust = false

        /// How the cases run, from the flags; a combination that makes no sense is a usage error.
        func options(environment: [String: String]) throws -> TestOptions {
            var options = TestOptions()
            if let runtime, runtime != "echo" {
                throw ValidationError("--runtime only takes 'echo'; real models come from --profile")
            }
            if replay && runtime != nil { throw ValidationError("--replay answers from recordings; it does not take --runtime echo") }
            if replay && record { throw ValidationError("--record and --replay cannot be combined: record first, then replay") }
            if repeatCount < 1 { throw ValidationError("--repeat must be at least 1") }
            if !(0...1).contains(minPassRate) { throw ValidationError("--min-pass-rate must be between 0 and 1 (a share of runs)") }
            if replay {
                options.mode = .replay
                options.profileName = profile ?? ProfileOption.fromEnvironment(environment)
            } else if runtime == nil && (profile != nil || record) {
                // Real models: --profile, else (with --record) the test file's `profile:`.
                options.mode = .profile(profile)
            } else {
                options.mode = .echo
                options.profileName = profile ?? ProfileOption.fromEnvironment(environment)
            }
            if options.mode == .echo && repeatCount > 1 {
                throw ValidationError("--repeat is for real models and replay: echo runs are deterministic, so each case runs once")
            }
            var realModels = false
            if case .profile = options.mode { realModels = true }
            if record && !realModels {
                throw ValidationError("--record keeps real models' answers: give --profile PROFILE without --runtime echo")
            }
            if updateSnapshots && options.mode != .echo {
                throw ValidationError(
                    "--update-snapshots writes echo runs' outputs: leave out --profile and --replay, or add --runtime echo")
            }
            options.repeatCount = repeatCount
            options.minPassRate = minPassRate
            options.record = record
            options.updateSnapshots = updateSnapshots
            options.caseFilter = caseFilter
            options.database = database.db
            options.trusted = trust
            return options
        }

        func validate() throws {
            _ = try options(environment: ProcessInfo.processInfo.environment)
        }

        func run() async throws {
            let workspace = Workspace.current()
            let options = try options(environment: workspace.environment)
            // With --json the report owns standard output; the human lines go to standard error.
            let toStandardOutput = !json
            let print: @Sendable (String) -> Void = { line in
                if toStandardOutput {
                    Console.out(TerminalText.forStream(line, STDOUT_FILENO, raw: false))
                } else {
                    Console.error(TerminalText.forStream(line, STDERR_FILENO, raw: false))
                }
            }
            let runner = TestRunner(workspace: workspace, options: options) { event in
                if case .caseFinished(let result) = event {
                    for line in TestReportFormatter.caseBlock(result) { print(line) }
                }
            }
            let files = try runner.load(paths)
            try refuseInvalid(files, toStandardOutput: toStandardOutput)
            if files.isEmpty {
                let place = paths.isEmpty ? "the pipeline folders" : paths.joined(separator: ", ")
                Console.error("error: no test files (NAME.test.yaml beside NAME.yaml) in \(place); docs/testing.md shows how to write one")
                throw ExitCode(BatonExitCode.notFound)
            }
            if let caseFilter, !files.contains(where: { $0.suite.cases.contains { $0.name.contains(caseFilter) } }) {
                Console.error("error: no case name contains '\(caseFilter)'; leave out --case to run every case")
                throw ExitCode(BatonExitCode.usage)
            }
            // Ctrl-C stops after the run in flight records its attempt; the cases so far are reported, then exit 130.
            let task = Task { try await runner.run(files) }
            let signals = SignalTrap { count in
                if count == 1 {
                    Console.error("interrupting: recording the attempt in flight (press Ctrl-C again to quit at once)")
                    task.cancel()
                } else {
                    Foundation.exit(BatonExitCode.interrupted)
                }
            }
            defer { signals.cancel() }
            let report: TestReport
            do {
                report = try await task.value
            } catch {
                throw RunSession.fail(error)
            }
            if let junit {
                do {
                    try Data(JUnitWriter.xml(report).utf8).write(to: URL(fileURLWithPath: workspace.absolute(junit)), options: .atomic)
                } catch {
                    Console.error(
                        "error: cannot write the JUnit report '\(junit)': \(error.localizedDescription); check the folder exists and is writable"
                    )
                    throw ExitCode(BatonExitCode.cannotCreate)
                }
            }
            if json {
                Console.error(TestReportFormatter.summaryLine(report))
                Console.out(String(decoding: try report.jsonData(), as: UTF8.self))
            } else {
                Console.out(TestReportFormatter.summaryLine(report))
            }
            if task.isCancelled { throw ExitCode(BatonExitCode.interrupted) }
            if !report.allPassed { throw ExitCode(BatonExitCode.runFailed) }
        }

        /// Prints every diagnostic of the files (as `validate` does) and stops with 65 when any file is invalid.
        private func refuseInvalid(_ files: [LoadedTestFile], toStandardOutput: Bool) throws {
            let diagnostics = files.flatMap(\.diagnostics)
            guard !diagnostics.isEmpty else { return }
            var sources: [String: SourceFile] = [:]
            for file in files { sources.merge(file.sources) { current, _ in current } }
            let color = toStandardOutput && Console.colorsOnStandardOutput
            let text = DiagnosticFormatter.text(diagnostics, sources: sources, color: color)
            if toStandardOutput { Console.out(text, terminator: "") } else { Console.error(text, terminator: "") }
            let invalid = files.filter { !$0.isValid }
            guard !invalid.isEmpty else { return }
            let errors = diagnostics.count { $0.severity == .error }
            let line =
                "\(invalid.count) invalid test file\(invalid.count == 1 ? "" : "s"), \(errors) error\(errors == 1 ? "" : "s"): no case ran"
            if toStandardOutput { Console.out(line) } else { Console.error(line) }
            throw ExitCode.invalidPipeline
        }
    }
}
