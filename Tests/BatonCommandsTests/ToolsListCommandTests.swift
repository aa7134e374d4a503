import BatonTestSupport
import Foundation
import Testing

/// `baton tools list` on the real mcp-server-time and mcp-server-git (scripts/setup-mcp.sh; scripts/test.sh exports
/// BATON_MCP_BIN).
@Suite(.enabled(if: MCPBin.path != nil, "BATON_MCP_BIN is unset: run scripts/setup-mcp.sh (scripts/test.sh does)"))
struct ToolsListCommandTests {
    static let bin = MCPBin.path

    /// A sandbox with a pipeline declaring `time` and a server that fails at startup, and a profile declaring `git`
    /// (allow_tools: git_status) and tools.allow [wc]; each real server writes its pid to `pids` before it starts.
    static func sandbox(_ name: String) throws -> RunSandbox {
        let sandbox = try RunSandbox(name)
        let bin = Self.bin!
        let pids = sandbox.folder + "/pids"
        func recorded(_ command: String) -> String {
            "[/bin/sh, -c, 'echo $$ >> \(pids); exec \(command)']"
        }
        try FileManager.default.createDirectory(atPath: sandbox.folder + "/repo", withIntermediateDirectories: true)
        let git = Process()
        git.executableURL = URL(fileURLWithPath: "/usr/bin/git")
        git.arguments = ["init", "-q", sandbox.folder + "/repo"]
        try git.run()
        git.waitUntilExit()
        try """
        version: 1
        mcp_servers:
          time: {command: \(recorded("\(bin)/mcp-server-time --local-timezone=UTC"))}
          broken: {command: [/bin/sh, -c, "echo 'loading' >&2; echo 'fatal: no config file' >&2; exit 3"]}
        stages:
          now: {mcp: {server: time, tool: get_current_time, arguments: {timezone: UTC}}}
        """.write(toFile: sandbox.folder + "/clock.yaml", atomically: true, encoding: .utf8)
        try """
        version: 1
        tools: {allow: [wc]}
        mcp_servers:
          git: {command: \(recorded("\(bin)/mcp-server-git --repository \(sandbox.folder)/repo")), allow_tools: [git_status]}
        """.write(toFile: sandbox.folder + "/tools-profile.yaml", atomically: true, encoding: .utf8)
        return sandbox
    }

    /// The pids the servers recorded.
    static func serverPIDs(_ sandbox: RunSandbox) -> [Int32] {
        let text = (try? String(contentsOfFile: sandbox.folder + "/pids", encoding: .utf8)) ?? ""
        return text.split(separator: "\n").compactMap { Int32($0) }
    }

