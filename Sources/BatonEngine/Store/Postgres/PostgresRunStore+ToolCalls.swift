import Foundation
import PostgresNIO

/// Tool calls: each call's intent is committed on its own before the call starts, and its result with the attempt's
/// completion after (``SQLiteRunStore``'s tool calls, the same rows and events).
extension PostgresRunStore {
    static let toolCallColumns = """
        run_id, stage, item, round, turn, call_index, tool, arguments, idempotency_key, effects, status, result, error,
        exit_code, http_status, stderr, started_at, finished_at
        """

    static func toolCallBinds(_ call: ToolCallRecord) -> [PostgresValue] {
        [
            .text(call.runID), .text(call.stage), .integer(call.item), .integer(call.round), .integer(call.turn),
            .integer(call.callIndex), .text(call.tool), .text(call.arguments), .text(call.idempotencyKey), .text(call.effects),
            .text(call.status.rawValue), .text(call.result), .text(call.error), .integer(call.exitCode), .integer(call.httpStatus),
            .text(call.stderr), .real(call.startedAt), .real(call.finishedAt),
        ]
    }

    static func toolCall(_ row: PostgresRow) throws -> ToolCallRecord {
        let row = row.makeRandomAccess()
        let status = try row.value("status", as: String.self)
        var call = ToolCallRecord(
            id: try row.value("id"), runID: try row.value("run_id"), stage: try row.value("stage"), item: try row.value("item"),
            round: try row.value("round"), turn: try row.value("turn"), callIndex: try row.value("call_index"),
            tool: try row.value("tool"), arguments: try row.value("arguments"), idempotencyKey: try row.value("idempotency_key"),
            effects: try row.value("effects"), status: ToolCallStatus(rawValue: status) ?? .failed, result: try row.value("result"),
            error: try row.value("error"), startedAt: try row.value("started_at"), finishedAt: try row.value("finished_at"))
        call.exitCode = try row.value("exit_code")
        call.httpStatus = try row.value("http_status")
        call.stderr = try row.value("stderr")
        return call
    }

    /// Inserts `call`, or rewrites its row when it has an id; returns its id.
    static func saveToolCall(_ session: PostgresSession, _ call: ToolCallRecord) throws -> Int64 {
        if let id = call.id {
            let names = toolCallColumns.split(separator: ",").map { $0.trimmingCharacters(in: .whitespacesAndNewlines) }
            let assignments = names.enumerated().map { "\($1) = $\($0 + 1)" }.joined(separator: ", ")
            try session.execute(
                "UPDATE tool_calls SET \(assignments) WHERE id = $\(names.count + 1)", toolCallBinds(call) + [.integer(id)])
            return id
        }
        let rows = try session.query(
            "INSERT INTO tool_calls (\(toolCallColumns)) VALUES (\(placeholders(18))) RETURNING id", toolCallBinds(call))
        return try rows[0].decode(Int64.self)
    }

    /// Commits a call's intent (status `intent`, no result) with its `tool-call-started` event, in its own
    /// transaction, before the call starts. A row read back from the store (`id` set) is started again in place.
    public func recordToolIntent(_ call: ToolCallRecord, payload: String? = nil) throws(StoreError) -> ToolCallRecord {
        try write { session in
            var call = call
            call.status = .intent
            call.result = nil
            call.error = nil
            call.finishedAt = nil
            call.id = try Self.saveToolCall(session, call)
            try Self.insertEvent(
                session, runID: call.runID, at: call.startedAt, kind: .toolCallStarted, stage: call.stage, attemptID: nil, payload: payload)
            return call
        }
    }

    /// Commits how a call ended and, when the call is a tool stage's own, how its attempt ended, with their events, in
    /// ONE transaction: a crash leaves both or neither.
    public func recordToolResult(
        _ call: ToolCallRecord, attempt: AttemptRecord?, attemptEvent: EventKind = .attemptCompleted,
        callEvent: EventKind = .toolCallFinished, payload: String? = nil
    ) throws(StoreError) {
        try write { session in
            _ = try Self.saveToolCall(session, call)
            try Self.insertEvent(
                session, runID: call.runID, at: call.finishedAt ?? RunStore.now(), kind: callEvent, stage: call.stage,
                attemptID: attempt?.id, payload: payload)
            guard let attempt else { return }
            try session.execute(
                "UPDATE attempts SET status = $1, output = $2, finished_at = $3, error = $4, timings = $5 WHERE id = $6",
                [
                    .text(attempt.status.rawValue), .text(attempt.output), .real(attempt.finishedAt), .text(attempt.error),
                    .text(attempt.timings), .integer(attempt.id),
                ])
            try Self.insertEvent(
                session, runID: attempt.runID, at: attempt.finishedAt ?? RunStore.now(), kind: attemptEvent, stage: attempt.stage,
                attemptID: attempt.id, payload: nil)
        }
    }

    /// The latest call recorded at one place: run, stage, fan-out item, round, turn and call index.
    public func toolCall(
        _ runID: String, stage: String, item: Int?, round: Int, turn: Int, callIndex: Int
    ) throws(StoreError) -> ToolCallRecord? {
        var binds: [PostgresValue] = [.text(runID), .text(stage), .integer(round), .integer(turn), .integer(callIndex)]
        let itemFilter = Self.matching("item", item, &binds)
        let sql = """
            SELECT * FROM tool_calls WHERE run_id = $1 AND stage = $2 AND round = $3 AND turn = $4 AND call_index = $5
            AND \(itemFilter) ORDER BY id DESC LIMIT 1
            """
        return try read { session in try session.query(sql, binds).first.map(Self.toolCall) }
    }

    /// Every call of a run, in the order they started.
    public func toolCalls(_ runID: String) throws(StoreError) -> [ToolCallRecord] {
        try read { session in try session.query("SELECT * FROM tool_calls WHERE run_id = $1 ORDER BY id", [.text(runID)]).map(Self.toolCall)
        }
    }

    /// Records that the user chose `--skip-call` for an unfinished call: the call is `skipped` with an empty result,
    /// and `attempt` is completed with an empty output, in one transaction.
    public func markToolCallSkipped(_ call: ToolCallRecord, attempt: AttemptRecord?, payload: String? = nil) throws(StoreError) {
        var call = call
        call.status = .skipped
        call.result = ""
        call.error = "skipped with --skip-call: its result was never recorded"
        call.finishedAt = RunStore.now()
        var attempt = attempt
        attempt?.status = .completed
        attempt?.output = ""
        attempt?.finishedAt = call.finishedAt
        try recordToolResult(call, attempt: attempt, callEvent: .toolCallFinished, payload: payload)
    }
}
