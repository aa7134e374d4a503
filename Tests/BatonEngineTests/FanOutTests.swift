import BatonSpec
import BatonTestSupport
import Foundation
import GRDB
import Testing

@testable import BatonEngine

/// Fan-out (`for_each`) and voting (`repeat` + `vote`) in the executor (issue 11, briefs s7/fanout.md,
/// docs/runs-and-resume.md "Fan-out and voting"): expansion, the bound, the pinned list, items in order with the item in
/// the prompt, critic loops per item, seeds per sample, the vote, what later stages read, resume, rerun and the store.
@Suite struct FanOutTests {
    static func executor(_ runtime: ScriptedRuntime, store: RunStore, events: LockedList<RunEvent>? = nil) -> Executor {
        Executor(store: store, runtimes: runtime, observer: { event in events?.append(event) }, sleep: { _ in }, random: { 0.5 })
    }

    static func run(
        _ yaml: String, inputs: [String: String] = [:], runtime: ScriptedRuntime, store: RunStore, events: LockedList<RunEvent>? = nil
    ) async throws -> RunOutcome {
        let snapshot = try snapshot(yaml)
        let resolved = try RunInputs.resolve(snapshot.plan.inputs, given: inputs)
        return try await executor(runtime, store: store, events: events).start(snapshot, inputs: resolved, claim: .current())
    }

    static let sections =
        #"{"parts": [{"title": "Intro", "text": "Hello"}, {"title": "Body", "text": "World"}, {"title": "End", "text": "Bye"}]}"#

    static let review = """
        version: 1
        stages:
          sections:
            model: m
            prompt: Split
            output: {format: json, schema: {type: object, required: [parts], properties: {parts: {type: array, items: {type: object, required: [title, text], properties: {title: {type: string}, text: {type: string}}}}}}}
          review:
            model: m
            for_each: stages.sections.json.parts
            as: part
            max_items: 5
            prompt: "Review '{{part.title}}' ({{item_index}}): {{part.text}}"
          summary:
            model: m
            prompt: "{{#stages.review.items}}[{{index}} {{item.title}}: {{output}}]{{/stages.review.items}}|{{stages.review.output}}"
        """

    /// Answers `sections` with `sections`, an item with "ok <prompt>", the rest with "<stage> done".
    static func reviewer(sections: String = FanOutTests.sections) -> ScriptedRuntime {
        ScriptedRuntime { request, _ in
            switch request.stage {
            case "sections": .text(sections)
            case "review": .text("ok " + request.prompt)
            default: .text("\(request.stage) done")
            }
        }
    }

