import BatonSpec
import Foundation

/// What a run of a plan would reach outside Baton: the runtimes it could call (each stage's model and its fallback
/// chain) with their hosts, the API keys it would look up (by name only: a value is never read here), and the
/// commands or MCP servers it would start.
///
/// Computed from the plan and its profile alone, without contacting any runtime or opening the key file, so
/// `baton plan --offline` can print it and a trust check can read it before a run sends anything.
public struct RunReach: Sendable, Hashable, Codable {
    /// A runtime the run could call.
    public struct Runtime: Sendable, Hashable, Codable {
        /// The runtime's name in the profile (or `echo`).
        public var name: String
        /// Its kind; nil when the profile does not declare it (the run would fail on it before sending anything).
        public var kind: RuntimeSpec.Kind?
        /// The URL requests go to, the kind's default applied (Anthropic's official host when the profile gives
        /// none); nil for echo, which reaches nothing, and for a runtime missing the url its kind needs.
        public var url: String?
        /// The URL's host, lowercased and without IPv6 brackets.
        public var host: String?
        /// The port: the URL's own, else the scheme's (80 for http, 443 for https).
        public var port: Int?
        /// Whether the host is this machine (see ``RunReach/isLoopback(_:)``).
        public var isLoopback: Bool
        /// The stages that could call it, in plan order.
        public var stages: [String]
        /// The models it would be asked for, in plan order, each once.
        public var models: [String]

        /// `host:port` as a user reads it (IPv6 hosts in brackets); nil when there is no host.
        public var hostAndPort: String? {
            guard let host else { return nil }
            let shown = host.contains(":") ? "[\(host)]" : host
            return port.map { "\(shown):\($0)" } ?? shown
        }
    }

    /// An API key a runtime would look up, by the names the lookup tries, in ``KeyFileSource``'s order.
    public struct Key: Sendable, Hashable, Codable {
        /// The runtime that would send it.
        public var runtime: String
        /// Where the key would be sent (`host:port`), nil when the runtime has no URL.
        public var destination: String?
        /// The environment variable tried first (the runtime's `api_key_env`), if the profile names one.
        public var environmentVariable: String?
        /// The key-file entries tried next, in order: the runtime's name, then the variable's name.
        public var keyFileEntries: [String]
        /// Whether the run fails without the key (false for an OpenAI-compatible server on this machine, which
        /// is still sent a key when one is found).
        public var isRequired: Bool

        /// Creates a key use.
        public init(runtime: String, destination: String?, environmentVariable: String?, keyFileEntries: [String], isRequired: Bool) {
            self.runtime = runtime
            self.destination = destination
            self.environmentVariable = environmentVariable
            self.keyFileEntries = keyFileEntries
            self.isRequired = isRequired
        }
    }

    /// A command or MCP server the run would start.
    ///
    /// No stage starts one today: this is where issue 12's tool stages (commands, HTTP, MCP servers) add theirs,
    /// so `baton plan` and the trust check list them without changing shape.
    public struct Command: Sendable, Hashable, Codable {
        /// What is started.
        public enum Kind: String, Sendable, Hashable, Codable {
            /// A program run by a tool stage.
            case command
            /// An MCP server a stage talks to.
            case mcpServer = "mcp-server"
        }

        /// What is started.
        public var kind: Kind
        /// The program and its arguments, or the server's name and launch line.
        public var launch: [String]
        /// The stages that start it.
        public var stages: [String]

        /// Creates a command entry.
        public init(kind: Kind, launch: [String], stages: [String]) {
            self.kind = kind
            self.launch = launch
            self.stages = stages
        }
    }

    /// The runtimes, in the order the plan first uses them.
    public var runtimes: [Runtime]
    /// The keys, one per runtime that would look one up, in the order of ``runtimes``.
    public var keys: [Key]
    /// The commands and MCP servers; always empty until tool stages exist (issue 12).
    public var commands: [Command]

    /// What a run of `plan` with `profile` would reach.
    ///
    /// - Parameter forcedRuntime: the runtime every stage is sent to instead of its own (`baton run --runtime echo`).
    public init(plan: ExecutionPlan, profile: ResolvedProfile?, forcedRuntime: String? = nil) {
        var order: [String] = []
        var stagesOf: [String: [String]] = [:]
        var modelsOf: [String: [String]] = [:]
        // Sets beside the ordered lists: a search of the lists made this quadratic, 200 ms of a 10,000-stage resume.
        var seenModels: Set<[String]> = []
        for stage in plan.stages {
            for model in stage.models {
                let name = forcedRuntime ?? model.runtime ?? "echo"
                if stagesOf[name] == nil { order.append(name) }
                // A stage's models come together, so this stage is the last one listed if it is listed at all.
                if stagesOf[name, default: []].last != stage.name { stagesOf[name, default: []].append(stage.name) }
                if seenModels.insert([name, model.name]).inserted { modelsOf[name, default: []].append(model.name) }
            }
        }
        runtimes = order.map { name in
            let spec = profile?.spec.runtime(named: name)
            let kind = spec?.kind ?? (name == "echo" ? .echo : nil)
            let url = kind.flatMap { Self.url(of: spec, kind: $0) }
            let components = url.flatMap { URLComponents(string: $0) }
            let host = components?.host.map { $0.lowercased().trimmingCharacters(in: CharacterSet(charactersIn: "[]")) }
            let port = components?.port ?? components?.scheme.flatMap { Self.defaultPorts[$0.lowercased()] }
            return Runtime(
                name: name, kind: kind, url: url, host: host, port: host == nil ? nil : port,
                isLoopback: url.map(Self.isLoopback) ?? false, stages: stagesOf[name] ?? [], models: modelsOf[name] ?? [])
        }
        keys = runtimes.compactMap { runtime in
            guard runtime.kind == .openai || runtime.kind == .anthropic else { return nil }
            let variable = profile?.spec.runtime(named: runtime.name)?.apiKeyEnv
            // KeyFileSource's order: the variable, the entry named after the runtime, the entry named like the variable.
            var entries = [runtime.name]
            if let variable, variable != runtime.name { entries.append(variable) }
            return Key(
                runtime: runtime.name, destination: runtime.hostAndPort, environmentVariable: variable, keyFileEntries: entries,
                isRequired: runtime.kind == .anthropic || !runtime.isLoopback || variable != nil)
        }
        commands = []
    }

    /// The runtimes whose host is not this machine (or unknown), which an untrusted folder may not reach.
    public var remoteRuntimes: [Runtime] { runtimes.filter { $0.kind != .echo && !$0.isLoopback } }

    /// The URL `kind` sends to: the profile's, else the kind's default; nil for echo and for a kind needing a url.
    static func url(of spec: RuntimeSpec?, kind: RuntimeSpec.Kind) -> String? {
        if let url = spec?.url, !url.isEmpty { return url }
        switch kind {
        case .anthropic: return defaultAnthropicURL
        case .echo, .ollama, .llamaServer, .openai: return nil
        }
    }

    /// Where a `kind: anthropic` runtime without a url sends (RuntimeCatalog's default).
    public static let defaultAnthropicURL = "https://api.anthropic.com"

    private static let defaultPorts = ["http": 80, "https": 443]

    /// Whether `url` points at this machine: the one rule RuntimeCatalog applies.
    public static func isLoopback(_ url: String) -> Bool { RuntimeCatalog.isLoopback(url) }
}
