import Yams

/// Decodes a stage's tool keys (`run` and its options, `http`, `mcp`, `effects`, `approve`, `parameters`, `tools`,
/// `max_tool_calls`, `tool_mode`) and the `mcp_servers` of a pipeline or profile.
///
/// Only shape, type and range are checked here, plus the two rules that need the file as written: a stage of two
/// kinds (`stage-kinds`) and a `run` that is a string without `shell: true` (`run-not-list`). What the names mean
/// (servers, tools, hosts, executables) is checked after decoding, by ``ToolCheck``.
enum ToolDecoder {
    /// The tool keys of a stage as decoded.
    struct ToolKeys {
        var run: [String]?
        var shell: Bool?
        var stdin: String?
        var cwd: String?
        var env: [String: String]?
        var exitCodes: [Int]?
        var maxOutput: ByteCount?
        var http: HTTPSpec?
        var mcp: MCPCallSpec?
        var effects: ToolEffects?
        var approve: ToolApproval?
        var parameters: JSONValue?
        var tools: [String]?
        var maxToolCalls: Int?
        var toolMode: ToolMode?
    }

    /// The keys that make a stage of one kind; `prompt` and `prompt_file` are one kind (a model stage). `uses` is a
    /// kind too, but its conflicts are `uses-conflict` (``CallCheck``), which names the called pipeline.
    static let kindKeys = ["prompt", "prompt_file", "run", "http", "mcp", "retrieve"]

    /// Inclusive bounds of `max_tool_calls`.
    static let maxToolCallsRange = 1...100

    /// A stage's tool keys; reports a second kind key at that key.
    static func decode(_ map: SpecReader.Mapping, path: String, stage: String, reader: SpecReader) -> ToolKeys {
        var keys = ToolKeys()
        reportKinds(map, stage: stage, reader: reader)

        keys.shell = map.value("shell").flatMap { reader.bool($0, subject: map.subject("shell")) }
        if let node = map.value("run") { keys.run = decodeRun(node, shell: keys.shell == true, map: map, path: path, reader: reader) }
        keys.stdin = template(map, "stdin", path: path, reader: reader)
        keys.cwd = template(map, "cwd", path: path, reader: reader)
        keys.env = map.value("env").flatMap {
            templateMap($0, path: "\(path).env", subject: map.subject("env"), entry: "variable", reader: reader)
        }
        if let node = map.value("exit_codes"), let items = intList(node, subject: map.subject("exit_codes"), range: 0...255, reader: reader)
        {
            keys.exitCodes = items
        }
        keys.maxOutput = map.value("max_output").flatMap { reader.size($0, subject: map.subject("max_output")) }
        keys.http = map.value("http").flatMap { decodeHTTP($0, path: "\(path).http", stage: stage, reader: reader) }
        keys.mcp = map.value("mcp").flatMap { decodeMCP($0, path: "\(path).mcp", stage: stage, reader: reader) }
        keys.effects = map.value("effects").flatMap { reader.enumValue($0, subject: map.subject("effects"), as: ToolEffects.self) }
        keys.approve = map.value("approve").flatMap {
            decodeApprove($0, path: "\(path).approve", subject: map.subject("approve"), reader: reader)
        }
        if let node = map.value("parameters") {
            if case .mapping = node {
                keys.parameters = reader.json(node)
            } else {
                reader.emit(
                    .typeMismatch(expected: "a JSON schema (a mapping)", for: map.subject("parameters"), found: reader.describe(node)),
                    at: node)
            }
        }
        if let node = map.value("tools"), let items = reader.stringList(node, subject: map.subject("tools"), allowSingle: true) {
            var names: [String] = []
            for item in items {
                if names.contains(item.0) {
                    reader.emit(.duplicateEntry(item.0, in: map.subject("tools")), at: item.1)
                } else {
                    reader.record("\(path).tools[\(names.count)]", item.1)
                    names.append(item.0)
                }
            }
            keys.tools = names
        }
        keys.maxToolCalls = map.value("max_tool_calls").flatMap {
            reader.int($0, subject: map.subject("max_tool_calls"), range: maxToolCallsRange, rangeText: "1 to 100")
        }
        keys.toolMode = map.value("tool_mode").flatMap { reader.enumValue($0, subject: map.subject("tool_mode"), as: ToolMode.self) }
        // On a retrieve stage `tools` is refused as a whole (`retrieve-stage-key`): no bound to ask for.
        if map.has("tools"), !map.has("max_tool_calls"), !map.has("retrieve"), !map.suggested.contains("max_tool_calls"),
            let node = map.keyNode("tools")
        {
            reader.emit(
                .missingKey(
                    "max_tool_calls", in: map.context,
                    hint: "add 'max_tool_calls: N', the most tool calls the model may make (1 to 100) before one final answer"),
                at: node)
        }
        return keys
    }

