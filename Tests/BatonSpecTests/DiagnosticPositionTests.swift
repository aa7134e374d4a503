import BatonSpec
import BatonTestSupport
import Testing

/// Diagnostics land on the exact line and column, marked in the input with 1️⃣ 2️⃣ ...
@Suite struct DiagnosticPositionTests {
    @Test func unknownKeyIsReportedAtTheKey() {
        assertDiagnostics(
            """
            version: 1
            stages:
              draft:
                model: m
                prompt: Write
                1️⃣retires: 3
            """,
            [
                DiagnosticSpec(
                    "1️⃣", code: "unknown-key", message: "unknown key 'retires' in stage 'draft'; did you mean 'retry'?")
            ])
    }

    @Test func templateErrorsInALiteralBlockPointInsideTheBlock() {
        assertDiagnostics(
            """
            version: 1
            inputs:
              task: {}
            stages:
              plan:
                model: m
                prompt: |
                  First line {{inputs.task}}
                    indented 1️⃣{{inputs.nope}}
                  last 2️⃣{{#stages}}
            """,
            [
                DiagnosticSpec(
                    "2️⃣", code: "template-syntax",
                    message: "invalid template: section 'stages' is opened at 10:12 and never closed; close it with {{/stages}}")
            ])
        assertDiagnostics(
            """
            version: 1
            inputs:
              task: {}
            stages:
              plan:
                model: m
                prompt: |
                  First line {{inputs.task}}
                    indented 1️⃣{{inputs.nope}}
            """,
            [DiagnosticSpec("1️⃣", code: "undeclared-input", message: "template uses undeclared input 'nope'; declare it under 'inputs'")])
    }

    @Test func templateErrorsInQuotedAndPlainScalars() {
        assertDiagnostics(
            """
            version: 1
            stages:
              a: {model: m, prompt: "x 1️⃣{{inputs.a}}"}
              b: {model: m, prompt: 'y 2️⃣{{inputs.b}}'}
              c:
                model: m
                prompt: z 3️⃣{{inputs.c}} {{stages.a.output}} {{stages.b.output}}
            """,
            [
                DiagnosticSpec("1️⃣", code: "undeclared-input"),
                DiagnosticSpec("2️⃣", code: "undeclared-input"),
                DiagnosticSpec("3️⃣", code: "undeclared-input"),
            ])
    }

    @Test func columnsCountCharactersNotBytes() {
        assertDiagnostics(
            """
            version: 1
            stages:
              plan:
                model: m
                prompt: "Plan für 🎉 1️⃣{{inputs.wer}}"
            """,
            [DiagnosticSpec("1️⃣", code: "undeclared-input")])
    }

    @Test func typeErrorsAreAtTheValue() {
        assertDiagnostics(
            """
            version: 1
            stages:
              plan:
                model: m
                temperature: 1️⃣three
                max_tokens: 2️⃣1.5
                stop: 3️⃣{a: b}
                prompt: Plan
            """,
            [
                DiagnosticSpec(
                    "1️⃣", code: "type-mismatch", message: "expected a number for 'temperature' in stage 'plan', found 'three'"),
                DiagnosticSpec("2️⃣", code: "type-mismatch"),
                DiagnosticSpec("3️⃣", code: "type-mismatch"),
            ])
    }

    @Test func yesAndNoAreNotBooleans() {
        assertDiagnostics(
            """
            version: 1
            inputs:
              country: {default: no}
              task: {required: 1️⃣yes}
            stages:
              plan:
                model: m
                prompt: "{{inputs.country}} {{inputs.task}}"
            """,
            [DiagnosticSpec("1️⃣", code: "type-mismatch", message: "expected true or false for 'required' in input 'task', found 'yes'")])
    }

    @Test func everyProblemIsReportedInOnePass() {
        assertDiagnostics(
            """
            version: 1
            1️⃣nmae: x
            stages:
              a:
                model: m
                temperature: 2️⃣9
                needs: [3️⃣zz]
                prompt: "4️⃣{{nope}}"
              b:
                model: m
                reviews: 5️⃣b
                prompt: "{{stages.a.output}}"
            """,
            [
                DiagnosticSpec("1️⃣", code: "unknown-key"),
                DiagnosticSpec("2️⃣", code: "out-of-range"),
                DiagnosticSpec("3️⃣", code: "unknown-stage"),
                DiagnosticSpec("4️⃣", code: "unknown-variable"),
                DiagnosticSpec("5️⃣", code: "critic-reviews-itself"),
            ])
    }

    @Test func warningsForUnusedInputsAndOutputs() {
        assertDiagnostics(
            """
            version: 1
            inputs:
              1️⃣extra: {default: x}
            stages:
              2️⃣notes: {model: m, prompt: Notes}
              final: {model: m, needs: [notes], prompt: Final}
            """,
            [
                DiagnosticSpec("1️⃣", code: "unused-input", severity: .warning),
                DiagnosticSpec("2️⃣", code: "unused-output", severity: .warning),
            ])
    }
}
