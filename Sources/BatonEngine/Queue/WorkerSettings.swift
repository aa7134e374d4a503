import Foundation

/// How a `baton worker` runs: who it is, what it claims, how long its leases last.
public struct WorkerSettings: Sendable {
    /// The worker's id in `workers` (`--id`, else ``defaultID()``).
    public var id: String
    /// Its labels; it claims only runs whose labels it all has.
    public var labels: [String] = []
    /// How many runs it executes at once.
    public var concurrency = 1
    /// Seconds a claim lasts without a heartbeat; the heartbeat comes every third of it.
    public var leaseSeconds: Double = 30
    /// Seconds between looks at the queue when no notification came.
    public var pollSeconds: Double = 2
    /// How many times the rescuer puts a run back after its worker died before it fails the run instead.
    public var maxRecoveries = 3
    /// Execute at most one run, then stop.
    public var once = false
    /// The engine level it executes (``EngineLevel/effective(environment:)``).
    public var engineLevel = EngineLevel.current

    /// Settings with defaults for worker `id`.
    public init(id: String) {
        self.id = id
    }

    /// An id unique to this process: host, pid and four random hex digits.
    public static func defaultID() -> String {
        let host = ProcessInfo.processInfo.hostName.split(separator: ".").first.map(String.init) ?? "host"
        return "\(host)-\(getpid())-\(String(UInt16.random(in: 0...UInt16.max), radix: 16))"
    }

    /// The row this worker registers, at `now`.
    func record(at now: Double, startedAt: Double) -> WorkerRecord {
        WorkerRecord(
            id: id, host: ProcessInfo.processInfo.hostName, pid: Int(getpid()), labels: labels, concurrency: concurrency,
            engineLevel: engineLevel, leaseSeconds: leaseSeconds, startedAt: startedAt, heartbeatAt: now)
    }
}

/// Wakes a worker waiting for work: a notification, a finished run, a stop. A flag rather than a continuation, so a
/// wake that comes before the wait is not lost.
final class WorkerWake: Sendable {
    private let woken = Locked(false)

    /// Wakes the next (or current) wait.
    func wake() { woken.withLock { $0 = true } }

    /// Waits until woken or `seconds` pass, then clears the flag.
    func wait(seconds: Double) async {
        let deadline = ContinuousClock.now + .milliseconds(Int(seconds * 1000))
        while ContinuousClock.now < deadline {
            let was = woken.withLock { flag in
                defer { flag = false }
                return flag
            }
            if was { return }
            try? await Task.sleep(for: .milliseconds(50))
        }
        woken.withLock { $0 = false }
    }
}
