import BatonSpec
import Foundation

/// Judges one repetition's run against a case's assertions (docs/test-format.md): each assertion gives one result
/// with a message that names the stage, and a diff or an expected/actual block when it failed. The model-graded ones
/// (`similar`, `judge`) are in AssertionEvaluator+Models.
struct AssertionEvaluator: Sendable {
    /// What the run did, from the store.
    var observation: RunObservation
    /// What it ran.
    var snapshot: RunSnapshot
    /// The repetition's runtimes (recording or replaying ones when the mode says so), for `similar` and `judge`.
    var runtimes: any RuntimeProvider
    /// How the case runs (`judge` is skipped on echo and replay).
    var mode: TestOptions.Mode
    /// The test file, for locations.
    var file: String
    /// For paths in messages.
    var workspace: Workspace

    /// Every assertion's result, in order.
    func evaluate(_ assertions: [TestAssertion]) async -> [AssertionResult] {
        var results: [AssertionResult] = []
        for assertion in assertions { results.append(await evaluate(assertion)) }
        return results
    }

    /// One assertion's result.
    func evaluate(_ assertion: TestAssertion) async -> AssertionResult {
        var result: AssertionResult
        if assertion.kind.isOutputAssertion {
            switch output(for: assertion) {
            case .failed(let failed): result = failed
            case .found(let stage, let text): result = await evaluate(assertion, stage: stage, output: text)
            }
        } else {
            result = evaluateRun(assertion)
        }
        result.location = assertion.location?.description
        if let description = assertion.description, result.status != .passed { result.message += " (\(description))" }
        return result
    }

    /// What an output assertion looks at.
    private enum Target {
        /// The stage and its output.
        case found(String, String)
        /// The result when there is none.
        case failed(AssertionResult)
    }

    /// The stage an output assertion looks at and its output, or the failed result when it has none.
    private func output(for assertion: TestAssertion) -> Target {
        let outputs = snapshot.plan.outputs
        guard let stage = assertion.stage ?? (outputs.count == 1 ? outputs[0] : nil) else {
            return .failed(
                result(
                    assertion, nil, .error,
                    "the pipeline has \(outputs.count) output stages (\(outputs.joined(separator: ", "))); give the assertion a stage"))
        }
        guard let text = observation.outputs[stage] else {
            let why = observation.stagesSkipped.contains(stage) ? "it was skipped" : "it did not complete"
            return .failed(result(assertion, stage, .failed, "stage '\(stage)' has no output: \(why)"))
        }
        return .found(stage, text)
    }

    private func result(
        _ assertion: TestAssertion, _ stage: String?, _ status: TestStatus, _ message: String, diff: String? = nil, score: Double? = nil
    ) -> AssertionResult {
        AssertionResult(name: assertion.name, stage: stage, status: status, message: message, diff: diff, score: score)
    }

    private func isJSONStage(_ stage: String) -> Bool {
        snapshot.plan.stage(named: stage)?.output.format == .json
    }

    // MARK: - Output assertions

    private func evaluate(_ assertion: TestAssertion, stage: String, output: String) async -> AssertionResult {
        let subject = "stage '\(stage)'"
        switch assertion.kind {
        case .contains(let needles):
            let missing = needles.filter { !output.contains($0) }
            return missing.isEmpty
                ? result(assertion, stage, .passed, "\(subject) contains \(Self.list(needles))")
                : result(
                    assertion, stage, .failed, "\(subject) does not contain \(Self.list(missing))",
                    diff: Self.block("to contain", missing, output))
        case .icontains(let needles):
            let missing = needles.filter { output.range(of: $0, options: .caseInsensitive) == nil }
            return missing.isEmpty
                ? result(assertion, stage, .passed, "\(subject) contains \(Self.list(needles)) (ignoring case)")
                : result(
                    assertion, stage, .failed, "\(subject) does not contain \(Self.list(missing)) (ignoring case)",
                    diff: Self.block("to contain (ignoring case)", missing, output))
        case .notContains(let needles):
            let found = needles.filter { output.contains($0) }
            return found.isEmpty
                ? result(assertion, stage, .passed, "\(subject) contains none of \(Self.list(needles))")
                : result(
                    assertion, stage, .failed, "\(subject) contains \(Self.list(found)), which it must not",
                    diff: Self.block("not to contain", found, output))
        case .regex(let pattern):
            guard let expression = try? NSRegularExpression(pattern: pattern) else {
                return result(assertion, stage, .error, "the regex /\(pattern)/ is not valid")
            }
            return Self.matches(expression, output)
                ? result(assertion, stage, .passed, "\(subject) matches /\(pattern)/")
                : result(
                    assertion, stage, .failed, "\(subject) does not match /\(pattern)/",
                    diff: Self.block("to match", ["/\(pattern)/"], output))
        case .equals(let expected):
            return equals(assertion, stage: stage, expected: expected, output: output)
        case .isJSON(let schema):
            let value: JSONValue
            switch Self.parseJSON(output) {
            case .failure(let problem):
                return result(assertion, stage, .failed, "\(subject) is not JSON: \(problem)", diff: Self.block("JSON", [], output))
            case .success(let parsed): value = parsed
            }
            guard let schema else { return result(assertion, stage, .passed, "\(subject) is JSON") }
            let errors = JSONSchemaCheck.validate(value, against: schema)
            return errors.isEmpty
                ? result(assertion, stage, .passed, "\(subject) is JSON valid against the schema")
                : result(
                    assertion, stage, .failed, "\(subject) does not match the schema: \(errors.joined(separator: "; "))",
                    diff: Self.block("JSON valid against the schema", [], Self.pretty(value)))
        case .jsonPath(let path, let expectation):
            return jsonPath(assertion, stage: stage, path: path, expectation: expectation, output: output)
        case .similar(let text, let threshold, let model):
            return await similar(assertion, stage: stage, output: output, to: text, threshold: threshold, model: model)
        case .judge(let rubric, let minScore, let model):
            return await judge(assertion, stage: stage, output: output, rubric: rubric, minScore: minScore, model: model)
        case .maxTokens, .maxLatency, .criticRounds, .stagesRun, .stagesSkipped:
            return evaluateRun(assertion)
        }
    }

