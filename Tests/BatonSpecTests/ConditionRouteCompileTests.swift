import BatonSpec
import BatonTestSupport
import Foundation
import Testing

/// `when:` and `route:` compiled: the plan's condition, route and routedBy, and the dependencies they add
/// (shared.md §1-§2), and the did-you-mean of each new key.
@Suite struct ConditionRouteCompileTests {
    static let router = """
        version: 1
        inputs:
          ticket: {}
          tone: {required: false}
        stages:
          classify:
            model: m
            prompt: "Classify {{inputs.ticket}}"
            output:
              format: json
              schema:
                type: object
                properties:
                  category: {type: string, enum: [billing, bug, account, other]}
                  urgent: {type: boolean}
                required: [category, urgent]
            route:
              on: category
              cases:
                billing: billing_reply
                bug: [bug_triage, shared]
                account: shared
              default: [general_reply, shared]
          billing_reply: {model: m, prompt: Billing}
          bug_triage: {model: m, prompt: Bug}
          shared: {model: m, prompt: Shared, when: "inputs.tone == 'warm' || !has(inputs.tone)"}
          general_reply: {model: m, prompt: General}
          handoff:
            model: m
            when: stages.classify.json.urgent && stages.classify.branch != 'default'
            prompt: Handoff
          reply:
            model: m
            prompt: |
              {{^stages.handoff.skipped}}Urgent.{{/stages.handoff.skipped}} {{stages.classify.branch}}
              {{stages.billing_reply.output}}{{stages.bug_triage.output}}{{stages.shared.output}}{{stages.general_reply.output}}
        """

    @Test func aRouterAndItsBranchStagesCompileToRouteAndRoutedBy() throws {
        let plan = try #require(compileValid(Self.router))

        let classify = try #require(plan.stage(named: "classify"))
        #expect(classify.route?.on == "category")
        #expect(
            classify.route?.cases == [
                RouteCase(value: "billing", stages: ["billing_reply"]), RouteCase(value: "bug", stages: ["bug_triage", "shared"]),
                RouteCase(value: "account", stages: ["shared"]),
            ])
        #expect(classify.route?.otherwise == ["general_reply", "shared"])
        #expect(classify.routedBy == nil)
        #expect(classify.condition == nil)

