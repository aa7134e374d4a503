import Foundation
import Yams

/// Reads typed values out of a YAML node tree, recording a located diagnostic for every problem and
/// going on, so that one pass reports everything wrong with a file.
///
/// Codable decoding stops at the first error and loses line numbers, so values are read by hand here;
/// the key lists come from each model type's `CodingKeys`, which is also what the JSON Schema test
/// compares against.
final class SpecReader {
    /// The file being read.
    let file: SourceFile
    /// Everything found so far.
    private(set) var diagnostics: [Diagnostic] = []
    /// Where each value is, by path (`stages.plan.model`); keys of mappings are under `path#key`.
    private(set) var sourceMap = SourceMap()
    /// Keys suggested for misspelled keys, by mapping path: a missing key that was suggested is not reported twice.
    private var suggestedKeys: [String: Set<String>] = [:]

    /// When set, `${VAR}` and `${VAR:-fallback}` in every scalar are replaced from it (profiles only).
    let environment: [String: String]?

    init(file: SourceFile, environment: [String: String]? = nil) {
        self.file = file
        self.environment = environment
    }

    // MARK: - Diagnostics

    func location(of node: Node) -> SourceLocation {
        let mark = node.mark
        return SourceLocation(file: file.path, line: max(mark?.line ?? 1, 1), column: max(mark?.column ?? 1, 1))
    }

    func emit(_ message: Diagnostic.Message, at location: SourceLocation?, notes: [Diagnostic.Note] = []) {
        diagnostics.append(Diagnostic(message, at: location, notes: notes))
    }

    func emit(_ message: Diagnostic.Message, at node: Node, notes: [Diagnostic.Note] = []) {
        emit(message, at: location(of: node), notes: notes)
    }

    func record(_ path: String, _ node: Node) {
        sourceMap.values[path] = location(of: node)
    }

    func recordTemplate(_ path: String, _ node: Node) {
        guard case .scalar(let scalar) = node else { return }
        sourceMap.templates[path] = TemplatePlacement(scalar: scalar, at: location(of: node), in: file)
    }

    // MARK: - Describing nodes

    /// How a node reads in a message: `'three'`, `a list`, `a mapping`, `nothing`.
    func describe(_ node: Node) -> String {
        switch node {
        case .scalar(let scalar):
            if isNull(node) { return "nothing" }
            var text = scalar.string
            if text.count > 40 { text = String(text.prefix(37)) + "..." }
            text = text.replacingOccurrences(of: "\n", with: "\\n")
            return "'\(text)'"
        case .mapping: return "a mapping"
        case .sequence: return "a list"
        case .alias: return "an alias"
        }
    }

    func isNull(_ node: Node) -> Bool {
        guard case .scalar(let scalar) = node, scalar.style == .plain || scalar.style == .any else { return false }
        return ["", "~", "null", "Null", "NULL"].contains(scalar.string)
    }

    // MARK: - Mappings

    /// A mapping node with its context (`stage 'plan'`) and path (`stages.plan`).
    struct Mapping {
        let node: Node
        let pairs: [(key: String, keyNode: Node, value: Node)]
        let context: String
        let path: String

        /// Whether a misspelled key in this mapping was taken to mean `key`.
        let suggested: Set<String>

        func value(_ key: String) -> Node? { pairs.first { $0.key == key }?.value }
        func keyNode(_ key: String) -> Node? { pairs.first { $0.key == key }?.keyNode }
        func has(_ key: String) -> Bool { value(key) != nil }
        func subject(_ key: String) -> String { "'\(key)' in \(context)" }
    }

    /// Reads `node` as a mapping, reporting a wrong type and every key not in `allowedKeys`.
    func mapping(_ node: Node, context: String, subject: String, path: String, allowedKeys: [String]?) -> Mapping? {
        guard case .mapping(let mapping) = node else {
            emit(.typeMismatch(expected: "a mapping", for: subject, found: describe(node)), at: node)
            return nil
        }
        var pairs: [(String, Node, Node)] = []
        for (keyNode, value) in mapping {
            guard case .scalar(let scalar) = keyNode else {
                emit(.typeMismatch(expected: "a key name", for: "a key in \(context)", found: describe(keyNode)), at: keyNode)
                continue
            }
            let key = scalar.string
            if let allowedKeys, !allowedKeys.contains(key) {
                let suggestion = Suggestion.closest(to: key, in: allowedKeys)
                if let suggestion { suggestedKeys[path, default: []].insert(suggestion) }
                emit(.unknownKey(key, in: context, suggestion: suggestion), at: keyNode)
                continue
            }
            let childPath = path.isEmpty ? key : "\(path).\(key)"
            sourceMap.values[childPath + "#key"] = location(of: keyNode)
            sourceMap.values[childPath] = location(of: value)
            pairs.append((key, keyNode, value))
        }
        return Mapping(
            node: node, pairs: pairs.map { (key: $0.0, keyNode: $0.1, value: $0.2) }, context: context, path: path,
            suggested: suggestedKeys[path] ?? [])
    }

    // MARK: - Scalars

    private func scalarText(_ node: Node) -> String? {
        guard case .scalar(let scalar) = node, !isNull(node) else { return nil }
        guard let environment else { return scalar.string }
        return EnvironmentExpansion.expand(scalar.string, environment: environment)
    }

    private func isPlain(_ node: Node) -> Bool {
        guard case .scalar(let scalar) = node else { return false }
        return scalar.style == .plain || scalar.style == .any
    }

