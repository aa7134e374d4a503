import BatonSpec
import Foundation
import MCP

/// What a call returned, before it is judged.
struct ToolRawResult {
    var output: String
    var failure: String?
    var exitCode: Int?
    var httpStatus: Int?
    var stderr: String?
    var structured: String?
    var truncated = false
}

/// Making a prepared tool call with the runners (ProcessTool, HTTPTool, the run's MCPPool), within its timeout.
extension Executor {
    // MARK: - Running

    func timeout(_ prepared: PreparedToolCall, owner: PlannedStage) -> Double {
        (prepared.definition ?? owner).settings.timeout ?? defaultToolTimeout
    }

    /// Runs the call. A refused exit code or status, a timeout, a tool error or a call that could not start is a
    /// result with `failure`, so the intent gets its result row; cancellation is thrown (the intent stays: the call
    /// may have happened).
    func execute(_ prepared: PreparedToolCall, key: String, owner: PlannedStage, state: RunState) async throws -> ToolRawResult {
        let timeout = timeout(prepared, owner: owner)
        switch prepared.action {
        case .run(let executable, let arguments, let stdin, let cwd, let env, let step):
            let work: String
            do {
                let scratch = try ToolEnvironment.workFolder(runID: state.runID, databasePath: store.path)
                work = cwd.map { $0.hasPrefix("/") ? $0 : scratch + "/" + $0 } ?? scratch
            } catch {
                return ToolRawResult(output: "", failure: "its working folder cannot be created: \(error.localizedDescription)")
            }
            let request = ProcessToolRequest(
                executable: executable, arguments: arguments, stdin: stdin, workingDirectory: work,
                environment: ToolEnvironment.environment(
                    runID: state.runID, stage: prepared.definition?.name ?? owner.name, idempotencyKey: key, extra: env),
                timeout: timeout, stdoutCap: Int(clamping: step.maxOutput.bytes))
            let result: ProcessToolResult
            do {
                result = try await ProcessTool.run(request)
            } catch let error as ProcessToolError {
                return ToolRawResult(output: "", failure: error.message)
            } catch let error where !(error is CancellationError) {
                return ToolRawResult(output: "", failure: "`\(prepared.detail)` could not run: \(error)")
            }
            var raw = ToolRawResult(
                output: result.stdout, exitCode: result.exitCode.map(Int.init), stderr: result.stderr, truncated: result.stdoutTruncated)
            let command = prepared.detail
            if result.timedOut {
                raw.failure =
                    "`\(command)` did not finish within \(Self.seconds(timeout)) and was stopped (its process group got SIGTERM, then "
                    + "SIGKILL); raise the stage's timeout"
            } else if let code = result.exitCode {
                if !step.exitCodes.contains(Int(code)) {
                    raw.failure =
                        "`\(command)` exited with code \(code) (accepted: \(step.exitCodes.map(String.init).joined(separator: ", "))); "
                        + "fix the command or add \(code) to exit_codes" + Self.tail(result.stderr)
                }
            } else if case .signaled(let signal) = result.termination {
                raw.failure = "`\(command)` was killed by signal \(signal)" + Self.tail(result.stderr)
            }
            return raw
        case .http(let method, let url, let headers, let body, let spec):
            var sent = headers.map { HTTPToolHeader($0.0, $0.1) }
            if !sent.contains(where: { $0.name.lowercased() == "idempotency-key" }) { sent.append(HTTPToolHeader("Idempotency-Key", key)) }
            let request = HTTPToolRequest(
                method: method, url: url, headers: sent, body: body,
                allowedHosts: HTTPToolRequest.loopbackHosts + (spec.allowHosts ?? []), timeout: timeout,
                responseCap: Int(clamping: (spec.maxResponse ?? ByteCount(bytes: 1 << 20)).bytes))
            let result: HTTPToolResult
            do {
                result = try await HTTPTool.run(request)
            } catch let error as HTTPToolError {
                return ToolRawResult(output: "", failure: error.message)
            } catch let error where !(error is CancellationError) {
                return ToolRawResult(output: "", failure: "\(method) \(url) failed: \(error)")
            }
            var raw = ToolRawResult(output: result.body, httpStatus: result.status, truncated: result.truncated)
            if result.status >= 400, !(spec.acceptStatus ?? []).contains(result.status) {
                let head = result.body.prefix(500)
                raw.failure =
                    "\(method) \(url) answered HTTP \(result.status)"
                    + (head.isEmpty ? " with an empty body" : "; the body began: \(StageResult.excerpt(String(head)))")
                    + "; add \(result.status) to accept_status if that answer is expected"
            }
            return raw
        case .mcp(let server, let tool, let arguments, let typed):
            guard let pool = state.mcpPool, let spec = state.snapshot.plan.mcpServers?.first(where: { $0.name == server }) else {
                return ToolRawResult(
                    output: "", failure: "no MCP server '\(server)' is declared; add it under mcp_servers in the pipeline or the profile")
            }
            if let allowed = spec.allowTools, !allowed.contains(tool) {
                return ToolRawResult(
                    output: "",
                    failure:
                        "tool '\(tool)' of MCP server '\(server)' is not in its 'allow_tools' (\(allowed.map { "'\($0)'" }.joined(separator: ", "))); add it there to allow it"
                )
            }
            do {
                let values = typed ? arguments : try await typedArguments(arguments, server: server, tool: tool, pool: pool)
                let json = Self.canonicalJSON(.object(values))
                let result = try await Self.within(seconds: timeout, what: "\(server).\(tool)") {
                    try await pool.call(server: server, tool: tool, argumentsJSON: json, idempotencyKey: key)
                }
                var raw = ToolRawResult(output: result.text)
                if result.isError {
                    raw.failure = "\(server).\(tool) reported an error: \(StageResult.excerpt(result.text))"
                } else if prepared.definition?.output.format == .json, let structured = result.structured,
                    let data = try? JSONEncoder().encode(structured)
                {
                    raw.structured = String(decoding: data, as: UTF8.self)
                }
                return raw
            } catch let error as MCPClientError {
                return ToolRawResult(output: "", failure: error.description)
            } catch let error as ToolTimeout {
                return ToolRawResult(output: "", failure: error.message)
            } catch let error where !(error is CancellationError) {
                return ToolRawResult(output: "", failure: "\(server).\(tool) failed: \(error)")
            }
        }
    }

