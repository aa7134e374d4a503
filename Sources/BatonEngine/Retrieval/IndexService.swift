import BatonSpec
import Foundation

/// The one place that turns an ``IndexPlan`` into a usable index: its file, its embedder, its fingerprint; it
/// updates and queries it, and loads its embedding model outside a run. A run's retrieve stages
/// (Executor+Retrieve) and the commands (`baton index`, `baton search`, `baton indexes`) all go through it.
///
/// For a command (the plan and profile loaded as `baton run` loads them):
///
/// ```swift
/// let service = IndexService.forSession(snapshot: snapshot, databasePath: db, environment: environment)
/// let index = snapshot.plan.indexes!.first { $0.name == name }!   // or an index of the profile, compiled alike
/// try await service.loadModel(index)                               // nil on runtimes that manage their own models
/// let update = try await service.update(index, rebuild: rebuild) { progress in bar.show(progress) }
/// let found = try await service.query(index, text: "how do I resume?", mode: .hybrid, topK: 5, minScore: nil)
/// let stale = try service.isStale(index)                            // nil: not built
/// let stats = try service.stats(index)                              // nil: not built
/// ```
///
/// Errors: ``IndexError`` (the index's fault: no sources, a fingerprint mismatch, not built, damaged, an unusable
/// runtime kind, a missing sqlite-vec); ``RuntimeError`` (the runtime's: `.unreachable` means it is down).
/// ``IndexError/Kind/fingerprintMismatch`` and ``IndexError/Kind/noSources`` are the YAML's fault (exit 65); the rest
/// exit 1, a runtime down 69 (contract, section 5).
public struct IndexService: Sendable {
    /// The run (or the command's plan and profile) the index belongs to: the runtimes and registry come from it.
    public var snapshot: RunSnapshot
    /// Where runtimes come from.
    public var runtimes: any RuntimeProvider
    /// The run database's path; an index without `path:` lives in `<its folder>/indexes/<name>.sqlite`.
    public var databasePath: String?
    /// The `vec0` extension for `vector: sqlite-vec` (`BATON_SQLITE_VEC`); nil: not configured.
    public var sqliteVecPath: String?

    /// Creates a service.
    public init(snapshot: RunSnapshot, runtimes: any RuntimeProvider, databasePath: String?, sqliteVecPath: String?) {
        self.snapshot = snapshot
        self.runtimes = runtimes
        self.databasePath = databasePath
        self.sqliteVecPath = sqliteVecPath
    }

    /// A service as a command uses one: the runtimes and API keys `environment` gives (as
    /// ``Executor/forSession(store:environment:observer:)`` makes them) and `BATON_SQLITE_VEC`.
    public static func forSession(snapshot: RunSnapshot, databasePath: String?, environment: [String: String]) -> IndexService {
        IndexService(
            snapshot: snapshot,
            runtimes: RuntimeCatalog(environment: environment, keys: KeyFileSource(environment: environment)),
            databasePath: databasePath, sqliteVecPath: sqliteVecPath(environment: environment))
    }

    /// `BATON_SQLITE_VEC`, when set and not empty.
    public static func sqliteVecPath(environment: [String: String]) -> String? {
        environment["BATON_SQLITE_VEC"].flatMap { $0.isEmpty ? nil : $0 }
    }

    // MARK: - Where

    /// The index file: its `path:`, else `<folder of the run database>/indexes/<name>.sqlite`.
    ///
    /// - Throws: ``IndexError`` (`.unreadable`) when the index has no `path:` and the run database is in memory.
    public func path(of index: IndexPlan) throws -> String {
        try Self.path(of: index, databasePath: databasePath)
    }

    /// ``path(of:)`` for a given run database.
    public static func path(of index: IndexPlan, databasePath: String?) throws -> String {
        if let path = index.path { return path }
        guard let databasePath, !databasePath.isEmpty else {
            throw IndexError(
                kind: .unreadable,
                message:
                    "index '\(index.name)' has no path: and the run database is in memory, so it has no folder to live in; give the index a path: in its YAML"
            )
        }
        let folder = (databasePath as NSString).deletingLastPathComponent
        return ((folder.isEmpty ? "." : folder) as NSString).appendingPathComponent("indexes/\(index.name).sqlite")
    }

