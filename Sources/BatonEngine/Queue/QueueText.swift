import Foundation

/// The texts the queue writes into the store: event payloads and the reason a run is parked, the same on both backends.
enum QueueText {
    /// A JSON object with sorted keys (values: strings, numbers, booleans, arrays of strings, or NSNull).
    static func json(_ object: [String: Any]) -> String {
        guard let data = try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]) else { return "{}" }
        return String(decoding: data, as: UTF8.self)
    }

    /// `run-submitted`'s payload.
    static func submitted(_ run: RunRecord) -> String {
        json(["priority": run.priority, "labels": QueueLabels.parse(run.labels), "engine_version": run.engineVersion])
    }

    /// `run-claimed`'s payload.
    static func claimed(_ worker: WorkerRecord, epoch: Int64) -> String {
        json(["worker": worker.id, "host": worker.host, "epoch": epoch])
    }

    /// `run-requeued`'s payload.
    static func requeued(reason: String, worker: String?, epoch: Int64, recoveries: Int) -> String {
        json(["reason": reason, "worker": worker ?? NSNull(), "epoch": epoch, "recoveries": recoveries])
    }

    /// Why a requeued run is not run again: the rescuer's bound.
    static func parked(runID: String, recoveries: Int, worker: String, host: String?) -> String {
        "requeued \(recoveries) time\(recoveries == 1 ? "" : "s") after its worker died (last: \(worker) on \(host ?? "an unknown host")); it may be what kills its workers: look at 'baton show \(runID)', then 'baton resume \(runID)' runs it in the foreground"
    }

    /// The error an attempt in flight gets when the rescuer takes its run from a dead worker.
    static func aborted(worker: String) -> String {
        "worker \(worker) executing this attempt stopped heartbeating before it finished"
    }
}
