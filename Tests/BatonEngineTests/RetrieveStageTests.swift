import BatonSpec
import BatonTestSupport
import Foundation
import Testing

@testable import BatonEngine

/// Retrieve stages in the executor (issue 13, item 5; docs/retrieval.md), on a real SQLite run store and index over a
/// temporary corpus, with hashed-word embeddings: the chunks reach the next stage, resume replays the retrieval
/// without embedding, `rerun --from` queries again, a stale index is updated once per run (and not under
/// `--no-index-update`), a fingerprint mismatch and a runtime that cannot embed fail clearly, and `cite:` limits the
/// answer's citations to the chunks found.
@Suite struct RetrieveStageTests {
    /// A corpus folder with its own run database, removed at the end.
    final class Corpus: @unchecked Sendable {
        let path = NSTemporaryDirectory() + "baton-retrieve-\(UUID().uuidString.prefix(8))"
        var db: String { path + "/runs.sqlite" }

        init(_ files: [String: String] = Corpus.files) throws {
            try FileManager.default.createDirectory(atPath: path + "/docs", withIntermediateDirectories: true)
            for (name, text) in files { try write(name, text) }
        }

        deinit { try? FileManager.default.removeItem(atPath: path) }

        func write(_ name: String, _ text: String) throws {
            try text.write(toFile: path + "/docs/" + name, atomically: true, encoding: .utf8)
        }

        func store() throws -> RunStore { try RunStore(path: db) }

        /// The default index file of `name`, next to the run database.
        func indexFile(_ name: String = "docs") -> String { path + "/indexes/\(name).sqlite" }

        static let files = [
            "resume.md": """
            # Resuming runs

            A run that was interrupted continues with baton resume. Completed attempts are replayed from the
            checkpoint database and never run again.
            """,
            "pasta.md": """
            # Cooking pasta

            Boil salted water, add the pasta and stir. Drain it when it is al dente and serve with sauce.
            """,
            "garden.md": """
            # Garden roses

            Prune roses in late winter and water them deeply in summer so the garden blooms.
            """,
        ]
    }

    /// A test pipeline that does not compile.
    struct CompileFailure: Error, CustomStringConvertible {
        var messages: [String]
        var description: String { messages.joined(separator: "\n") }
    }

    /// A runtime that embeds by hashing words into 64 signed buckets (similar texts score higher), counts its
    /// embedding requests, and answers generations as the echo runtime does, or with `answer` when set.
    final class HashingRuntime: LLMRuntime, EmbeddingRuntime, RuntimeProvider, @unchecked Sendable {
        private let lock = NSLock()
        private var embedCalls: [(model: String, texts: [String])] = []
        private var generations: [GenerationRequest] = []
        let echo = EchoRuntime()
        /// A generation answer by stage; nil: the echo runtime's.
        let answer: (@Sendable (GenerationRequest) -> String?)?
        /// Stages whose generation fails (permanently).
        let failing: Set<String>
        /// What every embedding request throws, if anything.
        let embedError: RuntimeError?

        init(
            failing: Set<String> = [], embedError: RuntimeError? = nil, answer: (@Sendable (GenerationRequest) -> String?)? = nil
        ) {
            self.failing = failing
            self.embedError = embedError
            self.answer = answer
        }

        /// Embedding requests so far.
        var embedRequests: Int { lock.withLock { embedCalls.count } }
        /// Texts embedded so far, in order.
        var embeddedTexts: [String] { lock.withLock { embedCalls.flatMap(\.texts) } }
        var requests: [GenerationRequest] { lock.withLock { generations } }

        func runtime(for model: ResolvedModel, snapshot: RunSnapshot) throws -> any LLMRuntime { self }

        func embed(_ texts: [String], model: String) async throws -> EmbeddingBatch {
            lock.withLock { embedCalls.append((model, texts)) }
            if let embedError { throw embedError }
            return EmbeddingBatch(vectors: texts.map(Self.vector), promptTokens: nil)
        }

        func embeddingModelDigest(_ model: String) async -> String? { "sha256-of-\(model)" }

        static func vector(_ text: String) -> [Float] {
            var vector = [Float](repeating: 0, count: 64)
            for word in text.lowercased().split(whereSeparator: { !$0.isLetter && !$0.isNumber }) {
                var hash: UInt64 = 0xcbf2_9ce4_8422_2325
                for byte in word.utf8 { hash = (hash ^ UInt64(byte)) &* 0x100_0000_01b3 }
                vector[Int(hash % 64)] += (hash >> 63) == 0 ? 1 : -1
            }
            // A text of no words still gets a vector: a constant direction.
            if vector.allSatisfy({ $0 == 0 }) { vector[0] = 1 }
            return vector
        }

