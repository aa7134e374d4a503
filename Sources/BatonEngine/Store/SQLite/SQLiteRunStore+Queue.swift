import Foundation
import GRDB

/// The queue on SQLite: workers on one machine (several processes) share the file; every claim and sweep is a
/// `BEGIN IMMEDIATE` transaction, so SQLite's write lock orders them and no two claims see the same queued run.
extension SQLiteRunStore {
    public func submitRun(_ run: RunRecord, freshID: (() -> String)?) throws(StoreError) -> String {
        try write { db in
            var run = run
            run.status = .queued
            if let freshID {
                var draws = 0
                while try Bool.fetchOne(db, sql: "SELECT 1 FROM runs WHERE id = ?", arguments: [run.id]) == true, draws < 1000 {
                    run.id = freshID()
                    draws += 1
                }
            }
            var row = run
            row.snapshot = ""
            try row.insert(db)
            try db.execute(sql: "INSERT INTO run_snapshots (run_id, snapshot) VALUES (?, ?)", arguments: [run.id, run.snapshot])
            try Self.insertEvent(db, runID: run.id, at: run.createdAt, kind: .runCreated, stage: nil, attemptID: nil, payload: nil)
            try Self.insertEvent(
                db, runID: run.id, at: run.createdAt, kind: .runSubmitted, stage: nil, attemptID: nil,
                payload: QueueText.submitted(run))
            return run.id
        }
    }

    public func registerWorker(_ worker: WorkerRecord) throws(StoreError) {
        try write { db in try Self.upsert(worker, db) }
    }

    private static func upsert(_ worker: WorkerRecord, _ db: Database) throws {
        try db.execute(
            sql: """
                INSERT OR REPLACE INTO workers (id, host, pid, labels, concurrency, engine_level, lease_seconds, started_at,
                heartbeat_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
                """,
            arguments: [
                worker.id, worker.host, worker.pid, QueueLabels.column(worker.labels), worker.concurrency, worker.engineLevel,
                worker.leaseSeconds, worker.startedAt, worker.heartbeatAt,
            ])
    }

    public func workerHeartbeat(_ worker: WorkerRecord, at now: Double) throws(StoreError) -> [HeldRun] {
        try write { db in
            var worker = worker
            worker.heartbeatAt = now
            try Self.upsert(worker, db)
            try db.execute(
                sql: "UPDATE runs SET lease_until = ? WHERE lease_owner = ? AND status = ?",
                arguments: [now + worker.leaseSeconds, worker.id, RunStatus.running])
            return try Row.fetchAll(
                db, sql: "SELECT id, lease_epoch FROM runs WHERE lease_owner = ? AND status = ?",
                arguments: [worker.id, RunStatus.running]
            ).map { HeldRun(runID: $0["id"], epoch: $0["lease_epoch"]) }
        }
    }

    public func deregisterWorker(_ workerID: String) throws(StoreError) {
        try write { db in try db.execute(sql: "DELETE FROM workers WHERE id = ?", arguments: [workerID]) }
    }

