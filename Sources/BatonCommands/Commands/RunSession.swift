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
            store = try RunStore.forSession(path: path, environment: environment)
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
        let counts = (try? store.eventCounts(id, kinds: [.modelLoaded, .modelUnloaded])) ?? [:]
        return (counts[.modelLoaded] ?? 0, counts[.modelUnloaded] ?? 0)
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

    /// What is checked before a run starts or continues: the snapshot it will run and the project folders its files came from.
    struct Preflight {
        /// The snapshot the run executes (for resume, the pinned one or its replacement).
        var snapshot: RunSnapshot
        /// The project folders of its pipeline and profile files (``TrustCheck/folders(of:workspace:)``).
        var folders: [String]
    }

    /// Refuses (exit 78, nothing recorded) a run from an untrusted project folder that would send a key, reach a
    /// runtime off this machine or start a command, unless `--trust` was given; one message per thing refused.
    func checkTrust(_ preflight: Preflight, workspace: Workspace) throws {
        do {
            try TrustCheck(workspace: workspace).check(preflight.snapshot, folders: preflight.folders, trusted: options.trust)
        } catch let refusal as TrustCheck.Refusal {
            for message in refusal.messages { Console.error("error: \(message)") }
            throw ExitCode(BatonExitCode.untrusted)
        } catch let error as ProjectTrustError {
            Console.error("error: \(error)")
            throw ExitCode(BatonExitCode.untrusted)
        }
    }

    /// Runs `body` with an executor; prints progress and the outcome, handles SIGINT and SIGTERM, and
    /// throws the exit code the outcome calls for.
    ///
    /// - Parameters:
    ///   - snapshot: the run's snapshot, so the final report need not decode it again.
    ///   - preflight: what to check before anything runs: the project folders' trust (exit 78) and the echo scripts
    ///     (exit 65); both refuse the run before it is recorded.
    ///   - callResolutions: `resume --retry-call/--skip-call`, by stage.
    ///   - approval: decides calls that need approval; nil: `--approve` names, else the terminal, else denied.
    func execute(
        snapshot: RunSnapshot? = nil, preflight: Preflight? = nil, callResolutions: [String: ToolCallResolution] = [:],
        approval: ToolApprovalPrompt? = nil,
        _ body: @escaping @Sendable (Executor, LeaseClaim) async throws -> RunOutcome
    ) async throws {
        if let prepared = preflight?.snapshot ?? snapshot {
            let unknown = ToolApprovalPrompt.unknownNames(options.approve, in: prepared.plan)
            for message in unknown { Console.error("error: \(message)") }
            if !unknown.isEmpty { throw ExitCode(BatonExitCode.usage) }
        }
        if let preflight { try checkTrust(preflight, workspace: Workspace.current(environment: environment)) }
        let printer = ProgressPrinter(
            mode: options.json ? .json : options.quiet ? .quiet : .human,
            streamTokens: isatty(STDOUT_FILENO) == 1 && isatty(STDERR_FILENO) == 1, raw: options.rawOutput.raw)
        var executor = Executor.forSession(store: store, environment: environment) { printer.handle($0) }
        executor.approver = (approval ?? ToolApprovalPrompt.forTerminal(approved: options.approve)).approver
        executor.callResolutions = callResolutions
        executor.updatesIndexes = !options.noIndexUpdate
        if let prepared = preflight?.snapshot ?? snapshot, let catalog = executor.runtimes as? RuntimeCatalog {
            // Echo scripts are read before the run exists: a malformed one is refused (65), never recorded as a failed run.
            do {
                try catalog.prepareEchoRuntimes(for: prepared)
            } catch {
                Console.error("error: \(error)")
                throw ExitCode(BatonExitCode.invalidPipeline)
            }
            // A key bound to other hosts is refused before the run exists (78), in a trusted folder too.
            do {
                try catalog.checkKeyHosts(for: prepared)
            } catch {
                Console.error("error: \(error)")
                throw ExitCode(BatonExitCode.untrusted)
            }
        }
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
            printer.finish(report: report, status: .completed, modelEvents: modelEvents(id))
        case .failed(let id, let reason, let unavailable):
            printer.finish(
                report: try self.report(id, attempts: .summary, snapshot: snapshot), status: .failed, reason: reason,
                modelEvents: modelEvents(id))
            throw ExitCode(unavailable ? BatonExitCode.runtimeUnavailable : BatonExitCode.runFailed)
        case .interrupted(let id):
            printer.finish(
                report: try self.report(id, attempts: .summary, snapshot: snapshot), status: .interrupted, modelEvents: modelEvents(id))
            throw ExitCode(BatonExitCode.interrupted)
        case .ambiguousCall(let id, _, let message):
            // The run stopped before anything ran: the message names the call and the two ways on (exit 79).
            printer.finish(
                report: try self.report(id, attempts: .summary, snapshot: snapshot), status: .failed, reason: message,
                modelEvents: modelEvents(id), stoppedAtCall: true)
            throw ExitCode(BatonExitCode.ambiguousCall)
        }
    }
}
