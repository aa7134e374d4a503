import Foundation
import GRDB

/// Runtime pools on SQLite: every write is a `BEGIN IMMEDIATE` transaction, so the sum and the insert of ``reserve(_:)``
/// are already alone on the file (SQLite's write lock is the host row's lock of the PostgreSQL backend).
extension SQLiteRunStore {
    /// The reservations still in force: their run exists, is not finished and still has the epoch they were made under.
    static let liveReservations = """
        SELECT v.id, v.host, v.model, v.bytes, v.run_id, v.lease_epoch, v.stage, v.created_at FROM reservations v
        JOIN runs r ON r.id = v.run_id AND r.lease_epoch = v.lease_epoch
        WHERE r.status NOT IN ('completed', 'failed', 'interrupted')
        """

    public func registerRuntimeHosts(_ hosts: [RuntimeHostRecord]) throws(StoreError) {
        try write { db in
            for host in hosts {
                try db.execute(
                    sql: """
                        INSERT INTO runtime_hosts (url, runtime, budget_bytes, labels) VALUES (?, ?, ?, ?)
                        ON CONFLICT (url) DO UPDATE SET runtime = excluded.runtime, budget_bytes = excluded.budget_bytes,
                            labels = excluded.labels
                        """,
                    arguments: [host.url, host.runtime, host.budgetBytes, PoolLabels.column(host.labels)])
            }
        }
    }

    public func reserve(_ request: ReservationRequest) throws(StoreError) -> ReservationOutcome {
        try write { db in
            guard
                let budget = try Int64.fetchOne(db, sql: "SELECT budget_bytes FROM runtime_hosts WHERE url = ?", arguments: [request.host])
            else { return .unknownHost }
            let rows = try Self.reservationRows(db, sql: Self.liveReservations + " AND v.host = ?", [request.host])
            let decision = PoolLedger.decide(request, budget: budget, live: rows)
            switch decision {
            case .existing(let id, let shared): return .reserved(id: id, shared: shared)
            case .noRoom(let free): return .noRoom(free: free, budget: budget)
            case .insert(let shared):
                try db.execute(
                    sql: """
                        INSERT INTO reservations (host, model, bytes, run_id, lease_epoch, stage, created_at)
                        VALUES (?, ?, ?, ?, ?, ?, ?)
                        """,
                    arguments: [
                        request.host, request.model, request.bytes, request.runID, request.leaseEpoch, request.stage,
                        RunStore.now(),
                    ])
                return .reserved(id: db.lastInsertedRowID, shared: shared)
            }
        }
    }

    public func releaseReservations(runID: String, host: String?, model: String?) throws(StoreError) -> Int {
        try write { db in
            try db.execute(
                sql: "DELETE FROM reservations WHERE run_id = ? AND (? IS NULL OR host = ?) AND (? IS NULL OR model = ?)",
                arguments: [runID, host, host, model, model])
            return db.changesCount
        }
    }

    public func releaseStaleReservations() throws(StoreError) -> Int {
        try write { db in
            try db.execute(sql: "DELETE FROM reservations WHERE id NOT IN (SELECT id FROM (\(Self.liveReservations)))")
            return db.changesCount
        }
    }

    public func hostReservations() throws(StoreError) -> [HostReservations] {
        try read { db in
            let hosts = try Row.fetchAll(db, sql: "SELECT url, runtime, budget_bytes, labels FROM runtime_hosts ORDER BY url")
            let rows = try Self.reservationRows(db, sql: Self.liveReservations + " ORDER BY v.id", [])
            return hosts.map { row in
                let url: String = row["url"]
                return HostReservations(
                    host: RuntimeHostRecord(
                        url: url, runtime: row["runtime"], budgetBytes: row["budget_bytes"],
                        labels: PoolLabels.parse(row["labels"])),
                    reservations: rows.filter { $0.host == url })
            }
        }
    }

    private static func reservationRows(_ db: Database, sql: String, _ arguments: [String]) throws -> [ReservationRecord] {
        try Row.fetchAll(db, sql: sql, arguments: StatementArguments(arguments)).map { row in
            ReservationRecord(
                id: row["id"], host: row["host"], model: row["model"], bytes: row["bytes"], runID: row["run_id"],
                leaseEpoch: row["lease_epoch"], stage: row["stage"], createdAt: row["created_at"])
        }
    }
}
