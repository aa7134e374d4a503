import Foundation

/// Why a queued run still waits, for `baton runs`: no live worker at all, none of the engine level it needs, or none
/// with its labels.
public enum QueueWaiting {
    /// The reason run `run` waits, given the registered `workers` at `now`.
    public static func reason(_ run: RunRecord, workers: [WorkerRecord], now: Double) -> String {
        let live = workers.filter { $0.isAlive(at: now) }
        guard !live.isEmpty else { return "waiting for a worker (none is running: start 'baton worker')" }
        let levelled = live.filter { $0.engineLevel >= run.engineVersion }
        guard !levelled.isEmpty else {
            let levels = Set(live.map(\.engineLevel)).sorted().map(String.init).joined(separator: ", ")
            return "needs engine level \(run.engineVersion); live workers have \(levels)"
        }
        let labels = QueueLabels.parse(run.labels)
        guard levelled.contains(where: { $0.fits(labels: run.labels) }) else {
            return "needs labels \(labels.joined(separator: ",")); no live worker has them"
        }
        return "waiting for a worker"
    }
}
