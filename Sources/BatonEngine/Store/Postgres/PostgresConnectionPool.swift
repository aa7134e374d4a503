import Foundation
import Logging
import NIOCore
import NIOPosix
import PostgresNIO
import Synchronization

/// Where a PostgreSQL run store is, parsed from `postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE[?sslmode=disable|require]`.
public struct PostgresLocation: Sendable, Hashable {
    /// The server's host name or address.
    public var host: String
    /// Its port (5432 when the URL has none).
    public var port: Int
    /// The role to log in as.
    public var user: String
    /// Its password, if the URL has one (else `PGPASSWORD` from the environment, if set).
    public var password: String?
    /// The database.
    public var database: String
    /// Whether to require TLS (`sslmode=require`); loopback servers in the tests use plain connections.
    public var requireTLS: Bool

    /// The URL without its password, for messages.
    public var redacted: String {
        "postgres://\(user)@\(host):\(port)/\(database)"
    }

    /// Whether `text` names a PostgreSQL store rather than a SQLite file.
    public static func isURL(_ text: String) -> Bool {
        text.hasPrefix("postgres://") || text.hasPrefix("postgresql://")
    }

    /// `url` with its password (if any) replaced by `***`, for messages about a URL that may not parse.
    public static func redacting(_ url: String) -> String {
        guard let scheme = url.range(of: "://"), let at = url[scheme.upperBound...].lastIndex(of: "@") else { return url }
        guard let colon = url[scheme.upperBound..<at].firstIndex(of: ":") else { return url }
        return String(url[..<colon]) + ":***" + String(url[at...])
    }

    /// Parses `url`. - Throws: ``StoreError`` `.unreachable` naming what is wrong with it (never its password).
    public init(url: String, environment: [String: String] = ProcessInfo.processInfo.environment) throws(StoreError) {
        let shown = Self.redacting(url)
        guard Self.isURL(url), let components = URLComponents(string: url), let host = components.host, !host.isEmpty else {
            throw StoreError(
                .unreachable,
                "'\(shown)' is not a PostgreSQL URL; write postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE")
        }
        let database = String(components.path.drop { $0 == "/" })
        guard !database.isEmpty else {
            throw StoreError(.unreachable, "the PostgreSQL URL '\(shown)' names no database; add /DATABASE after the host")
        }
        self.host = host
        self.port = components.port ?? 5432
        self.user = components.user ?? environment["PGUSER"] ?? environment["USER"] ?? "postgres"
        self.password = components.password ?? environment["PGPASSWORD"]
        self.database = database
        let mode = components.queryItems?.first { $0.name == "sslmode" }?.value ?? "disable"
        guard ["disable", "require", "prefer", "allow"].contains(mode) else {
            throw StoreError(.unreachable, "sslmode '\(mode)' in '\(shown)' is not supported; use disable or require")
        }
        self.requireTLS = mode == "require"
    }
}

/// Connections to one PostgreSQL server, used synchronously: the run store's API is synchronous (as GRDB's is), so a
/// call blocks its thread on an event-loop future, never on another Swift task, which keeps it safe on the cooperative
/// pool. Idle connections are kept for reuse; a broken one is dropped and the next call connects again.
final class PostgresConnectionPool: Sendable {
    let location: PostgresLocation
    /// How long a call waits for the server to come back (a restart, a failover) before it reports it unreachable.
    let reconnectWindow: Duration
    private let idle = Mutex<[PostgresConnection]>([])
    private let nextID = Atomic<Int>(1)
    private let logger = Logger(label: "baton.postgres")
    /// Connections beyond this many idle ones are closed when handed back.
    private let keepIdle = 8

    init(location: PostgresLocation, reconnectWindow: Duration = .seconds(30)) {
        self.location = location
        self.reconnectWindow = reconnectWindow
    }

    deinit {
        for connection in idle.withLock({ $0 }) { Self.close(connection) }
    }

    /// Opens one connection now, so a wrong URL or a server that is down is reported at open.
    func check() throws(StoreError) {
        let connection = try connect(waiting: false)
        checkIn(connection)
    }

    /// Runs `body` on a connection of the pool.
    func withConnection<T>(_ body: (PostgresConnection) throws -> T) throws -> T {
        let connection = try checkOut()
        do {
            let result = try body(connection)
            checkIn(connection)
            return result
        } catch {
            if connection.isClosed { Self.close(connection) } else { checkIn(connection) }
            throw error
        }
    }

