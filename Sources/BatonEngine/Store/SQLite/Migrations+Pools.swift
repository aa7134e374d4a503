import GRDB

extension Migrations {
    /// Runtime pools' tables (hosts and the reservations against their budgets), registered after the queue's.
    static func registerPoolMigrations(_ migrator: inout DatabaseMigrator) {
        migrator.registerMigration("v10-pools") { db in
            try db.create(table: "runtime_hosts") { t in
                t.column("url", .text).primaryKey()
                t.column("runtime", .text).notNull()
                t.column("budget_bytes", .integer).notNull()
                // Comma-separated, or NULL: the same form as runs.labels.
                t.column("labels", .text)
            }
            try db.create(table: "reservations") { t in
                t.autoIncrementedPrimaryKey("id")
                t.column("host", .text).notNull().references("runtime_hosts", column: "url", onDelete: .cascade)
                t.column("model", .text).notNull()
                t.column("bytes", .integer).notNull()
                t.column("run_id", .text).notNull()
                t.column("lease_epoch", .integer).notNull()
                t.column("stage", .text)
                t.column("created_at", .double).notNull()
            }
            try db.create(index: "reservations_host", on: "reservations", columns: ["host"])
            try db.create(index: "reservations_run", on: "reservations", columns: ["run_id"])
        }
    }
}
