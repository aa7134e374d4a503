import BatonSpec
import BatonTestSupport
import Testing

/// Errors inside a `when:` expression land on their line and column in the YAML file, whatever the scalar's
/// style, marked in the input with 1️⃣ 2️⃣ ...
@Suite struct ConditionPositionTests {
    @Test func aPlainScalarMapsColumnsOneToOne() {
        assertDiagnostics(
            """
            version: 1
            inputs: {mode: {}}
            stages:
              a:
                model: m
                prompt: A
                when: inputs.mode 1️⃣= 'fast'
            """,
            [
                DiagnosticSpec(
                    "1️⃣", code: "expression-syntax", message: "invalid expression: unexpected character '='; use '==' to compare")
            ])
    }

    @Test func aDoubleQuotedScalarStartsAfterItsQuote() {
        assertDiagnostics(
            """
            version: 1
            stages:
              a:
                model: m
                prompt: A
                output: {format: json, schema: {type: object, properties: {k: {enum: [x, y]}}}}
              b: {model: m, prompt: "{{stages.a.output}}", when: "stages.a.json.k == 1️⃣'z'"}
            """,
            [
                DiagnosticSpec(
                    "1️⃣", code: "unknown-enum-value", message: "'z' is never a value of 'stages.a.json.k', which is 'x' or 'y'")
            ])
    }

    @Test func anEscapeBeforeTheCulpritDoesNotShiftIt() {
        // '' is one quote in the expression and two columns in the file; \" likewise.
        assertDiagnostics(
            """
            version: 1
            inputs: {mode: {}}
            stages:
              a: {model: m, prompt: A, when: 'inputs.mode == ''fast'' && 1️⃣fo0 == 1'}
              b: {model: m, prompt: "{{stages.a.output}}", when: "inputs.mode != \\"slow\\" && 2️⃣bar"}
            """,
            [
                DiagnosticSpec("1️⃣", code: "unknown-name", message: "unknown name 'fo0'; the names here are 'inputs' and 'stages'"),
                DiagnosticSpec("2️⃣", code: "unknown-name", message: "unknown name 'bar'; the names here are 'inputs' and 'stages'"),
            ])
    }

    @Test func aLiteralBlockMapsLinesAndIndentation() {
        assertDiagnostics(
            """
            version: 1
            inputs: {mode: {}}
            stages:
              a:
                model: m
                prompt: A
                when: |
                  inputs.mode == 'fast' &&
                    inputs.1️⃣mdoe != 'x' ||
                  size(inputs.mode) > 2️⃣'3'
            """,
            [
                DiagnosticSpec(
                    "1️⃣", code: "unknown-field", message: "'inputs' has no field 'mdoe'; did you mean 'mode'? its fields are 'mode'"),
                DiagnosticSpec(
                    "2️⃣", code: "expression-type",
                    message: "cannot compare 'size(inputs.mode)' (int) with ''3'' (string) using '>'; compare values of the same type"),
            ])
    }

    @Test func aTypeErrorOnTheLastLineOfABlock() {
        assertDiagnostics(
            """
            version: 1
            inputs: {mode: {}}
            stages:
              a:
                model: m
                prompt: A
                when: |-
                  inputs.mode == 'fast' ||
                  1️⃣inputs.mode
            """,
            [
                DiagnosticSpec(
                    "1️⃣", code: "expression-type", message: "'||' needs true or false, but 'inputs.mode' is a string")
            ])
    }

    @Test func columnsAfterNonASCIITextCountUnicodeScalars() {
        // "é" written as e + U+0301 is one character of the expression and two columns of the file.
        assertDiagnostics(
            """
            version: 1
            inputs: {mode: {}}
            stages:
              a: {model: m, prompt: "é", when: "inputs.mode == 'cafe\u{301} ☕' && 1️⃣inputs.mode"}
              b:
                model: m
                prompt: "{{stages.a.output}}"
                when: |
                  inputs.mode == 'naïve, cafe\u{301}' &&
                    'cafe\u{301}' == 2️⃣3
            """,
            [
                DiagnosticSpec("1️⃣", code: "expression-type", message: "'&&' needs true or false, but 'inputs.mode' is a string"),
                DiagnosticSpec(
                    "2️⃣", code: "expression-type",
                    message: "cannot compare ''cafe\u{301}'' (string) with '3' (int) using '=='; compare values of the same type"),
            ])
    }

    @Test func aFoldedScalarIsSearchedForTheCulprit() {
        assertDiagnostics(
            """
            version: 1
            inputs: {mode: {}}
            stages:
              a:
                model: m
                prompt: A
                when: >
                  inputs.mode == 'x' || inputs.mode == 'y' ||
                  inputs.1️⃣mod == 'z'
            """,
            [
                DiagnosticSpec(
                    "1️⃣", code: "unknown-field", message: "'inputs' has no field 'mod'; did you mean 'mode'? its fields are 'mode'")
            ])
    }

    @Test func aTemplateEscapeBeforeATagDoesNotShiftIt() {
        assertDiagnostics(
            """
            version: 1
            stages:
              a: {model: m, prompt: "say \\"hi\\" 1️⃣{{inputs.nope}}"}
            """,
            [DiagnosticSpec("1️⃣", code: "undeclared-input", message: "template uses undeclared input 'nope'; declare it under 'inputs'")])
    }
}
