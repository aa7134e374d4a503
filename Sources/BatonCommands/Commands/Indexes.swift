import ArgumentParser
import BatonEngine
import BatonSpec
import Foundation

extension BatonCommand {
    /// `baton indexes`: every index the pipelines on the search path and the profile declare, and the state of its file.
    struct Indexes: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List the indexes the pipelines and the profile declare: file, size, chunks, model, and whether it is stale.",
            discussion: """
                Each index declared under `indexes:` in a pipeline on the search path (or only --pipeline's) and in the \
                profile, with where it is declared, its sources, model and chunker, and its file: size, files, chunks, \
                dimensions, when it was built, and its state: fresh, stale (files were added, changed or removed since it \
                was built: 'baton index NAME' updates it) or not built. Nothing is embedded and no runtime is contacted; \
                checking staleness reads and hashes the sources. Exit codes: \(BatonExitCode.ok) listed, \
                \(BatonExitCode.invalidPipeline) invalid pipeline or profile, \(BatonExitCode.notFound) no such pipeline or profile.

                Examples:
                  baton indexes
                  baton indexes --pipeline ask-docs --json
                """)

        @Option(help: "Only the indexes of this pipeline (a name on the search path, or a file).")
        var pipeline: String?

        @OptionGroup var profileOption: ProfileOption

        /// An index without `path:` lives beside this database.
        @OptionGroup var database: DatabaseOption

        @Flag(help: "Print JSON: one object per index.")
        var json = false

        func run() async throws {
            let workspace = Workspace.current()
            let environment = workspace.environment
            let catalog = try await IndexCommandSupport.catalog(
                workspace: workspace, profileName: profileOption.resolvedName(environment: environment), pipeline: pipeline)
            let databasePath = database.path(environment: environment)
            var rows: [IndexRow] = []
            for declaration in catalog.declarations {
                rows.append(IndexRow.make(declaration, catalog: catalog, databasePath: databasePath))
            }
            if json {
                try Console.json(rows)
                return
            }
            guard !rows.isEmpty else {
                Console.error(
                    "no indexes declared in \(pipeline.map { "pipeline \($0)" } ?? "the pipelines on the search path") or profile \(catalog.profileName) (indexes: in a pipeline or profile; docs/retrieval.md)"
                )
                return
            }
            Console.out(rows.map(\.text).joined(separator: "\n"), terminator: "")
        }
    }
}

/// One index of `baton indexes`: its declaration, plan and file state.
struct IndexRow: Encodable {
    var name: String
    /// `pipeline` or `profile`.
    var declaredIn: String
    /// The declaring pipeline's or profile's name.
    var declaredBy: String
    /// The declaring file.
    var declaringFile: String
    var root: String?
    var sources: [String]
    var exclude: [String]
    var model: String?
    var runtime: String?
    var chunk: ChunkSpec?
    var file: String?
    var sizeBytes: Int64?
    var files: Int?
    var chunks: Int?
    var dimensions: Int?
    var builtAt: String?
    /// ``builtAt`` as epoch seconds, for the text (not in JSON).
    var builtSeconds: Double? = nil
    /// `fresh`, `stale`, `not-built` or `error`.
    var state: String
    var error: String?

    enum CodingKeys: String, CodingKey {
        case name, root, sources, exclude, model, runtime, chunk, file, files, chunks, dimensions, state, error
        case declaredIn = "declared_in"
        case declaredBy = "declared_by"
        case declaringFile = "declaring_file"
        case sizeBytes = "size_bytes"
        case builtAt = "built_at"
    }

    /// The row of `declaration`: planned with the catalog's profile, its file opened read-only for stats and staleness.
    static func make(_ declaration: IndexCatalog.Declaration, catalog: IndexCatalog, databasePath: String) -> IndexRow {
        var row = IndexRow(
            name: declaration.name, declaredIn: declaration.origin.kind, declaredBy: declaration.origin.name,
            declaringFile: declaration.file, sources: declaration.spec.sources, exclude: declaration.spec.exclude ?? [],
            model: declaration.spec.model, state: "error")
        do {
            let planned = try catalog.plan(declaration)
            let index = planned.index
            row.root = index.root
            row.model = index.model.name
            row.runtime = index.model.runtime
            row.chunk = index.chunk
            let service = IndexService(
                snapshot: planned.snapshot, runtimes: RuntimeCatalog(environment: catalog.workspace.environment),
                databasePath: databasePath, sqliteVecPath: IndexService.sqliteVecPath(environment: catalog.workspace.environment))
            let path = try service.path(of: index)
            row.file = path
            guard let stats = try service.stats(index) else {
                row.state = "not-built"
                return row
            }
            row.sizeBytes = stats.bytes
            row.files = stats.files
            row.chunks = stats.chunks
            row.dimensions = stats.fingerprint?.dimensions
            row.builtAt = stats.updatedAt.map { JSONTime.string($0.timeIntervalSince1970) }
            row.builtSeconds = stats.updatedAt?.timeIntervalSince1970
            row.state = try service.isStale(index) == true ? "stale" : "fresh"
        } catch let invalid as PipelineInvalid {
            row.error = invalid.diagnostics.filter { $0.severity == .error }.map(\.message).first ?? "the file has errors"
        } catch {
            row.error = "\(error)"
        }
        return row
    }

    /// When it was built, in local time for a person (`built_at` in JSON is RFC 3339).
    var builtDate: String? {
        guard let builtSeconds else { return nil }
        let formatter = DateFormatter()
        formatter.dateFormat = "yyyy-MM-dd HH:mm:ss"
        return formatter.string(from: Date(timeIntervalSince1970: builtSeconds))
    }

    /// The lines `baton indexes` prints for this index.
    var text: String {
        var lines = ["\(name) (\(declaredIn) \(declaredBy), \(declaringFile))"]
        let from = root.map { " in \($0)" } ?? ""
        lines.append(
            "  sources: \(sources.joined(separator: ", "))\(from)"
                + (exclude.isEmpty ? "" : "; exclude: \(exclude.joined(separator: ", "))"))
        var model = "  model: \(self.model ?? "?")" + (runtime.map { " on \($0)" } ?? "")
        if let chunk {
            let unit = chunk.by == .lines ? "lines" : "characters"
            model += "; chunks by \(chunk.by.rawValue), \(chunk.size) \(unit), \(chunk.overlap) overlap"
        }
        lines.append(model)
        if let file {
            lines.append("  file: \(file)" + (sizeBytes.map { ", \(ByteCount(bytes: $0))" } ?? ""))
        }
        if let files, let chunks {
            var built = "  \(files) file\(files == 1 ? "" : "s"), \(chunks) chunk\(chunks == 1 ? "" : "s")"
            if let dimensions { built += ", \(dimensions) dimensions" }
            if let builtAt = builtDate { built += ", built \(builtAt)" }
            lines.append(built)
        }
        switch state {
        case "fresh": lines.append("  state: fresh")
        case "stale": lines.append("  state: stale (files changed since it was built; 'baton index \(name)' updates it)")
        case "not-built": lines.append("  state: not built ('baton index \(name)' builds it)")
        default: lines.append("  state: error: \(error ?? "unknown")")
        }
        return lines.joined(separator: "\n") + "\n"
    }
}
