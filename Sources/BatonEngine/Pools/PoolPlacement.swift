import Foundation

/// Where a model of a pool runtime goes: pure, so the same views give the same host whatever the order they come in.
///
/// Filter, then score. A host is left out when it lacks a label the stage asks for, when it does not have the model,
/// when it did not answer, or when the model does not fit its budget minus what runs have reserved there. Among the
/// rest: a host where the model is resident first (no load), then the least memory the host would have to unload (the
/// memory planner's eviction cost: idle models nobody reserved), then the fewest reservations in flight, then the URL.
public enum PoolPlacement {
    /// What placement knows of one host.
    public struct HostView: Sendable, Hashable {
        /// The host's URL.
        public var url: String
        /// Its labels.
        public var labels: [String]
        /// Its budget in bytes.
        public var budget: Int64
        /// Its live reservations.
        public var reservations: [ReservationRecord]
        /// The models loaded there now, with their sizes when known; nil when the host did not answer.
        public var resident: [String: Int64?]?
        /// The models the host can load; nil when unknown (then any model is taken to be there).
        public var installed: Set<String>?

        /// Creates a view.
        public init(
            url: String, labels: [String] = [], budget: Int64, reservations: [ReservationRecord] = [],
            resident: [String: Int64?]? = [:], installed: Set<String>? = nil
        ) {
            self.url = url
            self.labels = labels
            self.budget = budget
            self.reservations = reservations
            self.resident = resident
            self.installed = installed
        }
    }

    /// What a stage asks for.
    public struct Request: Sendable, Hashable {
        /// The model.
        public var model: String
        /// Its footprint.
        public var bytes: Int64
        /// Labels the host must all have.
        public var labels: [String]
        /// The host this run already used for the model (a critic loop's round 1): only that one is considered.
        public var stickTo: String?
        /// The run asking (its own reservations count as room it holds).
        public var runID: String?

        /// Creates a request.
        public init(model: String, bytes: Int64, labels: [String] = [], stickTo: String? = nil, runID: String? = nil) {
            self.model = model
            self.bytes = bytes
            self.labels = labels
            self.stickTo = stickTo
            self.runID = runID
        }
    }

    /// How a host scored (lower is better, compared in this order).
    public struct Score: Sendable, Hashable, Comparable, Codable {
        /// Whether the model is resident there already.
        public var resident: Bool
        /// Bytes of idle models the host would unload to make room.
        public var evictionBytes: Int64
        /// Reservations in flight there.
        public var inFlight: Int

        public static func < (lhs: Score, rhs: Score) -> Bool {
            if lhs.resident != rhs.resident { return lhs.resident }
            if lhs.evictionBytes != rhs.evictionBytes { return lhs.evictionBytes < rhs.evictionBytes }
            return lhs.inFlight < rhs.inFlight
        }

        enum CodingKeys: String, CodingKey {
            case resident
            case evictionBytes = "eviction_bytes"
            case inFlight = "in_flight"
        }
    }

    /// Why a host was left out.
    public enum Exclusion: Sendable, Hashable {
        /// It lacks these labels.
        case labels([String])
        /// It does not have the model.
        case missingModel
        /// It did not answer.
        case unreachable
        /// The model does not fit now (`free` bytes left of its budget); it may once runs release their room.
        case noRoom(free: Int64)
        /// The model is larger than the host's whole budget.
        case tooLarge(budget: Int64)
        /// The run's earlier use of the model is on another host.
        case notSticky(String)

        /// Whether the host may take the model later without the profile changing.
        public var isTemporary: Bool {
            switch self {
            case .noRoom, .unreachable: true
            case .labels, .missingModel, .tooLarge, .notSticky: false
            }
        }

        /// The reason, for messages.
        public var text: String {
            switch self {
            case .labels(let missing): "lacks label\(missing.count == 1 ? "" : "s") \(missing.joined(separator: ", "))"
            case .missingModel: "does not have the model"
            case .unreachable: "did not answer"
            case .noRoom(let free): "has \(Self.size(free)) free of its budget"
            case .tooLarge(let budget): "has a budget of \(Self.size(budget)) in all"
            case .notSticky(let host): "the run's earlier rounds used \(host)"
            }
        }

        static func size(_ bytes: Int64) -> String {
            bytes >= 1_000_000_000 ? String(format: "%.1f GB", Double(bytes) / 1e9) : String(format: "%.0f MB", Double(bytes) / 1e6)
        }
    }

