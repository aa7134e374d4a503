import BatonEngine
import Foundation
import MCP
import SystemPackage
import Testing

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// The MCP client against the real reference servers from PyPI (scripts/setup-mcp.sh; scripts/test.sh exports
/// BATON_MCP_BIN) and a small server of our own written with the same venv's `mcp` package.
/// Serialized for the machine's sake, not the client's (it runs in parallel since 9e638c3): each test starts Python
/// servers (about 1 CPU-second each), and fifteen at once at the whole suite's start kept two cores busy for long
/// enough that other suites' deadlines passed (2026-12-07).
@Suite(
    .serialized, .enabled(if: MCPServers.bin != nil, "BATON_MCP_BIN is unset: run scripts/setup-mcp.sh (scripts/test.sh does)"))
struct MCPClientTests {
    // MARK: - mcp-server-time

    @Test("mcp-server-time lists get_current_time and convert_time with their read-only annotations")
    func listsTimeTools() async throws {
        try await MCPPool.with(servers: [MCPServers.time]) { pool in
            let connection = try await pool.connection("time")
            #expect(!connection.protocolVersion.isEmpty)
            let tools = try await pool.tools(server: "time")
            #expect(Set(tools.map(\.name)) == ["get_current_time", "convert_time"])
            for tool in tools {
                // mcp_server_time/server.py READ_ONLY: read-only, not destructive, idempotent, closed world.
                #expect(tool.readOnlyHint == true, "\(tool.name)")
                #expect(tool.destructiveHint == false, "\(tool.name)")
                #expect(tool.idempotentHint == true, "\(tool.name)")
                #expect(tool.openWorldHint == false, "\(tool.name)")
                #expect(tool.description?.isEmpty == false)
            }
            let getTime = try #require(tools.first { $0.name == "get_current_time" })
            #expect(getTime.inputSchema.objectValue?["properties"]?.objectValue?["timezone"] != nil)
        }
    }

    @Test("get_current_time {timezone: UTC} answers an ISO time within a minute of the clock")
    func currentTime() async throws {
        try await MCPPool.with(servers: [MCPServers.time]) { pool in
            let result = try await pool.call(server: "time", tool: "get_current_time", arguments: ["timezone": "UTC"])
            #expect(!result.isError)
            let answer = try JSONDecoder().decode([String: Value].self, from: Data(result.text.utf8))
            let text = try #require(answer["datetime"]?.stringValue)
            let formatter = ISO8601DateFormatter()
            formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
            let date = try #require(formatter.date(from: text) ?? ISO8601DateFormatter().date(from: text), "\(text)")
            #expect(abs(date.timeIntervalSinceNow) < 60, "\(text)")
            #expect(answer["timezone"]?.stringValue == "UTC")
            #expect(result.structured?.objectValue?["datetime"]?.stringValue == text)
        }
    }

