import ArgumentParser
import BatonEngine
import BatonSpec
import Foundation

extension BatonCommand {
    /// `baton index NAME`: builds or updates an index declared in a pipeline or the profile.
    struct Index: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Build or update an index: chunk and embed the files that are new or changed since the last time.",
            discussion: """
                NAME is an index declared under `indexes:` in a pipeline on the search path or in the profile (a \
                pipeline's wins over the profile's, as in a run; when several pipelines declare it differently, pick \
                one with --pipeline). Files whose content is unchanged are not embedded again, so an index with \
                nothing to do makes no embedding request; files that were removed leave the index. Binary, \
                unreadable and over-large (> 4 MiB) files are skipped and listed with the reason. An index built \
                with another embedding model or chunker is refused: --rebuild builds it anew beside the old file, \
                which is replaced only when the new one is complete. The embedding model is loaded first, within the \
                profile's memory budget. Progress goes to standard error (a bar on a terminal), the summary to \
                standard output. Exit codes: \(BatonExitCode.ok) built or up to date, \(BatonExitCode.runFailed) the \
                index could not be built (a damaged file, a runtime that cannot embed), \(BatonExitCode.usage) \
                several pipelines declare NAME, \(BatonExitCode.invalidPipeline) the declaration is at fault (a glob \
                that matches no file, built with another model or chunker: --rebuild), \(BatonExitCode.notFound) no \
                such index, pipeline or profile, \(BatonExitCode.runtimeUnavailable) the runtime is down, \
                \(BatonExitCode.untrusted) refused by trust (the declaring project folder is not trusted and the \
                files or an API key would leave this machine: 'baton trust', or --trust).

                Examples:
                  baton index baton-docs
                  baton index notes --profile local-gemma --rebuild
                  baton index baton-docs --pipeline ask-docs --json
                """)

        @Argument(help: "The index's name (its key under `indexes:`).")
        var name: String

        @Option(help: "The pipeline declaring the index (a name on the search path, or a file); default: any that does.")
        var pipeline: String?

        @OptionGroup var profileOption: ProfileOption

        @Flag(help: "Build the index anew (after changing its model or chunker); the old file stays until the new one is complete.")
        var rebuild = false

        @Flag(help: "Print the summary as JSON; progress lines stay on standard error.")
        var json = false

        @Flag(help: "Trust the project folder for this invocation only: its profile may send the files to a runtime off this machine.")
        var trust = false

        /// An index without `path:` lives beside this database.
        @OptionGroup var database: DatabaseOption

        func run() async throws {
            let workspace = Workspace.current()
            let environment = workspace.environment
            let catalog = try await IndexCommandSupport.catalog(
                workspace: workspace, profileName: profileOption.resolvedName(environment: environment), pipeline: pipeline)
            let declaration = try IndexCommandSupport.declaration(named: name, in: catalog)
            let planned = try IndexCommandSupport.plan(declaration, catalog: catalog, trust: trust)
            let service = IndexService.forSession(
                snapshot: planned.snapshot, databasePath: database.path(environment: environment), environment: environment)
            let index = planned.index
            let started = Date()
            // Crash tests stop the update after a file's chunks were committed (`BATON_TEST_KILL_AT=index-progress:N`).
            let killSwitch = environment["BATON_TEST_KILL_AT"].flatMap(KillSwitch.init(specification:))
            let progress = IndexProgressBar(index: index.name, live: !json && isatty(STDERR_FILENO) == 1)
            let update: IndexUpdate
            let path: String
            do {
                path = try service.path(of: index)
                try await IndexCommandSupport.loadModel(index, service: service)
                update = try await service.update(index, rebuild: rebuild) { step in
                    progress.show(step)
                    killSwitch?.hit(.indexProgress)
                }
            } catch {
                progress.finish()
                throw IndexCommandSupport.fail(error, index: index.name)
            }
            progress.finish()
            let summary = IndexSummary(
                index: index.name, file: path, model: index.model.name, runtime: index.model.runtime, rebuilt: rebuild, update: update,
                seconds: Date().timeIntervalSince(started))
            if json {
                try Console.json(summary)
            } else {
                Console.out(summary.text, terminator: "")
            }
        }
    }
}

/// What `baton index` prints when it is done.
struct IndexSummary: Encodable {
    /// A file left out, and why.
    struct Skipped: Encodable {
        var path: String
        var reason: String
    }

    var index: String
    var file: String
    var model: String
    var runtime: String?
    var rebuilt: Bool
    var added: Int
    var changed: Int
    var removed: Int
    var unchanged: Int
    var chunksEmbedded: Int
    var skipped: [Skipped]
    var seconds: Double

    enum CodingKeys: String, CodingKey {
        case index, file, model, runtime, rebuilt, added, changed, removed, unchanged, skipped, seconds
        case chunksEmbedded = "chunks_embedded"
    }

    init(index: String, file: String, model: String, runtime: String?, rebuilt: Bool, update: IndexUpdate, seconds: Double) {
        self.index = index
        self.file = file
        self.model = model
        self.runtime = runtime
        self.rebuilt = rebuilt
        added = update.added
        changed = update.changed
        removed = update.removed
        unchanged = update.unchanged
        chunksEmbedded = update.chunksEmbedded
        skipped = update.skipped.map { Skipped(path: $0.path, reason: $0.reason) }
        self.seconds = seconds
    }

