/// The kinds of tool stage: a command (`run`), an HTTP request (`http`) or a call to a tool on an MCP server (`mcp`).
public enum ToolKind: String, Sendable, Hashable, Codable, CaseIterable {
    /// A command run as an argument list.
    case run
    /// An HTTP request.
    case http
    /// A tool on an MCP server.
    case mcp
}

/// What a tool stage's call may change in the world, which decides what resume does with a call that was started
/// but whose result was never recorded (docs/pipeline-format.md, "Tool stages").
public enum ToolEffects: String, Sendable, Hashable, Codable, CaseIterable {
    /// Reads only: safe to run again.
    case none
    /// Changes the world, but running it again with the same idempotency key changes nothing more.
    case idempotent
    /// Changes the world in a way that must not repeat: an unfinished call stops the resume and asks.
    case external
}

/// How a model stage with `tools:` asks for tool calls.
public enum ToolMode: String, Sendable, Hashable, Codable, CaseIterable {
    /// The model answers with a grammar-constrained JSON choice of a tool and its arguments (any model).
    case json
    /// The runtime's own tools API.
    case native
}

/// `approve:` as written: `true`/`false` on a tool stage, or the tools a model stage's calls need approval for.
public enum ToolApproval: Sendable, Hashable, Codable {
    /// `approve: true` or `false`.
    case all(Bool)
    /// `approve: [TOOL, ...]`.
    case tools([String])
}

/// A stage's `http:` mapping.
public struct HTTPSpec: Sendable, Hashable, Codable {
    /// The method (`GET` unless given), upper-cased.
    public var method: String
    /// The URL template.
    public var url: String
    /// Header name → template.
    public var headers: [String: String]? = nil
    /// The body template.
    public var body: String? = nil
    /// Hosts the request may go to besides loopback; nil: loopback only.
    public var allowHosts: [String]? = nil
    /// The most bytes of response body kept (`max_response`); nil: 1 MB.
    public var maxResponse: ByteCount? = nil
    /// Statuses of 400 and above that do not fail the stage (`accept_status`).
    public var acceptStatus: [Int]? = nil

    /// The keys as written in files.
    public enum CodingKeys: String, CodingKey, CaseIterable {
        case method, url, headers, body
        case allowHosts = "allow_hosts"
        case maxResponse = "max_response"
        case acceptStatus = "accept_status"
    }

    /// Creates a request description.
    public init(
        method: String = "GET", url: String, headers: [String: String]? = nil, body: String? = nil, allowHosts: [String]? = nil,
        maxResponse: ByteCount? = nil, acceptStatus: [Int]? = nil
    ) {
        self.method = method
        self.url = url
        self.headers = headers
        self.body = body
        self.allowHosts = allowHosts
        self.maxResponse = maxResponse
        self.acceptStatus = acceptStatus
    }

    /// The hosts every request may reach without `allow_hosts`.
    public static let loopbackHosts = ["localhost", "127.0.0.1", "::1"]
}

/// A stage's `mcp:` mapping: a tool on a declared server and its arguments.
public struct MCPCallSpec: Sendable, Hashable, Codable {
    /// The server's name under `mcp_servers` (the pipeline's or the profile's).
    public var server: String
    /// The tool's name on that server.
    public var tool: String
    /// Argument name → template.
    public var arguments: [String: String]? = nil

    /// The keys as written in files.
    public enum CodingKeys: String, CodingKey, CaseIterable {
        case server, tool, arguments
    }

    /// Creates a call description.
    public init(server: String, tool: String, arguments: [String: String]? = nil) {
        self.server = server
        self.tool = tool
        self.arguments = arguments
    }
}

/// An MCP server declared under `mcp_servers` (pipeline or profile), started on first use and shared within a run.
public struct MCPServerSpec: Sendable, Hashable, Codable {
    /// The server's name (its key under `mcp_servers`).
    public var name: String
    /// The command that starts it, as an argument list.
    public var command: [String]
    /// The only environment it gets: name → value.
    public var env: [String: String]? = nil
    /// The tools stages may call; nil: any tool the server lists.
    public var allowTools: [String]? = nil
    /// Seconds to wait for the server to start (`startup_timeout`); nil: 20 s.
    public var startupTimeout: Double? = nil
    /// Seconds one call may take (`call_timeout`); nil: the stage's timeout.
    public var callTimeout: Double? = nil

