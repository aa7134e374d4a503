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
            let catalog = try IndexCatalog.load(
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

/// The indexes declared in the pipelines on the search path (or one pipeline) and in a profile, found by name for
/// `baton index`, `baton search` and `baton indexes`, and planned as a run would plan them.
struct IndexCatalog {
    /// Where an index is declared.
    enum Origin: Hashable {
        /// A pipeline, by name and file.
        case pipeline(name: String, path: String)
        /// A profile (of the `extends` chain), by name and file.
        case profile(name: String, path: String)

        var kind: String {
            switch self {
            case .pipeline: return "pipeline"
            case .profile: return "profile"
            }
        }

        var name: String {
            switch self {
            case .pipeline(let name, _), .profile(let name, _): return name
            }
        }
    }

    /// One `indexes:` entry.
    struct Declaration {
        var spec: IndexSpec
        var origin: Origin
        /// The declaring file, as read (relative to the current folder when below it).
        var file: String
        /// The declaring file's errors when it has some: a declaration read from a broken file may have lost values
        /// (an invalid `chunk:` is left out), so it is not planned.
        var invalid: PipelineInvalid? = nil
        var name: String { spec.name }
    }

    /// An index planned as a run plans it, with the snapshot the engine's ``IndexService`` needs.
    struct Planned {
        var index: IndexPlan
        var snapshot: RunSnapshot
        /// The project folders its files came from (the trust check reads them).
        var projectFolders: [String]
    }

    let workspace: Workspace
    /// The profile the indexes are planned with.
    let profileName: String
    let profile: ResolvedProfile?
    /// Every declaration: the pipelines' in search-path order, then the profile's.
    let declarations: [Declaration]

    /// Reads the declarations of `pipeline` (nil: every pipeline on the search path) and of the profile.
    ///
    /// A pipeline on the search path that cannot be read or decoded is passed over (`baton validate` reports it); the
    /// profile and a pipeline named with `--pipeline` must load (exit 66 when missing, 65 when invalid).
    static func load(workspace: Workspace, profileName requested: String?, pipeline: String?) throws -> IndexCatalog {
        let profileName = workspace.profileName(requested: requested) ?? BuiltInProfiles.defaultName
        let loaded = try workspace.loadProfile(profileName)
        if loaded.diagnostics.hasErrors {
            Console.diagnostics(loaded.diagnostics, sources: loaded.sources)
            throw ExitCode.invalidPipeline
        }
        var declarations: [Declaration] = []
        let files: [(name: String, path: String)]
        if let pipeline {
            let path = try workspace.pipelinePath(pipeline)
            files = [(((path as NSString).lastPathComponent as NSString).deletingPathExtension, path)]
        } else {
            files = workspace.pipelines().map { ($0.name, $0.path) }
        }
        for (_, path) in files {
            guard let source = try? workspace.read(path) else { continue }
            let document = PipelineDecoder.decode(source)
            if pipeline != nil, document.diagnostics.hasErrors {
                Console.diagnostics(document.diagnostics, sources: [source.path: source])
                throw ExitCode.invalidPipeline
            }
            guard let spec = document.spec else { continue }
            let invalid =
                document.diagnostics.hasErrors
                ? PipelineInvalid(diagnostics: document.diagnostics, sources: [source.path: source]) : nil
            for index in spec.indexes ?? [] {
                declarations.append(
                    Declaration(spec: index, origin: .pipeline(name: spec.name, path: path), file: source.path, invalid: invalid))
            }
        }
        // The requested profile first, then what it extends: a name declared twice is the extending profile's.
        var seen: Set<String> = []
        for document in loaded.documents {
            for index in document.spec?.indexes ?? [] where seen.insert(index.name).inserted {
                let name = document.spec?.name ?? (document.file.path as NSString).lastPathComponent
                declarations.append(
                    Declaration(spec: index, origin: .profile(name: name, path: document.file.path), file: document.file.path))
            }
        }
        return IndexCatalog(workspace: workspace, profileName: profileName, profile: loaded.profile, declarations: declarations)
    }

    /// The declaration `name` stands for: the only pipeline declaring it (a pipeline's wins over the profile's, as in a
    /// run), else the profile's.
    ///
    /// - Throws: exit 64 when several pipelines declare it differently (listing them, suggesting --pipeline); exit 66
    ///   when nothing declares it (with the nearest name).
    func declaration(named name: String) throws -> Declaration {
        let pipelines = declarations.filter { $0.name == name && $0.origin.kind == "pipeline" }
        // Several pipelines may share one index (the same settings from the same folder): that is one index.
        var distinct: [Declaration] = []
        for declaration in pipelines
        where !distinct.contains(where: {
            $0.spec == declaration.spec
                && Self.folder(of: $0.file, workspace: workspace) == Self.folder(of: declaration.file, workspace: workspace)
        }) {
            distinct.append(declaration)
        }
        if distinct.count > 1 {
            let places = distinct.map { "\($0.origin.name) (\($0.file))" }.joined(separator: ", ")
            Console.error(
                "error: index '\(name)' is declared differently by \(distinct.count) pipelines: \(places); choose one with --pipeline NAME")
            throw ExitCode(BatonExitCode.usage)
        }
        if let only = distinct.first { return only }
        if let profile = declarations.first(where: { $0.name == name }) { return profile }
        let known = Array(Set(declarations.map(\.name))).sorted()
        let hint = Suggestion.closest(to: name, in: known).map { "; did you mean '\($0)'?" } ?? ""
        let listed = known.isEmpty ? "no index is declared" : "declared: \(known.joined(separator: ", "))"
        Console.error(
            "error: no index '\(name)' in the pipelines on the search path or profile \(profileName)\(hint) (\(listed); 'baton indexes' lists them)"
        )
        throw ExitCode.notFound
    }

    /// The absolute folder of a declaring file.
    static func folder(of file: String, workspace: Workspace) -> String {
        (workspace.absolute(file) as NSString).deletingLastPathComponent
    }

    /// Plans `declaration` as a run would: a small pipeline with one retrieve stage of the index, compiled beside the
    /// declaring file (so its globs and `path:` resolve against that folder) with the catalog's profile.
    ///
    /// Compiling the declaring pipeline itself would leave out an index no stage uses, and a profile's index has no
    /// pipeline; the one-stage pipeline plans every declaration the same way.
    ///
    /// - Throws: ``PipelineInvalid`` when the index's declaration has errors.
    func plan(_ declaration: Declaration) throws -> Planned {
        if let invalid = declaration.invalid { throw invalid }
        let folder = Self.folder(of: declaration.file, workspace: workspace)
        var lines = ["version: 1", "name: \(Self.json(declaration.origin.name))"]
        if case .pipeline = declaration.origin {
            lines.append("indexes:")
            lines.append("  \(Self.json(declaration.name)): \(Self.json(Self.fileValue(declaration.spec)))")
        }
        lines.append("stages:")
        lines.append("  index: {retrieve: {index: \(Self.json(declaration.name)), query: index}}")
        let path = (folder as NSString).appendingPathComponent(".baton-index-\(declaration.name).yaml")
        let source = SourceFile(path: workspace.display(path), text: lines.joined(separator: "\n") + "\n")
        let result = workspace.compiler(profile: profile).compile(source)
        guard let plan = result.plan, !result.diagnostics.hasErrors,
            let index = plan.indexes?.first(where: { $0.name == declaration.name })
        else {
            // The declaring file's own diagnostics point at its lines; the one-stage pipeline's would not.
            if case .pipeline(_, let path) = declaration.origin, let own = try? workspace.compile(path: path, profile: profile),
                own.diagnostics.hasErrors
            {
                throw PipelineInvalid(diagnostics: own.diagnostics, sources: own.sources)
            }
            throw PipelineInvalid(diagnostics: result.diagnostics, sources: result.sources)
        }
        let snapshot = RunSnapshot(plan: plan, profile: profile, sources: [:], pipelinePath: nil, forcedRuntime: nil)
        let profileFiles = profileSourcePaths
        let folders = workspace.projectFolders(of: [declaration.file] + profileFiles)
        return Planned(index: index, snapshot: snapshot, projectFolders: folders)
    }

    /// The files of the profile chain (for the trust check).
    var profileSourcePaths: [String] {
        (try? workspace.loadProfile(profileName).sources.keys.map { $0 }) ?? []
    }

    /// An index declaration as it is written in a file (`embed:` holding model and batch).
    struct FileValue: Encodable {
        struct Embed: Encodable {
            var model: String
            var batch: Int?
        }
        var sources: [String]
        var exclude: [String]?
        var chunk: ChunkSpec?
        var embed: Embed
        var path: String?
        var vector: VectorBackend?
    }

    static func fileValue(_ spec: IndexSpec) -> FileValue {
        FileValue(
            sources: spec.sources, exclude: spec.exclude, chunk: spec.chunk, embed: .init(model: spec.model, batch: spec.batch),
            path: spec.path, vector: spec.vector)
    }

    /// `value` as JSON text, which YAML reads as the same value (flow style), so names and globs need no YAML quoting.
    static func json(_ value: some Encodable) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return (try? String(decoding: encoder.encode(value), as: UTF8.self)) ?? "null"
    }
}