    private func equals(_ assertion: TestAssertion, stage: String, expected: JSONValue, output: String) -> AssertionResult {
        let subject = "stage '\(stage)'"
        if case .string(let text) = expected, !isJSONStage(stage) {
            return text == output
                ? result(assertion, stage, .passed, "\(subject) equals the expected text")
                : result(
                    assertion, stage, .failed, "\(subject) does not equal the expected text",
                    diff: LineDiff.unified(expected: text, actual: output))
        }
        guard case .success(let actual) = Self.parseJSON(output) else {
            // A scalar on a text stage is its text (`equals: 42`).
            let text = JSONSchemaCheck.jsonText(expected)
            return text == output
                ? result(assertion, stage, .passed, "\(subject) equals \(text)")
                : result(
                    assertion, stage, .failed, "\(subject) is not JSON and does not equal \(JSONSchemaCheck.compact(expected))",
                    diff: LineDiff.unified(expected: text, actual: output))
        }
        return JSONSchemaCheck.equal(actual, expected)
            ? result(assertion, stage, .passed, "\(subject) equals the expected JSON")
            : result(
                assertion, stage, .failed, "\(subject) does not equal the expected JSON",
                diff: LineDiff.unified(expected: Self.pretty(expected), actual: Self.pretty(actual)))
    }

    private func jsonPath(
        _ assertion: TestAssertion, stage: String, path: JSONPath, expectation: JSONPathExpectation, output: String
    ) -> AssertionResult {
        let subject = "stage '\(stage)'"
        let value: JSONValue
        switch Self.parseJSON(output) {
        case .failure(let problem):
            return result(
                assertion, stage, .failed, "\(subject) is not JSON, so \(path) cannot be read: \(problem)",
                diff: Self.block("JSON", [], output))
        case .success(let parsed): value = parsed
        }
        let found = path.select(in: value)
        let shown = found.isEmpty ? "selects nothing" : "is " + found.map(JSONSchemaCheck.compact).joined(separator: ", ")
        let held: Bool
        let wanted: String
        switch expectation {
        case .exists(let exists):
            held = found.isEmpty != exists
            wanted = exists ? "to select a value" : "to select nothing"
        case .equals(let expected):
            held = found.contains { JSONSchemaCheck.equal($0, expected) }
            wanted = "to equal \(JSONSchemaCheck.compact(expected))"
        case .contains(let needle):
            held = found.contains { Self.text(of: $0).contains(needle) }
            wanted = "to contain '\(needle)'"
        case .regex(let pattern):
            guard let expression = try? NSRegularExpression(pattern: pattern) else {
                return result(assertion, stage, .error, "the regex /\(pattern)/ is not valid")
            }
            held = found.contains { Self.matches(expression, Self.text(of: $0)) }
            wanted = "to match /\(pattern)/"
        }
        return held
            ? result(assertion, stage, .passed, "\(subject): \(path) \(shown)")
            : result(
                assertion, stage, .failed, "\(subject): \(path) \(shown); expected it \(wanted)",
                diff: Self.block("\(path) \(wanted)", [], Self.pretty(value)))
    }

    // MARK: - Run assertions

