import BatonSpec
import BatonTestSupport
import Foundation
import Testing

@testable import BatonEngine

/// `concurrency: N` on a fan-out or `repeat` stage at run time (issue 11 item 3, briefs s8/CC.md; docs/runs-and-resume.md
/// "Fan-out and voting"): up to N items at once after the first ran alone, results in item order whatever order they
/// finish in, a failure that waits for the items in flight, a signal that interrupts them all, and a chain that falls
/// back once. Peaks are counted by ``GatedRuntime``; no test measures wall-clock time.
@Suite struct FanOutConcurrencyTests {
    /// A runtime that counts requests in flight and holds each until `opensAt` are in flight at once (the gate then
    /// stays open) or `bound` seconds pass, so an executor that never runs that many at once fails a test instead of
    /// hanging it. Requests `passes` accepts (those the executor runs alone by design) are not held.
    final class GatedRuntime: LLMRuntime, RuntimeProvider, @unchecked Sendable {
        enum Reply: Sendable {
            /// Answer with this text after `delay` seconds (counted from the gate's opening, or the request), and once
            /// the item `after` (if any) has answered, within the bound: a finishing order that does not depend on timing.
            case text(String, delay: Double = 0, after: Int? = nil)
            case error(RuntimeError)
            /// Never answer (until cancelled).
            case hang
        }

        private let lock = NSLock()
        private var inFlight = 0
        private var peakSeen = 0
        private var open = false
        private var recorded: [GenerationRequest] = []
        private var finishedOrder: [Int] = []
        let opensAt: Int
        let bound: Double
        let passes: @Sendable (GenerationRequest) -> Bool
        let reply: @Sendable (GenerationRequest) -> Reply

        init(
            opensAt: Int, bound: Double = 5, passes: @escaping @Sendable (GenerationRequest) -> Bool = { $0.item == nil || $0.item == 0 },
            reply: @escaping @Sendable (GenerationRequest) -> Reply
        ) {
            self.opensAt = opensAt
            self.bound = bound
            self.passes = passes
            self.reply = reply
        }

        /// The most requests in flight at once.
        var peak: Int { lock.withLock { peakSeen } }
        var current: Int { lock.withLock { inFlight } }
        var requests: [GenerationRequest] { lock.withLock { recorded } }
        /// The items whose answers (or errors) ended, in the order they ended.
        var finished: [Int] { lock.withLock { finishedOrder } }

        func runtime(for model: ResolvedModel, snapshot: RunSnapshot) throws -> any LLMRuntime { self }

        func generate(_ request: GenerationRequest) -> AsyncThrowingStream<GenerationEvent, any Error> {
            lock.withLock {
                recorded.append(request)
                inFlight += 1
                peakSeen = max(peakSeen, inFlight)
                if inFlight >= opensAt { open = true }
            }
            let answer = reply(request)
            let held = !passes(request)
            return AsyncThrowingStream { continuation in
                let task = Task {
                    defer { self.lock.withLock { self.inFlight -= 1 } }
                    do {
                        let deadline = Date().addingTimeInterval(self.bound)
                        while held, !self.lock.withLock({ self.open }), Date() < deadline {
                            try await Task.sleep(for: .milliseconds(5))
                        }
                        switch answer {
                        case .text(let text, let delay, let after):
                            if delay > 0 { try await Task.sleep(for: .seconds(delay)) }
                            while let after, !self.finished.contains(after), Date() < deadline {
                                try await Task.sleep(for: .milliseconds(5))
                            }
                            continuation.yield(.token(text))
                            self.lock.withLock { self.finishedOrder.append(request.item ?? -1) }
                            continuation.yield(.finished(GenerationUsage(promptTokens: 1, outputTokens: 1)))
                            continuation.finish()
                        case .error(let error):
                            self.lock.withLock { self.finishedOrder.append(request.item ?? -1) }
                            continuation.finish(throwing: error)
                        case .hang:
                            try await Task.sleep(for: .seconds(3600))
                        }
                    } catch {
                        continuation.finish(throwing: error)
                    }
                }
                continuation.onTermination = { _ in task.cancel() }
            }
        }
    }

