import Foundation
import HummingbirdCore
import Logging
import NIOCore
import NIOPosix
import ServiceLifecycle
import UnixSignals

/// `baton serve`: the dashboard and its JSON API over HTTP, read from the run database (docs/serve.md).
///
/// Built on HummingbirdCore's HTTP server with its own small router (``ServeRoutes``): importing the `Hummingbird`
/// module anywhere in BatonEngine loads `_NIOFileSystem`, after which Glibc's `struct stat` counts as CDispatch's and
/// every file that reads `stat()` with only Foundation imported fails to compile under MemberImportVisibility.
///
/// Bound to loopback by default; another host needs a token, which every request then carries. Read-only unless
/// ``ServeOptions/allowActions``. Live updates come from one ``EventTail`` shared by every open stream.
public final class DashboardServer: Sendable {
    /// How the server runs.
    public let options: ServeOptions
    /// The store the routes read.
    let store: RunStore
    /// The event poller every stream shares.
    public let tail: EventTail
    private let boundPort = Locked(0)
    private let running = Locked<(group: ServiceGroup, task: Task<Void, Never>)?>(nil)
    private let failure = Locked<(any Error)?>(nil)

    /// Checks the options and opens the run database.
    ///
    /// - Throws: ``ServeError``: `.usage` for refused options, `.notFound` when there is no database at the path,
    ///   `.store` when it cannot be read (damaged, newer, unreadable).
    public init(options: ServeOptions) throws(ServeError) {
        try options.validate()
        let path = options.databasePath
        guard FileManager.default.fileExists(atPath: path) else {
            throw ServeError(.notFound, "no run database at \(path); run a pipeline first, or pass --db")
        }
        do {
            store = try RunStore.forReading(path: path)
        } catch {
            throw ServeError(error.code == .runNotFound ? .notFound : .store, error.message)
        }
        self.options = options
        tail = EventTail(path: path, interval: options.pollInterval)
    }

    /// The port the server listens on (0 before ``start(handlingSignals:)`` returns).
    public var port: Int { boundPort.current }

    /// The dashboard's address: `http://HOST:PORT/` (an IPv6 host in brackets).
    public var url: String {
        let host = options.host.contains(":") && !options.host.hasPrefix("[") ? "[\(options.host)]" : options.host
        return "http://\(host):\(port)/"
    }

    /// Binds and starts serving; returns once the server listens. With `handlingSignals`, SIGINT and SIGTERM stop it
    /// gracefully (the command); else ``stop()`` does (tests).
    ///
    /// - Throws: ``ServeError`` `.cannotListen` naming the address and the reason (in use, no permission).
    public func start(handlingSignals: Bool = false) async throws(ServeError) {
        let (ports, portContinuation) = AsyncStream<Int>.makeStream()
        var logger = Logger(label: "baton-serve")
        logger.logLevel = .critical
        let routes = ServeRoutes(options: options, store: store, tail: tail)
        let checks = DashboardGuard(options: options, port: boundPort)
        let server: any Service
        do {
            server = try HTTPServerBuilder.http1().buildServer(
                configuration: ServerConfiguration(address: .hostname(options.host, port: options.port)),
                eventLoopGroup: MultiThreadedEventLoopGroup.singleton, logger: logger,
                responder: { request, writer, _ in
                    let response = await checks.respond(to: request) { try await routes.route($0) }
                    try await writer.write(response: response.head, body: response.body)
                },
                onServerRunning: { channel in
                    portContinuation.yield(channel.localAddress?.port ?? 0)
                    portContinuation.finish()
                })
        } catch {
            throw ServeError(.cannotListen, Self.listenFailure(host: options.host, port: options.port, error: error))
        }
        // Open streams would hold a graceful shutdown up: the closer ends them first (services stop in reverse order).
        let closer = StreamCloser(tail: tail)
        var configuration = ServiceGroupConfiguration(
            services: [
                .init(service: server), .init(service: closer, successTerminationBehavior: .gracefullyShutdownGroup),
            ], gracefulShutdownSignals: handlingSignals ? [.sigint, .sigterm] : [], logger: logger)
        configuration.maximumGracefulShutdownDuration = .seconds(10)
        let group = ServiceGroup(configuration: configuration)
        let task = Task { [failure] in
            do {
                try await group.run()
            } catch {
                failure.withLock { $0 = error }
            }
            portContinuation.finish()
        }
        running.withLock { $0 = (group, task) }
        var iterator = ports.makeAsyncIterator()
        guard let port = await iterator.next(), port > 0 else {
            await task.value
            throw ServeError(.cannotListen, Self.listenFailure(host: options.host, port: options.port, error: failure.current))
        }
        boundPort.withLock { $0 = port }
    }

    /// "cannot listen on HOST:PORT: REASON; pass --port".
    static func listenFailure(host: String, port: Int, error: (any Error)?) -> String {
        var reason = error.map { "\($0)" } ?? "the server stopped before it listened"
        var code: Int32?
        if let error = error as? IOError { code = error.errnoCode }
        if code == nil, reason.contains("Address already in use") { code = EADDRINUSE }
        if code == nil, reason.contains("Permission denied") { code = EACCES }
        switch code {
        case EADDRINUSE?: reason = "address in use"
        case EACCES?, EPERM?: reason = "permission denied (ports under 1024 need privileges)"
        case EADDRNOTAVAIL?: reason = "no such address on this machine"
        default: break
        }
        return "cannot listen on \(host):\(port): \(reason); pass --port" + (code == EADDRNOTAVAIL ? " or --host" : "")
    }

    /// Waits until the server has stopped (a shutdown signal, or ``stop()``).
    public func wait() async {
        await running.current?.task.value
    }

    /// Stops gracefully: open streams end, requests in flight finish, the port closes.
    public func stop() async {
        guard let (group, task) = running.current else { return }
        await group.triggerGracefulShutdown()
        let watchdog = Task {
            try await Task.sleep(for: .seconds(15))
            task.cancel()
        }
        await task.value
        watchdog.cancel()
    }
}

/// Ends every open event stream when the server shuts down, before the HTTP server waits for its requests.
private struct StreamCloser: Service {
    let tail: EventTail

    func run() async throws {
        try? await gracefulShutdown()
        tail.close()
    }
}
