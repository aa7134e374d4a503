import ArgumentParser
import BatonEngine
import BatonSpec
import Foundation

extension BatonCommand {
    /// `baton tools`: what tools a pipeline and a profile make available.
    struct Tools: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show the tools a pipeline and a profile make available.",
            subcommands: [List.self])
    }
}

extension BatonCommand.Tools {
    /// `baton tools list`: starts each MCP server, lists its tools, stops it.
    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Start each MCP server the pipeline and the profile declare, list its tools, and stop it.",
            discussion: """
                For each server: its tools with their descriptions, the effects their annotations imply (readOnlyHint: \
                none, idempotentHint: idempotent, otherwise external; a stage's own `effects:` wins), their input schemas \
                (--json: whole) and whether the server's `allow_tools` admits them; then the profile's `tools.allow`, \
                the executables `run` stages may start. Every server is stopped before the command ends. Exit codes: \
                \(BatonExitCode.ok) listed, \(BatonExitCode.runtimeUnavailable) a server did not start (the others are still \
                listed), \(BatonExitCode.invalidPipeline) invalid pipeline or profile, \(BatonExitCode.untrusted) the servers \
                come from a project folder that is not trusted ('baton trust', or --trust).
                """)

        @Argument(help: "A pipeline name on the search path, or a pipeline file (default: the profile's servers only).")
        var pipeline: String?

        @OptionGroup var profileOption: ProfileOption

        @Flag(help: "Write one JSON document to standard output: the servers, their tools with whole schemas, tools.allow.")
        var json = false

        @Flag(help: "Trust the project folder for this invocation only: its MCP servers may be started (see docs/trust.md).")
        var trust = false

        func run() async throws {
            let workspace = Workspace.current()
            let profileName = profileOption.resolvedName(environment: workspace.environment)
            let source = try await servers(workspace: workspace, profileName: profileName)
            try checkTrust(source, workspace: workspace)

            let listing = await ToolsListing.make(servers: source.servers, allow: source.allow, profile: source.profile)
            if json {
                Console.out(try JSONOutput.text(listing))
            } else {
                Console.out(listing.text, terminator: "")
            }
            let failed = listing.servers.filter { $0.error != nil }
            for server in failed where json { Console.error("error: \(server.error ?? "")") }
            if !failed.isEmpty { throw ExitCode(BatonExitCode.runtimeUnavailable) }
        }

        /// Where the servers were declared and which files declared them.
        struct Source {
            var servers: [MCPServerSpec]
            var allow: [String]?
            var profile: String?
            var folders: [String]
        }

        private func servers(workspace: Workspace, profileName: String?) async throws -> Source {
            if let pipeline {
                let loaded = try await PlanLoader(workspace: workspace).loadReporting(
                    pipeline, profileName: profileName, discover: false, database: nil)
                // The plan merges the pipeline's servers with the profile's (the pipeline's win a name); a plan without
                // tool stages carries none, so the profile's are listed then.
                let servers = loaded.plan.mcpServers ?? loaded.profile?.spec.mcpServers ?? []
                return Source(
                    servers: servers, allow: loaded.profile.map { $0.spec.tools?.allow ?? [] },
                    profile: loaded.profile?.chain.first, folders: loaded.projectFolders)
            }
            guard let name = workspace.profileName(requested: profileName) else {
                return Source(servers: [], allow: nil, profile: nil, folders: [])
            }
            let loaded: Workspace.LoadedProfile
            do {
                loaded = try workspace.loadProfile(name)
            } catch {
                Console.error("error: \(error)")
                throw ExitCode.notFound
            }
            if loaded.diagnostics.hasErrors {
                Console.error(DiagnosticFormatter.text(loaded.diagnostics, sources: loaded.sources, color: false), terminator: "")
                throw ExitCode.invalidPipeline
            }
            let spec = loaded.profile?.spec
            return Source(
                servers: spec?.mcpServers ?? [], allow: spec?.tools?.allow ?? [], profile: loaded.profile?.chain.first ?? name,
                folders: workspace.projectFolders(of: loaded.sources.keys))
        }

        /// Starting a server runs its command: not from a project folder that is not trusted (exit 78, as `run`).
        private func checkTrust(_ source: Source, workspace: Workspace) throws {
            guard !trust, !source.servers.isEmpty, !source.folders.isEmpty else { return }
            let store = ProjectTrust(workspace: workspace)
            let untrusted = source.folders.filter { folder in
                guard let store, case .trusted = (try? store.status(of: folder)) ?? .untrusted else { return true }
                return false
            }
            guard !untrusted.isEmpty else { return }
            let commands = source.servers.map { "\($0.name) (\($0.command.map(ToolsListing.shellQuoted).joined(separator: " ")))" }
                .joined(separator: ", ")
            for folder in untrusted {
                Console.error(
                    "error: \(folder) is not trusted: listing its tools would start the MCP servers \(commands); "
                        + "'baton trust \(folder)' trusts it, or pass --trust for this once")
            }
            throw ExitCode(BatonExitCode.untrusted)
        }
    }
}