    static let pipeline = """
        version: 1
        inputs:
          xs: {}
        stages:
          each:
            model: [a, b]
            for_each: inputs.xs
            max_items: 20
            prompt: "Item {{item}}"
          join:
            model: a
            needs: [each]
            prompt: "{{#stages.each.items}}<{{index}}:{{output}}>{{/stages.each.items}}"
        """

    /// The pipeline's plan with `concurrency` on its fan-out stage (set by hand: without a profile, validation refuses
    /// it, as it should for models it cannot place).
    static func snapshot(_ yaml: String = pipeline, stage: String = "each", concurrency: Int) throws -> RunSnapshot {
        var snapshot = try BatonTestSupport.snapshot(yaml)
        let index = try #require(snapshot.plan.stages.firstIndex { $0.name == stage })
        snapshot.plan.stages[index].fanOut?.concurrency = concurrency
        return snapshot
    }

    static func run(
        _ snapshot: RunSnapshot, items: Int, runtime: GatedRuntime, store: RunStore, events: LockedList<RunEvent>? = nil
    ) async throws -> RunOutcome {
        let xs = "[" + (0..<items).map { "\"x\($0)\"" }.joined(separator: ", ") + "]"
        let inputs = try RunInputs.resolve(snapshot.plan.inputs, given: ["xs": xs])
        let executor = Executor(
            store: store, runtimes: runtime, observer: { events?.append($0) }, sleep: { _ in }, random: { 0.5 })
        return try await executor.start(snapshot, inputs: inputs, claim: .current())
    }

    /// Answers an item with "ok <prompt>" (once the item `after(item)` answered, if any), the join with its prompt.
    static func answers(after: @escaping @Sendable (Int) -> Int? = { _ in nil }) -> @Sendable (GenerationRequest) -> GatedRuntime.Reply {
        { request in
            guard let item = request.item else { return .text(request.prompt) }
            return .text("ok " + request.prompt, after: after(item))
        }
    }

    @Test(arguments: [2, 3, 4])
    func itemsRunUpToConcurrencyAtOnceAfterTheFirstRanAlone(_ width: Int) async throws {
        let store = try RunStore.inMemory()
        let runtime = GatedRuntime(opensAt: width, reply: Self.answers())
        let outcome = try await Self.run(try Self.snapshot(concurrency: width), items: 9, runtime: runtime, store: store)
        #expect(outcome == .completed(runID: outcome.runID))
        #expect(runtime.peak == width)
        // The first item ran alone: no other request started before it ended.
        #expect(runtime.requests.first?.item == 0)
        #expect(runtime.finished.first == 0)
        let attempts = try store.attempts(outcome.runID).filter { $0.stage == "each" }
        #expect(attempts.count == 9)
        #expect(Set(attempts.compactMap(\.item)) == Set(0..<9))
        #expect(attempts.allSatisfy { $0.status == .completed && $0.tryNumber == 1 })
    }

    @Test func withoutConcurrencyItemsRunOneAtATime() async throws {
        let store = try RunStore.inMemory()
        // Held for at most 0.2 s each: one at a time never opens a gate of 2.
        let runtime = GatedRuntime(opensAt: 2, bound: 0.2, reply: Self.answers())
        let outcome = try await Self.run(try Self.snapshot(concurrency: 1), items: 4, runtime: runtime, store: store)
        #expect(outcome == .completed(runID: outcome.runID))
        #expect(runtime.peak == 1)
        #expect(runtime.finished == [0, 1, 2, 3, -1])
    }

