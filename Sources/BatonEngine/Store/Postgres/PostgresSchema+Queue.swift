extension PostgresSchema {
    /// workers and anything else the queue needs beyond the runs columns.
    static let queue: [(id: String, sql: String)] = []
}
