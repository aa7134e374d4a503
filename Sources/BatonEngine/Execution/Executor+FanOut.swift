import BatonSpec
import Crypto
import Foundation

/// Fan-out (`for_each`) and voting (`repeat` + `vote`), issue 11; docs/runs-and-resume.md, "Fan-out and voting".
///
/// When the walk reaches a fan-out stage (its `when:` decided already), its list is evaluated once and pinned as an
/// `items-expanded` event before the first item runs; a resumed run reads that event back (same stage fingerprint)
/// and never evaluates the list again. Each item then runs as a stage of its own through ``runStage(_:round:state:)``
/// (retries, fallbacks), keyed (stage, item, round), with the item under its `as` name and `item_index` (from 1)
/// in the templates; its fingerprint is the stage's plus the SHA-256 of the item's JSON.
///
/// `concurrency: N` (validation allows it only on remote runtimes or ones declaring `parallel: N`) runs up to N items
/// at once, each on its own copy of the run state (``runItemsAtOnce(_:_:items:width:state:)``); the first item that
/// runs does so alone, so the model is resident before items share it, and nothing loads or unloads while items are
/// in flight. A critic reviewing a fan-out stage runs its loop per item, one item after another, when the walk
/// reaches the critic: round 1 of every item may have run at once, the revisions do not.
extension Executor {
    /// Runs every item of `stage` (round 1; a critic's loop comes later) and collects the results.
    func runFanOut(_ stage: PlannedStage, _ fanOut: FanOut, state: inout RunState) async throws {
        let items = try pinItems(stage, fanOut, state: &state)
        let width = Self.concurrency(of: stage, fanOut, state: state)
        var results: [StageResult] = []
        if width > 1, items.count > 1 {
            results = try await runItemsAtOnce(stage, fanOut, items: items, width: width, state: &state)
        } else {
            results.reserveCapacity(items.count)
            defer { state.currentItem = nil }
            for (index, value) in items.enumerated() {
                let item = Self.itemContext(index, value: value, fanOut: fanOut)
                results.append(try await runItem(stage, item, count: items.count, state: &state))
            }
        }
        if stage.reviewedBy != nil { state.itemResults[stage.name] = results }
        // A reviewed stage's collection is built again, and its vote counted, once its critic loops are done.
        try collect(stage, fanOut, items: items, results: results, final: stage.reviewedBy == nil, state: &state)
    }

    /// Runs (or reuses) round 1 of one item on `state` itself.
    private func runItem(_ stage: PlannedStage, _ item: ItemContext, count: Int, state: inout RunState) async throws -> StageResult {
        state.currentItem = item
        observer(.itemStarted(stage: stage.name, item: item.index, count: count, summary: Self.itemSummary(item.value)))
        let result = try await runStage(stage, round: 1, state: &state)
        if stage.reviewedBy == nil { killSwitch?.hit(.itemDone) }
        return result
    }

    /// How many items of `stage` may run at once: its `concurrency`, which validation allowed for the runtimes of its
    /// models; under `--runtime R` (every stage sent to R, which validation did not check) at most what R allows: all
    /// of it on a remote runtime, else R's `parallel` slots (1 without).
    static func concurrency(of stage: PlannedStage, _ fanOut: FanOut, state: RunState) -> Int {
        guard fanOut.concurrency > 1 else { return 1 }
        guard let forced = state.snapshot.forcedRuntime else { return fanOut.concurrency }
        guard let runtime = state.snapshot.profile?.spec.runtime(named: forced) else { return 1 }
        switch runtime.kind {
        case .openai, .anthropic: return fanOut.concurrency
        default: return min(fanOut.concurrency, runtime.parallel ?? 1)
        }
    }

    // MARK: - Items at once

