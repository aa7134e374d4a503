import Foundation

/// A host of a runtime pool as the store keeps it: where it listens, which runtime it belongs to, its memory budget
/// and its labels. The budget lives in the store so every worker on every machine checks the same one.
public struct RuntimeHostRecord: Sendable, Hashable, Codable {
    /// The host's base URL (the key: one machine's memory, whichever runtime names it).
    public var url: String
    /// The profile runtime that lists it.
    public var runtime: String
    /// Bytes the models resident on it at once may take.
    public var budgetBytes: Int64
    /// Labels a stage may ask for (`gpu`, `large`).
    public var labels: [String]

    /// Creates a host record.
    public init(url: String, runtime: String, budgetBytes: Int64, labels: [String] = []) {
        self.url = url
        self.runtime = runtime
        self.budgetBytes = budgetBytes
        self.labels = labels
    }
}

/// What a run asks of a host: room for `model` (`bytes`) while stage `stage` runs, under the run's lease epoch.
public struct ReservationRequest: Sendable, Hashable {
    /// The host's URL.
    public var host: String
    /// The model to load there.
    public var model: String
    /// Its footprint.
    public var bytes: Int64
    /// The run that will use it.
    public var runID: String
    /// The run's lease epoch when it reserved (a later epoch makes the row stale).
    public var leaseEpoch: Int64
    /// The stage that asked, for messages.
    public var stage: String?

    /// Creates a request.
    public init(host: String, model: String, bytes: Int64, runID: String, leaseEpoch: Int64, stage: String?) {
        self.host = host
        self.model = model
        self.bytes = bytes
        self.runID = runID
        self.leaseEpoch = leaseEpoch
        self.stage = stage
    }
}

/// How a reservation went.
public enum ReservationOutcome: Sendable, Hashable {
    /// The room is the run's (`id` names the row; `shared`: the model was already reserved there by another run, so
    /// it took no new room).
    case reserved(id: Int64, shared: Bool)
    /// The host has `free` bytes left of its budget, less than the model needs.
    case noRoom(free: Int64, budget: Int64)
    /// The store knows no host at that URL (``RunStore/registerRuntimeHosts(_:)`` was not called).
    case unknownHost
}

/// One live reservation.
public struct ReservationRecord: Sendable, Hashable, Codable {
    /// The row id.
    public var id: Int64
    /// The host's URL.
    public var host: String
    /// The model.
    public var model: String
    /// Its footprint.
    public var bytes: Int64
    /// The run holding it.
    public var runID: String
    /// The run's lease epoch when it reserved.
    public var leaseEpoch: Int64
    /// The stage that asked.
    public var stage: String?
    /// When (seconds since 1970).
    public var createdAt: Double

    /// Creates a record.
    public init(
        id: Int64, host: String, model: String, bytes: Int64, runID: String, leaseEpoch: Int64, stage: String?, createdAt: Double
    ) {
        self.id = id
        self.host = host
        self.model = model
        self.bytes = bytes
        self.runID = runID
        self.leaseEpoch = leaseEpoch
        self.stage = stage
        self.createdAt = createdAt
    }
}

/// A host with what is reserved on it, for `baton workers` and placement.
public struct HostReservations: Sendable, Hashable {
    /// The host.
    public var host: RuntimeHostRecord
    /// Its live reservations, oldest first.
    public var reservations: [ReservationRecord]

    /// Bytes taken: each model once however many runs reserved it, at the largest footprint given.
    public var reservedBytes: Int64 { Self.taken(reservations) }
    /// The models reserved, sorted, each once.
    public var models: [String] { Array(Set(reservations.map(\.model))).sorted() }
    /// How many runs hold reservations here.
    public var runs: Int { Set(reservations.map(\.runID)).count }

    /// Creates a value.
    public init(host: RuntimeHostRecord, reservations: [ReservationRecord]) {
        self.host = host
        self.reservations = reservations
    }

    /// Bytes `rows` take on one host: each model counted once (runs sharing a resident model share its memory).
    public static func taken(_ rows: [ReservationRecord]) -> Int64 {
        var largest: [String: Int64] = [:]
        for row in rows { largest[row.model] = max(largest[row.model] ?? 0, row.bytes) }
        return largest.values.reduce(0, +)
    }
}
