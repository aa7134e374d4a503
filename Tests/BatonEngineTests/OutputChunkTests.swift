import BatonEngine
import BatonSpec
import BatonTestSupport
import Foundation
import GRDB
import Testing

/// `output-chunk` events (issue 16): what `baton serve` streams of an attempt's output while it is written. Each chunk
/// is the text since the previous one, at its offset in UTF-16 code units, written with the throttled progress save; a
/// run killed mid-answer keeps the aborted attempt's chunks and its new attempt starts again at 0; an echo answer
/// without delays writes none.
@Suite struct OutputChunkTests {
    /// Accents, a precomposed and a combining é, and emoji outside the Basic Multilingual Plane (two UTF-16 units each,
    /// one character): offsets counted in characters or in UTF-8 bytes would differ from the UTF-16 ones.
    static let answer = (1...40).map { "😀 mot\($0) café naïve e\u{301}tude 🇫🇷" }.joined(separator: " ")

    static let script = """
        write:
          "*": {output: "\(answer)"}
        """

    static let pipeline = """
        version: 1
        stages:
          write:
            model: m
            prompt: Write something.
          review:
            model: m
            prompt: "Review: {{stages.write.output}}"
        """

    static let fanOut = """
        version: 1
        inputs:
          topics: {}
        stages:
          write:
            model: m
            for_each: inputs.topics
            max_items: 3
            prompt: "Write about {{item}}, a word after another, until the sentence is long enough"
        """

    /// One chunk as stored.
    struct Chunk: Decodable {
        var text: String
        var offset: String
        var item: Int?
        /// The event's attempt.
        var attemptID: Int64 = 0
        var eventID: Int64 = 0

        enum CodingKeys: String, CodingKey { case text, offset, item }

        var start: Int { Int(offset) ?? -1 }
    }

    static func runtime(tokenDelay: Double) throws -> EchoProvider {
        var options = EchoRuntime.Options()
        options.tokenDelay = tokenDelay
        options.script = try EchoScript(yaml: script, file: "script.yaml")
        return EchoProvider(runtime: EchoRuntime(options: options))
    }

    static func executor(_ store: RunStore, _ provider: EchoProvider, interval: Double = 0.03) -> Executor {
        var executor = Executor(store: store, runtimes: provider, sleep: { _ in }, random: { 0.5 })
        executor.progressInterval = interval
        return executor
    }

    static func chunks(_ store: RunStore, _ id: String) throws -> [Chunk] {
        try store.events(id, kind: .outputChunk).map { event in
            var chunk = try JSONDecoder().decode(Chunk.self, from: Data((event.payload ?? "").utf8))
            chunk.attemptID = event.attemptID ?? -1
            chunk.eventID = event.id ?? -1
            return chunk
        }
    }

