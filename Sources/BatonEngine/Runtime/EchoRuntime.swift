import BatonSpec
import Foundation

/// The built-in deterministic runtime (`kind: echo`): answers from the rendered prompt, optionally
/// waiting per call and per token like a model would, and scriptable per stage and round.
///
/// It is what CI uses to run pipelines without a model and what the engine's benchmarks use.
/// Options (profile runtime `options`, overridden by the environment):
///
/// | option | environment | meaning |
/// | --- | --- | --- |
/// | `call_delay` | `BATON_ECHO_CALL_DELAY` | wait before the first token (a duration) |
/// | `token_delay` | `BATON_ECHO_TOKEN_DELAY` | wait before each further token |
/// | `script` | `BATON_ECHO_SCRIPT` | a YAML file of answers per stage and round (see ``EchoScript``) |
/// | `call_log` | `BATON_ECHO_CALL_LOG` | a file that gets one line per call: `stage<TAB>round<TAB>model`, plus `<TAB>item` for a fan-out item |
/// | `embed_dimensions` | | the width of its embedding vectors (1...4096, default 384; see `EchoRuntime+Embeddings.swift`) |
public struct EchoRuntime: LLMRuntime {
    /// How the runtime behaves.
    public struct Options: Sendable, Hashable {
        /// Seconds before the first token.
        public var callDelay: Double = 0
        /// Seconds before each further token.
        public var tokenDelay: Double = 0
        /// Scripted answers.
        public var script = EchoScript()
        /// A file that records every call.
        public var callLog: String?
        /// The width of embedding vectors.
        public var embedDimensions = EchoRuntime.defaultEmbedDimensions

        /// Options with no delays, no script and no log.
        public init() {}
    }

    /// The options in force.
    public let options: Options

    /// Creates an echo runtime.
    public init(options: Options = Options()) {
        self.options = options
    }

    /// Reads options from a profile runtime's `options` and the environment (the environment wins).
    ///
    /// - Throws: ``RuntimeError`` with code `badResponse` when a delay does not parse or the script is
    ///   unreadable or malformed.
    public static func options(from values: [String: String], environment: [String: String]) throws -> Options {
        var merged = values
        for (key, variable) in [
            ("call_delay", "BATON_ECHO_CALL_DELAY"), ("token_delay", "BATON_ECHO_TOKEN_DELAY"),
            ("script", "BATON_ECHO_SCRIPT"), ("call_log", "BATON_ECHO_CALL_LOG"),
        ] {
            if let value = environment[variable], !value.isEmpty { merged[key] = value }
        }
        var options = Options()
        for (key, value) in merged where !value.isEmpty {
            switch key {
            case "call_delay", "token_delay":
                guard let seconds = DurationParsing.seconds(from: value) else {
                    throw RuntimeError(.badResponse, "echo runtime option '\(key)' is not a duration: '\(value)'", isTransient: false)
                }
                if key == "call_delay" { options.callDelay = seconds } else { options.tokenDelay = seconds }
            case "script":
                options.script = try EchoScript(contentsOf: value)
            case "call_log":
                options.callLog = value
            case "embed_dimensions":
                guard let width = Int(value), (1...4096).contains(width) else {
                    throw RuntimeError(
                        .badResponse, "echo runtime option 'embed_dimensions' must be a whole number from 1 to 4096, not '\(value)'",
                        isTransient: false)
                }
                options.embedDimensions = width
            default:
                throw RuntimeError(
                    .badResponse, "unknown echo runtime option '\(key)'; use call_delay, token_delay, script, call_log or embed_dimensions",
                    isTransient: false)
            }
        }
        return options
    }

    /// The stream fails by itself past the stage's timeout (``AsyncThrowingStream/generation(_:_:)``).
    public var enforcesTimeout: Bool { true }

    public func generate(_ request: GenerationRequest) -> AsyncThrowingStream<GenerationEvent, any Error> {
        .generation(request) { continuation in try await run(request, continuation) }
    }