    @Test func resultsAndItemsAreInItemOrderWhenItemsFinishOutOfOrder() async throws {
        let store = try RunStore.inMemory()
        let events = LockedList<RunEvent>()
        // Later items answer sooner: 1, 2, 3 are in flight together and end 3, 2, 1.
        let runtime = GatedRuntime(opensAt: 3, reply: Self.answers { item in item == 1 || item == 2 ? item + 1 : nil })
        let outcome = try await Self.run(try Self.snapshot(concurrency: 3), items: 4, runtime: runtime, store: store, events: events)
        #expect(outcome == .completed(runID: outcome.runID))
        #expect(runtime.finished.prefix(4) == [0, 3, 2, 1], "the items did not finish out of order: \(runtime.finished)")
        #expect(runtime.requests.last?.prompt == "<1:ok Item x0><2:ok Item x1><3:ok Item x2><4:ok Item x3>")
        // Each item's attempt records its own item, prompt and fingerprint.
        let attempts = try store.attempts(outcome.runID).filter { $0.stage == "each" }
        #expect(attempts.map { "\($0.item ?? -1):\($0.prompt)" }.sorted() == (0..<4).map { "\($0):Item x\($0)" })
        #expect(attempts.allSatisfy { $0.output == "ok " + $0.prompt })
        #expect(Set(attempts.map(\.fingerprint)).count == 4)
        // Every item started and finished once, with its item in the events.
        let started = events.values.compactMap { event -> Int? in
            if case .attemptStarted("each", _, _, _, _, _, _, let item) = event { return item } else { return nil }
        }
        #expect(started.sorted() == [0, 1, 2, 3])
    }

    @Test func aVoteCountsTheSamplesInSampleOrderWhateverOrderTheyFinishIn() async throws {
        let yaml = """
            version: 1
            stages:
              label:
                model: m
                repeat: 5
                vote: label
                prompt: "Label"
                output: {format: json, schema: {type: object, required: [label], properties: {label: {type: string}}}}
              after:
                model: m
                prompt: "{{stages.label.vote.value}} {{stages.label.vote.count}}/{{stages.label.vote.total}} {{stages.label.output}}"
            """
        let store = try RunStore.inMemory()
        // Samples 1-4 answer ham, spam, ham, spam: a tie, which goes to the value whose first sample is earliest. In
        // sample order that is ham (sample 1); samples 1-4 run at once and end 4, 3, 2, 1, so counted in the order
        // they ended it would be spam.
        let labels = ["eggs", "ham", "spam", "ham", "spam"]
        let runtime = GatedRuntime(opensAt: 4) { request in
            guard let sample = request.item else { return .text(request.prompt) }
            return .text(#"{"label": "\#(labels[sample])", "n": \#(sample)}"#, after: (1...3).contains(sample) ? sample + 1 : nil)
        }
        let snapshot = try Self.snapshot(yaml, stage: "label", concurrency: 4)
        let executor = Executor(store: store, runtimes: runtime, sleep: { _ in }, random: { 0.5 })
        let outcome = try await executor.start(snapshot, inputs: [:], claim: .current())
        #expect(outcome == .completed(runID: outcome.runID))
        #expect(runtime.peak == 4)
        #expect(runtime.finished.prefix(5) == [0, 4, 3, 2, 1], "\(runtime.finished)")
        #expect(runtime.requests.filter { $0.stage == "label" }.compactMap(\.settings.seed).sorted() == [0, 1, 2, 3, 4])
        #expect(runtime.requests.last?.prompt == #"ham 2/5 {"label": "ham", "n": 1}"#)
    }

    @Test func oneFailingItemFailsTheStageOnceTheItemsInFlightEndWithTheirAttemptsRecorded() async throws {
        let store = try RunStore.inMemory()
        // Items 1, 2, 3 are in flight together; 2 fails, then 1 and 3 answer. Item 4 never starts.
        let runtime = GatedRuntime(opensAt: 3) { request in
            guard let item = request.item else { return .text(request.prompt) }
            if item == 2 { return .error(RuntimeError(.badResponse, "item two is broken", isTransient: false)) }
            return .text("ok " + request.prompt, after: item == 0 ? nil : 2)
        }
        let outcome = try await Self.run(try Self.snapshot(concurrency: 3), items: 5, runtime: runtime, store: store)
        guard case .failed(let id, let reason, _) = outcome else {
            Issue.record("\(outcome)")
            return
        }
        #expect(reason.contains("item two is broken"), "\(reason)")
        #expect(runtime.peak == 3)
        // The stage failed only once the items in flight had ended.
        #expect(runtime.finished.prefix(4) == [0, 2, 1, 3] || runtime.finished.prefix(4) == [0, 2, 3, 1], "\(runtime.finished)")
        let attempts = try store.attempts(id).filter { $0.stage == "each" }
        #expect(
            attempts.map { "\($0.item ?? -1):\($0.status.rawValue)" }.sorted() == ["0:completed", "1:completed", "2:failed", "3:completed"])
        #expect(attempts.filter { $0.item == 1 || $0.item == 3 }.allSatisfy { $0.output.hasPrefix("ok Item x") })
        #expect(!runtime.requests.contains { $0.item == 4 })
        #expect(!runtime.requests.contains { $0.stage == "join" })

        // A resume runs the failed item and the one never started, and reuses the rest.
        let fixed = GatedRuntime(opensAt: 2, passes: { _ in true }, reply: Self.answers())
        let executor = Executor(store: store, runtimes: fixed, sleep: { _ in }, random: { 0.5 })
        let second = try await executor.resume(id, claim: .current())
        #expect(second == .completed(runID: id))
        #expect(fixed.requests.map { $0.item ?? -1 } == [2, 4, -1])
        #expect(fixed.requests.last?.prompt == "<1:ok Item x0><2:ok Item x1><3:ok Item x2><4:ok Item x3><5:ok Item x4>")
    }

