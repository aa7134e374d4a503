import Foundation
import GRDB

extension SQLiteRunStore {
    /// Takes the run for `claim`: when nobody holds it, when the holder is a process on this host that no longer exists
    /// (or hung: ``leaseHungAfter``), or when a holder on another host stopped its heartbeat (``leaseStaleAfter``).
    ///
    /// - Throws: ``StoreError`` `.leaseHeld` naming the holder when another live process has it.
    public func acquireLease(_ runID: String, claim: LeaseClaim, isAlive: @Sendable (Int) -> Bool = RunStore.processIsAlive)
        throws(StoreError)
    {
        let now = RunStore.now()
        let outcome: (took: Bool, holder: RunRecord?) = try write { db in
            guard let run = try RunRecord.fetchOne(db, key: runID) else { return (false, nil) }
            if let token = run.leaseToken, token != claim.token {
                let free = RunStore.leaseIsFree(
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
                arguments: [RunStore.now(), runID, claim.token])
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
}