    /// Runs the items of `stage` up to `width` at once, and returns their results in item order.
    ///
    /// Items whose round 1 completed earlier (same fingerprint) are reused in order, never run again. Until one item
    /// has run on the stage's current model, items run one at a time (the first loads the model and proves the
    /// runtime); then the rest run `width` at once (``runWindow(_:_:items:pending:width:results:state:)``). An item
    /// whose model fails in a way that moves the stage down its chain does not fall back by itself: no new item
    /// starts, those in flight end, and the failed item runs again alone, through the chain as any item does; if its
    /// model fails again the stage falls back once, the item runs on the next model, and the rest continue at once on
    /// that model. A failure that ends the stage ends it once the items in flight have ended (their attempts are
    /// recorded); a signal interrupts every item in flight.
    private func runItemsAtOnce(
        _ stage: PlannedStage, _ fanOut: FanOut, items: [JSONValue], width: Int, state: inout RunState
    ) async throws -> [StageResult] {
        var results = [StageResult?](repeating: nil, count: items.count)
        // Items without a result, in item order.
        var pending = ArraySlice(items.indices)
        // Whether an item has run (not been reused) on the stage's current model since items last ran at once.
        var proven = false
        defer { state.currentItem = nil }
        while let first = pending.first {
            let item = Self.itemContext(first, value: items[first], fanOut: fanOut)
            let done = Self.isDone(stage, item, state: state)
            if done || !proven {
                results[first] = try await runItem(stage, item, count: items.count, state: &state)
                pending.removeFirst()
                proven = proven || !done
                continue
            }
            let failure = await runWindow(stage, fanOut, items: items, pending: pending, width: width, results: &results, state: &state)
            if let failure { throw failure }
            pending = ArraySlice(pending.filter { results[$0] == nil })
            // What is left after a window without a failure is an item whose model failed: it runs alone first.
            proven = false
        }
        return results.map { $0! }
    }

    /// Runs `pending` items up to `width` at once until they are all done or one fails; fills `results` and merges
    /// each item's tries into `state`. Returns the error that ends the stage (a signal's `CancellationError`, else the
    /// failure of the earliest failed item), or nil; an item whose model failed (``DeferredFallback``) is left
    /// without a result, to run again alone.
    private func runWindow(
        _ stage: PlannedStage, _ fanOut: FanOut, items: [JSONValue], pending: ArraySlice<Int>, width: Int,
        results: inout [StageResult?], state: inout RunState
    ) async -> (any Error)? {
        await withTaskGroup(of: Handoff<ItemRun>.self) { group in
            var queue = pending.makeIterator()
            var running = 0
            var stopping = false
            var failures: [(index: Int, error: any Error)] = []
            while true {
                while !stopping, running < width, let index = queue.next() {
                    if Task.isCancelled {
                        stopping = true
                        failures.append((index, CancellationError()))
                        break
                    }
                    var item = Self.itemContext(index, value: items[index], fanOut: fanOut)
                    if Self.isDone(stage, item, state: state) {
                        // Reused on the state itself, in item order as the queue reaches it.
                        do {
                            results[index] = try await runItem(stage, item, count: items.count, state: &state)
                        } catch {
                            stopping = true
                            failures.append((index, error))
                        }
                        continue
                    }
                    item.concurrent = true
                    let key = StageRound(stage: stage.name, item: index, round: 1)
                    // The item's own copy: the fields runStage changes for an item are its tries (merged back below),
                    // the stage's latest result (collected below) and the parsed templates (a cache). The completed
                    // attempts are left out: reuse was decided here, and a copy that changes nothing copies nothing.
                    var copy = state
                    copy.currentItem = item
                    copy.completed = [:]
                    copy.triesSoFar = state.triesSoFar[key].map { [key: $0] } ?? [:]
                    observer(.itemStarted(stage: stage.name, item: index, count: items.count, summary: Self.itemSummary(item.value)))
                    let handoff = Handoff(copy)
                    group.addTask { [self] in
                        var state = handoff.value
                        let outcome: Result<StageResult, any Error>
                        do {
                            outcome = .success(try await runStage(stage, round: 1, state: &state))
                        } catch {
                            outcome = .failure(error)
                        }
                        return Handoff(ItemRun(index: index, outcome: outcome, tries: state.triesSoFar[key]))
                    }
                    running += 1
                }
                guard running > 0, let finished = await group.next()?.value else { break }
                running -= 1
                if let tries = finished.tries {
                    state.triesSoFar[StageRound(stage: stage.name, item: finished.index, round: 1)] = tries
                }
                switch finished.outcome {
                case .success(let result):
                    results[finished.index] = result
                    state.record(stage: stage.name, result)
                    if stage.reviewedBy == nil { killSwitch?.hit(.itemDone) }
                case .failure(let error) where error is DeferredFallback:
                    stopping = true
                case .failure(let error):
                    stopping = true
                    failures.append((finished.index, error))
                }
            }
            if Task.isCancelled || failures.contains(where: { $0.error is CancellationError }) { return CancellationError() }
            return failures.min { $0.index < $1.index }?.error
        }
    }

    /// Whether round 1 of `item` completed earlier with its current fingerprint (``runStage(_:round:state:)`` reuses it).
    private static func isDone(_ stage: PlannedStage, _ item: ItemContext, state: RunState) -> Bool {
        guard let done = state.completed[StageRound(stage: stage.name, item: item.index, round: 1)] else { return false }
        return done.fingerprint == (state.fingerprints[stage.name] ?? "") + item.fingerprintSuffix
    }

