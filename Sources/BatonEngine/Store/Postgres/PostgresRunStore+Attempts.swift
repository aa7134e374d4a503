import Foundation
import PostgresNIO

extension PostgresRunStore {
    /// Records that an attempt started, with its `attempt-started` event, in one statement; returns it with its id.
    public func startAttempt(_ attempt: AttemptRecord) throws(StoreError) -> AttemptRecord {
        let item = attempt.item.map { ",\"item\":\($0)" } ?? ""
        let payload = "{\"round\":\(attempt.round),\"try\":\(attempt.tryNumber)\(item)}"
        return try write { session in
            // The hottest statement of a run: the attempt and its event in one round trip.
            let rows = try session.query(
                """
                WITH a AS (INSERT INTO attempts (\(Self.attemptColumns)) VALUES (\(Self.placeholders(25))) RETURNING id)
                INSERT INTO events (run_id, at, kind, stage, attempt_id, payload)
                SELECT $1, $15, $26, $2, a.id, $27 FROM a RETURNING attempt_id
                """, Self.attemptBinds(attempt) + [.text(EventKind.attemptStarted.rawValue), .text(payload)])
            var attempt = attempt
            attempt.id = try rows[0].decode(Int64.self)
            killSwitch?.hit(.attemptStartCommit)
            return attempt
        }
    }

    /// Records a skipped stage: its `skipped` attempt and its `stage-skipped` event (`payload`), in one transaction.
    public func recordSkip(_ attempt: AttemptRecord, payload: String) throws(StoreError) -> AttemptRecord {
        try write { session in
            var attempt = attempt
            attempt.id = try Self.insertAttempt(session, attempt)
            try Self.insertEvent(
                session, runID: attempt.runID, at: attempt.startedAt, kind: .stageSkipped, stage: attempt.stage, attemptID: attempt.id,
                payload: payload)
            return attempt
        }
    }

    /// Records how an attempt ended (the whole record is rewritten), with an event of `kind`, in one statement.
    ///
    /// `deferred` is ignored: it saves SQLite an fsync per stage by writing the end with the next transaction; on
    /// PostgreSQL the end is written at once, which is what a deferred end becomes at the latest anyway.
    public func finishAttempt(
        _ attempt: AttemptRecord, event kind: EventKind, payload: String? = nil, deferred: Bool = false
    ) throws(StoreError) {
        try write { session in
            try session.execute(
                """
                WITH u AS (
                  UPDATE attempts SET status = $1, output = $2, verdict = $3, feedback = $4, prompt_tokens = $5,
                  output_tokens = $6, first_token_at = $7, finished_at = $8, timings = $9, error = $10, finish_reason = $11,
                  thinking = $12 WHERE id = $13)
                INSERT INTO events (run_id, at, kind, stage, attempt_id, payload) VALUES ($14, $15, $16, $17, $13, $18)
                """,
                [
                    .text(attempt.status.rawValue), .text(attempt.output), .text(attempt.verdict), .text(attempt.feedback),
                    .integer(attempt.promptTokens), .integer(attempt.outputTokens), .real(attempt.firstTokenAt),
                    .real(attempt.finishedAt), .text(attempt.timings), .text(attempt.error), .text(attempt.finishReason),
                    .text(attempt.thinking), .integer(attempt.id), .text(attempt.runID),
                    .real(attempt.finishedAt ?? RunStore.now()), .text(kind.rawValue), .text(attempt.stage), .text(payload),
                ])
            killSwitch?.hit(.attemptFinishCommit)
        }
    }

    /// Nothing waits on PostgreSQL (``finishAttempt(_:event:payload:deferred:)`` writes at once).
    public func commitPending() throws(StoreError) {}

    /// Saves the output received so far of an attempt in flight and, when given, its `output-chunk` event, in one
    /// statement.
    public func saveProgress(
        _ attemptID: Int64, output: String, firstTokenAt: Double?, thinking: String? = nil, chunk: RunStore.OutputChunk? = nil
    ) throws(StoreError) {
        let now = RunStore.now()
        try write { session in
            let update = "UPDATE attempts SET output = $1, first_token_at = $2, thinking = $3 WHERE id = $4"
            let binds: [PostgresValue] = [.text(output), .real(firstTokenAt), .text(thinking), .integer(attemptID)]
            if let chunk {
                try session.execute(
                    """
                    WITH u AS (\(update))
                    INSERT INTO events (run_id, at, kind, stage, attempt_id, payload) VALUES ($5, $6, $7, $8, $4, $9)
                    """,
                    binds + [
                        .text(chunk.runID), .real(now), .text(EventKind.outputChunk.rawValue), .text(chunk.stage), .text(chunk.payload),
                    ])
            } else {
                try session.execute(update, binds)
            }
            killSwitch?.hit(.progressCommit)
        }
    }

