import BatonEngine
import BatonSpec
import BatonTestSupport
import Foundation
import Testing

/// `when:` conditions and `route:` branches in the executor (issue 11, docs/runs-and-resume.md "Skipped stages"):
/// what runs, what is recorded for a skip, what later stages read, and that resume and rerun keep the decisions.
@Suite struct ConditionTests {
    static func executor(_ runtime: ScriptedRuntime, store: RunStore, events: LockedList<RunEvent>? = nil) -> Executor {
        Executor(store: store, runtimes: runtime, observer: { event in events?.append(event) }, sleep: { _ in }, random: { 0.5 })
    }

    /// A runtime that answers each stage with `answers[stage]`, else "STAGE done".
    static func runtime(_ answers: [String: String] = [:]) -> ScriptedRuntime {
        ScriptedRuntime { request, _ in .text(answers[request.stage] ?? "\(request.stage) done") }
    }

    /// Runs `yaml` to its end; returns the run id.
    static func run(
        _ yaml: String, inputs: [String: String] = [:], runtime: ScriptedRuntime, store: RunStore, events: LockedList<RunEvent>? = nil
    ) async throws -> RunOutcome {
        let snapshot = try snapshot(yaml)
        let resolved = try RunInputs.resolve(snapshot.plan.inputs, given: inputs)
        return try await executor(runtime, store: store, events: events).start(snapshot, inputs: resolved, claim: .current())
    }

    static let conditional = """
        version: 1
        inputs:
          mode: {}
        stages:
          facts:
            model: m
            output: {format: json, schema: {type: object, properties: {risk: {type: string, enum: [low, high]}}, required: [risk]}}
            prompt: Facts
          careful:
            model: m
            when: inputs.mode == 'careful'
            prompt: Careful
          escalate:
            model: m
            when: stages.facts.json.risk == 'high'
            prompt: "Escalate {{stages.facts.json.risk}}"
          report:
            model: m
            needs: [careful, escalate]
            prompt: "Report{{#stages.careful.skipped}} (careful skipped){{/stages.careful.skipped}}{{^stages.escalate.skipped}} escalated: {{stages.escalate.output}}{{/stages.escalate.skipped}}"
        """

