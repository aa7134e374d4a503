import BatonSpec
import BatonTestSupport
import Testing

/// Two spec leftovers of issue 11: a route on a boolean field, and conditions refusing a misspelt JSON field as
/// templates do.
@Suite struct SpecLeftoverTests {
    static func pipeline(cases: String, when: String = "true") -> String {
        """
        version: 1
        stages:
          check:
            model: m
            prompt: Check
            output: {format: json, schema: {type: object, required: [ok], properties: {ok: {type: boolean}}}}
            route:
              on: ok
              cases: {\(cases)}
          yes: {model: m, prompt: "Yes", when: "\(when)"}
          no: {model: m, prompt: "No"}
        """
    }

    @Test func aRouteOnABooleanWithCasesTrueAndFalseNeedsNoDefault() throws {
        let plan = try #require(compileValid(Self.pipeline(cases: "true: yes, false: no")))
        #expect(plan.stage(named: "check")?.route?.otherwise == nil)
        #expect(plan.stage(named: "no")?.routedBy == RouteChoice(router: "check", branches: ["false"]))
    }

    @Test func aRouteOnABooleanMissingACaseOrNamingAnotherValueIsRefused() {
        let result = PipelineCompiler(profile: nil).compile(
            SourceFile(path: "test.yaml", text: Self.pipeline(cases: "true: yes, maybe: no")))
        #expect(result.diagnostics.map(\.code.rawValue).sorted() == ["route-case", "route-unhandled"])
        #expect(result.diagnostics.contains { $0.message.contains("no case for 'false' of 'ok'") })
    }

    @Test func aConditionRefusesAFieldTheSchemaDoesNotListAsATemplateDoes() {
        // The schema lists properties but does not say additionalProperties: false.
        assertDiagnostics(
            """
            version: 1
            stages:
              a:
                model: m
                prompt: A
                output: {format: json, schema: {type: object, properties: {score: {type: integer}}}}
              b:
                model: m
                when: has(stages.a.json.1️⃣scroe)
                prompt: "{{stages.a.json.score}} 2️⃣{{stages.a.json.scroe}}"
            """,
            [
                DiagnosticSpec("1️⃣", code: "unknown-field"),
                DiagnosticSpec("2️⃣", code: "unknown-output-field"),
            ])
    }

    static let fanOutWithCritic = """
        version: 1
        inputs:
          parts: {default: '["a", "b"]'}
        stages:
          each: {model: m, for_each: inputs.parts, max_items: 5, prompt: "Do {{item}}"}
          check: {model: m, reviews: each, prompt: "Check {{item}}: {{stages.each.output}}"}
        """

    @Test func aLaterStageReadsTheItemsOfACriticOfAFanOutStage() throws {
        let plan = try #require(
            compileValid(
                Self.fanOutWithCritic + """

                      after:
                        model: m
                        when: size(stages.check.items) > 0 && stages.check.items[0].verdict == "approve"
                        prompt: "{{#stages.check.items}}{{index}} {{verdict}} {{feedback}}{{/stages.check.items}}"
                    """))
        #expect(plan.stage(named: "after")?.dependencies.contains("check") == true)
    }

    @Test func aCriticOfAStageWithoutFanOutHasNoItems() {
        assertDiagnostics(
            """
            version: 1
            stages:
              one: {model: m, prompt: One}
              check: {model: m, reviews: one, prompt: "Check {{stages.one.output}}"}
              after: {model: m, prompt: "1️⃣{{stages.check.items}}"}
            """,
            [DiagnosticSpec("1️⃣", code: "unknown-variable")])
    }
}
