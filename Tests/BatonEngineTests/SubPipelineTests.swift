import BatonSpec
import BatonTestSupport
import Foundation
import Testing

@testable import BatonEngine

/// Sub-pipelines (`uses:`) in the executor (issue 11 item 5; briefs s8/calls.md; docs/runs-and-resume.md,
/// "Sub-pipelines"): the scope of a called stage (its call's inputs, `stages.S` of its own pipeline, `stages.X` of a
/// call), calls skipped as a whole by their `when:` or route, resume, rerun and the pinned snapshot.
///
/// The plans are inlined here by ``Inline`` exactly as the contract says the compiler inlines them, so these tests
/// check the engine against the contract, not against the compiler's reading of it.
@Suite struct SubPipelineTests {
    static func executor(_ runtime: ScriptedRuntime, store: RunStore, events: LockedList<RunEvent>? = nil) -> Executor {
        Executor(store: store, runtimes: runtime, observer: { event in events?.append(event) }, sleep: { _ in }, random: { 0.5 })
    }

    /// A runtime that answers each stage with `answers[stage]`, else "STAGE done".
    static func runtime(_ answers: [String: String] = [:]) -> ScriptedRuntime {
        ScriptedRuntime { request, _ in .text(answers[request.stage] ?? "\(request.stage) done") }
    }

    static func run(
        _ plan: ExecutionPlan, inputs: [String: String] = [:], runtime: ScriptedRuntime, store: RunStore,
        events: LockedList<RunEvent>? = nil
    ) async throws -> RunOutcome {
        let snapshot = RunSnapshot(plan: plan, profile: nil, sources: [:], pipelinePath: nil, forcedRuntime: nil)
        let resolved = try RunInputs.resolve(plan.inputs, given: inputs)
        return try await executor(runtime, store: store, events: events).start(snapshot, inputs: resolved, claim: .current())
    }

    /// The called pipeline: a check of its `text` input in its `tone` (default neutral), then a summary of the check.
    static let reviewSection = """
        version: 1
        name: review-section
        inputs:
          text: {}
          tone: {default: neutral}
        outputs: [summary, check]
        stages:
          check:
            model: m
            prompt: "Check {{inputs.text}} ({{inputs.tone}})"
          summary:
            model: m
            prompt: "Sum {{stages.check.output}} for {{pipeline.name}}"
        """

    /// A caller whose stage `review` stands for the call (its references are the call's dependencies, its `when:` the
    /// call's); `report` reads the call.
    static let caller = """
        version: 1
        name: brief
        inputs:
          topic: {}
          deep: {default: "yes"}
        stages:
          split:
            model: m
            prompt: "Split {{inputs.topic}}"
          review:
            model: m
            when: inputs.deep == 'yes'
            prompt: "{{stages.split.output}}"
          report:
            model: m
            needs: [review]
            prompt: R
        """

    static let reportPrompt =
        "R {{stages.review.output}} / {{stages.review.outputs.check}} / {{#stages.review.skipped}}none{{/stages.review.skipped}}"

    /// `caller` with `review` calling review-section on the split's output, `report` reading the call.
    static func briefPlan() throws -> ExecutionPlan {
        var plan = Inline.call(
            "review", of: try snapshot(reviewSection).plan, with: ["text": "{{stages.split.output}}"], into: try snapshot(caller).plan)
        plan.setPrompt("report", reportPrompt)
        return plan
    }