    @Test("convert_time turns 12:00 UTC into 21:00 Asia/Tokyo (no daylight saving on either side); arguments as JSON text")
    func convertTime() async throws {
        try await MCPPool.with(servers: [MCPServers.time]) { pool in
            let result = try await pool.call(
                server: "time", tool: "convert_time",
                argumentsJSON: #"{"source_timezone": "UTC", "time": "12:00", "target_timezone": "Asia/Tokyo"}"#)
            #expect(!result.isError, "\(result.text)")
            let answer = try JSONDecoder().decode([String: Value].self, from: Data(result.text.utf8))
            let target = try #require(answer["target"]?.objectValue?["datetime"]?.stringValue, "\(result.text)")
            #expect(target.contains("T21:00:00+09:00"), "\(target)")
            let difference = answer["time_difference"]?.stringValue
            #expect(difference == "+9.0h", "\(result.text)")
        }
    }

    @Test("an unknown tool is a protocol error (-32602); an unknown timezone is a tool result with isError")
    func errors() async throws {
        try await MCPPool.with(servers: [MCPServers.time]) { pool in
            // mcp_server_time/server.py raises MCPError(code=INVALID_PARAMS, "Unknown tool: NAME").
            let unknown = await #expect(throws: MCPClientError.self) {
                try await pool.call(server: "time", tool: "no_such_tool", arguments: [:])
            }
            guard case .protocolError(let server, let tool, let code, let message) = unknown else {
                Issue.record("expected a protocol error, got \(String(describing: unknown))")
                return
            }
            #expect(server == "time" && tool == "no_such_tool" && code == -32602)
            #expect(message.contains("Unknown tool"), "\(message)")
            #expect("\(unknown!)".contains("'no_such_tool'"))

            // get_zoneinfo raises ToolError: the tool ran and failed, which the model may read.
            let bad = try await pool.call(server: "time", tool: "get_current_time", arguments: ["timezone": "Mars/Olympus"])
            #expect(bad.isError)
            #expect(bad.text.contains("Invalid timezone"), "\(bad.text)")

            let mistyped = try await pool.call(server: "time", tool: "get_current_time", arguments: ["timezone": 42])
            #expect(mistyped.isError, "\(mistyped.text)")

            // The connection survives refused calls.
            let good = try await pool.call(server: "time", tool: "get_current_time", arguments: ["timezone": "UTC"])
            #expect(!good.isError)
        }
    }

    // MARK: - mcp-server-git

    @Test("mcp-server-git on a temporary repository: git_status, then git_add and git_commit really change it")
    func gitWrites() async throws {
        let repository = try MCPServers.temporaryRepository()
        defer { try? FileManager.default.removeItem(atPath: repository) }
        try "hello\n".write(toFile: repository + "/notes.txt", atomically: true, encoding: .utf8)
        let git = MCPServerDefinition(
            name: "git", command: [MCPServers.bin! + "/mcp-server-git", "--repository", repository],
            environment: [
                "HOME": repository, "GIT_AUTHOR_NAME": "Baton", "GIT_AUTHOR_EMAIL": "baton@example.invalid",
                "GIT_COMMITTER_NAME": "Baton", "GIT_COMMITTER_EMAIL": "baton@example.invalid",
            ])
        try await MCPPool.with(servers: [git]) { pool in
            let tools = try await pool.tools(server: "git")
            let commit = try #require(tools.first { $0.name == "git_commit" })
            #expect(commit.readOnlyHint == false && commit.idempotentHint == false)
            #expect(tools.first { $0.name == "git_status" }?.readOnlyHint == true)

            let status = try await pool.call(server: "git", tool: "git_status", arguments: ["repo_path": .string(repository)])
            #expect(!status.isError && status.text.contains("notes.txt"), "\(status.text)")

            let add = try await pool.call(
                server: "git", tool: "git_add", arguments: ["repo_path": .string(repository), "files": ["notes.txt"]])
            #expect(!add.isError, "\(add.text)")
            let committed = try await pool.call(
                server: "git", tool: "git_commit",
                arguments: ["repo_path": .string(repository), "message": "added by an MCP call"],
                idempotencyKey: "0123456789abcdef0123456789abcdef")
            #expect(!committed.isError, "\(committed.text)")
        }
        let log = try MCPServers.git(["log", "--format=%s", "--name-only"], in: repository)
        #expect(log.contains("added by an MCP call") && log.contains("notes.txt"), "\(log)")
    }

    // MARK: - Our own server: environment, _meta, stderr, death, timeouts

    @Test("the server's environment is exactly its own plus PATH and LANG; the idempotency key arrives in _meta")
    func environmentAndMeta() async throws {
        setenv("BATON_MCP_CANARY", "sk-canary-must-not-leak", 1)
        defer { unsetenv("BATON_MCP_CANARY") }
        let fixture = try MCPServers.fixture(environment: ["FIXTURE_SETTING": "on"])
        try await MCPPool.with(servers: [fixture]) { pool in
            let result = try await pool.call(server: "fixture", tool: "environment")
            let environment = try JSONDecoder().decode([String: String].self, from: Data(result.text.utf8))
            #expect(Set(environment.keys) == ["FIXTURE_SETTING", "PATH", "LANG"], "\(environment)")
            #expect(environment["PATH"] == "/usr/bin:/bin" && environment["LANG"] == "C.UTF-8")
            #expect(!result.text.contains("sk-canary"))

            let meta = try await pool.call(server: "fixture", tool: "meta", idempotencyKey: "key-42")
            let fields = try JSONDecoder().decode([String: Value].self, from: Data(meta.text.utf8))
            #expect(fields[MCPConnection.idempotencyMetaKey]?.stringValue == "key-42", "\(meta.text)")
        }
    }

