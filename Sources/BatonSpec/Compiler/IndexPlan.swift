/// An index as a run uses it: declared settings with defaults applied, paths resolved, model resolved.
public struct IndexPlan: Sendable, Hashable, Codable {
    /// The index's name.
    public var name: String
    /// The folder globs are relative to: the declaring file's folder, absolute.
    public var root: String
    /// Globs of the files to index, relative to ``root`` (or absolute, as written).
    public var sources: [String]
    /// Globs of files to leave out; empty: none.
    public var exclude: [String]
    /// The chunker settings, defaults applied.
    public var chunk: ChunkSpec
    /// The embedding model, with runtime and footprint resolved as a stage's model is.
    public var model: ResolvedModel
    /// Texts per embedding request.
    public var batch: Int
    /// The index file, absolute; nil: the default next to the run database (the engine decides).
    public var path: String?
    /// The vector search backend.
    public var vector: VectorBackend

    /// Creates a planned index.
    public init(
        name: String, root: String, sources: [String], exclude: [String], chunk: ChunkSpec, model: ResolvedModel, batch: Int,
        path: String?, vector: VectorBackend
    ) {
        self.name = name
        self.root = root
        self.sources = sources
        self.exclude = exclude
        self.chunk = chunk
        self.model = model
        self.batch = batch
        self.path = path
        self.vector = vector
    }
}

/// A retrieve stage's query as planned.
public struct RetrieveStep: Sendable, Hashable, Codable {
    /// The index's name (one of ``ExecutionPlan/indexes``).
    public var index: String
    /// The query template.
    public var query: String
    /// How many chunks to return.
    public var topK: Int
    /// Whether keyword search joins vector search (reciprocal rank fusion, k = 60).
    public var hybrid: Bool
    /// The least cosine similarity a returned chunk has; nil: no floor.
    public var minScore: Double?

    /// Creates a planned query.
    public init(index: String, query: String, topK: Int, hybrid: Bool, minScore: Double?) {
        self.index = index
        self.query = query
        self.topK = topK
        self.hybrid = hybrid
        self.minScore = minScore
    }
}

/// Plans a declared index as a run uses it; the compiler plans the indexes of a pipeline with it, and `baton index`
/// plans an index of a profile alone.
public enum IndexPlanning {
    /// `index` with defaults applied, its folder made absolute against `currentDirectory`, `path` resolved against
    /// that folder, and its model resolved through `profile` as a stage's model is: a `RUNTIME:` prefix, else the
    /// registry entry's runtime, else the profile's `default_runtime`; the footprint from the registry.
    ///
    /// - Parameter pipelineFolder: the folder used when the index records none (a pipeline's own index, decoded
    ///   before the decoder recorded folders).
    public static func plan(
        _ index: IndexSpec, profile: ProfileSpec?, currentDirectory: String, pipelineFolder: String? = nil
    ) -> IndexPlan {
        let root = absolute(index.folder ?? pipelineFolder ?? "", base: currentDirectory)
        let method = index.chunk?.by ?? ChunkSpec.defaultMethod
        let chunk =
            index.chunk
            ?? ChunkSpec(
                by: method, size: ChunkSpec.defaultSize(for: method),
                overlap: ChunkSpec.defaultOverlap(for: method, size: ChunkSpec.defaultSize(for: method)))
        return IndexPlan(
            name: index.name, root: root, sources: index.sources, exclude: index.exclude ?? [], chunk: chunk,
            model: resolveModel(index.model, profile: profile), batch: index.batch ?? IndexSpec.defaultBatch,
            path: index.path.map { absolute($0, base: root) }, vector: index.vector ?? .exact)
    }

    /// The embedding model `reference` resolved through `profile`; without a profile, the name as written.
    public static func resolveModel(_ reference: String, profile: ProfileSpec?) -> ResolvedModel {
        guard let profile else { return ResolvedModel(name: reference, runtime: nil, footprint: nil) }
        let runtimes = Set(profile.runtimes.map(\.name))
        let (pinned, name) = ModelReference(reference).split(knownRuntimes: runtimes)
        let entry = profile.model(named: name)
        var runtime = pinned ?? entry?.runtime ?? profile.defaultRuntime
        if let named = runtime, !runtimes.contains(named) { runtime = nil }
        return ResolvedModel(name: name, runtime: runtime, footprint: entry?.footprint)
    }

    /// `path` made absolute against `base` (unless it is already), with `.` and `..` segments and repeated `/` removed.
    public static func absolute(_ path: String, base: String) -> String {
        let joined = path.hasPrefix("/") ? path : (base.hasSuffix("/") ? base : base + "/") + path
        var parts: [Substring] = []
        for part in joined.split(separator: "/", omittingEmptySubsequences: true) {
            switch part {
            case ".": continue
            case "..": _ = parts.popLast()
            default: parts.append(part)
            }
        }
        return "/" + parts.joined(separator: "/")
    }
}
