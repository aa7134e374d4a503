import BatonEngine
import BatonSpec
import Foundation
import Testing

/// An embedding function for tests: hashed words into 64 dimensions (texts sharing words score higher), counting
/// its requests and texts, and failing on request number `failOn` when set.
final class CountingEmbedder: @unchecked Sendable {
    private let lock = NSLock()
    private var requestsMade = 0
    private var textsEmbedded: [String] = []
    var failOn: Int?

    var requests: Int { lock.withLock { requestsMade } }
    var texts: [String] { lock.withLock { textsEmbedded } }

    func reset() {
        lock.withLock {
            requestsMade = 0
            textsEmbedded = []
        }
    }

    func embed(_ texts: [String]) throws -> [[Float]] {
        let number = lock.withLock {
            requestsMade += 1
            return requestsMade
        }
        if let failOn, number == failOn { throw IndexError(kind: .embedding, message: "request \(number) failed (test)") }
        lock.withLock { textsEmbedded += texts }
        return texts.map(Self.vector)
    }

    static func vector(_ text: String) -> [Float] {
        var vector = [Float](repeating: 0, count: 64)
        for word in text.lowercased().split(whereSeparator: { !$0.isLetter }) {
            var hash: UInt64 = 1_469_598_103_934_665_603
            for byte in word.utf8 { hash = (hash ^ UInt64(byte)) &* 1_099_511_628_211 }
            vector[Int(hash % 64)] += 1
        }
        vector[63] += 0.01  // never the zero vector
        return vector
    }
}

/// Incremental indexing: nothing changed costs nothing, a changed file re-embeds only itself, deleted files leave,
/// fingerprints are enforced, rebuilds replace the file at the end, and a failure mid-way is resumable.
@Suite struct IndexBuilderTests {
    static func fingerprint(
        model: String = "minilm", dimensions: Int = 64, chunk: ChunkSpec = ChunkSpec(by: .paragraph, size: 400, overlap: 0)
    )
        -> IndexFingerprint
    {
        IndexFingerprint(model: model, runtime: "local", modelDigest: nil, dimensions: dimensions, chunk: chunk)
    }

    /// Six markdown files of two or three paragraphs each.
    static func corpus() throws -> IndexTestFolder {
        let folder = try IndexTestFolder()
        let topics = ["install", "profiles", "resume", "retry", "memory", "citations"]
        for (number, topic) in topics.enumerated() {
            var text = "# \(topic.capitalized)\n\nThis page explains \(topic) in Baton.\n"
            text += "\n" + String(repeating: "The \(topic) feature has details. ", count: 8) + "\n"
            if number % 2 == 0 { text += "\n" + String(repeating: "More about \(topic) here. ", count: 10) + "\n" }
            try folder.write("docs/\(topic).md", text)
        }
        return folder
    }

    static func update(
        _ index: IndexPlan, _ embedder: CountingEmbedder, fingerprint: IndexFingerprint = fingerprint(), rebuild: Bool = false
    ) async throws -> IndexUpdate {
        try await IndexBuilder.update(
            index, at: index.path!, fingerprint: fingerprint, rebuild: rebuild, embed: { try embedder.embed($0) })
    }

    @Test func aSecondUpdateWithNothingChangedMakesNoEmbeddingRequest() async throws {
        // Given a built index
        let folder = try Self.corpus()
        let index = folder.index(["docs/*.md"], batch: 4)
        let embedder = CountingEmbedder()
        let first = try await Self.update(index, embedder)
        #expect(first.added == 6)
        #expect(first.chunksEmbedded == embedder.texts.count)
        #expect(embedder.requests == (first.chunksEmbedded + 3) / 4)  // batches of 4 across files
        let store = try #require(try IndexStore.openExisting(path: index.path!))
        #expect(try store.stats().chunks == first.chunksEmbedded)
        #expect(try store.fingerprint() == Self.fingerprint())
        #expect(try IndexBuilder.isStale(index, at: index.path!) == false)

        // When updating again
        embedder.reset()
        let second = try await Self.update(index, embedder)

        // Then nothing was embedded
        #expect(embedder.requests == 0)
        #expect(second == IndexUpdate(added: 0, changed: 0, removed: 0, unchanged: 6, chunksEmbedded: 0, skipped: []))
        try store.integrityCheck()
    }

