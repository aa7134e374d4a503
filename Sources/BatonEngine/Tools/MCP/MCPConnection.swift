import Foundation
import Logging
import MCP
import Subprocess
import SystemPackage

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// One running MCP server: its process (in its own process group), swift-sdk's `Client` over the process's stdio
/// pipes, and the server's stderr handed line by line to a callback.
///
/// Every request races the server's death, a broken protocol and its timeout, so a caller never hangs: the SDK
/// leaves a request pending forever when the server's stdout closes, hence the watch on the process (ServerWatch).
/// The transport is our own (MCPStdioTransport.swift says why swift-sdk's stalled the cooperative pool).
public actor MCPConnection {
    /// The `_meta` key that carries a call's idempotency key (the spec lets clients add their own prefixed keys).
    public static let idempotencyMetaKey = "dev.baton/idempotency-key"

    /// The definition the server was started from.
    public nonisolated let definition: MCPServerDefinition
    /// The server's process id, which is also its process group id.
    public nonisolated let processID: pid_t
    /// The protocol version the server agreed to in `initialize`.
    public nonisolated let protocolVersion: String
    /// The server's name and version as it reported them.
    public nonisolated let serverInfo: String

    private let client: Client
    private let watch: ServerWatch
    private let stdinWrite: FileDescriptor
    private let process: Task<Void, Never>
    private var cachedTools: [MCPToolInfo]?
    private var stopped = false

    private init(
        definition: MCPServerDefinition, processID: pid_t, protocolVersion: String, serverInfo: String, client: Client,
        watch: ServerWatch, stdinWrite: FileDescriptor, process: Task<Void, Never>
    ) {
        self.definition = definition
        self.processID = processID
        self.protocolVersion = protocolVersion
        self.serverInfo = serverInfo
        self.client = client
        self.watch = watch
        self.stdinWrite = stdinWrite
        self.process = process
    }

    // MARK: - Start

    /// Starts the server and completes `initialize` (the SDK negotiates the protocol version).
    ///
    /// - Parameters:
    ///   - definition: the server to start.
    ///   - baseEnvironment: PATH and LANG (and nothing secret): added under the definition's own environment.
    ///   - onStderr: receives each line the server writes to stderr, on a thread of its own.
    /// - Throws: `MCPClientError.launchFailed`, `.startupFailed` (quoting the last stderr lines) or `.startupTimedOut`.
    public static func start(
        _ definition: MCPServerDefinition,
        baseEnvironment: [String: String] = MCPPool.defaultBaseEnvironment,
        onStderr: @escaping @Sendable (String) -> Void = { _ in }
    ) async throws -> MCPConnection {
        guard let executable = definition.command.first, !executable.isEmpty else {
            throw MCPClientError.launchFailed(server: definition.name, reason: "its command is empty")
        }
        // A write to the stdin of a server that just died must be an error, not a SIGPIPE that kills Baton.
        _ = signal(SIGPIPE, SIG_IGN)

        let toChild = try makePipe(definition.name)
        let fromChild = try makePipe(definition.name)
        let errors = try makePipe(definition.name)
        let watch = ServerWatch()

        var environment: [Environment.Key: String] = [:]
        for (key, value) in baseEnvironment.merging(definition.environment, uniquingKeysWith: { _, own in own }) {
            if let key = Environment.Key(rawValue: key) { environment[key] = value }
        }
        var options = PlatformOptions()
        options.processGroupID = 0  // its own group, so shutdown reaches whatever the server spawns
        let launch = OneShot<LaunchOutcome>()
        let process = Task.detached {
            do {
                let result = try await Subprocess.run(
                    executable.contains("/") ? .path(FilePath(executable)) : .name(executable),
                    arguments: Arguments(Array(definition.command.dropFirst())),
                    environment: .custom(environment),
                    workingDirectory: definition.workingDirectory.map { FilePath($0) },
                    platformOptions: options,
                    input: .fileDescriptor(toChild.read, closeAfterSpawningProcess: true),
                    output: .fileDescriptor(fromChild.write, closeAfterSpawningProcess: true),
                    error: .fileDescriptor(errors.write, closeAfterSpawningProcess: true)
                ) { execution in
                    launch.fire(.started(execution.processIdentifier.value))
                }
                watch.processExited(describe(result.terminationStatus))
            } catch {
                launch.fire(.failed("\(error)"))
                watch.processExited("could not be started")
            }
        }
        guard case .started(let pid) = await launch.wait() ?? .failed("cancelled") else {
            let reason: String
            if case .failed(let text) = launch.value { reason = text } else { reason = "cancelled" }
            for descriptor in [toChild.write, fromChild.read, errors.read] { try? descriptor.close() }
            await process.value
            throw MCPClientError.launchFailed(server: definition.name, reason: reason)
        }
        watch.readStderr(errors.read, onLine: onStderr)

        let logger = Logger(label: "baton.mcp.\(definition.name)") { _ in
            ProtocolViolationHandler { watch.failure.fire($0) }
        }
        let transport = MCPStdioTransport(input: fromChild.read, output: toChild.write, logger: logger) { watch.stdoutClosed() }
        let client = Client(name: "baton", version: "1")
        let outcome: RaceOutcome<Initialize.Result>
        do {
            outcome = try await race(timeout: definition.startupTimeout, watch: watch) {
                try await client.connect(transport: transport)
            } abort: { _ in
                await client.disconnect()
            }
        } catch {
            // A server that exits at once makes `initialize` fail with a broken pipe; its exit says more.
            let exited = await watch.exited.wait(upTo: .seconds(1)) ? watch.exited.value : nil
            await abandon(pid: pid, stdin: toChild.write, client: client, watch: watch, process: process)
            throw MCPClientError.startupFailed(
                server: definition.name, reason: exited ?? "initialize failed: \(errorText(error))", stderrTail: await watch.finalTail())
        }
        switch outcome {
        case .value(let result):
            return MCPConnection(
                definition: definition, processID: pid, protocolVersion: result.protocolVersion,
                serverInfo: "\(result.serverInfo.name) \(result.serverInfo.version)", client: client, watch: watch,
                stdinWrite: toChild.write, process: process)
        case .failed(let reason):
            await abandon(pid: pid, stdin: toChild.write, client: client, watch: watch, process: process)
            throw MCPClientError.startupFailed(server: definition.name, reason: reason, stderrTail: await watch.finalTail())
        case .timedOut:
            await abandon(pid: pid, stdin: toChild.write, client: client, watch: watch, process: process)
            throw MCPClientError.startupTimedOut(
                server: definition.name, timeout: definition.startupTimeout, stderrTail: await watch.finalTail())
        case .cancelled:
            await abandon(pid: pid, stdin: toChild.write, client: client, watch: watch, process: process)
            throw CancellationError()
        }
    }

    // MARK: - Requests

    /// The server's tools (all pages of `tools/list`), asked once and remembered.
    public func tools() async throws -> [MCPToolInfo] {
        if let cachedTools { return cachedTools }
        var tools: [MCPToolInfo] = []
        var cursor: String?
        repeat {
            let request = ListTools.request(cursor.map { ListTools.Parameters(cursor: $0) } ?? ListTools.Parameters())
            let result = try await perform(request, tool: nil)
            tools += result.tools.map(MCPToolInfo.init)
            cursor = result.nextCursor
        } while cursor != nil
        cachedTools = tools
        return tools
    }

    /// Calls a tool and returns its content; a failure the tool reports comes back with `isError` set.
    ///
    /// - Parameters:
    ///   - tool: the tool's name.
    ///   - arguments: its arguments (a JSON object).
    ///   - idempotencyKey: sent in the request's `_meta` under `idempotencyMetaKey`, so a server may dedupe a retry.
    /// - Throws: `MCPClientError.protocolError` when the server refuses the request (unknown tool, invalid
    ///   arguments), `.callTimedOut` after the call timeout (the request is cancelled with
    ///   `notifications/cancelled`), `.serverDied` when the server exits or breaks the protocol during the call.
    public func call(_ tool: String, arguments: [String: Value] = [:], idempotencyKey: String? = nil) async throws -> MCPCallResult {
        let meta = idempotencyKey.map { Metadata(additionalFields: [Self.idempotencyMetaKey: .string($0)]) }
        let request = CallTool.request(CallTool.Parameters(name: tool, arguments: arguments, meta: meta))
        return MCPCallResult(try await perform(request, tool: tool))
    }

    /// Calls a tool whose arguments are JSON text (what a template renders).
    public func call(_ tool: String, argumentsJSON: String, idempotencyKey: String? = nil) async throws -> MCPCallResult {
        let arguments: [String: Value]
        do {
            arguments = try JSONDecoder().decode([String: Value].self, from: Data(argumentsJSON.utf8))
        } catch {
            throw MCPClientError.invalidArguments(server: definition.name, tool: tool, reason: errorText(error))
        }
        return try await call(tool, arguments: arguments, idempotencyKey: idempotencyKey)
    }

    private func perform<M: MCP.Method>(_ request: Request<M>, tool: String?) async throws -> M.Result {
        let server = definition.name
        if stopped { throw MCPClientError.stopped(server: server) }
        if let reason = watch.failure.value {
            throw MCPClientError.serverDied(server: server, tool: tool, reason: reason, stderrTail: watch.tail)
        }
        let context: RequestContext<M.Result>
        do {
            context = try await client.send(request)
        } catch {
            throw MCPClientError.serverDied(
                server: server, tool: tool, reason: "could not be sent a request: \(errorText(error))",
                stderrTail: watch.tail)
        }
        let client = self.client
        let outcome: RaceOutcome<M.Result>
        do {
            outcome = try await Self.race(timeout: definition.callTimeout, watch: watch) {
                try await context.value
            } abort: { outcome in
                if case .failed = outcome {
                    await client.disconnect()
                } else {
                    // Cancellation is advisory: the SDK forgets the request and tells the server to stop.
                    try? await client.cancelRequest(context.requestID, reason: "Baton stopped waiting for this call")
                }
            }
        } catch let error as MCPError {
            if let reason = watch.failure.value {
                throw MCPClientError.serverDied(server: server, tool: tool, reason: reason, stderrTail: await watch.finalTail())
            }
            throw MCPClientError.protocolError(server: server, tool: tool, code: error.code, message: errorText(error))
        }
        switch outcome {
        case .value(let result):
            return result
        case .failed(let reason):
            throw MCPClientError.serverDied(server: server, tool: tool, reason: reason, stderrTail: await watch.finalTail())
        case .timedOut:
            throw MCPClientError.callTimedOut(server: server, tool: tool ?? request.method, timeout: definition.callTimeout)
        case .cancelled:
            throw CancellationError()
        }
    }

    // MARK: - Shutdown

    /// Stops the server in the spec's order: close its stdin, wait up to 2 s, SIGTERM its group, 2 s, SIGKILL;
    /// the process is always reaped before this returns. Calling it again does nothing.
    public func stop() async {
        if stopped { return }
        stopped = true
        let (pid, stdin, client, watch, process) = (processID, stdinWrite, self.client, self.watch, self.process)
        // A detached task: stopping must finish even when the run that asks for it was cancelled.
        await Task.detached {
            await Self.abandon(pid: pid, stdin: stdin, client: client, watch: watch, process: process)
        }.value
    }

    /// Whether the server process has exited (and was reaped).
    public var hasExited: Bool { watch.exited.value != nil }

    /// Shuts the server down; disconnecting the client stops the transport's reader, which closes the stdout pipe.
    private static func abandon(
        pid: pid_t, stdin: FileDescriptor, client: Client, watch: ServerWatch, process: Task<Void, Never>
    ) async {
        try? stdin.close()
        if await !watch.exited.wait(upTo: .seconds(2)) {
            _ = kill(-pid, SIGTERM)
            if await !watch.exited.wait(upTo: .seconds(2)) {
                _ = kill(-pid, SIGKILL)
            }
        }
        await process.value
        await client.disconnect()
    }

    // MARK: - Racing a request against the server

    private enum LaunchOutcome: Sendable {
        case started(pid_t)
        case failed(String)
    }

    enum RaceOutcome<T: Sendable>: Sendable {
        case value(T)
        case failed(String)
        case timedOut
        case cancelled
    }

    /// Runs `operation` until it returns, the server fails, the timeout passes or the task is cancelled; in the
    /// last three cases `abort` must unblock the operation (the SDK's continuations ignore task cancellation).
    static func race<T: Sendable>(
        timeout: Duration, watch: ServerWatch,
        _ operation: @escaping @Sendable () async throws -> T,
        abort: @escaping @Sendable (RaceOutcome<T>) async -> Void
    ) async throws -> RaceOutcome<T> {
        try await withThrowingTaskGroup(of: RaceOutcome<T>?.self) { group in
            group.addTask { .value(try await operation()) }
            group.addTask { await watch.failure.wait().map { .failed($0) } }
            group.addTask {
                try? await Task.sleep(for: timeout)
                return Task.isCancelled ? nil : .timedOut
            }
            while let next = try await group.next() {
                guard let outcome = next else {
                    if Task.isCancelled {
                        await abort(.cancelled)
                        group.cancelAll()
                        return .cancelled
                    }
                    continue
                }
                if case .value = outcome {} else { await abort(outcome) }
                group.cancelAll()
                return outcome
            }
            return .cancelled
        }
    }

    // MARK: - Helpers

    private static func makePipe(_ server: String) throws -> (read: FileDescriptor, write: FileDescriptor) {
        var fds: [Int32] = [0, 0]
        // pipe2(O_CLOEXEC) is not visible through Glibc's module map, hence the (short) window before fcntl.
        let status = pipe(&fds)
        if status == 0 { for fd in fds { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) } }
        guard status == 0 else {
            throw MCPClientError.launchFailed(server: server, reason: "pipe() failed: \(String(cString: strerror(errno)))")
        }
        // Close-on-exec: a process someone else spawns meanwhile must not hold our ends open (the server would
        // then never see its stdin close).
        return (FileDescriptor(rawValue: fds[0]), FileDescriptor(rawValue: fds[1]))
    }

    private static func describe(_ status: TerminationStatus) -> String {
        switch status {
        case .exited(let code): return "exited with status \(code)"
        case .signaled(let signal): return "was killed by signal \(signal)"
        }
    }
}

func errorText(_ error: any Error) -> String {
    if let error = error as? MCPError { return error.errorDescription ?? "\(error)" }
    return "\(error)"
}
