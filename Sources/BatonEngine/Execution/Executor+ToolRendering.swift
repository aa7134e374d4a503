import BatonSpec
import Foundation

/// A call rendered and ready to run: what it is, how it reads in a prompt, and its canonical arguments (the key's input).
struct PreparedToolCall {
    enum Action {
        case run(executable: String, arguments: [String], stdin: String?, cwd: String?, env: [String: String], step: RunStep)
        case http(method: String, url: String, headers: [(String, String)], body: String?, spec: HTTPSpec)
        case mcp(server: String, tool: String, arguments: [(key: String, value: JSONValue)], typed: Bool)
    }

    var kind: ToolKind
    /// The stage name for a tool stage, `SERVER.TOOL` for an MCP tool a model called.
    var tool: String
    /// Exactly what runs, for the approval prompt, events and the attempt's `prompt`.
    var detail: String
    /// The rendered call as canonical JSON.
    var arguments: String
    var action: Action
    /// The stage that defines the call (its effects, approval, output and timeout).
    var definition: PlannedStage?
}

/// Turning a tool call's templates into the exact call that runs (Executor+Tools records and judges it).
extension Executor {
    // MARK: - Rendering

    /// Renders the call's templates in its stage's context (with `args` for a tool definition) into a runnable call.
    func prepare(_ call: ToolCallPlan, state: inout RunState) throws -> PreparedToolCall {
        switch call.target {
        case .mcp(let server, let tool):
            let arguments: [(key: String, value: JSONValue)]
            if case .object(let pairs) = call.arguments { arguments = pairs } else { arguments = [] }
            return mcpCall(server: server, tool: tool, name: "\(server).\(tool)", arguments: arguments, typed: true, definition: nil)
        case .stage(let stage):
            guard let step = stage.tool else {
                throw StageFailure(message: "stage '\(stage.name)' is not a tool stage", runtimeUnavailable: false)
            }
            func render(_ text: String) throws -> String {
                try state.renderTool(text, stage: stage, round: call.round, args: call.arguments)
            }
            switch step {
            case .run(let run):
                let rendered = try run.argv.map(render)
                let argv = run.shell ? ["/bin/sh", "-c", rendered.first ?? ""] : rendered
                guard let executable = argv.first, !executable.isEmpty else {
                    throw StageFailure(
                        message: "stage '\(stage.name)': its command is empty after rendering; give `run:` at least the executable",
                        runtimeUnavailable: false)
                }
                let stdin = try run.stdin.map(render)
                let cwd = try run.cwd.map(render)
                var env: [String: String] = [:]
                for (name, template) in run.env ?? [:] { env[name] = try render(template) }
                var fields: [(key: String, value: JSONValue)] = [("argv", .array(argv.map(JSONValue.string)))]
                if let cwd { fields.append(("cwd", .string(cwd))) }
                if !env.isEmpty { fields.append(("env", .object(env.sorted { $0.key < $1.key }.map { ($0.key, .string($0.value)) }))) }
                if let stdin { fields.append(("stdin", .string(stdin))) }
                return PreparedToolCall(
                    kind: .run, tool: stage.name, detail: ToolEnvironment.shellQuoted(argv), arguments: canonical(fields),
                    action: .run(
                        executable: executable, arguments: Array(argv.dropFirst()), stdin: stdin, cwd: cwd, env: env, step: run),
                    definition: stage)
            case .http(let http):
                let url = try render(http.url)
                var headers: [(String, String)] = []
                for (name, template) in (http.headers ?? [:]).sorted(by: { $0.key < $1.key }) {
                    headers.append((name, try render(template)))
                }
                let body = try http.body.map(render)
                var fields: [(key: String, value: JSONValue)] = []
                if let body { fields.append(("body", .string(body))) }
                if !headers.isEmpty { fields.append(("headers", .object(headers.map { ($0.0, .string($0.1)) }))) }
                fields.append(("method", .string(http.method)))
                fields.append(("url", .string(url)))
                let names = headers.map(\.0)
                return PreparedToolCall(
                    kind: .http, tool: stage.name,
                    detail: "\(http.method) \(url)" + (names.isEmpty ? "" : " (headers: \(names.joined(separator: ", ")))"),
                    arguments: canonical(fields), action: .http(method: http.method, url: url, headers: headers, body: body, spec: http),
                    definition: stage)
            case .mcp(let mcp):
                var arguments: [(key: String, value: JSONValue)] = []
                for (name, template) in (mcp.arguments ?? [:]).sorted(by: { $0.key < $1.key }) {
                    arguments.append((name, .string(try render(template))))
                }
                return mcpCall(server: mcp.server, tool: mcp.tool, name: stage.name, arguments: arguments, typed: false, definition: stage)
            }
        }
    }

    func mcpCall(
        server: String, tool: String, name: String, arguments: [(key: String, value: JSONValue)], typed: Bool,
        definition: PlannedStage?
    ) -> PreparedToolCall {
        let sorted = arguments.sorted { $0.key < $1.key }
        let argumentsText = canonical(sorted)
        let fields: [(key: String, value: JSONValue)] = [
            ("arguments", .object(sorted)), ("server", .string(server)), ("tool", .string(tool)),
        ]
        return PreparedToolCall(
            kind: .mcp, tool: name, detail: "\(server).\(tool) \(argumentsText)", arguments: canonical(fields),
            action: .mcp(server: server, tool: tool, arguments: sorted, typed: typed), definition: definition)
    }

    /// JSON text with the keys in the order given (callers sort them), no spaces: the same call, the same text.
    func canonical(_ fields: [(key: String, value: JSONValue)]) -> String {
        Self.canonicalJSON(.object(fields))
    }

    static func canonicalJSON(_ value: JSONValue) -> String {
        switch value {
        case .object(let pairs):
            return "{" + pairs.sorted { $0.key < $1.key }.map { quoted($0.key) + ":" + canonicalJSON($0.value) }.joined(separator: ",")
                + "}"
        case .array(let values): return "[" + values.map(canonicalJSON).joined(separator: ",") + "]"
        case .string(let text): return quoted(text)
        case .number(let number):
            return number == number.rounded() && abs(number) < 1e15 ? String(Int64(number)) : String(number)
        case .bool(let flag): return flag ? "true" : "false"
        case .null: return "null"
        }
    }

    static func quoted(_ text: String) -> String {
        let data = (try? JSONEncoder().encode(text)) ?? Data("\"\"".utf8)
        return String(decoding: data, as: UTF8.self)
    }
}
