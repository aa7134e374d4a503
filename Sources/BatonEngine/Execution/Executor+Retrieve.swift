import BatonSpec
import Foundation

/// Retrieve stages (`retrieve:`, issue 13; docs/retrieval.md).
///
/// A retrieve stage renders its query like a prompt, makes its index's embedding model resident as any stage model
/// (the memory planner counts it: it is the stage's model), and, once per execution and index, brings a stale index
/// up to date (unless the run was started with `--no-index-update`), recording an `index-updated` event. It then
/// embeds the query, searches, and records the chunks as the stage's attempt (``RetrievalRecord``, JSON): a resumed
/// run replays that attempt (no query, no embedding, no update), and `rerun --from` queries again.
///
/// A stage with `cite: X` answers JSON whose `citations` the schema limits to X's chunk numbers (``citing(_:state:)``),
/// built from X's recorded chunks each time the stage renders, so a resume, which replays X, asks with the same schema.
extension Executor {
    /// Runs one round of a retrieve stage (one item of a fan-out one) as its attempt.
    ///
    /// - Throws: ``StageFailure`` naming the stage: an empty query, an index that cannot be updated or queried (the
    ///   ``IndexError``'s message), a runtime that cannot embed or is down (`runtimeUnavailable`).
    func runRetrieveStage(_ stage: PlannedStage, round: Int, fingerprint: String, state: inout RunState) async throws -> StageResult {
        guard let step = stage.retrieve, let index = stage.index(in: state.snapshot.plan) else {
            throw StageFailure(
                message:
                    "stage '\(stage.name)': its index '\(stage.retrieve?.index ?? "")' is not in the run's plan; compile the pipeline again",
                runtimeUnavailable: false)
        }
        try await waitWhileHot(before: stage, round: round, state: state)
        let query = try state.renderTool(step.query, stage: stage, round: round).trimmingCharacters(in: .whitespacesAndNewlines)
        killSwitch?.hit(.render)
        guard !query.isEmpty else {
            throw StageFailure(
                message:
                    "stage '\(stage.name)': its query rendered empty (query: \"\(step.query)\"); check the template and the inputs and stages it reads",
                runtimeUnavailable: false)
        }
        let service = indexService(for: state)
        let runtime: (chat: any LLMRuntime, embedding: any EmbeddingRuntime)
        do {
            runtime = try service.runtime(for: index)
        } catch let error as IndexError {
            throw StageFailure(message: "stage '\(stage.name)': \(error.message)", runtimeUnavailable: false)
        } catch {
            throw StageFailure(message: "stage '\(stage.name)': \(error)", runtimeUnavailable: true)
        }
        // Items running at once use the model the item before them made resident (as model stages do).
        var timings: [String: Double] = [:]
        if state.currentItem?.concurrent != true {
            // At the runtime's own context, as the embedding requests ask for it (OllamaClient+Embeddings): a `num_ctx`
            // layered from the defaults for chat models would make Ollama reload the model at the first request.
            var embedding = stage
            embedding.settings.numCtx = nil
            timings = try await load(
                embedding, model: index.model, round: round, runtime: runtime.chat, policy: embedding.settings.retry ?? .default,
                state: &state)
        }

        let key = StageRound(stage: stage.name, item: state.currentItem?.index, round: round)
        let tryNumber = (state.triesSoFar[key] ?? 0) + 1
        state.triesSoFar[key] = tryNumber
        var attempt = try store.startAttempt(
            AttemptRecord(
                id: nil, runID: state.runID, stage: stage.name, round: round, tryNumber: tryNumber, status: .running,
                model: index.model.name, runtime: service.runtimeName(of: index), system: nil, prompt: query, output: "",
                verdict: nil, feedback: nil, promptTokens: nil, outputTokens: nil, startedAt: RunStore.now(), firstTokenAt: nil,
                finishedAt: nil, timings: nil, error: nil, fingerprint: fingerprint, item: state.currentItem?.index))
        observer(
            .attemptStarted(
                stage: stage.name, role: stage.role, model: index.model.description, round: round, tryNumber: tryNumber,
                stageNumber: (state.positions[stage.name] ?? 0) + 1, stageCount: state.snapshot.plan.stages.count,
                item: state.currentItem?.index))

        let record: RetrievalRecord
        do {
            let embedder = Embedder(runtime: runtime.embedding, model: index.model.name, batchSize: index.batch)
            let update = updatesIndexes && !state.indexesChecked.contains(index.name)
            let found = try await retrieve(
                query, step: step, index: index, stage: stage, service: service, embedder: embedder, update: update,
                attemptID: attempt.id, runID: state.runID)
            record = found.record
            if update { state.indexesChecked.insert(index.name) }
            timings.merge(found.timings) { _, new in new }
        } catch {
            let cancelled = error is CancellationError || Task.isCancelled
            let message = Self.retrievalMessage(error, stage: stage)
            attempt.status = cancelled ? .interrupted : .failed
            attempt.error = cancelled ? "interrupted by a signal" : message
            attempt.finishedAt = RunStore.now()
            attempt.timings = timings.isEmpty ? nil : try Self.encode(timings)
            try store.finishAttempt(attempt, event: cancelled ? .attemptInterrupted : .attemptFailed)
            report(retrieval: attempt)
            if cancelled { throw CancellationError() }
            throw StageFailure(message: message, runtimeUnavailable: (error as? RuntimeError)?.code == .unreachable)
        }
        killSwitch?.hit(.retrieveQueried)
        let output = try record.encoded()
        attempt.status = .completed
        attempt.output = output
        attempt.finishedAt = RunStore.now()
        attempt.timings = try Self.encode(timings)
        try store.finishAttempt(attempt, event: .attemptCompleted)
        report(retrieval: attempt)
        let result = try StageResult(retrieval: output, stage: stage)
        state.record(stage: stage.name, result)
        return result
    }

