import BatonSpec

/// What `baton resume` would do: per stage, reuse its completed attempts or run it.
public struct ResumePlan: Sendable, Hashable {
    /// One stage's fate.
    public struct Entry: Sendable, Hashable {
        /// The stage.
        public var stage: String
        /// Whether its completed attempts are reused.
        public var reuse: Bool
        /// Completed rounds reused.
        public var reusedRounds: Int
        /// Why it runs: `not run yet`, `changed`, ...
        public var reason: String
        /// Whether the reused attempt is a skip (its condition or route was decided): it stays skipped.
        public var skipped = false
        /// For a fan-out stage: the items with a completed attempt, reused (the others run).
        public var reusedItems = 0
    }

    /// Creates a plan.
    public init(entries: [Entry], changed: [String]) {
        self.entries = entries
        self.changed = changed
    }

    /// Every stage of the plan that would be executed, in order.
    public var entries: [Entry]
    /// Stages whose definition (or upstream) changed, with attempts that the change supersedes.
    public var changed: [String]

    /// The plan for resuming `report`, against `replacement` (the current pipeline) when given.
    public static func make(report: RunReport, replacement: RunSnapshot?) -> ResumePlan {
        let target = replacement?.plan ?? report.snapshot.plan
        let old = report.snapshot.fingerprints ?? Fingerprints.compute(report.snapshot.plan, inputs: report.inputs)
        let new = replacement.map { $0.fingerprints ?? Fingerprints.compute($0.plan, inputs: report.inputs) } ?? old
        let attempted = Set(report.attempts.filter { $0.status != .superseded }.map(\.stage))
        // A skipped stage is reused like a completed one: resume never decides a condition or a branch again.
        let completedByStage = Dictionary(
            grouping: report.attempts.filter { ($0.status == .completed || $0.status == .skipped) && $0.calls == nil }, by: \.stage)
        var entries: [Entry] = []
        var changed: [String] = []
        for stage in target.stages {
            let fingerprint = new[stage.name]
            // An item's attempt records the stage's fingerprint with its item's hash appended.
            let completed = (completedByStage[stage.name] ?? []).filter {
                $0.item == nil ? $0.fingerprint == fingerprint : $0.fingerprint.hasPrefix((fingerprint ?? "") + "/item:")
            }
            let isChanged = old[stage.name] != fingerprint
            if isChanged && attempted.contains(stage.name) { changed.append(stage.name) }
            let reason = isChanged ? (old[stage.name] == nil ? "new stage" : "changed, or upstream of it changed") : "not completed yet"
            let skipped = completed.last?.status == .skipped
            var entry = Entry(
                stage: stage.name, reuse: !completed.isEmpty, reusedRounds: skipped ? 0 : Set(completed.map(\.round)).count,
                reason: reason, skipped: skipped)
            if stage.fanOut != nil { entry.reusedItems = Set(completed.compactMap(\.item)).count }
            entries.append(entry)
        }
        let targetNames = Set(target.stages.map(\.name))
        for stage in report.snapshot.plan.stages where !targetNames.contains(stage.name) && attempted.contains(stage.name) {
            changed.append(stage.name)
        }
        return ResumePlan(entries: entries, changed: changed)
    }
}
