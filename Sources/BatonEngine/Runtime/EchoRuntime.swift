import BatonSpec
import Foundation
import Yams

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
/// | `call_log` | `BATON_ECHO_CALL_LOG` | a file that gets one line per call: `stage<TAB>round<TAB>model` |
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
            default:
                throw RuntimeError(
                    .badResponse, "unknown echo runtime option '\(key)'; use call_delay, token_delay, script or call_log",
                    isTransient: false)
            }
        }
        return options
    }

    public func generate(_ request: GenerationRequest) -> AsyncThrowingStream<GenerationEvent, any Error> {
        AsyncThrowingStream { continuation in
            let task = Task {
                do {
                    try await run(request, continuation)
                    continuation.finish()
                } catch {
                    continuation.finish(throwing: error)
                }
            }
            continuation.onTermination = { _ in task.cancel() }
        }
    }

    private func run(_ request: GenerationRequest, _ continuation: AsyncThrowingStream<GenerationEvent, any Error>.Continuation)
        async throws
    {
        if let log = options.callLog {
            EchoCallLog.append("\(request.stage)\t\(request.round)\t\(request.model)\n", to: log)
        }
        let entry = options.script.entry(stage: request.stage, round: request.round)
        if let failure = entry?.failure, options.script.shouldFail(stage: request.stage, round: request.round, times: failure.times) {
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
            if schema["properties"]?["verdict"] != nil {
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
        if let values = schema["enum"], case .array(let options) = values, let first = options.first { return first }
        switch schema["type"]?.stringValue {
        case "object", nil:
            guard case .object(let properties)? = schema["properties"] else { return .object([]) }
            return .object(properties.map { ($0.key, instance(of: $0.value)) })
        case "array": return .array([])
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

/// Scripted echo answers, read from YAML:
///
/// ```yaml
/// review:                       # stage
///   1: {verdict: revise, feedback: Add tests.}   # round 1
///   2: {verdict: approve}
/// plan:
///   "*": {output: "1. Write the code"}          # every round
/// flaky:
///   1: {fail: transient, times: 2}               # the first two calls of round 1 fail
/// summary:
///   1: {output: "The answer is", finish: length} # cut at max_tokens, as a runtime would report it
///   2: {thinking: "Hmm.", output: "Tea."}         # thinking, recorded apart from the answer
/// ```
public struct EchoScript: Sendable, Hashable {
    /// One scripted answer.
    public struct Entry: Sendable, Hashable {
        /// Text to answer with.
        public var output: String?
        /// A critic verdict (`approve` or `revise`, or anything else to test malformed verdicts).
        public var verdict: String?
        /// A critic's feedback.
        public var feedback: String?
        /// Fail instead of answering.
        public var failure: (transient: Bool, times: Int)?
        /// Seconds before the first token, instead of the runtime's `call_delay`.
        public var delay: Double?
        /// How the answer stops, as a real runtime would say it: `length` (cut at max_tokens), `refusal`,
        /// `content_filter`; unset is a normal stop.
        public var finish: String?
        /// Thinking streamed before the answer, recorded apart from it.
        public var thinking: String?

        public static func == (lhs: Entry, rhs: Entry) -> Bool {
            lhs.output == rhs.output && lhs.verdict == rhs.verdict && lhs.feedback == rhs.feedback
                && lhs.failure?.transient == rhs.failure?.transient && lhs.failure?.times == rhs.failure?.times
                && lhs.delay == rhs.delay && lhs.finish == rhs.finish && lhs.thinking == rhs.thinking
        }

        public func hash(into hasher: inout Hasher) {
            hasher.combine(output)
            hasher.combine(verdict)
            hasher.combine(feedback)
        }
    }

    /// Entries by stage, then by round (`0` stands for `"*"`, every round).
    public var entries: [String: [Int: Entry]] = [:]
    /// Calls that failed so far, by stage and round (for `times`).
    private let failures = FailureCounter()

    /// An empty script.
    public init() {}

    /// Reads a script file.
    public init(contentsOf path: String) throws {
        // Held to the limits of every YAML file Baton reads: its size before reading it, its aliases before Yams
        // builds values (Yams would copy each alias).
        let limits = YAMLLimits.standard
        if let size = (try? FileManager.default.attributesOfItem(atPath: path)[.size]) as? Int,
            let violation = limits.check(byteCount: size)
        {
            throw RuntimeError(.badResponse, "echo script refused: \(violation.message(file: path))", isTransient: false)
        }
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            throw RuntimeError(.badResponse, "echo script '\(path)' could not be read", isTransient: false)
        }
        if let violation = limits.check(text) {
            throw RuntimeError(.badResponse, "echo script refused: \(violation.message(file: path))", isTransient: false)
        }
        let root: Any?
        do {
            root = try Yams.load(yaml: text)
        } catch {
            throw RuntimeError(.badResponse, "echo script '\(path)' is not valid YAML: \(error)", isTransient: false)
        }
        guard let stages = root as? [String: Any] else {
            throw RuntimeError(.badResponse, "echo script '\(path)' must map stage names to rounds", isTransient: false)
        }
        for (stage, value) in stages {
            guard let rounds = value as? [AnyHashable: Any] else { continue }
            for (roundKey, entryValue) in rounds {
                let round = "\(roundKey)" == "*" ? 0 : Int("\(roundKey)") ?? -1
                guard round >= 0, let fields = entryValue as? [String: Any] else {
                    throw RuntimeError(
                        .badResponse, "echo script '\(path)': stage '\(stage)' round '\(roundKey)' is malformed", isTransient: false)
                }
                var entry = Entry()
                entry.output = fields["output"].map { "\($0)" }
                entry.verdict = fields["verdict"].map { "\($0)" }
                entry.feedback = fields["feedback"].map { "\($0)" }
                entry.delay = fields["delay"].flatMap { DurationParsing.seconds(from: "\($0)") }
                entry.thinking = fields["thinking"].map { "\($0)" }
                if let finish = fields["finish"].map({ "\($0)" }) {
                    guard EchoScript.finishReasons[finish] != nil else {
                        throw RuntimeError(
                            .badResponse,
                            "echo script '\(path)': stage '\(stage)' round '\(roundKey)' has finish '\(finish)'; use stop, length, refusal or content_filter",
                            isTransient: false)
                    }
                    entry.finish = finish
                }
                if let fail = fields["fail"].map({ "\($0)" }) {
                    entry.failure = (fail == "transient", (fields["times"] as? Int) ?? 1)
                }
                entries[stage, default: [:]][round] = entry
            }
        }
    }

    /// The finish reasons a script may give, as the executor sees them.
    static let finishReasons: [String: FinishReason.Kind] = [
        "stop": .complete, "length": .truncated, "refusal": .refused, "content_filter": .filtered,
    ]

    func entry(stage: String, round: Int) -> Entry? {
        entries[stage]?[round] ?? entries[stage]?[0]
    }

    func shouldFail(stage: String, round: Int, times: Int) -> Bool {
        failures.increment("\(stage)#\(round)") <= times
    }

    public static func == (lhs: EchoScript, rhs: EchoScript) -> Bool { lhs.entries == rhs.entries }
    public func hash(into hasher: inout Hasher) { hasher.combine(entries) }
}

/// Counts calls across concurrent requests.
final class FailureCounter: @unchecked Sendable {
    private let lock = NSLock()
    private var counts: [String: Int] = [:]

    func increment(_ key: String) -> Int {
        lock.lock()
        defer { lock.unlock() }
        counts[key, default: 0] += 1
        return counts[key]!
    }
}

/// Appends call lines with O_APPEND, so lines from a killed process are never torn.
enum EchoCallLog {
    static func append(_ line: String, to path: String) {
        let fd = open(path, O_WRONLY | O_CREAT | O_APPEND, 0o644)
        guard fd >= 0 else { return }
        defer { close(fd) }
        let bytes = Array(line.utf8)
        _ = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
    }
}
