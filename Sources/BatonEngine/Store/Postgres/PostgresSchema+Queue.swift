extension PostgresSchema {
    /// The queue's tables beyond the `runs` columns of core-1: the workers and their heartbeats.
    static let queue: [(id: String, sql: String)] = [
        (
            "queue-1-workers",
            """
            CREATE TABLE workers (
                id TEXT PRIMARY KEY, host TEXT NOT NULL, pid BIGINT NOT NULL, labels TEXT, concurrency BIGINT NOT NULL,
                engine_level BIGINT NOT NULL, lease_seconds DOUBLE PRECISION NOT NULL, started_at DOUBLE PRECISION NOT NULL,
                heartbeat_at DOUBLE PRECISION NOT NULL)
            """
        ),
        ("queue-2-runs-lease-owner", "CREATE INDEX runs_lease_owner ON runs (lease_owner)"),
    ]
}
