import BatonSpec
import Foundation

/// The indexes declared in the pipelines on the search path (or one pipeline) and in a profile, found by name for
/// `baton index`, `baton search` and `baton indexes`, and planned as a run would plan them. It prints nothing: problems
/// come back as ``IndexCatalogError``, ``PipelineInvalid`` and `WorkspaceError`.
public struct IndexCatalog: Sendable {
    /// Where an index is declared.
    public enum Origin: Sendable, Hashable {
        /// A pipeline, by name and file.
        case pipeline(name: String, path: String)
        /// A profile (of the `extends` chain), by name and file.
        case profile(name: String, path: String)

        /// `pipeline` or `profile`.
        public var kind: String {
            switch self {
            case .pipeline: return "pipeline"
            case .profile: return "profile"
            }
        }

        /// The declaring pipeline's or profile's name.
        public var name: String {
            switch self {
            case .pipeline(let name, _), .profile(let name, _): return name
            }
        }
    }

    /// One `indexes:` entry.
    public struct Declaration: Sendable {
        /// The entry as declared.
        public var spec: IndexSpec
        /// The pipeline or profile declaring it.
        public var origin: Origin
        /// The declaring file, as read (relative to the current folder when below it).
        public var file: String
        /// The declaring file's errors when it has some: a declaration read from a broken file may have lost values
        /// (an invalid `chunk:` is left out), so it is not planned.
        public var invalid: PipelineInvalid? = nil
        /// The index's name (its key under `indexes:`).
        public var name: String { spec.name }
    }

    /// An index planned as a run plans it, with the snapshot the engine's ``IndexService`` needs.
    public struct Planned: Sendable {
        /// The planned index.
        public var index: IndexPlan
        /// The one-stage run's snapshot (plan and profile) an ``IndexService`` is made from.
        public var snapshot: RunSnapshot
        /// The project folders its files came from (the trust check reads them).
        public var projectFolders: [String]
    }

    /// Where pipelines and profiles are found.
    public let workspace: Workspace
    /// The profile the indexes are planned with.
    public let profileName: String
    /// That profile, resolved through its `extends` chain.
    public let profile: ResolvedProfile?
    /// Every declaration: the pipelines' in search-path order, then the profile's.
    public let declarations: [Declaration]

    /// Reads the declarations of `pipeline` (nil: every pipeline on the search path) and of the profile.
    ///
    /// A pipeline on the search path that cannot be read or decoded is passed over (`baton validate` reports it); the
    /// profile and a pipeline named with `--pipeline` must load.
    ///
    /// - Parameters:
    ///   - workspace: where pipelines and profiles are found.
    ///   - requested: the profile asked for, a name or a file (nil: the default profile).
    ///   - pipeline: the only pipeline to read (a name on the search path, or a file); nil reads them all.
    /// - Throws: ``PipelineInvalid`` when the profile, or the pipeline named by `pipeline`, has errors;
    ///   `WorkspaceError` when either is missing or cannot be read.
    public static func load(workspace: Workspace, profileName requested: String?, pipeline: String?) throws -> IndexCatalog {
        let profileName = workspace.profileName(requested: requested) ?? BuiltInProfiles.defaultName
        let loaded = try workspace.loadProfile(profileName)
        if loaded.diagnostics.hasErrors {
            throw PipelineInvalid(diagnostics: loaded.diagnostics, sources: loaded.sources)
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
                throw PipelineInvalid(diagnostics: document.diagnostics, sources: [source.path: source])
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
    /// - Throws: ``IndexCatalogError/ambiguous(name:places:)`` when several pipelines declare it differently;
    ///   ``IndexCatalogError/notFound(name:nearest:known:profile:)`` when nothing declares it.
    public func declaration(named name: String) throws(IndexCatalogError) -> Declaration {
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
            throw .ambiguous(
                name: name, places: distinct.map { IndexCatalogError.Place(pipeline: $0.origin.name, file: $0.file) })
        }
        if let only = distinct.first { return only }
        if let profile = declarations.first(where: { $0.name == name }) { return profile }
        let known = Array(Set(declarations.map(\.name))).sorted()
        throw .notFound(name: name, nearest: Suggestion.closest(to: name, in: known), known: known, profile: profileName)
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
    public func plan(_ declaration: Declaration) throws -> Planned {
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

    /// `spec` in the shape a pipeline file declares it, for the one-stage pipeline.
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

/// Why ``IndexCatalog/declaration(named:)`` cannot pick a declaration; `description` names the index and the fix.
public enum IndexCatalogError: Error, Sendable, Hashable, CustomStringConvertible {
    /// A pipeline declaring an index, and its file.
    public struct Place: Sendable, Hashable {
        /// The pipeline's name.
        public var pipeline: String
        /// The declaring file, as read.
        public var file: String

        /// The pipeline `pipeline` declaring the index in `file`.
        public init(pipeline: String, file: String) {
            self.pipeline = pipeline
            self.file = file
        }
    }

    /// Several pipelines declare the index `name` differently (other settings, or another folder): `--pipeline` picks one.
    case ambiguous(name: String, places: [Place])
    /// Nothing declares `name`: `nearest` is the closest known name, `known` every declared name (sorted), `profile`
    /// the profile searched.
    case notFound(name: String, nearest: String?, known: [String], profile: String)

    /// The full sentence the commands print after `error: `.
    public var description: String {
        switch self {
        case .ambiguous(let name, let places):
            let listed = places.map { "\($0.pipeline) (\($0.file))" }.joined(separator: ", ")
            return "index '\(name)' is declared differently by \(places.count) pipelines: \(listed); choose one with --pipeline NAME"
        case .notFound(let name, let nearest, let known, let profile):
            let hint = nearest.map { "; did you mean '\($0)'?" } ?? ""
            let listed = known.isEmpty ? "no index is declared" : "declared: \(known.joined(separator: ", "))"
            return "no index '\(name)' in the pipelines on the search path or profile \(profile)\(hint)"
                + " (\(listed); 'baton indexes' lists them)"
        }
    }
}
