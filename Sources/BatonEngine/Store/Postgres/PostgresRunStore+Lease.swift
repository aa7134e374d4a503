import Foundation
import PostgresNIO

/// The one-machine lease of `baton run` and `baton resume` (token, pid, host, heartbeat), as on SQLite; workers hold
/// runs by `lease_owner` and `lease_epoch` instead.
extension PostgresRunStore {
    /// Takes the run for `claim`: when nobody holds it, when the holder is a process on this host that no longer exists
    /// (or hung), or when a holder on another host stopped its heartbeat. The row is locked (`FOR UPDATE`) while it is
    /// decided, so two processes never both take it.
    ///
    /// - Throws: ``StoreError`` `.leaseHeld` naming the holder when another live process has it.
    public func acquireLease(_ runID: String, claim: LeaseClaim, isAlive: @Sendable (Int) -> Bool = RunStore.processIsAlive)
        throws(StoreError)
    {
        let now = RunStore.now()
        let outcome: (took: Bool, holder: (pid: Int?, host: String?, heartbeat: Double?)?) = try write { session in
            guard
                let row = try session.query(
                    "SELECT lease_token, lease_pid, lease_host, lease_heartbeat FROM runs WHERE id = $1 FOR UPDATE", [.text(runID)]
                ).first
            else { return (false, nil) }
            let (token, pid, host, heartbeat) = try row.decode((String?, Int?, String?, Double?).self)
            if let token, token != claim.token {
                let free = RunStore.leaseIsFree(
                    heartbeat: heartbeat, pid: pid, holderHost: host, now: now, host: claim.host, isAlive: isAlive)
                if !free { return (false, (pid, host, heartbeat)) }
            }
            try session.execute(
                "UPDATE runs SET lease_token = $1, lease_pid = $2, lease_host = $3, lease_heartbeat = $4 WHERE id = $5",
                [.text(claim.token), .integer(claim.pid), .text(claim.host), .real(now), .text(runID)])
            try Self.insertEvent(
                session, runID: runID, at: now, kind: .leaseAcquired, stage: nil, attemptID: nil,
                payload: "{\"pid\":\(claim.pid),\"host\":\"\(claim.host)\",\"previous_pid\":\(pid.map(String.init) ?? "null")}")
            return (true, nil)
        }
        if !outcome.took {
            guard let holder = outcome.holder else {
                _ = try run(runID)
                return
            }
            let age = Int(now - (holder.heartbeat ?? now))
            throw StoreError(
                .leaseHeld,
                "run '\(runID)' is being executed by process \(holder.pid ?? 0) on \(holder.host ?? "?") (last heartbeat \(age)s ago); wait for it to finish or stop that process"
            )
        }
    }

    /// Refreshes the heartbeat. - Throws: `.leaseLost` when another process took the run over.
    public func heartbeat(_ runID: String, claim: LeaseClaim) throws(StoreError) {
        let changed = try write { session in
            try session.execute(
                "UPDATE runs SET lease_heartbeat = $1 WHERE id = $2 AND lease_token = $3",
                [.real(RunStore.now()), .text(runID), .text(claim.token)])
        }
        if changed == 0 {
            throw StoreError(.leaseLost, "run '\(runID)' was taken over by another process; this one stops")
        }
    }

    /// Gives the run up.
    public func releaseLease(_ runID: String, claim: LeaseClaim) throws(StoreError) {
        try write { session in
            try session.execute(
                """
                UPDATE runs SET lease_token = NULL, lease_pid = NULL, lease_host = NULL, lease_heartbeat = NULL
                WHERE id = $1 AND lease_token = $2
                """, [.text(runID), .text(claim.token)])
        }
    }
}