    @Test func aSignalInterruptsEveryItemInFlight() async throws {
        let store = try RunStore.inMemory()
        let runtime = GatedRuntime(opensAt: 3) { request in
            request.item == 0 ? .text("ok " + request.prompt) : .hang
        }
        let snapshot = try Self.snapshot(concurrency: 3)
        let task = Task { try await Self.run(snapshot, items: 6, runtime: runtime, store: store) }
        // A generous bound: under the whole suite on two cores this process can lag for tens of seconds (it once took
        // more than 20 s to reach the first item); the wait ends as soon as the three items are in flight.
        let deadline = Date().addingTimeInterval(180)
        while runtime.current < 3, Date() < deadline { try await Task.sleep(for: .milliseconds(5)) }
        #expect(runtime.current == 3)
        task.cancel()
        let outcome = try await task.value
        #expect(outcome == .interrupted(runID: outcome.runID))
        let attempts = try store.attempts(outcome.runID).filter { $0.stage == "each" }
        #expect(
            attempts.map { "\($0.item ?? -1):\($0.status.rawValue)" }.sorted() == [
                "0:completed", "1:interrupted", "2:interrupted", "3:interrupted",
            ])
        #expect(try store.run(outcome.runID).status == .interrupted)
    }

    @Test func aChainFallsBackOnceNotOncePerItemInFlight() async throws {
        let store = try RunStore.inMemory()
        let events = LockedList<RunEvent>()
        // Model a serves the first item, then is gone: items 1, 2, 3 fail on it together. Item 1 runs again alone,
        // fails again, and moves the stage to b; the others follow on b, at once.
        let runtime = GatedRuntime(
            opensAt: 3, passes: { $0.item == nil || $0.item == 0 || ($0.item == 1 && $0.model == "b") }
        ) { request in
            if request.model == "a", let item = request.item, item > 0 {
                return .error(RuntimeError(.modelNotFound, "model 'a' not found", isTransient: false))
            }
            return .text("ok \(request.model) " + request.prompt)
        }
        let outcome = try await Self.run(try Self.snapshot(concurrency: 3), items: 6, runtime: runtime, store: store, events: events)
        #expect(outcome == .completed(runID: outcome.runID))
        let fallbacks = try store.events(outcome.runID, kind: .modelFallback)
        #expect(fallbacks.count == 1)
        #expect(fallbacks.first?.payload?.contains(#""to":"b""#) == true, "\(fallbacks)")
        let each = runtime.requests.filter { $0.stage == "each" }
        #expect(each.filter { $0.model == "a" }.map { $0.item ?? -1 }.sorted() == [0, 1, 1, 2, 3])
        #expect(each.filter { $0.model == "b" }.map { $0.item ?? -1 }.sorted() == [1, 2, 3, 4, 5])
        #expect(runtime.peak == 3)
        #expect(
            runtime.requests.last?.prompt
                == "<1:ok a Item x0><2:ok b Item x1><3:ok b Item x2><4:ok b Item x3><5:ok b Item x4><6:ok b Item x5>")
        // Item 1's tries are numbered on: 1 and 2 on a (failed), 3 on b.
        let item1 = try store.attempts(outcome.runID).filter { $0.stage == "each" && $0.item == 1 }
        #expect(item1.map { "\($0.tryNumber):\($0.model ?? ""):\($0.status.rawValue)" } == ["1:a:failed", "2:a:failed", "3:b:completed"])
    }

    @Test func aResumeReusesCompletedItemsAndRunsTheRestAtOnce() async throws {
        let store = try RunStore.inMemory()
        // Items 0-5: 2 and 4 fail (permanently) in the first run.
        let broken = GatedRuntime(opensAt: 3) { request in
            guard let item = request.item else { return .text(request.prompt) }
            if item == 2 || item == 4 { return .error(RuntimeError(.badResponse, "boom", isTransient: false)) }
            return .text("ok " + request.prompt, delay: item == 0 ? 0 : 0.1)
        }
        let first = try await Self.run(try Self.snapshot(concurrency: 3), items: 6, runtime: broken, store: store)
        let id = first.runID
        let done = Set(try store.attempts(id).filter { $0.stage == "each" && $0.status == .completed }.compactMap(\.item))
        #expect(done.contains(0) && !done.contains(2) && !done.contains(4))

        // The first item that runs on resume runs alone; the rest at once. No completed item runs again.
        let todo = Set(0..<6).subtracting(done).sorted()
        let fixed = GatedRuntime(opensAt: 2, passes: { $0.item == todo.first || $0.item == nil }, reply: Self.answers())
        let executor = Executor(store: store, runtimes: fixed, sleep: { _ in }, random: { 0.5 })
        let second = try await executor.resume(id, claim: .current())
        #expect(second == .completed(runID: id))
        #expect(fixed.requests.compactMap(\.item).sorted() == todo)
        #expect(fixed.requests.first?.item == todo.first)
        if todo.count > 2 { #expect(fixed.peak == 2) }
        #expect(fixed.requests.last?.prompt == (0..<6).map { "<\($0 + 1):ok Item x\($0)>" }.joined())
    }

    @Test func underAForcedRuntimeWithoutParallelSlotsItemsRunOneAtATime() throws {
        var snapshot = try Self.snapshot(concurrency: 4)
        let stage = try #require(snapshot.plan.stages.first)
        let fanOut = try #require(stage.fanOut)
        let state = try RunState(runID: "r", snapshot: snapshot, inputs: [:], store: try RunStore.inMemory())
        #expect(Executor.concurrency(of: stage, fanOut, state: state) == 4)
        snapshot.forcedRuntime = "echo"
        let forced = try RunState(runID: "r", snapshot: snapshot, inputs: [:], store: try RunStore.inMemory())
        #expect(Executor.concurrency(of: stage, fanOut, state: forced) == 1)
    }
}

