import BatonSpec
import Foundation

/// A pool runtime as one run sees it: each model goes to the host placement chose for it (``PoolPlacement``), with its
/// room reserved in the store first, so no host is asked to hold more than its budget whichever process asks.
///
/// The run sees only its own models: ``residentModels(naming:)`` lists what it placed, and ``unload(_:)`` releases its
/// reservation and unloads the model only when no other run holds it there, so a run never evicts another's model.
final class PooledRuntime: LLMRuntime, ModelManaging, Sendable {
    /// The runtime's name in the profile.
    let name: String
    /// The hosts, in profile order.
    let hosts: [RuntimeHostSpec]
    /// A client per host URL.
    let clients: [String: any LLMRuntime & ModelManaging]
    let context: PoolContext
    /// Where each of the run's models is placed now (it holds a reservation there).
    private let placed = Locked<[String: String]>([:])
    /// Where each model went first in this run: later placements of it stay there (a critic loop's rounds).
    private let first = Locked<[String: String]>([:])
    /// Each host's installable models, once it answered.
    private let installed = Locked<[String: Set<String>]>([:])
    /// One placement at a time per run and pool, so concurrent fan-out items do not each reserve the same model.
    private let placing = AsyncGate()

    init(spec: RuntimeSpec, context: PoolContext) throws {
        name = spec.name
        hosts = spec.hosts ?? []
        var clients: [String: any LLMRuntime & ModelManaging] = [:]
        for host in hosts {
            clients[host.url] = try HostProbe.client(kind: spec.kind, url: host.url, options: spec.options, runtime: spec.name)
        }
        self.clients = clients
        self.context = context
    }

    /// The run's models on this pool now, by model name, with their host.
    var placements: [String: String] { placed.withLock { $0 } }

    /// The client serving `model` for this run: its host's, else the host it first went to, else the first host.
    private func client(for model: String) -> any LLMRuntime & ModelManaging {
        let url = placed.withLock { $0[model] } ?? first.withLock { $0[model] } ?? hosts.first?.url ?? ""
        return clients[url] ?? clients.values.first!
    }

    private var any: any LLMRuntime & ModelManaging { clients[hosts.first?.url ?? ""] ?? clients.values.first! }

    // MARK: - LLMRuntime

    func generate(_ request: GenerationRequest) -> AsyncThrowingStream<GenerationEvent, any Error> {
        client(for: request.model).generate(request)
    }

    var enforcesTimeout: Bool { any.enforcesTimeout }

    // MARK: - ModelManaging

    func residentModels() async throws -> [ResidentModel] { try await residentModels(naming: []) }

    func residentModels(naming planned: [String]) async throws -> [ResidentModel] {
        let mine = placements
        var listed: [ResidentModel] = []
        for url in Set(mine.values).sorted() {
            guard let client = clients[url] else { continue }
            listed += try await client.residentModels(naming: planned + mine.keys).filter { mine[$0.name] == url }
        }
        return listed
    }

    func manages(_ model: String) -> Bool { any.manages(model) }

    func contextLength(of model: String, settings: StageSettings) async -> Int? {
        await client(for: model).contextLength(of: model, settings: settings)
    }

    func load(_ model: String, settings: StageSettings) async throws -> LoadReport {
        try await load(model, settings: settings, sent: {})
    }

    func load(_ model: String, settings: StageSettings, sent: @Sendable () -> Void) async throws -> LoadReport {
        let url = try await place(model, settings: settings)
        guard let client = clients[url] else {
            throw RuntimeError(.unreachable, "host '\(url)' is not in pool '\(name)'", isTransient: false)
        }
        do {
            try await unloadIdle(on: url, for: model)
            return try await client.load(model, settings: settings, sent: sent)
        } catch {
            // The room is given back; a retry places the model again.
            placed.withLock { $0[model] = nil }
            _ = try? context.store.releaseReservations(runID: context.runID, host: url, model: model)
            throw error
        }
    }

    func unload(_ model: String) async throws {
        guard let url = placed.withLock({ $0.removeValue(forKey: model) }), let client = clients[url] else { return }
        try context.store.releaseReservations(runID: context.runID, host: url, model: model)
        // Another run placed it there too: it stays for that run.
        let held = try context.store.hostReservations().first { $0.host.url == url }?.reservations.contains { $0.model == model } ?? false
        if !held { try await client.unload(model) }
    }

    func waitUntilLoaded(_ model: String) async throws -> Double? {
        guard placed.withLock({ $0[model] }) != nil else { return nil }
        return try await client(for: model).waitUntilLoaded(model)
    }

    var loadsWhileGenerating: Bool { any.loadsWhileGenerating }

    // MARK: - Placement

    /// Places `model` on a host and reserves its room there, waiting (event `host-wait`) while no host has room, up to
    /// the stage's timeout; returns the host's URL. The event `host-placed` says where and why.
    ///
    /// - Throws: ``RuntimeError``: permanent when no host can ever take the model (labels, presence, size) or its
    ///   footprint is unknown; `.timeout` when the wait ran out.
    func place(_ model: String, settings: StageSettings, labels: [String] = []) async throws -> String {
        if let url = placed.withLock({ $0[model] }) { return url }
        return try await placing.run {
            if let url = placed.withLock({ $0[model] }) { return url }
            return try await placeNow(model, settings: settings, labels: labels)
        }
    }