    @Test func aChangedFileReEmbedsOnlyItsChunksAndADeletedFileLeaves() async throws {
        let folder = try Self.corpus()
        let index = folder.index(["docs/*.md"])
        let embedder = CountingEmbedder()
        _ = try await Self.update(index, embedder)
        let store = try #require(try IndexStore.openExisting(path: index.path!))
        let before = try store.stats().chunks

        // When one file changes and another is deleted
        try folder.write("docs/retry.md", "# Retry\n\nRetries back off exponentially.\n\nA stage retries three times.\n")
        try folder.remove("docs/memory.md")
        #expect(try IndexBuilder.isStale(index, at: index.path!) == true)
        embedder.reset()
        let update = try await Self.update(index, embedder)

        // Then only the changed file's chunks were embedded, and the deleted file's rows are gone
        #expect(update.changed == 1)
        #expect(update.removed == 1)
        #expect(update.unchanged == 4)
        #expect(embedder.texts == ["# Retry\n\nRetries back off exponentially.\n\nA stage retries three times."])
        let hits = try store.search("exponentially", vector: nil, mode: .keyword, topK: 5, minScore: nil)
        #expect(hits.map(\.source) == ["docs/retry.md"])
        #expect(try store.search("memory", vector: nil, mode: .keyword, topK: 5, minScore: nil).isEmpty)
        #expect(try store.stats().files == 5)
        #expect(try store.stats().chunks < before)
        try store.integrityCheck()
        #expect(try IndexBuilder.isStale(index, at: index.path!) == false)

        // And a new file is stale until indexed
        try folder.write("docs/new.md", "# New\n\nA new page.\n")
        #expect(try IndexBuilder.isStale(index, at: index.path!) == true)
    }

    @Test func aSearchFindsTheFileAboutTheQuery() async throws {
        let folder = try Self.corpus()
        let index = folder.index(["docs/*.md"])
        _ = try await Self.update(index, CountingEmbedder())
        let store = try #require(try IndexStore.openExisting(path: index.path!))
        for topic in ["install", "resume", "citations"] {
            let query = "the \(topic) feature"
            let hits = try store.search(query, vector: CountingEmbedder.vector(query), mode: .hybrid, topK: 3, minScore: nil)
            #expect(hits.first?.source == "docs/\(topic).md")
            #expect(hits.first.map { $0.startLine >= 1 && $0.endLine >= $0.startLine } == true)
        }
    }

    @Test func anotherModelIsRefusedUntilRebuiltAndTheRebuildReplacesTheFile() async throws {
        // Given an index built with 'minilm'
        let folder = try Self.corpus()
        let index = folder.index(["docs/*.md"])
        let embedder = CountingEmbedder()
        let built = try await Self.update(index, embedder)

        // When updating with another model
        let other = Self.fingerprint(model: "nomic", dimensions: 64)
        embedder.reset()
        let error = await #expect(throws: IndexError.self) { _ = try await Self.update(index, embedder, fingerprint: other) }

        // Then it is refused, naming both models and the fix, without embedding
        #expect(error?.kind == .fingerprintMismatch)
        #expect(
            error?.message
                == "index 'docs' was built with model 'minilm' on 'local' (64 dimensions, chunks by paragraph of 400 with 0 overlap); this pipeline embeds with model 'nomic' on 'local' (64 dimensions, chunks by paragraph of 400 with 0 overlap) (the model differs); rebuild it with `baton index docs --rebuild`"
        )
        #expect(embedder.requests == 0)

