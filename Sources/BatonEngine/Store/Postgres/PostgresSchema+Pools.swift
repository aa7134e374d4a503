extension PostgresSchema {
    /// runtime hosts, reservations, residency.
    static let pools: [(id: String, sql: String)] = []
}