        #expect(plan.stage(named: "billing_reply")?.routedBy == RouteChoice(router: "classify", branches: ["billing"]))
        #expect(plan.stage(named: "general_reply")?.routedBy == RouteChoice(router: "classify", branches: ["default"]))
        // A stage in several branches of one route lists each, in file order.
        #expect(plan.stage(named: "shared")?.routedBy == RouteChoice(router: "classify", branches: ["bug", "account", "default"]))
        for name in ["billing_reply", "bug_triage", "shared", "general_reply"] {
            #expect(plan.stage(named: name)?.dependencies == ["classify"], "\(name) depends on its router")
        }
        #expect(plan.stage(named: "handoff")?.routedBy == nil)
    }

    @Test func aConditionIsParsedIntoThePlanAndItsStagesBecomeDependencies() throws {
        let plan = try #require(compileValid(Self.router))

        let handoff = try #require(plan.stage(named: "handoff"))
        #expect(handoff.condition?.text == "stages.classify.json.urgent && stages.classify.branch != 'default'")
        #expect(handoff.dependencies == ["classify"])
        #expect(plan.stage(named: "shared")?.condition?.text == "inputs.tone == 'warm' || !has(inputs.tone)")
        // The router runs before everything it routes or that reads it.
        let order = plan.stages.map(\.name)
        #expect(order.first == "classify")
        #expect(order.last == "reply")
        #expect(plan.outputs == ["reply"])
    }

    @Test func theRouterIsUsedByItsRouteAndAnInputReadOnlyByAConditionIsUsed() {
        // Without the route, 'classify' would be an unused output; 'tone' is read only by a condition.
        let result = PipelineCompiler(profile: nil).compile(SourceFile(path: "r.yaml", text: Self.router))
        #expect(result.diagnostics.isEmpty, "\(result.diagnostics)")
    }

    @Test func aConditionReadingAReviewedStageWaitsForItsCritic() throws {
        let plan = try #require(
            compileValid(
                """
                version: 1
                stages:
                  draft: {model: m, prompt: Draft}
                  review: {model: m, reviews: draft, prompt: "{{stages.draft.output}}"}
                  publish:
                    model: m
                    when: stages.review.verdict == 'approve' && stages.draft.output != ''
                    prompt: Publish
                """))
        #expect(plan.stage(named: "publish")?.dependencies == ["draft", "review"])
        #expect(plan.stages.map(\.name) == ["draft", "review", "publish"])
    }

    @Test func aConditionThatClosesACycleIsACycle() {
        assertDiagnostics(
            """
            version: 1
            stages:
              a:
                model: m
                when: 1️⃣stages.b.output == 'go'
                prompt: A
              b: {model: m, prompt: "{{stages.a.output}}"}
            """,
            [DiagnosticSpec("1️⃣", code: "cycle", message: "stages form a cycle: a -> b -> a; remove one of these dependencies")])
    }

    @Test func aBranchStageThatTheRouterNeedsIsACycle() {
        assertDiagnostics(
            """
            version: 1
            outputs: [fix]
            stages:
              pick:
                model: m
                needs: [1️⃣fix]
                prompt: Pick
                output: {format: json, schema: {type: object, properties: {ok: {type: string, enum: [yes, no]}}}}
                route: {on: ok, cases: {"yes": [], "no": fix}}
              fix: {model: m, prompt: Fix}
            """,
            [DiagnosticSpec("1️⃣", code: "cycle", message: "stages form a cycle: pick -> fix -> pick; remove one of these dependencies")])
    }

    @Test func aConditionHasNoRoundAndNamesTheRootsThereAre() {
        assertDiagnostics(
            """
            version: 1
            stages:
              a: {model: m, prompt: A, when: 1️⃣round > 1}
            """,
            [
                DiagnosticSpec(
                    "1️⃣", code: "unknown-name", message: "unknown name 'round'; the names here are 'inputs' and 'stages'")
            ])
    }

    @Test func aConditionCannotReadItsOwnStage() {
        assertDiagnostics(
            """
            version: 1
            stages:
              a: {model: m, prompt: A, when: "stages.1️⃣a.skipped"}
              b: {model: m, prompt: "{{stages.a.output}}"}
            """,
            [
                DiagnosticSpec(
                    "1️⃣", code: "unknown-field", message: "'stages' has no field 'a'; its fields are 'b'")
            ])
    }

    @Test func theScopeHasEachStagesFieldsAndNoOthers() {
        assertDiagnostics(
            """
            version: 1
            inputs: {mode: {default: fast}}
            stages:
              text: {model: m, prompt: "{{inputs.mode}}"}
              review: {model: m, reviews: text, prompt: R}
              json: {model: m, prompt: J, output: json}
              route:
                model: m
                prompt: R
                output: {format: json, schema: {type: object, properties: {k: {enum: [a, b]}}}}
                route: {on: k, cases: {a: [], b: []}}
              last:
                model: m
                prompt: "{{stages.text.output}} {{stages.json.output}}"
                when: >-
                  stages.text.skipped || stages.text.1️⃣json == 1 || stages.review.feedback == '' ||
                  stages.json.json.anything == 1 || stages.json.2️⃣verdict == 'approve' ||
                  stages.route.branch == 3️⃣'c' || stages.text.4️⃣branch == 'a'
            """,
            [
                DiagnosticSpec(
                    "1️⃣", code: "unknown-field", message: "'stages.text' has no field 'json'; its fields are 'output' and 'skipped'"),
                DiagnosticSpec(
                    "2️⃣", code: "unknown-field",
                    message: "'stages.json' has no field 'verdict'; its fields are 'json', 'output' and 'skipped'"),
                DiagnosticSpec(
                    "3️⃣", code: "unknown-enum-value", message: "'c' is never a value of 'stages.route.branch', which is 'a' or 'b'"),
                DiagnosticSpec(
                    "4️⃣", code: "unknown-field", message: "'stages.text' has no field 'branch'; its fields are 'output' and 'skipped'"),
            ])
    }

    @Test func aMisspeltStageInALargePipelineNamesTenStagesAndCountsTheRest() throws {
        let stages = (1...30).map { "  s\($0): {model: m, prompt: \"{{stages.s\($0 + 1).output}}\"}" }
        let text = "version: 1\nstages:\n" + stages.joined(separator: "\n") + "\n  s31: {model: m, prompt: x, when: stages.zzz.skipped}\n"
        let result = PipelineCompiler(profile: nil).compile(SourceFile(path: "big.yaml", text: text))
        #expect(result.diagnostics.map(\.code) == ["unknown-field"])
        // Sorted by name, as the field lists of every unknown-field message are.
        let names = ["s1", "s10", "s11", "s12", "s13", "s14", "s15", "s16", "s17", "s18"].map { "'\($0)'" }.joined(separator: ", ")
        #expect(result.diagnostics.first?.message == "'stages' has no field 'zzz'; its fields are \(names) and 20 more")
    }

    @Test func theBranchOfARouteWithADefaultIncludesDefault() {
        assertDiagnostics(
            """
            version: 1
            stages:
              pick:
                model: m
                prompt: P
                output: json
                route: {on: k, cases: {a: x}, default: []}
              x: {model: m, prompt: X}
              y: {model: m, prompt: "{{stages.x.output}}", when: "stages.pick.branch in ['a', 'default', 1️⃣'b']"}
            """,
            [
                DiagnosticSpec(
                    "1️⃣", code: "unknown-enum-value",
                    message: "'b' is never a value of 'stages.pick.branch', which is 'a' or 'default'")
            ])
    }

    @Test func theValidFixtureCompilesWithEveryFormOfWhenAndRoute() throws {
        // Given the fixture that also seeds the fuzz corpus, with the invalid corpus's profile
        let path = "Tests/BatonSpecTests/Fixtures/valid/conditions-and-routes.yaml"
        let text = try String(contentsOfFile: Fixtures.path(path), encoding: .utf8)

        // When
        let result = PipelineCompiler(profile: InvalidFixtureTests.testProfile()).compile(SourceFile(path: path, text: text))

        // Then
        #expect(result.diagnostics.isEmpty, "\(result.diagnostics)")
        let plan = try #require(result.plan)
        #expect(plan.stages.map(\.name) == ["classify", "billing_reply", "bug_triage", "reply", "check", "handoff", "summary"])
        #expect(plan.stage(named: "classify")?.route?.on == "triage.team")
        #expect(plan.stage(named: "reply")?.routedBy == RouteChoice(router: "classify", branches: ["bug", "account", "default"]))
        #expect(plan.stage(named: "reply")?.reviewedBy == "check")
        // The critic of a branch stage is no branch stage itself: it follows the stage it reviews.
        #expect(plan.stage(named: "check")?.routedBy == nil)
        #expect(plan.stage(named: "handoff")?.dependencies == ["classify", "bug_triage"])
        #expect(
            plan.stage(named: "handoff")?.condition?.references.map { $0.joined(separator: ".") } == [
                "stages.classify.json.urgent", "stages.classify.branch", "inputs.account", "stages.bug_triage.skipped",
                "stages.bug_triage.json.severity",
            ])
        #expect(plan.stage(named: "billing_reply")?.condition != nil)
        #expect(plan.stage(named: "billing_reply")?.dependencies == ["classify"])
        #expect(plan.outputs == ["summary"])
    }

    @Test func thePlanWithConditionsAndRoutesSurvivesEncoding() throws {
        let plan = try #require(compileValid(Self.router))
        let decoded = try JSONDecoder().decode(ExecutionPlan.self, from: try JSONEncoder().encode(plan))
        // The condition is encoded as its text and parsed again; the route and the choice as they are.
        #expect(decoded.stages.map(\.condition) == plan.stages.map(\.condition))
        #expect(decoded.stages.map { $0.condition?.tree } == plan.stages.map { $0.condition?.tree })
        #expect(decoded.stages.map(\.route) == plan.stages.map(\.route))
        #expect(decoded.stages.map(\.routedBy) == plan.stages.map(\.routedBy))
        #expect(decoded.stages.contains { $0.condition != nil } && decoded.stages.contains { $0.route != nil })
    }

    @Test func whatASkippedStageLacksIsOptionalAndWhatItAlwaysHasIsNot() {
        // 'pick' may be skipped (its condition), so its json and branch may be absent: '== null' is allowed for them,
        // and refused for its output and skipped, which a skipped stage has too.
        assertDiagnostics(
            """
            version: 1
            inputs: {go: {default: "yes"}}
            stages:
              pick:
                model: m
                prompt: P
                when: inputs.go == 'yes'
                output: {format: json, schema: {type: object, properties: {k: {enum: [a]}}, required: [k]}}
                route: {on: k, cases: {a: []}}
              plain: {model: m, prompt: Q, output: {format: json, schema: {type: object, properties: {k: {type: string}}, required: [k]}}}
              last:
                model: m
                prompt: "{{stages.pick.output}} {{stages.plain.output}}"
                when: >-
                  stages.pick.json == null || stages.pick.branch == null || stages.pick.json.k == null ||
                  1️⃣stages.pick.output == null || 2️⃣stages.plain.json.k == null
            """,
            [
                DiagnosticSpec(
                    "1️⃣", code: "expression-type",
                    message: "'stages.pick.output' (string) is never null; use has() to test whether a field is there"),
                DiagnosticSpec(
                    "2️⃣", code: "expression-type",
                    message: "'stages.plain.json.k' (string) is never null; use has() to test whether a field is there"),
            ])
    }

    // MARK: - Templates

    @Test func templatesReadSkippedOfAnyStageAndBranchOnlyOfARouter() {
        assertDiagnostics(
            """
            version: 1
            stages:
              pick:
                model: m
                prompt: P
                output: json
                route: {on: k, cases: {a: x}, default: []}
              x: {model: m, prompt: X}
              y:
                model: m
                prompt: "{{#stages.x.skipped}}none{{/stages.x.skipped}} {{stages.pick.branch}} 1️⃣{{stages.x.branch}} 2️⃣{{stages.x.skiped}}"
            """,
            [
                DiagnosticSpec(
                    "1️⃣", code: "unknown-variable",
                    message: "template uses 'stages.x.branch', but stage 'x' has no route; only a stage with 'route' has a branch"),
                DiagnosticSpec(
                    "2️⃣", code: "unknown-variable",
                    message: "template uses 'stages.x.skiped', which stage 'x' does not provide; did you mean 'stages.x.skipped'?"),
            ])
    }

    // MARK: - Did you mean

    @Test func eachNewKeyHasADidYouMean() {
        assertDiagnostics(
            """
            version: 1
            stages:
              pick:
                model: m
                prompt: P
                output: json
                route: {1️⃣onn: k, cases: {a: x}, 2️⃣defualt: []}
              x: {model: m, prompt: X, 3️⃣wehn: "true"}
              y: {model: m, prompt: "{{stages.x.output}}", 4️⃣rout: {on: k, cases: {a: x}}}
              z:
                model: m
                prompt: "{{stages.y.output}} {{stages.pick.output}}"
                output: json
                route: {on: k, 5️⃣case: {a: y}, default: x}
            """,
            [
                DiagnosticSpec("1️⃣", code: "unknown-key", message: "unknown key 'onn' in the route of stage 'pick'; did you mean 'on'?"),
                DiagnosticSpec(
                    "2️⃣", code: "unknown-key", message: "unknown key 'defualt' in the route of stage 'pick'; did you mean 'default'?"),
                DiagnosticSpec("3️⃣", code: "unknown-key", message: "unknown key 'wehn' in stage 'x'; did you mean 'when'?"),
                DiagnosticSpec("4️⃣", code: "unknown-key", message: "unknown key 'rout' in stage 'y'; did you mean 'route'?"),
                DiagnosticSpec(
                    "5️⃣", code: "unknown-key", message: "unknown key 'case' in the route of stage 'z'; did you mean 'cases'?"),
            ])
    }

    @Test func aRouteWithoutOnOrCasesSaysWhatToAdd() {
        assertDiagnostics(
            """
            version: 1
            stages:
              pick:
                model: m
                prompt: P
                output: json
                route: 1️⃣{default: x}
              x: {model: m, prompt: "{{stages.pick.output}}"}
            """,
            [
                DiagnosticSpec(
                    "1️⃣", code: "missing-key",
                    message:
                        "the route of stage 'pick' has no 'on'; add 'on: FIELD', the field of the stage's JSON answer that picks the branch"
                ),
                DiagnosticSpec(
                    "1️⃣", code: "missing-key",
                    message:
                        "the route of stage 'pick' has no 'cases'; add 'cases', each a value of the field and the stage or stages it runs"),
            ])
    }

    @Test func whenMustBeText() {
        assertDiagnostics(
            """
            version: 1
            stages:
              a: {model: m, prompt: A, when: 1️⃣[x]}
            """,
            [DiagnosticSpec("1️⃣", code: "type-mismatch", message: "expected text for 'when' in stage 'a', found a list")])
    }

    // MARK: - Schema

    /// schemas/pipeline.schema.json's `route` lists the keys of ``AllowedKeys/route`` and its stage has `when` and `route`
    /// (scripts/check-schemas.py compares the other objects).
    @Test func theSchemaRouteHasTheSwiftKeys() throws {
        let data = try #require(FileManager.default.contents(atPath: Fixtures.path("schemas/pipeline.schema.json")))
        let schema = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        let definitions = try #require(schema["$defs"] as? [String: Any])
        let route = try #require((definitions["route"] as? [String: Any])?["properties"] as? [String: Any])
        #expect(route.keys.sorted() == AllowedKeys.route.sorted())
        let stage = try #require((definitions["stage"] as? [String: Any])?["properties"] as? [String: Any])
        #expect(stage["when"] != nil && stage["route"] != nil)
        #expect(AllowedKeys.stage.contains("when") && AllowedKeys.stage.contains("route"))
    }
}
