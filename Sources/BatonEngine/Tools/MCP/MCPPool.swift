import Foundation
import MCP

/// The MCP servers of one run, by name: each started on first use and shared afterwards, all stopped together.
public actor MCPPool {
    /// PATH and LANG for servers when the caller gives none (the same as `run` stages get).
    public static let defaultBaseEnvironment = ["PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"]

    private let definitions: [String: MCPServerDefinition]
    private let baseEnvironment: [String: String]
    private let onStderr: @Sendable (_ server: String, _ line: String) -> Void
    private var connections: [String: Task<MCPConnection, any Error>] = [:]
    private var stopped = false

    /// A pool of the given servers; nothing starts until a server is first used.
    ///
    /// - Parameters:
    ///   - servers: the definitions (names must be unique; a later duplicate wins).
    ///   - baseEnvironment: PATH and LANG every server gets under its own environment.
    ///   - onStderr: each stderr line of each server (later: the run's events).
    public init(
        servers: [MCPServerDefinition],
        baseEnvironment: [String: String] = MCPPool.defaultBaseEnvironment,
        onStderr: @escaping @Sendable (_ server: String, _ line: String) -> Void = { _, _ in }
    ) {
        self.definitions = Dictionary(servers.map { ($0.name, $0) }, uniquingKeysWith: { _, later in later })
        self.baseEnvironment = baseEnvironment
        self.onStderr = onStderr
    }

    /// The running connection to `server`, started now if it is the first use (concurrent first uses share one start).
    public func connection(_ server: String) async throws -> MCPConnection {
        if stopped { throw MCPClientError.stopped(server: server) }
        if let starting = connections[server] { return try await starting.value }
        guard let definition = definitions[server] else { throw MCPClientError.unknownServer(server) }
        let (base, onStderr) = (baseEnvironment, self.onStderr)
        let starting = Task {
            try await MCPConnection.start(definition, baseEnvironment: base) { onStderr(server, $0) }
        }
        connections[server] = starting
        do {
            let connection = try await starting.value
            if stopped {
                // stopAll() ran while this server was starting: it must not outlive the pool.
                await connection.stop()
                throw MCPClientError.stopped(server: server)
            }
            return connection
        } catch {
            // A failed start is not remembered: the next use tries again.
            if connections[server] == starting { connections[server] = nil }
            throw error
        }
    }

    /// The tools `server` lists.
    public func tools(server: String) async throws -> [MCPToolInfo] {
        try await connection(server).tools()
    }

    /// Calls `tool` on `server`; a server that died is forgotten, so the next use starts it again.
    public func call(
        server: String, tool: String, arguments: [String: Value] = [:], idempotencyKey: String? = nil
    ) async throws -> MCPCallResult {
        let connection = try await connection(server)
        do {
            return try await connection.call(tool, arguments: arguments, idempotencyKey: idempotencyKey)
        } catch let error as MCPClientError {
            if case .serverDied = error { await forget(server, connection) }
            throw error
        }
    }

    /// Calls `tool` on `server` with arguments given as JSON text.
    public func call(server: String, tool: String, argumentsJSON: String, idempotencyKey: String? = nil) async throws -> MCPCallResult {
        let connection = try await connection(server)
        do {
            return try await connection.call(tool, argumentsJSON: argumentsJSON, idempotencyKey: idempotencyKey)
        } catch let error as MCPClientError {
            if case .serverDied = error { await forget(server, connection) }
            throw error
        }
    }

    /// The process ids of the servers running now.
    public func runningProcessIDs() async -> [pid_t] {
        var pids: [pid_t] = []
        for starting in connections.values {
            if let connection = try? await starting.value, await !connection.hasExited { pids.append(connection.processID) }
        }
        return pids
    }

    /// Stops every server (see `MCPConnection.stop()`), in parallel; later uses fail. Calling it again does nothing.
    public func stopAll() async {
        stopped = true
        let all = connections.values
        connections = [:]
        await withTaskGroup(of: Void.self) { group in
            for starting in all {
                group.addTask {
                    if let connection = try? await starting.value { await connection.stop() }
                }
            }
        }
    }

    private func forget(_ server: String, _ connection: MCPConnection) async {
        if let current = connections[server], let running = try? await current.value, running === connection {
            connections[server] = nil
        }
        await connection.stop()
    }

    /// Runs `body` with a pool and stops the pool's servers afterwards, whether `body` returns, throws or is cancelled.
    public static func with<T: Sendable>(
        servers: [MCPServerDefinition],
        baseEnvironment: [String: String] = MCPPool.defaultBaseEnvironment,
        onStderr: @escaping @Sendable (_ server: String, _ line: String) -> Void = { _, _ in },
        _ body: (MCPPool) async throws -> T
    ) async throws -> T {
        let pool = MCPPool(servers: servers, baseEnvironment: baseEnvironment, onStderr: onStderr)
        do {
            let result = try await body(pool)
            await pool.stopAll()
            return result
        } catch {
            await pool.stopAll()
            throw error
        }
    }
}