    /// Any scalar as text (numbers included: `default: 3` is the text `3`).
    func string(_ node: Node, subject: String) -> String? {
        guard let text = scalarText(node) else {
            emit(.typeMismatch(expected: "text", for: subject, found: describe(node)), at: node)
            return nil
        }
        return text
    }

    /// Text that must not be empty.
    func nonEmptyString(_ node: Node, subject: String) -> String? {
        guard let text = string(node, subject: subject) else { return nil }
        if text.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty {
            emit(.emptyValue(subject), at: node)
            return nil
        }
        return text
    }

    func int(_ node: Node, subject: String, range: ClosedRange<Int>? = nil, rangeText: String? = nil) -> Int? {
        guard isPlain(node), let text = scalarText(node), let value = Int(text) else {
            emit(.typeMismatch(expected: "a whole number", for: subject, found: describe(node)), at: node)
            return nil
        }
        if let range, !range.contains(value) {
            emit(.outOfRange(text, for: subject, range: rangeText ?? "\(range.lowerBound) to \(range.upperBound)"), at: node)
            return nil
        }
        return value
    }

    func number(_ node: Node, subject: String, isValid: ((Double) -> Bool)? = nil, rangeText: String = "") -> Double? {
        guard isPlain(node), let text = scalarText(node), let value = Self.parseNumber(text) else {
            emit(.typeMismatch(expected: "a number", for: subject, found: describe(node)), at: node)
            return nil
        }
        if let isValid, !isValid(value) {
            emit(.outOfRange(text, for: subject, range: rangeText), at: node)
            return nil
        }
        return value
    }

    func bool(_ node: Node, subject: String) -> Bool? {
        if isPlain(node), let text = scalarText(node), text == "true" || text == "false" {
            return text == "true"
        }
        emit(.typeMismatch(expected: "true or false", for: subject, found: describe(node)), at: node)
        return nil
    }

    /// A list of text values; a single value counts as a list of one when `allowSingle`.
    func stringList(_ node: Node, subject: String, allowSingle: Bool) -> [(String, Node)]? {
        switch node {
        case .sequence(let sequence):
            var values: [(String, Node)] = []
            for item in sequence {
                if let text = string(item, subject: "an item of \(subject)") {
                    values.append((text, item))
                }
            }
            return values
        case .scalar where allowSingle && !isNull(node):
            return string(node, subject: subject).map { [($0, node)] }
        default:
            let expected = allowSingle ? "text or a list of text" : "a list of text"
            emit(.typeMismatch(expected: expected, for: subject, found: describe(node)), at: node)
            return nil
        }
    }

    func size(_ node: Node, subject: String) -> ByteCount? {
        guard let text = scalarText(node), isPlain(node) || !text.isEmpty else {
            emit(.typeMismatch(expected: "a size", for: subject, found: describe(node)), at: node)
            return nil
        }
        guard let size = ByteCount(parsing: text) else {
            emit(.invalidSize(text, for: subject), at: node)
            return nil
        }
        return size
    }

    func budget(_ node: Node, subject: String) -> MemoryBudget? {
        if scalarText(node) == "auto" { return .auto }
        return size(node, subject: subject).map(MemoryBudget.fixed)
    }

    func duration(_ node: Node, subject: String) -> Double? {
        guard let text = scalarText(node) else {
            emit(.typeMismatch(expected: "a duration", for: subject, found: describe(node)), at: node)
            return nil
        }
        guard let seconds = DurationParsing.seconds(from: text) else {
            emit(.invalidDuration(text, for: subject), at: node)
            return nil
        }
        guard seconds > 0 else {
            emit(.outOfRange(text, for: subject, range: "a duration greater than 0"), at: node)
            return nil
        }
        return seconds
    }

    func enumValue<T: RawRepresentable & CaseIterable>(_ node: Node, subject: String, as type: T.Type) -> T?
    where T.RawValue == String {
        guard let text = scalarText(node) else {
            emit(.typeMismatch(expected: "text", for: subject, found: describe(node)), at: node)
            return nil
        }
        guard let value = T(rawValue: text) else {
            emit(.invalidValue(text, for: subject, allowed: T.allCases.map(\.rawValue)), at: node)
            return nil
        }
        return value
    }

    /// A node as JSON, interpreting plain scalars as numbers, booleans and null where they read as such.
    func json(_ node: Node) -> JSONValue {
        switch node {
        case .scalar(let scalar):
            if isNull(node) { return .null }
            if isPlain(node) {
                if scalar.string == "true" { return .bool(true) }
                if scalar.string == "false" { return .bool(false) }
                if let number = Self.parseNumber(scalar.string) { return .number(number) }
            }
            return .string(scalar.string)
        case .sequence(let sequence):
            return .array(sequence.map(json))
        case .mapping(let mapping):
            return .object(mapping.map { (key: $0.key.string ?? describe($0.key), value: json($0.value)) })
        case .alias:
            return .null
        }
    }

    /// Numbers as YAML 1.2 and JSON write them: `3`, `-0.5`, `1e-3`; not `.5`, `0x1F` or `1_000`.
    static func parseNumber(_ text: String) -> Double? {
        var scalars = Substring(text).unicodeScalars[...]
        if scalars.first == "-" || scalars.first == "+" { scalars = scalars.dropFirst() }
        guard let first = scalars.first, ("0"..."9").contains(first) else { return nil }
        guard text.unicodeScalars.allSatisfy({ ("0"..."9").contains($0) || "+-.eE".unicodeScalars.contains($0) }),
            let value = Double(text), value.isFinite
        else { return nil }
        return value
    }
}