    @Test func aListFromAJSONFieldRunsEachItemInOrderWithTheItemInThePrompt() async throws {
        let store = try RunStore.inMemory()
        let runtime = Self.reviewer()
        let outcome = try await Self.run(Self.review, runtime: runtime, store: store)

        #expect(outcome == .completed(runID: outcome.runID))
        #expect(runtime.requests.map(\.stage) == ["sections", "review", "review", "review", "summary"])
        let reviews = runtime.requests.filter { $0.stage == "review" }
        #expect(reviews.map(\.prompt) == ["Review 'Intro' (1): Hello", "Review 'Body' (2): World", "Review 'End' (3): Bye"])
        #expect(reviews.map(\.item) == [0, 1, 2])
        // Attempts carry the item; each item's fingerprint is the stage's plus the item's hash, all different.
        let attempts = try store.attempts(outcome.runID).filter { $0.stage == "review" }
        #expect(attempts.map(\.item) == [0, 1, 2])
        #expect(Set(attempts.map(\.fingerprint)).count == 3)
        let stageFingerprint = try #require(Fingerprints.compute(try snapshot(Self.review).plan, inputs: [:])["review"])
        #expect(attempts.allSatisfy { $0.fingerprint.hasPrefix(stageFingerprint + "/item:") })
        // The list is pinned once, before the first item.
        let pinned = try store.events(outcome.runID, kind: .itemsExpanded)
        #expect(pinned.map(\.stage) == ["review"])
        #expect(pinned.first?.payload?.contains(#""count":3"#) == true)
        // Downstream: items in order with their output, and the outputs joined by a blank line.
        let summary = try #require(runtime.requests.last?.prompt)
        #expect(
            summary
                == "[1 Intro: ok Review 'Intro' (1): Hello][2 Body: ok Review 'Body' (2): World][3 End: ok Review 'End' (3): Bye]|ok Review 'Intro' (1): Hello\n\nok Review 'Body' (2): World\n\nok Review 'End' (3): Bye"
        )
    }

    static let topics = """
        version: 1
        inputs:
          topics: {}
        stages:
          write:
            model: m
            for_each: inputs.topics
            max_items: 3
            prompt: "Write about {{item}} ({{item_index}})"
          join:
            model: m
            needs: [write]
            prompt: "[{{stages.write.output}}]"
        """

    @Test func aListFromAnInputIsItsTextParsedAsAJSONArray() async throws {
        let store = try RunStore.inMemory()
        let runtime = ScriptedRuntime { request, _ in .text(request.prompt) }
        let outcome = try await Self.run(Self.topics, inputs: ["topics": #"["tea", "cake"]"#], runtime: runtime, store: store)
        #expect(outcome == .completed(runID: outcome.runID))
        #expect(
            runtime.requests.map(\.prompt) == [
                "Write about tea (1)", "Write about cake (2)", "[Write about tea (1)\n\nWrite about cake (2)]",
            ])

        // An input that is not a JSON array fails the stage, naming it and the fix
        let other = try await Self.run(Self.topics, inputs: ["topics": "tea and cake"], runtime: runtime, store: store)
        guard case .failed(_, let reason, _) = other else {
            Issue.record("\(other)")
            return
        }
        #expect(reason.contains("stage 'write': its for_each 'inputs.topics' is the text 'tea and cake', not a JSON array"), "\(reason)")
    }

    @Test func moreItemsThanMaxItemsFailTheStageNamingTheCountAndTheBound() async throws {
        let store = try RunStore.inMemory()
        let runtime = ScriptedRuntime { request, _ in .text(request.prompt) }
        let outcome = try await Self.run(Self.topics, inputs: ["topics": "[1, 2, 3, 4]"], runtime: runtime, store: store)
        guard case .failed(let id, let reason, _) = outcome else {
            Issue.record("\(outcome)")
            return
        }
        #expect(reason.contains("stage 'write': for_each 'inputs.topics' gave 4 items, more than its max_items: 3"), "\(reason)")
        #expect(runtime.requests.isEmpty)
        #expect(try store.events(id, kind: .itemsExpanded).isEmpty)
    }

    @Test func anEmptyListCompletesWithNoItems() async throws {
        let store = try RunStore.inMemory()
        let runtime = ScriptedRuntime { request, _ in .text(request.prompt) }
        let outcome = try await Self.run(Self.topics, inputs: ["topics": "[]"], runtime: runtime, store: store)
        #expect(outcome == .completed(runID: outcome.runID))
        #expect(runtime.requests.map(\.prompt) == ["[]"])
        #expect(try store.events(outcome.runID, kind: .itemsExpanded).first?.payload?.contains(#""count":0"#) == true)
    }

    static let reviewed = """
        version: 1
        inputs:
          topics: {}
        stages:
          write:
            model: m
            for_each: inputs.topics
            max_items: 3
            prompt: "Write about {{item}}{{#feedback}} ({{feedback}}){{/feedback}}"
          check:
            model: m
            reviews: write
            max_rounds: 3
            prompt: "Check {{item}}: {{stages.write.output}}"
          join:
            model: m
            needs: [write]
            prompt: "{{#stages.write.items}}<{{output}}>{{/stages.write.items}}"
        """

    /// The critic asks for one revision of the item `cake`, and approves everything else.
    static func critic() -> ScriptedRuntime {
        ScriptedRuntime { request, _ in
            if request.stage == "check" {
                let revise = request.prompt.hasPrefix("Check cake") && !request.prompt.contains("shorter")
                return .text(revise ? #"{"verdict": "revise", "feedback": "shorter"}"# : #"{"verdict": "approve", "feedback": ""}"#)
            }
            return .text(request.prompt)
        }
    }

    @Test func aCriticLoopRunsInsideEachItem() async throws {
        let store = try RunStore.inMemory()
        let runtime = Self.critic()
        let outcome = try await Self.run(Self.reviewed, inputs: ["topics": #"["tea", "cake"]"#], runtime: runtime, store: store)
        #expect(outcome == .completed(runID: outcome.runID))
        #expect(
            runtime.requests.map { "\($0.stage)[\($0.item.map(String.init) ?? "-")]#\($0.round)" } == [
                "write[0]#1", "write[1]#1", "check[0]#1", "check[1]#1", "write[1]#2", "check[1]#2", "join[-]#1",
            ])
        #expect(runtime.requests.first { $0.stage == "write" && $0.round == 2 }?.prompt == "Write about cake (shorter)")
        #expect(runtime.requests.last?.prompt == "<Write about tea><Write about cake (shorter)>")
        let attempts = try store.attempts(outcome.runID)
        #expect(
            attempts.filter { $0.stage == "check" }.map { "\($0.item ?? -1)#\($0.round):\($0.verdict ?? "")" } == [
                "0#1:approve", "1#1:revise", "1#2:approve",
            ])
    }

    static let vote = """
        version: 1
        stages:
          label:
            model: m
            seed: 40
            repeat: 5
            vote: label
            prompt: "Label this"
            output: {format: json, schema: {type: object, required: [label], properties: {label: {type: string, enum: [spam, ham]}}}}
          after:
            model: m
            prompt: "{{stages.label.vote.value}} {{stages.label.vote.count}}/{{stages.label.vote.total}} {{stages.label.json.label}} {{stages.label.output}}"
        """

    /// Answers sample n (seed 40 + n) with `labels[n]`.
    static func labeller(_ labels: [String]) -> ScriptedRuntime {
        ScriptedRuntime { request, _ in
            guard request.stage == "label", let seed = request.settings.seed else { return .text(request.prompt) }
            return .text(#"{"label": "\#(labels[seed - 40])", "n": \#(seed - 40)}"#)
        }
    }

    @Test func repeatAsksWithDistinctSeedsAndTheMajorityWins() async throws {
        let store = try RunStore.inMemory()
        let events = LockedList<RunEvent>()
        let runtime = Self.labeller(["ham", "spam", "spam", "ham", "spam"])
        let outcome = try await Self.run(Self.vote, runtime: runtime, store: store, events: events)
        #expect(outcome == .completed(runID: outcome.runID))
        #expect(runtime.requests.filter { $0.stage == "label" }.map(\.settings.seed) == [40, 41, 42, 43, 44])
        // The first sample holding the winning value gives json and output.
        #expect(runtime.requests.last?.prompt == #"spam 3/5 spam {"label": "spam", "n": 1}"#)
        let counted = try store.events(outcome.runID, kind: .voteCounted)
        #expect(counted.count == 1)
        #expect(counted.first?.payload?.contains(#""tally":[{"count":2,"value":"ham"},{"count":3,"value":"spam"}]"#) == true, "\(counted)")
        #expect(events.values.contains { if case .voteCounted("label", "label", "spam", 3, 5, _) = $0 { true } else { false } })
    }

    @Test func aTiedVoteGoesToTheEarliestSample() async throws {
        let store = try RunStore.inMemory()
        let runtime = Self.labeller(["spam", "ham", "ham", "spam", "eggs"])
        let outcome = try await Self.run(Self.vote, runtime: runtime, store: store)
        #expect(outcome == .completed(runID: outcome.runID))
        #expect(runtime.requests.last?.prompt == #"spam 2/5 spam {"label": "spam", "n": 0}"#)
    }

    @Test func resumeReadsThePinnedListAndReusesCompletedItems() async throws {
        // Given a run that failed at its third item
        let store = try RunStore.inMemory()
        let broken = ScriptedRuntime { request, _ in
            if request.stage == "sections" { return .text(Self.sections) }
            if request.item == 2 { return .error(RuntimeError(.badResponse, "boom", isTransient: false)) }
            return .text("ok " + request.prompt)
        }
        let first = try await Self.run(Self.review, runtime: broken, store: store)
        guard case .failed(let id, _, _) = first else {
            Issue.record("\(first)")
            return
        }

        // When it resumes
        let events = LockedList<RunEvent>()
        let fixed = Self.reviewer()
        let second = try await Self.executor(fixed, store: store, events: events).resume(id, claim: .current())

        // Then only the failed item and the stage after run; the list is read back, not evaluated again
        #expect(second == .completed(runID: id))
        #expect(fixed.requests.map { "\($0.stage)\($0.item.map { "[\($0)]" } ?? "")" } == ["review[2]", "summary"])
        #expect(try store.events(id, kind: .itemsExpanded).count == 1)
        #expect(events.values.contains { if case .itemsExpanded("review", 3, true) = $0 { true } else { false } })
        #expect(fixed.requests.last?.prompt.hasPrefix("[1 Intro: ok Review 'Intro' (1): Hello]") == true)
    }

    @Test func theItemsArePinnedEvenWhenTheSourceWouldNowGiveOthers() async throws {
        // Given a run whose list was pinned, and whose first item failed
        let store = try RunStore.inMemory()
        let broken = ScriptedRuntime { request, _ in
            request.stage == "write" ? .error(RuntimeError(.badResponse, "boom", isTransient: false)) : .text(request.prompt)
        }
        let first = try await Self.run(Self.topics, inputs: ["topics": #"["tea", "cake"]"#], runtime: broken, store: store)
        let id = first.runID
        // When the pinned list is what resume reads (the event is the only place the list is kept)
        let payload = try #require(try store.events(id, kind: .itemsExpanded).first?.payload)
        let pinned = try #require(PinnedItems(payload: payload))
        #expect(pinned.items == [.string("tea"), .string("cake")])
        // A forged pin stands in for "the source changed": resume must use the pinned list, not evaluate again.
        var forged = pinned
        forged.items = [.string("coffee")]
        try store.appendEvent(id, kind: .itemsExpanded, stage: "write", payload: forged.payload)
        let runtime = ScriptedRuntime { request, _ in .text(request.prompt) }
        let second = try await Self.executor(runtime, store: store).resume(id, claim: .current())
        #expect(second == .completed(runID: id))
        #expect(runtime.requests.map(\.prompt) == ["Write about coffee (1)", "[Write about coffee (1)]"])
    }

    @Test func rerunFromTheFanOutStageReusesWhatCameBeforeAndRunsEveryItemAgain() async throws {
        let store = try RunStore.inMemory()
        let first = try await Self.run(Self.review, runtime: Self.reviewer(), store: store)
        let runtime = Self.reviewer()
        let pipeline = try snapshot(Self.review)
        let rerun = try await Self.executor(runtime, store: store).start(
            pipeline, inputs: [:], claim: .current(), parent: (first.runID, "review"))
        #expect(rerun == .completed(runID: rerun.runID))
        #expect(runtime.requests.map(\.stage) == ["review", "review", "review", "summary"])
        #expect(try store.events(rerun.runID, kind: .itemsExpanded).count == 1)
    }

    @Test func aDatabaseFromBeforeFanOutMigratesAndReadsAsBefore() throws {
        let folder = NSTemporaryDirectory() + "baton-fanout-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let path = folder + "/runs.sqlite"
        // A v4 database (before attempts.item) with one run and one attempt
        let queue = try DatabaseQueue(path: path)
        try Migrations.migrator.migrate(queue, upTo: "v4")
        try queue.write { db in
            try db.execute(
                sql: """
                    INSERT INTO runs (id, pipeline, pipeline_hash, snapshot, inputs, status, created_at, updated_at)
                    VALUES ('old', 'p', 'h', '', '{}', 'completed', 1, 1)
                    """)
            try db.execute(
                sql: """
                    INSERT INTO attempts (run_id, stage, round, try, status, prompt, output, started_at, fingerprint)
                    VALUES ('old', 'plan', 1, 1, 'completed', 'Plan', 'A plan', 1, 'f')
                    """)
        }
        try queue.close()
        // When this Baton opens it, it migrates, and the old attempt reads as before with no item
        let store = try RunStore(path: path)
        let attempts = try store.attempts("old")
        #expect(attempts.map(\.output) == ["A plan"])
        #expect(attempts.first?.item == nil)
        #expect(try store.attemptsWithoutPrompts("old").first?.item == nil)
        let identifiers = try DatabaseQueue(path: path).read { try String.fetchAll($0, sql: "SELECT identifier FROM grdb_migrations") }
        // v5 (attempts.item) ran; later migrations (v6, tool_calls) may follow it.
        #expect(identifiers.contains("v5"))
    }

    /// One model fits the budget: the fan-out stage's model is loaded once for all its items (no swap between items),
    /// and the run loads exactly what `baton plan`'s schedule loads.
    @Test func aFanOutStageKeepsItsModelForEveryItemAndLoadsWhatThePlanSays() async throws {
        let yaml = """
            version: 1
            memory_budget: 1GB
            inputs:
              xs: {}
            stages:
              each: {model: a, for_each: inputs.xs, max_items: 5, prompt: "Item {{item}}"}
              other: {model: b, needs: [each], prompt: "Other"}
              last: {model: a, needs: [other], prompt: "Last {{stages.each.output}}"}
            """
        let store = try RunStore.inMemory()
        for name in ["a", "b"] { try store.saveFootprint(runtime: "?", model: name, bytes: 900_000_000) }
        let runtime = RoutePlanningTests.ManagedRuntime(answer: "")
        var executor = Executor(store: store, runtimes: runtime)
        executor.machine = { MachineMemory(total: 64_000_000_000, available: nil) }
        let pipeline = try snapshot(yaml)
        let inputs = try RunInputs.resolve(pipeline.plan.inputs, given: ["xs": "[1, 2, 3, 4]"])
        let outcome = try await executor.start(pipeline, inputs: inputs, claim: .current())
        #expect(outcome == .completed(runID: outcome.runID))
        #expect(try store.attempts(outcome.runID).filter { $0.stage == "each" }.count == 4)
        // The plan's loads and unloads, then the unload of `after_run: restore` (the default): nothing was resident before.
        #expect(runtime.log == ["load a", "unload a", "load b", "unload b", "load a", "unload a"])
        let measured = Dictionary(uniqueKeysWithValues: ["a", "b"].map { (ModelKey(runtime: "?", name: $0), Int64(900_000_000)) })
        let schedule = try LoadSchedule.make(
            pipeline.plan, measured: measured, machine: MachineMemory(total: 64_000_000_000, available: nil))
        #expect(schedule.rows.filter(\.loads).map(\.model.name) == ["a", "b", "a"])
    }
}
