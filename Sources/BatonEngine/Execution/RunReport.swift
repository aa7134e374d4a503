import BatonSpec
import Foundation

/// A run as `baton show`, `baton runs` and the end-of-run summary present it.
public struct RunReport: Sendable {
    /// The run.
    public var run: RunRecord
    /// Its pinned snapshot.
    public var snapshot: RunSnapshot
    /// Its inputs.
    public var inputs: [String: String]
    /// Every attempt, in order.
    public var attempts: [AttemptRecord]

    /// Per-stage totals.
    public struct StageTotals: Sendable, Hashable {
        public var stage: String
        /// The most critic rounds the stage (any of its items) went through.
        public var rounds: Int
        /// Every attempt of the stage: one per item and round, plus its retries.
        public var tries: Int
        public var seconds: Double
        public var promptTokens: Int
        public var outputTokens: Int
        public var status: String
        /// For a fan-out or `repeat` stage, the items (or samples) that ran; 0 outside fan-out.
        public var items: Int = 0
        /// Tries beyond the first of each item and round (a retry, or a run again after a crash or a fallback): a
        /// 10-item stage whose items each answered at once has 10 tries and 0 retries.
        public var retries: Int = 0
    }

    /// Creates a report from its parts.
    public init(run: RunRecord, snapshot: RunSnapshot, inputs: [String: String], attempts: [AttemptRecord]) {
        self.run = run
        self.snapshot = snapshot
        self.inputs = inputs
        self.attempts = attempts
    }

    /// How much of each attempt a report loads.
    public enum AttemptDetail: Sendable {
        /// No attempts.
        case none
        /// Counts, times, tokens and verdicts, and the outputs of the result stages only (for summaries).
        case summary
        /// Everything, prompts included (for `show`).
        case full
    }

    /// Loads run `id` with its attempts at the given detail.
    ///
    /// - Parameter snapshot: the run's snapshot when the caller has it decoded already.
    public static func load(_ id: String, from store: RunStore, attempts detail: AttemptDetail = .full, snapshot: RunSnapshot? = nil) throws
        -> RunReport
    {
        let run = try store.run(id)
        let snapshot = try snapshot ?? RunSnapshot.decode(run.snapshot)
        let attempts: [AttemptRecord]
        switch detail {
        case .none: attempts = []
        case .summary: attempts = try store.attemptsWithoutPrompts(id, outputsOf: Set(snapshot.plan.outputs))
        case .full: attempts = try store.attempts(id)
        }
        return RunReport(
            run: run, snapshot: snapshot,
            inputs: (try? JSONDecoder().decode([String: String].self, from: Data(run.inputs.utf8))) ?? [:],
            attempts: attempts)
    }

    /// Totals per stage in plan order (stages that never ran have `status` "pending"). Tool definitions are left
    /// out: they never run on their own (their calls are the calling stage's turns), so they would read "pending".
    public var stageTotals: [StageTotals] {
        // A tool loop's turns with calls run inside the try that gives the final answer: that try alone is counted.
        let byStage = Dictionary(grouping: attempts.filter { $0.status != .superseded && $0.calls == nil }, by: \.stage)
        return snapshot.plan.stages.filter { !$0.isToolDefinition }.map { stage in
            let mine = byStage[stage.name] ?? []
            let status: String
            if mine.isEmpty {
                status = "pending"
            } else if mine.last?.status == .skipped {
                // A skipped stage ran nothing: no rounds, no tries.
                return StageTotals(
                    stage: stage.name, rounds: 0, tries: 0, seconds: 0, promptTokens: 0, outputTokens: 0,
                    status: AttemptStatus.skipped.rawValue)
            } else if mine.contains(where: { $0.status == .completed }) && mine.last?.status == .completed {
                status = AttemptStatus.completed.rawValue
            } else {
                status = mine.last!.status.rawValue
            }
            // Attempts are counted per (item, round): each item's first try of a round is not a retry.
            var keys: Set<ItemRound> = []
            var items: Set<Int> = []
            for attempt in mine {
                keys.insert(ItemRound(item: attempt.item, round: attempt.round))
                if let item = attempt.item { items.insert(item) }
            }
            return StageTotals(
                stage: stage.name, rounds: Set(mine.map(\.round)).count, tries: mine.count,
                seconds: mine.reduce(0) { $0 + (($1.finishedAt ?? $1.startedAt) - $1.startedAt) },
                promptTokens: mine.reduce(0) { $0 + ($1.promptTokens ?? 0) },
                outputTokens: mine.reduce(0) { $0 + ($1.outputTokens ?? 0) }, status: status, items: items.count,
                retries: mine.count - keys.count)
        }
    }

    /// The final output of each result stage: the latest completed attempt; a skipped stage's is the empty string.
    /// A fan-out stage's is what later stages read as `stages.X.output`: the items' latest outputs in item order,
    /// joined by a blank line, or with a vote the first sample holding the winning value (its items may have finished
    /// in any order when they ran at once, so the latest attempt is no item in particular).
    public var outputs: [(stage: String, output: String)] {
        let wanted = Set(snapshot.plan.outputs)
        var latest: [String: String] = [:]
        var items: [String: [Int: AttemptRecord]] = [:]
        for attempt in attempts
        where (attempt.status == .completed || attempt.status == .skipped) && attempt.calls == nil && wanted.contains(attempt.stage) {
            if let item = attempt.item {
                items[attempt.stage, default: [:]][item] = attempt
            } else {
                latest[attempt.stage] = attempt.output
            }
        }
        for (name, done) in items {
            guard let stage = snapshot.plan.stage(named: name), let fanOut = stage.fanOut else { continue }
            let ordered = done.keys.sorted().compactMap { done[$0] }
            if let field = fanOut.vote {
                let results = ordered.compactMap { try? StageResult(attempt: $0, stage: stage) }
                if let tally = try? Executor.count(field, results: results, stage: stage) {
                    latest[name] = results[tally.winner.firstSample].output
                }
            } else {
                latest[name] = ordered.map(\.output).joined(separator: "\n\n")
            }
        }
        return snapshot.plan.outputs.compactMap { name in latest[name].map { (name, $0) } }
    }
}

/// A fan-out item (nil outside fan-out) and a round, as ``RunReport/stageTotals`` counts attempts.
private struct ItemRound: Hashable {
    var item: Int?
    var round: Int
}
