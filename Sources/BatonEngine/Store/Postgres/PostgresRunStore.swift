import Foundation
import Logging
import NIOCore
import PostgresNIO

/// The PostgreSQL run store: the same runs, attempts and events as ``SQLiteRunStore``, in a server several `baton
/// worker` processes on several machines share. Every method is one transaction; the schema is migrated at open
/// (``PostgresSchema``), under an advisory lock so two processes opening a new database do not both migrate it.
public struct PostgresRunStore: RunStoreBackend {
    let pool: PostgresConnectionPool
    /// Where it is.
    public let postgres: PostgresLocation
    static let logger = Logger(label: "baton.postgres")

    /// Whether `text` names a PostgreSQL store rather than a SQLite file.
    public static func isURL(_ text: String) -> Bool { PostgresLocation.isURL(text) }

    /// Connects to the server at `url` and migrates its schema.
    ///
    /// - Throws: ``StoreError``: `.unreachable` when the server cannot be reached or refuses the login, `.newerSchema`
    ///   when a newer Baton migrated it.
    public init(url: String, reconnectWindow: Duration = .seconds(30)) throws(StoreError) {
        postgres = try PostgresLocation(url: url)
        pool = PostgresConnectionPool(location: postgres, reconnectWindow: reconnectWindow)
        try pool.check()
        try PostgresSchema.migrate(self)
    }

    /// The worker's lease every write checks first (``RunStoreBackend/fence``).
    public var fence: RunFence?
    /// Crash tests only: kills the process inside chosen commits.
    public var killSwitch: KillSwitch?

    public var location: String? { postgres.redacted }
    public var path: String? { nil }

    // MARK: - Sessions

    /// Runs `body` in one transaction (READ COMMITTED), committing when it returns and rolling back when it throws.
    /// A transaction that failed because the connection broke before COMMIT was sent is run again on a new connection,
    /// once; a failure during COMMIT is reported (whether it committed is unknown, so it is never repeated blindly).
    @discardableResult
    func write<T>(_ body: (PostgresSession) throws -> T) throws(StoreError) -> T {
        var tries = 0
        while true {
            tries += 1
            var committing = false
            do {
                return try pool.withConnection { connection in
                    let session = PostgresSession(connection: connection)
                    try session.execute("BEGIN")
                    do {
                        if let fence {
                            // FOR SHARE: a takeover's UPDATE of the epoch waits for this commit, or this read waits
                            // for the takeover and then sees the new epoch.
                            let epoch = try session.query(
                                "SELECT lease_epoch FROM runs WHERE id = $1 FOR SHARE", [.text(fence.runID)]
                            ).first.map { try $0.decode(Int64.self) }
                            if epoch != fence.epoch { throw fence.refused(current: epoch) }
                        }
                        let result = try body(session)
                        committing = true
                        try session.execute("COMMIT")
                        return result
                    } catch {
                        if !connection.isClosed { _ = try? session.execute("ROLLBACK") }
                        throw error
                    }
                }
            } catch {
                if !committing, tries < 2, PostgresConnectionPool.isConnectionFailure(error) { continue }
                throw wrap(error)
            }
        }
    }

    /// Runs `body` outside a transaction (each statement commits on its own), for reads.
    func read<T>(_ body: (PostgresSession) throws -> T) throws(StoreError) -> T {
        var tries = 0
        while true {
            tries += 1
            do {
                return try pool.withConnection { connection in try body(PostgresSession(connection: connection)) }
            } catch {
                if tries < 2, PostgresConnectionPool.isConnectionFailure(error) { continue }
                throw wrap(error)
            }
        }
    }

    /// Maps a PostgreSQL error to a store error that names the server and the fix.
    func wrap(_ error: any Error) -> StoreError {
        if let error = error as? StoreError { return error }
        if PostgresConnectionPool.isConnectionFailure(error) { return PostgresConnectionPool.unreachable(error, postgres) }
        if let error = error as? PSQLError, let message = error.serverInfo?[.message] {
            let state = error.serverInfo?[.sqlState] ?? ""
            if state == "53100" {
                return StoreError(
                    .diskFull, "the disk of the PostgreSQL server \(postgres.redacted) is full (\(message)); free space on it")
            }
            return StoreError(.database, "the PostgreSQL run store \(postgres.redacted) failed: \(message) (SQLSTATE \(state))")
        }
        return StoreError(.database, "the PostgreSQL run store \(postgres.redacted) failed: \(String(reflecting: error))")
    }
}

/// One connection in use by a store call: statements with `$1`-style parameters, run synchronously.
struct PostgresSession {
    let connection: PostgresConnection

    /// Runs `sql` with `binds` and returns its rows.
    @discardableResult
    func query(_ sql: String, _ binds: [PostgresValue] = []) throws -> [PostgresRow] {
        try connection.query(Self.query(sql, binds), logger: PostgresRunStore.logger).wait().rows
    }

    /// Runs `sql` with `binds` and returns how many rows it changed.
    @discardableResult
    func execute(_ sql: String, _ binds: [PostgresValue] = []) throws -> Int {
        try connection.query(Self.query(sql, binds), logger: PostgresRunStore.logger).wait().metadata.rows ?? 0
    }

    private static func query(_ sql: String, _ binds: [PostgresValue]) -> PostgresQuery {
        var bindings = PostgresBindings(capacity: binds.count)
        for value in binds {
            switch value {
            case .text(let text): bindings.append(text)
            case .integer(let number): bindings.append(number)
            case .real(let number): bindings.append(number)
            case .bool(let flag): bindings.append(flag)
            case .null: bindings.appendNull()
            }
        }
        return PostgresQuery(unsafeSQL: sql, binds: bindings)
    }
}

/// A statement parameter.
enum PostgresValue: Sendable {
    case text(String)
    case integer(Int64)
    case real(Double)
    case bool(Bool)
    case null

    static func text(_ value: String?) -> PostgresValue { value.map { .text($0) } ?? .null }
    static func integer(_ value: Int?) -> PostgresValue { value.map { .integer(Int64($0)) } ?? .null }
    static func integer(_ value: Int64?) -> PostgresValue { value.map { .integer($0) } ?? .null }
    static func real(_ value: Double?) -> PostgresValue { value.map { .real($0) } ?? .null }
}