        // And a rebuild embeds everything anew and takes the old file's place
        let rebuilt = try await Self.update(index, embedder, fingerprint: other, rebuild: true)
        #expect(rebuilt.added == 6)
        #expect(rebuilt.chunksEmbedded == built.chunksEmbedded)
        #expect(!FileManager.default.fileExists(atPath: index.path! + ".rebuild"))
        let store = try #require(try IndexStore.openExisting(path: index.path!))
        #expect(try store.fingerprint()?.model == "nomic")
        try store.integrityCheck()
    }

    @Test func aFailedRebuildLeavesTheOldIndexInPlace() async throws {
        let folder = try Self.corpus()
        let index = folder.index(["docs/*.md"], batch: 2)
        let embedder = CountingEmbedder()
        let built = try await Self.update(index, embedder)

        // When a rebuild's third request fails
        embedder.reset()
        embedder.failOn = 3
        await #expect(throws: IndexError.self) {
            _ = try await Self.update(index, embedder, fingerprint: Self.fingerprint(model: "nomic"), rebuild: true)
        }

        // Then the old index is still there, whole, with its old fingerprint
        let store = try #require(try IndexStore.openExisting(path: index.path!))
        #expect(try store.fingerprint()?.model == "minilm")
        #expect(try store.stats().chunks == built.chunksEmbedded)
        try store.integrityCheck()

        // And the next rebuild starts over and succeeds
        embedder.failOn = nil
        embedder.reset()
        let rebuilt = try await Self.update(index, embedder, fingerprint: Self.fingerprint(model: "nomic"), rebuild: true)
        #expect(rebuilt.chunksEmbedded == built.chunksEmbedded)
        #expect(try IndexStore.openExisting(path: index.path!)?.fingerprint()?.model == "nomic")
    }

    @Test func aFailureMidUpdateLeavesAConsistentIndexThatResumes() async throws {
        // Given files whose chunks take several requests of 2
        let folder = try Self.corpus()
        let index = folder.index(["docs/*.md"], batch: 2)
        let embedder = CountingEmbedder()
        embedder.failOn = 3

        // When the third request fails
        await #expect(throws: IndexError.self) { _ = try await Self.update(index, embedder) }

        // Then what was stored is whole: every recorded file has all its chunks
        let store = try #require(try IndexStore.openExisting(path: index.path!))
        try store.integrityCheck()
        let stored = try store.stats()
        #expect(stored.files >= 1)
        #expect(stored.files < 6)
        #expect(try IndexBuilder.isStale(index, at: index.path!) == true)

        // And the next update embeds only what is missing
        let done = Set(try store.search("Baton", vector: nil, mode: .keyword, topK: 100, minScore: nil).map(\.source))
        embedder.failOn = nil
        embedder.reset()
        let resumed = try await Self.update(index, embedder)
        #expect(resumed.added == 6 - stored.files)
        #expect(resumed.unchanged == stored.files)
        #expect(resumed.chunksEmbedded == embedder.texts.count)
        #expect(!embedder.texts.contains { text in done.contains { text.contains(($0 as NSString).lastPathComponent.dropLast(3)) } })
        #expect(try store.stats().files == 6)
        try store.integrityCheck()
    }

    @Test func theFirstVectorSetsUnknownDimensionsAndProgressReachesTheTotal() async throws {
        let folder = try Self.corpus()
        let index = folder.index(["docs/*.md"])
        let embedder = CountingEmbedder()
        let reports = LockedReports()
        _ = try await IndexBuilder.update(
            index, at: index.path!, fingerprint: Self.fingerprint(dimensions: 0), rebuild: false, embed: { try embedder.embed($0) },
            progress: { reports.append($0) })
        #expect(try IndexStore.openExisting(path: index.path!)?.fingerprint()?.dimensions == 64)
        let all = reports.all
        #expect(all.first?.filesDone == 0)
        #expect(all.last?.filesDone == 6)
        #expect(all.last?.filesTotal == 6)
        #expect(all.last?.chunksEmbedded == embedder.texts.count)
    }

    @Test func skippedFilesAreReportedAndNoSourcesIsAnError() async throws {
        let folder = try Self.corpus()
        try folder.write("docs/blob.md", Data([0, 1, 2, 3]))
        let index = folder.index(["docs/*.md"])
        let update = try await Self.update(index, CountingEmbedder())
        #expect(update.skipped == [SkippedSource(path: "docs/blob.md", reason: "binary (a NUL byte in its first 8 KiB)")])

        let empty = folder.index(["nothing/*.md"], name: "empty")
        let error = await #expect(throws: IndexError.self) { _ = try await Self.update(empty, CountingEmbedder()) }
        #expect(error?.kind == .noSources)
        #expect(!FileManager.default.fileExists(atPath: empty.path!), "a failed scan creates no index file")
    }
}

/// Progress reports collected from a @Sendable callback.
final class LockedReports: @unchecked Sendable {
    private let lock = NSLock()
    private var reports: [IndexProgress] = []
    func append(_ report: IndexProgress) { lock.withLock { reports.append(report) } }
    var all: [IndexProgress] { lock.withLock { reports } }
}