    /// Checks that `chunks` (one attempt's) start at 0 and each starts where the one before ended, in UTF-16 units, and
    /// that together they are the start of `output`; returns their text.
    @discardableResult
    static func checkContiguous(_ chunks: [Chunk], output: String, sourceLocation: Testing.SourceLocation = #_sourceLocation) -> String {
        var joined = ""
        for chunk in chunks {
            #expect(
                chunk.start == joined.utf16.count, "chunk at \(chunk.offset) after \(joined.utf16.count) units",
                sourceLocation: sourceLocation)
            joined += chunk.text
        }
        #expect(
            Array(output.utf16).starts(with: joined.utf16), "the chunks are not the start of the output", sourceLocation: sourceLocation)
        return joined
    }

    @Test func chunksAreTheOutputsStartAtContiguousUTF16Offsets() async throws {
        let store = try RunStore.inMemory()
        let outcome = try await Self.executor(store, try Self.runtime(tokenDelay: 0.005)).start(
            try snapshot(Self.pipeline), inputs: [:], claim: .current())
        guard case .completed(let id) = outcome else {
            Issue.record("\(outcome)")
            return
        }
        let attempts = try store.attempts(id)
        #expect(attempts.map(\.stage) == ["write", "review"])
        let chunks = try Self.chunks(store, id)
        for attempt in attempts {
            let mine = chunks.filter { $0.attemptID == attempt.id }
            #expect(mine.count >= 2, "stage \(attempt.stage): \(mine.count) chunks")
            Self.checkContiguous(mine, output: attempt.output)
        }
        #expect(Set(chunks.map(\.attemptID)) == Set(attempts.compactMap(\.id)))
        #expect(try store.events(id, kind: .outputChunk).allSatisfy { $0.stage == "write" || $0.stage == "review" })

        // The write stage's offsets are not character or byte counts: the answer starts with an emoji, so the text before
        // any later chunk has more UTF-16 units than characters, and fewer than UTF-8 bytes.
        let write = try #require(attempts.first?.output)
        #expect(write == Self.answer)
        let later = chunks.filter { $0.attemptID == attempts.first?.id && $0.start > 0 }
        let units = Array(write.utf16)
        #expect(!later.isEmpty)
        for chunk in later {
            let before = String(decoding: units[..<chunk.start], as: UTF16.self)
            #expect(before.count < chunk.start && before.utf8.count > chunk.start, "\(chunk.offset)")
        }
        // A chunk is what a page appends at its offset: the units there are the chunk's.
        for chunk in chunks.filter({ $0.attemptID == attempts.first?.id }) {
            #expect(Array(units[chunk.start..<(chunk.start + chunk.text.utf16.count)]) == Array(chunk.text.utf16))
        }
    }

    @Test func aFanOutItemsChunksNameTheItem() async throws {
        let store = try RunStore.inMemory()
        let outcome = try await Self.executor(store, try Self.runtime(tokenDelay: 0.005)).start(
            try snapshot(Self.fanOut), inputs: ["topics": #"["tea", "cake"]"#], claim: .current())
        guard case .completed(let id) = outcome else {
            Issue.record("\(outcome)")
            return
        }
        let attempts = try store.attempts(id)
        #expect(attempts.map(\.item) == [0, 1])
        let chunks = try Self.chunks(store, id)
        for attempt in attempts {
            let mine = chunks.filter { $0.attemptID == attempt.id }
            #expect(!mine.isEmpty)
            #expect(mine.allSatisfy { $0.item == attempt.item })
            Self.checkContiguous(mine, output: attempt.output)
        }
    }

    @Test func anEchoAnswerWithoutDelaysWritesNoChunk() async throws {
        let store = try RunStore.inMemory()
        var executor = Executor(store: store, runtimes: EchoProvider(runtime: EchoRuntime()), sleep: { _ in }, random: { 0.5 })
        executor.progressInterval = 0.5
        let outcome = try await executor.start(try snapshot(Self.pipeline), inputs: [:], claim: .current())
        guard case .completed(let id) = outcome else {
            Issue.record("\(outcome)")
            return
        }
        #expect(try store.attempts(id).count == 2)
        #expect(try store.events(id, kind: .outputChunk).isEmpty)
    }

    /// A process killed mid-answer leaves on disk what it committed: the database is copied (SQLite's backup, a
    /// consistent snapshot of the commits) while the run is writing chunks, and the copy is resumed as a new process
    /// would.
    @Test func aKilledRunKeepsItsAbortedChunksAndTheNewAttemptStartsAtZero() async throws {
        let folder = NSTemporaryDirectory() + "baton-chunks-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let path = folder + "/runs.sqlite"
        let copy = folder + "/killed.sqlite"
        let store = try RunStore(path: path)
        let provider = try Self.runtime(tokenDelay: 0.01)
        // The killed process's lease names a pid that does not exist, as a dead process's does.
        let doomed = LeaseClaim(token: "doomed", pid: Int(Int32.max), host: LeaseClaim.current().host)
        let first = Task { try await Self.executor(store, provider).start(try snapshot(Self.pipeline), inputs: [:], claim: doomed) }

        var reader = Configuration()
        reader.readonly = true
        let source = try DatabaseQueue(path: path, configuration: reader)
        let deadline = ContinuousClock.now + .seconds(60)
        var copied = false
        while !copied, ContinuousClock.now < deadline {
            let writing = try await source.read { db in
                try Int.fetchOne(
                    db,
                    sql: """
                        SELECT COUNT(*) FROM events e JOIN attempts a ON a.id = e.attempt_id
                        WHERE e.kind = 'output-chunk' AND a.stage = 'write' AND a.status = 'running'
                        """) ?? 0
            }
            if writing >= 3 {
                try source.backup(to: try DatabaseQueue(path: copy))
                copied = true
            } else {
                try await Task.sleep(for: .milliseconds(5))
            }
        }
        try source.close()
        first.cancel()
        _ = try? await first.value
        try #require(copied, "the run never wrote three chunks of its first stage")

        let killed = try RunStore(path: copy)
        let id = try #require(try killed.runs().first?.id)
        let outcome = try await Self.executor(killed, provider).resume(id, claim: .current())
        #expect(outcome == .completed(runID: id))

        let attempts = try killed.attempts(id).filter { $0.stage == "write" }
        try #require(attempts.map(\.status) == [.aborted, .completed])
        let (aborted, completed) = (attempts[0], attempts[1])
        let chunks = try Self.chunks(killed, id)
        let old = chunks.filter { $0.attemptID == aborted.id }
        let new = chunks.filter { $0.attemptID == completed.id }
        #expect(old.count >= 3)
        // The aborted attempt's saved output is exactly its chunks: each save wrote both in one transaction.
        let joined = Self.checkContiguous(old, output: aborted.output)
        #expect(Array(joined.utf16) == Array(aborted.output.utf16))
        #expect(new.first?.start == 0)
        Self.checkContiguous(new, output: completed.output)
        #expect(completed.output == Self.answer)
        // The new attempt's chunks all come after the old one's.
        #expect((old.map(\.eventID).max() ?? 0) < (new.map(\.eventID).min() ?? 0))
    }
}

/// Serves every model with one echo runtime.
struct EchoProvider: RuntimeProvider {
    let runtime: EchoRuntime

    func runtime(for model: ResolvedModel, snapshot: RunSnapshot) throws -> any LLMRuntime { runtime }
}
