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
            if let reviewed = stage.reviews, let target = context.stage(reviewed), let kind = target.toolKind {
                context.emit(.criticReviewsTool(stage.name, stage: reviewed, kind: kind), at: context.sourceMap.location("\(path).reviews"))
            }
            if let argv = stage.run { checkExecutable(argv: argv, shell: stage.shell ?? false, path: path, stage: stage.name, &context) }
            if stage.isTool, context.toolDefinitions.contains(stage.name), let parameters = stage.parameters {
                checkParameters(parameters, path: path, stage: stage.name, &context)
            }
            if case .tools(let approved)? = stage.approve, let tools = stage.tools {
                for (index, entry) in approved.enumerated() where !tools.contains(entry) {
                    context.emit(
                        .approveNotATool(entry, stage: stage.name, tools: tools, suggestion: Suggestion.closest(to: entry, in: tools)),
                        at: context.sourceMap.location("\(path).approve[\(index)]"))
                }
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

    /// `tool-not-allowed`: with a profile known, a `run` stage's executable (`/bin/sh` for a script) must be on its
    /// `tools.allow`; a profile without `tools:`, the built-in default among them, allows none. A templated `argv[0]` is
    /// known only at run time, where the engine checks it against the run's profile by the same rule.
    private static func checkExecutable(argv: [String], shell: Bool, path: String, stage: String, _ context: inout CompilationContext) {
        // A `run` written as one string without `shell: true` is `run-not-list` already: it names no executable yet.
        guard let profile = context.profile, context.sourceMap.templates["\(path).run[0]"] != nil,
            let executable = RunStep(argv: argv, shell: shell).executable
        else { return }
        let policy = profile.spec.tools ?? ToolPolicy(allow: [])
        guard !policy.allows(executable) else { return }
        context.emit(
            .toolNotAllowed(executable, stage: stage, profile: profile.spec.name, hasPolicy: profile.spec.tools != nil, shell: shell),
            at: context.sourceMap.location("\(path).run"))
    }

    /// A tool definition's `parameters`: the JSON schema of an object (`type: object`, `properties` a mapping).
    private static func checkParameters(_ parameters: JSONValue, path: String, stage: String, _ context: inout CompilationContext) {
        let location = context.sourceMap.location("\(path).parameters")
        guard case .string("object")? = parameters["type"] else {
            let found = parameters["type"].map { "has 'type: \($0.stringValue ?? "a non-string")'" } ?? "has no 'type'"
            context.emit(.toolParametersInvalid(stage, problem: "\(found), not 'type: object'"), at: location)
            return
        }
        if let properties = parameters["properties"], argumentNames(of: properties) == nil {
            context.emit(.toolParametersInvalid(stage, problem: "has 'properties' that is not a mapping of names to schemas"), at: location)
        }
    }

    /// What the arguments of tool definition `stage` may be: the names under its `parameters.properties`; nil when it
    /// has no valid `parameters` (reported elsewhere).
    static func argumentNames(of stage: StageSpec) -> [String]? {
        guard let parameters = stage.parameters, case .string("object")? = parameters["type"] else { return nil }
        guard let properties = parameters["properties"] else { return [] }
        return argumentNames(of: properties) ?? []
    }

    private static func argumentNames(of properties: JSONValue) -> [String]? {
        guard case .object(let pairs) = properties else { return nil }
        return pairs.map(\.key)
    }

    /// Tool definitions run only when a model calls them: a stage that reads one (a template, a condition, a `for_each`
    /// list, `needs`) or an `outputs` entry naming one is refused (`tool-definition-read`). A model stage calling a
    /// definition waits for what the definition's templates read.
    static func checkDefinitionReads(_ context: inout CompilationContext) {
        let definitions = context.toolDefinitions
        guard !definitions.isEmpty else { return }
        func users(of definition: String) -> [String] {
            context.spec.stages.filter { $0.tools?.contains(definition) == true }.map(\.name)
        }
        for stage in context.stageNames {
            for dependency in context.dependencies[stage] ?? [] where definitions.contains(dependency.stage) {
                if case .critic = dependency.reason { continue }
                context.emit(
                    .toolDefinitionRead(dependency.stage, by: stage, users: users(of: dependency.stage)), at: dependency.reason.location)
            }
        }
        for (index, output) in (context.spec.outputs ?? []).enumerated() where definitions.contains(output) {
            context.emit(
                .toolDefinitionRead(output, by: "outputs", users: users(of: output)), at: context.sourceMap.location("outputs[\(index)]"))
        }
        for stage in context.spec.stages {
            for tool in stage.tools ?? [] where definitions.contains(tool) {
                for dependency in context.dependencies[tool] ?? [] where dependency.stage != stage.name {
                    context.addDependency(stage.name, on: dependency.stage, dependency.reason)
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
