import ArgumentParser
import BatonEngine
import BatonSpec
import Foundation

extension BatonCommand {
    /// `baton submit`: queue a run for `baton worker`.
    struct Submit: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Queue a run for 'baton worker' processes, and print its id.",
            discussion: """
                The pipeline is compiled and pinned exactly as 'baton run' would (the same checks, trust included: a \
                worker executes what was admitted here, so workers must be trusted machines). The run waits as queued \
                until a worker with the engine level and the labels it needs claims it; 'baton runs' says why it waits. \
                Exit codes: \(BatonExitCode.ok) queued, \(BatonExitCode.usage) bad inputs, \(BatonExitCode.invalidPipeline) \
                invalid pipeline, \(BatonExitCode.notFound) no such pipeline, \(BatonExitCode.storeFailure) run database \
                failure or unreachable, \(BatonExitCode.untrusted) refused by trust.
                """)

        @Argument(help: "A pipeline name on the search path, or a pipeline file.")
        var pipeline: String

        @Option(name: .customLong("input"), help: "An input as KEY=VALUE (repeatable).")
        var inputs: [String] = []

        @Option(help: "A JSON or YAML file mapping input names to values (--input wins).")
        var inputFile: String?

        @OptionGroup var profileOption: ProfileOption

        @Option(help: "Queue order: a higher priority is claimed first (runs of equal priority go oldest first).")
        var priority = 0

        @Option(help: "Labels a worker must all have to claim the run, comma-separated (a worker's --labels).")
        var labels: String?

        @Flag(help: "Trust the project folder for this submission only (see 'baton run --trust').")
        var trust = false

        @OptionGroup var database: DatabaseOption

        @Flag(help: "Print {\"run_id\": ...} instead of the bare id.")
        var json = false

        func run() async throws {
            let workspace = Workspace.current()
            var loader = PlanLoader(workspace: workspace)
            loader.trustedForThisRun = trust
            let path = database.path(environment: workspace.environment)
            let loaded = try await loader.loadReporting(
                pipeline, profileName: profileOption.resolvedName(environment: workspace.environment), discover: true,
                database: path, echo: false)
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
                plan: loaded.plan, profile: loaded.profile, sources: loaded.sources.mapValues(\.text), pipelinePath: loaded.path,
                forcedRuntime: nil)
            snapshot.projectFolders = loaded.projectFolders
            snapshot.fingerprints = Fingerprints.compute(snapshot.plan, inputs: given)
            do {
                try TrustCheck(workspace: workspace).check(snapshot, folders: loaded.projectFolders, trusted: trust)
            } catch let refusal as TrustCheck.Refusal {
                for message in refusal.messages { Console.error("error: \(message)") }
                throw ExitCode(BatonExitCode.untrusted)
            } catch let error as ProjectTrustError {
                Console.error("error: \(error)")
                throw ExitCode(BatonExitCode.untrusted)
            }
            let catalog = RuntimeCatalog(environment: workspace.environment, keys: KeyFileSource(environment: workspace.environment))
            do {
                try catalog.prepareEchoRuntimes(for: snapshot)
            } catch {
                Console.error("error: \(error)")
                throw ExitCode(BatonExitCode.invalidPipeline)
            }
            do {
                try catalog.checkKeyHosts(for: snapshot)
            } catch {
                Console.error("error: \(error)")
                throw ExitCode(BatonExitCode.untrusted)
            }
            let now = RunStore.now()
            var record = RunRecord(
                id: Executor.newQueuedRunID(), pipeline: snapshot.plan.pipeline, pipelinePath: snapshot.pipelinePath,
                pipelineHash: snapshot.sourceHash, snapshot: try snapshot.encoded(), inputs: try Self.encode(given), status: .queued,
                createdAt: now, updatedAt: now, priority: priority, labels: QueueLabels.column(QueueLabels.parse(labels)))
            record.engineVersion = EngineLevel.effective(environment: workspace.environment)
            let id: String
            do {
                let store = try RunStore(path: path)
                id = try store.submitRun(record, freshID: { Executor.newQueuedRunID() })
            } catch {
                throw RunSession.fail(error)
            }
            if json {
                Console.out(QueueJSON.object(["run_id": id]))
            } else {
                Console.out(id)
            }
        }

        static func encode(_ inputs: [String: String]) throws -> String {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            return String(decoding: try encoder.encode(inputs), as: UTF8.self)
        }
    }
}

/// One-line JSON for the queue commands.
enum QueueJSON {
    static func object(_ value: [String: String]) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return (try? encoder.encode(value)).map { String(decoding: $0, as: UTF8.self) } ?? "{}"
    }
}
