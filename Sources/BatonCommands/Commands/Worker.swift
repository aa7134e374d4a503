import ArgumentParser
import BatonEngine
import BatonSpec
import Foundation

extension BatonCommand {
    /// `baton worker`: claim queued runs and execute them.
    struct Worker: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Claim queued runs from the run database and execute them, until stopped.",
            discussion: """
                A worker executes a claimed run as 'baton resume' would (its pinned snapshot; completed attempts never \
                run again) under a lease its heartbeat renews every third of --lease; every commit checks the lease's \
                epoch, so a worker that lost its run records nothing more. Workers also requeue the runs of workers that \
                died. SIGTERM or Ctrl-C: stop claiming, interrupt the runs in flight, hand them back to the queue, exit \
                \(BatonExitCode.ok). With PostgreSQL a worker wakes at once on a submission (LISTEN), else it polls. \
                Exit codes: \(BatonExitCode.ok) stopped, \(BatonExitCode.usage) bad options, \(BatonExitCode.storeFailure) \
                run database failure or unreachable.
                """)

        @OptionGroup var database: DatabaseOption

        @Option(help: "How many runs to execute at once.")
        var concurrency = 1

        @Option(help: "The labels this worker has, comma-separated; it claims only runs whose labels it all has.")
        var labels: String?

        @Option(help: "Seconds a claim lasts without a heartbeat (the heartbeat comes every third of it).")
        var lease: Double = 30

        @Option(help: "Seconds between looks at the queue when nothing woke the worker.")
        var poll: Double = 2

        @Option(help: "The worker's id in 'baton workers' (default: host-pid-random).")
        var id: String?

        @Option(help: "Times a run is requeued after its worker died before it fails instead.")
        var maxRecoveries = 3

        @Flag(help: "Execute at most one run, then exit (for tests and scripts).")
        var once = false

        func validate() throws {
            if concurrency < 1 { throw ValidationError("--concurrency \(concurrency): give 1 or more runs at once") }
            if !(lease >= 1) { throw ValidationError("--lease \(lease): give 1 second or more") }
            if !(poll > 0) { throw ValidationError("--poll \(poll): give a positive number of seconds") }
            if maxRecoveries < 0 { throw ValidationError("--max-recoveries \(maxRecoveries): give 0 or more") }
            if let id, id.isEmpty { throw ValidationError("--id: give a non-empty name") }
        }

        func run() async throws {
            let environment = ProcessInfo.processInfo.environment
            let store: RunStore
            do {
                store = try RunStore.forSession(path: database.path(environment: environment), environment: environment)
            } catch {
                throw RunSession.fail(error)
            }
            var settings = WorkerSettings(id: id ?? WorkerSettings.defaultID())
            settings.labels = QueueLabels.parse(labels)
            settings.concurrency = concurrency
            settings.leaseSeconds = lease
            settings.pollSeconds = poll
            settings.maxRecoveries = maxRecoveries
            settings.once = once
            settings.engineLevel = EngineLevel.effective(environment: environment)
            let worker = QueueWorker(store: store, settings: settings, log: { Console.error($0) }) { claim, fenced in
                try await Self.execute(claim, store: fenced, environment: environment)
            }
            let name = settings.id
            let signals = SignalTrap { count in
                if count == 1 {
                    Console.error("worker \(name): stopping: interrupting the runs in flight and handing them back (again to quit at once)")
                    worker.stop()
                } else {
                    Foundation.exit(BatonExitCode.interrupted)
                }
            }
            defer { signals.cancel() }
            do {
                try await worker.run()
            } catch {
                throw RunSession.fail(error)
            }
        }

        /// Executes a claimed run as `baton resume` does, on its fenced store; echo scripts and key hosts are checked
        /// first, as `baton run` does before a run starts (a refusal fails the run with the reason).
        static func execute(_ claim: QueueClaim, store: RunStore, environment: [String: String]) async throws -> RunOutcome {
            let run = try store.run(claim.runID)
            let snapshot = try RunSnapshot.decode(run.snapshot)
            let executor = Executor.forSession(store: store, environment: environment) { _ in }
            if let catalog = executor.runtimes as? RuntimeCatalog {
                do {
                    try catalog.prepareEchoRuntimes(for: snapshot)
                    try catalog.checkKeyHosts(for: snapshot)
                } catch {
                    let reason = "\(error)"
                    try store.setStatus(claim.runID, .failed, error: reason, event: .runFailed)
                    return .failed(runID: claim.runID, reason: reason, runtimeUnavailable: false)
                }
            }
            return try await executor.resume(claim.runID, claim: LeaseClaim.current(), snapshot: snapshot)
        }
    }
}
