import Dispatch

/// One timer for the deadlines of every stream in the process (``AsyncThrowingStream/producing(timeout:timedOut:_:)``).
///
/// A dispatch work item per stream would do, but a cancelled item stays queued until its time comes: with the
/// built-in default's 10-minute stage timeout, a 1,000-stage run kept a thousand closures (each holding its
/// stream) alive, 3.5 MiB more at its peak. Here a finished stream's deadline is simply forgotten, and the one
/// timer is armed for the earliest deadline still wanted.
final class DeadlineClock: Sendable {
    /// The process's clock.
    static let shared = DeadlineClock()

    private struct Entry {
        var deadline: DispatchTime
        var fire: @Sendable () -> Void
    }

    private struct State {
        var entries: [UInt64: Entry] = [:]
        var nextID: UInt64 = 0
        /// When the timer goes off next, if it is armed.
        var armed: DispatchTime?
    }

    private let state = Locked(State())
    // A dispatch source's methods are thread-safe; the type is not marked Sendable.
    private nonisolated(unsafe) let timer: any DispatchSourceTimer

    init() {
        timer = DispatchSource.makeTimerSource(queue: DispatchQueue(label: "baton.deadline-clock"))
        timer.setEventHandler { [weak self] in self?.fireExpired() }
        timer.activate()
    }

    /// Calls `fire` once, `seconds` from now, unless ``forget(_:)`` is called first. Returns the deadline's ID.
    func after(_ seconds: Double, _ fire: @escaping @Sendable () -> Void) -> UInt64 {
        let deadline = DispatchTime.now() + seconds
        return state.withLock { state in
            let id = state.nextID
            state.nextID += 1
            state.entries[id] = Entry(deadline: deadline, fire: fire)
            if state.armed.map({ deadline < $0 }) ?? true {
                state.armed = deadline
                timer.schedule(deadline: deadline, leeway: .milliseconds(1))
            }
            return id
        }
    }

    /// Drops a deadline that is no longer wanted (its stream ended).
    func forget(_ id: UInt64) {
        _ = state.withLock { $0.entries.removeValue(forKey: id) }
    }

    /// Runs what is due and arms the timer for the earliest deadline left.
    private func fireExpired() {
        let due = state.withLock { state in
            let now = DispatchTime.now()
            let due = state.entries.filter { $0.value.deadline <= now }
            for id in due.keys { state.entries[id] = nil }
            state.armed = state.entries.values.map(\.deadline).min()
            if let next = state.armed { timer.schedule(deadline: next, leeway: .milliseconds(1)) }
            return due.values.map(\.fire)
        }
        for fire in due { fire() }
    }
}
