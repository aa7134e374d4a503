import BatonTestSupport
import Foundation
import GRDB
import Testing

@testable import BatonEngine

/// A run store backend the conformance suite runs each case on: a SQLite file in a temporary folder, or a fresh
/// database on the suite's PostgreSQL cluster.
enum StoreBackend: String, CaseIterable, CustomTestStringConvertible, Sendable {
    case sqlite, postgres

    var testDescription: String { rawValue }

    /// A new, empty store of this kind; a PostgreSQL case is cancelled (skipped) when there is no cluster.
    func open() throws -> OpenStore {
        switch self {
        case .sqlite:
            let folder = NSTemporaryDirectory() + "baton-conformance-\(UUID().uuidString)"
            return OpenStore(store: try RunStore(path: folder + "/runs.sqlite"), folder: folder)
        case .postgres:
            guard let url = try PostgresTestDatabase.fresh() else { try Test.cancel(Comment(rawValue: PostgresTestDatabase.skipReason)) }
            return OpenStore(store: try RunStore(path: url), folder: nil)
        }
    }
}

/// A store opened for one test, with a way around it for the few checks that must change a row directly.
final class OpenStore: Sendable {
    let store: RunStore
    private let folder: String?

    init(store: RunStore, folder: String?) {
        self.store = store
        self.folder = folder
    }

    deinit {
        if let folder { try? FileManager.default.removeItem(atPath: folder) }
    }

    /// Runs one statement (written with `$1`-style parameters for both) outside the store's API.
    func execute(_ sql: String, _ values: [String]) throws {
        if let postgres = store.backend as? PostgresRunStore {
            try postgres.write { session in try session.execute(sql, values.map { .text($0) }) }
        } else if let path = store.path {
            var sqlite = sql
            for index in stride(from: values.count, through: 1, by: -1) {
                sqlite = sqlite.replacingOccurrences(of: "$\(index)", with: "?\(index)")
            }
            try DatabaseQueue(path: path).write { try $0.execute(sql: sqlite, arguments: StatementArguments(values)) }
        }
    }
}

/// Records the conformance cases share.
enum Conformance {
    static func run(_ id: String, created: Double = 100, status: RunStatus = .running, pipeline: String = "p", snapshot: String = "{}")
        -> RunRecord
    {
        RunRecord(
            id: id, pipeline: pipeline, pipelinePath: "/pipelines/\(pipeline).yaml", pipelineHash: "hash-\(id)", snapshot: snapshot,
            inputs: "{\"task\":\"t\"}", status: status, createdAt: created, updatedAt: created, priority: 3, labels: "gpu,big")
    }

    static func attempt(_ runID: String, _ stage: String, round: Int = 1, item: Int? = nil, model: String? = "m") -> AttemptRecord {
        var attempt = AttemptRecord(
            id: nil, runID: runID, stage: stage, round: round, tryNumber: 1, status: .running, model: model, runtime: "llama",
            system: "sys", prompt: "prompt of \(stage)", output: "", verdict: nil, feedback: nil, promptTokens: nil,
            outputTokens: nil, startedAt: 200, firstTokenAt: nil, finishedAt: nil, timings: nil, error: nil, fingerprint: "f-\(stage)")
        attempt.item = item
        return attempt
    }

    static func finished(_ attempt: AttemptRecord, output: String, tokens: Int = 10) -> AttemptRecord {
        var attempt = attempt
        attempt.status = .completed
        attempt.output = output
        attempt.promptTokens = tokens
        attempt.outputTokens = tokens * 2
        attempt.firstTokenAt = 201
        attempt.finishedAt = 203
        attempt.timings = "{\"prompt\":40,\"generation\":900}"
        attempt.finishReason = "complete"
        attempt.thinking = "hmm"
        return attempt
    }

    static func call(_ runID: String, _ stage: String, item: Int? = nil, turn: Int = 0, index: Int = 0) -> ToolCallRecord {
        ToolCallRecord(
            runID: runID, stage: stage, item: item, round: 1, turn: turn, callIndex: index, tool: stage, arguments: "{\"argv\":[\"x\"]}",
            idempotencyKey: "key-\(stage)-\(index)", effects: "external", status: .intent, startedAt: 300)
    }

    /// A run's events without their times (``RunStore/now()`` differs from one store to the other).
    static func timeless(_ events: [EventRecord]) -> [String] {
        events.map { "\($0.id ?? 0) \($0.kind.rawValue) \($0.stage ?? "-") \($0.attemptID.map(String.init) ?? "-") \($0.payload ?? "-")" }
    }
}
