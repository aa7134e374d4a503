extension PostgresSchema {
    /// Runtime pools: the hosts (budgets shared by every worker) and the reservations against them. No foreign key to
    /// runs: a reservation outlives nothing, the rescuer's ``PostgresRunStore/releaseStaleReservations()`` clears it.
    static let pools: [(id: String, sql: String)] = [
        (
            "pools-1-runtime-hosts",
            """
            CREATE TABLE runtime_hosts (
                url TEXT PRIMARY KEY, runtime TEXT NOT NULL, budget_bytes BIGINT NOT NULL, labels TEXT)
            """
        ),
        (
            "pools-2-reservations",
            """
            CREATE TABLE reservations (
                id BIGSERIAL PRIMARY KEY, host TEXT NOT NULL REFERENCES runtime_hosts(url) ON DELETE CASCADE,
                model TEXT NOT NULL, bytes BIGINT NOT NULL, run_id TEXT NOT NULL, lease_epoch BIGINT NOT NULL,
                stage TEXT, created_at DOUBLE PRECISION NOT NULL)
            """
        ),
        ("pools-3-reservations-host", "CREATE INDEX reservations_host ON reservations (host)"),
        ("pools-4-reservations-run", "CREATE INDEX reservations_run ON reservations (run_id)"),
    ]
}