        func generate(_ request: GenerationRequest) -> AsyncThrowingStream<GenerationEvent, any Error> {
            lock.withLock { generations.append(request) }
            if failing.contains(request.stage) {
                return AsyncThrowingStream { $0.finish(throwing: RuntimeError(.badResponse, "scripted failure", isTransient: false)) }
            }
            if let text = answer?(request) {
                return AsyncThrowingStream { continuation in
                    continuation.yield(.token(text))
                    continuation.yield(.finished(GenerationUsage(promptTokens: 1, outputTokens: 1)))
                    continuation.finish()
                }
            }
            return echo.generate(request)
        }
    }

    /// The pipeline text: an index over the corpus's docs and `stages`.
    static func pipeline(_ stages: String, model: String = "embed", indexExtra: String = "", inputs: String = "") -> String {
        """
        version: 1
        name: ask
        inputs:
          question: {default: "how do I resume an interrupted run"}\(inputs)
        defaults: {model: m}
        indexes:
          docs:
            sources: ["docs/*.md"]
            embed: {model: \(model)}
            chunk: {by: paragraph, size: 400, overlap: 0}\(indexExtra)
        stages:
        \(stages)
        """
    }

    static let askStages = """
          facts:
            retrieve: {index: docs, query: "{{inputs.question}}", top_k: 2}
          answer:
            prompt: |
              {{#stages.facts.chunks}}[{{n}}] {{source}}:{{line}} {{text}}
              {{/stages.facts.chunks}}Question: {{inputs.question}}
        """

    /// `text` compiled as a pipeline file in the corpus folder (so its globs are relative to it).
    static func snapshot(_ text: String, in corpus: Corpus) throws -> RunSnapshot {
        let path = corpus.path + "/ask.yaml"
        let result = PipelineCompiler(profile: nil).compile(BatonSpec.SourceFile(path: path, text: text))
        guard let plan = result.plan else { throw CompileFailure(messages: result.diagnostics.map(\.message)) }
        return RunSnapshot(plan: plan, profile: nil, sources: [path: text], pipelinePath: path, forcedRuntime: nil)
    }

    static func executor(
        _ store: RunStore, _ runtime: any RuntimeProvider, events: LockedList<RunEvent>? = nil
    ) -> Executor {
        Executor(store: store, runtimes: runtime, observer: { events?.append($0) }, sleep: { _ in }, random: { 0.5 })
    }

    static func start(_ snapshot: RunSnapshot, _ executor: Executor, question: String? = nil) async throws -> RunOutcome {
        var given: [String: String] = [:]
        if let question { given["question"] = question }
        let inputs = try RunInputs.resolve(snapshot.plan.inputs, given: given)
        return try await executor.start(snapshot, inputs: inputs, claim: .current())
    }

    static func runID(_ outcome: RunOutcome) -> String {
        switch outcome {
        case .completed(let id), .failed(let id, _, _), .interrupted(let id), .ambiguousCall(let id, _, _): id
        }
    }

    static func failure(_ outcome: RunOutcome) -> String? {
        if case .failed(_, let reason, _) = outcome { return reason }
        return nil
    }

    static func completed(_ store: RunStore, _ runID: String, _ stage: String) throws -> [AttemptRecord] {
        try store.attempts(runID).filter { $0.stage == stage && $0.status == .completed }
    }

    static func indexUpdates(_ store: RunStore, _ runID: String) throws -> [EventRecord] {
        try store.events(runID, kind: Executor.indexUpdatedEvent)
    }

    // MARK: - The chunks reach the next stage

    @Test func theChunksFoundReachTheNextStagesPromptAndTheRunRecordsThem() async throws {
        let corpus = try Corpus()
        let store = try corpus.store()
        let runtime = HashingRuntime()
        let snapshot = try Self.snapshot(Self.pipeline(Self.askStages), in: corpus)
        let outcome = try await Self.start(snapshot, Self.executor(store, runtime))
        let id = Self.runID(outcome)
        #expect(Self.failure(outcome) == nil, "\(outcome)")

        // The index was built by the run, next to the run database, before its query.
        #expect(FileManager.default.fileExists(atPath: corpus.indexFile()))
        let updates = try Self.indexUpdates(store, id)
        #expect(updates.count == 1)
        #expect(updates.first?.payload?.contains("\"added\":3") == true, "\(updates.first?.payload ?? "")")

        let facts = try #require(try Self.completed(store, id, "facts").first)
        let record = try #require(RetrievalRecord.decode(facts.output), "\(facts.output)")
        #expect(record.index == "docs" && record.mode == .hybrid && record.chunks.count == 2)
        #expect(record.chunks.first?.source == "docs/resume.md", "\(record.chunks.map(\.source))")
        #expect(record.chunks.map(\.n) == [1, 2])
        #expect(record.fingerprint.model == "embed" && record.fingerprint.dimensions == 64)
        #expect(record.fingerprint.modelDigest == "sha256-of-embed")
        #expect(facts.model == "embed" && facts.prompt == "how do I resume an interrupted run")

        let prompt = try #require(try Self.completed(store, id, "answer").first?.prompt)
        #expect(prompt.hasPrefix("[1] docs/resume.md:1 # Resuming runs"), "\(prompt)")
        #expect(prompt.contains("[2] docs/"), "\(prompt)")
    }

