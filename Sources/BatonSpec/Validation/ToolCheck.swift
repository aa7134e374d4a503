import Foundation

/// Checks what the names of tool stages mean (docs/pipeline-format.md, "Tool stages"): an `http` URL's literal host
/// against `allow_hosts` and loopback, an `mcp` stage's server (the pipeline's or the profile's `mcp_servers`) and its
/// tool against the server's `allow_tools`, and each entry of a model stage's `tools:`. Shapes were checked by
/// ``ToolDecoder``; templates by ``TemplateCheck``. A templated host is checked at run time.
enum ToolCheck {
    static func run(_ context: inout CompilationContext) {
        let servers = (context.spec.mcpServers ?? []) + (context.profile?.spec.mcpServers ?? [])
        for stage in context.spec.stages {
            let path = "stages.\(stage.name)"
            if let http = stage.http { checkHost(http, path: path, stage: stage.name, &context) }
            if let mcp = stage.mcp {
                checkServerTool(
                    server: mcp.server, tool: mcp.tool, servers: servers, serverAt: context.sourceMap.location("\(path).mcp.server"),
                    toolAt: context.sourceMap.location("\(path).mcp.tool"), &context)
            }
            for (index, entry) in (stage.tools ?? []).enumerated() {
                let location = context.sourceMap.location("\(path).tools[\(index)]")
                if let dot = entry.firstIndex(of: "."), context.stage(entry) == nil {
                    checkServerTool(
                        server: String(entry[..<dot]), tool: String(entry[entry.index(after: dot)...]), servers: servers,
                        serverAt: location, toolAt: location, &context)
                } else if let target = context.stage(entry) {
                    if !target.isTool { context.emit(.toolNotATool(entry, stage: stage.name), at: location) }
                } else {
                    let tools = context.spec.stages.filter(\.isTool).map(\.name)
                    context.emit(.toolUnknown(entry, stage: stage.name, suggestion: Suggestion.closest(to: entry, in: tools)), at: location)
                }
            }
        }
    }

    /// A literal host outside loopback and `allow_hosts` is refused; a host written as a template is checked at run time.
    private static func checkHost(_ http: HTTPSpec, path: String, stage: String, _ context: inout CompilationContext) {
        let prefix = http.url.prefix { $0 != "{" }
        guard !prefix.contains("{{"), let host = literalHost(http.url) else { return }
        let allowed = HTTPSpec.loopbackHosts + (http.allowHosts ?? [])
        if allowed.contains(host.lowercased()) || host.hasPrefix("127.") { return }
        context.emit(.httpHostNotAllowed(host, stage: stage), at: context.sourceMap.location("\(path).http.url"))
    }

    /// The URL's host when the URL is literal up to the end of its host; nil when a template writes any of it.
    static func literalHost(_ url: String) -> String? {
        guard let scheme = url.range(of: "://") else { return nil }
        let rest = url[scheme.upperBound...]
        let authority = rest.prefix { $0 != "/" && $0 != "?" && $0 != "#" }
        guard !authority.contains("{{") else { return nil }
        let hostPort = authority.split(separator: "@").last.map(String.init) ?? ""
        if hostPort.hasPrefix("[") {  // [::1]:8080
            return hostPort.dropFirst().prefix { $0 != "]" }.description
        }
        let host = hostPort.prefix { $0 != ":" }
        return host.isEmpty ? nil : String(host)
    }

    private static func checkServerTool(
        server: String, tool: String, servers: [MCPServerSpec], serverAt: SourceLocation?, toolAt: SourceLocation?,
        _ context: inout CompilationContext
    ) {
        guard let spec = servers.first(where: { $0.name == server }) else {
            let names = servers.map(\.name)
            context.emit(.mcpServerUnknown(server, servers: names, suggestion: Suggestion.closest(to: server, in: names)), at: serverAt)
            return
        }
        if let allowed = spec.allowTools, !allowed.contains(tool) {
            context.emit(.mcpToolNotAllowed(tool, server: server, allowed: allowed), at: toolAt)
        }
    }
}

/// The host ``ToolCheck`` reads from a URL, for tests and for the engine's run-time check of the same rule.
public enum ToolCheckProbe {
    /// The URL's literal host; nil when a template writes it or the URL has none.
    public static func host(_ url: String) -> String? { ToolCheck.literalHost(url) }
}
