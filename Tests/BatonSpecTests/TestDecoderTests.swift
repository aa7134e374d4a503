import BatonSpec
import BatonTestSupport
import Testing

/// Decodes the marked test file (and, given a pipeline, checks it against the pipeline's plan) and expects exactly the
/// given diagnostics, each at its marker.
func expectTestDiagnostics(
    _ marked: String, pipeline: String? = nil, _ expected: [DiagnosticSpec], sourceLocation: Testing.SourceLocation = #_sourceLocation
) {
    let input = MarkedText(marked)
    let document = TestDecoder.decode(SourceFile(path: "t.test.yaml", text: input.text))
    var found = document.diagnostics
    if let pipeline {
        let compiled = PipelineCompiler(profile: nil).compile(SourceFile(path: "t.yaml", text: pipeline))
        guard let plan = compiled.plan, let suite = document.spec else {
            Issue.record("the pipeline or the test file did not decode: \(compiled.diagnostics)", sourceLocation: sourceLocation)
            return
        }
        found += TestCheck.check(suite, plan: plan)
    }
    var remaining = found
    for spec in expected {
        guard let position = input.positions[spec.marker] else {
            Issue.record("marker \(spec.marker) is not in the input", sourceLocation: sourceLocation)
            continue
        }
        let index = remaining.firstIndex {
            $0.code.rawValue == spec.code && $0.severity == spec.severity && $0.location?.line == position.line
                && $0.location?.column == position.column && (spec.message == nil || $0.message == spec.message)
        }
        if let index {
            remaining.remove(at: index)
        } else {
            let lines = found.map { "\($0.location.map { "\($0.line):\($0.column)" } ?? "-") [\($0.code)] \($0.message)" }
            Issue.record(
                "expected \(spec) at \(position.line):\(position.column); found:\n\(lines.joined(separator: "\n"))",
                sourceLocation: sourceLocation)
        }
    }
    for diagnostic in remaining {
        Issue.record(
            "unexpected diagnostic: \(diagnostic.location.map(\.description) ?? "-") [\(diagnostic.code)] \(diagnostic.message)",
            sourceLocation: sourceLocation)
    }
}

