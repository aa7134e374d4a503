import BatonEngine
import BatonTestSupport
import Foundation
import Testing

/// One crash of a run with a retrieve stage: the real `baton` SIGKILLed at `kill`, then resumed.
struct RetrieveKillCase: Sendable, CustomTestStringConvertible {
    var kill: String
    /// Whether the retrieve stage's attempt was committed before the kill, so the resume replays it.
    var replayed: Bool

    var testDescription: String { "killed at \(kill): the retrieval is \(replayed ? "replayed" : "made again")" }
}

/// Issue 13, "How it is checked": SIGKILL during a run's index update and during a retrieve stage. The index passes
/// SQLite's integrity check (every file old or new), the run resumes and completes, and a committed retrieval is
/// replayed: no new attempt, no new update, no embedding request for it.
@Suite struct RetrieveCrashTests {
    static let cases: [RetrieveKillCase] = [
        // Mid-update: two files committed, the rest not; the resume finishes the update, then queries.
        RetrieveKillCase(kill: "index-progress:2", replayed: false),
        // The update is recorded, the query was not made: the resume finds the index fresh and queries.
        RetrieveKillCase(kill: "index-updated:1", replayed: false),
        // The search returned, its attempt is not committed: queried again.
        RetrieveKillCase(kill: "retrieve-queried:1", replayed: false),
        // Inside the transaction that records the retrieval: rolled back, queried again.
        RetrieveKillCase(kill: "attempt-finish-commit:1", replayed: false),
        // The retrieval is committed, the answer not started: replayed.
        RetrieveKillCase(kill: "stage-done:1", replayed: true),
    ]

    static let profile = """
        version: 1
        name: retrieving
        default_runtime: echo
        runtimes:
          echo: {kind: echo}
        models:
          minilm: {runtime: echo}
        """

    static let pipeline = """
        version: 1
        name: ask
        inputs:
          question: {default: "how do I resume an interrupted run"}
        indexes:
          docs:
            sources: ["docs/*.md"]
            embed: {model: minilm, batch: 1}
            chunk: {by: paragraph, size: 300, overlap: 0}
        stages:
          facts:
            retrieve: {index: docs, query: "{{inputs.question}}", top_k: 3}
          answer:
            model: m
            prompt: |
              {{#stages.facts.chunks}}[{{n}}] {{source}}:{{line}} {{text}}
              {{/stages.facts.chunks}}Question: {{inputs.question}}
        """

    static let topics = [
        ("resume", "A run that was interrupted continues with baton resume; completed attempts are replayed."),
        ("pasta", "Boil salted water, add the pasta, and drain it when it is al dente."),
        ("roses", "Prune roses in late winter and water them deeply in summer."),
        ("bikes", "Oil the chain of a bicycle every few hundred kilometres and check the brakes."),
        ("tea", "Green tea brews best below boiling, for two minutes at most."),
        ("stars", "A telescope with a wide aperture gathers more light from faint stars."),
    ]

    /// A sandbox with the `retrieving` profile, the pipeline and its corpus; returns it with the `run` arguments.
    static func sandbox() throws -> (RunSandbox, [String]) {
        let sandbox = try RunSandbox("retrieve-kill")
        sandbox.environment["BATON_ECHO_SCRIPT"] = nil
        let profiles = sandbox.folder + "/profiles"
        try FileManager.default.createDirectory(atPath: profiles, withIntermediateDirectories: true)
        try profile.write(toFile: profiles + "/retrieving.yaml", atomically: true, encoding: .utf8)
        sandbox.environment["BATON_PROFILE_PATH"] = profiles
        try FileManager.default.createDirectory(atPath: sandbox.folder + "/docs", withIntermediateDirectories: true)
        for (name, text) in topics {
            try "# \(name.capitalized)\n\n\(text)\n".write(toFile: sandbox.folder + "/docs/\(name).md", atomically: true, encoding: .utf8)
        }
        let file = sandbox.folder + "/ask.yaml"
        try pipeline.write(toFile: file, atomically: true, encoding: .utf8)
        return (sandbox, ["run", file, "--profile", "retrieving"])
    }