    /// Every attempt of a run without the rendered system message and prompt; `output` is kept only for `outputsOf`
    /// stages, or for every stage when nil.
    public func attemptsWithoutPrompts(_ runID: String, outputsOf stages: Set<String>? = nil) throws(StoreError) -> [AttemptRecord] {
        var binds: [PostgresValue] = [.text(runID)]
        var output = "output"
        if let stages {
            let sorted = stages.sorted()
            output =
                sorted.isEmpty
                ? "''" : "CASE WHEN stage IN (\(Self.placeholders(sorted.count, from: 2))) THEN output ELSE '' END"
            binds += sorted.map { .text($0) }
        }
        let sql = """
            SELECT id, run_id, stage, round, try, status, model, runtime, NULL::text AS system, '' AS prompt, \(output) AS output,
            verdict, feedback, prompt_tokens, output_tokens, started_at, first_token_at, finished_at, timings, error, fingerprint,
            NULL::text AS finish_reason, NULL::text AS thinking, item, turn, calls
            FROM attempts WHERE run_id = $1 ORDER BY id
            """
        return try read { session in try session.query(sql, binds).map(Self.attempt) }
    }

    /// Every attempt of a run, in the order they started.
    public func attempts(_ runID: String) throws(StoreError) -> [AttemptRecord] {
        try read { session in try session.query("SELECT * FROM attempts WHERE run_id = $1 ORDER BY id", [.text(runID)]).map(Self.attempt) }
    }

    /// Marks attempts left `running` by a process that died as `aborted`, keeping their partial output; returns them
    /// as they were.
    @discardableResult
    public func abortInFlightAttempts(_ runID: String) throws(StoreError) -> [AttemptRecord] {
        let now = RunStore.now()
        return try write { session in
            let running = try session.query(
                "SELECT * FROM attempts WHERE run_id = $1 AND status = $2 ORDER BY id FOR UPDATE",
                [.text(runID), .text(AttemptStatus.running.rawValue)]
            ).map(Self.attempt)
            for attempt in running {
                try session.execute(
                    "UPDATE attempts SET status = $1, error = $2 WHERE id = $3",
                    [
                        .text(AttemptStatus.aborted.rawValue), .text("the process running this attempt stopped before it finished"),
                        .integer(attempt.id),
                    ])
                try Self.insertEvent(
                    session, runID: runID, at: now, kind: .attemptAborted, stage: attempt.stage, attemptID: attempt.id, payload: nil)
            }
            return running
        }
    }

    // MARK: - Tool-loop turns

    /// The running attempt of a try whose tool loop has not recorded calls on it yet, the newest.
    public func runningToolAttempt(runID: String, stage: String, round: Int, item: Int?) throws(StoreError) -> AttemptRecord? {
        try toolTurns(runID: runID, stage: stage, round: round, item: item, status: .running, withCalls: false, newestFirst: true).first
    }

    /// The completed attempts of a try that carry tool calls (its answered turns), oldest first.
    public func completedToolTurns(runID: String, stage: String, round: Int, item: Int?) throws(StoreError) -> [AttemptRecord] {
        try toolTurns(runID: runID, stage: stage, round: round, item: item, status: .completed, withCalls: true, newestFirst: false)
    }

    private func toolTurns(
        runID: String, stage: String, round: Int, item: Int?, status: AttemptStatus, withCalls: Bool, newestFirst: Bool
    ) throws(StoreError) -> [AttemptRecord] {
        var binds: [PostgresValue] = [.text(runID), .text(stage), .integer(round), .text(status.rawValue)]
        let itemFilter = Self.matching("item", item, &binds)
        let sql = """
            SELECT * FROM attempts WHERE run_id = $1 AND stage = $2 AND round = $3 AND status = $4 AND \(itemFilter)
            AND calls IS \(withCalls ? "NOT NULL" : "NULL") ORDER BY id \(newestFirst ? "DESC LIMIT 1" : "")
            """
        return try read { session in try session.query(sql, binds).map(Self.attempt) }
    }

    /// Inserts an attempt as it is (a tool-loop turn); returns it with its id.
    public func insertAttempt(_ attempt: AttemptRecord) throws(StoreError) -> AttemptRecord {
        try write { session in
            var row = attempt
            row.id = try Self.insertAttempt(session, attempt)
            return row
        }
    }

    /// Sets what each call of a turn returned (JSON).
    public func setAttemptCalls(_ attemptID: Int64, calls: String) throws(StoreError) {
        try write { session in try session.execute("UPDATE attempts SET calls = $1 WHERE id = $2", [.text(calls), .integer(attemptID)]) }
    }

    /// Marks an attempt as its tool loop's turn `turn`.
    public func setAttemptTurn(_ attemptID: Int64, turn: Int) throws(StoreError) {
        try write { session in try session.execute("UPDATE attempts SET turn = $1 WHERE id = $2", [.integer(turn), .integer(attemptID)]) }
    }
}