/// What `baton tools list` found: each server's tools, or why it did not start; the profile's `tools.allow`.
struct ToolsListing: Encodable {
    /// One server.
    struct Server: Encodable {
        var name: String
        var command: [String]
        var protocolVersion: String?
        var serverInfo: String?
        var allowTools: [String]?
        var tools: [Tool]?
        var error: String?

        enum CodingKeys: String, CodingKey {
            case name, command, tools, error
            case protocolVersion = "protocol_version"
            case serverInfo = "server_info"
            case allowTools = "allow_tools"
        }
    }

    /// One tool of a server.
    struct Tool: Encodable {
        var name: String
        var description: String?
        /// What resume may assume of a call, from the annotations: none, idempotent or external.
        var effects: String
        var annotations: [String: Bool]
        /// Whether the server's `allow_tools` admits it (no `allow_tools`: every tool).
        var allowed: Bool
        var inputSchema: JSONValue

        enum CodingKeys: String, CodingKey {
            case name, description, effects, annotations, allowed
            case inputSchema = "input_schema"
        }
    }

    var profile: String?
    var servers: [Server]
    /// The profile's `tools.allow`; nil when no profile was used.
    var toolsAllow: [String]?

    enum CodingKeys: String, CodingKey {
        case profile, servers
        case toolsAllow = "tools_allow"
    }

    /// Starts every server at once (each with its own startup timeout), lists its tools and stops them all.
    static func make(servers specs: [MCPServerSpec], allow: [String]?, profile: String?) async -> ToolsListing {
        let definitions = specs.map { spec in
            MCPServerDefinition(
                name: spec.name, command: spec.command, environment: spec.env ?? [:],
                startupTimeout: .milliseconds(Int64((spec.startupTimeout ?? 20) * 1000)))
        }
        let pool = MCPPool(servers: definitions)
        let found = await withTaskGroup(of: (Int, Server).self) { group in
            for (index, spec) in specs.enumerated() {
                group.addTask {
                    var server = Server(name: spec.name, command: spec.command, allowTools: spec.allowTools)
                    do {
                        let connection = try await pool.connection(spec.name)
                        server.protocolVersion = connection.protocolVersion
                        server.serverInfo = connection.serverInfo
                        server.tools = try await connection.tools().map { tool(from: $0, allowTools: spec.allowTools) }
                    } catch {
                        server.error = "\(error)"
                    }
                    return (index, server)
                }
            }
            return await group.reduce(into: [:]) { $0[$1.0] = $1.1 }
        }
        await pool.stopAll()
        return ToolsListing(
            profile: profile, servers: specs.indices.compactMap { found[$0] }, toolsAllow: allow)
    }

