import Foundation
import GRDB

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

extension RunStore {
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

    /// Takes the run for `claim`: when nobody holds it, when the holder is a process on this host that no longer exists
    /// (or hung: ``leaseHungAfter``), or when a holder on another host stopped its heartbeat (``leaseStaleAfter``).
    ///
    /// - Throws: ``StoreError`` `.leaseHeld` naming the holder when another live process has it.
    public func acquireLease(_ runID: String, claim: LeaseClaim, isAlive: @Sendable (Int) -> Bool = RunStore.processIsAlive)
        throws(StoreError)
    {
        let now = Self.now()
        let outcome: (took: Bool, holder: RunRecord?) = try write { db in
            guard let run = try RunRecord.fetchOne(db, key: runID) else { return (false, nil) }
            if let token = run.leaseToken, token != claim.token {
                let free = Self.leaseIsFree(
                    heartbeat: run.leaseHeartbeat, pid: run.leasePid, holderHost: run.leaseHost, now: now, host: claim.host,
                    isAlive: isAlive)
                if !free { return (false, run) }
            }
            try db.execute(
                sql: "UPDATE runs SET lease_token = ?, lease_pid = ?, lease_host = ?, lease_heartbeat = ? WHERE id = ?",
                arguments: [claim.token, claim.pid, claim.host, now, runID])
            var event = EventRecord(
                id: nil, runID: runID, at: now, kind: .leaseAcquired, stage: nil, attemptID: nil,
                payload: "{\"pid\":\(claim.pid),\"host\":\"\(claim.host)\",\"previous_pid\":\(run.leasePid.map(String.init) ?? "null")}")
            try event.insert(db)
            return (true, nil)
        }
        if !outcome.took {
            guard let holder = outcome.holder else {
                _ = try run(runID)
                return
            }
            let age = Int(now - (holder.leaseHeartbeat ?? now))
            throw StoreError(
                .leaseHeld,
                "run '\(runID)' is being executed by process \(holder.leasePid ?? 0) on \(holder.leaseHost ?? "?") (last heartbeat \(age)s ago); wait for it to finish or stop that process"
            )
        }
    }

    /// Refreshes the heartbeat. - Throws: `.leaseLost` when another process took the run over.
    public func heartbeat(_ runID: String, claim: LeaseClaim) throws(StoreError) {
        let changed = try write { db in
            try db.execute(
                sql: "UPDATE runs SET lease_heartbeat = ? WHERE id = ? AND lease_token = ?",
                arguments: [Self.now(), runID, claim.token])
            return db.changesCount
        }
        if changed == 0 {
            throw StoreError(.leaseLost, "run '\(runID)' was taken over by another process; this one stops")
        }
    }

    /// Gives the run up.
    public func releaseLease(_ runID: String, claim: LeaseClaim) throws(StoreError) {
        try write { db in
            try db.execute(
                sql:
                    "UPDATE runs SET lease_token = NULL, lease_pid = NULL, lease_host = NULL, lease_heartbeat = NULL WHERE id = ? AND lease_token = ?",
                arguments: [runID, claim.token])
        }
    }

    /// Whether a process with this pid exists on this machine.
    public static let processIsAlive: @Sendable (Int) -> Bool = { pid in
        kill(pid_t(pid), 0) == 0 || errno == EPERM
    }
}