    /// The index service of this execution: the run's runtimes, its database's folder, `BATON_SQLITE_VEC`.
    func indexService(for state: RunState) -> IndexService {
        IndexService(snapshot: state.snapshot, runtimes: runtimes, databasePath: store.path, sqliteVecPath: sqliteVecPath)
    }

    /// The query's work: embed it (within the stage's `timeout`), learn the fingerprint, bring the index up to date
    /// when `update` (no timeout: a first build may take long), search.
    private func retrieve(
        _ query: String, step: RetrieveStep, index: IndexPlan, stage: PlannedStage, service: IndexService, embedder: Embedder,
        update: Bool, attemptID: Int64?, runID: String
    ) async throws -> (record: RetrievalRecord, timings: [String: Double]) {
        var timings: [String: Double] = [:]
        let digest = await service.modelDigest(index, runtime: embedder.runtime)
        var started = Date()
        let vectors = try await Self.within(stage.settings.timeout, stage: stage.name) { try await embedder.embed([query]) }
        guard let vector = vectors.first else {
            throw RuntimeError(.badResponse, "embedding model '\(index.model.name)' returned no vector for the query", isTransient: false)
        }
        timings["embed_ms"] = Date().timeIntervalSince(started) * 1000
        let fingerprint = service.fingerprint(index, digest: digest, dimensions: vector.count)
        if update {
            started = Date()
            if try await updateIfStale(
                index, fingerprint: fingerprint, stage: stage, service: service, embedder: embedder, attemptID: attemptID, runID: runID)
            {
                timings["index_update_ms"] = Date().timeIntervalSince(started) * 1000
            }
        }
        guard let store = try service.openStore(index) else { throw service.notBuilt(index) }
        try service.check(index, stored: try store.fingerprint(), current: fingerprint)
        started = Date()
        let mode: SearchMode = step.hybrid ? .hybrid : .vector
        let hits = try store.search(query, vector: vector, mode: mode, topK: step.topK, minScore: step.minScore)
        timings["search_ms"] = Date().timeIntervalSince(started) * 1000
        let record = RetrievalRecord(index: index.name, fingerprint: fingerprint, query: query, mode: mode, hits: hits)
        return (record, timings)
    }

    /// Updates `index` when files were added, changed or removed since it was built (or when it was never built),
    /// recording `index-updated` with the counts. Returns whether it updated.
    private func updateIfStale(
        _ index: IndexPlan, fingerprint: IndexFingerprint, stage: PlannedStage, service: IndexService, embedder: Embedder,
        attemptID: Int64?, runID: String
    ) async throws -> Bool {
        let path = try service.path(of: index)
        if FileManager.default.fileExists(atPath: path), try !IndexBuilder.isStale(index, at: path) { return false }
        observer(
            .runtimeNotice(
                stage: stage.name,
                notice: RuntimeNotice(code: "index-updating", message: "updating index '\(index.name)' (\(path))")))
        let kill = killSwitch
        let update = try await service.update(index, fingerprint: fingerprint, rebuild: false, embedder: embedder) { _ in
            kill?.hit(.indexProgress)
        }
        var payload: [(key: String, value: JSONValue)] = [
            ("index", .string(index.name)), ("path", .string(path)), ("added", .number(Double(update.added))),
            ("changed", .number(Double(update.changed))), ("removed", .number(Double(update.removed))),
            ("unchanged", .number(Double(update.unchanged))), ("chunks_embedded", .number(Double(update.chunksEmbedded))),
        ]
        if !update.skipped.isEmpty {
            payload.append(
                ("skipped", .array(update.skipped.map { .object([("path", .string($0.path)), ("reason", .string($0.reason))]) })))
        }
        try store.appendEvent(
            runID, kind: Self.indexUpdatedEvent, stage: stage.name, attemptID: attemptID,
            payload: Self.jsonText(.object(payload)))
        killSwitch?.hit(.indexUpdated)
        let skipped = update.skipped.isEmpty ? "" : ", \(update.skipped.count) skipped"
        observer(
            .runtimeNotice(
                stage: stage.name,
                notice: RuntimeNotice(
                    code: "index-updated",
                    message:
                        "index '\(index.name)' updated: \(update.added) added, \(update.changed) changed, \(update.removed) removed, \(update.unchanged) unchanged, \(update.chunksEmbedded) chunks embedded\(skipped)"
                )))
        return true
    }

