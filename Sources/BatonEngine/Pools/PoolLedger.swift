import Foundation

/// The arithmetic of a reservation, the same on both backends: run inside the transaction that holds the host's lock.
enum PoolLedger {
    /// What to do with a request given the host's live reservations.
    enum Decision: Equatable {
        /// The run already holds the model there.
        case existing(id: Int64, shared: Bool)
        /// Insert a row (`shared`: another run holds the model there, so it takes no new room).
        case insert(shared: Bool)
        /// Only `free` bytes are left.
        case noRoom(free: Int64)
    }

    static func decide(_ request: ReservationRequest, budget: Int64, live: [ReservationRecord]) -> Decision {
        let sameModel = live.filter { $0.model == request.model }
        let shared = sameModel.contains { $0.runID != request.runID }
        if let mine = sameModel.first(where: { $0.runID == request.runID }) { return .existing(id: mine.id, shared: shared) }
        let taken = HostReservations.taken(live)
        // A model resident for another run costs only what a larger footprint adds to it.
        let added = max(0, request.bytes - (sameModel.map(\.bytes).max() ?? 0))
        if taken + added > budget { return .noRoom(free: max(0, budget - taken)) }
        return .insert(shared: shared)
    }
}

/// Labels as the store keeps them: comma-separated, or NULL for none.
public enum PoolLabels {
    /// The column value for `labels`.
    public static func column(_ labels: [String]) -> String? {
        let clean = labels.map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        return clean.isEmpty ? nil : clean.joined(separator: ",")
    }

    /// The labels of a column value.
    public static func parse(_ text: String?) -> [String] {
        (text ?? "").split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
    }
}
