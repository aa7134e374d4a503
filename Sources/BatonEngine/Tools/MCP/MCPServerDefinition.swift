import BatonSpec
import Foundation
import MCP

/// How to start one MCP server over stdio: its argv, its exact environment, where it runs and how long to wait for it.
public struct MCPServerDefinition: Sendable, Hashable {
    /// The name pipelines use for the server (`mcp: {server: NAME}`); errors name it.
    public var name: String
    /// The argv: an executable (a path, or a name looked up on the PATH the caller gives) and its arguments.
    public var command: [String]
    /// The server's whole environment apart from PATH and LANG: nothing of Baton's own environment is inherited,
    /// so API keys never reach a server.
    public var environment: [String: String]
    /// The folder the server starts in; nil keeps Baton's.
    public var workingDirectory: String?
    /// How long the process may take to answer `initialize`.
    public var startupTimeout: Duration
    /// How long one `tools/call` may take before it is cancelled.
    public var callTimeout: Duration

    /// A definition with the issue's defaults (startup 20 s, call 60 s).
    public init(
        name: String,
        command: [String],
        environment: [String: String] = [:],
        workingDirectory: String? = nil,
        startupTimeout: Duration = .seconds(20),
        callTimeout: Duration = .seconds(60)
    ) {
        self.name = name
        self.command = command
        self.environment = environment
        self.workingDirectory = workingDirectory
        self.startupTimeout = startupTimeout
        self.callTimeout = callTimeout
    }
}

/// One tool a server lists: what the model or the author sees, and the server's (untrusted) hints about effects.
public struct MCPToolInfo: Sendable, Hashable {
    /// The tool's name as `tools/call` takes it.
    public var name: String
    /// The server's description of the tool, if any.
    public var description: String?
    /// The JSON schema of the tool's arguments.
    public var inputSchema: Value
    /// `readOnlyHint`: the tool does not change its environment (nil when the server says nothing).
    public var readOnlyHint: Bool?
    /// `destructiveHint`: a change may destroy something (the spec's default when unset is true).
    public var destructiveHint: Bool?
    /// `idempotentHint`: repeating a call with the same arguments has no further effect (spec default false).
    public var idempotentHint: Bool?
    /// `openWorldHint`: the tool reaches outside entities (spec default true).
    public var openWorldHint: Bool?

    /// A tool description as listed by a server.
    public init(
        name: String, description: String?, inputSchema: Value,
        readOnlyHint: Bool? = nil, destructiveHint: Bool? = nil, idempotentHint: Bool? = nil, openWorldHint: Bool? = nil
    ) {
        self.name = name
        self.description = description
        self.inputSchema = inputSchema
        self.readOnlyHint = readOnlyHint
        self.destructiveHint = destructiveHint
        self.idempotentHint = idempotentHint
        self.openWorldHint = openWorldHint
    }

    init(_ tool: Tool) {
        self.init(
            name: tool.name, description: tool.description, inputSchema: tool.inputSchema,
            readOnlyHint: tool.annotations.readOnlyHint, destructiveHint: tool.annotations.destructiveHint,
            idempotentHint: tool.annotations.idempotentHint, openWorldHint: tool.annotations.openWorldHint)
    }
}

/// What a `tools/call` answered: its text, its structured content when the server sent some, and whether the tool failed.
public struct MCPCallResult: Sendable, Hashable {
    /// The text parts of the content joined by newlines (images, audio and resources are named, not inlined).
    public var text: String
    /// `structuredContent`, when the server sent it.
    public var structured: Value?
    /// `isError`: the tool ran and reported a failure (a protocol error is thrown instead).
    public var isError: Bool

    /// A result as the server sent it.
    public init(text: String, structured: Value?, isError: Bool) {
        self.text = text
        self.structured = structured
        self.isError = isError
    }

    init(_ result: CallTool.Result) {
        let parts = result.content.map { content -> String in
            switch content {
            case .text(let text, _, _): return text
            case .image(_, let mimeType, _, _): return "[image \(mimeType)]"
            case .audio(_, let mimeType, _, _): return "[audio \(mimeType)]"
            case .resource(let resource, _, _): return resource.text ?? "[resource \(resource.uri)]"
            case .resourceLink(let uri, _, _, _, _, _): return "[resource link \(uri)]"
            }
        }
        self.init(text: parts.joined(separator: "\n"), structured: result.structuredContent, isError: result.isError ?? false)
    }
}