    /// The event an index update records (`index-updated`).
    static let indexUpdatedEvent = EventKind.other("index-updated")

    /// The stage's failure message for an error of its retrieval.
    private static func retrievalMessage(_ error: any Error, stage: PlannedStage) -> String {
        switch error {
        case let error as IndexError: "stage '\(stage.name)': \(error.message)"
        case let error as RuntimeError: "stage '\(stage.name)': \(error.message)"
        case let failure as StageFailure: failure.message
        default: "stage '\(stage.name)': \(error)"
        }
    }

    private func report(retrieval attempt: AttemptRecord) {
        observer(
            .attemptFinished(
                AttemptSummary(
                    stage: attempt.stage, round: attempt.round, tryNumber: attempt.tryNumber, status: attempt.status,
                    model: attempt.model, seconds: (attempt.finishedAt ?? attempt.startedAt) - attempt.startedAt, promptTokens: nil,
                    outputTokens: nil, error: attempt.error, item: attempt.item)))
    }

    /// Runs `body` within `timeout` seconds (nil: no limit), failing with the stage's timeout error after it.
    private static func within<T: Sendable>(
        _ timeout: Double?, stage: String, _ body: @escaping @Sendable () async throws -> T
    ) async throws -> T {
        guard let timeout else { return try await body() }
        return try await withThrowingTaskGroup(of: T.self) { group in
            group.addTask { try await body() }
            group.addTask {
                try await Task.sleep(for: .seconds(timeout))
                throw RuntimeError.stageTimeout(stage: stage, seconds: timeout)
            }
            defer { group.cancelAll() }
            guard let first = try await group.next() else { throw CancellationError() }
            return first
        }
    }

    // MARK: - cite

    /// `stage` as it asks for its answer: with `cite: X`, its schema (or `{answer, citations}` without one) gains a
    /// required `citations` array whose items are X's chunk numbers (`enum: [1, ..., k]`), at least one when X found
    /// any; none at all when X found nothing. Other stages come back as they are.
    func citing(_ stage: PlannedStage, state: RunState) -> PlannedStage {
        guard let cited = stage.cite else { return stage }
        let numbers = Self.chunkNumbers(of: state.results[cited])
        var stage = stage
        stage.output.schema = Self.citationSchema(base: stage.output.schema, numbers: numbers)
        return stage
    }

    /// The chunk numbers a retrieve stage's result offers (of every item, for a fan-out one), sorted.
    static func chunkNumbers(of result: StageResult?) -> [Int] {
        guard let result else { return [] }
        var numbers: Set<Int> = []
        func collect(_ chunks: JSONValue?) {
            guard case .array(let list)? = chunks else { return }
            for chunk in list { if case .number(let n)? = chunk["n"] { numbers.insert(Int(n)) } }
        }
        collect(result.chunksValue)
        if case .array(let items)? = result.itemsValue {
            for item in items { collect(item["json"]?["chunks"]) }
        }
        return numbers.sorted()
    }

