import BatonSpec
import BatonTestSupport
import Testing

/// A test file against its pipeline's plan (contract §1/§5): the stages and inputs it names, JSON paths into text
/// stages, critic loops and assertions that need a `stage`. Each diagnostic is asserted at its line and column.
@Suite struct TestCheckTests {
    /// plan → review (critic of plan) → implement (JSON); one output, `implement`.
    static let pipeline = """
        version: 1
        inputs:
          task: {description: what to do}
          style: {default: terse}
        outputs: [implement]
        stages:
          plan: {model: m, prompt: "{{inputs.task}}"}
          review: {model: m, reviews: plan, prompt: "{{stages.plan.output}}"}
          implement:
            model: m
            prompt: "{{stages.plan.output}}"
            output: {format: json, schema: {type: object}}
          notes: {model: m, prompt: "{{stages.implement.output}}"}
        """

    @Test func aFileThatMatchesItsPipelineHasNoDiagnostics() {
        expectTestDiagnostics(
            """
            version: 1
            cases:
              - name: a
                inputs: {task: x}
                echo:
                  review: {1: {verdict: approve}}
                  implement[0]: {"*": {output: "{}"}}
                assert:
                  - json-path: {path: $.a, exists: false}
                  - stage: plan
                    contains: x
                  - stage: review
                    critic-rounds: 1
                  - stage: plan
                    critic-rounds: {min: 1}
                  - critic-rounds: 3
                  - stages-run: [plan, review, implement, notes]
                  - stages-skipped: []
                  - stage: notes
                    is-json: {schema: {type: object}}
                  - max-tokens: 10
            """, pipeline: Self.pipeline, [])
    }

    @Test func unknownStagesAreNamedWithASuggestionWhereverTheyAppear() {
        expectTestDiagnostics(
            """
            version: 1
            cases:
              - name: a
                inputs: {task: x}
                echo:
                  1️⃣plna: {1: {output: x}}
                  2️⃣implement2[0]: {1: {output: x}}
                assert:
                  - stage: 3️⃣reveiw
                    critic-rounds: 1
                  - stages-run: [plan, 4️⃣deploy]
                  - stages-skipped: 5️⃣notess
                  - max-latency: 3s
                    stage: 6️⃣zzz
            """, pipeline: Self.pipeline,
            [
                DiagnosticSpec(
                    "1️⃣", code: "test-stage-unknown",
                    message: "the echo script of case 'a' names stage 'plna', which pipeline 't' does not have; did you mean 'plan'?"),
                DiagnosticSpec("2️⃣", code: "test-stage-unknown"),
                DiagnosticSpec(
                    "3️⃣", code: "test-stage-unknown",
                    message: "assertion 'critic-rounds' names stage 'reveiw', which pipeline 't' does not have; did you mean 'review'?"),
                DiagnosticSpec(
                    "4️⃣", code: "test-stage-unknown",
                    message:
                        "assertion 'stages-run' names stage 'deploy', which pipeline 't' does not have; `baton plan t` lists its stages"),
                DiagnosticSpec("5️⃣", code: "test-stage-unknown"),
                DiagnosticSpec("6️⃣", code: "test-stage-unknown"),
            ])
    }

    @Test func inputsMustBeDeclaredAndRequiredOnesGiven() {
        expectTestDiagnostics(
            """
            version: 1
            cases:
              - name: 1️⃣a
                inputs: {2️⃣tsak: x, style: loud}
              - name: b
                inputs: {task: x, 3️⃣colour: red}
            """, pipeline: Self.pipeline,
            [
                DiagnosticSpec(
                    "2️⃣", code: "test-input-unknown", message: "input 'tsak' is not declared by pipeline 't'; did you mean 'task'?"),
                DiagnosticSpec(
                    "1️⃣", code: "test-input-missing",
                    message: "case 'a' does not give input 'task', which the pipeline requires; add it under 'inputs'"),
                DiagnosticSpec(
                    "3️⃣", code: "test-input-unknown",
                    message: "input 'colour' is not declared by pipeline 't'; its inputs are 'task' and 'style'"),
            ])
    }

    @Test func aJSONPathIntoATextStageIsRefused() {
        expectTestDiagnostics(
            """
            version: 1
            cases:
              - name: a
                inputs: {task: x}
                assert:
                  - stage: 1️⃣plan
                    json-path: {path: $.a, exists: true}
                  - stage: plan
                    is-json: true
            """, pipeline: Self.pipeline,
            [
                DiagnosticSpec(
                    "1️⃣", code: "test-json-path-text-stage",
                    message: "'json-path' looks into stage 'plan', whose output is text; give the stage 'output: {format: json}', "
                        + "or assert on the text with 'contains' or 'regex'")
            ])
    }

    @Test func anOutputAssertionWithoutStageNeedsOneOutputStage() {
        let twoOutputs = """
            version: 1
            outputs: [a, b]
            stages:
              a: {model: m, prompt: x}
              b: {model: m, prompt: x}
              c: {model: m, reviews: a, prompt: x}
              d: {model: m, reviews: b, prompt: x}
            """
        expectTestDiagnostics(
            """
            version: 1
            cases:
              - name: a
                assert:
                  - 1️⃣contains: x
                  - stage: a
                    contains: x
                  - 2️⃣critic-rounds: 2
                  - stage: c
                    critic-rounds: 2
                  - max-tokens: 5
            """, pipeline: twoOutputs,
            [
                DiagnosticSpec(
                    "1️⃣", code: "test-stage-required",
                    message: "assertion 'contains' needs 'stage': pipeline 't' has 2 output stages ('a' and 'b'); say which one it looks at"
                ),
                DiagnosticSpec(
                    "2️⃣", code: "test-stage-required",
                    message: "assertion 'critic-rounds' needs 'stage': pipeline 't' has 2 critic loops (critics 'c' and 'd'); "
                        + "name the reviewed stage or its critic"),
            ])
    }

    @Test func criticRoundsNeedACriticLoop() {
        let noLoop = """
            version: 1
            stages:
              a: {model: m, prompt: x}
            """
        expectTestDiagnostics(
            """
            version: 1
            cases:
              - name: a
                assert:
                  - 1️⃣critic-rounds: 2
                  - stage: 2️⃣a
                    critic-rounds: 2
            """, pipeline: noLoop,
            [
                DiagnosticSpec(
                    "1️⃣", code: "test-no-critic-loop",
                    message:
                        "'critic-rounds' counts the rounds of a critic loop, and pipeline 't' has none; name a reviewed stage or its critic"
                ),
                DiagnosticSpec("2️⃣", code: "test-no-critic-loop"),
            ])
    }
}