    @Test func stagesXOutputIsTheChunksAsNumberedTextAndConditionsSeeTheChunks() async throws {
        let corpus = try Corpus()
        let store = try corpus.store()
        let runtime = HashingRuntime()
        let stages = """
              facts:
                retrieve: {index: docs, query: "pasta sauce", top_k: 1, hybrid: false}
              found:
                when: "stages.facts.chunks[0].source == 'docs/pasta.md'"
                prompt: "{{stages.facts.output}}"
              missed:
                when: "stages.facts.chunks[0].source != 'docs/pasta.md'"
                prompt: "nothing"
            """
        let snapshot = try Self.snapshot(Self.pipeline(stages), in: corpus)
        let outcome = try await Self.start(snapshot, Self.executor(store, runtime))
        let id = Self.runID(outcome)
        #expect(Self.failure(outcome) == nil, "\(outcome)")
        let found = try #require(try Self.completed(store, id, "found").first)
        #expect(found.prompt.hasPrefix("[1] docs/pasta.md:1-"), "\(found.prompt)")
        #expect(found.prompt.contains("# Cooking pasta"))
        #expect(try store.attempts(id).first { $0.stage == "missed" }?.status == .skipped)
        let record = try #require(RetrievalRecord.decode(try Self.completed(store, id, "facts")[0].output))
        #expect(record.mode == .vector)
    }

    // MARK: - Resume and rerun

    @Test func resumeReplaysTheRetrievalWithoutEmbeddingAndRerunFromQueriesAgain() async throws {
        let corpus = try Corpus()
        let store = try corpus.store()
        let snapshot = try Self.snapshot(Self.pipeline(Self.askStages), in: corpus)
        // The answer fails: the run stops after its retrieval was recorded.
        let first = HashingRuntime(failing: ["answer"])
        let failed = try await Self.start(snapshot, Self.executor(store, first))
        let id = Self.runID(failed)
        #expect(Self.failure(failed) != nil)
        #expect(first.embedRequests >= 2, "the index's build and the query")
        let recorded = try Self.completed(store, id, "facts")
        #expect(recorded.count == 1)

        // Resume: no embedding, no update, no new attempt of the retrieve stage; the answer sees the same chunks.
        let second = HashingRuntime()
        let events = LockedList<RunEvent>()
        let resumed = try await Self.executor(store, second, events: events).resume(id, claim: .current())
        #expect(Self.failure(resumed) == nil, "\(resumed)")
        #expect(second.embedRequests == 0, "\(second.embeddedTexts)")
        #expect(try Self.completed(store, id, "facts").map(\.id) == recorded.map(\.id))
        #expect(try Self.indexUpdates(store, id).count == 1)
        #expect(events.values.contains { if case .attemptReused(stage: "facts", _, _) = $0 { true } else { false } })
        let prompt = try #require(try Self.completed(store, id, "answer").first?.prompt)
        #expect(prompt.hasPrefix("[1] docs/resume.md:1"), "\(prompt)")

        // rerun --from facts: a new run queries again (one request: the index is fresh, so it is not updated).
        let third = HashingRuntime()
        let rerun = try await Self.executor(store, third).start(
            snapshot, inputs: try RunInputs.resolve(snapshot.plan.inputs, given: [:]), claim: .current(), parent: (id, "facts"))
        let rerunID = Self.runID(rerun)
        #expect(Self.failure(rerun) == nil, "\(rerun)")
        #expect(third.embedRequests == 1)
        #expect(third.embeddedTexts == ["how do I resume an interrupted run"])
        #expect(try Self.completed(store, rerunID, "facts").count == 1)
        #expect(try Self.indexUpdates(store, rerunID).isEmpty)
    }

    // MARK: - Stale indexes

    @Test func aStaleIndexIsUpdatedOncePerRunNotPerStage() async throws {
        let corpus = try Corpus()
        let store = try corpus.store()
        let stages = """
              facts:
                retrieve: {index: docs, query: "resume a run", top_k: 2}
              more:
                retrieve: {index: docs, query: "roses in the garden", top_k: 2}
              answer:
                prompt: "{{stages.facts.output}} {{stages.more.output}}"
            """
        let snapshot = try Self.snapshot(Self.pipeline(stages), in: corpus)
        let built = try await Self.start(snapshot, Self.executor(store, HashingRuntime()))
        #expect(try Self.indexUpdates(store, Self.runID(built)).count == 1)

        // Nothing changed: no update, only the two queries.
        let fresh = HashingRuntime()
        let again = try await Self.start(snapshot, Self.executor(store, fresh))
        #expect(try Self.indexUpdates(store, Self.runID(again)).isEmpty)
        #expect(fresh.embedRequests == 2)

        // One file changed: one update (its chunks only), then the two queries.
        try corpus.write("garden.md", "# Garden roses\n\nRoses climb the garden wall and bloom in June.\n")
        let stale = HashingRuntime()
        let updated = try await Self.start(snapshot, Self.executor(store, stale))
        let id = Self.runID(updated)
        #expect(Self.failure(updated) == nil, "\(updated)")
        let events = try Self.indexUpdates(store, id)
        #expect(events.count == 1)
        #expect(events.first?.stage == "facts")
        #expect(events.first?.payload?.contains("\"changed\":1") == true, "\(events.first?.payload ?? "")")
        #expect(stale.embeddedTexts.filter { $0.contains("Roses climb") }.count == 1)
        #expect(!stale.embeddedTexts.contains { $0.contains("Cooking pasta") }, "an unchanged file was embedded again")
        let more = try #require(RetrievalRecord.decode(try Self.completed(store, id, "more")[0].output))
        #expect(more.chunks.contains { $0.text.contains("Roses climb") })
    }