    /// Rendered MCP arguments typed by the tool's input schema: a property the schema says is a number, integer,
    /// boolean, array or object is parsed as JSON (left a string when it does not parse); the rest stay strings.
    func typedArguments(
        _ arguments: [(key: String, value: JSONValue)], server: String, tool: String, pool: MCPPool
    ) async throws -> [(key: String, value: JSONValue)] {
        let schema = try await pool.tools(server: server).first { $0.name == tool }?.inputSchema
        let properties = schema?.objectValue?["properties"]?.objectValue ?? [:]
        return arguments.map { pair in
            guard case .string(let text) = pair.value, let type = properties[pair.key]?.objectValue?["type"]?.stringValue,
                type != "string",
                let parsed = OrderedJSON.parse(text)
            else { return pair }
            return (pair.key, parsed)
        }
    }

    struct ToolTimeout: Error {
        var message: String
    }

    /// Runs `body`, cancelling it after `seconds`.
    static func within<T: Sendable>(seconds: Double, what: String, _ body: @escaping @Sendable () async throws -> T) async throws -> T {
        try await withThrowingTaskGroup(of: T?.self) { group in
            group.addTask { try await body() }
            group.addTask {
                try await Task.sleep(for: .milliseconds(Int64(seconds * 1000)))
                return nil
            }
            defer { group.cancelAll() }
            guard let first = try await group.next(), let value = first else {
                throw ToolTimeout(message: "\(what) did not answer within \(Self.seconds(seconds)); raise the stage's timeout")
            }
            return value
        }
    }

    /// The last lines of stderr, for the end of a failure message.
    static func tail(_ stderr: String) -> String {
        let lines = stderr.split(separator: "\n", omittingEmptySubsequences: true).suffix(10)
        guard !lines.isEmpty else { return " (its stderr was empty)" }
        return ". Its stderr ended with:\n" + lines.map { "  | " + $0.prefix(300) }.joined(separator: "\n")
    }

    // MARK: - MCP servers

    /// The run's MCP pool: the plan's servers, started on first use, each stderr line an `mcp-stderr` event.
    func mcpPool(for plan: ExecutionPlan, runID: String) -> MCPPool? {
        guard let servers = plan.mcpServers, !servers.isEmpty else { return nil }
        let work = try? ToolEnvironment.workFolder(runID: runID, databasePath: store.path)
        let definitions = servers.map { spec in
            MCPServerDefinition(
                name: spec.name, command: spec.command, environment: spec.env ?? [:], workingDirectory: work,
                startupTimeout: .milliseconds(Int64((spec.startupTimeout ?? 20) * 1000)),
                callTimeout: .milliseconds(Int64((spec.callTimeout ?? defaultToolTimeout) * 1000)))
        }
        let (store, observer) = (self.store, self.observer)
        return MCPPool(servers: definitions, baseEnvironment: ToolEnvironment.base) { server, line in
            let payload = (try? Self.encode(["server": server, "line": line])) ?? "{}"
            try? store.appendEvent(runID, kind: .mcpStderr, payload: payload)
            observer(.tool(.mcpStderr(server: server, line: line)))
        }
    }
}