    @Test func aConditionOnAnInputAndOnAJSONFieldDecidesWhichStagesRun() async throws {
        // Given a run whose input and whose JSON answer make both conditions false
        let store = try RunStore.inMemory()
        let quiet = Self.runtime(["facts": #"{"risk": "low"}"#])
        let outcome = try await Self.run(Self.conditional, inputs: ["mode": "fast"], runtime: quiet, store: store)

        // Then the two conditional stages are skipped, recorded, and the join reads them as skipped
        #expect(outcome == .completed(runID: outcome.runID))
        #expect(quiet.requests.map(\.stage) == ["facts", "report"])
        #expect(quiet.requests.last?.prompt == "Report (careful skipped)")
        let attempts = try store.attempts(outcome.runID)
        #expect(
            attempts.map { "\($0.stage):\($0.status)" } == ["facts:completed", "careful:skipped", "escalate:skipped", "report:completed"])
        let skip = try #require(attempts.first { $0.stage == "careful" })
        #expect(skip.prompt == "" && skip.output == "" && skip.round == 1 && skip.tryNumber == 1 && skip.model == "m")
        #expect(skip.fingerprint == Fingerprints.compute(try snapshot(Self.conditional).plan, inputs: ["mode": "fast"])["careful"])
        let skips = try store.events(outcome.runID, kind: .stageSkipped)
        #expect(skips.map(\.stage) == ["careful", "escalate"])
        let payload = try JSONSerialization.jsonObject(with: Data(try #require(skips.last?.payload).utf8)) as? [String: Any]
        #expect(payload?["condition"] as? String == "stages.facts.json.risk == 'high'")
        #expect(payload?["route"] is NSNull)
        #expect((payload?["values"] as? [String: Any])?["stages.facts.json.risk"] as? String == "low")
        #expect(payload?["reason"] as? String == "when: stages.facts.json.risk == 'high' was false (stages.facts.json.risk = \"low\")")

        // And with the input and the answer that make them true, both run
        let loud = Self.runtime(["facts": #"{"risk": "high"}"#])
        let second = try await Self.run(Self.conditional, inputs: ["mode": "careful"], runtime: loud, store: store)
        #expect(loud.requests.map(\.stage) == ["facts", "careful", "escalate", "report"])
        #expect(loud.requests.last?.prompt == "Report escalated: escalate done")
        #expect(try store.events(second.runID, kind: .stageSkipped).isEmpty)
    }

    @Test func aConditionThatCannotBeEvaluatedFailsTheRunNamingStageExpressionAndPath() async throws {
        let yaml = """
            version: 1
            stages:
              facts:
                model: m
                output: {format: json, schema: {type: object, properties: {note: {type: string}}}}
                prompt: Facts
              follow:
                model: m
                when: stages.facts.json.note == 'x'
                prompt: Follow
            """
        let store = try RunStore.inMemory()
        let runtime = Self.runtime(["facts": "{}"])
        let outcome = try await Self.run(yaml, runtime: runtime, store: store)
        guard case .failed(let id, let reason, _) = outcome else {
            Issue.record("\(outcome)")
            return
        }
        #expect(
            reason
                == "stage 'follow': its condition 'stages.facts.json.note == 'x'' cannot be evaluated: 'stages.facts.json.note' has no value in this run; guard it with has(stages.facts.json.note) && ..."
        )
        #expect(runtime.requests.map(\.stage) == ["facts"])
        #expect(try store.run(id).status == .failed)
        #expect(try store.attempts(id).map(\.stage) == ["facts"])
    }

    static let routed = """
        version: 1
        stages:
          classify:
            model: m
            output:
              format: json
              schema: {type: object, properties: {team: {type: string, enum: [billing, bug, other]}}, required: [team]}
            prompt: Classify
            route:
              on: team
              cases:
                billing: billing
                bug: [triage, fix]
              default: general
          billing:
            model: m
            prompt: Billing
          triage:
            model: m
            prompt: Triage
          fix:
            model: m
            prompt: "Fix {{stages.triage.output}}"
          general:
            model: m
            prompt: General
          join:
            model: m
            needs: [billing, fix, general]
            prompt: "Join {{stages.classify.branch}}:{{^stages.billing.skipped}} {{stages.billing.output}}{{/stages.billing.skipped}}{{^stages.fix.skipped}} {{stages.fix.output}}{{/stages.fix.skipped}}{{^stages.general.skipped}} {{stages.general.output}}{{/stages.general.skipped}}"
        """

    @Test(arguments: [
        ("billing", "billing", ["classify", "billing", "join"], "Join billing: billing done"),
        ("bug", "bug", ["classify", "triage", "fix", "join"], "Join bug: fix done"),
        ("other", "default", ["classify", "general", "join"], "Join default: general done"),
        ("nonsense", "default", ["classify", "general", "join"], "Join default: general done"),
    ])
    func aRouteRunsTheBranchTheAnswerSelects(_ team: String, _ branch: String, _ ran: [String], _ joined: String) async throws {
        let store = try RunStore.inMemory()
        let runtime = Self.runtime(["classify": "{\"team\": \"\(team)\"}"])
        let events = LockedList<RunEvent>()
        let outcome = try await Self.run(Self.routed, runtime: runtime, store: store, events: events)

        #expect(outcome == .completed(runID: outcome.runID))
        #expect(runtime.requests.map(\.stage) == ran)
        #expect(runtime.requests.last?.prompt == joined)
        let attempts = try store.attempts(outcome.runID)
        let skipped = attempts.filter { $0.status == .skipped }.map(\.stage)
        #expect(Set(skipped) == Set(["billing", "triage", "fix", "general"]).subtracting(ran))
        let chosen = try store.events(outcome.runID, kind: .routeChosen)
        #expect(chosen.count == 1)
        let payload = try JSONSerialization.jsonObject(with: Data(try #require(chosen.first?.payload).utf8)) as? [String: Any]
        #expect(payload?["field"] as? String == "team")
        #expect(payload?["value"] as? String == team)
        #expect(payload?["branch"] as? String == branch)
        #expect(payload?["stages"] as? [String] == Array(ran.dropFirst().dropLast()))
        for skip in try store.events(outcome.runID, kind: .stageSkipped) {
            let object = try JSONSerialization.jsonObject(with: Data(try #require(skip.payload).utf8)) as? [String: Any]
            #expect((object?["route"] as? [String: Any])?["router"] as? String == "classify")
            #expect((object?["route"] as? [String: Any])?["branch"] as? String == branch)
            #expect(object?["reason"] as? String == "route classify chose \(branch)")
        }
        #expect(
            events.values.contains {
                if case .routeChosen(let router, "team", team, branch, _) = $0 { return router == "classify" }
                return false
            })
    }

    @Test func aValueNoCaseTakesWithoutADefaultFailsNamingRouterFieldAndValue() async throws {
        let yaml = """
            version: 1
            stages:
              classify:
                model: m
                output: {format: json}
                prompt: Classify
                route:
                  on: triage.level
                  cases: {low: easy, high: hard}
                  default: easy
              easy:
                model: m
                prompt: Easy
              hard:
                model: m
                prompt: Hard
            """
        // A number compares as its JSON text, an absent value takes the default.
        let store = try RunStore.inMemory()
        let numeric = Self.runtime(["classify": #"{"triage": {"level": 3}}"#])
        _ = try await Self.run(yaml, runtime: numeric, store: store)
        #expect(numeric.requests.map(\.stage) == ["classify", "easy"])

        // With an enum every value of which has a case, no default is needed; a model may still answer outside it.
        let strict = yaml.replacingOccurrences(of: "      default: easy\n", with: "").replacingOccurrences(
            of: "output: {format: json}",
            with:
                "output: {format: json, schema: {type: object, properties: {triage: {type: object, properties: {level: {type: string, enum: [low, high]}}}}}}"
        )
        let missing = Self.runtime(["classify": #"{"triage": {"level": "medium"}}"#])
        let outcome = try await Self.run(strict, runtime: missing, store: store)
        guard case .failed(_, let reason, _) = outcome else {
            Issue.record("\(outcome)")
            return
        }
        #expect(
            reason
                == "stage 'classify': route on 'triage.level' answered \"medium\", which no case takes (cases: low, high) and the route has no default; add a case or a default branch"
        )
        #expect(missing.requests.map(\.stage) == ["classify"])
    }

    @Test func theCriticOfASkippedStageIsSkippedToo() async throws {
        let yaml = """
            version: 1
            inputs:
              draft: {required: false}
            stages:
              draft:
                model: m
                when: has(inputs.draft)
                prompt: Draft
              review:
                model: m
                reviews: draft
                prompt: "Review {{stages.draft.output}}"
              final:
                model: m
                needs: [review]
                prompt: "Final{{#stages.review.skipped}} (no review){{/stages.review.skipped}}"
            """
        let store = try RunStore.inMemory()
        let runtime = Self.runtime()
        let outcome = try await Self.run(yaml, runtime: runtime, store: store)
        #expect(runtime.requests.map(\.stage) == ["final"])
        #expect(runtime.requests.first?.prompt == "Final (no review)")
        let attempts = try store.attempts(outcome.runID)
        #expect(attempts.map { "\($0.stage):\($0.status)" } == ["draft:skipped", "review:skipped", "final:completed"])
        let reasons = try store.events(outcome.runID, kind: .stageSkipped).compactMap(\.payload)
        #expect(reasons.last?.contains(#""reviewed":"draft""#) == true, "\(reasons)")
        #expect(reasons.last?.contains("the stage it reviews, 'draft', was skipped") == true)
        // What has() found missing is named in the reason, though it is no value the condition saw.
        #expect(reasons.first?.contains(#""reason":"when: has(inputs.draft) was false (inputs.draft absent)""#) == true, "\(reasons)")
        #expect(reasons.first?.contains(#""values":{}"#) == true, "\(reasons)")
    }

    @Test func resumeReusesASkipAndNeverDecidesAgain() async throws {
        // Given a run that skipped `careful` and then failed at `report`
        let store = try RunStore.inMemory()
        let broken = ScriptedRuntime { request, _ in
            request.stage == "report"
                ? .error(RuntimeError(.modelNotFound, "no model", isTransient: false)) : .text(#"{"risk": "high"}"#)
        }
        let first = try await Self.run(Self.conditional, inputs: ["mode": "fast"], runtime: broken, store: store)
        guard case .failed(let id, _, _) = first else {
            Issue.record("\(first)")
            return
        }

        // When it resumes
        let events = LockedList<RunEvent>()
        let fixed = Self.runtime()
        let second = try await Self.executor(fixed, store: store, events: events).resume(id, claim: .current())

        // Then the skip is reused (no new skipped attempt or event) and only the failed stage runs
        #expect(second == .completed(runID: id))
        #expect(fixed.requests.map(\.stage) == ["report"])
        #expect(try store.attempts(id).filter { $0.status == .skipped }.map(\.stage) == ["careful"])
        #expect(try store.events(id, kind: .stageSkipped).count == 1)
        #expect(
            events.values.contains {
                if case .stageSkipped("careful", let reason, true) = $0 {
                    return reason.hasPrefix("when: inputs.mode == 'careful' was false")
                }
                return false
            })
        let report = try RunReport.load(id, from: store)
        #expect(report.stageTotals.map(\.status) == ["completed", "skipped", "completed", "completed"])
        #expect(report.stageTotals.first { $0.stage == "careful" }?.tries == 0)
        let plan = ResumePlan.make(report: report, replacement: nil)
        #expect(plan.entries.first { $0.stage == "careful" }?.reuse == true)
        #expect(plan.entries.first { $0.stage == "careful" }?.skipped == true)
    }

    @Test func rerunFromABranchStageKeepsTheRoutersAnswerAndBranch() async throws {
        let store = try RunStore.inMemory()
        let first = Self.runtime(["classify": #"{"team": "bug"}"#])
        let parent = try await Self.run(Self.routed, runtime: first, store: store)

        // A rerun from `fix` reuses classify and triage; the classifier would now answer otherwise, unasked.
        let second = Self.runtime(["classify": #"{"team": "billing"}"#])
        let snapshot = try RunSnapshot.decode(try store.run(parent.runID).snapshot)
        let rerun = try await Self.executor(second, store: store).start(
            snapshot, inputs: [:], claim: .current(), parent: (parent.runID, "fix"))
        #expect(rerun == .completed(runID: rerun.runID))
        #expect(second.requests.map(\.stage) == ["fix", "join"])
        #expect(second.requests.last?.prompt == "Join bug: fix done")
        let attempts = try store.attempts(rerun.runID)
        #expect(attempts.filter { $0.status == .skipped }.map(\.stage).sorted() == ["billing", "general"])
        // The router's decision is copied with its answer, not recorded twice.
        #expect(try store.events(rerun.runID, kind: .routeChosen).count == 1)
    }

    @Test func thePipelinesOutputOfASkippedStageIsTheEmptyString() async throws {
        let yaml = """
            version: 1
            inputs:
              go: {required: false}
            outputs: [maybe, always]
            stages:
              maybe:
                model: m
                when: has(inputs.go)
                prompt: Maybe
              always:
                model: m
                prompt: Always
            """
        let store = try RunStore.inMemory()
        let events = LockedList<RunEvent>()
        let outcome = try await Self.run(yaml, runtime: Self.runtime(), store: store, events: events)
        let finished = events.values.compactMap { event -> [String]? in
            if case .runFinished(_, let outputs) = event { return outputs.map { "\($0.stage)=\($0.output)" } }
            return nil
        }
        #expect(finished == [["maybe=", "always=always done"]])
        let report = try RunReport.load(outcome.runID, from: store)
        #expect(report.outputs.map { "\($0.stage)=\($0.output)" } == ["maybe=", "always=always done"])
    }
    @Test func theStagesOfASkippedRoutersBranchesAreSkippedWithIt() async throws {
        let yaml = Self.routed.replacingOccurrences(
            of: "    prompt: Classify\n", with: "    prompt: Classify\n    when: has(inputs.ticket)\n"
        ).replacingOccurrences(of: "version: 1\n", with: "version: 1\ninputs:\n  ticket: {required: false}\n")
        let store = try RunStore.inMemory()
        let runtime = Self.runtime()
        let outcome = try await Self.run(yaml, runtime: runtime, store: store)
        #expect(outcome == .completed(runID: outcome.runID))
        #expect(runtime.requests.map(\.stage) == ["join"])
        #expect(runtime.requests.first?.prompt == "Join :")
        let skips = try store.events(outcome.runID, kind: .stageSkipped).compactMap(\.payload)
        #expect(skips.count == 5)
        #expect(skips.dropFirst().allSatisfy { $0.contains(#""route":{"branch":null,"router":"classify"}"#) }, "\(skips)")
        #expect(try store.events(outcome.runID, kind: .routeChosen).isEmpty)
    }

    @Test func aReviewedRouterRoutesOnItsApprovedAnswer() async throws {
        let yaml = Self.routed.replacingOccurrences(
            of: "  billing:\n",
            with: "  check:\n    model: m\n    reviews: classify\n    prompt: Check {{stages.classify.output}}\n  billing:\n")
        let store = try RunStore.inMemory()
        let rounds = Counter()
        let runtime = ScriptedRuntime { request, _ in
            switch request.stage {
            case "classify": return .text(request.round == 1 ? #"{"team": "billing"}"# : #"{"team": "bug"}"#)
            case "check":
                return .text(rounds.next() == 0 ? #"{"verdict": "revise", "feedback": "no"}"# : #"{"verdict": "approve", "feedback": ""}"#)
            default: return .text("\(request.stage) done")
            }
        }
        let outcome = try await Self.run(yaml, runtime: runtime, store: store)
        #expect(outcome == .completed(runID: outcome.runID))
        #expect(runtime.requests.map(\.stage) == ["classify", "check", "classify", "check", "triage", "fix", "join"])
        let chosen = try store.events(outcome.runID, kind: .routeChosen).compactMap(\.payload)
        #expect(chosen.count == 1 && chosen[0].contains(#""branch":"bug""#), "\(chosen)")
    }
    @Test func aChangedConditionIsDecidedAgainUnderTheCurrentPipeline() async throws {
        // Given a run that skipped `careful`
        let store = try RunStore.inMemory()
        let first = try await Self.run(
            Self.conditional, inputs: ["mode": "fast"], runtime: Self.runtime(["facts": #"{"risk": "low"}"#]), store: store)
        let id = first.runID

        // When it resumes against a pipeline whose condition now holds
        let edited = try snapshot(Self.conditional.replacingOccurrences(of: "inputs.mode == 'careful'", with: "inputs.mode == 'fast'"))
        let old = try RunReport.load(id, from: store)
        let plan = ResumePlan.make(report: old, replacement: edited)
        #expect(plan.changed == ["careful", "report"])
        let runtime = Self.runtime()
        let outcome = try await Self.executor(runtime, store: store).resume(
            id, claim: .current(), replacing: edited, superseding: plan.changed)

        // Then the stage runs (its skip superseded, numbering going on) and the join sees it ran
        #expect(outcome == .completed(runID: id))
        #expect(runtime.requests.map(\.stage) == ["careful", "report"])
        let careful = try store.attempts(id).filter { $0.stage == "careful" }
        #expect(careful.map { "\($0.tryNumber):\($0.status)" } == ["1:superseded", "2:completed"])

        // And back: a condition that no longer holds skips the stage that ran, as try 3
        let back = try snapshot(Self.conditional)
        let again = ResumePlan.make(report: try RunReport.load(id, from: store), replacement: back)
        _ = try await Self.executor(Self.runtime(), store: store).resume(id, claim: .current(), replacing: back, superseding: again.changed)
        let latest = try store.attempts(id).filter { $0.stage == "careful" }
        #expect(latest.map { "\($0.tryNumber):\($0.status)" } == ["1:superseded", "2:superseded", "3:skipped"])
    }
}
