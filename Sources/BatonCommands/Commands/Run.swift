import ArgumentParser
import BatonEngine
import BatonSpec
import Foundation

/// `--db`: the run database, for every command that reads or writes runs.
struct DatabaseOption: ParsableArguments {
    @Option(help: "The run database (default: $BATON_DB, else $XDG_STATE_HOME/baton/baton.sqlite).")
    var db: String?

    /// The database path: `--db`, else `$BATON_DB`, else the state folder's.
    func path(environment: [String: String]) -> String {
        RunDatabaseLocation.resolve(db, environment: environment)
    }
}

/// Options every command that executes a run shares.
struct ExecutionOptions: ParsableArguments {
    @OptionGroup var database: DatabaseOption

    @Flag(name: .shortAndLong, help: "Print no progress, only the final outputs.")
    var quiet = false

    @Flag(help: "Write one JSON event per line to standard output, for tools.")
    var json = false

    @Flag(
        help: """
            Trust the project folder for this invocation only, recording nothing: it may send API keys, reach runtimes \
            off this machine and run tools (for CI; 'baton trust' records a folder, see docs/trust.md).
            """)
    var trust = false

    @OptionGroup var rawOutput: RawOutputOption

    @Option(
        name: .customLong("approve"),
        help: ArgumentHelp(
            """
            Approve the calls of this tool stage, or of this tool of a model stage, without asking (repeatable; names \
            only). Calls that need approval (`approve:`) are otherwise asked on the terminal, or denied without one.
            """, valueName: "name"))
    var approve: [String] = []

    @Flag(
        help: """
            Query indexes as they are: a retrieve stage does not first update a stale index (an index never built fails \
            the stage; 'baton index NAME' builds it).
            """)
    var noIndexUpdate = false
}