    // MARK: - Runtime, embedder, fingerprint

    /// The runtime serving the index's embedding model, as a chat runtime (for loads) and as an embedding runtime.
    ///
    /// - Throws: ``RuntimeError`` when the runtime cannot be made (no url, no key); ``IndexError`` (`.embedding`)
    ///   when its kind has no embeddings API (Anthropic).
    func runtime(for index: IndexPlan) throws -> (chat: any LLMRuntime, embedding: any EmbeddingRuntime) {
        let runtime = try runtimes.runtime(for: index.model, snapshot: snapshot)
        guard let embedding = runtime as? any EmbeddingRuntime else {
            let name = runtimeName(of: index)
            let kind = snapshot.profile?.spec.runtime(named: name)?.kind.rawValue ?? "unknown kind"
            throw IndexError(
                kind: .embedding,
                message:
                    "runtime '\(name)' (\(kind)) cannot embed; index '\(index.name)' needs its embedding model '\(index.model.name)' on an ollama, llama-server or openai runtime (Anthropic has no embeddings API)"
            )
        }
        return (runtime, embedding)
    }

    /// An embedder for the index's model, batching by its `batch:`.
    ///
    /// - Throws: as ``runtime(for:)``.
    public func embedder(for index: IndexPlan) throws -> Embedder {
        Embedder(runtime: try runtime(for: index).embedding, model: index.model.name, batchSize: index.batch)
    }

    /// The runtime name recorded in fingerprints and model keys: the forced one (`--runtime echo`), else the model's.
    func runtimeName(of index: IndexPlan) -> String {
        snapshot.forcedRuntime ?? index.model.runtime ?? "echo"
    }

    /// The identity of the index's model weights: the SHA-256 of the registry entry's GGUF `file:` when it has one,
    /// else what the runtime says (Ollama's digest), else nil (the model name alone).
    func modelDigest(_ index: IndexPlan, runtime: any EmbeddingRuntime) async -> String? {
        if snapshot.forcedRuntime == nil, let file = snapshot.profile?.spec.model(named: index.model.name)?.file,
            let digest = try? EmbeddingIdentity.sha256(ofFile: file)
        {
            return digest
        }
        return await runtime.embeddingModelDigest(index.model.name)
    }

    /// The fingerprint of vectors the index's model makes now, with `dimensions` as a first embedding measured them.
    func fingerprint(_ index: IndexPlan, digest: String?, dimensions: Int) -> IndexFingerprint {
        IndexFingerprint(
            model: index.model.name, runtime: runtimeName(of: index), modelDigest: digest, dimensions: dimensions,
            chunk: index.chunk)
    }

    /// The fingerprint the index's vectors would have now. The width comes from the file when the same model (name,
    /// runtime and digest) built it, so an index with nothing to do costs no embedding request; else from one
    /// embedding of a short probe text.
    ///
    /// - Throws: ``RuntimeError`` from the probe; ``IndexError`` (`.damaged`) when the file cannot be read.
    func currentFingerprint(_ index: IndexPlan, embedder: Embedder, digest: String?, stored: IndexFingerprint?) async throws
        -> IndexFingerprint
    {
        if let dimensions = embedder.dimensions { return fingerprint(index, digest: digest, dimensions: dimensions) }
        if let stored, stored.model == index.model.name, stored.runtime == runtimeName(of: index), stored.modelDigest == digest {
            return fingerprint(index, digest: digest, dimensions: stored.dimensions)
        }
        let probe = try await embedder.embed(["dimensions"])
        return fingerprint(index, digest: digest, dimensions: probe.first?.count ?? 0)
    }

    // MARK: - Store