    public func workers() throws(StoreError) -> [WorkerRecord] {
        try read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM workers ORDER BY id").map { row in
                WorkerRecord(
                    id: row["id"], host: row["host"], pid: row["pid"], labels: QueueLabels.parse(row["labels"]),
                    concurrency: row["concurrency"], engineLevel: row["engine_level"], leaseSeconds: row["lease_seconds"],
                    startedAt: row["started_at"], heartbeatAt: row["heartbeat_at"])
            }
        }
    }

    public func heldRuns() throws(StoreError) -> [String: [HeldRun]] {
        try read { db in
            var held: [String: [HeldRun]] = [:]
            let rows = try Row.fetchAll(
                db, sql: "SELECT id, lease_owner, lease_epoch FROM runs WHERE lease_owner IS NOT NULL AND status = ? ORDER BY id",
                arguments: [RunStatus.running])
            for row in rows { held[row["lease_owner"], default: []].append(HeldRun(runID: row["id"], epoch: row["lease_epoch"])) }
            return held
        }
    }

    public func claimRun(for worker: WorkerRecord, at now: Double) throws(StoreError) -> QueueClaim? {
        try write { db in
            let candidates = try Row.fetchCursor(
                db,
                sql: """
                    SELECT id, labels FROM runs WHERE status = ? AND engine_version <= ?
                    ORDER BY priority DESC, created_at, id
                    """,
                arguments: [RunStatus.queued, worker.engineLevel])
            var chosen: String?
            while chosen == nil, let row = try candidates.next() {
                if worker.fits(labels: row["labels"]) { chosen = row["id"] }
            }
            guard let runID = chosen else { return nil }
            try db.execute(
                sql: """
                    UPDATE runs SET status = ?, lease_owner = ?, lease_epoch = lease_epoch + 1, lease_until = ?, updated_at = ?,
                    lease_token = NULL, lease_pid = NULL, lease_host = NULL, lease_heartbeat = NULL WHERE id = ?
                    """,
                arguments: [RunStatus.running, worker.id, now + worker.leaseSeconds, now, runID])
            let epoch = try Int64.fetchOne(db, sql: "SELECT lease_epoch FROM runs WHERE id = ?", arguments: [runID]) ?? 0
            try Self.insertEvent(
                db, runID: runID, at: now, kind: .runClaimed, stage: nil, attemptID: nil,
                payload: QueueText.claimed(worker, epoch: epoch))
            return QueueClaim(runID: runID, epoch: epoch)
        }
    }

    public func requeueRun(_ fence: RunFence, reason: String) throws(StoreError) -> Bool {
        let now = RunStore.now()
        return try write { db in
            try db.execute(
                sql: """
                    UPDATE runs SET status = ?, error = NULL, finished_at = NULL, lease_owner = NULL, lease_epoch = lease_epoch + 1,
                    lease_until = NULL, updated_at = ?, lease_token = NULL, lease_pid = NULL, lease_host = NULL,
                    lease_heartbeat = NULL WHERE id = ? AND lease_epoch = ?
                    """,
                arguments: [RunStatus.queued, now, fence.runID, fence.epoch])
            guard db.changesCount > 0 else { return false }
            let recoveries = try Int.fetchOne(db, sql: "SELECT recovery_attempts FROM runs WHERE id = ?", arguments: [fence.runID]) ?? 0
            try Self.insertEvent(
                db, runID: fence.runID, at: now, kind: .runRequeued, stage: nil, attemptID: nil,
                payload: QueueText.requeued(reason: reason, worker: fence.worker, epoch: fence.epoch + 1, recoveries: recoveries))
            return true
        }
    }

    public func rescueRuns(maxRecoveries: Int, at now: Double) throws(StoreError) -> RescueOutcome? {
        try write { db in
            let orphans = try Row.fetchAll(
                db,
                sql: """
                    SELECT r.id, r.lease_owner, r.lease_epoch, r.recovery_attempts, w.host FROM runs r
                    LEFT JOIN workers w ON w.id = r.lease_owner
                    WHERE r.status = ? AND r.lease_owner IS NOT NULL AND (r.lease_until IS NULL OR r.lease_until < ?)
                    AND (w.id IS NULL OR w.heartbeat_at < ? - w.lease_seconds)
                    ORDER BY r.id
                    """,
                arguments: [RunStatus.running, now, now])
            var outcome = RescueOutcome()
            for row in orphans {
                let runID: String = row["id"]
                let worker: String = row["lease_owner"]
                let epoch: Int64 = row["lease_epoch"]
                let recoveries: Int = row["recovery_attempts"]
                let aborted = try Row.fetchAll(
                    db, sql: "SELECT id, stage FROM attempts WHERE run_id = ? AND status = ?",
                    arguments: [runID, AttemptStatus.running])
                try db.execute(
                    sql: "UPDATE attempts SET status = ?, error = ? WHERE run_id = ? AND status = ?",
                    arguments: [AttemptStatus.aborted, QueueText.aborted(worker: worker), runID, AttemptStatus.running])
                for attempt in aborted {
                    try Self.insertEvent(
                        db, runID: runID, at: now, kind: .attemptAborted, stage: attempt["stage"], attemptID: attempt["id"],
                        payload: nil)
                }
                let lease = """
                    lease_owner = NULL, lease_epoch = lease_epoch + 1, lease_until = NULL, updated_at = ?, lease_token = NULL,
                    lease_pid = NULL, lease_host = NULL, lease_heartbeat = NULL
                    """
                if recoveries >= maxRecoveries {
                    let message = QueueText.parked(runID: runID, recoveries: recoveries, worker: worker, host: row["host"])
                    try db.execute(
                        sql: "UPDATE runs SET status = ?, error = ?, finished_at = ?, \(lease) WHERE id = ?",
                        arguments: [RunStatus.failed, message, now, now, runID])
                    try Self.insertEvent(db, runID: runID, at: now, kind: .runFailed, stage: nil, attemptID: nil, payload: nil)
                    outcome.parked.append(runID)
                } else {
                    try db.execute(
                        sql: "UPDATE runs SET status = ?, recovery_attempts = recovery_attempts + 1, \(lease) WHERE id = ?",
                        arguments: [RunStatus.queued, now, runID])
                    try Self.insertEvent(
                        db, runID: runID, at: now, kind: .runRequeued, stage: nil, attemptID: nil,
                        payload: QueueText.requeued(reason: "worker died", worker: worker, epoch: epoch + 1, recoveries: recoveries + 1))
                    outcome.requeuedPairs.append(.init(runID: runID, worker: worker))
                }
            }
            return outcome
        }
    }
}