    /// The keys as written in files (`name` is the mapping key).
    public enum CodingKeys: String, CodingKey, CaseIterable {
        case name, command, env
        case allowTools = "allow_tools"
        case startupTimeout = "startup_timeout"
        case callTimeout = "call_timeout"
    }

    /// Creates a server description.
    public init(
        name: String, command: [String], env: [String: String]? = nil, allowTools: [String]? = nil, startupTimeout: Double? = nil,
        callTimeout: Double? = nil
    ) {
        self.name = name
        self.command = command
        self.env = env
        self.allowTools = allowTools
        self.startupTimeout = startupTimeout
        self.callTimeout = callTimeout
    }
}

/// A profile's `tools:` section.
public struct ToolPolicy: Sendable, Hashable, Codable {
    /// The executables `run` stages may start (a name looked up on PATH=/usr/bin:/bin, or an absolute path).
    public var allow: [String]

    /// The keys as written in files.
    public enum CodingKeys: String, CodingKey, CaseIterable {
        case allow
    }

    /// Creates a policy.
    public init(allow: [String]) { self.allow = allow }

    /// Whether a `run` stage may start `executable` (``RunStep/executable``): it is on the list as written. A name
    /// (`wc`) allows that name, looked up on PATH=/usr/bin:/bin; an absolute path allows only that path. The compiler's
    /// `tool-not-allowed` and the engine's run-time check both ask this.
    public func allows(_ executable: String) -> Bool { allow.contains(executable) }
}

/// A tool stage as planned: what the engine runs instead of a model call.
public enum ToolStep: Sendable, Hashable, Codable {
    /// A command.
    case run(RunStep)
    /// An HTTP request.
    case http(HTTPSpec)
    /// A tool on an MCP server.
    case mcp(MCPCallSpec)

    /// Which kind of tool stage this is.
    public var kind: ToolKind {
        switch self {
        case .run: .run
        case .http: .http
        case .mcp: .mcp
        }
    }
}

/// A `run` stage as planned.
public struct RunStep: Sendable, Hashable, Codable {
    /// The argument templates; with `shell`, one: the script `/bin/sh -c` runs.
    public var argv: [String]
    /// Whether `argv[0]` is a shell script.
    public var shell: Bool
    /// The standard input template.
    public var stdin: String?
    /// The working folder template; nil: the run's scratch folder.
    public var cwd: String?
    /// The only environment variables given (name → template), besides PATH, LANG and Baton's own.
    public var env: [String: String]?
    /// The exit codes that count as success.
    public var exitCodes: [Int]
    /// The most bytes of stdout kept.
    public var maxOutput: ByteCount

    /// The program the allow-list is checked against: `/bin/sh` for a shell script, else `argv[0]`; nil when a template
    /// writes `argv[0]` (known only once rendered: the engine checks the rendered name).
    public var executable: String? {
        if shell { return "/bin/sh" }
        guard let first = argv.first, !first.contains("{{") else { return nil }
        return first
    }

    /// Exit codes accepted when the stage gives none.
    public static let defaultExitCodes = [0]
    /// The stdout cap when the stage gives none.
    public static let defaultMaxOutput = ByteCount(bytes: 1_000_000)

    /// Creates a planned command.
    public init(
        argv: [String], shell: Bool = false, stdin: String? = nil, cwd: String? = nil, env: [String: String]? = nil,
        exitCodes: [Int] = RunStep.defaultExitCodes, maxOutput: ByteCount = RunStep.defaultMaxOutput
    ) {
        self.argv = argv
        self.shell = shell
        self.stdin = stdin
        self.cwd = cwd
        self.env = env
        self.exitCodes = exitCodes
        self.maxOutput = maxOutput
    }
}

/// A model stage's tool use as planned: the tools it may call and its bound.
public struct ToolUse: Sendable, Hashable, Codable {
    /// Tool stages of the pipeline or `SERVER.TOOL`, as written.
    public var tools: [String]
    /// The most tool calls before one final turn without tools.
    public var maxToolCalls: Int
    /// How calls are asked for.
    public var mode: ToolMode

    /// Creates a tool use.
    public init(tools: [String], maxToolCalls: Int, mode: ToolMode) {
        self.tools = tools
        self.maxToolCalls = maxToolCalls
        self.mode = mode
    }
}
