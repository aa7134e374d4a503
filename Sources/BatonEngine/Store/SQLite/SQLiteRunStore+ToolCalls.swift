import Foundation
import GRDB

/// Tool calls (migration v6): each call's intent is committed on its own before the call starts, and its result
/// with the attempt's completion after, so that after a crash the store tells a call that finished (replay it) from
/// one that may have happened (its effects decide) and one that never started.
extension SQLiteRunStore {
    /// Commits a call's intent (status `intent`, no result) with its `tool-call-started` event, in its own
    /// transaction, before the call starts. A row read back from the store (`id` set) is started again in place, so a
    /// call re-run on resume keeps its one row and its key.
    public func recordToolIntent(_ call: ToolCallRecord, payload: String? = nil) throws(StoreError) -> ToolCallRecord {
        try write { db in
            var call = call
            call.status = .intent
            call.result = nil
            call.error = nil
            call.finishedAt = nil
            if call.id == nil { try call.insert(db) } else { try call.update(db) }
            var event = EventRecord(
                id: nil, runID: call.runID, at: call.startedAt, kind: .toolCallStarted, stage: call.stage, attemptID: nil,
                payload: payload)
            try event.insert(db)
            return call
        }
    }

    /// Commits how a call ended (`call.status`: done, failed, skipped or denied) and, when the call is a tool stage's
    /// own, how its attempt ended, with their events, in ONE transaction: a crash leaves both or neither.
    public func recordToolResult(
        _ call: ToolCallRecord, attempt: AttemptRecord?, attemptEvent: EventKind = .attemptCompleted,
        callEvent: EventKind = .toolCallFinished, payload: String? = nil
    ) throws(StoreError) {
        try write { db in
            var call = call
            if call.id == nil { try call.insert(db) } else { try call.update(db) }
            var event = EventRecord(
                id: nil, runID: call.runID, at: call.finishedAt ?? RunStore.now(), kind: callEvent, stage: call.stage,
                attemptID: attempt?.id, payload: payload)
            try event.insert(db)
            guard let attempt else { return }
            try db.execute(
                sql: """
                    UPDATE attempts SET status = ?, output = ?, finished_at = ?, error = ?, timings = ? WHERE id = ?
                    """,
                arguments: [attempt.status, attempt.output, attempt.finishedAt, attempt.error, attempt.timings, attempt.id])
            var finished = EventRecord(
                id: nil, runID: attempt.runID, at: attempt.finishedAt ?? RunStore.now(), kind: attemptEvent, stage: attempt.stage,
                attemptID: attempt.id, payload: nil)
            try finished.insert(db)
        }
    }

    /// The latest call recorded at one place: run, stage, fan-out item, round, turn and call index.
    public func toolCall(
        _ runID: String, stage: String, item: Int?, round: Int, turn: Int, callIndex: Int
    ) throws(StoreError) -> ToolCallRecord? {
        try read { db in
            try ToolCallRecord.filter(
                Column("run_id") == runID && Column("stage") == stage && Column("item") == item && Column("round") == round
                    && Column("turn") == turn && Column("call_index") == callIndex
            ).order(Column("id").desc).fetchOne(db)
        }
    }

    /// Every call of a run, in the order they started.
    public func toolCalls(_ runID: String) throws(StoreError) -> [ToolCallRecord] {
        try read { db in try ToolCallRecord.filter(Column("run_id") == runID).order(Column("id")).fetchAll(db) }
    }

    /// Records that the user chose `--skip-call` for an unfinished call: the call is `skipped` with an empty result,
    /// and `attempt` (the stage's attempt, when the call is a tool stage's own) is completed with an empty output, in
    /// one transaction.
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

// MARK: - Tool-loop turns

extension SQLiteRunStore {
    private static func place(runID: String, stage: String, round: Int, item: Int?) -> SQLExpression {
        Column("run_id") == runID && Column("stage") == stage && Column("round") == round && Column("item") == item
    }

    /// The running attempt of a try whose tool loop has not recorded calls on it yet, the newest.
    public func runningToolAttempt(runID: String, stage: String, round: Int, item: Int?) throws(StoreError) -> AttemptRecord? {
        try read { db in
            try AttemptRecord.filter(
                Self.place(runID: runID, stage: stage, round: round, item: item) && Column("status") == AttemptStatus.running
                    && Column("calls") == nil
            )
            .order(Column("id").desc).fetchOne(db)
        }
    }

    /// The completed attempts of a try that carry tool calls (its answered turns), oldest first.
    public func completedToolTurns(runID: String, stage: String, round: Int, item: Int?) throws(StoreError) -> [AttemptRecord] {
        try read { db in
            try AttemptRecord.filter(
                Self.place(runID: runID, stage: stage, round: round, item: item) && Column("status") == AttemptStatus.completed
                    && Column("calls") != nil
            )
            .order(Column("id")).fetchAll(db)
        }
    }

    /// Inserts an attempt as it is (a tool-loop turn); returns it with its id.
    public func insertAttempt(_ attempt: AttemptRecord) throws(StoreError) -> AttemptRecord {
        try write { db in
            var row = attempt
            try row.insert(db)
            return row
        }
    }

    /// Sets what each call of a turn returned (JSON).
    public func setAttemptCalls(_ attemptID: Int64, calls: String) throws(StoreError) {
        try write { db in try db.execute(sql: "UPDATE attempts SET calls = ? WHERE id = ?", arguments: [calls, attemptID]) }
    }

    /// Marks an attempt as its tool loop's turn `turn`.
    public func setAttemptTurn(_ attemptID: Int64, turn: Int) throws(StoreError) {
        try write { db in try db.execute(sql: "UPDATE attempts SET turn = ? WHERE id = ?", arguments: [turn, attemptID]) }
    }
}
