/// How an index splits files into chunks.
public enum ChunkMethod: String, Sendable, Hashable, Codable, CaseIterable {
    /// Markdown sections: a chunk starts at a heading (files without headings split as `paragraph`).
    case heading
    /// Blank-line separated blocks (a fenced code block is one), packed up to the size (the default).
    case paragraph
    /// Fixed runs of lines (code): `size` and `overlap` count lines.
    case lines
}

/// An index's chunker settings.
public struct ChunkSpec: Sendable, Hashable, Codable {
    /// How files are split.
    public var by: ChunkMethod
    /// The most characters of a chunk (for `lines`: lines).
    public var size: Int
    /// Characters (for `lines`: lines) repeated from the previous chunk; 0 <= overlap < size.
    public var overlap: Int

    /// The keys as written in files.
    public enum CodingKeys: String, CodingKey, CaseIterable {
        case by, size, overlap
    }

    /// Creates chunker settings.
    public init(by: ChunkMethod, size: Int, overlap: Int) {
        self.by = by
        self.size = size
        self.overlap = overlap
    }

    /// The method when the file gives none.
    public static let defaultMethod = ChunkMethod.paragraph

    /// The size when the file gives none: characters, or lines for `lines`.
    public static func defaultSize(for method: ChunkMethod) -> Int { method == .lines ? 60 : 1200 }

    /// The overlap when the file gives none: characters, or lines for `lines`; never as large as `size`.
    public static func defaultOverlap(for method: ChunkMethod, size: Int) -> Int {
        let overlap = method == .lines ? 10 : 150
        // A small explicit size with the default overlap would break `overlap < size`: the default shrinks instead.
        return min(overlap, max(0, size / 4))
    }
}

/// Where an index keeps its vectors' search.
public enum VectorBackend: String, Sendable, Hashable, Codable, CaseIterable {
    /// Exact cosine search by dot products over every stored vector (the default).
    case exact
    /// The sqlite-vec `vec0` extension (needs env BATON_SQLITE_VEC=/path/vec0.so).
    case sqliteVec = "sqlite-vec"
}

/// An index as declared (`indexes:` in a pipeline or profile).
public struct IndexSpec: Sendable, Hashable, Codable {
    /// The index's name (its key under `indexes`).
    public var name: String
    /// Globs of the files to index, relative to the declaring file's folder.
    public var sources: [String]
    /// Globs of files to leave out, same base; nil: none.
    public var exclude: [String]? = nil
    /// The chunker settings as written; nil: all defaults.
    public var chunk: ChunkSpec? = nil
    /// The embedding model (`embed.model`): a registry model, or `runtime:model`.
    public var model: String
    /// Texts per embedding request (`embed.batch`); nil: 32.
    public var batch: Int? = nil
    /// The index file, relative to the declaring file's folder; nil: beside the run database.
    public var path: String? = nil
    /// The vector search backend; nil: exact.
    public var vector: VectorBackend? = nil
    /// The folder of the file that declares the index, as that file's path gives it (set by the decoder): `sources`,
    /// `exclude` and `path` are relative to it. Nil: the pipeline's folder.
    public var folder: String? = nil

    /// The stored keys (`name` is the mapping key; in files `model` and `batch` sit under `embed`, and `folder` is
    /// where the file is, not a key: ``AllowedKeys/index`` lists the file's keys).
    public enum CodingKeys: String, CodingKey, CaseIterable {
        case name, sources, exclude, chunk, model, batch, path, vector, folder
    }

    /// Texts per embedding request when the file gives none.
    public static let defaultBatch = 32
    /// The allowed batch sizes.
    public static let batchRange = 1...512

    /// Creates an index description.
    public init(
        name: String, sources: [String], exclude: [String]? = nil, chunk: ChunkSpec? = nil, model: String, batch: Int? = nil,
        path: String? = nil, vector: VectorBackend? = nil, folder: String? = nil
    ) {
        self.name = name
        self.sources = sources
        self.exclude = exclude
        self.chunk = chunk
        self.model = model
        self.batch = batch
        self.path = path
        self.vector = vector
        self.folder = folder
    }
}

/// A retrieve stage's query (`retrieve:`).
public struct RetrieveSpec: Sendable, Hashable, Codable {
    /// The index's name under `indexes`.
    public var index: String
    /// The query template, rendered like a prompt.
    public var query: String
    /// How many chunks to return (`top_k`); nil: 5.
    public var topK: Int? = nil
    /// Whether keyword search joins vector search by reciprocal rank fusion; nil: true.
    public var hybrid: Bool? = nil
    /// The least cosine similarity a returned chunk has (`min_score`); nil: no floor.
    public var minScore: Double? = nil

    /// The keys as written in files.
    public enum CodingKeys: String, CodingKey, CaseIterable {
        case index, query
        case topK = "top_k"
        case hybrid
        case minScore = "min_score"
    }

    /// Chunks returned when the stage gives no `top_k`.
    public static let defaultTopK = 5
    /// The allowed `top_k` values.
    public static let topKRange = 1...100
    /// The allowed `min_score` values (cosine similarity).
    public static let minScoreRange = -1.0...1.0

    /// Creates a query description.
    public init(index: String, query: String, topK: Int? = nil, hybrid: Bool? = nil, minScore: Double? = nil) {
        self.index = index
        self.query = query
        self.topK = topK
        self.hybrid = hybrid
        self.minScore = minScore
    }
}