/// The fan-out leftovers of issue 11 (briefs s8/CC.md part 2): the run summary counts retries per item and round, and a
/// critic reviewing a fan-out stage reads downstream as every item's verdict, not the last item's.
@Suite struct FanOutSummaryAndVerdictTests {
    static let tenItems = """
        version: 1
        inputs:
          xs: {}
        stages:
          each:
            model: m
            for_each: inputs.xs
            max_items: 10
            retry: {max_attempts: 3, initial_backoff: 10ms}
            prompt: "Item {{item}}"
        """

    /// Runs the ten-item pipeline; the items in `blips` fail once (transiently) before answering.
    static func run(blips: Set<Int>) async throws -> RunReport {
        let store = try RunStore.inMemory()
        let failed = LockedList<Int>()
        let runtime = ScriptedRuntime { request, _ in
            if let item = request.item, blips.contains(item), !failed.values.contains(item) {
                failed.append(item)
                return .error(RuntimeError(.badResponse, "blip", isTransient: true))
            }
            return .text("ok")
        }
        let pipeline = try snapshot(Self.tenItems)
        let inputs = try RunInputs.resolve(pipeline.plan.inputs, given: ["xs": "[0, 1, 2, 3, 4, 5, 6, 7, 8, 9]"])
        let executor = Executor(store: store, runtimes: runtime, sleep: { _ in }, random: { 0.5 })
        let outcome = try await executor.start(pipeline, inputs: inputs, claim: .current())
        #expect(outcome == .completed(runID: outcome.runID))
        return try RunReport.load(outcome.runID, from: store, attempts: .summary)
    }