    /// What placement decided.
    public struct Decision: Sendable, Hashable {
        /// The chosen host, nil when none fits now.
        public var host: String?
        /// Its score.
        public var score: Score?
        /// Why it won.
        public var reason: String
        /// The hosts left out, by URL.
        public var excluded: [String: Exclusion]
        /// The scores of the hosts that fit, by URL.
        public var scores: [String: Score]

        /// Whether waiting may help: no host fits now, but one left out only for lack of room (or an answer).
        public var mayWait: Bool { host == nil && excluded.values.contains { $0.isTemporary } }

        /// The exclusions as text, sorted by host (`http://a: lacks label gpu; http://b: has 2 GB free`).
        public var exclusionText: String {
            excluded.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value.text)" }.joined(separator: "; ")
        }
    }

    /// Chooses a host for `request` among `hosts`.
    public static func place(_ request: Request, on hosts: [HostView]) -> Decision {
        var excluded: [String: Exclusion] = [:]
        var scores: [String: Score] = [:]
        for host in hosts {
            if let exclusion = exclusion(of: host, for: request) {
                excluded[host.url] = exclusion
                continue
            }
            scores[host.url] = score(of: host, for: request)
        }
        guard let best = scores.min(by: { $0.value < $1.value || ($0.value == $1.value && $0.key < $1.key) }) else {
            return Decision(host: nil, score: nil, reason: "no host fits", excluded: excluded, scores: scores)
        }
        let reason: String
        if best.value.resident {
            reason = "'\(request.model)' is resident there"
        } else if best.value.evictionBytes == 0 {
            reason = "room without unloading anything, \(best.value.inFlight) reservation\(best.value.inFlight == 1 ? "" : "s") in flight"
        } else {
            reason = "the least to unload (\(Exclusion.size(best.value.evictionBytes)) of idle models)"
        }
        return Decision(
            host: best.key, score: best.value, reason: scores.count == 1 ? reason + "; the only host that fits" : reason,
            excluded: excluded, scores: scores)
    }

    static func exclusion(of host: HostView, for request: Request) -> Exclusion? {
        if let stick = request.stickTo, stick != host.url { return .notSticky(stick) }
        let missing = Set(request.labels).subtracting(host.labels).sorted()
        if !missing.isEmpty { return .labels(missing) }
        if let installed = host.installed, !installed.contains(request.model) { return .missingModel }
        guard host.resident != nil else { return .unreachable }
        if request.bytes > host.budget { return .tooLarge(budget: host.budget) }
        let others = host.reservations.filter { $0.runID != request.runID || $0.model != request.model }
        let taken = HostReservations.taken(others)
        let added = max(0, request.bytes - (others.filter { $0.model == request.model }.map(\.bytes).max() ?? 0))
        if taken + added > host.budget { return .noRoom(free: max(0, host.budget - taken)) }
        return nil
    }

    static func score(of host: HostView, for request: Request) -> Score {
        let resident = host.resident ?? [:]
        return Score(
            resident: resident[request.model] != nil, evictionBytes: evictions(on: host, for: request).reduce(0) { $0 + $1.bytes },
            inFlight: host.reservations.count)
    }

    /// The idle models (resident, reserved by no run) `host` must unload so `request`'s model fits beside what is
    /// reserved: the largest first, so the fewest go. A resident model of unknown size counts as the whole budget.
    public static func evictions(on host: HostView, for request: Request) -> [(name: String, bytes: Int64)] {
        let resident = host.resident ?? [:]
        let reserved = Set(host.reservations.map(\.model))
        var idle: [(name: String, bytes: Int64)] = resident.compactMap { name, bytes in
            reserved.contains(name) || name == request.model ? nil : (name, bytes ?? host.budget)
        }
        idle.sort { $0.bytes > $1.bytes || ($0.bytes == $1.bytes && $0.name < $1.name) }
        let needed = resident[request.model] != nil || reserved.contains(request.model) ? 0 : request.bytes
        var load = HostReservations.taken(host.reservations) + needed + idle.reduce(0) { $0 + $1.bytes }
        var chosen: [(name: String, bytes: Int64)] = []
        for model in idle where load > host.budget {
            chosen.append(model)
            load -= model.bytes
        }
        return chosen
    }
}