    private func placeNow(_ model: String, settings: StageSettings, labels: [String]) async throws -> String {
        guard let bytes = context.footprints[model] else {
            throw RuntimeError(
                .outOfMemory,
                "model '\(model)' of runtime pool '\(name)' has no known footprint, so it cannot be placed within its hosts' budgets; set 'footprint' (or 'file') for it under 'models' in the profile",
                isTransient: false)
        }
        let request = PoolPlacement.Request(
            model: model, bytes: bytes, labels: labels, stickTo: first.withLock { $0[model] }, runID: context.runID)
        let started = ContinuousClock.now
        let limit = settings.timeout ?? context.defaultWait
        var waited = false
        while true {
            try Task.checkCancellation()
            let decision = PoolPlacement.place(request, on: try await views(naming: [model]))
            if let url = decision.host {
                let outcome = try context.store.reserve(
                    ReservationRequest(host: url, model: model, bytes: bytes, runID: context.runID, leaseEpoch: context.epoch, stage: nil))
                switch outcome {
                case .reserved(_, let shared):
                    placed.withLock { $0[model] = url }
                    first.withLock { $0[model] = $0[model] ?? url }
                    var payload: [String: Any] = [
                        "runtime": name, "host": url, "model": model, "bytes": bytes, "reason": decision.reason,
                        "waited": String(format: "%.3f", secondsSince(started)),
                    ]
                    if let score = decision.score {
                        payload["score"] = [
                            "resident": score.resident, "eviction_bytes": score.evictionBytes, "in_flight": score.inFlight,
                        ]
                    }
                    if shared { payload["shared"] = true }
                    try context.event(.hostPlaced, payload)
                    return url
                case .noRoom, .unknownHost:
                    // Another process took the room between the look and the reservation: look again at once.
                    continue
                }
            }
            guard decision.mayWait else {
                throw RuntimeError(
                    .outOfMemory,
                    "no host of runtime pool '\(name)' can take model '\(model)' (\(ByteCount(bytes: bytes))): \(decision.exclusionText); add a host that can, or change the hosts' labels or budgets in the profile",
                    isTransient: false)
            }
            if !waited {
                waited = true
                try context.event(
                    .hostWait, ["runtime": name, "model": model, "bytes": bytes, "hosts": decision.exclusionText])
            }
            guard secondsSince(started) < limit else {
                throw RuntimeError(
                    .timeout,
                    "model '\(model)' waited \(Int(limit)) s for room on a host of runtime pool '\(name)' (\(decision.exclusionText)); raise the stage's 'timeout', or add hosts or budget",
                    isTransient: false)
            }
            try await context.sleep(context.pollInterval)
        }
    }

    /// What placement knows of each host now: the store's reservations, and what the host has loaded and can load.
    func views(naming planned: [String]) async throws -> [PoolPlacement.HostView] {
        let reserved = Dictionary(try context.store.hostReservations().map { ($0.host.url, $0.reservations) }) { a, _ in a }
        var views: [PoolPlacement.HostView] = []
        for host in hosts {
            guard let client = clients[host.url] else { continue }
            let resident = await HostProbe.resident(client, naming: planned)
            var known = installed.withLock { $0[host.url] }
            if known == nil, resident != nil, let listed = await HostProbe.installed(client) {
                known = listed
                installed.withLock { $0[host.url] = listed }
            }
            views.append(
                PoolPlacement.HostView(
                    url: host.url, labels: host.labels, budget: host.budget.bytes, reservations: reserved[host.url] ?? [],
                    resident: resident, installed: known))
        }
        return views
    }

    /// Unloads the idle models (loaded, reserved by no run) that stand in the way of `model` on `url`, as placement
    /// counted them, so the host never holds more than its budget once `model` loads.
    private func unloadIdle(on url: String, for model: String) async throws {
        guard let client = clients[url], let host = try await views(naming: [model]).first(where: { $0.url == url }) else { return }
        let request = PoolPlacement.Request(model: model, bytes: context.footprints[model] ?? 0, runID: context.runID)
        for victim in PoolPlacement.evictions(on: host, for: request) {
            try await client.unload(victim.name)
        }
    }
}

/// Runs bodies one at a time (an async mutex), in the order they asked.
final class AsyncGate: Sendable {
    private let state = Locked<(busy: Bool, waiting: [CheckedContinuation<Void, Never>])>((false, []))

    func run<T>(_ body: () async throws -> T) async throws -> T {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let go = state.withLock { state -> Bool in
                if state.busy {
                    state.waiting.append(continuation)
                    return false
                }
                state.busy = true
                return true
            }
            if go { continuation.resume() }
        }
        defer {
            let next = state.withLock { state -> CheckedContinuation<Void, Never>? in
                if state.waiting.isEmpty {
                    state.busy = false
                    return nil
                }
                return state.waiting.removeFirst()
            }
            next?.resume()
        }
        return try await body()
    }
}
