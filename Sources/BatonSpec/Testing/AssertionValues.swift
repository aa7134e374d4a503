import Foundation
import Yams

/// Reads the value of one assertion key; a value of the wrong shape is `test-assertion-value` at the value.
struct AssertionValues {
    let key: String
    let reader: SpecReader

    func fail(_ node: Node, _ problem: String) {
        reader.emit(.testAssertionValue(key, problem: problem), at: node)
    }

    /// A scalar's text (numbers as written); nil and reported for null, a list or a mapping.
    func text(_ node: Node, what: String, field: String? = nil) -> String? {
        guard case .scalar(let scalar) = node, !reader.isNull(node) else {
            fail(node, "expects \(what)\(field.map { " for '\($0)'" } ?? ""), not \(reader.describe(node))")
            return nil
        }
        return scalar.string
    }

    func isPlain(_ node: Node) -> Bool {
        guard case .scalar(let scalar) = node else { return false }
        return scalar.style == .plain || scalar.style == .any
    }

    /// `contains: "x"` or `contains: [x, y]`: at least one non-empty text.
    func texts(_ node: Node) -> [String]? {
        let items: [Node]
        if case .sequence(let sequence) = node { items = Array(sequence) } else { items = [node] }
        guard !items.isEmpty else {
            fail(node, "expects text or a list of text, not an empty list")
            return nil
        }
        var texts: [String] = []
        for item in items {
            guard let text = text(item, what: "text or a list of text") else { return nil }
            guard !text.isEmpty else {
                fail(item, "expects text that is not empty (every output contains the empty text)")
                return nil
            }
            texts.append(text)
        }
        return texts
    }

    /// A pattern NSRegularExpression compiles.
    func regex(_ node: Node, field: String? = nil) -> String? {
        guard let pattern = text(node, what: "a regular expression", field: field) else { return nil }
        if let problem = Self.regexProblem(pattern) {
            reader.emit(.testRegexInvalid(pattern, problem: problem), at: node)
            return nil
        }
        return pattern
    }

    /// Why `pattern` does not compile; nil when it does.
    static func regexProblem(_ pattern: String) -> String? {
        do {
            _ = try NSRegularExpression(pattern: pattern)
            return nil
        } catch {
            // ICU's error says only that it failed; name the usual causes.
            var depth = 0
            var escaped = false
            var inClass = false
            for character in pattern {
                if escaped {
                    escaped = false
                    continue
                }
                switch character {
                case "\\": escaped = true
                case "[" where !inClass: inClass = true
                case "]" where inClass: inClass = false
                case "(" where !inClass: depth += 1
                case ")" where !inClass:
                    depth -= 1
                    if depth < 0 { return "a ')' closes no '('" }
                default: break
                }
            }
            if escaped { return "it ends with a '\\' that escapes nothing" }
            if inClass { return "a '[' is never closed with ']'" }
            if depth > 0 { return "a '(' is never closed with ')'" }
            if let first = pattern.first, "*+?{".contains(first) { return "'\(first)' at the start repeats nothing" }
            return "ICU cannot compile it (a quantifier with nothing to repeat, a bad escape or a bad range)"
        }
    }

    /// `is-json: true` or `is-json: {schema: {...}}`; unsupported schema keywords are reported at their key.
    func isJSON(_ node: Node) -> JSONValue?? {
        if case .scalar = node {
            if isPlain(node), node.string == "true" { return .some(nil) }
            fail(node, "expects true or {schema: ...}, not \(reader.describe(node)); to assert that an output is not JSON, use 'regex'")
            return nil
        }
        guard case .mapping(let pairs) = node else {
            fail(node, "expects true or {schema: ...}, not \(reader.describe(node))")
            return nil
        }
        var schemaNode: Node?
        for (keyNode, value) in pairs {
            if keyNode.string == "schema" {
                schemaNode = value
            } else {
                fail(keyNode, "has an unknown key '\(keyNode.string ?? "?")'; it takes 'schema'")
                return nil
            }
        }
        guard let schemaNode else {
            fail(node, "expects {schema: ...} (a JSON Schema), or true for any JSON")
            return nil
        }
        guard case .mapping = schemaNode else {
            fail(schemaNode, "expects a JSON Schema (a mapping) under 'schema', not \(reader.describe(schemaNode))")
            return nil
        }
        let schema = reader.json(schemaNode)
        let unsupported = JSONSchemaCheck.unsupportedKeywords(in: schema)
        for pointer in unsupported {
            let (keyword, place) = Self.locate(pointer, in: schemaNode)
            reader.emit(.testSchemaUnsupported(keyword, at: "schema" + pointer), at: place.map { reader.location(of: $0) })
        }
        return unsupported.isEmpty ? .some(schema) : nil
    }

