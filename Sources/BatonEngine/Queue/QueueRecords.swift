import Foundation

/// A row of `workers`: a `baton worker` process that claims queued runs, with its last heartbeat.
public struct WorkerRecord: Sendable, Hashable, Codable {
    /// The worker's id (`--id`, else host-pid-random).
    public var id: String
    /// The machine it runs on.
    public var host: String
    /// Its process id on that machine.
    public var pid: Int
    /// The labels it has (`--labels`); a run asking for labels goes only to a worker with all of them.
    public var labels: [String]
    /// How many runs it executes at once.
    public var concurrency: Int
    /// The engine level it executes (``EngineLevel``).
    public var engineLevel: Int
    /// Its lease in seconds: its heartbeat extends its runs' leases by this much.
    public var leaseSeconds: Double
    /// When it registered and when it last beat (seconds since 1970).
    public var startedAt: Double
    public var heartbeatAt: Double

    /// Creates a worker record.
    public init(
        id: String, host: String, pid: Int, labels: [String], concurrency: Int, engineLevel: Int, leaseSeconds: Double,
        startedAt: Double, heartbeatAt: Double
    ) {
        self.id = id
        self.host = host
        self.pid = pid
        self.labels = labels
        self.concurrency = concurrency
        self.engineLevel = engineLevel
        self.leaseSeconds = leaseSeconds
        self.startedAt = startedAt
        self.heartbeatAt = heartbeatAt
    }

    /// Whether its heartbeat is younger than its lease at `now`.
    public func isAlive(at now: Double) -> Bool { now - heartbeatAt < leaseSeconds }

    /// Whether a run asking for `runLabels` (comma-separated, or nil) may go to this worker.
    public func fits(labels runLabels: String?) -> Bool {
        QueueLabels.parse(runLabels).allSatisfy(labels.contains)
    }
}

/// Labels as the `runs.labels` and `workers.labels` columns keep them: comma-separated, trimmed, no empties.
public enum QueueLabels {
    /// The labels of `text` (nil or empty: none).
    public static func parse(_ text: String?) -> [String] {
        (text ?? "").split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
    }

    /// The column's text for `labels`: nil when there are none.
    public static func column(_ labels: [String]) -> String? {
        labels.isEmpty ? nil : labels.joined(separator: ",")
    }
}

/// A run a worker claimed: its id and the epoch the claim set (the fence every commit of the run checks).
public struct QueueClaim: Sendable, Hashable {
    /// The run.
    public var runID: String
    /// The lease epoch the claim set.
    public var epoch: Int64
    /// The fence for the run's store (``RunStore/fenced(_:)``).
    public func fence(worker: String) -> RunFence { RunFence(runID: runID, epoch: epoch, worker: worker) }

    /// Creates a claim.
    public init(runID: String, epoch: Int64) {
        self.runID = runID
        self.epoch = epoch
    }
}

/// What one sweep of the rescuer did.
public struct RescueOutcome: Sendable, Hashable {
    /// Runs put back in the queue, with the worker that had died holding them.
    public var requeued: [(runID: String, worker: String)] { requeuedPairs.map { ($0.runID, $0.worker) } }
    /// Runs that reached the recovery bound and were failed instead.
    public var parked: [String]
    /// Reservations of epochs that are no longer their run's, deleted.
    public var releasedReservations: Int
    var requeuedPairs: [Pair]

    struct Pair: Sendable, Hashable {
        var runID: String
        var worker: String
    }

    /// Creates an outcome.
    public init(requeued: [(runID: String, worker: String)] = [], parked: [String] = [], releasedReservations: Int = 0) {
        requeuedPairs = requeued.map { Pair(runID: $0.runID, worker: $0.worker) }
        self.parked = parked
        self.releasedReservations = releasedReservations
    }
}

/// A run a worker holds, as its heartbeat finds it: the run and the epoch it is at now.
public struct HeldRun: Sendable, Hashable {
    /// The run.
    public var runID: String
    /// Its lease epoch now.
    public var epoch: Int64

    /// Creates a held run.
    public init(runID: String, epoch: Int64) {
        self.runID = runID
        self.epoch = epoch
    }
}

extension Executor {
    /// A new id for a run `baton submit` queues, of the same form as a started run's.
    public static func newQueuedRunID() -> String { newRunID() }
}
