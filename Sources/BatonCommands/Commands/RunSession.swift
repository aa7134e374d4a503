import ArgumentParser
import BatonEngine
import BatonSpec
import Foundation

/// The run database, the executor, signal handling and the printer for one command that executes a run.
struct RunSession {
    let store: RunStore
    let options: ExecutionOptions
    let environment: [String: String]

    init(options: ExecutionOptions, environment: [String: String]) throws {
        self.options = options
        self.environment = environment
        let path = options.database.path(environment: environment)
        do {
            var store = try RunStore(path: path)
            store.killSwitch = environment["BATON_TEST_KILL_AT"].flatMap(KillSwitch.init(specification:))
            self.store = store
        } catch {
            throw RunSession.fail(error)
        }
    }

    /// Loads a run's report, mapping a missing run to exit 66.
    func report(_ id: String, attempts: RunReport.AttemptDetail = .full, snapshot: RunSnapshot? = nil) throws -> RunReport {
        do {
            return try RunReport.load(id, from: store, attempts: attempts, snapshot: snapshot)
        } catch {
            throw RunSession.fail(error)
        }
    }

    /// How many model loads and unloads the run's events record.
    func modelEvents(_ id: String) -> (loads: Int, unloads: Int) {
        let counts = (try? store.eventCounts(id, kinds: ["model-loaded", "model-unloaded"])) ?? [:]
        return (counts["model-loaded"] ?? 0, counts["model-unloaded"] ?? 0)
    }

    /// Prints a store or runtime error and returns the exit code to throw.
    static func fail(_ error: any Error) -> ExitCode {
        Console.error("error: \(error)")
        if let error = error as? StoreError {
            switch error.code {
            case .runNotFound: return ExitCode(BatonExitCode.notFound)
            case .leaseHeld, .leaseLost: return ExitCode(BatonExitCode.runLocked)
            default: return ExitCode(BatonExitCode.storeFailure)
            }
        }
        return ExitCode(BatonExitCode.internalError)
    }

    /// Runs `body` with an executor; prints progress and the outcome, handles SIGINT and SIGTERM, and
    /// throws the exit code the outcome calls for.
    ///
    /// - Parameter snapshot: the run's snapshot, so the final report need not decode it again.
    func execute(snapshot: RunSnapshot? = nil, _ body: @escaping @Sendable (Executor, LeaseClaim) async throws -> RunOutcome) async throws {
        let printer = ProgressPrinter(
            mode: options.json ? .json : options.quiet ? .quiet : .human,
            streamTokens: isatty(STDOUT_FILENO) == 1 && isatty(STDERR_FILENO) == 1)
        var executor = Executor(
            store: store, runtimes: RuntimeCatalog(environment: environment, keys: KeyFileSource(environment: environment)),
            observer: { printer.handle($0) })
        executor.killSwitch = store.killSwitch
        executor.unloadAfterEachStage = environment["BATON_BENCH_UNLOAD_AFTER_EACH_STAGE"] == "1"
        executor.thermal = ThermalSensors.platform(environment: environment)
        if let interval = environment["BATON_PROGRESS_INTERVAL"].flatMap(Double.init) { executor.progressInterval = interval }
        let claim = LeaseClaim.current()
        let task = Task { [executor] in try await body(executor, claim) }
        let signals = SignalTrap { count in
            if count == 1 {
                printer.note("interrupting: recording the attempt in flight (press Ctrl-C again to quit at once)")
                task.cancel()
            } else {
                exit(BatonExitCode.interrupted)
            }
        }
        defer { signals.cancel() }

        let outcome: RunOutcome
        do {
            outcome = try await task.value
        } catch {
            throw RunSession.fail(error)
        }
        switch outcome {
        case .completed(let id):
            let report = try self.report(id, attempts: .summary, snapshot: snapshot)
            printer.finish(report: report, status: "completed", modelEvents: modelEvents(id))
        case .failed(let id, let reason, let unavailable):
            printer.finish(
                report: try self.report(id, attempts: .summary, snapshot: snapshot), status: "failed", reason: reason,
                modelEvents: modelEvents(id))
            throw ExitCode(unavailable ? BatonExitCode.runtimeUnavailable : BatonExitCode.runFailed)
        case .interrupted(let id):
            printer.finish(
                report: try self.report(id, attempts: .summary, snapshot: snapshot), status: "interrupted", modelEvents: modelEvents(id))
            throw ExitCode(BatonExitCode.interrupted)
        }
    }
}

