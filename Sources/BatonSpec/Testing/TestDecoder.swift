import Foundation
import Yams

/// Decodes a pipeline test file (`NAME.test.yaml`) into a ``TestSuiteSpec``, reporting every problem of shape and type
/// as a located diagnostic. What the names mean (stages, inputs) is checked against the compiled pipeline by
/// ``TestCheck``.
public enum TestDecoder {
    /// The keys at the top of a test file.
    public static let topKeys = ["version", "pipeline", "profile", "cases"]
    /// The keys of a case.
    public static let caseKeys = ["name", "description", "inputs", "echo", "assert", "expect", "skip"]
    /// The keys of an assertion item besides the assertion key.
    public static let assertionItemKeys = ["stage", "description"]
    /// The keys of `json-path`'s mapping: `path` and one expectation.
    public static let jsonPathKeys = ["path", "equals", "contains", "regex", "exists"]
    /// The keys of `critic-rounds`' mapping form.
    public static let criticRoundsKeys = ["min", "max"]
    /// The keys of `similar`.
    public static let similarKeys = ["to", "threshold", "model"]
    /// The keys of `judge`.
    public static let judgeKeys = ["rubric", "min-score", "model"]
    /// The values of a case's `expect`.
    public static let expectValues = ["completed", "failed"]

    /// Decodes `file`. Never throws: problems are diagnostics in the result.
    public static func decode(_ file: SourceFile) -> TestDocument {
        let reader = SpecReader(file: file)
        var spec: TestSuiteSpec?
        if let root = YAMLLoader.compose(file, kind: "test", into: reader) {
            spec = decodeRoot(root, reader: reader)
        }
        return TestDocument(file: file, spec: spec, diagnostics: reader.diagnostics)
    }

    private static func decodeRoot(_ root: Node, reader: SpecReader) -> TestSuiteSpec? {
        guard let map = reader.mapping(root, context: "the test file", subject: "the test file", path: "", allowedKeys: topKeys)
        else { return nil }
        _ = VersionCheck.read(map, reader: reader)
        var suite = TestSuiteSpec(cases: [])
        if let node = map.value("pipeline") {
            suite.pipeline = reader.nonEmptyString(node, subject: "'pipeline'")
            suite.pipelineLocation = reader.location(of: node)
        }
        if let node = map.value("profile") {
            suite.profile = reader.nonEmptyString(node, subject: "'profile'")
        }
        guard let casesNode = map.value("cases") else {
            if !map.suggested.contains("cases") {
                reader.emit(
                    .missingKey("cases", in: "the test file", hint: "add 'cases:' with a list of cases, each with a 'name'"),
                    at: root)
            }
            return suite
        }
        guard case .sequence(let items) = casesNode else {
            reader.emit(.typeMismatch(expected: "a list of cases", for: "'cases'", found: reader.describe(casesNode)), at: casesNode)
            return suite
        }
        if items.isEmpty { reader.emit(.emptyValue("'cases'"), at: casesNode) }
        var seen: Set<String> = []
        for (index, item) in items.enumerated() {
            guard let testCase = decodeCase(item, index: index, reader: reader) else { continue }
            if !seen.insert(testCase.name).inserted {
                reader.emit(.testCaseDuplicate(testCase.name), at: testCase.location)
            }
            suite.cases.append(testCase)
        }
        return suite
    }

    private static func decodeCase(_ node: Node, index: Int, reader: SpecReader) -> TestCaseSpec? {
        let path = "cases[\(index)]"
        var context = "case \(index + 1)"
        // The case's name reads better in messages than its position, once it is known.
        if case .mapping(let pairs) = node, let nameNode = pairs.first(where: { $0.key.string == "name" })?.value,
            case .scalar(let scalar) = nameNode, !scalar.string.isEmpty
        {
            context = "case '\(scalar.string)'"
        }
        guard let map = reader.mapping(node, context: context, subject: context, path: path, allowedKeys: caseKeys) else {
            return nil
        }
        var name: String?
        var nameLocation: SourceLocation?
        if let node = map.value("name") {
            name = reader.nonEmptyString(node, subject: map.subject("name"))
            nameLocation = reader.location(of: node)
        } else if !map.suggested.contains("name") {
            reader.emit(.missingKey("name", in: context, hint: "add 'name: ...', unique in this file"), at: node)
        }
        var testCase = TestCaseSpec(name: name ?? "", location: nameLocation ?? reader.location(of: node))
        testCase.description = map.value("description").flatMap { reader.string($0, subject: map.subject("description")) }
        if let node = map.value("skip") {
            testCase.skip = reader.nonEmptyString(node, subject: map.subject("skip"))
        }
        if let node = map.value("expect") {
            if let text = reader.string(node, subject: map.subject("expect")) {
                if expectValues.contains(text) {
                    testCase.expectFailure = text == "failed"
                } else {
                    reader.emit(.invalidValue(text, for: map.subject("expect"), allowed: expectValues), at: node)
                }
            }
        }
        if let node = map.value("inputs") {
            decodeInputs(node, into: &testCase, context: context, path: "\(path).inputs", reader: reader)
        }
        if let node = map.value("echo"), !reader.isNull(node) {
            let (script, diagnostics) = EchoScriptSpec.read(node, file: reader.file.path)
            for diagnostic in diagnostics { reader.emit(.testEchoInvalid(diagnostic.message), at: diagnostic.location) }
            testCase.echo = script
        }
        if let node = map.value("assert") {
            testCase.assertions = decodeAssertions(node, context: context, reader: reader)
        }
        return name == nil ? nil : testCase
    }

    private static func decodeInputs(_ node: Node, into testCase: inout TestCaseSpec, context: String, path: String, reader: SpecReader) {
        let subject = "'inputs' in \(context)"
        guard let map = reader.mapping(node, context: subject, subject: subject, path: path, allowedKeys: nil) else { return }
        for (key, keyNode, value) in map.pairs {
            let valueSubject = "input '\(key)' in \(context)"
            guard case .scalar = value else {
                reader.emit(
                    .typeMismatch(expected: "text, a number or true/false", for: valueSubject, found: reader.describe(value)), at: value)
                continue
            }
            // A null input (`task:`) is the empty text, as `--input task=` gives it.
            testCase.inputs[key] = reader.isNull(value) ? "" : reader.string(value, subject: valueSubject)
            testCase.inputLocations[key] = reader.location(of: keyNode)
        }
    }
}
