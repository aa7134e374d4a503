import BatonSpec

extension MemoryPlanner {
    /// Marks, for each load of `schedule`, the earliest step during whose generation it may start in the
    /// background (``Step/preloadFrom``), so a swap costs no wall time when the budget holds both models.
    ///
    /// A model counts as resident from the moment its load starts (a load in flight takes its whole footprint),
    /// and the unloads a load needs happen when it starts. The load of step `i` may start during step `k < i` when
    /// - no model it unloads is used in steps `k..<i` (unloading them early costs no load),
    /// - the model itself was not resident in those steps (it was unloaded at or before `k`),
    /// - at every step `t` in `k..<i`, what is resident then, without those unloads, plus every load in flight
    ///   then (this one and the earlier ones placed already), fits `budget`, and
    /// - no earlier load starts later: loads start in the order their stages need them, so one a stage waits for
    ///   is never queued behind one needed later (Ollama loads one model at a time).
    ///
    /// Loads are placed in order, each as early as these allow. No load or unload is added or removed: only when
    /// they happen changes. Steps in `fixed` (a stage that may yet be skipped, a critic loop's possible next round)
    /// are not preloaded; `held` names, per step, models that count as used then besides its own (a critic whose
    /// loop may go another round needs the reviewed stage's model next).
    public static func preloads(
        _ schedule: Schedule, uses: [ModelKey], footprints: [ModelKey: Int64], budget: Int64, fixed: Set<Int> = [],
        held: [Int: Set<ModelKey>] = [:]
    ) -> Schedule {
        var steps = schedule.steps
        // What takes memory while each step generates: its resident models, plus loads in flight, minus early unloads.
        var occupied = steps.map { Set($0.resident) }
        func bytes(_ models: Set<ModelKey>) -> Int64 { models.reduce(0) { $0 + (footprints[$1] ?? 0) } }
        var unloadedAt: [ModelKey: Int] = [:]
        var earliest = 0
        for (index, step) in steps.enumerated() {
            defer { for gone in step.unloads { unloadedAt[gone] = index } }
            guard let model = step.load else { continue }
            var start = index
            if !fixed.contains(index) {
                let unloads = Set(step.unloads)
                let lowest = max(earliest, unloadedAt[model] ?? 0)
                var candidate = index - 1
                while candidate >= lowest, candidate < uses.count, !unloads.contains(uses[candidate]), uses[candidate] != model,
                    unloads.isDisjoint(with: held[candidate] ?? [])
                {
                    var during = occupied[candidate].subtracting(unloads)
                    during.insert(model)
                    guard bytes(during) <= budget else { break }
                    start = candidate
                    candidate -= 1
                }
            }
            earliest = start
            guard start < index else { continue }
            steps[index].preloadFrom = start
            for during in start..<index {
                occupied[during].subtract(step.unloads)
                occupied[during].insert(model)
            }
        }
        return Schedule(steps: steps)
    }

    /// The most bytes resident or loading at once in `schedule` with its preloads (``Step/preloadFrom``) started
    /// as marked: what the machine must hold. Without preloads it is ``Schedule/peakBytes``.
    public static func peakWithPreloads(_ schedule: Schedule, footprints: [ModelKey: Int64]) -> Int64 {
        var occupied = schedule.steps.map { Set($0.resident) }
        for (index, step) in schedule.steps.enumerated() {
            guard let start = step.preloadFrom, let model = step.load else { continue }
            for during in start..<index {
                occupied[during].subtract(step.unloads)
                occupied[during].insert(model)
            }
        }
        return occupied.map { $0.reduce(0) { $0 + (footprints[$1] ?? 0) } }.max() ?? 0
    }
}