    private func evaluateRun(_ assertion: TestAssertion) -> AssertionResult {
        let stage = assertion.stage
        let subject = stage.map { "stage '\($0)'" } ?? "the run"
        switch assertion.kind {
        case .maxTokens(let limit):
            let used = observation.outputTokens(stage: stage)
            return used <= limit
                ? result(assertion, stage, .passed, "\(subject) used \(used) output tokens, at most \(limit)")
                : result(assertion, stage, .failed, "\(subject) used \(used) output tokens, more than \(limit)")
        case .maxLatency(let limit):
            let took = observation.seconds(stage: stage)
            // The passing message leaves the time out, so that two echo runs report the same text.
            return took <= limit
                ? result(assertion, stage, .passed, "\(subject) took at most \(Self.seconds(limit))")
                : result(assertion, stage, .failed, "\(subject) took \(Self.seconds(took)), more than \(Self.seconds(limit))")
        case .criticRounds(let least, let most):
            guard let rounds = observation.criticRounds(of: stage) else {
                return result(assertion, stage, .error, "\(subject) has no critic loop")
            }
            let loop = stage.map { "the critic loop of '\($0)'" } ?? "the critic loop"
            let ran = "\(loop) ran \(rounds) round\(rounds == 1 ? "" : "s")"
            if let most, rounds > most { return result(assertion, stage, .failed, "\(ran), more than \(most)") }
            if let least, rounds < least { return result(assertion, stage, .failed, "\(ran), fewer than \(least)") }
            return result(assertion, stage, .passed, ran)
        case .stagesRun(let expected):
            let actual = observation.stagesRun
            return actual == expected
                ? result(assertion, nil, .passed, "the stages \(expected.joined(separator: ", ")) ran, in that order")
                : result(
                    assertion, nil, .failed,
                    "the stages that ran were \(Self.names(actual)), not \(Self.names(expected))",
                    diff: LineDiff.unified(
                        expected: expected.joined(separator: "\n") + "\n", actual: actual.joined(separator: "\n") + "\n",
                        expectedName: "expected stages", actualName: "stages run"))
        case .stagesSkipped(let expected):
            let skipped = observation.stagesSkipped
            let ran = Set(observation.stagesRun)
            let wrong = expected.filter { !skipped.contains($0) }
            guard !wrong.isEmpty else {
                return result(assertion, nil, .passed, "the stages \(expected.joined(separator: ", ")) were skipped")
            }
            let what = wrong.map { "'\($0)' \(ran.contains($0) ? "ran" : "did not run")" }.joined(separator: ", ")
            return result(
                assertion, nil, .failed, "expected \(Self.names(wrong)) to be skipped, but \(what); skipped: \(Self.names(skipped))")
        default:
            return result(assertion, stage, .error, "'\(assertion.name)' is not a run assertion")
        }
    }

    // MARK: - Text helpers

    static func list(_ values: [String]) -> String {
        values.map { "'\($0)'" }.joined(separator: ", ")
    }

    static func names(_ values: [String]) -> String {
        values.isEmpty ? "none" : values.joined(separator: ", ")
    }

    static func seconds(_ value: Double) -> String {
        value == value.rounded() ? "\(Int(value)) s" : String(format: "%.2f s", value)
    }

    static func matches(_ expression: NSRegularExpression, _ text: String) -> Bool {
        expression.firstMatch(in: text, range: NSRange(text.startIndex..., in: text)) != nil
    }

    /// A JSON value as text for `contains` and `regex`: a string as itself, anything else as its JSON.
    static func text(of value: JSONValue) -> String {
        if case .string(let text) = value { return text }
        return JSONSchemaCheck.jsonText(value)
    }

    /// Why a text is not JSON.
    struct NotJSON: Error, CustomStringConvertible {
        var description: String
    }

    /// `text` parsed, every object's keys sorted: the decoder gives keys in no fixed order, and messages that show a
    /// value (`$.chunks[4] is {...}`) must read the same on every run.
    static func parseJSON(_ text: String) -> Result<JSONValue, NotJSON> {
        do {
            return .success(OrderedJSON.sortingKeys(try JSONDecoder().decode(JSONValue.self, from: Data(text.utf8))))
        } catch let DecodingError.dataCorrupted(context) {
            let underlying = (context.underlyingError as NSError?)?.userInfo[NSDebugDescriptionErrorKey] as? String
            return .failure(NotJSON(description: underlying ?? context.debugDescription))
        } catch {
            return .failure(NotJSON(description: "\(error)"))
        }
    }

    /// Pretty JSON with sorted keys, for diffs.
    static func pretty(_ value: JSONValue) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return (try? encoder.encode(value)).map { String(decoding: $0, as: UTF8.self) } ?? JSONSchemaCheck.jsonText(value)
    }

    /// An expected/actual block: what was expected and the output (its first 40 lines).
    static func block(_ expectation: String, _ values: [String], _ output: String) -> String {
        var lines = output.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        if output.hasSuffix("\n") { lines.removeLast() }
        let more = lines.count > 40 ? ["… (\(lines.count - 40) more lines)"] : []
        let expected = values.isEmpty ? "expected: \(expectation)" : "expected \(expectation): \(list(values))"
        return ([expected, "actual:"] + lines.prefix(40).map { "  " + $0 } + more).joined(separator: "\n")
    }
}
