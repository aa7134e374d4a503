import Foundation

/// Who holds a run: a random token plus the pid and host, refreshed by a heartbeat.
public struct LeaseClaim: Sendable, Hashable {
    /// Unique per process and run.
    public var token: String
    /// The process.
    public var pid: Int
    /// The machine.
    public var host: String

    /// Creates a claim.
    public init(token: String, pid: Int, host: String) {
        self.token = token
        self.pid = pid
        self.host = host
    }

    /// A claim for this process.
    public static func current() -> LeaseClaim {
        LeaseClaim(
            token: UUID().uuidString, pid: Int(ProcessInfo.processInfo.processIdentifier),
            host: ProcessInfo.processInfo.hostName)
    }
}

/// A worker's hold on a run: the epoch its claim set. A commit under a fence succeeds only while the run's
/// `lease_epoch` is still this one (the fencing token of a lease: a worker that was paused past its lease, or cut off,
/// cannot write after another took the run).
public struct RunFence: Sendable, Hashable {
    /// The run held.
    public var runID: String
    /// The epoch the claim set.
    public var epoch: Int64
    /// The worker holding it, for messages.
    public var worker: String

    /// Creates a fence.
    public init(runID: String, epoch: Int64, worker: String) {
        self.runID = runID
        self.epoch = epoch
        self.worker = worker
    }

    /// The error a write under this fence gets once the run's epoch moved on to `current` (nil: the run is gone).
    public func refused(current: Int64?) -> StoreError {
        StoreError(
            .fenced,
            "worker \(worker) no longer holds run '\(runID)' (its lease epoch \(epoch) is now \(current.map(String.init) ?? "gone")): another worker took the run over, so this commit was refused and nothing was written"
        )
    }
}

extension RunStore {
    /// This store with every write fenced by `fence` (see ``RunStoreBackend/fence``).
    public func fenced(_ fence: RunFence?) -> RunStore {
        var copy = self
        copy.backend.fence = fence
        return copy
    }

    /// Seconds without a heartbeat after which a lease is considered abandoned.
    public static let leaseStaleAfter: Double = 15

    /// Seconds without a heartbeat after which a holder that is still alive on this host counts as hung. On this host
    /// the pid says whether the holder lives, so a late heartbeat (a loaded machine: CI saw one over 15 s, 2026-12-07)
    /// does not hand a running run to a second process; the bound covers a hung process and a reused pid.
    public static let leaseHungAfter: Double = 300

    /// Whether a lease last renewed at `heartbeat` by `pid` on `holderHost` is free to take at `now` from `host`: no
    /// heartbeat, a holder on this host whose process is gone, or a heartbeat older than ``leaseStaleAfter`` (another
    /// host) or ``leaseHungAfter`` (a live process on this host).
    public static func leaseIsFree(
        heartbeat: Double?, pid: Int?, holderHost: String?, now: Double, host: String, isAlive: (Int) -> Bool
    ) -> Bool {
        guard let heartbeat else { return true }
        let age = now - heartbeat
        guard holderHost == host, let pid else { return age >= leaseStaleAfter }
        return !isAlive(pid) || age >= leaseHungAfter
    }

    /// Whether a process with this pid exists on this machine.
    public static let processIsAlive: @Sendable (Int) -> Bool = { pid in
        kill(pid_t(pid), 0) == 0 || errno == EPERM
    }
}
