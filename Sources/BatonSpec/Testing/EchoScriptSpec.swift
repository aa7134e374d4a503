import Yams

/// An echo script (scripted answers per stage and round), parsed without I/O: the format of `BATON_ECHO_SCRIPT` files
/// and of a test case's `echo:` (docs/test-format.md, "Echo scripts").
public struct EchoScriptSpec: Sendable, Hashable {
    /// Answers by stage (or `stage[item]`), then by round (`0` stands for `"*"`, every round).
    public var entries: [String: [Int: EchoAnswer]]
    /// Where each stage key is written.
    public var locations: [String: SourceLocation]

    /// A script of the given entries.
    public init(entries: [String: [Int: EchoAnswer]] = [:], locations: [String: SourceLocation] = [:]) {
        self.entries = entries
        self.locations = locations
    }

    /// Reads a script from its YAML root node (nil: an empty document). Every problem is a `test-echo-invalid`
    /// diagnostic in `file`, in document order; entries with problems are left out.
    public static func read(_ root: Node?, file: String) -> (spec: EchoScriptSpec, diagnostics: [Diagnostic]) {
        var reader = EchoScriptReader(file: file)
        let spec = reader.script(root)
        return (spec, reader.diagnostics)
    }

    /// The keys an answer may have, in the order messages list them.
    public static let answerKeys = ["output", "verdict", "feedback", "thinking", "finish", "delay", "fail", "times"]

    /// The finish reasons an answer may give.
    public static let finishReasons = ["stop", "length", "refusal", "content_filter"]
}

/// One scripted answer of an echo script.
public struct EchoAnswer: Sendable, Hashable {
    /// Text to answer with.
    public var output: String?
    /// A critic verdict (`approve` or `revise`, or anything else to test malformed verdicts).
    public var verdict: String?
    /// A critic's feedback.
    public var feedback: String?
    /// Thinking streamed before the answer, recorded apart from it.
    public var thinking: String?
    /// How the answer stops, as a real runtime would say it: `length`, `refusal`, `content_filter`; nil: a normal stop.
    public var finish: String?
    /// Seconds before the first token, instead of the runtime's `call_delay`.
    public var delay: Double?
    /// Fail instead of answering.
    public var failure: EchoFailure?

    /// An answer of the given parts.
    public init(
        output: String? = nil, verdict: String? = nil, feedback: String? = nil, thinking: String? = nil, finish: String? = nil,
        delay: Double? = nil, failure: EchoFailure? = nil
    ) {
        self.output = output
        self.verdict = verdict
        self.feedback = feedback
        self.thinking = thinking
        self.finish = finish
        self.delay = delay
        self.failure = failure
    }
}

/// A scripted failure: transient (retried) or permanent, for the first `times` calls of its round.
public struct EchoFailure: Sendable, Hashable {
    /// Whether the runtime reports the failure as transient.
    public var transient: Bool
    /// How many calls of the round fail, from 1.
    public var times: Int

    /// A failure of the given kind and count.
    public init(transient: Bool, times: Int) {
        self.transient = transient
        self.times = times
    }
}

/// Reads an echo script's nodes; each problem names the node's line and column.
struct EchoScriptReader {
    let file: String
    var diagnostics: [Diagnostic] = []

    static let keys = EchoScriptSpec.answerKeys

    init(file: String) {
        self.file = file
    }

    func location(_ node: Node?) -> SourceLocation {
        let mark = node?.mark
        return SourceLocation(file: file, line: max(mark?.line ?? 1, 1), column: max(mark?.column ?? 1, 1))
    }

