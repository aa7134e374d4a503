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
    /// One scripted answer (the spec layer reads the format, so test files' inline scripts read the same).
    public typealias Entry = EchoAnswer

    /// Entries by stage, then by round (`0` stands for `"*"`, every round).
    public var entries: [String: [Int: Entry]] = [:]
    /// Calls that failed so far, by stage and round (for `times`).
    private let failures = FailureCounter()

    /// An empty script.
    public init() {}

    /// The script a test case (or any caller that parsed one) gives.
    public init(_ spec: EchoScriptSpec) {
        entries = spec.entries
    }

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
        let root: Node?
        do {
            // The basic resolver keeps every scalar as written (`no` stays `no`), as pipelines and profiles are read.
            root = try Yams.compose(yaml: text, .basic)
        } catch let error as YamlError {
            throw Self.error(error, file: file)
        }
        // The spec layer reports every problem; a script file stops the run at its first.
        let (spec, diagnostics) = EchoScriptSpec.read(root, file: file)
        if let first = diagnostics.first {
            let place = first.location?.description ?? "\(file):1:1"
            throw RuntimeError(.badResponse, "echo script \(place): \(first.message)", isTransient: false)
        }
        self.init(spec)
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
    /// A YAML syntax error at its place; a key given twice names the key.
    private static func error(_ error: YamlError, file: String) -> RuntimeError {
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
}