    /// `stage-kinds`: the second (and any later) kind key of a stage, at that key. `prompt` with `prompt_file` stays
    /// `conflicting-keys`.
    private static func reportKinds(_ map: SpecReader.Mapping, stage: String, reader: SpecReader) {
        var first: String?
        for pair in map.pairs where kindKeys.contains(pair.key) {
            guard let seen = first else {
                first = pair.key
                continue
            }
            let isPromptPair = Set([seen, pair.key]) == ["prompt", "prompt_file"]
            if !isPromptPair { reader.emit(.stageKinds(stage, first: seen, second: pair.key), at: pair.keyNode) }
        }
    }

    /// `run`: a list of argument templates, or (with `shell: true`) one script; each recorded as `PATH.run[i]`.
    private static func decodeRun(_ node: Node, shell: Bool, map: SpecReader.Mapping, path: String, reader: SpecReader) -> [String]? {
        if case .scalar = node, !reader.isNull(node) {
            guard let text = reader.nonEmptyString(node, subject: map.subject("run")) else { return nil }
            if !shell {
                // Kept as one argument, so the stage stays a tool stage and is not also reported as a model stage.
                reader.emit(.runNotList(text, in: map.context), at: node)
                return [text]
            }
            reader.recordTemplate("\(path).run[0]", node)
            reader.emit(.shellTool(in: map.context), at: map.keyNode("shell") ?? node)
            return [text]
        }
        guard let items = reader.stringList(node, subject: map.subject("run"), allowSingle: false) else { return nil }
        if items.isEmpty {
            reader.emit(.emptyValue(map.subject("run")), at: node)
            return nil
        }
        for (index, item) in items.enumerated() { reader.recordTemplate("\(path).run[\(index)]", item.1) }
        if shell, let keyNode = map.keyNode("shell") {
            reader.emit(.conflictingKeys("shell: true", "run as a list", in: map.context), at: keyNode)
        }
        return items.map(\.0)
    }

    /// `approve: true|false` or a list of tool names.
    private static func decodeApprove(_ node: Node, path: String, subject: String, reader: SpecReader) -> ToolApproval? {
        if case .sequence = node {
            guard let items = reader.stringList(node, subject: subject, allowSingle: false) else { return nil }
            for (index, item) in items.enumerated() { reader.record("\(path)[\(index)]", item.1) }
            return .tools(items.map(\.0))
        }
        return reader.bool(node, subject: subject).map(ToolApproval.all)
    }

    private static func template(_ map: SpecReader.Mapping, _ key: String, path: String, reader: SpecReader) -> String? {
        guard let node = map.value(key), let text = reader.string(node, subject: map.subject(key)) else { return nil }
        reader.recordTemplate("\(path).\(key)", node)
        return text
    }

    /// A mapping of name → template (a scalar; nothing is the empty text), each recorded as `PATH.NAME`.
    private static func templateMap(_ node: Node, path: String, subject: String, entry: String, reader: SpecReader) -> [String: String]? {
        guard let map = reader.mapping(node, context: subject, subject: subject, path: path, allowedKeys: nil) else { return nil }
        var values: [String: String] = [:]
        for (name, _, value) in map.pairs {
            if reader.isNull(value) {
                values[name] = ""
            } else if let text = reader.string(value, subject: "\(entry) '\(name)' in \(subject)") {
                reader.recordTemplate("\(path).\(name)", value)
                values[name] = text
            }
        }
        return values
    }

    private static func intList(_ node: Node, subject: String, range: ClosedRange<Int>, reader: SpecReader) -> [Int]? {
        let items: [Node]
        if case .sequence(let sequence) = node {
            items = Array(sequence)
        } else {
            items = [node]
        }
        let rangeText = "\(range.lowerBound) to \(range.upperBound)"
        let values = items.compactMap { reader.int($0, subject: "an item of \(subject)", range: range, rangeText: rangeText) }
        return values.count == items.count ? values : nil
    }

