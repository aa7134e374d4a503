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
        guard let immediate = immediateEvents(request) else {
            let (entry, failingStage) = lookUp(request)
            return .generation(request) { continuation in try await run(request, entry: entry, failingStage: failingStage, continuation) }
        }
        let (stream, continuation) = AsyncThrowingStream<GenerationEvent, any Error>.makeStream()
        switch immediate {
        case .success(let events):
            for event in events { continuation.yield(event) }
            continuation.finish()
        case .failure(let error):
            continuation.finish(throwing: error)
        }
        return stream
    }

    /// The whole call at once, when it has nothing to wait for (no delay): its events, or the scripted failure it ends
    /// with; nil when it has delays (``generate(_:)`` then waits in a task of its own).
    ///
    /// The executor reads these without a stream (`Executor+Generation.swift`): a task to produce the events, the
    /// switches between it and the reader, and the stream's own locking were about two fifths of the engine's time per
    /// stage on the echo chain (Benchmarks/README.md). The reader still gets one event per token, in order.
    public func immediateEvents(_ request: GenerationRequest) -> Result<[GenerationEvent], any Error>? {
        guard options.callDelay <= 0, options.tokenDelay <= 0 else { return nil }
        let (entry, failingStage) = lookUp(request)
        guard (entry?.delay ?? 0) <= 0 else { return nil }
        let answer: Answer
        do {
            answer = try respond(request, entry: entry, failingStage: failingStage)
        } catch {
            return .failure(error)
        }
        var events: [GenerationEvent] = []
        events.reserveCapacity(answer.tokens.count + 2)
        if let thinking = answer.thinking { events.append(.thinking(thinking)) }
        for token in answer.tokens { events.append(.token(token)) }
        events.append(.finished(answer.usage))
        return .success(events)
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
        let (head, count) = Self.head(of: request.prompt)
        return "[\(request.model)] \(request.stage) round \(request.round): \(head) (\(count) characters)"
    }

    /// The prompt's lines joined by spaces (blank lines dropped), cut to 80 characters with an ellipsis, and the
    /// prompt's length in characters.
    static func head(of prompt: String) -> (head: String, count: Int) {
        var copy = prompt
        let fast = copy.withUTF8 { bytes -> (String, Int)? in
            guard scalarsAreCharacters(bytes) else { return nil }
            // Every scalar is a character, and the line breaks are the bytes from `\n` to `\r` (`isNewline` here).
            var flat: [UInt8] = []
            flat.reserveCapacity(min(bytes.count, 100))
            var characters = 0
            var pendingSpace = false
            var cut = false
            for byte in bytes {
                if (0x0A...0x0D).contains(byte) {
                    pendingSpace = !flat.isEmpty
                    continue
                }
                if byte & 0xC0 != 0x80 {
                    if pendingSpace {
                        if characters == 80 {
                            cut = true
                            break
                        }
                        flat.append(0x20)
                        characters += 1
                        pendingSpace = false
                    }
                    if characters == 80 {
                        cut = true
                        break
                    }
                    characters += 1
                }
                flat.append(byte)
            }
            let count = bytes.reduce(0) { $1 & 0xC0 != 0x80 ? $0 + 1 : $0 }
            return (String(decoding: flat, as: UTF8.self) + (cut ? "…" : ""), count)
        }
        if let fast { return fast }
        let flat = prompt.split(whereSeparator: \.isNewline).joined(separator: " ")
        return (flat.count > 80 ? String(flat.prefix(80)) + "…" : flat, prompt.count)
    }

    /// Words with their following spaces: a deterministic tokenization.
    static func tokens(of text: String) -> [String] {
        var copy = text
        if let tokens = copy.withUTF8({ bytes -> [String]? in
            guard splitsAsCharacters(bytes) else { return nil }
            var tokens: [String] = []
            tokens.reserveCapacity(bytes.count / 4 + 1)
            var start = 0
            for index in bytes.indices where bytes[index] == 0x20 || bytes[index] == 0x0A {
                tokens.append(String(decoding: UnsafeBufferPointer(rebasing: bytes[start...index]), as: UTF8.self))
                start = index + 1
            }
            if start < bytes.count { tokens.append(String(decoding: UnsafeBufferPointer(rebasing: bytes[start...]), as: UTF8.self)) }
            return tokens
        }) {
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
        var copy = text
        return copy.withUTF8 { bytes -> Int? in
            guard splitsAsCharacters(bytes) else { return nil }
            var count = 0
            for byte in bytes where byte == 0x20 || byte == 0x0A { count += 1 }
            if let last = bytes.last, last != 0x20, last != 0x0A { count += 1 }
            return count
        } ?? tokens(of: text).count
    }

    /// Whether splitting `bytes` after each space and line feed byte splits it where ``tokens(of:)`` splits its
    /// characters: each such byte is a character of its own. A line feed is one unless it follows a carriage return
    /// (`\r\n` is one character); a space is one unless a character joins it from either side (combining marks,
    /// joiners, prepended marks), all outside ASCII. So: no `\r\n`, and around every space ASCII or a scalar known not
    /// to join (`neverJoins`); anything else is left to the character-by-character split.
    private static func splitsAsCharacters(_ bytes: UnsafeBufferPointer<UInt8>) -> Bool {
        for index in bytes.indices {
            switch bytes[index] {
            case 0x20:
                if index > 0, bytes[index - 1] >= 0x80 {
                    var lead = index - 1
                    while lead > 0, bytes[lead] & 0xC0 == 0x80 { lead -= 1 }
                    guard neverJoins(scalar(bytes, at: lead)) else { return false }
                }
                if index + 1 < bytes.count, bytes[index + 1] >= 0x80 {
                    guard neverJoins(scalar(bytes, at: index + 1)) else { return false }
                }
            case 0x0A:
                if index > 0, bytes[index - 1] == 0x0D { return false }
            default: continue
            }
        }
        return true
    }

    /// Latin-1 and Latin Extended letters and signs (up to U+02FF, before the combining marks) and general punctuation
    /// (U+2010–U+2027: dashes, quotes, bullets, the ellipsis that ``answer(_:entry:)`` writes): none extends or
    /// prepends to a character.
    private static func neverJoins(_ scalar: UInt32) -> Bool {
        (0xA0...0x2FF).contains(scalar) || (0x2010...0x2027).contains(scalar)
    }

    /// The scalar whose UTF-8 starts at `index` (valid UTF-8, as a String's is).
    private static func scalar(_ bytes: UnsafeBufferPointer<UInt8>, at index: Int) -> UInt32 {
        let lead = UInt32(bytes[index])
        let (length, value): (Int, UInt32) =
            lead < 0x80 ? (1, lead) : lead < 0xE0 ? (2, lead & 0x1F) : lead < 0xF0 ? (3, lead & 0x0F) : (4, lead & 0x07)
        var result = value
        for offset in 1..<max(length, 1) where index + offset < bytes.count {
            result = result << 6 | UInt32(bytes[index + offset] & 0x3F)
        }
        return result
    }

    /// Whether every scalar of `bytes` is a character of its own: no `\r\n`, and no scalar outside ASCII but those
    /// that never join (`neverJoins`).
    private static func scalarsAreCharacters(_ bytes: UnsafeBufferPointer<UInt8>) -> Bool {
        for index in bytes.indices {
            let byte = bytes[index]
            if byte == 0x0D, index + 1 < bytes.count, bytes[index + 1] == 0x0A { return false }
            if byte >= 0xC0, !neverJoins(scalar(bytes, at: index)) { return false }
        }
        return true
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
