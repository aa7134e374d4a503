import Foundation

extension RunRecord {
    /// The status to show for the run: its recorded status as written, except `stopped` for a `running` run whose process
    /// died without recording an end (no lease, a stale heartbeat, or a pid that no longer exists on this host).
    ///
    /// - Parameters:
    ///   - now: the current time, seconds since 1970.
    ///   - host: this machine's host name; a pid is only checked on the host that recorded it.
    public func displayStatus(
        now: Double = RunStore.now(), host: String = ProcessInfo.processInfo.hostName,
        isAlive: (Int) -> Bool = RunStore.processIsAlive
    ) -> String {
        guard status == .running else { return status.rawValue }
        let stale = leaseHeartbeat.map { now - $0 > RunStore.leaseStaleAfter } ?? true
        let gone = leaseHost == host && leasePid.map { !isAlive($0) } == true
        return leaseToken == nil || stale || gone ? "stopped" : status.rawValue
    }
}
