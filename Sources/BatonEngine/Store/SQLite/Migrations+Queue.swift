import GRDB

extension Migrations {
    /// The queue's tables beyond the `runs` columns of v9-queue (workers), registered in order after it.
    static func registerQueueMigrations(_ migrator: inout DatabaseMigrator) {
        migrator.registerMigration("v9-queue-workers") { db in
            try db.create(table: "workers") { t in
                t.primaryKey("id", .text)
                t.column("host", .text).notNull()
                t.column("pid", .integer).notNull()
                t.column("labels", .text)
                t.column("concurrency", .integer).notNull()
                t.column("engine_level", .integer).notNull()
                t.column("lease_seconds", .double).notNull()
                t.column("started_at", .double).notNull()
                t.column("heartbeat_at", .double).notNull()
            }
            try db.create(index: "runs_lease_owner", on: "runs", columns: ["lease_owner"])
        }
    }
}