/// Why talking to an MCP server failed; every message names the server (and the tool when there is one).
public enum MCPClientError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The process could not be spawned at all (no such executable, bad folder).
    case launchFailed(server: String, reason: String)
    /// The process exited, or broke the stdio protocol, before `initialize` was answered.
    case startupFailed(server: String, reason: String, stderrTail: [String])
    /// `initialize` was not answered within the startup timeout.
    case startupTimedOut(server: String, timeout: Duration, stderrTail: [String])
    /// The server exited (or broke the protocol) while a request waited.
    case serverDied(server: String, tool: String?, reason: String, stderrTail: [String])
    /// A call took longer than the call timeout and was cancelled.
    case callTimedOut(server: String, tool: String, timeout: Duration)
    /// The server answered the request with a JSON-RPC error (unknown tool, invalid arguments, ...).
    case protocolError(server: String, tool: String?, code: Int?, message: String)
    /// The arguments given as JSON text are not a JSON object.
    case invalidArguments(server: String, tool: String, reason: String)
    /// No server of that name is defined.
    case unknownServer(String)
    /// The connection or pool was stopped; a new run starts servers again.
    case stopped(server: String)

    /// The error in one paragraph, with the server's last stderr lines when they help.
    public var description: String {
        func tail(_ lines: [String]) -> String {
            lines.isEmpty ? " (its stderr was empty)" : "; its stderr ended with:\n" + lines.map { "  | " + $0 }.joined(separator: "\n")
        }
        switch self {
        case .launchFailed(let server, let reason):
            return "MCP server '\(server)' could not be started: \(reason); check its `command`"
        case .startupFailed(let server, let reason, let lines):
            return "MCP server '\(server)' failed at startup: \(reason)\(tail(lines))"
        case .startupTimedOut(let server, let timeout, let lines):
            return
                "MCP server '\(server)' did not answer `initialize` within \(timeout); raise `startup_timeout` or check the server\(tail(lines))"
        case .serverDied(let server, let tool, let reason, let lines):
            let during = tool.map { "during a call of tool '\($0)'" } ?? "while a request waited"
            return "MCP server '\(server)' \(reason) \(during)\(tail(lines))"
        case .callTimedOut(let server, let tool, let timeout):
            return
                "MCP tool '\(tool)' on server '\(server)' did not answer within \(timeout) and was cancelled; raise `call_timeout` if it needs longer"
        case .protocolError(let server, let tool, let code, let message):
            let codeText = code.map { " \($0)" } ?? ""
            return
                "MCP server '\(server)' refused \(tool.map { "a call of tool '\($0)'" } ?? "a request") with error\(codeText): \(message)"
        case .invalidArguments(let server, let tool, let reason):
            return "the arguments for MCP tool '\(tool)' on server '\(server)' are not a JSON object: \(reason)"
        case .unknownServer(let server):
            return "no MCP server named '\(server)' is defined; add it under `mcp_servers:`"
        case .stopped(let server):
            return "MCP server '\(server)' was already stopped"
        }
    }
}

extension MCPToolInfo {
    /// The input schema as Baton's JSON value (object keys sorted), for code that does not import the MCP SDK.
    public var inputSchemaJSON: JSONValue { JSONValue(mcp: inputSchema) }
}

extension JSONValue {
    /// The same JSON as an MCP SDK value; object keys sorted, binary data as a `data:` URL string.
    public init(mcp value: Value) {
        switch value {
        case .null: self = .null
        case .bool(let bool): self = .bool(bool)
        case .int(let int): self = .number(Double(int))
        case .double(let double): self = .number(double)
        case .string(let string): self = .string(string)
        case .data(let mimeType, let data):
            self = .string("data:\(mimeType ?? "application/octet-stream");base64,\(data.base64EncodedString())")
        case .array(let values): self = .array(values.map(JSONValue.init(mcp:)))
        case .object(let fields): self = .object(fields.keys.sorted().map { (key: $0, value: JSONValue(mcp: fields[$0]!)) })
        }
    }
}
