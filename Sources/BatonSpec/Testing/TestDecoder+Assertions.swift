import Foundation
import Yams

/// The `assert:` list of a case: one assertion key per item, its value's shape checked here.
extension TestDecoder {
    /// Assertions that look at the whole run and take no `stage`.
    static let runLevelKeys: Set<String> = ["stages-run", "stages-skipped"]

    static func decodeAssertions(_ node: Node, context: String, reader: SpecReader) -> [TestAssertion] {
        guard case .sequence(let items) = node else {
            reader.emit(
                .typeMismatch(expected: "a list of assertions", for: "'assert' in \(context)", found: reader.describe(node)), at: node)
            return []
        }
        return items.compactMap { decodeAssertion($0, reader: reader) }
    }

    private static func decodeAssertion(_ node: Node, reader: SpecReader) -> TestAssertion? {
        guard case .mapping(let mapping) = node else {
            reader.emit(
                .typeMismatch(expected: "a mapping with one assertion key", for: "an item of 'assert'", found: reader.describe(node)),
                at: node)
            return nil
        }
        var found: [(key: String, keyNode: Node, value: Node)] = []
        var stageNode: Node?
        var descriptionNode: Node?
        for (keyNode, value) in mapping {
            guard case .scalar(let scalar) = keyNode else {
                reader.emit(
                    .typeMismatch(expected: "a key name", for: "a key of an assertion", found: reader.describe(keyNode)), at: keyNode)
                continue
            }
            switch scalar.string {
            case "stage": stageNode = value
            case "description": descriptionNode = value
            case let key where TestAssertion.keys.contains(key): found.append((key, keyNode, value))
            case let key:
                let suggestion = Suggestion.closest(to: key, in: TestAssertion.keys + assertionItemKeys)
                reader.emit(.testAssertionUnknown(key, suggestion: suggestion), at: keyNode)
                // A misspelt assertion counts as the one assertion of its item, so it is not also "no assertion key".
                found.append(("", keyNode, value))
            }
        }
        guard found.count == 1 else {
            let named = found.map(\.key).filter { !$0.isEmpty }
            if found.count > 1, named.count > 1 {
                reader.emit(.testAssertionKeys(named), at: found[1].keyNode)
            } else if found.isEmpty {
                reader.emit(.testAssertionKeys([]), at: node)
            }
            return nil
        }
        let (key, keyNode, value) = found[0]
        guard !key.isEmpty, let kind = decodeKind(key, value, reader: reader) else { return nil }
        var assertion = TestAssertion(kind, location: reader.location(of: keyNode))
        if let stageNode {
            if runLevelKeys.contains(key) {
                reader.emit(.testAssertionValue(key, problem: "takes no 'stage': it looks at the whole run; remove 'stage'"), at: stageNode)
            } else {
                assertion.stage = reader.nonEmptyString(stageNode, subject: "'stage' of assertion '\(key)'")
                assertion.stageLocation = reader.location(of: stageNode)
            }
        }
        assertion.description = descriptionNode.flatMap { reader.string($0, subject: "'description' of assertion '\(key)'") }
        if case .stagesRun = kind { assertion.itemLocations = listLocations(value, reader: reader) }
        if case .stagesSkipped = kind { assertion.itemLocations = listLocations(value, reader: reader) }
        return assertion
    }

    private static func listLocations(_ node: Node, reader: SpecReader) -> [SourceLocation] {
        if case .sequence(let items) = node { return items.map { reader.location(of: $0) } }
        return [reader.location(of: node)]
    }

    private static func decodeKind(_ key: String, _ node: Node, reader: SpecReader) -> TestAssertion.Kind? {
        var values = AssertionValues(key: key, reader: reader)
        switch key {
        case "equals": return .equals(reader.json(node))
        case "contains": return values.texts(node).map { .contains($0) }
        case "icontains": return values.texts(node).map { .icontains($0) }
        case "not-contains": return values.texts(node).map { .notContains($0) }
        case "regex": return values.regex(node).map { .regex($0) }
        case "is-json": return values.isJSON(node).map { .isJSON(schema: $0) }
        case "json-path": return values.jsonPath(node).map { .jsonPath($0.0, $0.1) }
        case "max-tokens": return values.count(node, what: "a number of output tokens").map { .maxTokens($0) }
        case "max-latency": return values.duration(node).map { .maxLatency(seconds: $0) }
        case "critic-rounds": return values.criticRounds(node)
        case "stages-run": return values.stageList(node).map { .stagesRun($0) }
        case "stages-skipped": return values.stageList(node).map { .stagesSkipped($0) }
        case "similar": return values.similar(node)
        default: return values.judge(node)  // "judge"
        }
    }
}