    /// Whether `pid` is a live process (not gone, not a zombie).
    static func alive(_ pid: Int32) -> Bool {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8), let close = stat.lastIndex(of: ")") else {
            return false
        }
        return !stat[stat.index(after: close)...].hasPrefix(" Z")
    }

    @Test(
        "tools list starts the pipeline's and the profile's servers, lists their tools, effects and admission, then tools.allow; a broken server is exit 69 with its stderr; no server is left"
    )
    func listsTools() async throws {
        let sandbox = try Self.sandbox("tools-list")
        let result = try await sandbox.baton(["tools", "list", "clock.yaml", "--profile", "tools-profile.yaml", "--trust"])

        #expect(result.status == 69, "\(result.summary)")
        let out = result.stdout
        // mcp_server_time/server.py marks both tools read-only.
        #expect(out.contains("time.get_current_time  effects: none, allowed"), "\(out)")
        #expect(out.contains("time.convert_time  effects: none, allowed"), "\(out)")
        #expect(out.contains("    timezone: string (required)"), "\(out)")
        // mcp_server_git/server.py: git_status read-only, git_commit neither read-only nor idempotent, git_add idempotent.
        #expect(out.contains("git.git_status  effects: none, allowed"), "\(out)")
        #expect(out.contains("git.git_commit  effects: external, not in allow_tools"), "\(out)")
        #expect(out.contains("git.git_add  effects: idempotent, not in allow_tools"), "\(out)")
        #expect(out.contains("server broken:") && out.contains("exited with status 3") && out.contains("| fatal: no config file"), "\(out)")
        #expect(out.hasSuffix(": tools.allow: wc\n"), "\(out)")

        let pids = Self.serverPIDs(sandbox)
        #expect(pids.count == 2, "\(pids)")
        for pid in pids { #expect(!Self.alive(pid), "server \(pid) outlived baton tools list") }
    }

    @Test("tools list --json gives each tool's whole input schema, annotations and admission")
    func listsJSON() async throws {
        let sandbox = try Self.sandbox("tools-list-json")
        let result = try await sandbox.baton(["tools", "list", "clock.yaml", "--profile", "tools-profile.yaml", "--trust", "--json"])

        #expect(result.status == 69, "\(result.summary)")
        #expect(result.stderr.contains("error: MCP server 'broken'"), "\(result.stderr)")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any], "\(result.stdout)")
        #expect(object["tools_allow"] as? [String] == ["wc"])
        let servers = try #require(object["servers"] as? [[String: Any]])
        #expect(servers.compactMap { $0["name"] as? String }.sorted() == ["broken", "git", "time"])
        let time = try #require(servers.first { $0["name"] as? String == "time" })
        let tools = try #require(time["tools"] as? [[String: Any]])
        let current = try #require(tools.first { $0["name"] as? String == "get_current_time" })
        let schema = try #require(current["input_schema"] as? [String: Any])
        #expect(schema["type"] as? String == "object")
        #expect((schema["properties"] as? [String: Any])?["timezone"] != nil, "\(schema)")
        #expect(schema["required"] as? [String] == ["timezone"], "\(schema)")
        #expect((current["annotations"] as? [String: Bool])?["readOnlyHint"] == true)
        #expect(current["allowed"] as? Bool == true && current["effects"] as? String == "none")
        let git = try #require(servers.first { $0["name"] as? String == "git" })
        let gitTools = try #require(git["tools"] as? [[String: Any]])
        #expect(gitTools.first { $0["name"] as? String == "git_commit" }?["allowed"] as? Bool == false)
        let broken = try #require(servers.first { $0["name"] as? String == "broken" })
        #expect((broken["error"] as? String)?.contains("fatal: no config file") == true, "\(broken)")
        #expect(broken["tools"] == nil)
    }

    @Test("tools list without a pipeline lists the profile's servers only")
    func listsProfileOnly() async throws {
        let sandbox = try Self.sandbox("tools-list-profile")
        let result = try await sandbox.baton(["tools", "list", "--profile", "tools-profile.yaml", "--trust"])

        #expect(result.status == 0, "\(result.summary)")
        #expect(result.stdout.contains("git.git_status  effects: none, allowed"), "\(result.stdout)")
        #expect(!result.stdout.contains("server time") && !result.stdout.contains("server broken"), "\(result.stdout)")
        #expect(Self.serverPIDs(sandbox).count == 1)
    }

    @Test("tools list refuses servers from an untrusted project folder: exit 78, nothing started")
    func refusesUntrusted() async throws {
        let sandbox = try Self.sandbox("tools-list-untrusted")
        let result = try await sandbox.baton(
            ["tools", "list", "clock.yaml", "--profile", "tools-profile.yaml"], ["XDG_CONFIG_HOME": sandbox.folder + "/config"])

        #expect(result.status == 78, "\(result.summary)")
        #expect(result.stderr.contains("is not trusted: listing its tools would start the MCP servers"), "\(result.stderr)")
        #expect(result.stderr.contains("--trust"), "\(result.stderr)")
        #expect(Self.serverPIDs(sandbox).isEmpty)
    }
}

/// The bin folder of scripts/setup-mcp.sh's venv, when the test script set it up.
enum MCPBin {
    static let path = ProcessInfo.processInfo.environment["BATON_MCP_BIN"]
}
