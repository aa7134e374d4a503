/// Checks a decoded test suite against the compiled plan of its pipeline: the stages its assertions, echo scripts and
/// stage lists name, the inputs of its cases, JSON paths into text stages and critic loops.
public enum TestCheck {
    /// Every problem of `suite` against `plan`, located in the test file, in file order.
    public static func check(_ suite: TestSuiteSpec, plan: ExecutionPlan) -> [Diagnostic] {
        var diagnostics: [Diagnostic] = []
        let context = Context(plan: plan)
        for testCase in suite.cases {
            checkInputs(testCase, context: context, into: &diagnostics)
            if let echo = testCase.echo {
                for key in echo.entries.keys.sorted() {
                    // `stage[item]` scripts one item of a fan-out stage.
                    let stage = key.firstIndex(of: "[").map { String(key[..<$0]) } ?? key
                    if let problem = context.unknown(stage, usedBy: "the echo script of case '\(testCase.name)'") {
                        diagnostics.append(Diagnostic(problem, at: echo.locations[key] ?? testCase.location))
                    }
                }
            }
            for assertion in testCase.assertions {
                checkAssertion(assertion, context: context, into: &diagnostics)
            }
        }
        return diagnostics.sortedByLocation()
    }

    /// The plan's stages by name, for lookups and suggestions.
    struct Context {
        let plan: ExecutionPlan
        let stages: [String: PlannedStage]
        let names: [String]

        init(plan: ExecutionPlan) {
            self.plan = plan
            let walked = plan.stages.filter { !$0.isToolDefinition }
            stages = Dictionary(walked.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
            names = walked.map(\.name)
        }

        /// `test-stage-unknown` when `stage` is not a stage of the plan.
        func unknown(_ stage: String, usedBy subject: String) -> Diagnostic.Message? {
            guard stages[stage] == nil else { return nil }
            return .testStageUnknown(
                stage, usedBy: subject, pipeline: plan.pipeline, suggestion: Suggestion.closest(to: stage, in: names))
        }

        /// The critic loops of the plan, by critic.
        var loops: [PlannedStage] { plan.stages.filter { $0.critic != nil } }
    }

    private static func checkInputs(_ testCase: TestCaseSpec, context: Context, into diagnostics: inout [Diagnostic]) {
        let declared = context.plan.inputs.map(\.name)
        for name in testCase.inputs.keys.sorted() where !declared.contains(name) {
            diagnostics.append(
                Diagnostic(
                    .testInputUnknown(
                        name, pipeline: context.plan.pipeline, suggestion: Suggestion.closest(to: name, in: declared), declared: declared),
                    at: testCase.inputLocations[name] ?? testCase.location))
        }
        for input in context.plan.inputs where input.required && input.defaultValue == nil && testCase.inputs[input.name] == nil {
            diagnostics.append(Diagnostic(.testInputMissing(input.name, testCase: testCase.name), at: testCase.location))
        }
    }

    private static func checkAssertion(_ assertion: TestAssertion, context: Context, into diagnostics: inout [Diagnostic]) {
        let subject = "assertion '\(assertion.name)'"
        switch assertion.kind {
        case .stagesRun(let names), .stagesSkipped(let names):
            for (index, name) in names.enumerated() {
                if let problem = context.unknown(name, usedBy: subject) {
                    let location = assertion.itemLocations.indices.contains(index) ? assertion.itemLocations[index] : assertion.location
                    diagnostics.append(Diagnostic(problem, at: location))
                }
            }
            return
        default:
            break
        }
        if let stage = assertion.stage {
            if let problem = context.unknown(stage, usedBy: subject) {
                diagnostics.append(Diagnostic(problem, at: assertion.stageLocation ?? assertion.location))
                return
            }
        }
        if case .criticRounds = assertion.kind {
            checkCriticRounds(assertion, context: context, into: &diagnostics)
            return
        }
        guard assertion.kind.isOutputAssertion else { return }
        let stageName: String
        if let stage = assertion.stage {
            stageName = stage
        } else {
            let outputs = context.plan.outputs
            guard outputs.count == 1, let only = outputs.first else {
                let reason =
                    outputs.isEmpty
                    ? "pipeline '\(context.plan.pipeline)' has no output stage"
                    : "pipeline '\(context.plan.pipeline)' has \(outputs.count) output stages "
                        + "(\(quotedList(outputs, conjunction: "and"))); say which one it looks at"
                diagnostics.append(Diagnostic(.testStageRequired(assertion.name, reason: reason), at: assertion.location))
                return
            }
            stageName = only
        }
        if case .jsonPath = assertion.kind, let stage = context.stages[stageName], stage.output.format == .text {
            diagnostics.append(Diagnostic(.testJSONPathTextStage(stageName), at: assertion.stageLocation ?? assertion.location))
        }
    }

    private static func checkCriticRounds(_ assertion: TestAssertion, context: Context, into diagnostics: inout [Diagnostic]) {
        if let name = assertion.stage {
            guard let stage = context.stages[name], stage.critic == nil, stage.reviewedBy == nil else { return }
            diagnostics.append(Diagnostic(.testNoCriticLoop("stage '\(name)'"), at: assertion.stageLocation ?? assertion.location))
            return
        }
        let loops = context.loops
        if loops.isEmpty {
            diagnostics.append(Diagnostic(.testNoCriticLoop("pipeline '\(context.plan.pipeline)'"), at: assertion.location))
        } else if loops.count > 1 {
            let critics = loops.map(\.name)
            diagnostics.append(
                Diagnostic(
                    .testStageRequired(
                        assertion.name,
                        reason: "pipeline '\(context.plan.pipeline)' has \(loops.count) critic loops "
                            + "(critics \(quotedList(critics, conjunction: "and"))); name the reviewed stage or its critic"),
                    at: assertion.location))
        }
    }
}