    @Test func aTenItemStageWithNoRetriesReportsTenItemsAndNoRetries() async throws {
        let totals = try #require(try await Self.run(blips: []).stageTotals.first)
        #expect(totals.items == 10)
        #expect(totals.retries == 0)
        #expect(totals.tries == 10)
        #expect(totals.rounds == 1)
    }

    @Test func retriesAreTheTriesBeyondTheFirstOfEachItem() async throws {
        let totals = try #require(try await Self.run(blips: [3, 7]).stageTotals.first)
        #expect(totals.items == 10)
        #expect(totals.retries == 2)
        #expect(totals.tries == 12)
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
            prompt: "Write about {{item}}"
          check:
            model: m
            reviews: write
            max_rounds: 2
            on_exhausted: accept
            prompt: "Check {{item}}: {{stages.write.output}}"
          after:
            model: m
            needs: [check]
            prompt: "{{stages.check.verdict}}|{{stages.check.feedback}}"
        """

    /// The critic approves every item but those in `refused`, which it asks to revise in every round.
    static func critic(refusing refused: Set<String>) -> ScriptedRuntime {
        ScriptedRuntime { request, _ in
            guard request.stage == "check" else { return .text(request.prompt) }
            let topic = request.prompt.dropFirst("Check ".count).prefix { $0 != ":" }
            return .text(
                refused.contains(String(topic))
                    ? #"{"verdict": "revise", "feedback": "shorter \#(topic)"}"# : #"{"verdict": "approve", "feedback": ""}"#)
        }
    }

    @Test func aCriticOfAFanOutStageApprovesDownstreamOnlyWhenEveryItemWasApproved() async throws {
        // The middle item is never approved (the loop gives up and accepts it); the last one is.
        let store = try RunStore.inMemory()
        let runtime = Self.critic(refusing: ["cake"])
        let pipeline = try snapshot(Self.reviewed)
        let inputs = try RunInputs.resolve(pipeline.plan.inputs, given: ["topics": #"["tea", "cake", "jam"]"#])
        let executor = Executor(store: store, runtimes: runtime, sleep: { _ in }, random: { 0.5 })
        let outcome = try await executor.start(pipeline, inputs: inputs, claim: .current())
        #expect(outcome == .completed(runID: outcome.runID))
        #expect(runtime.requests.last?.prompt == "revise|item 2: shorter cake")

        // Every item approved: approve, with no feedback.
        let approving = Self.critic(refusing: [])
        let second = try await Executor(store: store, runtimes: approving, sleep: { _ in }, random: { 0.5 })
            .start(pipeline, inputs: inputs, claim: .current())
        #expect(second == .completed(runID: second.runID))
        #expect(approving.requests.last?.prompt == "approve|")
    }

    @Test func theCombinedVerdictListsEachItemsLastVerdict() throws {
        let stage = try #require(try snapshot(Self.reviewed).plan.stage(named: "check"))
        let verdicts = try [
            (0, StageResult(output: #"{"verdict": "approve", "feedback": ""}"#, stage: stage)),
            (1, StageResult(output: #"{"verdict": "revise", "feedback": "shorter"}"#, stage: stage)),
        ]
        let combined = Executor.combinedVerdict(verdicts.map { (index: $0.0, result: $0.1) }, items: [.string("tea"), .string("cake")])
        #expect(combined.verdict == "revise")
        #expect(combined.feedback == "item 2: shorter")
        #expect(
            combined.itemsValue
                == .array([
                    .object([("index", .number(1)), ("item", .string("tea")), ("verdict", .string("approve")), ("feedback", .string(""))]),
                    .object([
                        ("index", .number(2)), ("item", .string("cake")), ("verdict", .string("revise")), ("feedback", .string("shorter")),
                    ]),
                ]))
        #expect(Executor.combinedVerdict([], items: []).verdict == "approve")
    }
}

/// `RunReport.outputs` of a fan-out result stage (what `baton run` prints): the same text later stages read.
@Suite struct FanOutReportOutputTests {
    @Test func aFanOutResultStagePrintsItsItemsInItemOrderWhateverOrderTheyFinishedIn() async throws {
        let yaml = """
            version: 1
            inputs:
              xs: {}
            outputs: [each]
            stages:
              each:
                model: m
                for_each: inputs.xs
                max_items: 5
                prompt: "Item {{item}}"
            """
        let store = try RunStore.inMemory()
        // Items 1-3 run at once and end 3, 2, 1.
        let runtime = FanOutConcurrencyTests.GatedRuntime(opensAt: 3) { request in
            let item = request.item ?? 0
            return .text("ok \(item)", delay: item == 0 ? 0 : Double(4 - item) * 0.1)
        }
        var pipeline = try snapshot(yaml)
        pipeline.plan.stages[0].fanOut?.concurrency = 3
        let inputs = try RunInputs.resolve(pipeline.plan.inputs, given: ["xs": "[0, 1, 2, 3]"])
        let outcome = try await Executor(store: store, runtimes: runtime, sleep: { _ in }, random: { 0.5 })
            .start(pipeline, inputs: inputs, claim: .current())
        #expect(outcome == .completed(runID: outcome.runID))
        let report = try RunReport.load(outcome.runID, from: store, attempts: .summary)
        #expect(report.outputs.map(\.output) == ["ok 0\n\nok 1\n\nok 2\n\nok 3"])
    }

    @Test func aVotingResultStagePrintsTheFirstSampleHoldingTheWinningValue() async throws {
        let yaml = """
            version: 1
            outputs: [label]
            stages:
              label:
                model: m
                repeat: 5
                vote: label
                prompt: "Label"
                output: {format: json, schema: {type: object, required: [label], properties: {label: {type: string}}}}
            """
        let store = try RunStore.inMemory()
        let labels = ["ham", "spam", "spam", "ham", "spam"]
        let runtime = ScriptedRuntime { request, _ in .text(#"{"label": "\#(labels[request.item ?? 0])", "n": \#(request.item ?? 0)}"#) }
        let outcome = try await Executor(store: store, runtimes: runtime, sleep: { _ in }, random: { 0.5 })
            .start(try snapshot(yaml), inputs: [:], claim: .current())
        #expect(outcome == .completed(runID: outcome.runID))
        let report = try RunReport.load(outcome.runID, from: store, attempts: .summary)
        #expect(report.outputs.map(\.output) == [#"{"label": "spam", "n": 1}"#])
    }
}