    /// The critic loop of a reviewed fan-out stage, item by item, each with its own history and feedback.
    ///
    /// The loops run one after another, even when the stage's items ran at once: a loop alternates the critic and a
    /// revision of one item, and the verdicts are few next to the items' answers. What later stages read as
    /// `stages.CRITIC` is every item's last verdict at once (``combinedVerdict(_:items:)``), not the last item's.
    func runCriticLoopPerItem(critic: PlannedStage, loop: CriticLoop, state: inout RunState) async throws {
        guard let reviewed = state.snapshot.plan.stage(named: loop.reviews), let fanOut = reviewed.fanOut,
            let items = state.pinned[reviewed.name]?.items
        else { return }
        var results = state.itemResults[reviewed.name] ?? []
        var verdicts: [(index: Int, result: StageResult)] = []
        defer { state.currentItem = nil }
        for index in items.indices where index < results.count {
            state.currentItem = Self.itemContext(index, value: items[index], fanOut: fanOut)
            state.results[reviewed.name] = results[index]
            state.history[reviewed.name] = nil
            state.feedback[reviewed.name] = nil
            state.results[critic.name] = nil
            try await runCriticLoop(critic: critic, loop: loop, state: &state)
            if let latest = state.results[reviewed.name] { results[index] = latest }
            if let verdict = state.results[critic.name] { verdicts.append((index, verdict)) }
            killSwitch?.hit(.itemDone)
        }
        state.history[reviewed.name] = nil
        state.itemResults[reviewed.name] = nil
        state.record(stage: critic.name, Self.combinedVerdict(verdicts, items: items))
        try collect(reviewed, fanOut, items: items, results: results, final: true, state: &state)
    }

    /// `stages.CRITIC` of a critic reviewing a fan-out stage: `verdict` is `approve` only when every item's last
    /// verdict was (so with no items), else `revise`; `feedback` the last feedback of each item not approved
    /// (`item 2: ...`, one a line); `items` each item's `{index (from 1), item, verdict, feedback}`; `output` the
    /// items' last verdicts joined by a blank line.
    static func combinedVerdict(_ verdicts: [(index: Int, result: StageResult)], items: [JSONValue]) -> StageResult {
        var combined = StageResult(output: verdicts.map(\.result.output).joined(separator: "\n\n"), json: nil, jsonValue: nil)
        let revised = verdicts.filter { $0.result.verdict != "approve" }
        combined.verdict = revised.isEmpty ? "approve" : "revise"
        combined.feedback = revised.map { "item \($0.index + 1): \($0.result.feedback ?? "")" }.joined(separator: "\n")
        var entries: [[String: Any]] = []
        var values: [JSONValue] = []
        for (index, result) in verdicts {
            let verdict = result.verdict ?? "revise"
            let feedback = result.feedback ?? ""
            var entry: [String: Any] = ["index": index + 1, "verdict": verdict]
            if let item = StageResult.mustacheValue(items[index]) { entry["item"] = item }
            if !feedback.isEmpty { entry["feedback"] = feedback }
            entries.append(entry)
            values.append(
                .object([
                    ("index", .number(Double(index + 1))), ("item", items[index]), ("verdict", .string(verdict)),
                    ("feedback", .string(feedback)),
                ]))
        }
        combined.items = entries
        combined.itemsValue = .array(values)
        return combined
    }

    // MARK: - The list

    /// The pinned list of `stage`: read back from the store (same fingerprint), or evaluated, checked against
    /// `max_items` and recorded before any item runs.
    ///
    /// - Throws: ``StageFailure`` when the list cannot be evaluated, is not a list, or is longer than `max_items`.
    func pinItems(_ stage: PlannedStage, _ fanOut: FanOut, state: inout RunState) throws -> [JSONValue] {
        let fingerprint = state.fingerprints[stage.name] ?? ""
        if let pinned = state.pinned[stage.name], pinned.fingerprint == fingerprint {
            observer(.itemsExpanded(stage: stage.name, count: pinned.items.count, reused: true))
            return pinned.items
        }
        let items: [JSONValue]
        if let source = fanOut.source {
            items = try Self.evaluateItems(source, stage: stage, state: state)
        } else {
            items = (0..<(fanOut.repeatCount ?? fanOut.maxItems)).map { .number(Double($0)) }
        }
        guard items.count <= fanOut.maxItems else {
            let what = fanOut.source.map { "for_each '\($0.text)'" } ?? "repeat"
            throw StageFailure(
                message:
                    "stage '\(stage.name)': \(what) gave \(items.count) items, more than its max_items: \(fanOut.maxItems); raise max_items (at most 10000) or shorten the list",
                runtimeUnavailable: false)
        }
        let pinned = PinnedItems(fingerprint: fingerprint, items: items)
        try store.appendEvent(state.runID, kind: .itemsExpanded, stage: stage.name, payload: pinned.payload)
        state.pinned[stage.name] = pinned
        killSwitch?.hit(.itemsExpanded)
        observer(.itemsExpanded(stage: stage.name, count: items.count, reused: false))
        return items
    }