    @Test("stderr lines reach the callback with the server's name")
    func stderrLines() async throws {
        let lines = Locked<[String]>([])
        let fixture = try MCPServers.fixture()
        try await MCPPool.with(servers: [fixture], onStderr: { server, line in lines.withLock { $0.append("\(server): \(line)") } }) {
            pool in
            _ = try await pool.call(server: "fixture", tool: "sleep", arguments: ["seconds": 0.01])
        }
        // The reader thread may deliver the last line just after the server exits.
        let deadline = ContinuousClock.now + .seconds(30)
        while !lines.current.contains("fixture: sleeping 0.01"), ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(20))
        }
        #expect(lines.current.contains("fixture: fixture server starting"), "\(lines.current)")
        #expect(lines.current.contains("fixture: sleeping 0.01"), "\(lines.current)")
    }

    @Test("a server SIGKILLed while a call waits gives an error naming the server and the tool, quickly")
    func killedMidCall() async throws {
        let fixture = try MCPServers.fixture()
        try await MCPPool.with(servers: [fixture]) { pool in
            let connection = try await pool.connection("fixture")
            let pid = connection.processID
            let started = ContinuousClock.now
            let call = Task { try await pool.call(server: "fixture", tool: "sleep", arguments: ["seconds": 30]) }
            try await Task.sleep(for: .milliseconds(500))
            #expect(kill(pid, SIGKILL) == 0)
            let error = await #expect(throws: MCPClientError.self) { try await call.value }
            let elapsed = ContinuousClock.now - started
            guard case .serverDied(let server, let tool, let reason, _) = error else {
                Issue.record("expected serverDied, got \(String(describing: error))")
                return
            }
            #expect(server == "fixture" && tool == "sleep")
            #expect(reason.contains("signal 9"), "\(reason)")
            #expect("\(error!)".contains("'sleep'") && "\(error!)".contains("'fixture'"))
            #expect(elapsed < .seconds(10), "\(elapsed)")
            // The dead server is forgotten: the next use starts a new one.
            let again = try await pool.call(server: "fixture", tool: "sleep", arguments: ["seconds": 0])
            #expect(again.text == "slept")
            #expect(try await pool.connection("fixture").processID != pid)
        }
    }

    @Test("a server that dies while its connection is open leaves no thread spinning (no cooperative thread is starved)")
    func deadServerDoesNotSpin() async throws {
        let fixture = try MCPServers.fixture()
        try await MCPPool.with(servers: [fixture]) { pool in
            let connection = try await pool.connection("fixture")
            #expect(kill(connection.processID, SIGKILL) == 0)
            let deadline = ContinuousClock.now + .seconds(60)
            while await !connection.hasExited, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(20)) }
            #expect(await connection.hasExited)
            // swift-sdk 0.12.1's Client reads `transport.receive()` in a `repeat … while true` loop: once the stream
            // ended, every turn returns at once without suspending, so one cooperative thread spins until disconnect.
            let before = MCPServers.threadCPUTicks()
            try await Task.sleep(for: .seconds(1))
            let after = MCPServers.threadCPUTicks()
            let busiest = after.map { thread, ticks in ticks - (before[thread] ?? 0) }.max() ?? 0
            let perSecond = Int(sysconf(Int32(_SC_CLK_TCK)))
            #expect(busiest < perSecond / 2, "a thread used \(busiest) of \(perSecond) ticks in the second after the server died")
        }
    }

    @Test("a call past its timeout is cancelled and errors; the server keeps answering")
    func callTimeout() async throws {
        var fixture = try MCPServers.fixture()
        fixture.callTimeout = .milliseconds(500)
        try await MCPPool.with(servers: [fixture]) { pool in
            let error = await #expect(throws: MCPClientError.self) {
                try await pool.call(server: "fixture", tool: "sleep", arguments: ["seconds": 5])
            }
            guard case .callTimedOut(let server, let tool, _) = error else {
                Issue.record("expected callTimedOut, got \(String(describing: error))")
                return
            }
            #expect(server == "fixture" && tool == "sleep")
            let next = try await pool.call(server: "fixture", tool: "sleep", arguments: ["seconds": 0])
            #expect(next.text == "slept")
        }
    }

    @Test("a server that exits at startup gives an error quoting its stderr's last lines")
    func exitsAtStartup() async throws {
        let broken = MCPServerDefinition(
            name: "broken", command: ["/bin/sh", "-c", "echo 'loading config' >&2; echo 'fatal: no config file' >&2; exit 3"])
        let error = await #expect(throws: MCPClientError.self) {
            try await MCPPool.with(servers: [broken]) { pool in try await pool.tools(server: "broken") }
        }
        guard case .startupFailed(let server, let reason, let tail) = error else {
            Issue.record("expected startupFailed, got \(String(describing: error))")
            return
        }
        #expect(server == "broken" && reason.contains("status 3"), "\(reason)")
        #expect(tail == ["loading config", "fatal: no config file"])
        #expect("\(error!)".contains("| fatal: no config file"))
    }

    @Test("a server that writes non-JSON to stdout fails at startup, quoting the line and its stderr")
    func nonJSONStdout() async throws {
        let noisy = MCPServerDefinition(
            name: "noisy", command: ["/bin/sh", "-c", "echo 'server v1 ready' >&2; echo 'Hello, I am not JSON'; sleep 300"],
            startupTimeout: .seconds(240))
        let error = await #expect(throws: MCPClientError.self) {
            try await MCPPool.with(servers: [noisy]) { pool in try await pool.tools(server: "noisy") }
        }
        guard case .startupFailed(_, let reason, let tail) = error else {
            Issue.record("expected startupFailed, got \(String(describing: error))")
            return
        }
        #expect(reason.contains("Hello, I am not JSON"), "\(reason)")
        #expect(tail == ["server v1 ready"])
        // Not the startup timeout (240 s, which would be `startupTimedOut`): the bad line ended the wait. No wall-clock
        // bound: at the whole suite's start a loaded machine took 25 s (2026-12-07).
    }

    @Test("an executable that does not exist is a launch error naming the server")
    func missingExecutable() async throws {
        let missing = MCPServerDefinition(name: "ghost", command: ["/nonexistent/mcp-server"])
        let error = await #expect(throws: MCPClientError.self) {
            try await MCPPool.with(servers: [missing]) { pool in try await pool.tools(server: "ghost") }
        }
        guard case .launchFailed(let server, _) = error else {
            Issue.record("expected launchFailed, got \(String(describing: error))")
            return
        }
        #expect(server == "ghost")
    }

    @Test("the pool starts a server once and shares it; after stopAll() no server process or group member is left")
    func stopAllLeavesNothing() async throws {
        let pool = MCPPool(servers: [MCPServers.time, try MCPServers.fixture()])
        async let first = pool.connection("time")
        async let second = pool.connection("time")
        let (a, b) = try await (first, second)
        #expect(a === b)
        _ = try await pool.call(server: "fixture", tool: "sleep", arguments: ["seconds": 0])
        let pids = await pool.runningProcessIDs()
        #expect(pids.count == 2)
        for pid in pids { #expect(MCPServers.processes(inGroup: pid).contains(pid)) }
        // A call in flight while the pool stops must end, not hang.
        async let pending = pool.call(server: "fixture", tool: "sleep", arguments: ["seconds": 30])
        try await Task.sleep(for: .milliseconds(300))
        await pool.stopAll()
        await pool.stopAll()
        _ = try? await pending
        for pid in pids {
            #expect(MCPServers.processes(inGroup: pid).isEmpty, "group \(pid) still has processes")
            #expect(MCPServers.childStates(of: getpid())[pid] == nil, "\(pid) is still a child (a zombie?)")
        }
        await #expect(throws: MCPClientError.stopped(server: "time")) { try await pool.connection("time") }
    }

    // MARK: - Benchmark

    @Test(.enabled(if: ProcessInfo.processInfo.environment["BATON_BENCH"] == "1", "set BATON_BENCH=1 to time MCP calls"))
    func benchmarkWarmCall() async throws {
        let rounds = 200
        func median(_ samples: [Duration]) -> Duration { samples.sorted()[samples.count / 2] }
        // Through the pool.
        var pooled: [Duration] = []
        try await MCPPool.with(servers: [MCPServers.time]) { pool in
            for round in 0..<(rounds + 20) {
                let start = ContinuousClock.now
                _ = try await pool.call(server: "time", tool: "get_current_time", arguments: ["timezone": "UTC"])
                if round >= 20 { pooled.append(ContinuousClock.now - start) }
            }
        }
        // The SDK alone: the same server over the same kind of pipes, `Client.callTool` directly.
        var direct: [Duration] = []
        let bare = try MCPServers.BareServer(command: MCPServers.time.command)
        defer { bare.stop() }
        let client = Client(name: "bench", version: "1")
        try await client.connect(transport: bare.transport)
        for round in 0..<(rounds + 20) {
            let start = ContinuousClock.now
            let (_, _): ([Tool.Content], Bool?) = try await client.callTool(name: "get_current_time", arguments: ["timezone": "UTC"])
            if round >= 20 { direct.append(ContinuousClock.now - start) }
        }
        await client.disconnect()
        let pooledMedian = median(pooled)
        let directMedian = median(direct)
        print(
            "MCP warm call, get_current_time, \(rounds) calls: pool median \(pooledMedian), direct SDK median \(directMedian), "
                + "difference \(pooledMedian - directMedian); pool mean \(pooled.reduce(.zero, +) / rounds), direct mean \(direct.reduce(.zero, +) / rounds)"
        )
    }
}

