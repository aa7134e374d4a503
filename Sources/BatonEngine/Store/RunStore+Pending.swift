import Foundation
import GRDB

/// One commit per stage instead of two: a completed attempt's end may wait for the store's next write transaction.
///
/// A stage records its attempt's start (before the runtime is asked) and its end (after the answer). Between the end
/// of one attempt and the start of the next, the executor only decides and renders: nothing outside Baton happens.
/// So the end of attempt N can be written in the transaction that starts attempt N+1, and nothing a resume relies
/// on is lost:
///
/// - The next attempt's start, and every other write (an event, a skip, a tool call's intent, the run's status, a
///   heartbeat, the lease's release), writes the waiting end first, in the same transaction: the store never shows
///   attempt N+1 (or anything after it) without attempt N's end.
/// - A read writes it first, so this process reads back what it recorded.
/// - Before anything outside Baton could happen while it waits (a model load or unload, a tool stage, a retrieve
///   stage's index update) the executor writes it (``RunStore/commitPending()``); a thermal pause records its event
///   before it sleeps, which writes it.
/// - A process killed while it waits leaves attempt N `running`, as a kill just before its commit always did: the
///   resume marks it aborted and asks again; the answer is the same (echo, or a seeded model), and no attempt that
///   the store records as completed runs twice. The kill points keep their places; `attempt-finish-commit` is hit
///   inside the transaction that writes the end, as before.
///
/// Only the executor's attempts outside fan-out wait: a fan-out item's end, a failure and an interruption are written
/// at once (an item that finished is in the store before the next item starts, as `item-done` promises).
final class PendingFinish: Sendable {
    /// An attempt's end: the record, its event's kind and payload, and the kill switch of the store that recorded it.
    struct Entry: Sendable {
        var attempt: AttemptRecord
        var kind: EventKind
        var payload: String?
        var killSwitch: KillSwitch?
    }

    private let slot = Locked<Entry?>(nil)

    /// Keeps `entry` for the next transaction; false (nothing kept) when another end already waits.
    func wait(_ entry: Entry) -> Bool {
        slot.withLock { slot in
            guard slot == nil else { return false }
            slot = entry
            return true
        }
    }

    /// The waiting end, taken out.
    func take() -> Entry? {
        slot.withLock { slot in
            defer { slot = nil }
            return slot
        }
    }

    /// Puts back an end whose transaction failed, unless another one waits by now.
    func putBack(_ entry: Entry) {
        slot.withLock { slot in
            if slot == nil { slot = entry }
        }
    }

    var isWaiting: Bool { slot.withLock { $0 != nil } }
}

extension RunStore {
    /// Writes the end of an attempt that waits for the next transaction, if one does (``PendingFinish``).
    public func commitPending() throws(StoreError) {
        guard pending.isWaiting else { return }
        try write { _ in }
    }
}
