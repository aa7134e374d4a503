import BatonSpec
import Foundation

/// What one run did, read back from the run store (so assertions judge what `baton show` shows): its stages' final
/// outputs, which stages completed or were skipped, tokens, times and critic rounds.
struct RunObservation: Sendable {
    /// The run.
    var run: RunRecord
    /// Its plan.
    var plan: ExecutionPlan
    /// Every attempt, in the order they started.
    var attempts: [AttemptRecord]
    /// Each completed stage's output as later stages read it (`stages.X.output`): a critic loop's last round, a
    /// fan-out stage's combined output.
    var outputs: [String: String]
    /// Each completed fan-out stage's item outputs, by item.
    var itemOutputs: [String: [Int: String]]

    /// Reads run `runID` from `store`.
    init(runID: String, store: RunStore, snapshot: RunSnapshot) throws(StoreError) {
        run = try store.run(runID)
        plan = snapshot.plan
        attempts = try store.attempts(runID)
        // RunReport builds the outputs of result stages (fan-out joins and votes included); asking it for every stage
        // keeps one definition of a stage's output.
        var every = snapshot
        every.plan.outputs = snapshot.plan.stages.filter { !$0.isToolDefinition }.map(\.name)
        let report = RunReport(run: run, snapshot: every, inputs: [:], attempts: attempts)
        let skipped = Set(attempts.filter { $0.status == .skipped }.map(\.stage))
        var outputs: [String: String] = [:]
        for (stage, output) in report.outputs where !skipped.contains(stage) { outputs[stage] = output }
        self.outputs = outputs
        var items: [String: [Int: String]] = [:]
        for attempt in attempts where attempt.status == .completed && attempt.calls == nil {
            if let item = attempt.item { items[attempt.stage, default: [:]][item] = attempt.output }
        }
        itemOutputs = items
    }

    /// Attempts that count for a stage: not superseded, and a tool loop's turns with calls left out (they run inside
    /// the try that gives the final answer).
    private var counted: [AttemptRecord] { attempts.filter { $0.status != .superseded && $0.calls == nil } }

    /// Stages that completed, in order of first completion.
    var stagesRun: [String] {
        var seen: Set<String> = []
        return counted.filter { $0.status == .completed }.compactMap { seen.insert($0.stage).inserted ? $0.stage : nil }
    }

    /// Stages that were skipped, in order.
    var stagesSkipped: [String] {
        var seen: Set<String> = []
        return attempts.filter { $0.status == .skipped }.compactMap { seen.insert($0.stage).inserted ? $0.stage : nil }
    }

    /// Output tokens of `stage` (every attempt), or of the whole run.
    func outputTokens(stage: String?) -> Int {
        attempts.filter { stage == nil || $0.stage == stage }.reduce(0) { $0 + ($1.outputTokens ?? 0) }
    }

    /// Prompt tokens of the whole run.
    var promptTokens: Int { attempts.reduce(0) { $0 + ($1.promptTokens ?? 0) } }

    /// Wall seconds of `stage` (its first start to its last finish), or of the run (created to finished).
    func seconds(stage: String?) -> Double {
        guard let stage else { return max(0, (run.finishedAt ?? run.updatedAt) - run.createdAt) }
        let mine = attempts.filter { $0.stage == stage && $0.status != .skipped }
        guard let first = mine.map(\.startedAt).min() else { return 0 }
        let last = mine.map { $0.finishedAt ?? $0.startedAt }.max() ?? first
        return max(0, last - first)
    }

    /// The rounds the critic loop of `stage` (the reviewed stage or its critic) went through: the critic's completed
    /// rounds (for a per-item loop, the most any item took); nil when `stage` has no loop.
    func criticRounds(of stage: String?) -> Int? {
        let loops = plan.stages.filter { $0.critic != nil }
        let critic: PlannedStage?
        if let stage {
            critic = loops.first { $0.name == stage || $0.critic?.reviews == stage }
        } else {
            critic = loops.count == 1 ? loops[0] : nil
        }
        guard let critic else { return nil }
        let rounds = attempts.filter { $0.stage == critic.name && $0.status == .completed }.map(\.round)
        return rounds.max() ?? 0
    }

    /// Output tokens over generation milliseconds, summed over the attempts whose runtime reported both.
    var generationTokensPerSecond: Double? {
        var tokens = 0
        var milliseconds = 0.0
        // Every attempt that generated counts, a failed one too (an answer cut off at max_tokens): this is the model's
        // speed, whatever became of its answer.
        for attempt in attempts {
            guard let count = attempt.outputTokens, let generation = attempt.timingValues["generation"], generation > 0 else { continue }
            tokens += count
            milliseconds += generation
        }
        return milliseconds > 0 ? Double(tokens) / milliseconds * 1000 : nil
    }

    /// The median time to first token of the run's model attempts, in milliseconds.
    var timeToFirstTokenMs: Double? {
        let times = attempts.filter { $0.model != nil }.compactMap { attempt in attempt.firstTokenAt.map { ($0 - attempt.startedAt) * 1000 }
        }
        .sorted()
        guard !times.isEmpty else { return nil }
        let middle = times.count / 2
        return times.count % 2 == 1 ? times[middle] : (times[middle - 1] + times[middle]) / 2
    }

    /// The snapshot entries of the run: every completed stage's output, a fan-out stage's items as `stage[0]`, ...
    ///
    /// A retrieve stage is left out: its output (passages, chunk ids, float scores) follows the indexed files, not the
    /// pipeline, so an edit of any indexed document (ask-docs indexes docs/) would fail the snapshot; its assertions
    /// (`json-path` on `$.chunks`) say what must hold.
    var snapshotEntries: [String: String] {
        var entries: [String: String] = [:]
        for (stage, output) in outputs where plan.stage(named: stage)?.isRetrieve != true {
            if let items = itemOutputs[stage], plan.stage(named: stage)?.fanOut != nil {
                for (item, text) in items { entries["\(stage)[\(item)]"] = text }
            } else {
                entries[stage] = output
            }
        }
        return entries
    }
}
