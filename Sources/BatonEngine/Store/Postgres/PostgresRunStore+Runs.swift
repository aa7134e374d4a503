import Foundation
import PostgresNIO

extension PostgresRunStore {
    /// The columns of `runs` an insert writes, in the order of ``runBinds(_:)``.
    static let runColumns = """
        id, pipeline, pipeline_path, pipeline_hash, snapshot, inputs, status, error, parent_run_id, rerun_from, created_at,
        updated_at, finished_at, lease_token, lease_pid, lease_host, lease_heartbeat, priority, engine_version, labels,
        lease_owner, lease_epoch, lease_until, recovery_attempts
        """

    /// Runs with their snapshots (`r`: runs, `s`: run_snapshots), every column by its name.
    static let runSelect =
        "SELECT "
        + runColumns.split(separator: ",").map { $0.trimmingCharacters(in: .whitespacesAndNewlines) }.map {
            $0 == "snapshot" ? "COALESCE(s.snapshot, r.snapshot) AS snapshot" : "r.\($0)"
        }.joined(separator: ", ") + " FROM runs r LEFT JOIN run_snapshots s ON s.run_id = r.id"

    static func runBinds(_ run: RunRecord) -> [PostgresValue] {
        [
            .text(run.id), .text(run.pipeline), .text(run.pipelinePath), .text(run.pipelineHash), .text(run.snapshot),
            .text(run.inputs), .text(run.status.rawValue), .text(run.error), .text(run.parentRunID), .text(run.rerunFrom),
            .real(run.createdAt), .real(run.updatedAt), .real(run.finishedAt), .text(run.leaseToken), .integer(run.leasePid),
            .text(run.leaseHost), .real(run.leaseHeartbeat), .integer(run.priority), .integer(run.engineVersion),
            .text(run.labels), .text(run.leaseOwner), .integer(run.leaseEpoch), .real(run.leaseUntil),
            .integer(run.recoveryAttempts),
        ]
    }

    /// Records a new run; with `reusing`, also copies the completed attempts of those stages of the parent run, in the
    /// same transaction. With `freshID`, a taken id is replaced by the first free one drawn: the insert skips a taken
    /// id (`ON CONFLICT DO NOTHING` waits for a concurrent insert of the same id), so two processes never share one.
    @discardableResult
    public func createRun(
        _ run: RunRecord, reusing parent: (runID: String, stages: Set<String>)? = nil, freshID: (() -> String)? = nil
    ) throws(StoreError) -> String {
        try write { session in
            var row = run
            // The snapshot lives in run_snapshots, as on SQLite (whose v3 moved it for the row's sake).
            row.snapshot = ""
            var draws = 0
            while true {
                let conflict = freshID != nil && draws < 1000 ? " ON CONFLICT (id) DO NOTHING" : ""
                let inserted = try session.execute(
                    "INSERT INTO runs (\(Self.runColumns)) VALUES (\(Self.placeholders(24)))\(conflict)", Self.runBinds(row))
                if inserted == 1 { break }
                row.id = freshID?() ?? row.id
                draws += 1
            }
            try session.execute("INSERT INTO run_snapshots (run_id, snapshot) VALUES ($1, $2)", [.text(row.id), .text(run.snapshot)])
            try Self.insertEvent(session, runID: row.id, at: run.createdAt, kind: .runCreated, stage: nil, attemptID: nil, payload: nil)
            if let parent { try Self.copyCompletedAttempts(session, from: parent.runID, to: row.id, stages: parent.stages) }
            return row.id
        }
    }

    /// The run `id`. - Throws: ``StoreError`` `.runNotFound` when there is none.
    public func run(_ id: String) throws(StoreError) -> RunRecord {
        let found = try read { session in
            try session.query(
                "\(Self.runSelect) WHERE r.id = $1",
                [.text(id)]
            ).first.map(Self.run)
        }
        guard let found else {
            let known =
                (try? read { session in
                    try session.query("SELECT id FROM runs ORDER BY created_at DESC LIMIT 200").map { try $0.decode(String.self) }
                }) ?? []
            let close = known.first { $0.hasPrefix(id) }
            throw StoreError(
                .runNotFound,
                "no run '\(id)' in '\(postgres.redacted)'" + (close.map { "; did you mean '\($0)'?" } ?? "; 'baton runs' lists the runs"))
        }
        return found
    }

