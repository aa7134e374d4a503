import Foundation
import PostgresNIO

/// Runtime pools on PostgreSQL: ``reserve(_:)`` locks the host's row (`FOR UPDATE`) before it sums, so two workers
/// reserving on one host take turns and never both see the same free room.
extension PostgresRunStore {
    /// The reservations still in force: their run exists, is not finished and still has the epoch they were made under.
    static let liveReservations = """
        SELECT v.id, v.host, v.model, v.bytes, v.run_id, v.lease_epoch, v.stage, v.created_at FROM reservations v
        JOIN runs r ON r.id = v.run_id AND r.lease_epoch = v.lease_epoch
        WHERE r.status NOT IN ('completed', 'failed', 'interrupted')
        """

    public func registerRuntimeHosts(_ hosts: [RuntimeHostRecord]) throws(StoreError) {
        try write { session in
            for host in hosts {
                try session.execute(
                    """
                    INSERT INTO runtime_hosts (url, runtime, budget_bytes, labels) VALUES ($1, $2, $3, $4)
                    ON CONFLICT (url) DO UPDATE SET runtime = excluded.runtime, budget_bytes = excluded.budget_bytes,
                        labels = excluded.labels
                    """,
                    [.text(host.url), .text(host.runtime), .integer(host.budgetBytes), .text(PoolLabels.column(host.labels))])
            }
        }
    }

    public func reserve(_ request: ReservationRequest) throws(StoreError) -> ReservationOutcome {
        try write { session in
            guard
                let budget = try session.query(
                    "SELECT budget_bytes FROM runtime_hosts WHERE url = $1 FOR UPDATE", [.text(request.host)]
                ).first.map({ try $0.decode(Int64.self) })
            else { return .unknownHost }
            let rows = try Self.reservationRows(session, Self.liveReservations + " AND v.host = $1", [.text(request.host)])
            switch PoolLedger.decide(request, budget: budget, live: rows) {
            case .existing(let id, let shared): return .reserved(id: id, shared: shared)
            case .noRoom(let free): return .noRoom(free: free, budget: budget)
            case .insert(let shared):
                let id = try session.query(
                    """
                    INSERT INTO reservations (host, model, bytes, run_id, lease_epoch, stage, created_at)
                    VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id
                    """,
                    [
                        .text(request.host), .text(request.model), .integer(request.bytes), .text(request.runID),
                        .integer(request.leaseEpoch), .text(request.stage), .real(RunStore.now()),
                    ]
                ).first.map { try $0.decode(Int64.self) }
                return .reserved(id: id ?? 0, shared: shared)
            }
        }
    }

    public func releaseReservations(runID: String, host: String?, model: String?) throws(StoreError) -> Int {
        try write { session in
            try session.execute(
                """
                DELETE FROM reservations WHERE run_id = $1 AND ($2::text IS NULL OR host = $2)
                    AND ($3::text IS NULL OR model = $3)
                """,
                [.text(runID), .text(host), .text(model)])
        }
    }

    public func releaseStaleReservations() throws(StoreError) -> Int {
        try write { session in
            try session.execute("DELETE FROM reservations WHERE id NOT IN (SELECT id FROM (\(Self.liveReservations)) live)")
        }
    }

    public func hostReservations() throws(StoreError) -> [HostReservations] {
        try read { session in
            let hosts = try session.query("SELECT url, runtime, budget_bytes, labels FROM runtime_hosts ORDER BY url").map {
                row in
                let (url, runtime, budget, labels) = try row.decode((String, String, Int64, String?).self)
                return RuntimeHostRecord(url: url, runtime: runtime, budgetBytes: budget, labels: PoolLabels.parse(labels))
            }
            let rows = try Self.reservationRows(session, Self.liveReservations + " ORDER BY v.id", [])
            return hosts.map { host in HostReservations(host: host, reservations: rows.filter { $0.host == host.url }) }
        }
    }

    private static func reservationRows(_ session: PostgresSession, _ sql: String, _ binds: [PostgresValue]) throws
        -> [ReservationRecord]
    {
        try session.query(sql, binds).map { row in
            let (id, host, model, bytes, runID, epoch, stage, createdAt) = try row.decode(
                (Int64, String, String, Int64, String, Int64, String?, Double).self)
            return ReservationRecord(
                id: id, host: host, model: model, bytes: bytes, runID: runID, leaseEpoch: epoch, stage: stage,
                createdAt: createdAt)
        }
    }
}