    @Test func noIndexUpdateQueriesTheIndexAsItIs() async throws {
        let corpus = try Corpus()
        let store = try corpus.store()
        let snapshot = try Self.snapshot(Self.pipeline(Self.askStages), in: corpus)

        // Never built: the stage fails and says how to build it.
        var executor = Self.executor(store, HashingRuntime())
        executor.updatesIndexes = false
        let unbuilt = try await Self.start(snapshot, executor)
        let reason = try #require(Self.failure(unbuilt))
        #expect(reason.contains("index 'docs' has not been built") && reason.contains("baton index docs"), "\(reason)")
        #expect(!FileManager.default.fileExists(atPath: corpus.indexFile()))

        _ = try await Self.start(snapshot, Self.executor(store, HashingRuntime()))
        try corpus.write("resume.md", "# Resuming runs\n\nbaton resume RUN continues a run.\n")
        let runtime = HashingRuntime()
        executor = Self.executor(store, runtime)
        executor.updatesIndexes = false
        let outcome = try await Self.start(snapshot, executor)
        #expect(Self.failure(outcome) == nil, "\(outcome)")
        #expect(try Self.indexUpdates(store, Self.runID(outcome)).isEmpty)
        #expect(runtime.embedRequests == 1, "only the query")
        let index = try #require(snapshot.plan.indexes?.first)
        #expect(try IndexBuilder.isStale(index, at: corpus.indexFile()))
    }

    // MARK: - Refusals

    @Test func anIndexBuiltWithAnotherModelFailsTheStageWithBothSidesAndTheFix() async throws {
        let corpus = try Corpus()
        let store = try corpus.store()
        let built = try await Self.start(
            try Self.snapshot(Self.pipeline(Self.askStages, model: "embed-a"), in: corpus), Self.executor(store, HashingRuntime()))
        #expect(Self.failure(built) == nil, "\(built)")

        let other = try Self.snapshot(Self.pipeline(Self.askStages, model: "embed-b"), in: corpus)
        let runtime = HashingRuntime()
        let outcome = try await Self.start(other, Self.executor(store, runtime))
        let reason = try #require(Self.failure(outcome))
        #expect(reason.hasPrefix("stage 'facts': index 'docs' was built with model 'embed-a'"), "\(reason)")
        #expect(reason.contains("model 'embed-b'") && reason.contains("baton index docs --rebuild"), "\(reason)")
        #expect(runtime.requests.isEmpty, "the answer ran after a refused retrieval")
        let attempt = try #require(try store.attempts(Self.runID(outcome)).first { $0.stage == "facts" })
        #expect(attempt.status == .failed && attempt.error == reason)
    }

