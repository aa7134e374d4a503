import Foundation
import PostgresNIO

/// Rows read by column name into Baton's records, and the inserts every area shares.
extension PostgresRandomAccessRow {
    /// The value of column `name`.
    func value<T: PostgresDecodable>(_ name: String, as type: T.Type = T.self) throws -> T {
        try self[name].decode(T.self)
    }
}

extension PostgresRunStore {
    /// The columns of `attempts` in the order ``attempt(_:)`` and ``attemptBinds(_:)`` use, without `id`.
    static let attemptColumns = """
        run_id, stage, round, try, status, model, runtime, system, prompt, output, verdict, feedback, prompt_tokens,
        output_tokens, started_at, first_token_at, finished_at, timings, error, fingerprint, finish_reason, thinking, item,
        turn, calls
        """

    /// `$first, $first+1, ...` for `count` parameters.
    static func placeholders(_ count: Int, from first: Int = 1) -> String {
        (first..<(first + count)).map { "$\($0)" }.joined(separator: ", ")
    }

    /// The values of ``attemptColumns`` for `attempt`.
    static func attemptBinds(_ attempt: AttemptRecord) -> [PostgresValue] {
        [
            .text(attempt.runID), .text(attempt.stage), .integer(attempt.round), .integer(attempt.tryNumber),
            .text(attempt.status.rawValue), .text(attempt.model), .text(attempt.runtime), .text(attempt.system),
            .text(attempt.prompt), .text(attempt.output), .text(attempt.verdict), .text(attempt.feedback),
            .integer(attempt.promptTokens), .integer(attempt.outputTokens), .real(attempt.startedAt),
            .real(attempt.firstTokenAt), .real(attempt.finishedAt), .text(attempt.timings), .text(attempt.error),
            .text(attempt.fingerprint), .text(attempt.finishReason), .text(attempt.thinking), .integer(attempt.item),
            .integer(attempt.turn), .text(attempt.calls),
        ]
    }

    static func run(_ row: PostgresRow) throws -> RunRecord {
        let row = row.makeRandomAccess()
        var run = RunRecord(
            id: try row.value("id"), pipeline: try row.value("pipeline"), pipelinePath: try row.value("pipeline_path"),
            pipelineHash: try row.value("pipeline_hash"), snapshot: try row.value("snapshot"), inputs: try row.value("inputs"),
            status: RunStatus(rawValue: try row.value("status", as: String.self)), error: try row.value("error"),
            parentRunID: try row.value("parent_run_id"), rerunFrom: try row.value("rerun_from"),
            createdAt: try row.value("created_at"), updatedAt: try row.value("updated_at"),
            finishedAt: try row.value("finished_at"), leaseToken: try row.value("lease_token"),
            leasePid: try row.value("lease_pid"), leaseHost: try row.value("lease_host"),
            leaseHeartbeat: try row.value("lease_heartbeat"), priority: try row.value("priority"), labels: try row.value("labels"))
        run.engineVersion = try row.value("engine_version")
        run.leaseOwner = try row.value("lease_owner")
        run.leaseEpoch = try row.value("lease_epoch")
        run.leaseUntil = try row.value("lease_until")
        run.recoveryAttempts = try row.value("recovery_attempts")
        return run
    }

    static func attempt(_ row: PostgresRow) throws -> AttemptRecord {
        let row = row.makeRandomAccess()
        return AttemptRecord(
            id: try row.value("id"), runID: try row.value("run_id"), stage: try row.value("stage"), round: try row.value("round"),
            tryNumber: try row.value("try"), status: AttemptStatus(rawValue: try row.value("status", as: String.self)),
            model: try row.value("model"), runtime: try row.value("runtime"), system: try row.value("system"),
            prompt: try row.value("prompt"), output: try row.value("output"), verdict: try row.value("verdict"),
            feedback: try row.value("feedback"), promptTokens: try row.value("prompt_tokens"),
            outputTokens: try row.value("output_tokens"), startedAt: try row.value("started_at"),
            firstTokenAt: try row.value("first_token_at"), finishedAt: try row.value("finished_at"),
            timings: try row.value("timings"), error: try row.value("error"), fingerprint: try row.value("fingerprint"),
            finishReason: try row.value("finish_reason"), thinking: try row.value("thinking"), item: try row.value("item"),
            turn: try row.value("turn"), calls: try row.value("calls"))
    }

    static func event(_ row: PostgresRow) throws -> EventRecord {
        let row = row.makeRandomAccess()
        return EventRecord(
            id: try row.value("id"), runID: try row.value("run_id"), at: try row.value("at"),
            kind: EventKind(rawValue: try row.value("kind", as: String.self)), stage: try row.value("stage"),
            attemptID: try row.value("attempt_id"), payload: try row.value("payload"))
    }

    /// Inserts an attempt as it is; returns its id.
    static func insertAttempt(_ session: PostgresSession, _ attempt: AttemptRecord) throws -> Int64 {
        let rows = try session.query(
            "INSERT INTO attempts (\(attemptColumns)) VALUES (\(placeholders(25))) RETURNING id", attemptBinds(attempt))
        return try rows[0].decode(Int64.self)
    }

    /// Appends an event; returns its id.
    @discardableResult
    static func insertEvent(
        _ session: PostgresSession, runID: String, at: Double, kind: EventKind, stage: String?, attemptID: Int64?, payload: String?
    ) throws -> Int64 {
        let rows = try session.query(
            "INSERT INTO events (run_id, at, kind, stage, attempt_id, payload) VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
            [.text(runID), .real(at), .text(kind.rawValue), .text(stage), .integer(attemptID), .text(payload)])
        return try rows[0].decode(Int64.self)
    }

    /// `item IS NULL` or `item = $n` (with `item` appended to `binds`): SQLite's `item = ?` with nil, which the
    /// index can still serve.
    static func matching(_ column: String, _ value: Int?, _ binds: inout [PostgresValue]) -> String {
        guard let value else { return "\(column) IS NULL" }
        binds.append(.integer(value))
        return "\(column) = $\(binds.count)"
    }
}
