import Foundation
import Logging
import NIOCore
import NIOPosix
import PostgresNIO

/// LISTEN `baton_runs` on a connection of its own, so a worker wakes as soon as a run is submitted or requeued; the
/// connection is made again (and LISTEN re-issued) whenever it breaks. SQLite has no notifications: workers poll.
final class QueueListener: Sendable {
    private let task: Task<Void, Never>
    private let connection = Locked<PostgresConnection?>(nil)

    private init(location: PostgresLocation, onNotify: @escaping @Sendable () -> Void) {
        let holder = connection
        task = Task {
            let logger = Logger(label: "baton.queue.listen")
            var configuration = PostgresConnection.Configuration(
                host: location.host, port: location.port, username: location.user, password: location.password,
                database: location.database, tls: .disable)
            if location.requireTLS,
                let tls = try? PostgresConnection.Configuration.TLS.require(.init(configuration: .makeClientConfiguration()))
            {
                configuration.tls = tls
            }
            configuration.options.connectTimeout = .seconds(5)
            var id = 1
            while !Task.isCancelled {
                var current: PostgresConnection?
                do {
                    let connection = try await PostgresConnection.connect(configuration: configuration, id: id, logger: logger)
                    id += 1
                    current = connection
                    holder.withLock { $0 = connection }
                    let notifications = try await connection.listen("baton_runs")
                    // Anything submitted while the connection was down was missed: look at the queue now.
                    onNotify()
                    for try await _ in notifications { onNotify() }
                } catch {}
                // A connection must be closed before it is released (postgres-nio asserts it).
                if let current {
                    try? await current.close()
                    holder.withLock { $0 = nil }
                }
                try? await Task.sleep(for: .seconds(1))
            }
        }
    }

    /// Listens for `store` when it is a PostgreSQL store; nil for SQLite.
    static func start(store: RunStore, onNotify: @escaping @Sendable () -> Void) -> QueueListener? {
        guard let postgres = store.backend as? PostgresRunStore else { return nil }
        return QueueListener(location: postgres.postgres, onNotify: onNotify)
    }

    /// Stops listening and closes the connection.
    func stop() async {
        task.cancel()
        // Closing ends the notification sequence; the task then releases the connection.
        if let connection = connection.current {
            let closing: EventLoopFuture<Void> = connection.close()
            closing.whenComplete { _ in }
        }
        await task.value
    }
}