/// Issue 14 contract §1/§5: the shape of a test file, its cases, assertions and inline echo scripts, each problem
/// located at its line and column.
@Suite struct TestDecoderTests {
    @Test func aWellFormedFileDecodesEveryAssertion() throws {
        let text = """
            version: 1
            pipeline: code-task.yaml
            profile: local-gemma
            cases:
              - name: approves on the second round
                description: the critic asks once
                inputs: {task: "Add a /health endpoint", count: 3, dry: true, empty: ~}
                echo:
                  review:
                    1: {verdict: revise, feedback: Add tests.}
                    2: {verdict: approve}
                  plan[0]:
                    "*": {output: "1. Write the handler", delay: 2s}
                assert:
                  - stage: plan
                    contains: handler
                    description: names the handler
                  - icontains: ["HEALTH", "endpoint"]
                  - not-contains: TODO
                  - equals: {a: [1, "x"]}
                  - regex: "^1\\\\."
                  - is-json: true
                  - is-json: {schema: {type: object, required: [verdict]}}
                  - json-path: {path: "$.items[-1]['a b']", equals: 3}
                  - json-path: {path: "$[*]", exists: false}
                  - max-tokens: 400
                  - max-latency: 30s
                  - critic-rounds: 2
                  - critic-rounds: {min: 2}
                  - stages-run: [plan, review]
                  - stages-skipped: escalate
                  - similar: {to: "An HTTP health check", threshold: 0.8, model: all-minilm}
                  - judge: {rubric: "Is the plan testable?", min-score: 0.7}
              - name: fails on purpose
                expect: failed
                skip: the runtime is slow
            """
        let document = TestDecoder.decode(SourceFile(path: "t.test.yaml", text: text))
        #expect(document.diagnostics.isEmpty, "\(document.diagnostics)")
        let suite = try #require(document.spec)
        #expect(suite.pipeline == "code-task.yaml")
        #expect(suite.pipelineLocation == SourceLocation(file: "t.test.yaml", line: 2, column: 11))
        #expect(suite.profile == "local-gemma")
        #expect(suite.cases.map(\.name) == ["approves on the second round", "fails on purpose"])
        let first = suite.cases[0]
        #expect(first.location == SourceLocation(file: "t.test.yaml", line: 5, column: 11))
        #expect(first.description == "the critic asks once")
        #expect(first.inputs == ["task": "Add a /health endpoint", "count": "3", "dry": "true", "empty": ""])
        #expect(first.echo?.entries["review"]?[1] == EchoAnswer(verdict: "revise", feedback: "Add tests."))
        #expect(first.echo?.entries["plan[0]"]?[0] == EchoAnswer(output: "1. Write the handler", delay: 2))
        #expect(first.echo?.locations["review"] == SourceLocation(file: "t.test.yaml", line: 9, column: 7))
        #expect(!first.expectFailure && first.skip == nil)
        let kinds = first.assertions.map(\.kind)
        let path = try JSONPath(parsing: "$.items[-1]['a b']")
        #expect(
            kinds == [
                .contains(["handler"]), .icontains(["HEALTH", "endpoint"]), .notContains(["TODO"]),
                .equals(.object([("a", .array([.number(1), .string("x")]))])), .regex("^1\\."), .isJSON(schema: nil),
                .isJSON(schema: .object([("type", .string("object")), ("required", .array([.string("verdict")]))])),
                .jsonPath(path, .equals(.number(3))), .jsonPath(JSONPath(segments: [.wildcard]), .exists(false)),
                .maxTokens(400), .maxLatency(seconds: 30), .criticRounds(min: nil, max: 2), .criticRounds(min: 2, max: nil),
                .stagesRun(["plan", "review"]), .stagesSkipped(["escalate"]),
                .similar(to: "An HTTP health check", threshold: 0.8, model: "all-minilm"),
                .judge(rubric: "Is the plan testable?", minScore: 0.7, model: nil),
            ])
        #expect(first.assertions.map(\.name).prefix(4) == ["contains", "icontains", "not-contains", "equals"])
        #expect(first.assertions[0].stage == "plan")
        #expect(first.assertions[0].description == "names the handler")
        #expect(first.assertions[0].location == SourceLocation(file: "t.test.yaml", line: 16, column: 9))
        #expect(first.assertions[0].stageLocation == SourceLocation(file: "t.test.yaml", line: 15, column: 16))
        #expect(first.assertions[13].itemLocations.map(\.column) == [22, 28])
        #expect(suite.cases[1].expectFailure)
        #expect(suite.cases[1].skip == "the runtime is slow")
    }

    @Test func theTopOfTheFileIsCheckedKeyByKey() {
        expectTestDiagnostics(
            """
            1️⃣pipeline: 2️⃣[a.yaml]
            3️⃣profiel: x
            cases: 4️⃣[]
            """,
            [
                DiagnosticSpec("1️⃣", code: "missing-key", message: "the test file has no 'version'; add 'version: 1' at the top"),
                DiagnosticSpec("2️⃣", code: "type-mismatch", message: "expected text for 'pipeline', found a list"),
                DiagnosticSpec("3️⃣", code: "unknown-key", message: "unknown key 'profiel' in the test file; did you mean 'profile'?"),
                DiagnosticSpec("4️⃣", code: "empty-value", message: "'cases' is empty; give it a value or remove the key"),
            ])
        expectTestDiagnostics(
            """
            version: 1️⃣2
            cases: 2️⃣{a: 1}
            """,
            [
                DiagnosticSpec("1️⃣", code: "unsupported-version"),
                DiagnosticSpec("2️⃣", code: "type-mismatch", message: "expected a list of cases for 'cases', found a mapping"),
            ])
        expectTestDiagnostics(
            "1️⃣version: 1\n",
            [
                DiagnosticSpec(
                    "1️⃣", code: "missing-key",
                    message: "the test file has no 'cases'; add 'cases:' with a list of cases, each with a 'name'")
            ])
    }

    @Test func casesAreCheckedKeyByKeyAndNamedOnce() {
        expectTestDiagnostics(
            """
            version: 1
            cases:
              - name: same
              - name: 2️⃣same
                expect: 3️⃣passed
                inputs: {task: 4️⃣[a, b]}
                5️⃣asert: []
              - 6️⃣description: no name
              - name: 7️⃣""
                skip: 8️⃣""
                assert: 9️⃣{contains: x}
            """,
            [
                DiagnosticSpec(
                    "2️⃣", code: "test-case-duplicate", message: "case 'same' is named twice in this file; give each case its own name"),
                DiagnosticSpec(
                    "3️⃣", code: "invalid-value", message: "'passed' is not valid for 'expect' in case 'same'; use 'completed' or 'failed'"),
                DiagnosticSpec(
                    "4️⃣", code: "type-mismatch",
                    message: "expected text, a number or true/false for input 'task' in case 'same', found a list"),
                DiagnosticSpec("5️⃣", code: "unknown-key", message: "unknown key 'asert' in case 'same'; did you mean 'assert'?"),
                DiagnosticSpec("6️⃣", code: "missing-key", message: "case 3 has no 'name'; add 'name: ...', unique in this file"),
                DiagnosticSpec("7️⃣", code: "empty-value"),
                DiagnosticSpec("8️⃣", code: "empty-value"),
                DiagnosticSpec(
                    "9️⃣", code: "type-mismatch", message: "expected a list of assertions for 'assert' in case 4, found a mapping"),
            ])
    }

    @Test func anAssertionItemHasExactlyOneKnownAssertionKey() {
        expectTestDiagnostics(
            """
            version: 1
            cases:
              - name: a
                assert:
                  - 1️⃣contans: x
                  - 2️⃣{stage: plan}
                  - contains: x
                    3️⃣regex: y
                  - 4️⃣max_tokens: 3
                  - stages-run: [a]
                    stage: 5️⃣plan
                  - 6️⃣"x"
            """,
            [
                DiagnosticSpec("1️⃣", code: "test-assertion-unknown", message: "unknown assertion 'contans'; did you mean 'contains'?"),
                DiagnosticSpec(
                    "2️⃣", code: "test-assertion-keys",
                    message: "this assertion has no assertion key; give one of 'equals', 'contains', 'icontains', 'not-contains', "
                        + "'regex', 'is-json', 'json-path', 'max-tokens', 'max-latency', 'critic-rounds', 'stages-run', "
                        + "'stages-skipped', 'similar' or 'judge' (with an optional 'stage')"),
                DiagnosticSpec(
                    "3️⃣", code: "test-assertion-keys",
                    message: "this assertion has 2 assertion keys ('contains' and 'regex'); give each its own list item"),
                DiagnosticSpec("4️⃣", code: "test-assertion-unknown", message: "unknown assertion 'max_tokens'; did you mean 'max-tokens'?"),
                DiagnosticSpec(
                    "5️⃣", code: "test-assertion-value",
                    message: "assertion 'stages-run' takes no 'stage': it looks at the whole run; remove 'stage'"),
                DiagnosticSpec(
                    "6️⃣", code: "type-mismatch", message: "expected a mapping with one assertion key for an item of 'assert', found 'x'"),
            ])
    }

    @Test func eachAssertionsValueHasItsShape() {
        expectTestDiagnostics(
            """
            version: 1
            cases:
              - name: a
                assert:
                  - contains: 1️⃣[]
                  - not-contains: [x, 2️⃣{a: 1}]
                  - max-tokens: 3️⃣0
                  - max-latency: 4️⃣soon
                  - critic-rounds: {min: 5️⃣3, max: 2}
                  - is-json: 6️⃣false
                  - similar: 7️⃣{to: x}
                  - judge: {rubric: x, min-score: 8️⃣2}
                  - json-path: {path: $.a, equals: 1, 9️⃣exists: true}
                  - similar: {to: x, threshold: 0.5, 🔟modle: m}
            """,
            [
                DiagnosticSpec(
                    "1️⃣", code: "test-assertion-value", message: "assertion 'contains' expects text or a list of text, not an empty list"),
                DiagnosticSpec(
                    "2️⃣", code: "test-assertion-value", message: "assertion 'not-contains' expects text or a list of text, not a mapping"),
                DiagnosticSpec(
                    "3️⃣", code: "test-assertion-value",
                    message: "assertion 'max-tokens' expects a number of output tokens, a whole number from 1, not '0'"),
                DiagnosticSpec(
                    "4️⃣", code: "test-assertion-value",
                    message: "assertion 'max-latency' expects a duration greater than 0 (30s, 500ms, 2m or seconds), not 'soon'"),
                DiagnosticSpec("5️⃣", code: "test-assertion-value", message: "assertion 'critic-rounds' has 'min' 3 above 'max' 2"),
                DiagnosticSpec("6️⃣", code: "test-assertion-value"),
                DiagnosticSpec(
                    "7️⃣", code: "test-assertion-value",
                    message: "assertion 'similar' needs 'threshold', the least cosine similarity (0 to 1)"),
                DiagnosticSpec(
                    "8️⃣", code: "test-assertion-value", message: "assertion 'judge' expects a number from 0 to 1 for 'min-score', not '2'"),
                DiagnosticSpec(
                    "9️⃣", code: "test-assertion-value",
                    message: "assertion 'json-path' gives 'equals' and 'exists'; give one expectation per assertion"),
                DiagnosticSpec(
                    "🔟", code: "test-assertion-value", message: "assertion 'similar' has an unknown key 'modle'; did you mean 'model'?"),
            ])
    }

    @Test func aRegexThatDoesNotCompileSaysWhy() {
        expectTestDiagnostics(
            """
            version: 1
            cases:
              - name: a
                assert:
                  - regex: 1️⃣"(unclosed"
                  - json-path: {path: $.a, regex: 2️⃣"[a-"}
            """,
            [
                DiagnosticSpec(
                    "1️⃣", code: "test-regex-invalid",
                    message: "'(unclosed' is not a valid regular expression: a '(' is never closed with ')'; write NSRegularExpression "
                        + "(ICU) syntax, and in YAML double quotes write a backslash as '\\\\'"),
                DiagnosticSpec("2️⃣", code: "test-regex-invalid"),
            ])
    }

    @Test func aJSONPathThatDoesNotParseIsLocatedAtTheColumn() {
        // Plain, single- and double-quoted paths: the diagnostic points at the character inside the path.
        expectTestDiagnostics(
            """
            version: 1
            cases:
              - name: a
                assert:
                  - json-path: {path: $.a.1️⃣.b, exists: true}
                  - json-path: {path: '$[12️⃣:2]', exists: true}
                  - json-path: {path: "3️⃣a.b", exists: true}
                  - json-path: {path: "$.a[4️⃣'b]", exists: true}
            """,
            [
                DiagnosticSpec(
                    "1️⃣", code: "test-json-path-invalid",
                    message: "'$.a..b' is not a JSON path this baton reads (column 5): '..' (descendants) is not supported; write each "
                        + "step; paths use $, .name, ['name'], [N] (negative from the end) and [*]"),
                DiagnosticSpec("2️⃣", code: "test-json-path-invalid"),
                DiagnosticSpec("3️⃣", code: "test-json-path-invalid"),
                DiagnosticSpec("4️⃣", code: "test-json-path-invalid"),
            ])
    }

    @Test func aSchemaKeywordTheValidatorLacksIsRefusedAtTheKeyword() {
        expectTestDiagnostics(
            """
            version: 1
            cases:
              - name: a
                assert:
                  - is-json:
                      schema:
                        type: object
                        properties:
                          when: {type: string, 1️⃣format: date-time}
                        2️⃣$ref: "#/$defs/x"
                  - is-json: {schema: {anyOf: [{3️⃣patternProperties: {}}]}}
            """,
            [
                DiagnosticSpec(
                    "1️⃣", code: "test-schema-unsupported",
                    message: "'is-json' schema keyword 'format' (at schema/properties/when/format) is not one the validator "
                        + "implements, so it would be ignored; the keywords are listed in docs/test-format.md"),
                DiagnosticSpec("2️⃣", code: "test-schema-unsupported"),
                DiagnosticSpec("3️⃣", code: "test-schema-unsupported"),
            ])
    }

    @Test func anInlineEchoScriptReportsEveryBadEntryWithTheEnginesWording() {
        expectTestDiagnostics(
            """
            version: 1
            cases:
              - name: a
                echo:
                  plan:
                    1: {1️⃣outptu: x}
                    2️⃣first: {output: y}
                  review:
                    1: {verdict: approve, delay: 3️⃣soon}
                    2: {output: x, times: 4️⃣2}
                  summary: 5️⃣text
                  flaky:
                    1: {fail: 6️⃣sometimes}
            """,
            [
                DiagnosticSpec(
                    "1️⃣", code: "test-echo-invalid",
                    message: "stage 'plan' round '1' has an unknown key 'outptu'; use output, verdict, feedback, thinking, finish, "
                        + "delay, fail, times"),
                DiagnosticSpec(
                    "2️⃣", code: "test-echo-invalid",
                    message: "stage 'plan' has round 'first'; rounds are numbers from 1, or \"*\" for every round"),
                DiagnosticSpec(
                    "3️⃣", code: "test-echo-invalid",
                    message: "stage 'review' round '1' key 'delay' is 'soon', not a duration; write it as 500ms, 2s or 1m"),
                DiagnosticSpec(
                    "4️⃣", code: "test-echo-invalid",
                    message: "stage 'review' round '2' has 'times' without 'fail'; add fail: transient or fail: permanent"),
                DiagnosticSpec("5️⃣", code: "test-echo-invalid"),
                DiagnosticSpec("6️⃣", code: "test-echo-invalid"),
            ])
    }

    @Test func brokenYAMLIsOneLocatedDiagnostic() {
        let document = TestDecoder.decode(SourceFile(path: "t.test.yaml", text: "version: 1\ncases: [\n"))
        #expect(document.spec == nil)
        #expect(document.diagnostics.map(\.code.rawValue) == ["yaml-syntax"])
        #expect(document.diagnostics.first?.location?.line == 3)
    }
}