    /// `base` (an object schema) with a required `citations` property limited to `numbers`.
    static func citationSchema(base: JSONValue?, numbers: [Int]) -> JSONValue {
        var citations: [(key: String, value: JSONValue)] = [("type", .string("array"))]
        if numbers.isEmpty {
            citations.append(("maxItems", .number(0)))
        } else {
            citations.append(
                ("items", .object([("type", .string("integer")), ("enum", .array(numbers.map { .number(Double($0)) }))])))
            citations.append(("minItems", .number(1)))
            // A bound: Gemma 3 270M under the enum grammar alone cycled 1, 2, 3, ... until max_tokens.
            citations.append(("maxItems", .number(Double(numbers.count))))
        }
        let property = JSONValue.object(citations)
        guard case .object(var fields)? = base else {
            return .object([
                ("type", .string("object")),
                ("properties", .object([("answer", .object([("type", .string("string"))])), ("citations", property)])),
                ("required", .array([.string("answer"), .string("citations")])),
                ("additionalProperties", .bool(false)),
            ])
        }
        var properties: [(key: String, value: JSONValue)] = []
        if let index = fields.firstIndex(where: { $0.key == "properties" }), case .object(let existing) = fields[index].value {
            properties = existing.filter { $0.key != "citations" }
            fields.remove(at: index)
        }
        properties.append(("citations", property))
        var required: [JSONValue] = []
        if let index = fields.firstIndex(where: { $0.key == "required" }), case .array(let existing) = fields[index].value {
            required = existing.filter { $0.stringValue != "citations" }
            fields.remove(at: index)
        }
        required.append(.string("citations"))
        if !fields.contains(where: { $0.key == "type" }) { fields.insert(("type", .string("object")), at: 0) }
        fields.append(("properties", .object(properties)))
        fields.append(("required", .array(required)))
        return .object(fields)
    }
}

// MARK: - The record

/// What a retrieve stage's attempt records as its output (JSON): the index, its fingerprint, the query, the mode and
/// the chunks found, numbered from 1. Resume replays it; `show` reads it to render a citing stage's `[n] path:line`.
public struct RetrievalRecord: Sendable, Hashable, Codable {
    /// One chunk found.
    public struct Chunk: Sendable, Hashable, Codable {
        /// Its rank, from 1: what a citing stage's `citations` hold.
        public var n: Int
        /// The chunk's id in the index file.
        public var id: Int64
        /// Its text.
        public var text: String
        /// Its file, relative to the index's root.
        public var source: String
        /// Its first line, from 1.
        public var line: Int
        /// Its last line.
        public var endLine: Int
        /// The ranking score (cosine for vector search, reciprocal rank fusion for hybrid).
        public var score: Double
        /// The cosine similarity to the query, when known.
        public var similarity: Double?

        /// `[n] path:line`, as `show` renders a citation.
        public var citation: String { "[\(n)] \(source):\(line)" }

        enum CodingKeys: String, CodingKey {
            case n, id, text, source, line
            case endLine = "end_line"
            case score, similarity
        }
    }

    /// The index's name.
    public var index: String
    /// The index's fingerprint when it was queried.
    public var fingerprint: IndexFingerprint
    /// The query as rendered.
    public var query: String
    /// `vector` or `hybrid`.
    public var mode: SearchMode
    /// The chunks, best first.
    public var chunks: [Chunk]

    /// A record of `hits`, numbered in their order.
    public init(index: String, fingerprint: IndexFingerprint, query: String, mode: SearchMode, hits: [SearchHit]) {
        self.index = index
        self.fingerprint = fingerprint
        self.query = query
        self.mode = mode
        chunks = hits.enumerated().map { offset, hit in
            Chunk(
                n: offset + 1, id: hit.chunkID, text: hit.text, source: hit.source, line: hit.startLine, endLine: hit.endLine,
                score: hit.score, similarity: hit.similarity)
        }
    }

    /// Reads a retrieve stage's recorded output; nil when it is not one.
    public static func decode(_ output: String) -> RetrievalRecord? {
        try? JSONDecoder().decode(RetrievalRecord.self, from: Data(output.utf8))
    }

    /// The JSON an attempt records (keys sorted).
    public func encoded() throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return String(decoding: try encoder.encode(self), as: UTF8.self)
    }

    /// The chunks as numbered text, what `stages.X.output` is: `[n] source:line-end_line`, then the text, a blank
    /// line between chunks.
    public var numberedText: String {
        chunks.map { "[\($0.n)] \($0.source):\($0.line)-\($0.endLine)\n\($0.text)" }.joined(separator: "\n\n")
    }

    /// The chunks a citing stage's answer (its recorded JSON output) names in `citations`, in its order, each once;
    /// numbers this record does not have are left out.
    public func cited(by answer: String) -> [Chunk] {
        guard case .array(let numbers)? = StageResult.parseJSON(answer)?["citations"] else { return [] }
        var seen: Set<Int> = []
        return numbers.compactMap { value in
            guard case .number(let number) = value, seen.insert(Int(number)).inserted else { return nil }
            return chunks.first { $0.n == Int(number) }
        }
    }
}