/// Calls `handler` with 1, 2, ... for each SIGINT or SIGTERM while it exists.
final class SignalTrap: @unchecked Sendable {
    private var sources: [any DispatchSourceSignal] = []
    private let lock = NSLock()
    private var count = 0

    init(_ handler: @escaping @Sendable (Int) -> Void) {
        for signalNumber in [SIGINT, SIGTERM] {
            signal(signalNumber, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: signalNumber, queue: .global())
            source.setEventHandler { [weak self] in
                guard let self else { return }
                self.lock.lock()
                self.count += 1
                let current = self.count
                self.lock.unlock()
                handler(current)
            }
            source.resume()
            sources.append(source)
        }
    }

    func cancel() {
        for source in sources { source.cancel() }
        // The run is over but the process may still be printing: a late Ctrl-C exits 130 at once, as a
        // second one would, instead of dying of the signal.
        signal(SIGINT) { _ in _exit(130) }
        signal(SIGTERM) { _ in _exit(130) }
    }
}

/// The pipeline file a run came from, as it is now.
struct CurrentPipeline {
    let workspace: Workspace
    let report: RunReport
    /// Whether the file (or a prompt file) differs from the pinned snapshot.
    let changed: Bool

    init(workspace: Workspace, report: RunReport) {
        self.workspace = workspace
        self.report = report
        // Read the pinned files again (their paths are absolute) and compare: no compile needed.
        var current: [String: String] = [:]
        for path in report.snapshot.sources.keys {
            if let text = try? String(contentsOfFile: path, encoding: .utf8) { current[path] = text }
        }
        changed = current.count != report.snapshot.sources.count || RunSnapshot.hash(current) != report.run.pipelineHash
    }

    /// The current file compiled with the run's pinned profile, as a snapshot.
    func compile() throws -> RunSnapshot {
        guard let path = report.snapshot.pipelinePath else {
            Console.error("error: run \(report.run.id) does not record its pipeline file")
            throw ExitCode(BatonExitCode.notFound)
        }
        let result = try workspace.compile(path: path, profile: report.snapshot.profile)
        if !result.diagnostics.isEmpty {
            Console.error(DiagnosticFormatter.text(result.diagnostics, sources: result.sources, color: false), terminator: "")
        }
        guard let plan = result.plan else { throw ExitCode.invalidPipeline }
        var snapshot = RunSnapshot(
            plan: plan, profile: report.snapshot.profile,
            sources: Dictionary(result.sources.map { (workspace.absolute($0.key), $0.value.text) }) { first, _ in first },
            pipelinePath: path, forcedRuntime: report.snapshot.forcedRuntime)
        snapshot.fingerprints = Fingerprints.compute(plan, inputs: report.inputs)
        return snapshot
    }
}

/// `resume --dry-run` output.
enum ResumePlanFormatter {
    static func text(_ plan: ResumePlan, runID: String) -> String {
        var lines = ["resume \(runID):"]
        let width = plan.entries.map(\.stage.count).max() ?? 0
        for entry in plan.entries {
            let name = entry.stage.padding(toLength: width, withPad: " ", startingAt: 0)
            lines.append(
                entry.reuse
                    ? "  \(name)  reuse (\(entry.reusedRounds) completed round\(entry.reusedRounds == 1 ? "" : "s"))"
                    : "  \(name)  run (\(entry.reason))")
        }
        if !plan.changed.isEmpty {
            lines.append("superseded by the current pipeline: \(plan.changed.joined(separator: ", "))")
        }
        return lines.joined(separator: "\n")
    }
}