    /// The last keyword of a JSON pointer and the key node it names in `root`.
    static func locate(_ pointer: String, in root: Node) -> (String, Node?) {
        let parts = pointer.split(separator: "/", omittingEmptySubsequences: false).dropFirst().map {
            $0.replacingOccurrences(of: "~1", with: "/").replacingOccurrences(of: "~0", with: "~")
        }
        var node: Node? = root
        var keyNode: Node?
        for part in parts {
            switch node {
            case .mapping(let mapping)?:
                let pair = mapping.first { $0.key.string == part }
                keyNode = pair?.key
                node = pair?.value
            case .sequence(let sequence)?:
                node = Int(part).flatMap { sequence.indices.contains($0) ? sequence[$0] : nil }
            default:
                node = nil
            }
        }
        return (parts.last ?? "", keyNode)
    }
}

extension AssertionValues {
    /// The pairs of a mapping value, each key checked against `allowed`; nil and reported when not a mapping.
    func fields(_ node: Node, allowed: [String], shape: String) -> [String: (key: Node, value: Node)]? {
        guard case .mapping(let mapping) = node else {
            fail(node, "expects \(shape), not \(reader.describe(node))")
            return nil
        }
        var fields: [String: (key: Node, value: Node)] = [:]
        var ok = true
        for (keyNode, value) in mapping {
            let name = keyNode.string ?? ""
            guard allowed.contains(name) else {
                let suggestion = Suggestion.closest(to: name, in: allowed)
                fail(
                    keyNode,
                    "has an unknown key '\(name)'"
                        + (suggestion.map { "; did you mean '\($0)'?" } ?? "; it takes \(quotedList(allowed, conjunction: "and"))"))
                ok = false
                continue
            }
            fields[name] = (keyNode, value)
        }
        return ok ? fields : nil
    }

    /// `json-path: {path: "$.a", equals|contains|regex|exists: ...}`.
    func jsonPath(_ node: Node) -> (JSONPath, JSONPathExpectation)? {
        let expectations = Array(TestDecoder.jsonPathKeys.dropFirst())
        let shape = "{path: \"$.field\", equals: VALUE} (or contains:, regex:, exists: true|false)"
        guard let fields = fields(node, allowed: TestDecoder.jsonPathKeys, shape: shape) else { return nil }
        guard let pathNode = fields["path"]?.value else {
            fail(node, "needs 'path', a JSON path such as \"$.verdict\"")
            return nil
        }
        let given = expectations.filter { fields[$0] != nil }
        guard given.count == 1, let expectationKey = given.first, let value = fields[expectationKey]?.value else {
            fail(
                given.count > 1 ? fields[given[1]]!.key : node,
                given.isEmpty
                    ? "needs one of 'equals', 'contains', 'regex' or 'exists' beside 'path'"
                    : "gives \(quotedList(given, conjunction: "and")); give one expectation per assertion")
            return nil
        }
        guard let text = text(pathNode, what: "a JSON path", field: "path") else { return nil }
        let path: JSONPath
        do {
            path = try JSONPath(parsing: text)
        } catch {
            reader.emit(.testJSONPathInvalid(text, error: error), at: location(ofColumn: error.column, in: pathNode))
            return nil
        }
        let expectation: JSONPathExpectation?
        switch expectationKey {
        case "equals": expectation = .equals(reader.json(value))
        case "contains": expectation = self.text(value, what: "text", field: "contains").map { .contains($0) }
        case "regex": expectation = regex(value, field: "regex").map { .regex($0) }
        default:
            if isPlain(value), let flag = value.string, flag == "true" || flag == "false" {
                expectation = .exists(flag == "true")
            } else {
                fail(value, "expects true or false for 'exists', not \(reader.describe(value))")
                expectation = nil
            }
        }
        return expectation.map { (path, $0) }
    }

    /// Where column `column` of a path's text is in the file, for a one-line scalar; else the scalar's start.
    func location(ofColumn column: Int, in node: Node) -> SourceLocation {
        var location = reader.location(of: node)
        guard case .scalar(let scalar) = node, !scalar.string.contains("\n") else { return location }
        switch scalar.style {
        case .plain, .any: location.column += column - 1
        case .singleQuoted where !scalar.string.contains("'"): location.column += column
        case .doubleQuoted where !scalar.string.contains(where: { $0 == "\\" || $0 == "\"" }): location.column += column
        default: break
        }
        return location
    }

    /// A whole number from 1.
    func count(_ node: Node, what: String, field: String? = nil) -> Int? {
        guard let text = text(node, what: what, field: field) else { return nil }
        guard isPlain(node), let value = Int(text), value >= 1 else {
            fail(node, "expects \(what)\(field.map { " for '\($0)'" } ?? ""), a whole number from 1, not '\(text)'")
            return nil
        }
        return value
    }

