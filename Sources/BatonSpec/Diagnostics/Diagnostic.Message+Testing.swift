// The wording of the test-file diagnostics (`NAME.test.yaml`, docs/test-format.md), apart from the long catalog.
// Written as `Diagnostic.Message(` so DiagnosticsDocTests finds the codes here too.

extension Diagnostic.Message {
    /// A key in an assertion item that is no assertion, `stage` or `description`.
    static func testAssertionUnknown(_ key: String, suggestion: String?) -> Self {
        Diagnostic.Message(
            "test-assertion-unknown",
            "unknown assertion '\(key)'"
                + (suggestion.map { "; did you mean '\($0)'?" }
                    ?? "; the assertions are \(quotedList(TestAssertion.keys, conjunction: "and"))"))
    }

    /// An assertion whose value has the wrong shape.
    static func testAssertionValue(_ assertion: String, problem: String) -> Self {
        Diagnostic.Message("test-assertion-value", "assertion '\(assertion)' \(problem)")
    }

    /// An assertion item with no assertion key, or with more than one.
    static func testAssertionKeys(_ keys: [String]) -> Self {
        Diagnostic.Message(
            "test-assertion-keys",
            keys.isEmpty
                ? "this assertion has no assertion key; give one of \(quotedList(TestAssertion.keys, conjunction: "or")) (with an optional 'stage')"
                : "this assertion has \(keys.count) assertion keys (\(quotedList(keys, conjunction: "and"))); give each its own list item")
    }

    /// A `regex` that NSRegularExpression does not compile.
    static func testRegexInvalid(_ pattern: String, problem: String) -> Self {
        Diagnostic.Message(
            "test-regex-invalid",
            "'\(pattern)' is not a valid regular expression: \(problem); write NSRegularExpression (ICU) syntax, "
                + "and in YAML double quotes write a backslash as '\\\\'")
    }

    /// A stage name in a test file that the pipeline does not have.
    static func testStageUnknown(_ stage: String, usedBy subject: String, pipeline: String, suggestion: String?) -> Self {
        Diagnostic.Message(
            "test-stage-unknown",
            "\(subject) names stage '\(stage)', which pipeline '\(pipeline)' does not have"
                + (suggestion.map { "; did you mean '\($0)'?" } ?? "; `baton plan \(pipeline)` lists its stages"))
    }

    /// An assertion without `stage` where the pipeline does not say which stage it means.
    static func testStageRequired(_ assertion: String, reason: String) -> Self {
        Diagnostic.Message("test-stage-required", "assertion '\(assertion)' needs 'stage': \(reason)")
    }

    /// A JSON path that does not parse.
    static func testJSONPathInvalid(_ path: String, error: JSONPath.ParseError) -> Self {
        Diagnostic.Message(
            "test-json-path-invalid",
            "'\(path)' is not a JSON path this baton reads (column \(error.column)): \(error.message); "
                + "paths use $, .name, ['name'], [N] (negative from the end) and [*]")
    }

    /// A `json-path` on a stage whose output is text.
    static func testJSONPathTextStage(_ stage: String) -> Self {
        Diagnostic.Message(
            "test-json-path-text-stage",
            "'json-path' looks into stage '\(stage)', whose output is text; give the stage 'output: {format: json}', "
                + "or assert on the text with 'contains' or 'regex'")
    }

    /// A JSON Schema keyword the engine's validator does not implement.
    static func testSchemaUnsupported(_ keyword: String, at path: String) -> Self {
        Diagnostic.Message(
            "test-schema-unsupported",
            "'is-json' schema keyword '\(keyword)' (at \(path)) is not one the validator implements, so it would be ignored; "
                + "the keywords are listed in docs/test-format.md")
    }

    /// A case input the pipeline does not declare.
    static func testInputUnknown(_ input: String, pipeline: String, suggestion: String?, declared: [String]) -> Self {
        Diagnostic.Message(
            "test-input-unknown",
            "input '\(input)' is not declared by pipeline '\(pipeline)'"
                + (suggestion.map { "; did you mean '\($0)'?" }
                    ?? (declared.isEmpty
                        ? "; the pipeline declares no inputs" : "; its inputs are \(quotedList(declared, conjunction: "and"))"))
        )
    }

    /// A required pipeline input without default that a case does not give.
    static func testInputMissing(_ input: String, testCase: String) -> Self {
        Diagnostic.Message(
            "test-input-missing",
            "case '\(testCase)' does not give input '\(input)', which the pipeline requires; add it under 'inputs'")
    }

    /// Two cases of one name.
    static func testCaseDuplicate(_ name: String) -> Self {
        Diagnostic.Message("test-case-duplicate", "case '\(name)' is named twice in this file; give each case its own name")
    }

    /// `critic-rounds` on a stage (or a pipeline) without a critic loop.
    static func testNoCriticLoop(_ subject: String) -> Self {
        Diagnostic.Message(
            "test-no-critic-loop",
            "'critic-rounds' counts the rounds of a critic loop, and \(subject) has none; name a reviewed stage or its critic")
    }

    /// An entry of an echo script that the echo runtime could not read (same wording as `BATON_ECHO_SCRIPT` errors).
    static func testEchoInvalid(_ problem: String) -> Self {
        Diagnostic.Message("test-echo-invalid", problem)
    }

    /// A test file whose pipeline file does not exist.
    public static func testPipelineMissing(_ path: String) -> Self {
        Diagnostic.Message(
            "test-pipeline-missing",
            "the pipeline '\(path)' of this test file was not found; 'pipeline' is relative to the test file's folder "
                + "(without it, NAME.test.yaml tests NAME.yaml beside it)")
    }
}
