import BatonTestSupport
import Foundation
import Testing

@testable import BatonEngine

/// The dashboard's reads and `baton stats` on both backends, and one history read back the same from both.
extension RunStoreConformanceTests {
    static let snapshot = """
        {"plan":{"profile":"plan-profile","stages":[{"name":"a","role":"writer","models":[{"name":"m","runtime":"llama"}]},
        {"name":"b","role":"critic"},{"name":"t","isToolDefinition":true}]},"profile":{"chain":["ci","base"]}}
        """

    /// A history touching every table the reads look at: two runs, attempts with tokens and timings, loads, a
    /// fallback, a footprint.
    static func record(_ store: RunStore) throws {
        try store.createRun(C.run("r1", created: 100, status: .completed, snapshot: snapshot))
        try store.createRun(C.run("r2", created: 200, status: .running, pipeline: "q", snapshot: "{\"plan\":{\"stages\":[]}}"))
        let a = try store.startAttempt(C.attempt("r1", "a"))
        try store.finishAttempt(C.finished(a, output: "A", tokens: 7), event: .attemptCompleted)
        let b = try store.startAttempt(C.attempt("r1", "b", model: "n"))
        var failed = C.finished(b, output: "", tokens: 3)
        failed.status = .failed
        try store.finishAttempt(failed, event: .attemptFailed)
        try store.appendEvent("r1", kind: .modelLoaded, stage: "a", payload: "{\"model\":\"llama:m\",\"seconds\":\"1.5\"}")
        try store.appendEvent("r1", kind: .modelFallback, stage: "a", payload: "{\"from\":\"llama:m\"}")
        _ = try store.startAttempt(C.attempt("r2", "x"))
        _ = try store.startAttempt(C.attempt("r2", "y"))
        try store.saveFootprint(runtime: "llama", model: "m", bytes: 4096)
    }

    @Test(arguments: StoreBackend.allCases) func theDashboardReadsRunsFactsAndEvents(_ backend: StoreBackend) throws {
        let store = try backend.open().store
        try Self.record(store)
        let rows = try store.dashboardRuns(limit: 10)
        #expect(rows.map(\.run.id) == ["r2", "r1"])
        #expect(rows[1].promptTokens == 10 && rows[1].outputTokens == 20 && rows[1].stagesDone == 1 && rows[1].currentStage == nil)
        #expect(rows[0].currentStage == "y" && rows[0].stagesDone == 0)
        #expect(try store.dashboardRuns(status: .completed).map(\.run.id) == ["r1"])
        #expect(try store.dashboardRuns(pipeline: "q", limit: 0).map(\.run.id) == ["r2"])
        #expect(
            try store.planFacts(["r1", "r2", "none"]) == [
                "r1": PlanFacts(profile: "ci", stagesTotal: 2), "r2": PlanFacts(profile: nil, stagesTotal: 0),
            ])
        #expect(try store.planFacts([]).isEmpty)
        #expect(try store.lastEventID() == 10)
        #expect(try store.lastEventID(runID: "r1") == 8)
        #expect(try store.lastEventID(runID: "none") == 0)
        #expect(try store.events(after: 6, runID: nil, limit: 2).map(\.id) == [7, 8])
        #expect(try store.events(after: 2, runID: "r2", limit: 100).map(\.id) == [9, 10])
        let summaries = try store.attemptSummaries([1, 2, 99])
        #expect(summaries.keys.sorted() == [1, 2])
        #expect(summaries[1]?.output == "" && summaries[1]?.prompt == "" && summaries[1]?.system == nil)
        #expect(summaries[1]?.promptTokens == 7 && summaries[1]?.finishReason == "complete" && summaries[1]?.thinking == nil)
        #expect(try store.attempt(1, runID: "r1")?.output == "A")
        #expect(try store.attempt(1, runID: "r2") == nil)
        #expect(try store.standing("r1")?.status == .completed)
    }

    @Test(arguments: StoreBackend.allCases) func statsCountCallsLoadsAndFallbacksPerModelAndRole(_ backend: StoreBackend) throws {
        let store = try backend.open().store
        try Self.record(store)
        let report = try store.stats(StatsQuery())
        #expect(report.rows.map(\.model).sorted() == ["llama:m", "llama:m", "llama:n"])
        let writer = report.rows.first { $0.model == "llama:m" && $0.role == "writer" }
        #expect(writer?.calls == 1)
        #expect(try store.stats(StatsQuery(profile: "other")).rows.isEmpty)
        #expect(try store.stats(StatsQuery(since: 1e12)).rows.isEmpty)
    }

    @Test func bothBackendsReadTheSameHistoryBackTheSame() throws {
        let sqlite = try StoreBackend.sqlite.open()
        let postgres = try StoreBackend.postgres.open()
        for open in [sqlite, postgres] { try Self.record(open.store) }
        func reads(_ store: RunStore) throws -> [String] {
            var lines: [String] = []
            for run in try store.runs() {
                var row = run
                row.updatedAt = 0
                row.finishedAt = nil
                lines.append("\(row)")
                lines += C.timeless(try store.events(run.id))
                lines += try store.attempts(run.id).map { "\($0)" }
                lines += try store.attemptsWithoutPrompts(run.id, outputsOf: ["a"]).map { "\($0)" }
            }
            lines.append("\(try store.stats(StatsQuery(includeEcho: true)))")
            lines.append("\(try store.planFacts(["r1", "r2"]).sorted { $0.key < $1.key })")
            lines += try store.dashboardRuns().map {
                "\($0.run.id) \($0.promptTokens) \($0.outputTokens) \($0.stagesDone) \($0.currentStage ?? "-")"
            }
            lines.append("\(try store.measuredFootprints())")
            lines.append("\(try store.attemptSummaries([1, 2, 3, 4]).sorted { $0.key < $1.key })")
            return lines
        }
        let expected = try reads(sqlite.store)
        let actual = try reads(postgres.store)
        #expect(actual.count == expected.count)
        for (left, right) in zip(expected, actual) where left != right {
            Issue.record("SQLite and PostgreSQL differ:\n  sqlite:   \(left)\n  postgres: \(right)")
        }
    }
}
