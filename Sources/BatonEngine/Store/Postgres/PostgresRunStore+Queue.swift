import Foundation
import PostgresNIO

/// The queue on PostgreSQL: a claim takes the first fitting queued run `FOR UPDATE SKIP LOCKED`, so concurrent claims
/// on any number of machines each get a different run without waiting on one another; a submit notifies `baton_runs`
/// in its transaction, so waiting workers wake when it commits.
extension PostgresRunStore {
    /// The advisory lock one rescuer sweep holds for its transaction (others skip their sweep).
    static let rescuerLock: Int64 = 4_242_424_217
    /// What the lease columns become when a run leaves its worker.
    private static let leaseCleared = """
        lease_owner = NULL, lease_epoch = lease_epoch + 1, lease_until = NULL, lease_token = NULL, lease_pid = NULL,
        lease_host = NULL, lease_heartbeat = NULL
        """

    public func submitRun(_ run: RunRecord, freshID: (() -> String)?) throws(StoreError) -> String {
        try write { session in
            var row = run
            row.status = .queued
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
            try Self.insertEvent(
                session, runID: row.id, at: run.createdAt, kind: .runSubmitted, stage: nil, attemptID: nil,
                payload: QueueText.submitted(row))
            try session.execute("SELECT pg_notify('baton_runs', $1)", [.text(row.id)])
            return row.id
        }
    }

    public func registerWorker(_ worker: WorkerRecord) throws(StoreError) {
        try write { session in try Self.upsert(worker, session) }
    }

    private static func upsert(_ worker: WorkerRecord, _ session: PostgresSession) throws {
        try session.execute(
            """
            INSERT INTO workers (id, host, pid, labels, concurrency, engine_level, lease_seconds, started_at, heartbeat_at)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
            ON CONFLICT (id) DO UPDATE SET host = excluded.host, pid = excluded.pid, labels = excluded.labels,
                concurrency = excluded.concurrency, engine_level = excluded.engine_level,
                lease_seconds = excluded.lease_seconds, started_at = excluded.started_at, heartbeat_at = excluded.heartbeat_at
            """,
            [
                .text(worker.id), .text(worker.host), .integer(worker.pid), .text(QueueLabels.column(worker.labels)),
                .integer(worker.concurrency), .integer(worker.engineLevel), .real(worker.leaseSeconds), .real(worker.startedAt),
                .real(worker.heartbeatAt),
            ])
    }

    public func workerHeartbeat(_ worker: WorkerRecord, at now: Double) throws(StoreError) -> [HeldRun] {
        try write { session in
            var worker = worker
            worker.heartbeatAt = now
            try Self.upsert(worker, session)
            return try session.query(
                "UPDATE runs SET lease_until = $1 WHERE lease_owner = $2 AND status = 'running' RETURNING id, lease_epoch",
                [.real(now + worker.leaseSeconds), .text(worker.id)]
            ).map { row in
                let (id, epoch) = try row.decode((String, Int64).self)
                return HeldRun(runID: id, epoch: epoch)
            }.sorted { $0.runID < $1.runID }
        }
    }

    public func deregisterWorker(_ workerID: String) throws(StoreError) {
        try write { session in try session.execute("DELETE FROM workers WHERE id = $1", [.text(workerID)]) }
    }

    public func workers() throws(StoreError) -> [WorkerRecord] {
        try read { session in
            try session.query(
                """
                SELECT id, host, pid, labels, concurrency, engine_level, lease_seconds, started_at, heartbeat_at
                FROM workers ORDER BY id
                """
            ).map { row in
                let (id, host, pid, labels, concurrency, level, lease, started, beat) = try row.decode(
                    (String, String, Int, String?, Int, Int, Double, Double, Double).self)
                return WorkerRecord(
                    id: id, host: host, pid: pid, labels: QueueLabels.parse(labels), concurrency: concurrency, engineLevel: level,
                    leaseSeconds: lease, startedAt: started, heartbeatAt: beat)
            }
        }
    }

    public func heldRuns() throws(StoreError) -> [String: [HeldRun]] {
        try read { session in
            var held: [String: [HeldRun]] = [:]
            let rows = try session.query(
                "SELECT id, lease_owner, lease_epoch FROM runs WHERE lease_owner IS NOT NULL AND status = 'running' ORDER BY id")
            for row in rows {
                let (id, owner, epoch) = try row.decode((String, String, Int64).self)
                held[owner, default: []].append(HeldRun(runID: id, epoch: epoch))
            }
            return held
        }
    }