extension BatonCommand {
    /// `baton run`: run a pipeline by name.
    struct Run: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Run a pipeline, checkpointing every step to the run database.",
            discussion: """
                Progress goes to standard error (tokens stream there when standard output is a terminal); the \
                outputs of the result stages go to standard output. Ctrl-C stops after recording the attempt in \
                flight; 'baton resume RUN' continues. Exit codes: \(BatonExitCode.ok) completed, \(BatonExitCode.runFailed) failed, \
                \(BatonExitCode.usage) bad inputs, \(BatonExitCode.invalidPipeline) invalid pipeline, \
                \(BatonExitCode.runtimeUnavailable) runtime unavailable, \(BatonExitCode.storeFailure) run database failure, \
                \(BatonExitCode.untrusted) refused by trust (an untrusted project folder would send a key, reach a remote \
                runtime or run a tool: 'baton trust', or --trust), \(BatonExitCode.ambiguousCall) stopped at an external \
                tool call whose result was never recorded (resume with --retry-call or --skip-call), \
                \(BatonExitCode.interrupted) interrupted.
                """)

        @Argument(help: "A pipeline name on the search path, or a pipeline file.")
        var pipeline: String

        @Option(name: .customLong("input"), help: "An input as KEY=VALUE (repeatable).")
        var inputs: [String] = []

        @Option(help: "A JSON or YAML file mapping input names to values (--input wins).")
        var inputFile: String?

        @OptionGroup var profileOption: ProfileOption

        @Option(
            help: """
                Run every stage on this runtime instead (only 'echo', the built-in deterministic runtime; a stage the \
                profile gives no model runs on the built-in 'echo' model).
                """)
        var runtime: String?

        @OptionGroup var execution: ExecutionOptions

        func validate() throws {
            if let runtime, runtime != "echo" {
                throw ValidationError("--runtime only takes 'echo'; other runtimes come from the profile")
            }
        }

        func run() async throws {
            let workspace = Workspace.current()
            var loader = PlanLoader(workspace: workspace)
            loader.trustedForThisRun = execution.trust
            let loaded = try await loader.loadReporting(
                pipeline, profileName: profileOption.resolvedName(environment: workspace.environment), discover: runtime == nil,
                database: execution.database.path(environment: workspace.environment), echo: runtime == "echo")
            var given: [String: String] = [:]
            do {
                if let inputFile { given = try RunInputs.read(file: inputFile) }
                given.merge(try RunInputs.parse(assignments: inputs)) { _, new in new }
                given = try RunInputs.resolve(loaded.plan.inputs, given: given)
            } catch {
                Console.error("error: \(error)")
                throw ExitCode(BatonExitCode.usage)
            }
            var snapshot = RunSnapshot(
                plan: loaded.plan, profile: loaded.profile, sources: loaded.sources.mapValues(\.text),
                pipelinePath: loaded.path, forcedRuntime: runtime)
            snapshot.projectFolders = loaded.projectFolders
            let session = try RunSession(options: execution, environment: workspace.environment)
            let inputs = given
            let preflight = RunSession.Preflight(snapshot: snapshot, folders: loaded.projectFolders)
            try await session.execute(snapshot: snapshot, preflight: preflight) { [snapshot] executor, claim in
                try await executor.start(snapshot, inputs: inputs, claim: claim)
            }
        }
    }

    /// `baton resume`: continue an interrupted run.
    struct Resume: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Continue an interrupted or failed run without repeating completed attempts.",
            discussion: """
                The run continues from its pinned snapshot of the pipeline. If the pipeline file changed since, \
                resume says so; --use-current-pipeline switches to the current file, reusing every stage whose \
                fingerprint (definition, model, inputs, upstream stages) is unchanged. --dry-run shows what would run. \
                A resume that meets an external tool call started but never recorded stops (exit \(BatonExitCode.ambiguousCall)) \
                and names it: check whether it happened, then --retry-call STAGE runs it again or --skip-call STAGE goes \
                on without it (its output is empty).
                """)

        @Argument(help: "The run id (see 'baton runs').")
        var runID: String

        @Flag(help: "Resume against the current pipeline file, re-running only stages that changed.")
        var useCurrentPipeline = false

        @Flag(help: "Show which stages would be reused and which would run, and stop.")
        var dryRun = false

        @Option(
            name: .customLong("retry-call"),
            help: ArgumentHelp("Run this stage's unfinished external tool call again (repeatable).", valueName: "stage"))
        var retryCalls: [String] = []

        @Option(
            name: .customLong("skip-call"),
            help: ArgumentHelp(
                "Go on without this stage's unfinished external tool call: recorded as skipped, its output empty (repeatable).",
                valueName: "stage"))
        var skipCalls: [String] = []

        func validate() throws {
            if let both = retryCalls.first(where: skipCalls.contains) {
                throw ValidationError("--retry-call \(both) and --skip-call \(both) contradict each other; give one")
            }
        }

        @OptionGroup var execution: ExecutionOptions

        func run() async throws {
            let workspace = Workspace.current()
            let session = try RunSession(options: execution, environment: workspace.environment)
            // The attempts are only needed for --dry-run and --use-current-pipeline.
            let report = try session.report(runID, attempts: dryRun || useCurrentPipeline ? .summary : .none)
            let resolutions = try callResolutions(for: report.snapshot.plan, runID: report.run.id)
            let current = CurrentPipeline(workspace: workspace, report: report)
            if current.changed, !useCurrentPipeline, !execution.json {
                Console.error(
                    "note: \(report.snapshot.pipelinePath ?? "the pipeline file") changed since run \(report.run.id) started; resuming the pinned snapshot (--use-current-pipeline switches to the current file)"
                )
            }
            var plan = ResumePlan(entries: [], changed: [])
            if dryRun && !useCurrentPipeline {
                plan = ResumePlan.make(report: report, replacement: nil)
            }
            var replacement: RunSnapshot?
            if useCurrentPipeline {
                let compiled = try await Console.reportingInvalid {
                    do {
                        return try current.compile()
                    } catch let error as CurrentPipeline.NoPipelineFile {
                        Console.error("error: \(error)")
                        throw ExitCode(BatonExitCode.notFound)
                    }
                }
                Console.diagnostics(compiled.warnings.diagnostics, sources: compiled.warnings.sources)
                replacement = compiled.snapshot
                plan = ResumePlan.make(report: report, replacement: replacement)
            }
            if dryRun {
                Console.out(ResumePlanFormatter.text(plan, runID: report.run.id))
                return
            }
            if report.run.status == .completed && plan.changed.isEmpty {
                Console.error("run \(report.run.id) already completed; 'baton show \(report.run.id)' prints it")
                return
            }
            let changed = plan.changed
            // The run's own folders (with the current pipeline file's when it replaces the pinned one); the echo
            // scripts are read up front as `run` reads them.
            let executed = replacement ?? report.snapshot
            let preflight = RunSession.Preflight(snapshot: executed, folders: TrustCheck.folders(of: executed, workspace: workspace))
            try await session.execute(preflight: preflight, callResolutions: resolutions) { [replacement] executor, claim in
                try await executor.resume(report.run.id, claim: claim, replacing: replacement, superseding: changed)
            }
        }

        /// `--retry-call`/`--skip-call` as the executor takes them; a name that is no stage of the run exits 64.
        func callResolutions(for plan: ExecutionPlan, runID: String) throws -> [String: ToolCallResolution] {
            let names = plan.stages.map(\.name)
            var resolutions: [String: ToolCallResolution] = [:]
            for (flag, stages, resolution) in [("--retry-call", retryCalls, ToolCallResolution.retry), ("--skip-call", skipCalls, .skip)] {
                for stage in stages {
                    guard names.contains(stage) else {
                        let hint = Suggestion.closest(to: stage, in: names).map { "; did you mean '\($0)'?" } ?? ""
                        Console.error("error: \(flag) \(stage): run \(runID) has no stage '\(stage)'\(hint)")
                        throw ExitCode(BatonExitCode.usage)
                    }
                    resolutions[stage] = resolution
                }
            }
            return resolutions
        }
    }

    /// `baton rerun`: a new run that reuses everything upstream of a stage.
    struct Rerun: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Start a new run from a stage of an earlier run, reusing everything upstream of it.")

        @Argument(help: "The earlier run's id.")
        var runID: String

        @Option(help: "The stage to run again (with everything after it); a sub-pipeline call's name means its first stage.")
        var from: String

        @OptionGroup var execution: ExecutionOptions

        func run() async throws {
            let workspace = Workspace.current()
            let session = try RunSession(options: execution, environment: workspace.environment)
            let report = try session.report(runID)
            // A sub-pipeline call's name stands for its first stage (docs/runs-and-resume.md, "Sub-pipelines").
            guard let start = Executor.rerunStage(from, in: report.snapshot.plan) else {
                let names = Executor.stageAndCallNames(in: report.snapshot.plan)
                let hint =
                    Suggestion.closest(to: from, in: names).map { "; did you mean '\($0)'?" }
                    ?? "; its stages: \(names.joined(separator: ", "))"
                Console.error("error: run \(report.run.id) has no stage '\(from)'\(hint)")
                throw ExitCode(BatonExitCode.usage)
            }
            let parent = (runID: report.run.id, stage: start)
            let preflight = RunSession.Preflight(
                snapshot: report.snapshot, folders: TrustCheck.folders(of: report.snapshot, workspace: workspace))
            try await session.execute(snapshot: report.snapshot, preflight: preflight) { executor, claim in
                try await executor.start(report.snapshot, inputs: report.inputs, claim: claim, parent: parent)
            }
        }
    }
}