    @Test func aCalledPipelineRunsInItsOwnScopeWithItsInputsAndItsOutputsReachTheCaller() async throws {
        let store = try RunStore.inMemory()
        let runtime = Self.runtime()
        let outcome = try await Self.run(try Self.briefPlan(), inputs: ["topic": "tea"], runtime: runtime, store: store)

        #expect(outcome == .completed(runID: outcome.runID))
        #expect(runtime.requests.map(\.stage) == ["split", "review/check", "review/summary", "report"])
        // `inputs.text` is the call's `with` rendered in the caller's scope; `tone` takes its default; `stages.check`
        // is the called pipeline's own stage; `pipeline.name` is the called pipeline's.
        #expect(
            runtime.requests.map(\.prompt) == [
                "Split tea", "Check split done (neutral)", "Sum review/check done for review-section",
                "R review/summary done / review/check done / ",
            ])
        // Attempts are ordinary stages named X/S.
        #expect(try store.attempts(outcome.runID).map(\.stage) == ["split", "review/check", "review/summary", "report"])
    }

    @Test func aCalledPipelineUsedTwiceGetsEachCallsOwnInputs() async throws {
        let caller = """
            version: 1
            inputs:
              topic: {}
            stages:
              first:
                model: m
                prompt: "{{inputs.topic}}"
              second:
                model: m
                prompt: "{{stages.first.output}}"
              report:
                model: m
                prompt: "{{stages.first.output}} {{stages.second.output}}"
            """
        let called = try snapshot(Self.reviewSection).plan
        var plan = Inline.call("first", of: called, with: ["text": "{{inputs.topic}}", "tone": "formal"], into: try snapshot(caller).plan)
        plan = Inline.call("second", of: called, with: ["text": "{{stages.first.outputs.check}}"], into: plan)
        let store = try RunStore.inMemory()
        let runtime = Self.runtime()
        let outcome = try await Self.run(plan, inputs: ["topic": "tea"], runtime: runtime, store: store)

        #expect(outcome == .completed(runID: outcome.runID))
        #expect(runtime.requests.map(\.stage) == ["first/check", "first/summary", "second/check", "second/summary", "report"])
        #expect(
            runtime.requests.map(\.prompt) == [
                "Check tea (formal)", "Sum first/check done for review-section", "Check first/check done (neutral)",
                "Sum second/check done for review-section", "first/summary done second/summary done",
            ])
    }

    @Test func aCallTwoDeepResolvesEachLevelInItsOwnScope() async throws {
        let section = """
            version: 1
            name: section
            inputs:
              body: {}
            outputs: [title]
            stages:
              inner:
                model: m
                prompt: "{{inputs.body}}"
              title:
                model: m
                needs: [inner]
                prompt: Title
            """
        let top = """
            version: 1
            inputs:
              topic: {}
            stages:
              part:
                model: m
                prompt: "{{inputs.topic}}"
              final:
                model: m
                prompt: "Final {{stages.part.output}}"
            """
        var middle = Inline.call(
            "inner", of: try snapshot(Self.reviewSection).plan, with: ["text": "{{inputs.body}}"], into: try snapshot(section).plan)
        middle.setPrompt("title", "Title {{stages.inner.output}} / {{stages.inner.outputs.check}} / {{inputs.body}}")
        let plan = Inline.call("part", of: middle, with: ["body": "{{inputs.topic}}!"], into: try snapshot(top).plan)
        #expect(plan.stage(named: "part/inner/check")?.calls?.map(\.path) == ["part", "part/inner"])

        let store = try RunStore.inMemory()
        let runtime = Self.runtime()
        let outcome = try await Self.run(plan, inputs: ["topic": "tea"], runtime: runtime, store: store)

        #expect(outcome == .completed(runID: outcome.runID))
        #expect(runtime.requests.map(\.stage) == ["part/inner/check", "part/inner/summary", "part/title", "final"])
        #expect(
            runtime.requests.map(\.prompt) == [
                "Check tea! (neutral)", "Sum part/inner/check done for review-section",
                "Title part/inner/summary done / part/inner/check done / tea!", "Final part/title done",
            ])
    }

    @Test func aCallWhoseConditionIsFalseSkipsEveryCalledStageAndReadsAsSkipped() async throws {
        var plan = try Self.briefPlan()
        // A caller condition reads the call too.
        var note = try #require(plan.stage(named: "report"))
        note.name = "note"
        note.condition = try BatonSpec.Expression.parse("stages.review.skipped && stages.review.outputs.check == ''")
        note.prompt = "Note"
        plan.stages.append(note)
        let store = try RunStore.inMemory()
        let runtime = Self.runtime()
        let outcome = try await Self.run(plan, inputs: ["topic": "tea", "deep": "no"], runtime: runtime, store: store)

        #expect(outcome == .completed(runID: outcome.runID))
        #expect(runtime.requests.map(\.stage) == ["split", "report", "note"])
        #expect(runtime.requests[1].prompt == "R  /  / none")
        let attempts = try store.attempts(outcome.runID)
        #expect(
            attempts.map { "\($0.stage):\($0.status)" } == [
                "split:completed", "review/check:skipped", "review/summary:skipped", "report:completed", "note:completed",
            ])
        let skips = try store.events(outcome.runID, kind: .stageSkipped)
        #expect(skips.map(\.stage) == ["review/check", "review/summary"])
        for skip in skips {
            let text = try #require(skip.payload)
            let payload = try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
            #expect(payload["call"] as? String == "review")
            #expect(payload["condition"] as? String == "inputs.deep == 'yes'")
            #expect(payload["reason"] as? String == "call 'review': when: inputs.deep == 'yes' was false (inputs.deep = \"no\")")
            #expect((payload["values"] as? [String: Any])?["inputs.deep"] as? String == "no")
        }
    }

    static let routed = """
        version: 1
        inputs:
          topic: {}
        stages:
          classify:
            model: m
            output:
              format: json
              schema: {type: object, properties: {depth: {type: string, enum: [deep, quick]}}, required: [depth]}
            prompt: Classify
            route:
              on: depth
              cases:
                deep: review
                quick: skim
          review:
            model: m
            prompt: "{{inputs.topic}}"
          skim:
            model: m
            prompt: Skim
          join:
            model: m
            needs: [review, skim]
            prompt: Join
        """

    static func routedPlan() throws -> ExecutionPlan {
        var plan = Inline.call(
            "review", of: try snapshot(reviewSection).plan, with: ["text": "{{inputs.topic}}"], into: try snapshot(routed).plan)
        plan.setPrompt(
            "join",
            "Join {{stages.review.output}}{{#stages.review.skipped}}(review skipped){{/stages.review.skipped}} {{stages.skim.output}}")
        return plan
    }

    @Test func aRouteChoosingACallRunsItsStagesAndOneNotChoosingItSkipsThem() async throws {
        let plan = try Self.routedPlan()
        // The route's case lists every stage of the call; the call's frame carries the branch.
        #expect(plan.stage(named: "classify")?.route?.cases.first?.stages == ["review/check", "review/summary"])
        #expect(plan.stage(named: "review/check")?.calls?.first?.routedBy == RouteChoice(router: "classify", branches: ["deep"]))

        let store = try RunStore.inMemory()
        let deep = Self.runtime(["classify": #"{"depth": "deep"}"#])
        let chosen = try await Self.run(plan, inputs: ["topic": "tea"], runtime: deep, store: store)
        #expect(chosen == .completed(runID: chosen.runID))
        #expect(deep.requests.map(\.stage) == ["classify", "review/check", "review/summary", "join"])
        #expect(deep.requests.last?.prompt == "Join review/summary done ")

        let quick = Self.runtime(["classify": #"{"depth": "quick"}"#])
        let other = try await Self.run(plan, inputs: ["topic": "tea"], runtime: quick, store: store)
        #expect(other == .completed(runID: other.runID))
        #expect(quick.requests.map(\.stage) == ["classify", "skim", "join"])
        #expect(quick.requests.last?.prompt == "Join (review skipped) skim done")
        let skips = try store.events(other.runID, kind: .stageSkipped).compactMap(\.payload)
        #expect(skips.count == 2)
        #expect(
            skips.allSatisfy {
                $0.contains(#""call":"review""#) && $0.contains(#""route":{"branch":"quick","router":"classify"}"#)
                    && $0.contains(#""reason":"call 'review': route classify chose quick""#)
            }, "\(skips)")
    }

    @Test func eachBranchsPlanLeavesOutTheStagesOfACallItDoesNotChoose() throws {
        let plan = try Self.routedPlan()
        func kept(_ branch: String) -> [String] {
            plan.stages.filter { !LoadSchedule.leftOut($0, by: "classify", branch: branch, in: plan) }.map(\.name)
        }
        #expect(kept("deep") == ["classify", "review/check", "review/summary", "join"])
        #expect(kept("quick") == ["classify", "skim", "join"])
    }

    @Test func aFanOutAndACriticLoopRunInsideACalledPipeline() async throws {
        let parts = """
            version: 1
            name: review-parts
            inputs:
              doc: {}
            outputs: [draft]
            stages:
              split:
                model: m
                output: {format: json, schema: {type: object, required: [parts], properties: {parts: {type: array, items: {type: string}}}}}
                prompt: "Split {{inputs.doc}}"
              each:
                model: m
                for_each: stages.split.json.parts
                as: part
                max_items: 5
                prompt: "Review {{part}} ({{item_index}}) of {{inputs.doc}}"
              draft:
                model: m
                prompt: "Draft {{stages.each.output}}{{#feedback}} fixing {{feedback}}{{/feedback}}"
              check:
                model: m
                reviews: draft
                prompt: "Check {{stages.draft.output}}"
            """
        let caller = """
            version: 1
            stages:
              intro:
                model: m
                prompt: Intro
              parts:
                model: m
                prompt: "{{stages.intro.output}}"
              final:
                model: m
                prompt: "Final {{stages.parts.output}}"
            """
        let plan = Inline.call(
            "parts", of: try snapshot(parts).plan, with: ["doc": "{{stages.intro.output}}"], into: try snapshot(caller).plan)
        let verdicts = Counter()
        let runtime = ScriptedRuntime { request, _ in
            switch request.stage {
            case "parts/split": return .text(#"{"parts": ["a", "b"]}"#)
            case "parts/check":
                return .text(
                    verdicts.next() == 0 ? #"{"verdict": "revise", "feedback": "shorter"}"# : #"{"verdict": "approve", "feedback": ""}"#)
            default: return .text("\(request.stage) r\(request.round)")
            }
        }
        let store = try RunStore.inMemory()
        let outcome = try await Self.run(plan, runtime: runtime, store: store)

        #expect(outcome == .completed(runID: outcome.runID))
        #expect(
            runtime.requests.map(\.stage) == [
                "intro", "parts/split", "parts/each", "parts/each", "parts/draft", "parts/check", "parts/draft", "parts/check", "final",
            ])
        let prompts = runtime.requests.map(\.prompt)
        #expect(prompts[1] == "Split intro r1")
        #expect(prompts[2...3] == ["Review a (1) of intro r1", "Review b (2) of intro r1"])
        #expect(prompts[4] == "Draft parts/each r1\n\nparts/each r1")
        #expect(prompts[6] == "Draft parts/each r1\n\nparts/each r1 fixing shorter")
        #expect(prompts[7] == "Check parts/draft r2")
        #expect(prompts[8] == "Final parts/draft r2")
        #expect(try store.events(outcome.runID, kind: .itemsExpanded).map(\.stage) == ["parts/each"])
    }

    // MARK: - Compiled from YAML

    /// Compiles `files["main.yaml"]`, resolving `uses:` names among `files` (NAME.yaml).
    static func compiled(_ files: [String: String]) throws -> ExecutionPlan {
        let compiler = PipelineCompiler(
            profile: nil,
            resolvePipeline: { name, _ throws(SourceReadError) in
                guard let text = files[name] ?? files[name + ".yaml"] else { throw .notFound }
                return SourceFile(path: name.hasSuffix(".yaml") ? name : name + ".yaml", text: text)
            })
        let result = compiler.compile(SourceFile(path: "main.yaml", text: files["main.yaml"]!))
        let diagnostics = result.diagnostics.map { "\($0.location.map(\.description) ?? ""): \($0.message)" }
        return try #require(result.plan, "\(diagnostics.joined(separator: "\n"))")
    }

    @Test func aPipelineCompiledWithUsesRunsTheSameWayNestedUsedTwiceAndSkipped() async throws {
        let section = """
            version: 1
            name: section
            inputs:
              body: {}
            outputs: [title]
            stages:
              inner:
                uses: review-section
                with: {text: "{{inputs.body}}"}
              title:
                model: m
                prompt: "Title {{stages.inner.output}} / {{stages.inner.outputs.check}} / {{inputs.body}}"
            """
        let main = """
            version: 1
            inputs:
              topic: {}
              deep: {default: "no"}
            stages:
              part:
                uses: section
                with: {body: "{{inputs.topic}}!"}
              again:
                uses: review-section
                with: {text: "{{stages.part.output}}", tone: formal}
              extra:
                uses: review-section
                when: inputs.deep == 'yes'
                with: {text: "{{inputs.topic}}"}
              final:
                model: m
                prompt: "Final {{stages.again.output}}{{#stages.extra.skipped}} (no extra){{/stages.extra.skipped}}"
            """
        let plan = try Self.compiled(["main.yaml": main, "section": section, "review-section": Self.reviewSection])
        let store = try RunStore.inMemory()
        let runtime = Self.runtime()
        let outcome = try await Self.run(plan, inputs: ["topic": "tea"], runtime: runtime, store: store)

        #expect(outcome == .completed(runID: outcome.runID))
        #expect(
            runtime.requests.map(\.stage) == [
                "part/inner/check", "part/inner/summary", "part/title", "again/check", "again/summary", "final",
            ])
        #expect(
            runtime.requests.map(\.prompt) == [
                "Check tea! (neutral)", "Sum part/inner/check done for review-section",
                "Title part/inner/summary done / part/inner/check done / tea!", "Check part/title done (formal)",
                "Sum again/check done for review-section", "Final again/summary done (no extra)",
            ])
        #expect(try store.attempts(outcome.runID).filter { $0.status == .skipped }.map(\.stage) == ["extra/check", "extra/summary"])
    }

    @Test func aNestedCallsConditionIsDecidedInItsCallersScope() async throws {
        let section = """
            version: 1
            name: section
            inputs:
              body: {}
            outputs: [title]
            stages:
              inner:
                uses: review-section
                when: inputs.body != 'skip!'
                with: {text: "{{inputs.body}}"}
              title:
                model: m
                prompt: "Title {{#stages.inner.skipped}}(no review) {{/stages.inner.skipped}}{{inputs.body}}"
            """
        let main = """
            version: 1
            inputs:
              topic: {}
            stages:
              part:
                uses: section
                with: {body: "{{inputs.topic}}!"}
            """
        let plan = try Self.compiled(["main.yaml": main, "section": section, "review-section": Self.reviewSection])
        let store = try RunStore.inMemory()

        // The outer call's input (body) is what the inner call's condition reads.
        let runs = Self.runtime()
        _ = try await Self.run(plan, inputs: ["topic": "tea"], runtime: runs, store: store)
        #expect(runs.requests.map(\.stage) == ["part/inner/check", "part/inner/summary", "part/title"])

        let skips = Self.runtime()
        let skipped = try await Self.run(plan, inputs: ["topic": "skip"], runtime: skips, store: store)
        #expect(skips.requests.map(\.stage) == ["part/title"])
        #expect(skips.requests.first?.prompt == "Title (no review) skip!")
        let reasons = try store.events(skipped.runID, kind: .stageSkipped).compactMap(\.payload)
        #expect(reasons.count == 2)
        #expect(
            reasons.allSatisfy {
                $0.contains(#""call":"part/inner""#)
                    && $0.contains(#""reason":"call 'part/inner': when: inputs.body != 'skip!' was false (inputs.body = \"skip!\")""#)
            }, "\(reasons)")
    }

    @Test func theCurrentPipelineOfAResumeTrustsTheFoldersOfTheFilesItNowCalls() async throws {
        // Given a run of a pipeline in project A, whose file now calls one in project B
        let root = NSTemporaryDirectory() + "baton-calls-folders-\(UUID().uuidString.prefix(8))"
        defer { try? FileManager.default.removeItem(atPath: root) }
        for folder in ["A/pipelines", "B/pipelines"] {
            try FileManager.default.createDirectory(atPath: root + "/" + folder, withIntermediateDirectories: true)
        }
        try Self.reviewSection.write(toFile: root + "/B/pipelines/review-section.yaml", atomically: true, encoding: .utf8)
        let path = root + "/A/pipelines/main.yaml"
        try "version: 1\nstages:\n  review: {model: m, prompt: hello}\n".write(toFile: path, atomically: true, encoding: .utf8)
        let workspace = Workspace(pipelineDirectories: [], profileDirectories: [], environment: [:], currentDirectory: root + "/A")
        let compiled = try workspace.compile(path: path, profile: nil)
        var snapshot = RunSnapshot(
            plan: try #require(compiled.plan), profile: nil,
            sources: Dictionary(compiled.sources.map { (workspace.absolute($0.key), $0.value.text) }) { first, _ in first },
            pipelinePath: path, forcedRuntime: nil)
        snapshot.projectFolders = workspace.projectFolders(of: [path])
        let store = try RunStore.inMemory()
        let outcome = try await Self.executor(Self.runtime(), store: store).start(snapshot, inputs: [:], claim: .current())
        let edited = """
            version: 1
            stages:
              review:
                uses: ../../B/pipelines/review-section.yaml
                with: {text: hello}
            """
        try edited.write(toFile: path, atomically: true, encoding: .utf8)

        // When `resume --use-current-pipeline` compiles the current file, the called file's project joins the run's
        let current = CurrentPipeline(workspace: workspace, report: try RunReport.load(outcome.runID, from: store))
        #expect(current.changed)
        let replacement = try current.compile().snapshot
        #expect(replacement.plan.stages.map(\.name) == ["review/check", "review/summary"])
        let folders = replacement.projectFolders ?? []
        #expect(folders.map { URL(fileURLWithPath: $0).lastPathComponent } == ["A", "B"], "\(folders)")
    }

    // MARK: - Resume and rerun

    @Test func resumeInsideACallReusesItsCompletedStagesAndComputesTheSameInputs() async throws {
        // Given a run that failed at the call's second stage
        let store = try RunStore.inMemory()
        let broken = ScriptedRuntime { request, _ in
            request.stage == "review/summary"
                ? .error(RuntimeError(.modelNotFound, "no model", isTransient: false)) : .text("\(request.stage) done")
        }
        let first = try await Self.run(try Self.briefPlan(), inputs: ["topic": "tea"], runtime: broken, store: store)
        guard case .failed(let id, _, _) = first else {
            Issue.record("\(first)")
            return
        }

        // When it resumes
        let fixed = Self.runtime()
        let second = try await Self.executor(fixed, store: store).resume(id, claim: .current())

        // Then only what did not complete runs, and what it reads is what the first process read
        #expect(second == .completed(runID: id))
        #expect(fixed.requests.map(\.stage) == ["review/summary", "report"])
        #expect(
            fixed.requests.map(\.prompt) == ["Sum review/check done for review-section", "R review/summary done / review/check done / "])
    }

    @Test func resumeAfterACallWasSkippedStillReadsItAsSkipped() async throws {
        // Given a run that skipped the call and then failed at `report`
        let store = try RunStore.inMemory()
        let broken = ScriptedRuntime { request, _ in
            request.stage == "report" ? .error(RuntimeError(.modelNotFound, "no model", isTransient: false)) : .text("done")
        }
        let first = try await Self.run(try Self.briefPlan(), inputs: ["topic": "tea", "deep": "no"], runtime: broken, store: store)
        guard case .failed(let id, _, _) = first else {
            Issue.record("\(first)")
            return
        }

        // When it resumes: the skips are reused, never decided again, and the call still reads as skipped
        let events = LockedList<RunEvent>()
        let fixed = Self.runtime()
        let second = try await Self.executor(fixed, store: store, events: events).resume(id, claim: .current())
        #expect(second == .completed(runID: id))
        #expect(fixed.requests.map(\.stage) == ["report"])
        #expect(fixed.requests.first?.prompt == "R  /  / none")
        #expect(try store.events(id, kind: .stageSkipped).count == 2)
        let reused = events.values.compactMap { event -> String? in
            if case .stageSkipped(let stage, let reason, true) = event { return "\(stage): \(reason)" }
            return nil
        }
        #expect(
            reused == [
                "review/check: call 'review': when: inputs.deep == 'yes' was false (inputs.deep = \"no\")",
                "review/summary: call 'review': when: inputs.deep == 'yes' was false (inputs.deep = \"no\")",
            ])
    }

    @Test func rerunFromACallNameStartsAtItsFirstStage() async throws {
        let plan = try Self.briefPlan()
        #expect(Executor.rerunStage("review", in: plan) == "review/check")
        #expect(Executor.rerunStage("review/summary", in: plan) == "review/summary")
        #expect(Executor.rerunStage("reviews", in: plan) == nil)
        #expect(Executor.stageAndCallNames(in: plan) == ["split", "review", "review/check", "review/summary", "report"])

        let store = try RunStore.inMemory()
        let parent = try await Self.run(plan, inputs: ["topic": "tea"], runtime: Self.runtime(), store: store)
        let runtime = Self.runtime()
        let snapshot = try RunSnapshot.decode(try store.run(parent.runID).snapshot)
        let rerun = try await Self.executor(runtime, store: store).start(
            snapshot, inputs: ["topic": "tea", "deep": "yes"], claim: .current(),
            parent: (parent.runID, try #require(Executor.rerunStage("review", in: plan))))
        #expect(rerun == .completed(runID: rerun.runID))
        #expect(runtime.requests.map(\.stage) == ["review/check", "review/summary", "report"])
        #expect(runtime.requests.first?.prompt == "Check split done (neutral)")
    }

    @Test func rerunAfterASkippedCallKeepsItSkipped() async throws {
        let plan = try Self.briefPlan()
        let store = try RunStore.inMemory()
        let parent = try await Self.run(plan, inputs: ["topic": "tea", "deep": "no"], runtime: Self.runtime(), store: store)
        let runtime = Self.runtime()
        let snapshot = try RunSnapshot.decode(try store.run(parent.runID).snapshot)
        let rerun = try await Self.executor(runtime, store: store).start(
            snapshot, inputs: ["topic": "tea", "deep": "no"], claim: .current(), parent: (parent.runID, "report"))
        #expect(rerun == .completed(runID: rerun.runID))
        #expect(runtime.requests.map(\.stage) == ["report"])
        #expect(runtime.requests.first?.prompt == "R  /  / none")
    }

    static let scored = """
        version: 1
        name: score
        inputs:
          text: {}
        outputs: [rate]
        stages:
          rate:
            model: m
            output: {format: json, schema: {type: object, properties: {score: {type: integer}, note: {type: string}}, required: [score]}}
            prompt: "Rate {{inputs.text}}"
        """

    @Test func aCallersConditionReadsTheCallsJSONAndOutputs() async throws {
        let caller = """
            version: 1
            stages:
              rating:
                model: m
                prompt: Placeholder
              praise:
                model: m
                needs: [rating]
                prompt: Praise
            """
        var plan = Inline.call("rating", of: try snapshot(Self.scored).plan, with: ["text": "tea"], into: try snapshot(caller).plan)
        plan.stages[1].condition = try BatonSpec.Expression.parse("stages.rating.json.score > 5 && stages.rating.outputs.rate != ''")
        plan.setPrompt("praise", "Praise {{stages.rating.json.score}}")
        let store = try RunStore.inMemory()

        let high = Self.runtime(["rating/rate": #"{"score": 8}"#])
        let first = try await Self.run(plan, runtime: high, store: store)
        #expect(first == .completed(runID: first.runID))
        #expect(high.requests.map(\.prompt) == ["Rate tea", "Praise 8"])

        let low = Self.runtime(["rating/rate": #"{"score": 2}"#])
        let second = try await Self.run(plan, runtime: low, store: store)
        #expect(low.requests.map(\.stage) == ["rating/rate"])
        let skip = try #require(try store.events(second.runID, kind: .stageSkipped).first?.payload)
        #expect(skip.contains(#""stages.rating.json.score":2"#), "\(skip)")
    }

    @Test func aCallsConditionThatCannotBeEvaluatedFailsNamingTheCall() async throws {
        let caller = """
            version: 1
            stages:
              facts:
                model: m
                output: {format: json, schema: {type: object, properties: {note: {type: string}}}}
                prompt: Facts
              review:
                model: m
                prompt: "{{stages.facts.output}}"
            """
        var plan = Inline.call(
            "review", of: try snapshot(Self.reviewSection).plan, with: ["text": "{{stages.facts.output}}"], into: try snapshot(caller).plan)
        for index in plan.stages.indices where plan.stages[index].calls != nil {
            plan.stages[index].calls![0].condition = try BatonSpec.Expression.parse("stages.facts.json.note == 'x'")
        }
        let store = try RunStore.inMemory()
        let runtime = Self.runtime(["facts": "{}"])
        let outcome = try await Self.run(plan, runtime: runtime, store: store)
        guard case .failed(_, let reason, _) = outcome else {
            Issue.record("\(outcome)")
            return
        }
        #expect(
            reason
                == "call 'review' (uses review-section): its condition 'stages.facts.json.note == 'x'' cannot be evaluated: 'stages.facts.json.note' has no value in this run; guard it with has(stages.facts.json.note) && ..."
        )
        #expect(runtime.requests.map(\.stage) == ["facts"])
    }

    // MARK: - The pinned snapshot

    @Test func aPlanWithCallsRoundTripsThroughTheSnapshotsFastDecoder() throws {
        let plan = try Self.routedPlan()
        var snapshot = RunSnapshot(plan: plan, profile: nil, sources: ["a.yaml": "x"], pipelinePath: "a.yaml", forcedRuntime: nil)
        snapshot.fingerprints = Fingerprints.compute(plan, inputs: ["topic": "tea"])
        let text = try snapshot.encoded()
        #expect(text.contains(#""calls":[{"#))
        // The hand decoder itself (not JSONDecoder after it gave up) reads the frames.
        let fast = try SnapshotJSONDecoder.decode(RunSnapshot.self, from: text)
        // (Compared as encoded: JSONDecoder does not keep the order of a JSON schema's keys.)
        #expect(try fast.encoded() == text)
        #expect(try JSONDecoder().decode(RunSnapshot.self, from: Data(text.utf8)).encoded() == text)
        #expect(fast.plan.stages.map(\.calls) == plan.stages.map(\.calls))
        #expect(fast.plan.stages.map(\.name) == plan.stages.map(\.name))
        #expect(fast.fingerprints == snapshot.fingerprints)
        #expect(Fingerprints.compute(fast.plan, inputs: ["topic": "tea"]) == snapshot.fingerprints)
        // A frame is part of its stages' fingerprints: another `with` is another stage.
        var other = plan
        for index in other.stages.indices where other.stages[index].calls != nil {
            other.stages[index].calls![0].with["text"] = "{{inputs.topic}}!"
        }
        let changed = Fingerprints.compute(other, inputs: ["topic": "tea"])
        #expect(changed["review/check"] != snapshot.fingerprints?["review/check"])
        #expect(changed["classify"] == snapshot.fingerprints?["classify"])
    }

    /// The plan of a run recorded by the Baton of commit fdc9002 (before `calls` existed), `baton run fp.yaml --runtime
    /// echo --input topic=tea` with the built-in default profile, with the profile's defaults put back in each stage's
    /// settings (as ``RunSnapshot`` does when it decodes), and the fingerprints that Baton computed when the run started.
    static let recordedPlan = #"""
        {"inputs":[{"default":"tea","name":"topic","required":false}],"memoryBudget":{"auto":{}},"outputs":["report"],"pipeline":"fp",
        "profile":"default","stages":[
        {"dependencies":[],"models":[{"name":"m","runtime":"ollama"}],"name":"facts","output":{"format":"text"},
        "prompt":"Facts about {{inputs.topic}}","settings":SETTINGS},
        {"condition":"inputs.topic == 'tea'","dependencies":["facts"],"models":[{"name":"m","runtime":"ollama"}],"name":"check",
        "output":{"format":"text"},"prompt":"Check {{stages.facts.output}}","settings":SETTINGS},
        {"dependencies":["check"],"models":[{"name":"m","runtime":"ollama"}],"name":"report","output":{"format":"text"},
        "prompt":"Report {{stages.check.output}}","settings":SETTINGS}]}
        """#.replacingOccurrences(
            of: "SETTINGS",
            with:
                #"{"max_tokens":1024,"model":["m"],"num_ctx":8192,"retry":{"initial_backoff":1,"max_attempts":3,"max_backoff":30,"multiplier":2},"timeout":600}"#
        )

    @Test func plansWithoutCallsKeepTheirEncodingAndFingerprints() throws {
        let plan = try JSONDecoder().decode(ExecutionPlan.self, from: Data(Self.recordedPlan.utf8))
        #expect(plan.stages.allSatisfy { $0.calls == nil })
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        #expect(!String(decoding: try encoder.encode(plan), as: UTF8.self).contains("calls"))
        #expect(
            Fingerprints.compute(plan, inputs: ["topic": "tea"]) == [
                "facts": "afda288bddae98122e520f2d8af928735d6eeadcfd2aa8a16f0ef3c0b9aedb7c",
                "check": "ab4414ccf54ce8ff9c5dc4746b81a02dbcc92d822bcaeca5f0ec658dc2802032",
                "report": "b3917e8efec5f3bfce20f16527d486af678ff0e0b4b937d083642fef2b6523f0",
            ])
    }
}

/// Inlines a called plan into a caller as briefs s8/calls.md says the compiler does, for engine tests that must not
/// depend on the compiler: the caller's stage standing for the call gives the call's dependencies, `when:` and route
/// branch, and is replaced by the called stages named `X/S`.
enum Inline {
    static func call(_ name: String, of called: ExecutionPlan, with: [String: String], into caller: ExecutionPlan) -> ExecutionPlan {
        let placeholder = caller.stage(named: name)!
        let prefix = name + "/"
        func full(_ stage: String) -> String { prefix + stage }
        let frame = CallFrame(
            path: name, pipeline: called.pipeline, inputs: called.inputs, with: with, dependencies: placeholder.dependencies,
            condition: placeholder.condition, routedBy: placeholder.routedBy, outputs: called.outputs.map(full))
        let inlined = called.stages.map { original -> PlannedStage in
            var stage = original
            stage.name = full(stage.name)
            stage.dependencies = stage.dependencies.map(full) + (original.dependencies.isEmpty ? frame.dependencies : [])
            stage.critic?.reviews = full(original.critic?.reviews ?? "")
            stage.reviewedBy = stage.reviewedBy.map(full)
            stage.routedBy?.router = full(original.routedBy?.router ?? "")
            if let route = stage.route {
                stage.route = RouteSpec(
                    on: route.on, cases: route.cases.map { RouteCase(value: $0.value, stages: $0.stages.map(full)) },
                    otherwise: route.otherwise?.map(full))
            }
            let inner = (original.calls ?? []).map { original -> CallFrame in
                var nested = original
                nested.path = full(nested.path)
                nested.dependencies = nested.dependencies.map(full)
                nested.outputs = nested.outputs.map(full)
                nested.routedBy?.router = full(original.routedBy?.router ?? "")
                return nested
            }
            stage.calls = [frame] + inner
            return stage
        }
        let names = inlined.map(\.name)
        func expand(_ list: [String]) -> [String] { list.flatMap { $0 == name ? names : [$0] } }
        var plan = caller
        plan.stages = caller.stages.flatMap { original -> [PlannedStage] in
            if original.name == name { return inlined }
            var stage = original
            stage.dependencies = expand(stage.dependencies)
            if let route = stage.route {
                stage.route = RouteSpec(
                    on: route.on, cases: route.cases.map { RouteCase(value: $0.value, stages: expand($0.stages)) },
                    otherwise: route.otherwise.map(expand))
            }
            return [stage]
        }
        plan.outputs = caller.outputs.flatMap { $0 == name ? frame.outputs : [$0] }
        return plan
    }
}

extension ExecutionPlan {
    /// Replaces the prompt of stage `name` (a template the caller's compile could not type: it reads a call).
    mutating func setPrompt(_ name: String, _ prompt: String) {
        if let index = stages.firstIndex(where: { $0.name == name }) { stages[index].prompt = prompt }
    }
}