    /// `http: {method, url, headers, body, allow_hosts, max_response, accept_status}`.
    private static func decodeHTTP(_ node: Node, path: String, stage: String, reader: SpecReader) -> HTTPSpec? {
        let context = "'http' in stage '\(stage)'"
        guard let map = reader.mapping(node, context: context, subject: context, path: path, allowedKeys: AllowedKeys.http) else {
            return nil
        }
        var method = "GET"
        if let node = map.value("method"), let text = reader.nonEmptyString(node, subject: map.subject("method")) {
            let upper = text.uppercased()
            if ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"].contains(upper) {
                method = upper
            } else {
                reader.emit(
                    .invalidValue(text, for: map.subject("method"), allowed: ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"]), at: node)
            }
        }
        var url: String?
        if let node = map.value("url"), let text = reader.nonEmptyString(node, subject: map.subject("url")) {
            reader.recordTemplate("\(path).url", node)
            url = text
        } else if !map.has("url"), !map.suggested.contains("url") {
            reader.emit(.missingKey("url", in: context, hint: "add 'url: http://127.0.0.1:PORT/PATH' (a template)"), at: node)
        }
        let headers = map.value("headers").flatMap {
            templateMap($0, path: "\(path).headers", subject: map.subject("headers"), entry: "header", reader: reader)
        }
        var body: String?
        if let node = map.value("body"), let text = reader.string(node, subject: map.subject("body")) {
            reader.recordTemplate("\(path).body", node)
            body = text
        }
        var allowHosts: [String]?
        if let node = map.value("allow_hosts"), let items = reader.stringList(node, subject: map.subject("allow_hosts"), allowSingle: true)
        {
            for (index, item) in items.enumerated() { reader.record("\(path).allow_hosts[\(index)]", item.1) }
            allowHosts = items.map(\.0)
        }
        let maxResponse = map.value("max_response").flatMap { reader.size($0, subject: map.subject("max_response")) }
        let accept = map.value("accept_status").flatMap {
            intList($0, subject: map.subject("accept_status"), range: 100...599, reader: reader)
        }
        guard let url else { return nil }
        return HTTPSpec(
            method: method, url: url, headers: headers, body: body, allowHosts: allowHosts, maxResponse: maxResponse, acceptStatus: accept)
    }

    /// `mcp: {server, tool, arguments}`.
    private static func decodeMCP(_ node: Node, path: String, stage: String, reader: SpecReader) -> MCPCallSpec? {
        let context = "'mcp' in stage '\(stage)'"
        guard let map = reader.mapping(node, context: context, subject: context, path: path, allowedKeys: AllowedKeys.mcp) else {
            return nil
        }
        var names: [String: String] = [:]
        for key in ["server", "tool"] {
            if let value = map.value(key) {
                names[key] = reader.nonEmptyString(value, subject: map.subject(key))
            } else if !map.suggested.contains(key) {
                reader.emit(.missingKey(key, in: context, hint: "add '\(key): NAME'"), at: node)
            }
        }
        let arguments = map.value("arguments").flatMap {
            templateMap($0, path: "\(path).arguments", subject: map.subject("arguments"), entry: "argument", reader: reader)
        }
        guard let server = names["server"], let tool = names["tool"] else { return nil }
        return MCPCallSpec(server: server, tool: tool, arguments: arguments)
    }

    /// `mcp_servers:` of a pipeline or profile: name → `{command, env, allow_tools, startup_timeout, call_timeout}`.
    static func decodeServers(_ node: Node, reader: SpecReader) -> [MCPServerSpec]? {
        guard let map = reader.mapping(node, context: "'mcp_servers'", subject: "'mcp_servers'", path: "mcp_servers", allowedKeys: nil)
        else { return nil }
        var servers: [MCPServerSpec] = []
        for (name, keyNode, value) in map.pairs {
            guard PipelineDecoder.isValidName(name) else {
                reader.emit(.invalidName(name, kind: "MCP server", rule: PipelineDecoder.namePattern), at: keyNode)
                continue
            }
            let path = "mcp_servers.\(name)"
            let context = "MCP server '\(name)'"
            guard let server = reader.mapping(value, context: context, subject: context, path: path, allowedKeys: AllowedKeys.mcpServer)
            else { continue }
            var command: [String]?
            if let commandNode = server.value("command"),
                let items = reader.stringList(commandNode, subject: server.subject("command"), allowSingle: false)
            {
                if items.isEmpty {
                    reader.emit(.emptyValue(server.subject("command")), at: commandNode)
                } else {
                    command = items.map(\.0)
                }
            } else if !server.has("command"), !server.suggested.contains("command") {
                reader.emit(.missingKey("command", in: context, hint: "add 'command: [EXECUTABLE, ARG, ...]'"), at: value)
            }
            var env: [String: String]?
            if let envNode = server.value("env"),
                let envMap = reader.mapping(
                    envNode, context: server.subject("env"), subject: server.subject("env"), path: "\(path).env", allowedKeys: nil)
            {
                env = [:]
                for (key, _, item) in envMap.pairs {
                    env?[key] = reader.isNull(item) ? "" : reader.string(item, subject: "variable '\(key)' in \(server.subject("env"))")
                }
            }
            var allowTools: [String]?
            if let toolsNode = server.value("allow_tools"),
                let items = reader.stringList(toolsNode, subject: server.subject("allow_tools"), allowSingle: true)
            {
                for (index, item) in items.enumerated() { reader.record("\(path).allow_tools[\(index)]", item.1) }
                allowTools = items.map(\.0)
            }
            let startup = server.value("startup_timeout").flatMap { reader.duration($0, subject: server.subject("startup_timeout")) }
            let call = server.value("call_timeout").flatMap { reader.duration($0, subject: server.subject("call_timeout")) }
            guard let command else { continue }
            servers.append(
                MCPServerSpec(name: name, command: command, env: env, allowTools: allowTools, startupTimeout: startup, callTimeout: call))
        }
        return servers
    }
}