    /// The sqlite-vec extension path an index needs: nil for `vector: exact`.
    ///
    /// - Throws: ``IndexError`` (`.extensionUnavailable`) for `vector: sqlite-vec` without `BATON_SQLITE_VEC`.
    func extensionPath(for index: IndexPlan) throws -> String? {
        guard index.vector == .sqliteVec else { return nil }
        guard let sqliteVecPath else {
            throw IndexError(
                kind: .extensionUnavailable,
                message:
                    "index '\(index.name)' asks for vector: sqlite-vec, but BATON_SQLITE_VEC is not set; set it to the path of vec0.so (the sqlite-vec wheel on PyPI ships one), or use vector: exact"
            )
        }
        return sqliteVecPath
    }

    /// The index's store when its file exists, else nil.
    func openStore(_ index: IndexPlan) throws -> IndexStore? {
        try IndexStore.openExisting(path: try path(of: index), vector: index.vector, sqliteVecPath: try extensionPath(for: index))
    }

    /// Sizes and state of the index's file; nil when it has not been built.
    public func stats(_ index: IndexPlan) throws -> IndexStats? {
        try openStore(index)?.stats()
    }

    /// Whether files were added, changed or removed since the index was built (no embedding); nil when it has not been built.
    public func isStale(_ index: IndexPlan) throws -> Bool? {
        let path = try path(of: index)
        guard FileManager.default.fileExists(atPath: path) else { return nil }
        return try IndexBuilder.isStale(index, at: path)
    }

    // MARK: - Update

    /// Builds the index, or updates it incrementally: only new and changed files are chunked and embedded, so an
    /// index with nothing to do makes no embedding request. `rebuild` builds it anew beside the old file (which a
    /// kill leaves in place), for a changed model or chunker.
    ///
    /// - Throws: ``IndexError`` (`.fingerprintMismatch` naming both sides and `--rebuild`, `.noSources`, ...);
    ///   ``RuntimeError`` from the runtime.
    public func update(
        _ index: IndexPlan, rebuild: Bool, progress: @escaping @Sendable (IndexProgress) -> Void = { _ in }
    ) async throws -> IndexUpdate {
        let embedder = try embedder(for: index)
        let digest = await modelDigest(index, runtime: embedder.runtime)
        let stored = try openStore(index)?.fingerprint()
        let fingerprint = try await currentFingerprint(index, embedder: embedder, digest: digest, stored: stored)
        return try await update(index, fingerprint: fingerprint, rebuild: rebuild, embedder: embedder, progress: progress)
    }

    /// An update with the fingerprint known (a retrieve stage measured the width on its query).
    func update(
        _ index: IndexPlan, fingerprint: IndexFingerprint, rebuild: Bool, embedder: Embedder,
        progress: @escaping @Sendable (IndexProgress) -> Void
    ) async throws -> IndexUpdate {
        try await IndexBuilder.update(
            index, at: try path(of: index), fingerprint: fingerprint, rebuild: rebuild, sqliteVecPath: try extensionPath(for: index),
            embed: { texts in try await embedder.embed(texts) }, progress: progress)
    }

    // MARK: - Query

    /// What one query found.
    public struct QueryResult: Sendable {
        /// The fingerprint of the index (and of the query's vector).
        public var fingerprint: IndexFingerprint
        /// The chunks found, best first.
        public var hits: [SearchHit]
        /// Seconds spent embedding the query (0 for keyword search).
        public var embedSeconds: Double
        /// Seconds spent searching.
        public var searchSeconds: Double
    }

    /// Searches the index for `text` (embedding it first unless `mode` is keyword). The index is not updated: a
    /// stale index answers from what it holds.
    ///
    /// - Throws: ``IndexError`` (`.notBuilt` with the command that builds it, `.fingerprintMismatch` when the index
    ///   was built with another model or chunker); ``RuntimeError`` from the runtime.
    public func query(_ index: IndexPlan, text: String, mode: SearchMode, topK: Int, minScore: Double?) async throws -> QueryResult {
        // A file without a fingerprint is a first build that never finished.
        guard let store = try openStore(index), let stored = try store.fingerprint() else { throw notBuilt(index) }
        let embedder = try embedder(for: index)
        let digest = await modelDigest(index, runtime: embedder.runtime)
        var vector: [Float]?
        var embedSeconds = 0.0
        // A keyword search needs no vector: the width of the model's vectors is the file's when the model is the same.
        if mode != .keyword {
            let started = Date()
            vector = try await embedder.embed([text]).first
            embedSeconds = Date().timeIntervalSince(started)
        }
        let fingerprint = try await currentFingerprint(index, embedder: embedder, digest: digest, stored: stored)
        try check(index, stored: stored, current: fingerprint)
        let started = Date()
        let hits = try store.search(text, vector: mode == .keyword ? nil : vector, mode: mode, topK: topK, minScore: minScore)
        return QueryResult(
            fingerprint: fingerprint, hits: hits, embedSeconds: embedSeconds, searchSeconds: Date().timeIntervalSince(started))
    }