    static func indexFile(_ sandbox: RunSandbox) -> String { sandbox.folder + "/indexes/docs.sqlite" }

    /// The index's integrity check (throws on damage) and its stats.
    static func checkedIndex(_ sandbox: RunSandbox) throws -> IndexStats? {
        guard let store = try IndexStore.openExisting(path: indexFile(sandbox)) else { return nil }
        try store.integrityCheck()
        return try store.stats()
    }

    static func indexUpdates(_ sandbox: RunSandbox, _ id: String) throws -> Int {
        try sandbox.store().events(id, kind: .other("index-updated")).count
    }

    @Test func anUninterruptedRunBuildsTheIndexAndAnswersFromIt() async throws {
        let (sandbox, arguments) = try Self.sandbox()
        let run = try await sandbox.baton(arguments)
        #expect(run.status == 0, "\(run.summary)")
        let id = try await sandbox.onlyRunID()
        #expect(try Self.indexUpdates(sandbox, id) == 1)
        let stats = try #require(try Self.checkedIndex(sandbox))
        #expect(stats.files == Self.topics.count)
        let answer = try #require(try sandbox.attempts(id).first { $0.stage == "answer" && $0.status == .completed })
        #expect(answer.prompt.hasPrefix("[1] docs/resume.md:1"), "\(answer.prompt)")
    }

    @Test(arguments: cases)
    func aKilledRunLeavesAConsistentIndexAndResumes(_ scenario: RetrieveKillCase) async throws {
        let (sandbox, arguments) = try Self.sandbox()
        let killed = try await sandbox.baton(arguments, ["BATON_TEST_KILL_AT": scenario.kill])
        try #require(killed.signal == SIGKILL, "was not killed: \(killed.summary)")
        let id = try await sandbox.onlyRunID()
        // Whatever the kill interrupted, the index file is consistent (or was never created).
        let afterKill = try Self.checkedIndex(sandbox)
        if scenario.kill == "index-progress:2" {
            let stats = try #require(afterKill, "the killed update left no index")
            #expect(stats.files < Self.topics.count, "the kill came after the update finished")
        }
        let before = try sandbox.attempts(id).filter { $0.stage == "facts" && $0.status == .completed }
        #expect(before.count == (scenario.replayed ? 1 : 0))
        let updatesBefore = try Self.indexUpdates(sandbox, id)

        let resumed = try await sandbox.baton(["resume", id])
        #expect(resumed.status == 0, "\(resumed.summary)")
        let stats = try #require(try Self.checkedIndex(sandbox))
        #expect(stats.files == Self.topics.count)
        let attempts = try sandbox.attempts(id)
        let facts = attempts.filter { $0.stage == "facts" && $0.status == .completed }
        #expect(facts.count == 1)
        if scenario.replayed {
            // The same attempt, and no update after it.
            #expect(facts.map(\.id) == before.map(\.id))
            #expect(try Self.indexUpdates(sandbox, id) == updatesBefore)
        }
        // One update of the index in the whole run, whichever process made it.
        #expect(try Self.indexUpdates(sandbox, id) == 1)
        let record = try #require(RetrievalRecord.decode(facts[0].output))
        #expect(record.chunks.first?.source == "docs/resume.md", "\(record.chunks.map(\.source))")
        let answer = try #require(attempts.first { $0.stage == "answer" && $0.status == .completed })
        #expect(answer.prompt.hasPrefix("[1] docs/resume.md:1"), "\(answer.prompt)")
    }

    @Test func noIndexUpdateRunsAgainstTheIndexAsItIs() async throws {
        let (sandbox, arguments) = try Self.sandbox()
        let unbuilt = try await sandbox.baton(arguments + ["--no-index-update"])
        #expect(unbuilt.status == 1, "\(unbuilt.summary)")
        #expect(unbuilt.stderr.contains("index 'docs' has not been built"), "\(unbuilt.stderr)")
        #expect(!FileManager.default.fileExists(atPath: Self.indexFile(sandbox)))
    }
}
