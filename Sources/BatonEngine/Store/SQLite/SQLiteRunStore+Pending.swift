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

extension SQLiteRunStore {
    /// Records how an attempt ended (the whole record is rewritten), with an event of `kind`.
    ///
    /// With `deferred`, the record waits and is written at the start of the store's next write transaction (the
    /// next attempt's start, an event, the run's status), saving a commit per stage; the executor asks for it only
    /// when nothing outside Baton happens before that next write (``PendingFinish``). Reads write it first.
    public func finishAttempt(
        _ attempt: AttemptRecord, event kind: EventKind, payload: String? = nil, deferred: Bool = false
    ) throws(StoreError) {
        let finish = PendingFinish.Entry(attempt: attempt, kind: kind, payload: payload, killSwitch: killSwitch)
        if deferred, pending.wait(finish) { return }
        try write { db in try writePending(finish, db) }
    }

    /// Writes an attempt's end and its event inside the current transaction.
    func writePending(_ finish: PendingFinish.Entry, _ db: Database) throws {
        let (attempt, kind, payload) = (finish.attempt, finish.kind, finish.payload)
        try HotStatement.run(
            db,
            """
            UPDATE attempts SET status = ?, output = ?, verdict = ?, feedback = ?, prompt_tokens = ?,
            output_tokens = ?, first_token_at = ?, finished_at = ?, timings = ?, error = ?, finish_reason = ?,
            thinking = ? WHERE id = ?
            """,
            [
                .text(attempt.status.rawValue), .text(attempt.output), .text(attempt.verdict), .text(attempt.feedback),
                .integer(attempt.promptTokens), .integer(attempt.outputTokens), .real(attempt.firstTokenAt),
                .real(attempt.finishedAt), .text(attempt.timings), .text(attempt.error), .text(attempt.finishReason),
                .text(attempt.thinking), .integer(attempt.id),
            ])
        try Self.insertEvent(
            db, runID: attempt.runID, at: attempt.finishedAt ?? RunStore.now(), kind: kind, stage: attempt.stage,
            attemptID: attempt.id, payload: payload)
        // The executor's switch, whichever copy of the store (the lease's heartbeat) writes it.
        finish.killSwitch?.hit(.attemptFinishCommit)
    }

    /// Writes the end of an attempt that waits for the next transaction, if one does (``PendingFinish``).
    public func commitPending() throws(StoreError) {
        guard pending.isWaiting else { return }
        try write { _ in }
    }
}