    private func run(_ request: GenerationRequest, _ continuation: AsyncThrowingStream<GenerationEvent, any Error>.Continuation)
        async throws
    {
        if let log = options.callLog {
            // A fan-out item's call adds the item as a fourth field; lines without one read as before.
            let item = request.item.map { "\t\($0)" } ?? ""
            EchoCallLog.append("\(request.stage)\t\(request.round)\t\(request.model)\(item)\n", to: log)
        }
        // An item's answers may be scripted under `stage[item]` (items from 0), else under the stage.
        let itemStage = request.item.map { "\(request.stage)[\($0)]" }
        let scripted = itemStage.flatMap { options.script.entry(stage: $0, round: request.round) }
        let entry = scripted ?? options.script.entry(stage: request.stage, round: request.round)
        let failingStage = scripted != nil ? itemStage ?? request.stage : request.stage
        if let failure = entry?.failure, options.script.shouldFail(stage: failingStage, round: request.round, times: failure.times) {
            if options.callDelay > 0 { try await Task.sleep(for: .seconds(options.callDelay)) }
            throw RuntimeError(
                .injected,
                "echo runtime: scripted \(failure.transient ? "transient" : "permanent") failure of stage '\(request.stage)' round \(request.round)",
                isTransient: failure.transient)
        }
        let output = answer(request, entry: entry)
        let tokens = Self.tokens(of: output)
        let callDelay = entry?.delay ?? options.callDelay
        if callDelay > 0 { try await Task.sleep(for: .seconds(callDelay)) }
        if let thinking = entry?.thinking { continuation.yield(.thinking(thinking)) }
        for (index, token) in tokens.enumerated() {
            if index > 0, options.tokenDelay > 0 { try await Task.sleep(for: .seconds(options.tokenDelay)) }
            try Task.checkCancellation()
            continuation.yield(.token(token))
        }
        var usage = GenerationUsage(promptTokens: Self.tokens(of: request.prompt).count, outputTokens: tokens.count)
        if let finish = entry?.finish, let kind = EchoScript.finishReasons[finish] {
            usage.finish = FinishReason(kind, raw: finish, detail: kind == .refused ? output : nil)
        }
        continuation.yield(.finished(usage))
    }

    /// The answer: scripted if the script has one, else derived from the prompt (or the schema for JSON).
    func answer(_ request: GenerationRequest, entry: EchoScript.Entry?) -> String {
        if let schema = request.responseSchema {
            // A critic asks with the verdict schema; a JSON stage whose own schema has a `verdict` (code-review's) is
            // answered like any JSON stage, so its scripted output is not replaced by a verdict.
            if schema == StageResult.verdictSchema {
                let verdict = entry?.verdict ?? "approve"
                let feedback = entry?.feedback ?? (verdict == "approve" ? "Looks good." : "Please revise.")
                return Self.json(.object([("verdict", .string(verdict)), ("feedback", .string(feedback))]))
            }
            if let output = entry?.output { return output }
            return Self.json(Self.instance(of: schema))
        }
        if let output = entry?.output { return output }
        let flat = request.prompt.split(whereSeparator: \.isNewline).joined(separator: " ")
        let head = flat.count > 80 ? String(flat.prefix(80)) + "…" : flat
        return "[\(request.model)] \(request.stage) round \(request.round): \(head) (\(request.prompt.count) characters)"
    }

    /// Words with their following spaces: a deterministic tokenization.
    static func tokens(of text: String) -> [String] {
        var tokens: [String] = []
        var current = ""
        for character in text {
            current.append(character)
            if character == " " || character == "\n" {
                tokens.append(current)
                current = ""
            }
        }
        if !current.isEmpty { tokens.append(current) }
        return tokens
    }

    /// A small value that satisfies a JSON schema's types.
    static func instance(of schema: JSONValue) -> JSONValue {
        if let value = schema["const"] { return value }
        if let values = schema["enum"], case .array(let options) = values, let first = options.first { return first }
        // The last alternative: in a `tool_mode: json` turn that is the final answer, so an echo run's tool loop ends at once.
        if case .array(let options)? = schema["anyOf"] ?? schema["oneOf"], let last = options.last { return instance(of: last) }
        switch schema["type"]?.stringValue {
        case "object", nil:
            guard case .object(let properties)? = schema["properties"] else { return .object([]) }
            return .object(properties.map { ($0.key, instance(of: $0.value)) })
        case "array":
            // As many items as minItems asks for (a `cite:` stage's citations ask for one).
            guard case .number(let least)? = schema["minItems"], least >= 1 else { return .array([]) }
            return .array(Array(repeating: instance(of: schema["items"] ?? .object([])), count: Int(least)))
        case "string": return .string("echo")
        case "integer", "number": return .number(0)
        case "boolean": return .bool(false)
        default: return .null
        }
    }

    static func json(_ value: JSONValue) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return (try? encoder.encode(value)).map { String(decoding: $0, as: UTF8.self) } ?? "{}"
    }
}