    /// A duration greater than 0: `30s`, `500ms`, `2m`, or seconds.
    func duration(_ node: Node) -> Double? {
        guard let text = text(node, what: "a duration") else { return nil }
        guard let seconds = DurationParsing.seconds(from: text), seconds > 0 else {
            fail(node, "expects a duration greater than 0 (30s, 500ms, 2m or seconds), not '\(text)'")
            return nil
        }
        return seconds
    }

    /// `critic-rounds: 2` (at most 2) or `{min: 2, max: 2}`.
    func criticRounds(_ node: Node) -> TestAssertion.Kind? {
        if case .scalar = node { return count(node, what: "a number of rounds").map { .criticRounds(min: nil, max: $0) } }
        guard let fields = fields(node, allowed: TestDecoder.criticRoundsKeys, shape: "a number of rounds or {min: N, max: N}") else {
            return nil
        }
        guard !fields.isEmpty else {
            fail(node, "expects 'min', 'max' or both")
            return nil
        }
        let minimum = fields["min"].map { count($0.value, what: "a number of rounds", field: "min") }
        let maximum = fields["max"].map { count($0.value, what: "a number of rounds", field: "max") }
        if minimum == .some(nil) || maximum == .some(nil) { return nil }
        if let low = minimum ?? nil, let high = maximum ?? nil, low > high {
            fail(fields["min"]!.value, "has 'min' \(low) above 'max' \(high)")
            return nil
        }
        return .criticRounds(min: minimum ?? nil, max: maximum ?? nil)
    }

    /// A list of stage names (one name alone is a list of one); an empty list is allowed (no stage ran or was skipped).
    func stageList(_ node: Node) -> [String]? {
        let items: [Node]
        if case .sequence(let sequence) = node { items = Array(sequence) } else { items = [node] }
        var names: [String] = []
        for item in items {
            guard let name = text(item, what: "a list of stage names") else { return nil }
            names.append(name)
        }
        return names
    }

    /// A number in `range`.
    func number(_ node: Node, field: String, range: ClosedRange<Double>) -> Double? {
        guard let text = text(node, what: "a number", field: field) else { return nil }
        guard isPlain(node), let value = SpecReader.parseNumber(text), range.contains(value) else {
            fail(
                node,
                "expects a number from \(JSONSchemaCheck.compact(.number(range.lowerBound))) to "
                    + "\(JSONSchemaCheck.compact(.number(range.upperBound))) for '\(field)', not '\(text)'")
            return nil
        }
        return value
    }

    /// `similar: {to: TEXT, threshold: 0.8, model: NAME}`.
    func similar(_ node: Node) -> TestAssertion.Kind? {
        let shape = "{to: TEXT, threshold: 0.8} (and an optional model)"
        guard let fields = fields(node, allowed: TestDecoder.similarKeys, shape: shape) else { return nil }
        guard let toNode = fields["to"]?.value, let thresholdNode = fields["threshold"]?.value else {
            fail(
                node,
                "needs \(fields["to"] == nil ? "'to', the text the output should be similar to" : "'threshold', the least cosine similarity (0 to 1)")"
            )
            return nil
        }
        guard let to = text(toNode, what: "text", field: "to"), let threshold = number(thresholdNode, field: "threshold", range: 0...1)
        else { return nil }
        let model = fields["model"].map { text($0.value, what: "a model name", field: "model") }
        if model == .some(nil) { return nil }
        return .similar(to: to, threshold: threshold, model: model ?? nil)
    }

    /// `judge: {rubric: TEXT, min-score: 0.7, model: NAME}`.
    func judge(_ node: Node) -> TestAssertion.Kind? {
        let shape = "{rubric: TEXT, min-score: 0.7} (and an optional model)"
        guard let fields = fields(node, allowed: TestDecoder.judgeKeys, shape: shape) else { return nil }
        guard let rubricNode = fields["rubric"]?.value, let scoreNode = fields["min-score"]?.value else {
            fail(
                node,
                "needs \(fields["rubric"] == nil ? "'rubric', what the judge scores" : "'min-score', the least score that passes (0 to 1)")"
            )
            return nil
        }
        guard let rubric = text(rubricNode, what: "text", field: "rubric"), let score = number(scoreNode, field: "min-score", range: 0...1)
        else { return nil }
        let model = fields["model"].map { text($0.value, what: "a model name", field: "model") }
        if model == .some(nil) { return nil }
        return .judge(rubric: rubric, minScore: score, model: model ?? nil)
    }
}