    mutating func emit(_ node: Node?, _ problem: String) {
        diagnostics.append(Diagnostic(.testEchoInvalid(problem), at: location(node)))
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
    mutating func text(_ node: Node, _ what: String) -> String? {
        guard case .scalar(let scalar) = node else {
            emit(node, "expected \(what), found \(Self.describe(node))")
            return nil
        }
        return scalar.string
    }

    mutating func script(_ root: Node?) -> EchoScriptSpec {
        var spec = EchoScriptSpec()
        guard let root, case .mapping(let stages) = root else {
            emit(root, "must map stage names to rounds (`review: {1: {verdict: approve}}`)")
            return spec
        }
        for (stageNode, roundsNode) in stages {
            // Yams refuses a key given twice in one mapping, so each stage and each answer's key comes once.
            guard let stage = text(stageNode, "a stage name") else { continue }
            guard case .mapping(let rounds) = roundsNode else {
                emit(roundsNode, "stage '\(stage)' must map rounds to answers (`1: {output: ...}`), not \(Self.describe(roundsNode))")
                continue
            }
            var byRound: [Int: EchoAnswer] = [:]
            for (roundNode, answerNode) in rounds {
                guard let round = round(roundNode, stage: stage) else { continue }
                guard byRound[round] == nil else {
                    // `1` and `01` are different keys to YAML but the same round.
                    emit(roundNode, "stage '\(stage)' gives round \(round == 0 ? "*" : "\(round)") twice")
                    continue
                }
                if let answer = answer(answerNode, context: "stage '\(stage)' round '\(roundNode.string ?? "")'") {
                    byRound[round] = answer
                }
            }
            spec.entries[stage] = byRound
            spec.locations[stage] = location(stageNode)
        }
        return spec
    }

    /// A round key: a number from 1, or `"*"` for every round (stored as 0).
    mutating func round(_ node: Node, stage: String) -> Int? {
        guard let text = text(node, "a round number") else { return nil }
        if text == "*" { return 0 }
        guard let round = Int(text), round >= 1 else {
            emit(node, "stage '\(stage)' has round '\(text)'; rounds are numbers from 1, or \"*\" for every round")
            return nil
        }
        return round
    }

    /// One answer: a mapping of ``keys``; nil when anything in it is wrong.
    mutating func answer(_ node: Node, context: String) -> EchoAnswer? {
        guard case .mapping(let fields) = node else {
            emit(node, "\(context) must be a mapping such as {output: ...}, not \(Self.describe(node))")
            return nil
        }
        let problems = diagnostics.count
        var answer = EchoAnswer()
        var fail: String?
        var times: (value: Int, node: Node)?
        for (keyNode, value) in fields {
            guard let key = text(keyNode, "a key") else { continue }
            guard Self.keys.contains(key) else {
                emit(keyNode, "\(context) has an unknown key '\(key)'; use \(Self.keys.joined(separator: ", "))")
                continue
            }
            let field = "\(context) key '\(key)'"
            guard let string = text(value, "text for \(field)") else { continue }
            switch key {
            case "output": answer.output = string
            case "verdict": answer.verdict = string
            case "feedback": answer.feedback = string
            case "thinking": answer.thinking = string
            case "finish":
                guard EchoScriptSpec.finishReasons.contains(string) else {
                    emit(value, "\(context) has finish '\(string)'; use stop, length, refusal or content_filter")
                    continue
                }
                answer.finish = string
            case "delay":
                guard let seconds = DurationParsing.seconds(from: string) else {
                    emit(value, "\(field) is '\(string)', not a duration; write it as 500ms, 2s or 1m")
                    continue
                }
                answer.delay = seconds
            case "fail":
                guard string == "transient" || string == "permanent" else {
                    emit(value, "\(field) is '\(string)'; use transient or permanent")
                    continue
                }
                fail = string
            default:  // "times"
                guard let count = Int(string), count >= 1 else {
                    emit(value, "\(field) is '\(string)'; give the number of calls that fail, from 1")
                    continue
                }
                times = (count, value)
            }
        }
        if let times, fail == nil, !fields.contains(where: { $0.key.string == "fail" }) {
            emit(times.node, "\(context) has 'times' without 'fail'; add fail: transient or fail: permanent")
        }
        if let fail { answer.failure = EchoFailure(transient: fail == "transient", times: times?.value ?? 1) }
        return diagnostics.count == problems ? answer : nil
    }
}