    public func claimRun(for worker: WorkerRecord, at now: Double) throws(StoreError) -> QueueClaim? {
        try write { session in
            // Labels: every label the run asks for is among the worker's (an empty array is contained in any).
            let found = try session.query(
                """
                SELECT id FROM runs WHERE status = 'queued' AND engine_version <= $1
                AND (labels IS NULL OR string_to_array(labels, ',') <@ string_to_array($2, ','))
                ORDER BY priority DESC, created_at, id LIMIT 1 FOR UPDATE SKIP LOCKED
                """,
                [.integer(worker.engineLevel), .text(worker.labels.joined(separator: ","))])
            guard let runID = try found.first?.decode(String.self) else { return nil }
            let epoch = try session.query(
                """
                UPDATE runs SET status = 'running', lease_owner = $1, lease_epoch = lease_epoch + 1, lease_until = $2,
                updated_at = $3, lease_token = NULL, lease_pid = NULL, lease_host = NULL, lease_heartbeat = NULL
                WHERE id = $4 RETURNING lease_epoch
                """,
                [.text(worker.id), .real(now + worker.leaseSeconds), .real(now), .text(runID)]
            )[0].decode(Int64.self)
            try Self.insertEvent(
                session, runID: runID, at: now, kind: .runClaimed, stage: nil, attemptID: nil,
                payload: QueueText.claimed(worker, epoch: epoch))
            return QueueClaim(runID: runID, epoch: epoch)
        }
    }

    public func requeueRun(_ fence: RunFence, reason: String) throws(StoreError) -> Bool {
        let now = RunStore.now()
        return try write { session in
            let rows = try session.query(
                """
                UPDATE runs SET status = 'queued', error = NULL, finished_at = NULL, updated_at = $1, \(Self.leaseCleared)
                WHERE id = $2 AND lease_epoch = $3 RETURNING recovery_attempts
                """,
                [.real(now), .text(fence.runID), .integer(fence.epoch)])
            guard let recoveries = try rows.first?.decode(Int.self) else { return false }
            try Self.insertEvent(
                session, runID: fence.runID, at: now, kind: .runRequeued, stage: nil, attemptID: nil,
                payload: QueueText.requeued(reason: reason, worker: fence.worker, epoch: fence.epoch + 1, recoveries: recoveries))
            try session.execute("SELECT pg_notify('baton_runs', $1)", [.text(fence.runID)])
            return true
        }
    }

    public func rescueRuns(maxRecoveries: Int, at now: Double) throws(StoreError) -> RescueOutcome? {
        try write { session in
            let locked = try session.query("SELECT pg_try_advisory_xact_lock($1)", [.integer(Self.rescuerLock)])[0].decode(Bool.self)
            guard locked else { return nil }
            // FOR UPDATE OF r: a heartbeat committing meanwhile is waited for and its lease_until re-checked.
            let orphans = try session.query(
                """
                SELECT r.id, r.lease_owner, r.lease_epoch, r.recovery_attempts, w.host FROM runs r
                LEFT JOIN workers w ON w.id = r.lease_owner
                WHERE r.status = 'running' AND r.lease_owner IS NOT NULL AND (r.lease_until IS NULL OR r.lease_until < $1)
                AND (w.id IS NULL OR w.heartbeat_at < $1 - w.lease_seconds)
                ORDER BY r.id FOR UPDATE OF r
                """,
                [.real(now)])
            var outcome = RescueOutcome()
            var requeued = false
            for row in orphans {
                let (runID, worker, epoch, recoveries, host) = try row.decode((String, String, Int64, Int, String?).self)
                let aborted = try session.query(
                    "UPDATE attempts SET status = 'aborted', error = $1 WHERE run_id = $2 AND status = 'running' RETURNING id, stage",
                    [.text(QueueText.aborted(worker: worker)), .text(runID)])
                for attempt in aborted {
                    let (id, stage) = try attempt.decode((Int64, String).self)
                    try Self.insertEvent(session, runID: runID, at: now, kind: .attemptAborted, stage: stage, attemptID: id, payload: nil)
                }
                if recoveries >= maxRecoveries {
                    let message = QueueText.parked(runID: runID, recoveries: recoveries, worker: worker, host: host)
                    try session.execute(
                        "UPDATE runs SET status = 'failed', error = $1, finished_at = $2, updated_at = $2, \(Self.leaseCleared) WHERE id = $3",
                        [.text(message), .real(now), .text(runID)])
                    try Self.insertEvent(session, runID: runID, at: now, kind: .runFailed, stage: nil, attemptID: nil, payload: nil)
                    outcome.parked.append(runID)
                } else {
                    try session.execute(
                        """
                        UPDATE runs SET status = 'queued', recovery_attempts = recovery_attempts + 1, updated_at = $1,
                        \(Self.leaseCleared) WHERE id = $2
                        """,
                        [.real(now), .text(runID)])
                    try Self.insertEvent(
                        session, runID: runID, at: now, kind: .runRequeued, stage: nil, attemptID: nil,
                        payload: QueueText.requeued(reason: "worker died", worker: worker, epoch: epoch + 1, recoveries: recoveries + 1))
                    outcome.requeuedPairs.append(.init(runID: runID, worker: worker))
                    requeued = true
                }
            }
            if requeued { try session.execute("SELECT pg_notify('baton_runs', 'requeued')") }
            return outcome
        }
    }
}
