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
        let (entry, failingStage) = lookUp(request)
        guard options.callDelay <= 0, options.tokenDelay <= 0, (entry?.delay ?? 0) <= 0 else {
            return .generation(request) { continuation in try await run(request, entry: entry, failingStage: failingStage, continuation) }
        }
        // Nothing to wait for: the whole answer is known now, so it is buffered at once, with no task to produce it and
        // no switch between that task and the reader (the two were two fifths of the engine's time per stage on the
        // echo chain, Benchmarks/README.md). The reader still gets one event per token, in order.
        let (stream, continuation) = AsyncThrowingStream<GenerationEvent, any Error>.makeStream()
        do {
            let answer = try respond(request, entry: entry, failingStage: failingStage)
            if let thinking = answer.thinking { continuation.yield(.thinking(thinking)) }
            for token in answer.tokens { continuation.yield(.token(token)) }
            continuation.yield(.finished(answer.usage))
            continuation.finish()
        } catch {
            continuation.finish(throwing: error)
        }
        return stream
    }

    /// The answer to a call, before any delay.
    private struct Answer {
        var thinking: String?
        var tokens: [String]
        var usage: GenerationUsage
    }

    /// The script's entry for a call, and the stage name its failures are counted under.
    private func lookUp(_ request: GenerationRequest) -> (entry: EchoScript.Entry?, failingStage: String) {
        // An item's answers may be scripted under `stage[item]` (items from 0), else under the stage.
        let itemStage = request.item.map { "\(request.stage)[\($0)]" }
        let scripted = itemStage.flatMap { options.script.entry(stage: $0, round: request.round) }
        let entry = scripted ?? options.script.entry(stage: request.stage, round: request.round)
        return (entry, scripted != nil ? itemStage ?? request.stage : request.stage)
    }

    /// Logs the call and answers it.
    ///
    /// - Throws: the scripted failure, when the script has one for this call.
    private func respond(_ request: GenerationRequest, entry: EchoScript.Entry?, failingStage: String) throws -> Answer {
        if let log = options.callLog {
            // A fan-out item's call adds the item as a fourth field; lines without one read as before.
            let item = request.item.map { "\t\($0)" } ?? ""
            EchoCallLog.append("\(request.stage)\t\(request.round)\t\(request.model)\(item)\n", to: log)
        }
        if let failure = entry?.failure, options.script.shouldFail(stage: failingStage, round: request.round, times: failure.times) {
            throw RuntimeError(
                .injected,
                "echo runtime: scripted \(failure.transient ? "transient" : "permanent") failure of stage '\(request.stage)' round \(request.round)",
                isTransient: failure.transient)
        }
        let output = answer(request, entry: entry)
        let tokens = Self.tokens(of: output)
        var usage = GenerationUsage(promptTokens: Self.tokenCount(of: request.prompt), outputTokens: tokens.count)
        if let finish = entry?.finish, let kind = EchoScript.finishReasons[finish] {
            usage.finish = FinishReason(kind, raw: finish, detail: kind == .refused ? output : nil)
        }
        return Answer(thinking: entry?.thinking, tokens: tokens, usage: usage)
    }

    /// A call with delays, in the stream's own task.
    private func run(
        _ request: GenerationRequest, entry: EchoScript.Entry?, failingStage: String,
        _ continuation: AsyncThrowingStream<GenerationEvent, any Error>.Continuation
    ) async throws {
        let answer: Answer
        do {
            answer = try respond(request, entry: entry, failingStage: failingStage)
        } catch {
            if options.callDelay > 0 { try await Task.sleep(for: .seconds(options.callDelay)) }
            throw error
        }
        let callDelay = entry?.delay ?? options.callDelay
        if callDelay > 0 { try await Task.sleep(for: .seconds(callDelay)) }
        if let thinking = answer.thinking { continuation.yield(.thinking(thinking)) }
        for (index, token) in answer.tokens.enumerated() {
            if index > 0, options.tokenDelay > 0 { try await Task.sleep(for: .seconds(options.tokenDelay)) }
            try Task.checkCancellation()
            continuation.yield(.token(token))
        }
        continuation.yield(.finished(answer.usage))
    }

    /// The answer: scripted if the script has one, else derived from the prompt (or the schema for JSON).
    func answer(_ request: GenerationRequest, entry: EchoScript.Entry?) -> String {
        if let schema = request.responseSchema {
            // A critic asks with the verdict schema; a JSON stage whose own schema has a `verdict` (code-review's) is
            // answered like any JSON stage, so its scripted output is not replaced by a verdict.
            if schema == StageResult.verdictSchema {
                let verdict = entry?.verdict ?? "approve"
                let feedback = entry?.feedback ?? (verdict == "approve" ? "Looks good." : "Please revise.")
                return Self.verdictJSON(verdict: verdict, feedback: feedback)
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
        if isPlainASCII(text) {
            // One byte is one character here, so splitting the bytes splits the characters.
            var tokens: [String] = []
            let utf8 = text.utf8
            var start = utf8.startIndex
            var index = start
            while index != utf8.endIndex {
                let byte = utf8[index]
                utf8.formIndex(after: &index)
                if byte == 0x20 || byte == 0x0A {
                    tokens.append(String(text[start..<index]))
                    start = index
                }
            }
            if start != utf8.endIndex { tokens.append(String(text[start...])) }
            return tokens
        }
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

    /// How many tokens ``tokens(of:)`` makes of `text`, without making them (a prompt's count, on every call).
    static func tokenCount(of text: String) -> Int {
        guard isPlainASCII(text) else { return tokens(of: text).count }
        var count = 0
        var pending = false
        for byte in text.utf8 {
            if byte == 0x20 || byte == 0x0A {
                count += 1
                pending = false
            } else {
                pending = true
            }
        }
        return pending ? count + 1 : count
    }

    /// ASCII without a carriage return: every byte a character of its own (`\r\n` is one character).
    private static func isPlainASCII(_ text: String) -> Bool {
        text.utf8.allSatisfy { $0 < 0x80 && $0 != 0x0D }
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

    /// A verdict as ``json(_:)`` writes it, without a JSONEncoder when neither text needs escaping (every critic's
    /// call makes one).
    static func verdictJSON(verdict: String, feedback: String) -> String {
        func plain(_ text: String) -> Bool {
            text.utf8.allSatisfy { (0x20..<0x7F).contains($0) && $0 != UInt8(ascii: "\"") && $0 != UInt8(ascii: "\\") }
        }
        guard plain(verdict), plain(feedback) else {
            return json(.object([("verdict", .string(verdict)), ("feedback", .string(feedback))]))
        }
        return "{\"feedback\":\"\(feedback)\",\"verdict\":\"\(verdict)\"}"
    }

    static func json(_ value: JSONValue) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return (try? encoder.encode(value)).map { String(decoding: $0, as: UTF8.self) } ?? "{}"
    }
}
