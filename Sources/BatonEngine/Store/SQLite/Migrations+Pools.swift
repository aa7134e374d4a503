import GRDB

extension Migrations {
    /// Runtime pools' tables (hosts, reservations, residency), registered after the queue's.
    static func registerPoolMigrations(_ migrator: inout DatabaseMigrator) {}
}