    /// Evaluates a `for_each` expression with the values conditions see; an input's text is parsed as a JSON array.
    static func evaluateItems(_ source: BatonSpec.Expression, stage: PlannedStage, state: RunState) throws -> [JSONValue] {
        let values = conditionValues(for: source, stage: stage, state: state)
        let value: JSONValue
        do {
            value = try source.evaluate(values)
        } catch {
            throw StageFailure(
                message: "stage '\(stage.name)': its for_each '\(source.text)' cannot be evaluated: \(error.message)",
                runtimeUnavailable: false)
        }
        switch value {
        case .array(let items):
            return items
        case .string(let text):
            if case .array(let items)? = OrderedJSON.parse(text) { return items }
            let shown = text.count > 60 ? String(text.prefix(60)) + "…" : text
            throw StageFailure(
                message:
                    "stage '\(stage.name)': its for_each '\(source.text)' is the text '\(shown)', not a JSON array; give a JSON array such as [\"a\", \"b\"]",
                runtimeUnavailable: false)
        default:
            throw StageFailure(
                message: "stage '\(stage.name)': its for_each '\(source.text)' is \(jsonText(value)), not a list; point it at a JSON array",
                runtimeUnavailable: false)
        }
    }

    /// What an item's attempts, fingerprint and templates take.
    static func itemContext(_ index: Int, value: JSONValue, fanOut: FanOut) -> ItemContext {
        let digest = Fingerprints.hex(SHA256.hash(data: Data(jsonText(value).utf8)))
        return ItemContext(
            index: index, name: fanOut.itemName, value: value, fingerprintSuffix: "/item:" + digest,
            sample: fanOut.source == nil ? index : nil)
    }

    /// An item in one short line: a string as it is, anything else as JSON; cut at 60 characters.
    static func itemSummary(_ value: JSONValue) -> String {
        var text: String
        if case .string(let string) = value { text = string } else { text = jsonText(value) }
        text = text.replacingOccurrences(of: "\n", with: " ")
        return text.count > 60 ? String(text.prefix(60)) + "…" : text
    }

    // MARK: - The collection

    /// Makes `stages.X` of a fan-out stage: `items`, `output` (the items' outputs joined by a blank line) and, with
    /// `vote`, the vote (the first sample holding the winning value gives `output` and `json`).
    private func collect(
        _ stage: PlannedStage, _ fanOut: FanOut, items: [JSONValue], results: [StageResult], final: Bool, state: inout RunState
    ) throws {
        var entries: [[String: Any]] = []
        var values: [JSONValue] = []
        entries.reserveCapacity(results.count)
        values.reserveCapacity(results.count)
        for (index, result) in results.enumerated() {
            var entry: [String: Any] = ["index": index + 1]
            if let item = StageResult.mustacheValue(items[index]) { entry["item"] = item }
            if !result.output.isEmpty { entry["output"] = result.output }
            if let json = result.json { entry["json"] = json }
            entries.append(entry)
            var fields: [(key: String, value: JSONValue)] = [
                ("index", .number(Double(index + 1))), ("item", items[index]), ("output", .string(result.output)),
            ]
            if let json = result.jsonValue { fields.append(("json", json)) }
            values.append(.object(fields))
        }
        var collection = StageResult(output: results.map(\.output).joined(separator: "\n\n"), json: nil, jsonValue: nil)
        collection.items = entries
        collection.itemsValue = .array(values)
        if let field = fanOut.vote, final {
            let tally = try Self.count(field, results: results, stage: stage)
            let winner = tally.winner
            collection.output = results[winner.firstSample].output
            collection.json = results[winner.firstSample].json
            collection.jsonValue = results[winner.firstSample].jsonValue
            collection.vote = [
                "value": winner.value, "count": winner.count, "total": results.count,
                "tally": tally.order.map { ["value": $0.value, "count": $0.count] as [String: Any] },
            ]
            let voteFields: [(key: String, value: JSONValue)] = [
                ("value", .string(winner.value)), ("count", .number(Double(winner.count))), ("total", .number(Double(results.count))),
                ("tally", .array(tally.order.map { .object([("value", .string($0.value)), ("count", .number(Double($0.count)))]) })),
            ]
            collection.voteValue = .object(voteFields)
            if !state.votesRecorded.contains(stage.name) {
                let payload = JSONValue.object([("field", .string(field))] + voteFields)
                try store.appendEvent(state.runID, kind: .voteCounted, stage: stage.name, payload: Self.jsonText(payload))
                state.votesRecorded.insert(stage.name)
            }
            observer(
                .voteCounted(
                    stage: stage.name, field: field, value: winner.value, count: winner.count, total: results.count,
                    tally: tally.order.map { ($0.value, $0.count) }))
        }
        state.record(stage: stage.name, collection)
    }