/// The servers and process checks the tests share.
enum MCPServers {
    /// The bin folder of scripts/setup-mcp.sh's venv.
    static let bin = ProcessInfo.processInfo.environment["BATON_MCP_BIN"]

    /// mcp-server-time in UTC.
    static var time: MCPServerDefinition {
        MCPServerDefinition(name: "time", command: [bin! + "/mcp-server-time", "--local-timezone=UTC"])
    }

    /// Our own server, written to a temporary file (SwiftPM would warn about a .py file in the test target).
    static func fixture(environment: [String: String] = [:]) throws -> MCPServerDefinition {
        let path = NSTemporaryDirectory() + "baton-mcp-fixture-\(getpid()).py"
        try fixtureSource.write(toFile: path, atomically: true, encoding: .utf8)
        return MCPServerDefinition(name: "fixture", command: [bin! + "/python", path], environment: environment)
    }

    /// A stdio server written with the `mcp` package (2.x: MCPServer) of the same venv: a tool that sleeps (to kill
    /// the server mid-call), one returning its environment, one echoing the request's `_meta`, and stderr lines.
    static let fixtureSource = """
        import json, os, sys, time
        from mcp.server.mcpserver import Context, MCPServer

        server = MCPServer("baton-fixture")
        print("fixture server starting", file=sys.stderr, flush=True)

        @server.tool()
        def sleep(seconds: float) -> str:
            \"\"\"Sleep, then answer.\"\"\"
            print(f"sleeping {seconds}", file=sys.stderr, flush=True)
            time.sleep(seconds)
            return "slept"

        @server.tool()
        def environment() -> str:
            \"\"\"The server's whole environment as JSON.\"\"\"
            return json.dumps(dict(os.environ))

        @server.tool()
        def meta(ctx: Context) -> str:
            \"\"\"The request's _meta as JSON.\"\"\"
            meta = ctx.request_context.meta
            if meta is not None and hasattr(meta, "model_dump"):
                meta = meta.model_dump(by_alias=True)
            return json.dumps(meta, default=str)

        server.run()
        """