    @Test func anEmptyQueryFailsTheStageNamingTheTemplate() async throws {
        let corpus = try Corpus()
        let store = try corpus.store()
        let stages = """
              facts:
                retrieve: {index: docs, query: "{{inputs.question}}"}
            """
        let snapshot = try Self.snapshot(Self.pipeline(stages), in: corpus)
        let runtime = HashingRuntime()
        let outcome = try await Self.start(snapshot, Self.executor(store, runtime), question: "  ")
        let reason = try #require(Self.failure(outcome))
        #expect(
            reason
                == "stage 'facts': its query rendered empty (query: \"{{inputs.question}}\"); check the template and the inputs and stages it reads"
        )
        #expect(runtime.embedRequests == 0)
    }

    @Test func aRuntimeThatCannotEmbedFailsTheStageNamingItsKind() async throws {
        let corpus = try Corpus()
        let store = try corpus.store()
        let profileText = """
            version: 1
            name: cloud
            runtimes:
              claude: {kind: anthropic, url: "http://127.0.0.1:9", api_key_env: ANTHROPIC_TEST_KEY}
            models:
              claude-embed: {runtime: claude}
              m: {runtime: claude}
            """
        let document = ProfileDecoder.decode(BatonSpec.SourceFile(path: corpus.path + "/cloud.yaml", text: profileText), environment: [:])
        let profile = try #require(ProfileResolver.resolve(document) { _ in nil }.0)
        let path = corpus.path + "/ask.yaml"
        let text = Self.pipeline(Self.askStages, model: "claude-embed")
        let result = PipelineCompiler(profile: profile).compile(BatonSpec.SourceFile(path: path, text: text))
        guard let plan = result.plan else { throw CompileFailure(messages: result.diagnostics.map(\.message)) }
        let snapshot = RunSnapshot(plan: plan, profile: profile, sources: [:], pipelinePath: path, forcedRuntime: nil)
        // A chat-only runtime stands for the Anthropic client.
        let chatOnly = ScriptedRuntime { _, _ in .text("ok") }
        let outcome = try await Self.start(snapshot, Self.executor(store, chatOnly))
        let reason = try #require(Self.failure(outcome))
        #expect(reason.hasPrefix("stage 'facts': runtime 'claude' (anthropic) cannot embed; index 'docs' needs"), "\(reason)")
        #expect(chatOnly.requests.isEmpty)
    }

    @Test func aRuntimeDownFailsTheRunAsRuntimeUnavailableAfterTheEmbeddersRetries() async throws {
        let corpus = try Corpus()
        let store = try corpus.store()
        let snapshot = try Self.snapshot(Self.pipeline(Self.askStages), in: corpus)
        let down = RuntimeError(.unreachable, "cannot connect to runtime 'llama' at http://127.0.0.1:9", isTransient: true)
        let runtime = HashingRuntime(embedError: down)
        let outcome = try await Self.start(snapshot, Self.executor(store, runtime))
        guard case .failed(_, let reason, let unavailable) = outcome else {
            Issue.record("\(outcome)")
            return
        }
        #expect(unavailable, "exit 69")
        #expect(reason == "stage 'facts': cannot connect to runtime 'llama' at http://127.0.0.1:9")
        #expect(runtime.embedRequests == 3, "one request and the embedder's two retries")
        #expect(!FileManager.default.fileExists(atPath: corpus.indexFile()), "an index was created without vectors")
    }

    // MARK: - sqlite-vec

    static let sqliteVec = ProcessInfo.processInfo.environment["BATON_SQLITE_VEC"].flatMap { $0.isEmpty ? nil : $0 }

    @Test func aSqliteVecIndexWithoutTheExtensionFailsTheStageWithTheFix() async throws {
        let corpus = try Corpus()
        let store = try corpus.store()
        let snapshot = try Self.snapshot(Self.pipeline(Self.askStages, indexExtra: "\n    vector: sqlite-vec"), in: corpus)
        let runtime = HashingRuntime()
        let outcome = try await Self.start(snapshot, Self.executor(store, runtime))
        let reason = try #require(Self.failure(outcome))
        #expect(reason.hasPrefix("stage 'facts': index 'docs' asks for vector: sqlite-vec, but BATON_SQLITE_VEC is not set"), "\(reason)")
        #expect(runtime.requests.isEmpty)
    }

    @Test(.enabled(if: sqliteVec != nil, "BATON_SQLITE_VEC is not set: run scripts/setup-sqlite-vec.sh and export its path"))
    func aSqliteVecIndexFindsWhatAnExactOneFinds() async throws {
        let exactCorpus = try Corpus()
        let exact = try await Self.start(
            try Self.snapshot(Self.pipeline(Self.askStages), in: exactCorpus), Self.executor(try exactCorpus.store(), HashingRuntime()))
        let vecCorpus = try Corpus()
        var executor = Self.executor(try vecCorpus.store(), HashingRuntime())
        executor.sqliteVecPath = Self.sqliteVec
        let vec = try await Self.start(
            try Self.snapshot(Self.pipeline(Self.askStages, indexExtra: "\n    vector: sqlite-vec"), in: vecCorpus), executor)
        #expect(Self.failure(vec) == nil, "\(vec)")
        func sources(_ corpus: Corpus, _ outcome: RunOutcome) throws -> [String] {
            let output = try Self.completed(try corpus.store(), Self.runID(outcome), "facts")[0].output
            return RetrievalRecord.decode(output)?.chunks.map(\.source) ?? []
        }
        #expect(try sources(vecCorpus, vec) == sources(exactCorpus, exact))
        #expect(try !sources(vecCorpus, vec).isEmpty)
    }

    // MARK: - Fan-out

    @Test func aFanOutRetrieveStageQueriesOncePerItem() async throws {
        let corpus = try Corpus()
        let store = try corpus.store()
        let stages = """
              facts:
                for_each: inputs.topics
                as: topic
                max_items: 5
                retrieve: {index: docs, query: "{{topic}}", top_k: 1, hybrid: false}
              answer:
                prompt: "{{#stages.facts.items}}{{output}}\\n{{/stages.facts.items}}"
            """
        let snapshot = try Self.snapshot(
            Self.pipeline(stages, inputs: "\n  topics: {default: '[\"boil pasta\", \"prune roses\"]'}"), in: corpus)
        let runtime = HashingRuntime()
        let outcome = try await Self.start(snapshot, Self.executor(store, runtime))
        let id = Self.runID(outcome)
        #expect(Self.failure(outcome) == nil, "\(outcome)")
        let items = try Self.completed(store, id, "facts").sorted { ($0.item ?? 0) < ($1.item ?? 0) }
        #expect(items.map(\.prompt) == ["boil pasta", "prune roses"])
        #expect(items.compactMap { RetrievalRecord.decode($0.output)?.chunks.first?.source } == ["docs/pasta.md", "docs/garden.md"])
        #expect(try Self.indexUpdates(store, id).count == 1)
        let prompt = try #require(try Self.completed(store, id, "answer").first?.prompt)
        #expect(prompt.contains("[1] docs/pasta.md:1-") && prompt.contains("[1] docs/garden.md:1-"), "\(prompt)")
    }

    // MARK: - cite

    @Test func citeLimitsTheAnswersCitationsToTheChunksFound() async throws {
        let corpus = try Corpus()
        let store = try corpus.store()
        let stages = """
              facts:
                retrieve: {index: docs, query: "{{inputs.question}}", top_k: 2}
              answer:
                prompt: "{{stages.facts.output}}"
                output: {format: json}
                cite: facts
            """
        let snapshot = try Self.snapshot(Self.pipeline(stages), in: corpus)
        let runtime = HashingRuntime { $0.stage == "answer" ? #"{"answer": "resume it", "citations": [2, 1]}"# : nil }
        let outcome = try await Self.start(snapshot, Self.executor(store, runtime))
        let id = Self.runID(outcome)
        #expect(Self.failure(outcome) == nil, "\(outcome)")

        let schema = try #require(runtime.requests.first { $0.stage == "answer" }?.responseSchema)
        #expect(schema["required"] == .array([.string("answer"), .string("citations")]))
        let citations = try #require(schema["properties"]?["citations"])
        #expect(citations["items"]?["enum"] == .array([.number(1), .number(2)]))
        #expect(citations["minItems"] == .number(1))

        let answer = try #require(try Self.completed(store, id, "answer").first)
        let value = try #require(StageResult.parseJSON(answer.output))
        guard case .array(let cited)? = value["citations"] else {
            Issue.record("no citations in \(answer.output)")
            return
        }
        #expect(cited == [.number(2), .number(1)])
        // What `show` renders: the cited chunks in the answer's order, as `[n] path:line`.
        let record = try #require(RetrievalRecord.decode(try Self.completed(store, id, "facts")[0].output))
        #expect(record.cited(by: answer.output).map(\.citation) == record.chunks.reversed().map { "[\($0.n)] \($0.source):\($0.line)" })
        #expect(record.cited(by: answer.output).first?.citation.hasPrefix("[2] docs/") == true)
    }

    @Test func anAnswerCitingAChunkNotFoundIsRetriedThenFails() async throws {
        let corpus = try Corpus()
        let store = try corpus.store()
        let stages = """
              facts:
                retrieve: {index: docs, query: "{{inputs.question}}", top_k: 2}
              answer:
                prompt: "{{stages.facts.output}}"
                output:
                  format: json
                  schema:
                    type: object
                    properties: {text: {type: string}}
                    required: [text]
                cite: facts
                retry: {max_attempts: 2, initial_backoff: 1ms}
            """
        let snapshot = try Self.snapshot(Self.pipeline(stages), in: corpus)
        let runtime = HashingRuntime { $0.stage == "answer" ? #"{"text": "see", "citations": [7]}"# : nil }
        let outcome = try await Self.start(snapshot, Self.executor(store, runtime))
        let reason = try #require(Self.failure(outcome))
        #expect(reason.contains("should cite chunks of 'facts' by number (1, 2)"), "\(reason)")
        #expect(runtime.requests.filter { $0.stage == "answer" }.count == 2)
        // The stage's own schema keeps its properties and gains citations.
        let schema = try #require(runtime.requests.last?.responseSchema)
        #expect(schema["properties"]?["text"] != nil && schema["properties"]?["citations"] != nil)
        #expect(schema["required"] == .array([.string("text"), .string("citations")]))

        // The resume replays the retrieval and asks with the same enum, built from the recorded chunks.
        let good = HashingRuntime { $0.stage == "answer" ? #"{"text": "see", "citations": [1]}"# : nil }
        let resumed = try await Self.executor(store, good).resume(Self.runID(outcome), claim: .current())
        #expect(Self.failure(resumed) == nil, "\(resumed)")
        #expect(good.embedRequests == 0)
        #expect(good.requests.first?.responseSchema?["properties"]?["citations"]?["items"]?["enum"] == .array([.number(1), .number(2)]))
    }

    @Test func aRetrievalThatFoundNothingAllowsNoCitation() {
        let schema = Executor.citationSchema(base: nil, numbers: [])
        #expect(schema["properties"]?["citations"] == .object([("type", .string("array")), ("maxItems", .number(0))]))
        #expect(schema["additionalProperties"] == .bool(false))
    }

    // MARK: - The index service (what `baton index` and `baton search` call)

    @Test func theServiceUpdatesIncrementallyAndAnUnchangedIndexCostsNoEmbedding() async throws {
        let corpus = try Corpus()
        let snapshot = try Self.snapshot(Self.pipeline(Self.askStages), in: corpus)
        let index = try #require(snapshot.plan.indexes?.first)
        let runtime = HashingRuntime()
        let service = IndexService(snapshot: snapshot, runtimes: runtime, databasePath: corpus.db, sqliteVecPath: nil)
        #expect(try service.path(of: index) == corpus.indexFile())
        #expect(try service.isStale(index) == nil && service.stats(index) == nil)

        let progress = LockedList<Int>()
        let built = try await service.update(index, rebuild: false) { progress.append($0.filesDone) }
        #expect(built.added == 3 && built.chunksEmbedded >= 3)
        #expect(progress.values.last == 3)
        #expect(try service.isStale(index) == false)
        #expect(try service.stats(index)?.files == 3)

        let requests = runtime.embedRequests
        let again = try await service.update(index, rebuild: false)
        #expect(again.unchanged == 3 && again.chunksEmbedded == 0)
        #expect(runtime.embedRequests == requests, "an unchanged index was embedded")

        // A keyword search embeds nothing; a hybrid one embeds the query once.
        let keyword = try await service.query(index, text: "pasta", mode: .keyword, topK: 1, minScore: nil)
        #expect(keyword.hits.first?.source == "docs/pasta.md" && runtime.embedRequests == requests)
        let hybrid = try await service.query(index, text: "prune the roses", mode: .hybrid, topK: 2, minScore: nil)
        #expect(hybrid.hits.first?.source == "docs/garden.md" && runtime.embedRequests == requests + 1)
        #expect(hybrid.fingerprint.dimensions == 64)
    }

    @Test func theServiceRefusesAnotherModelUnlessRebuildingAndNamesAnUnbuiltIndex() async throws {
        let corpus = try Corpus()
        let first = try Self.snapshot(Self.pipeline(Self.askStages, model: "embed-a"), in: corpus)
        let runtime = HashingRuntime()
        let service = IndexService(snapshot: first, runtimes: runtime, databasePath: corpus.db, sqliteVecPath: nil)
        let index = try #require(first.plan.indexes?.first)
        await #expect(throws: IndexError.self) { try await service.query(index, text: "pasta", mode: .hybrid, topK: 1, minScore: nil) }
        _ = try await service.update(index, rebuild: false)

        let second = try Self.snapshot(Self.pipeline(Self.askStages, model: "embed-b"), in: corpus)
        let other = IndexService(snapshot: second, runtimes: runtime, databasePath: corpus.db, sqliteVecPath: nil)
        let switched = try #require(second.plan.indexes?.first)
        do {
            _ = try await other.update(switched, rebuild: false)
            Issue.record("an index of embed-a was updated with embed-b")
        } catch let error as IndexError {
            #expect(error.kind == .fingerprintMismatch && error.message.contains("--rebuild"), "\(error)")
        }
        do {
            _ = try await other.query(switched, text: "pasta", mode: .vector, topK: 1, minScore: nil)
            Issue.record("an index of embed-a was queried with embed-b")
        } catch let error as IndexError {
            #expect(error.kind == .fingerprintMismatch, "\(error)")
        }
        let rebuilt = try await other.update(switched, rebuild: true)
        #expect(rebuilt.added == 3)
        #expect(try other.stats(switched)?.fingerprint?.model == "embed-b")

        // Without a path and with an in-memory run database, the index has nowhere to live.
        let message =
            "index 'docs' has no path: and the run database is in memory, so it has no folder to live in; give the index a path: in its YAML"
        #expect(throws: IndexError(kind: .unreadable, message: message)) { try IndexService.path(of: index, databasePath: nil) }
    }

    @Test func loadingTheEmbeddingModelOutsideARunUnloadsWhatTheBudgetNeedsFreed() async throws {
        let corpus = try Corpus()
        let text = Self.pipeline(Self.askStages).replacingOccurrences(of: "name: ask\n", with: "name: ask\nmemory_budget: 2GB\n")
        let snapshot = try Self.snapshot(text, in: corpus)
        let index = try #require(snapshot.plan.indexes?.first)
        let runtime = ManagedRuntime()
        _ = try await runtime.load("chat", settings: StageSettings())
        let service = IndexService(snapshot: snapshot, runtimes: runtime, databasePath: corpus.db, sqliteVecPath: nil)
        let measured: [ModelKey: Int64] = [
            ModelKey(runtime: "echo", name: "embed"): 1_000_000_000, ModelKey(runtime: "echo", name: "chat"): 1_500_000_000,
        ]
        let loading = try #require(try await service.loadModel(index, measured: measured))
        #expect(loading.unloaded.map(\.name) == ["chat"] && loading.loadSeconds != nil)
        #expect(runtime.actions == ["load chat", "unload chat", "load embed"])
        let again = try #require(try await service.loadModel(index, measured: measured))
        #expect(again.loadSeconds == nil && again.unloaded.isEmpty)
    }

    // MARK: - Memory planning

    /// A runtime whose models the executor loads and unloads, recording the order; it embeds and chats.
    final class ManagedRuntime: LLMRuntime, ModelManaging, EmbeddingRuntime, RuntimeProvider, @unchecked Sendable {
        private let lock = NSLock()
        private var loaded: Set<String> = []
        private var log: [String] = []
        let hashing = HashingRuntime()

        var actions: [String] { lock.withLock { log } }
        func runtime(for model: ResolvedModel, snapshot: RunSnapshot) throws -> any LLMRuntime { self }
        func residentModels() async throws -> [ResidentModel] {
            lock.withLock { loaded.sorted().map { ResidentModel(name: $0, bytes: nil) } }
        }
        func load(_ model: String, settings: StageSettings) async throws -> LoadReport {
            lock.withLock {
                loaded.insert(model)
                log.append("load \(model)")
            }
            return LoadReport(seconds: 0.01, measuredBytes: nil)
        }
        func unload(_ model: String) async throws {
            lock.withLock {
                loaded.remove(model)
                log.append("unload \(model)")
            }
        }
        func embed(_ texts: [String], model: String) async throws -> EmbeddingBatch {
            lock.withLock { log.append("embed \(model)") }
            return try await hashing.embed(texts, model: model)
        }
        func embeddingModelDigest(_ model: String) async -> String? { nil }
        func generate(_ request: GenerationRequest) -> AsyncThrowingStream<GenerationEvent, any Error> {
            lock.withLock { log.append("chat \(request.model)") }
            return hashing.generate(request)
        }
    }

    static func plannedRun(budget: String) async throws -> (actions: [String], schedule: LoadSchedule) {
        let corpus = try Corpus()
        let store = try corpus.store()
        // Footprints as a run measured them: 1 GB for the embedding model, 2 GB for the chat model.
        try store.saveFootprint(runtime: "?", model: "embed", bytes: 1_000_000_000)
        try store.saveFootprint(runtime: "?", model: "chat", bytes: 2_000_000_000)
        let text = Self.pipeline(
            """
              facts:
                retrieve: {index: docs, query: "{{inputs.question}}", top_k: 2}
              answer:
                model: chat
                prompt: "{{stages.facts.output}}"
            """
        ).replacingOccurrences(of: "name: ask\n", with: "name: ask\nmemory_budget: \(budget)\n")
        let snapshot = try Self.snapshot(text, in: corpus)
        let runtime = ManagedRuntime()
        let outcome = try await Self.start(snapshot, Self.executor(store, runtime))
        #expect(Self.failure(outcome) == nil, "\(outcome)")
        let schedule = try LoadSchedule.make(snapshot.plan, measured: try store.measuredFootprints())
        return (runtime.actions, schedule)
    }

    @Test func theEmbeddingModelIsLoadedJustInTimeAndStaysBesideTheChatModelWhenTheBudgetHoldsBoth() async throws {
        let (actions, schedule) = try await Self.plannedRun(budget: "4GB")
        #expect(actions.first == "load embed", "\(actions)")
        #expect(actions.firstIndex(of: "load embed")! < actions.firstIndex(of: "embed embed")!)
        #expect(actions.filter { $0.hasPrefix("embed ") }.count >= 2, "the build and the query")
        #expect(actions.drop { !$0.hasPrefix("embed") }.contains("load chat"))
        // No unload during the run; after it, after_run (restore, the default) unloads both.
        let run = actions.prefix { !$0.hasPrefix("unload") }
        #expect(Set(actions.dropFirst(run.count)) == ["unload embed", "unload chat"], "\(actions)")
        // `baton plan` shows the same: the embedding model loads for facts, both stay resident.
        let facts = try #require(schedule.rows.first { $0.stage == "facts" })
        #expect(facts.model.name == "embed" && facts.loads)
        let answer = try #require(schedule.rows.first { $0.stage == "answer" })
        #expect(answer.loads && answer.unloads.isEmpty && Set(answer.resident.map(\.name)) == ["embed", "chat"])
    }

    @Test func theEmbeddingModelIsUnloadedBeforeTheChatModelWhenTheBudgetHoldsOne() async throws {
        let (actions, schedule) = try await Self.plannedRun(budget: "2.5GB")
        let unload = try #require(actions.firstIndex(of: "unload embed"), "\(actions)")
        let loadChat = try #require(actions.firstIndex(of: "load chat"), "\(actions)")
        #expect(actions.lastIndex(of: "embed embed")! < unload && unload < loadChat, "\(actions)")
        let answer = try #require(schedule.rows.first { $0.stage == "answer" })
        #expect(answer.unloads.map(\.name) == ["embed"] && answer.resident.map(\.name) == ["chat"])
    }
}