    /// The samples' values of `field`, in the order they first appear, and the majority (ties: the earliest sample).
    ///
    /// - Throws: ``StageFailure`` when no sample's JSON answer has the field.
    static func count(_ field: String, results: [StageResult], stage: PlannedStage) throws -> Tally {
        var tally = Tally()
        var position: [String: Int] = [:]
        for (sample, result) in results.enumerated() {
            guard let found = result.jsonValue.flatMap({ value(at: field, in: $0) }), found != .null else { continue }
            let text = routeText(found) ?? jsonText(found)
            if let at = position[text] {
                tally.order[at].count += 1
            } else {
                position[text] = tally.order.count
                tally.order.append(Tally.Entry(value: text, count: 1, firstSample: sample))
            }
        }
        guard !tally.order.isEmpty else {
            throw StageFailure(
                message:
                    "stage '\(stage.name)': none of its \(results.count) samples answered a value at '\(field)' to vote on; make '\(field)' required in its output schema",
                runtimeUnavailable: false)
        }
        return tally
    }
}

/// A vote's count: each value seen, in the order first seen.
struct Tally {
    struct Entry {
        var value: String
        var count: Int
        var firstSample: Int
    }

    var order: [Entry] = []

    /// The value with the most samples; of equal counts, the one whose first sample came earliest.
    var winner: Entry {
        var best = order[0]
        for entry in order.dropFirst() where entry.count > best.count { best = entry }
        return best
    }
}

/// The fan-out item being run.
struct ItemContext {
    /// From 0.
    var index: Int
    /// The item's name in templates (`as`).
    var name: String
    var value: JSONValue
    /// Appended to the stage's fingerprint: the SHA-256 of the item's JSON.
    var fingerprintSuffix: String
    /// For `repeat`: the sample number, added to the seed.
    var sample: Int?
    /// Whether the item runs beside others (`concurrency`): it loads and unloads nothing, and a model failure that
    /// would move the stage down its chain is handed back (``DeferredFallback``) instead.
    var concurrent = false
}

/// What a fan-out item running beside others hands back: its result or error, and its tries so far.
struct ItemRun {
    var index: Int
    var outcome: Result<StageResult, any Error>
    var tries: Int?
}

/// The failure of an item running beside others, whose model failed in a way that moves a stage down its chain: the
/// fallback is left to the item's run alone (``Executor/runItemsAtOnce``), so a chain falls back once, not per item.
struct DeferredFallback: Error {
    var failure: StageFailure
}

/// Hands a value to or from a fan-out item's task. The run state and results hold `Any` (Mustache values built from
/// JSON: strings, numbers, arrays, dictionaries), so they are not `Sendable`; each handed value is a copy that only
/// one task uses at a time.
struct Handoff<Value>: @unchecked Sendable {
    var value: Value

    init(_ value: Value) {
        self.value = value
    }
}

/// A fan-out stage's list as pinned in its `items-expanded` event.
struct PinnedItems {
    /// The stage's fingerprint when the list was evaluated: a changed stage (`--use-current-pipeline`) expands again.
    var fingerprint: String
    var items: [JSONValue]

    init(fingerprint: String, items: [JSONValue]) {
        self.fingerprint = fingerprint
        self.items = items
    }

    /// Reads an `items-expanded` payload; nil when it is not one.
    init?(payload: String) {
        guard let value = OrderedJSON.parse(payload),
            case .array(let items)? = value["items"]
        else { return nil }
        self.fingerprint = value["fingerprint"]?.stringValue ?? ""
        self.items = items
    }

    /// `{"count": N, "fingerprint": F, "items": [...]}`.
    var payload: String {
        Executor.jsonText(
            .object([("count", .number(Double(items.count))), ("fingerprint", .string(fingerprint)), ("items", .array(items))]))
    }
}
