import Foundation

extension RunRecord {
    /// The status to show for the run: its recorded status as written, except `stopped` for a `running` run whose process
    /// died without recording an end (no lease, a pid that no longer exists on this host, a hung one, or another host's
    /// stale heartbeat: ``RunStore/leaseIsFree(heartbeat:pid:holderHost:now:host:isAlive:)``).
    ///
    /// - Parameters:
    ///   - now: the current time, seconds since 1970.
    ///   - host: this machine's host name; a pid is only checked on the host that recorded it.
    public func displayStatus(
        now: Double = RunStore.now(), host: String = ProcessInfo.processInfo.hostName,
        isAlive: (Int) -> Bool = RunStore.processIsAlive
    ) -> String {
        guard status == .running else { return status.rawValue }
        let free = RunStore.leaseIsFree(
            heartbeat: leaseHeartbeat, pid: leasePid, holderHost: leaseHost, now: now, host: host, isAlive: isAlive)
        return leaseToken == nil || free ? "stopped" : status.rawValue
    }
}
