import GRDB

extension Migrations {
    /// The queue's tables beyond the `runs` columns of v9-queue (workers), registered in order after it.
    static func registerQueueMigrations(_ migrator: inout DatabaseMigrator) {}
}