    /// Runs, newest first, optionally filtered by status and pipeline.
    public func runs(status: RunStatus? = nil, pipeline: String? = nil, limit: Int = 1000) throws(StoreError) -> [RunRecord] {
        var filters: [String] = []
        var binds: [PostgresValue] = []
        if let status {
            binds.append(.text(status.rawValue))
            filters.append("r.status = $\(binds.count)")
        }
        if let pipeline {
            binds.append(.text(pipeline))
            filters.append("r.pipeline = $\(binds.count)")
        }
        binds.append(.integer(Int64(max(0, limit))))
        let sql = """
            \(Self.runSelect)
            \(filters.isEmpty ? "" : "WHERE " + filters.joined(separator: " AND ")) ORDER BY r.created_at DESC, r.id DESC LIMIT $\(binds.count)
            """
        return try read { session in try session.query(sql, binds).map(Self.run) }
    }

    /// Sets a run's status (and error), with an event of `kind`.
    public func setStatus(
        _ runID: String, _ status: RunStatus, error: String? = nil, event kind: EventKind, payload: String? = nil
    ) throws(StoreError) {
        let now = RunStore.now()
        try write { session in
            try session.execute(
                "UPDATE runs SET status = $1, error = $2, updated_at = $3, finished_at = $4 WHERE id = $5",
                [.text(status.rawValue), .text(error), .real(now), .real(status.isFinished ? now : nil), .text(runID)])
            try Self.insertEvent(session, runID: runID, at: now, kind: kind, stage: nil, attemptID: nil, payload: payload)
            killSwitch?.hit(.statusCommit)
        }
    }

    /// Replaces a run's pinned snapshot and marks the attempts of `changedStages` superseded, in one transaction.
    public func replaceSnapshot(
        _ runID: String, snapshot: String, pipelineHash: String, supersede changedStages: [String]
    ) throws(StoreError) {
        let now = RunStore.now()
        let payload = String(decoding: (try? JSONEncoder().encode(["superseded": changedStages])) ?? Data("{}".utf8), as: UTF8.self)
        try write { session in
            try session.execute(
                "UPDATE runs SET pipeline_hash = $1, updated_at = $2 WHERE id = $3", [.text(pipelineHash), .real(now), .text(runID)])
            try session.execute(
                """
                INSERT INTO run_snapshots (run_id, snapshot) VALUES ($1, $2)
                ON CONFLICT (run_id) DO UPDATE SET snapshot = EXCLUDED.snapshot
                """, [.text(runID), .text(snapshot)])
            for stage in changedStages {
                try session.execute(
                    "UPDATE attempts SET status = $1 WHERE run_id = $2 AND stage = $3 AND status != $1",
                    [.text(AttemptStatus.superseded.rawValue), .text(runID), .text(stage)])
            }
            try Self.insertEvent(session, runID: runID, at: now, kind: .snapshotReplaced, stage: nil, attemptID: nil, payload: payload)
        }
    }

    /// Copies completed and skipped attempts of `stages` from one run to another (`baton rerun`), in the order they
    /// ran, with the events that pinned a skip, a route or a fan-out's items, so the rerun keeps the decisions.
    static func copyCompletedAttempts(_ session: PostgresSession, from source: String, to target: String, stages: Set<String>) throws {
        guard !stages.isEmpty else { return }
        let stages = stages.sorted()
        let list = placeholders(stages.count, from: 3)
        let columns = attemptColumns.replacingOccurrences(of: "run_id, ", with: "")
        try session.execute(
            """
            INSERT INTO attempts (run_id, \(columns)) SELECT $1, \(columns) FROM attempts
            WHERE run_id = $2 AND status IN ('completed', 'skipped') AND stage IN (\(list)) ORDER BY id
            """, [.text(target), .text(source)] + stages.map { .text($0) })
        let kinds = [EventKind.stageSkipped, .routeChosen, .itemsExpanded].map { PostgresValue.text($0.rawValue) }
        try session.execute(
            """
            INSERT INTO events (run_id, at, kind, stage, attempt_id, payload) SELECT $1, at, kind, stage, NULL, payload FROM events
            WHERE run_id = $2 AND kind IN ($3, $4, $5) AND stage IN (\(placeholders(stages.count, from: 6))) ORDER BY id
            """, [.text(target), .text(source)] + kinds + stages.map { .text($0) })
    }
}
