import Foundation
import PostgresNIO

/// The PostgreSQL schema, in numbered migrations applied in order at open and recorded in `baton_migrations`.
enum PostgresSchema {
    /// Every migration, oldest first: the core tables (PostgresSchema+Core), the queue's (PostgresSchema+Queue), the
    /// runtime pools' (PostgresSchema+Pools). Never edit one that shipped: add the next.
    ///
    /// A migration may hold several statements, each ending in `;`: it runs as one PL/pgSQL `DO` block (postgres-nio
    /// sends every statement as a prepared one, which holds one command), so a bare `SELECT` must be a `PERFORM`.
    static var migrations: [(id: String, sql: String)] { core + queue + pools }

    /// Applies the migrations `store` lacks, under a transaction-scoped advisory lock (so concurrent openers wait for
    /// one another). - Throws: `.newerSchema` when the database has migrations this Baton does not know.
    static func migrate(_ store: PostgresRunStore) throws(StoreError) {
        try store.write { session in
            try session.execute("SELECT pg_advisory_xact_lock(4242424201)")
            try session.execute(
                "CREATE TABLE IF NOT EXISTS baton_migrations (id TEXT PRIMARY KEY, applied_at DOUBLE PRECISION NOT NULL)")
            let applied = Set(try session.query("SELECT id FROM baton_migrations").map { try $0.decode(String.self) })
            let known = Set(migrations.map(\.id))
            if !applied.isSubset(of: known) {
                throw StoreError(
                    .newerSchema,
                    "the PostgreSQL run store \(store.postgres.redacted) was migrated by a newer version of baton; upgrade baton, or use another database with --db or BATON_DB"
                )
            }
            for migration in migrations where !applied.contains(migration.id) {
                try session.execute(block(migration.sql))
                try session.execute(
                    "INSERT INTO baton_migrations (id, applied_at) VALUES ($1, $2)",
                    [.text(migration.id), .real(RunStore.now())])
            }
        }
    }

    /// `sql` as one `DO` statement.
    static func block(_ sql: String) -> String {
        var body = sql.trimmingCharacters(in: .whitespacesAndNewlines)
        if !body.hasSuffix(";") { body += ";" }
        return "DO $baton_migration$ BEGIN\n\(body)\nEND $baton_migration$"
    }

    /// The ids of the migrations applied to `store`'s database.
    static func applied(_ store: PostgresRunStore) throws(StoreError) -> [String] {
        try store.read { session in try session.query("SELECT id FROM baton_migrations").map { try $0.decode(String.self) } }
    }
}