    var text: String {
        let files = added + changed + unchanged
        var lines = [
            "index \(index): \(files) file\(files == 1 ? "" : "s") (\(added) added, \(changed) changed, \(removed) removed, \(unchanged) unchanged), "
                + "\(chunksEmbedded) chunk\(chunksEmbedded == 1 ? "" : "s") embedded with \(runtime.map { "\($0):" } ?? "")\(model) "
                + "in \(ProgressPrinter.duration(seconds))" + (rebuilt ? ", rebuilt" : "")
        ]
        lines.append("file: \(file)")
        for file in skipped { lines.append("skipped \(file.path): \(file.reason)") }
        return TerminalText.visible(lines.joined(separator: "\n")) + "\n"
    }
}

/// The progress of `baton index` on standard error: a bar redrawn in place on a terminal, otherwise a plain line at each
/// tenth of the files (tests and logs read those).
final class IndexProgressBar: @unchecked Sendable {
    private let index: String
    private let live: Bool
    private let lock = NSLock()
    private var drawn = false
    private var lastTenth = -1

    init(index: String, live: Bool) {
        self.index = index
        self.live = live
    }

    func show(_ progress: IndexProgress) {
        lock.lock()
        defer { lock.unlock() }
        let total = max(progress.filesTotal, 1)
        let chunks = progress.chunksEmbedded
        let line =
            "indexing \(index): \(progress.filesDone)/\(progress.filesTotal) files, \(chunks) chunk\(chunks == 1 ? "" : "s") embedded"
        if live {
            let width = 24
            let filled = min(width, progress.filesDone * width / total)
            let bar = String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled)
            Console.error("\r\u{1B}[K[\(bar)] " + line, terminator: "")
            drawn = true
            return
        }
        let tenth = progress.filesDone * 10 / total
        guard tenth != lastTenth else { return }
        lastTenth = tenth
        Console.error(line)
    }

    /// Ends the bar's line, so what follows starts on a line of its own.
    func finish() {
        lock.lock()
        defer { lock.unlock() }
        if drawn { Console.error("") }
        drawn = false
    }
}

/// What `baton index`, `baton search` and `baton indexes` share: the catalog, planning with the trust check, loading
/// the model, exit codes.
enum IndexCommandSupport {
    /// ``IndexCatalog/load(workspace:profileName:pipeline:)`` for a command: an invalid profile or `--pipeline` file
    /// prints its diagnostics and exits 65; a missing one exits 66 (`WorkspaceError`, mapped by the root command).
    static func catalog(workspace: Workspace, profileName: String?, pipeline: String?) async throws -> IndexCatalog {
        try await Console.reportingInvalid {
            try IndexCatalog.load(workspace: workspace, profileName: profileName, pipeline: pipeline)
        }
    }

    /// The declaration `name` stands for in `catalog`; prints why there is none and exits 64 when several pipelines
    /// declare it differently (--pipeline picks one), 66 when nothing declares it.
    static func declaration(named name: String, in catalog: IndexCatalog) throws -> IndexCatalog.Declaration {
        do {
            return try catalog.declaration(named: name)
        } catch {
            Console.error("error: \(error)")
            switch error {
            case .ambiguous: throw ExitCode(BatonExitCode.usage)
            case .notFound: throw ExitCode.notFound
            }
        }
    }

    /// Plans `declaration`; refuses (exit 78) an untrusted project folder whose index would send files to a runtime off
    /// this machine, as `baton run` does. Diagnostics of the declaration exit 65.
    static func plan(_ declaration: IndexCatalog.Declaration, catalog: IndexCatalog, trust: Bool) throws -> IndexCatalog.Planned {
        let planned: IndexCatalog.Planned
        do {
            planned = try catalog.plan(declaration)
        } catch let invalid as PipelineInvalid {
            Console.diagnostics(invalid.diagnostics, sources: invalid.sources)
            throw ExitCode.invalidPipeline
        }
        do {
            try TrustCheck(workspace: catalog.workspace).check(planned.snapshot, folders: planned.projectFolders, trusted: trust)
        } catch let refusal as TrustCheck.Refusal {
            for message in refusal.messages { Console.error("error: \(message)") }
            throw ExitCode(BatonExitCode.untrusted)
        } catch let error as ProjectTrustError {
            Console.error("error: \(error)")
            throw ExitCode(BatonExitCode.untrusted)
        }
        return planned
    }

    /// Makes the embedding model resident (on runtimes whose models Baton loads), saying what was unloaded for it.
    static func loadModel(_ index: IndexPlan, service: IndexService) async throws {
        guard let loading = try await service.loadModel(index) else { return }
        for victim in loading.unloaded {
            Console.error("unloaded \(victim) to make room for \(loading.model) (memory budget)")
        }
        if let seconds = loading.loadSeconds {
            Console.error("loaded \(loading.model) in \(ProgressPrinter.duration(seconds))")
        }
    }

    /// Prints `error` and returns the exit code for it: 65 when the declaration is at fault (no sources, built with
    /// another model or chunker), 69 when the runtime is down, 1 otherwise.
    static func fail(_ error: any Error, index: String) -> ExitCode {
        if let error = error as? IndexError {
            Console.error("error: \(error.message)")
            switch error.kind {
            case .noSources, .fingerprintMismatch: return ExitCode.invalidPipeline
            default: return ExitCode(BatonExitCode.runFailed)
            }
        }
        if let error = error as? RuntimeError {
            Console.error("error: index '\(index)': \(error.message)")
            return ExitCode(error.code == .unreachable ? BatonExitCode.runtimeUnavailable : BatonExitCode.runFailed)
        }
        if let error = error as? ExitCode { return error }
        Console.error("error: index '\(index)': \(error)")
        return ExitCode(BatonExitCode.runFailed)
    }
}