    static func temporaryRepository() throws -> String {
        let path = NSTemporaryDirectory() + "baton-mcp-git-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        _ = try git(["init", "-q", "-b", "main"], in: path)
        return path
    }

    @discardableResult
    static func git(_ arguments: [String], in folder: String) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/git")
        process.arguments = ["-C", folder] + arguments
        let output = Pipe()
        process.standardOutput = output
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return String(decoding: data, as: UTF8.self)
    }

    /// pid, state and process group of every process, from /proc/PID/stat.
    static func processTable() -> [(pid: pid_t, state: String, parent: pid_t, group: pid_t)] {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        return entries.compactMap { entry -> (pid_t, String, pid_t, pid_t)? in
            guard let pid = pid_t(entry),
                let stat = try? String(contentsOfFile: "/proc/\(entry)/stat", encoding: .utf8),
                let close = stat.lastIndex(of: ")")
            else { return nil }
            // After "pid (comm)": state ppid pgrp ...
            let fields = stat[stat.index(after: close)...].split(separator: " ")
            guard fields.count > 3, let parent = pid_t(fields[1]), let group = pid_t(fields[2]) else { return nil }
            return (pid, String(fields[0]), parent, group)
        }
    }

    static func processes(inGroup group: pid_t) -> [pid_t] {
        processTable().filter { $0.group == group }.map(\.pid)
    }

    /// CPU time (user + system, in clock ticks) of each thread of this process, from /proc/self/task/TID/stat.
    static func threadCPUTicks() -> [String: Int] {
        let threads = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/task")) ?? []
        var ticks: [String: Int] = [:]
        for thread in threads {
            guard let stat = try? String(contentsOfFile: "/proc/self/task/\(thread)/stat", encoding: .utf8),
                let close = stat.lastIndex(of: ")")
            else { continue }
            // After "tid (comm)": field 3 is the state, so utime (14) and stime (15) are at 11 and 12.
            let fields = stat[stat.index(after: close)...].split(separator: " ")
            guard fields.count > 12, let user = Int(fields[11]), let system = Int(fields[12]) else { continue }
            ticks[thread] = user + system
        }
        return ticks
    }

    /// The children of `parent` with their state letter (Z for a zombie).
    static func childStates(of parent: pid_t) -> [pid_t: String] {
        Dictionary(processTable().filter { $0.parent == parent }.map { ($0.pid, $0.state) }, uniquingKeysWith: { a, _ in a })
    }

    /// A server spawned with Foundation's Process and plain pipes, for the benchmark's direct SDK client.
    final class BareServer: @unchecked Sendable {
        let process = Process()
        let toServer = Pipe()
        let fromServer = Pipe()
        let transport: MCPStdioTransport

        init(command: [String]) throws {
            process.executableURL = URL(fileURLWithPath: command[0])
            process.arguments = Array(command.dropFirst())
            process.environment = MCPPool.defaultBaseEnvironment
            process.standardInput = toServer
            process.standardOutput = fromServer
            process.standardError = FileHandle.nullDevice
            try process.run()
            // Our transport, as the pool uses: the difference measured is then the pool's and the connection's own.
            transport = MCPStdioTransport(
                input: .init(rawValue: dup(fromServer.fileHandleForReading.fileDescriptor)),
                output: .init(rawValue: toServer.fileHandleForWriting.fileDescriptor))
        }

        func stop() {
            // Not terminate() + waitUntilExit(): mcp-server-time outlived SIGTERM here, and Foundation's wait spun its
            // run loop on a cooperative thread for good (the benchmark never returned). SIGKILL, then reap it ourselves.
            try? toServer.fileHandleForWriting.close()
            _ = kill(process.processIdentifier, SIGKILL)
            var status: Int32 = 0
            _ = waitpid(process.processIdentifier, &status, 0)
        }
    }
}