    /// Refuses a query whose vectors were made otherwise than the index's.
    func check(_ index: IndexPlan, stored: IndexFingerprint?, current: IndexFingerprint) throws {
        guard let stored else { throw notBuilt(index) }
        if let why = stored.mismatch(current, index: index.name) {
            throw IndexError(kind: .fingerprintMismatch, message: why)
        }
    }

    func notBuilt(_ index: IndexPlan) -> IndexError {
        IndexError(
            kind: .notBuilt,
            message:
                "index '\(index.name)' has not been built (no file at \((try? path(of: index)) ?? "?")); run 'baton index \(index.name)', or run the pipeline without --no-index-update"
        )
    }

    // MARK: - The model outside a run

    /// What ``loadModel(_:settings:machine:)`` did.
    public struct ModelLoading: Sendable {
        /// The model, as `runtime:name`.
        public var model: ModelKey
        /// Seconds the load took; nil when the model was resident already.
        public var loadSeconds: Double?
        /// The models unloaded first to stay within the memory budget.
        public var unloaded: [ModelKey]
    }

    /// Makes the index's embedding model resident before `baton index` or `baton search` embeds with it, on a
    /// runtime whose models Baton manages: first unloading what the memory planner says must go for it to fit the
    /// plan's budget (a resident model of unknown size counts as the whole budget, as in a run). Returns nil for
    /// runtimes that manage their own models (echo, Ollama's cloud models, OpenAI).
    ///
    /// - Throws: ``RuntimeError`` from the runtime (`.outOfMemory` when the model alone exceeds the budget).
    public func loadModel(
        _ index: IndexPlan, settings: StageSettings = StageSettings(), machine: MachineMemory = .current(),
        measured: [ModelKey: Int64] = [:]
    ) async throws -> ModelLoading? {
        let chat = try runtime(for: index).chat
        guard let manager = chat as? any ModelManaging, manager.manages(index.model.name) else { return nil }
        let key = ModelKey(runtime: runtimeName(of: index), name: index.model.name)
        let listed = try await manager.residentModels(naming: [index.model.name])
        let resident = Set(listed.map { ModelKey(runtime: key.runtime, name: $0.name) })
        if resident.contains(key) { return ModelLoading(model: key, loadSeconds: nil, unloaded: []) }
        let (budget, _) = LoadSchedule.resolveBudget(snapshot.plan.memoryBudget, machine: machine)
        var footprints: [ModelKey: Int64] = [:]
        if let bytes = FootprintSource.resolve(
            index.model, key: key, contextSize: settings.numCtx, profile: snapshot.profile, measured: measured)?.bytes
        {
            footprints[key] = bytes
        }
        for other in resident {
            footprints[other] = measured[other] ?? snapshot.profile?.spec.model(named: other.name)?.footprint?.bytes ?? budget
        }
        let victims: [ModelKey]
        do {
            victims = try MemoryPlanner.evictions(resident: resident, uses: [key], footprints: footprints, budget: budget)
        } catch {
            throw RuntimeError(.outOfMemory, "index '\(index.name)': \(error)", isTransient: false)
        }
        for victim in victims { try await manager.unload(victim.name) }
        let report = try await manager.load(index.model.name, settings: settings)
        return ModelLoading(model: key, loadSeconds: report.seconds, unloaded: victims)
    }
}
