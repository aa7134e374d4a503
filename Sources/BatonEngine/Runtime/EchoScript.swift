import BatonSpec
import Foundation
import Yams

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
///
/// The file is read strictly: an unknown key, a value of the wrong type or a round that is not a number is
/// refused with the file, line and column, so a typo in a test's script cannot pass unnoticed.
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
    ///
    /// - Throws: ``RuntimeError`` `.badResponse` (permanent) when the file cannot be read, is over the
    ///   ``YAMLLimits``, is not YAML, or is not a script; the message names the file, and the line, column and
    ///   key of the first problem.
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
        try self.init(yaml: text, file: path, limits: limits)
    }

    /// Reads a script from `text`; `file` names it in errors.
    ///
    /// - Throws: ``RuntimeError`` `.badResponse` (permanent), as ``init(contentsOf:)``.
    public init(yaml text: String, file: String, limits: YAMLLimits = .standard) throws {
        if let violation = limits.check(text) {
            throw RuntimeError(.badResponse, "echo script refused: \(violation.message(file: file))", isTransient: false)
        }
        let reader = Reader(file: file)
        let root: Node?
        do {
            // The basic resolver keeps every scalar as written (`no` stays `no`), as pipelines and profiles are read.
            root = try Yams.compose(yaml: text, .basic)
        } catch let error as YamlError {
            throw reader.error(error)
        }
        guard let root, case .mapping(let stages) = root else {
            throw reader.error(at: root, "must map stage names to rounds (`review: {1: {verdict: approve}}`)")
        }
        for (stageNode, roundsNode) in stages {
            // Yams refuses a key given twice in one mapping, so each stage and each answer's key comes once.
            let stage = try reader.text(stageNode, "a stage name")
            guard case .mapping(let rounds) = roundsNode else {
                throw reader.error(
                    at: roundsNode, "stage '\(stage)' must map rounds to answers (`1: {output: ...}`), not \(Reader.describe(roundsNode))")
            }
            var byRound: [Int: Entry] = [:]
            for (roundNode, entryNode) in rounds {
                let round = try reader.round(roundNode, stage: stage)
                guard byRound[round] == nil else {
                    // `1` and `01` are different keys to YAML but the same round.
                    throw reader.error(at: roundNode, "stage '\(stage)' gives round \(round == 0 ? "*" : "\(round)") twice")
                }
                byRound[round] = try reader.entry(entryNode, context: "stage '\(stage)' round '\(roundNode.string ?? "")'")
            }
            entries[stage] = byRound
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

extension EchoScript {
    /// Reads typed values out of a script's nodes; each error names the file and the node's line and column.
    private struct Reader {
        let file: String

        /// The keys an answer may have, in the order messages list them.
        static let keys = ["output", "verdict", "feedback", "thinking", "finish", "delay", "fail", "times"]

        func error(at node: Node?, _ problem: String) -> RuntimeError {
            let place = node?.mark.map { "\(file):\($0.line):\($0.column)" } ?? "\(file):1:1"
            return RuntimeError(.badResponse, "echo script \(place): \(problem)", isTransient: false)
        }

        /// A YAML syntax error at its place; a key given twice names the key.
        func error(_ error: YamlError) -> RuntimeError {
            func place(_ mark: Mark) -> String { "\(file):\(max(mark.line, 1)):\(max(mark.column, 1))" }
            let problem: String
            switch error {
            case .scanner(_, let text, let mark, _), .parser(_, let text, let mark, _), .composer(_, let text, let mark, _):
                problem = "\(place(mark)): invalid YAML: \(text)"
            case .duplicatedKeysInMapping(let duplicates, let context):
                problem = "\(place(context.mark)): a mapping gives the key '\(duplicates.first ?? "?")' twice; keep one"
            default:
                problem = "'\(file)' is not valid YAML: \(error)"
            }
            return RuntimeError(.badResponse, "echo script \(problem)", isTransient: false)
        }

        /// How a node reads in a message.
        static func describe(_ node: Node) -> String {
            switch node {
            case .scalar(let scalar): "'\(scalar.string.prefix(40))'"
            case .mapping: "a mapping"
            case .sequence: "a list"
            case .alias: "an alias"
            }
        }

        /// A scalar's text; `what` names it when the node is not a scalar.
        func text(_ node: Node, _ what: String) throws -> String {
            guard case .scalar(let scalar) = node else { throw error(at: node, "expected \(what), found \(Self.describe(node))") }
            return scalar.string
        }

        /// A round key: a number from 1, or `"*"` for every round (stored as 0).
        func round(_ node: Node, stage: String) throws -> Int {
            let text = try text(node, "a round number")
            if text == "*" { return 0 }
            guard let round = Int(text), round >= 1 else {
                throw error(at: node, "stage '\(stage)' has round '\(text)'; rounds are numbers from 1, or \"*\" for every round")
            }
            return round
        }

        /// One answer: a mapping of ``keys``.
        func entry(_ node: Node, context: String) throws -> Entry {
            guard case .mapping(let fields) = node else {
                throw error(at: node, "\(context) must be a mapping such as {output: ...}, not \(Self.describe(node))")
            }
            var entry = Entry()
            var fail: (value: String, node: Node)?
            var times: (value: Int, node: Node)?
            for (keyNode, value) in fields {
                let key = try text(keyNode, "a key")
                guard Self.keys.contains(key) else {
                    throw error(at: keyNode, "\(context) has an unknown key '\(key)'; use \(Self.keys.joined(separator: ", "))")
                }
                let field = "\(context) key '\(key)'"
                let string = try text(value, "text for \(field)")
                switch key {
                case "output": entry.output = string
                case "verdict": entry.verdict = string
                case "feedback": entry.feedback = string
                case "thinking": entry.thinking = string
                case "finish":
                    guard EchoScript.finishReasons[string] != nil else {
                        throw error(at: value, "\(context) has finish '\(string)'; use stop, length, refusal or content_filter")
                    }
                    entry.finish = string
                case "delay":
                    guard let seconds = DurationParsing.seconds(from: string) else {
                        throw error(at: value, "\(field) is '\(string)', not a duration; write it as 500ms, 2s or 1m")
                    }
                    entry.delay = seconds
                case "fail":
                    guard string == "transient" || string == "permanent" else {
                        throw error(at: value, "\(field) is '\(string)'; use transient or permanent")
                    }
                    fail = (string, value)
                default:  // "times"
                    guard let count = Int(string), count >= 1 else {
                        throw error(at: value, "\(field) is '\(string)'; give the number of calls that fail, from 1")
                    }
                    times = (count, value)
                }
            }
            if let times, fail == nil {
                throw error(at: times.node, "\(context) has 'times' without 'fail'; add fail: transient or fail: permanent")
            }
            if let fail { entry.failure = (fail.value == "transient", times?.value ?? 1) }
            return entry
        }
    }
}