    private func checkOut() throws(StoreError) -> PostgresConnection {
        while let connection = idle.withLock({ $0.popLast() }) {
            if !connection.isClosed { return connection }
        }
        return try connect(waiting: true)
    }

    private func checkIn(_ connection: PostgresConnection) {
        guard !connection.isClosed else { return }
        let kept = idle.withLock { list -> Bool in
            guard list.count < keepIdle else { return false }
            list.append(connection)
            return true
        }
        if !kept { Self.close(connection) }
    }

    /// Closes without waiting (the future-returning close: the async one would need a task).
    static func close(_ connection: PostgresConnection) {
        let closing: EventLoopFuture<Void> = connection.close()
        // Kept alive until the channel is closed: a connection released while it is still open trips postgres-nio's
        // deinit assertion (debug builds).
        closing.whenComplete { _ in withExtendedLifetime(connection) {} }
    }

    /// A new connection; with `waiting`, retried until ``reconnectWindow`` has passed.
    private func connect(waiting: Bool) throws(StoreError) -> PostgresConnection {
        var configuration = PostgresConnection.Configuration(
            host: location.host, port: location.port, username: location.user, password: location.password,
            database: location.database, tls: .disable)
        if location.requireTLS {
            do {
                configuration.tls = .require(try .init(configuration: .makeClientConfiguration()))
            } catch {
                throw StoreError(.unreachable, "TLS for \(location.redacted) cannot be set up: \(error)")
            }
        }
        configuration.options.connectTimeout = .seconds(5)
        let deadline = ContinuousClock.now + reconnectWindow
        var delay = Duration.milliseconds(100)
        while true {
            let id = nextID.add(1, ordering: .relaxed).oldValue
            let future = PostgresConnection.connect(
                on: MultiThreadedEventLoopGroup.singleton.any(), configuration: configuration, id: id, logger: logger)
            do {
                return try future.wait()
            } catch {
                guard waiting, ContinuousClock.now + delay < deadline, Self.isConnectionFailure(error) else {
                    throw Self.unreachable(error, location)
                }
                Thread.sleep(forTimeInterval: Double(delay.components.seconds) + Double(delay.components.attoseconds) / 1e18)
                delay = min(delay * 2, .seconds(2))
            }
        }
    }

    /// Whether `error` says the connection or the server went away (so trying again later may work), rather than
    /// that the statement was wrong.
    static func isConnectionFailure(_ error: any Error) -> Bool {
        if let error = error as? PSQLError {
            switch error.code {
            case .connectionError, .uncleanShutdown, .serverClosedConnection, .clientClosedConnection: return true
            case .server:
                // 57P01 admin_shutdown, 57P02 crash_shutdown, 57P03 cannot_connect_now (starting up or recovering).
                let state = error.serverInfo?[.sqlState] ?? ""
                return state.hasPrefix("57P") || state.hasPrefix("08")
            default: return false
            }
        }
        return error is ChannelError || error is IOError || error is NIOConnectionError
    }

    static func unreachable(_ error: any Error, _ location: PostgresLocation) -> StoreError {
        var reason = String(describing: error)
        if let error = error as? PSQLError {
            reason = error.serverInfo?[.message] ?? "\(error.code)"
            if let underlying = error.underlying { reason += " (\(underlying))" }
        }
        switch (error as? PSQLError)?.serverInfo?[.sqlState] {
        case "3D000":
            return StoreError(
                .unreachable,
                "the PostgreSQL server of \(location.redacted) has no database '\(location.database)'; create it (createdb -h \(location.host) -p \(location.port) -U \(location.user) \(location.database)) or correct the URL in --db or BATON_DB"
            )
        case "28P01", "28000":
            return StoreError(
                .unreachable,
                "the PostgreSQL server of \(location.redacted) refused the login of '\(location.user)' (\(reason)); check the user and password in the URL (or PGPASSWORD) and the server's pg_hba.conf"
            )
        default:
            return StoreError(
                .unreachable,
                "the PostgreSQL run store \(location.redacted) cannot be reached: \(reason); check that the server is running and the URL in --db or BATON_DB"
            )
        }
    }
}