    /// The effects a tool's annotations imply (docs/tools.md): read-only → none, idempotent → idempotent, else external.
    static func effects(of tool: MCPToolInfo) -> ToolEffects {
        if tool.readOnlyHint == true { return .none }
        if tool.idempotentHint == true { return .idempotent }
        return .external
    }

    static func tool(from info: MCPToolInfo, allowTools: [String]?) -> Tool {
        var annotations: [String: Bool] = [:]
        annotations["readOnlyHint"] = info.readOnlyHint
        annotations["destructiveHint"] = info.destructiveHint
        annotations["idempotentHint"] = info.idempotentHint
        annotations["openWorldHint"] = info.openWorldHint
        return Tool(
            name: info.name, description: info.description, effects: effects(of: info).rawValue, annotations: annotations,
            allowed: allowTools?.contains(info.name) ?? true, inputSchema: info.inputSchemaJSON)
    }

    /// The listing for a person: per server its tools, each with effects, admission, description and arguments.
    var text: String {
        var lines: [String] = []
        if servers.isEmpty { lines.append("no MCP servers declared (mcp_servers: in the pipeline or the profile)") }
        for server in servers {
            let command = server.command.map(Self.shellQuoted).joined(separator: " ")
            if let error = server.error {
                lines.append("server \(server.name): \(command)")
                lines.append("  error: " + error.replacingOccurrences(of: "\n", with: "\n  "))
                lines.append("")
                continue
            }
            let info = [server.serverInfo, server.protocolVersion.map { "protocol \($0)" }].compactMap { $0 }.joined(separator: ", ")
            lines.append("server \(server.name): \(command) (\(info))")
            if let allowTools = server.allowTools { lines.append("  allow_tools: \(allowTools.joined(separator: ", "))") }
            let tools = server.tools ?? []
            if tools.isEmpty { lines.append("  no tools") }
            for tool in tools {
                let admitted = tool.allowed ? "allowed" : "not in allow_tools"
                lines.append("  \(server.name).\(tool.name)  effects: \(tool.effects), \(admitted)")
                if let description = tool.description?.trimmingCharacters(in: .whitespacesAndNewlines), !description.isEmpty {
                    let first = description.split(separator: "\n", omittingEmptySubsequences: true).first.map(String.init) ?? description
                    lines.append("    \(first)")
                }
                lines.append(contentsOf: Self.arguments(tool.inputSchema).map { "    " + $0 })
            }
            lines.append("")
        }
        if let toolsAllow {
            let who = profile.map { "profile \($0)" } ?? "the profile"
            lines.append(
                toolsAllow.isEmpty
                    ? "\(who): tools.allow is empty: `run` stages may start no executable"
                    : "\(who): tools.allow: \(toolsAllow.joined(separator: ", "))")
        }
        return TerminalText.visible(lines.joined(separator: "\n")) + "\n"
    }

    /// One line per property of an object schema: `name: type (required) — description`.
    static func arguments(_ schema: JSONValue) -> [String] {
        guard case .object(let properties)? = schema["properties"], !properties.isEmpty else { return ["arguments: none"] }
        var required: Set<String> = []
        if case .array(let names)? = schema["required"] { required = Set(names.compactMap(\.stringValue)) }
        return properties.sorted { $0.key < $1.key }.map { name, property in
            var type = property["type"]?.stringValue ?? "any"
            if case .array(let types)? = property["type"] { type = types.compactMap(\.stringValue).joined(separator: "|") }
            let description = property["description"]?.stringValue.map { " — " + $0 } ?? ""
            return "\(name): \(type)\(required.contains(name) ? " (required)" : "")\(description)"
        }
    }

    static func shellQuoted(_ word: String) -> String {
        if !word.isEmpty, word.allSatisfy({ $0.isLetter || $0.isNumber || "-_./=:,@+".contains($0) }) { return word }
        return "'" + word.replacingOccurrences(of: "'", with: "'\\''") + "'"
    }
}
