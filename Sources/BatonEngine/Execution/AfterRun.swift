import BatonSpec
import Foundation

/// What the managed runtimes of a run's plan listed when the run first started: the `models-at-start` event's payload.
struct ModelsAtStart: Codable, Sendable, Equatable {
    /// Every model listed, as `runtime:name` (the plan's spelling when one denotes it), sorted.
    var models: [String]
    /// The context each was loaded with, when its runtime says (Ollama's `/api/ps` `context_length`).
    var contexts: [String: Int]
    /// Ollama only: when a model loaded with a finite `keep_alive` would have unloaded by itself (`/api/ps` `expires_at`,
    /// seconds since 1970); absent for `keep_alive: -1` and for runtimes without idle timeouts.
    var expires: [String: Double]? = nil
}

/// What applying `after_run` did at a run's end: the `after-run` event's payload and observer event.
public struct AfterRunReport: Sendable, Hashable, Codable {
    /// The profile's policy.
    public var policy: AfterRunPolicy
    /// Models the run loaded that were unloaded, as `runtime:name`.
    public var unloaded: [String] = []
    /// Models resident before the run that were loaded again, as `runtime:name`.
    public var reloaded: [String] = []
    /// Models resident before the run not loaded again because their `keep_alive` ran out during the run.
    public var expired: [String] = []
    /// What failed, one sentence each naming the model and what is left as it is.
    public var errors: [String] = []

    /// Creates a report.
    public init(policy: AfterRunPolicy, unloaded: [String] = [], reloaded: [String] = [], expired: [String] = [], errors: [String] = []) {
        self.policy = policy
        self.unloaded = unloaded
        self.reloaded = reloaded
        self.expired = expired
        self.errors = errors
    }

    /// Whether anything was done or went wrong.
    public var isEmpty: Bool { unloaded.isEmpty && reloaded.isEmpty && expired.isEmpty && errors.isEmpty }
}

/// A managed runtime of a run's plan (``Executor/managedRuntimes(state:)``).
struct ManagedRuntime: Sendable {
    /// The profile's name for it.
    var name: String
    /// Its client.
    var manager: any ModelManaging
    /// The plan's names of its models, for ``ModelManaging/residentModels(naming:)``.
    var planned: [String]
}

/// Hands a value to a task that does not inherit the caller's cancellation. The caller waits for that task and does not
/// touch the value meanwhile, so no two tasks use it at once.
private struct Handed<Value>: @unchecked Sendable {
    var value: Value
}

// Leaving the machine as found (issue 15): the models every managed runtime listed when the run first started are
// recorded, and at the run's end (completed, failed, interrupted, and at the end of every resume) the profile's
// `after_run` says what happens to the models the run loaded.
extension Executor {
    /// Seconds the whole after-run step may take, so that Ctrl-C never hangs on a runtime that stopped answering.
    static let afterRunTimeLimit = 60.0

    /// Records `models-at-start` when the run first starts; a resumed run keeps the first one (the models resident now
    /// include what the interrupted process loaded), and records one only when it has none (a run older than the event).
    func recordModelsAtStart(state: RunState, resumed: Bool) async {
        guard (state.snapshot.profile?.spec.afterRun ?? .restore) != .keep else { return }
        let runtimes = managedRuntimes(state: state)
        guard !runtimes.isEmpty else { return }
        if resumed, (try? store.events(state.runID, kind: .modelsAtStart).isEmpty) != true { return }
        var found = ModelsAtStart(models: [], contexts: [:])
        for runtime in runtimes {
            // A runtime that is down now holds nothing the run could disturb.
            guard let listed = try? await runtime.manager.residentModels(naming: runtime.planned) else { continue }
            for model in listed {
                let key = ModelKey(runtime: runtime.name, name: model.name).description
                found.models.append(key)
                if let context = model.contextLength { found.contexts[key] = context }
            }
            if let ollama = runtime.manager as? OllamaClient {
                for (name, expiry) in await ollama.expiries(of: listed.map(\.name), now: wallClock()) {
                    found.expires = (found.expires ?? [:]).merging([ModelKey(runtime: runtime.name, name: name).description: expiry]) {
                        $1
                    }
                }
            }
        }
        found.models.sort()
        guard let payload = try? Self.encode(found) else { return }
        try? store.appendEvent(state.runID, kind: .modelsAtStart, payload: payload)
    }

    /// Settles the background loads, then applies the profile's `after_run` on every managed runtime of the plan and
    /// records one `after-run` event. Never throws and never changes the run's outcome: what fails is reported and
    /// recorded. Runs in a task that does not inherit the run's cancellation (after Ctrl-C the runtimes must still be
    /// reachable), bounded by ``afterRunTimeLimit``.
    func leaveModels(state: inout RunState) async {
        let policy = state.snapshot.profile?.spec.afterRun ?? .restore
        let runtimes = managedRuntimes(state: state).filter { state.deadRuntime($0.name) == nil }
        guard !runtimes.isEmpty else { return }
        let handed = Handed(value: state)
        let finished = await Self.within(Self.afterRunTimeLimit) { [self] () async -> AfterRunReport in
            var state = handed.value
            await settlePreloads(state: &state)
            return await applyAfterRun(policy, runtimes: runtimes, runID: state.runID)
        }
        let report =
            finished
            ?? AfterRunReport(
                policy: policy,
                errors: [
                    "after_run: \(policy.rawValue) did not finish within \(Int(Self.afterRunTimeLimit)) s; check the runtimes' loaded models (ollama ps, llama-server's /models)"
                ])
        if let payload = try? Self.encode(report) { try? store.appendEvent(state.runID, kind: .afterRun, payload: payload) }
        observer(.afterRun(report))
    }

    /// Applies `policy` on `runtimes` for run `runID`: what it loaded (its `model-loaded` and `preload-started` events)
    /// and what was resident when it first started (its first `models-at-start` event).
    func applyAfterRun(_ policy: AfterRunPolicy, runtimes: [ManagedRuntime], runID: String) async -> AfterRunReport {
        var report = AfterRunReport(policy: policy)
        guard policy != .keep else { return report }
        let loadedByRun = Self.modelsLoaded(runID: runID, store: store)
        let atStart = (try? store.events(runID, kind: .modelsAtStart).first?.payload)
            .flatMap { try? JSONDecoder().decode(ModelsAtStart.self, from: Data($0.utf8)) }
        if policy == .restore, atStart == nil {
            report.errors.append(
                "after_run: restore found no record of the models resident when the run started; the models it loaded are unloaded"
            )
        }
        let before = Set(atStart?.models ?? [])
        for runtime in runtimes {
            let listed: [ResidentModel]
            do {
                listed = try await runtime.manager.residentModels(naming: runtime.planned)
            } catch {
                report.errors.append("could not list the models loaded on runtime '\(runtime.name)': \(error); nothing there was changed")
                continue
            }
            var resident: [String: ResidentModel] = [:]
            for model in listed { resident[ModelKey(runtime: runtime.name, name: model.name).description] = model }
            // Unloads first, so that what is loaded again has the room it had before the run.
            var reload: [String] = []
            for key in resident.keys.sorted() where loadedByRun.contains(key) {
                let recorded = atStart?.contexts[key]
                let changed = recorded != nil && resident[key]?.contextLength != nil && resident[key]?.contextLength != recorded
                if policy == .restore, before.contains(key), !changed { continue }
                do {
                    try await runtime.manager.unload(Self.name(of: key, on: runtime.name))
                    if policy == .restore, before.contains(key) { reload.append(key) } else { report.unloaded.append(key) }
                } catch {
                    report.errors.append("could not unload \(key): \(error); it is still loaded")
                }
            }
            guard policy == .restore, let atStart else { continue }
            let prefix = runtime.name + ":"
            for key in atStart.models where key.hasPrefix(prefix) {
                if resident[key] == nil || reload.contains(key) {
                    await reloadModel(key, runtime: runtime, atStart: atStart, report: &report)
                } else {
                    await restoreKeepAlive(key, runtime: runtime, atStart: atStart, resident: resident, report: &report)
                }
            }
        }
        return report
    }

    /// Loads `key` again with the context it had when the run started and, on Ollama, the time it had left.
    private func reloadModel(_ key: String, runtime: ManagedRuntime, atStart: ModelsAtStart, report: inout AfterRunReport) async {
        let name = Self.name(of: key, on: runtime.name)
        let remaining = atStart.expires?[key].map { $0 - wallClock() }
        // Without the run it would have unloaded by itself by now.
        if let remaining, remaining < 1 {
            report.expired.append(key)
            return
        }
        do {
            _ = try await runtime.manager.load(name, settings: StageSettings(numCtx: atStart.contexts[key]))
            if let remaining, let ollama = runtime.manager as? OllamaClient {
                try await ollama.keepAlive(name, seconds: Int(remaining.rounded(.up)), numCtx: atStart.contexts[key])
            }
            report.reloaded.append(key)
        } catch {
            report.errors.append("could not load \(key) again (it was loaded before the run): \(error)")
        }
    }

    /// Gives `key`, resident before the run and still resident, the idle time it had left then: the run's requests
    /// asked Ollama to keep every model they used forever (`keep_alive: -1`). Past its time, it is unloaded.
    private func restoreKeepAlive(
        _ key: String, runtime: ManagedRuntime, atStart: ModelsAtStart, resident: [String: ResidentModel], report: inout AfterRunReport
    ) async {
        let name = Self.name(of: key, on: runtime.name)
        // Only the plan's models got the run's requests; another client's model is left to its own timer.
        guard runtime.planned.contains(name), let expiry = atStart.expires?[key], let ollama = runtime.manager as? OllamaClient
        else { return }
        let context = resident[key]?.contextLength
        let remaining = expiry - wallClock()
        do {
            if remaining < 1 {
                try await ollama.unload(name)
                report.expired.append(key)
            } else {
                try await ollama.keepAlive(name, seconds: Int(remaining.rounded(.up)), numCtx: context)
            }
        } catch {
            report.errors.append("could not give \(key) back the keep_alive it had before the run: \(error)")
        }
    }

    /// Every managed runtime a stage's model chain names, each with the plan's names of its models.
    func managedRuntimes(state: RunState) -> [ManagedRuntime] {
        var found: [String: ManagedRuntime] = [:]
        var order: [String] = []
        for stage in state.snapshot.plan.stages {
            for model in stage.models {
                let runtime = Self.modelKey(model, state: state).runtime
                if let known = found[runtime] {
                    if !known.planned.contains(model.name) { found[runtime]?.planned.append(model.name) }
                    continue
                }
                guard let client = try? runtimes.runtime(for: model, snapshot: state.snapshot),
                    let manager = client as? any ModelManaging, manager.manages(model.name)
                else { continue }
                found[runtime] = ManagedRuntime(name: runtime, manager: manager, planned: [model.name])
                order.append(runtime)
            }
        }
        return order.compactMap { found[$0] }
    }

    /// The models run `runID` loaded, in any of its processes, as `runtime:name`: its `model-loaded` events and the
    /// background loads it started (`preload-started`; one a killed process started may have no `model-loaded`).
    static func modelsLoaded(runID: String, store: RunStore) -> Set<String> {
        var loaded: Set<String> = []
        for kind in [EventKind.modelLoaded, .preloadStarted] {
            for event in (try? store.events(runID, kind: kind)) ?? [] {
                guard let payload = event.payload,
                    let object = try? JSONSerialization.jsonObject(with: Data(payload.utf8)) as? [String: Any],
                    let model = object["model"] as? String
                else { continue }
                loaded.insert(model)
            }
        }
        return loaded
    }

    /// The model's name in `runtime:name`.
    static func name(of key: String, on runtime: String) -> String {
        String(key.dropFirst(runtime.count + 1))
    }

    /// The value of `work`, or nil when it takes more than `seconds`. `work` runs in a new task, which the caller's
    /// cancellation does not reach (the caller may be a run cancelled by Ctrl-C); past the limit it is cancelled.
    static func within<T: Sendable>(_ seconds: Double, _ work: @escaping @Sendable () async -> T) async -> T? {
        let done = Locked(false)
        return await withCheckedContinuation { (continuation: CheckedContinuation<T?, Never>) in
            let timer = Task { try? await Task.sleep(for: .seconds(seconds)) }
            // Whichever ends first resumes the caller; the other finds `done` set.
            func claim() -> Bool {
                done.withLock { finished in
                    defer { finished = true }
                    return !finished
                }
            }
            let worker = Task {
                let value = await work()
                // Claimed before the timer is stopped: a stopped timer ends its sleep at once, and must find it claimed.
                if claim() { continuation.resume(returning: value) }
                timer.cancel()
            }
            Task {
                await timer.value
                guard claim() else { return }
                worker.cancel()
                continuation.resume(returning: nil)
            }
        }
    }
}

extension OllamaClient {
    /// When each of `models` (loaded now) would unload by itself: `/api/ps` `expires_at` in seconds since 1970, left out
    /// for `keep_alive: -1` (listed about 300 years ahead, `api/types.go:1252-1255`), when it cannot be read, and when it
    /// is past: a runner serving requests keeps the expiry its last finished request set (the timer stops when a request
    /// starts and is set again when the last one ends: `useLoadedRunner`, `processCompleted` in `server/sched.go`), so a
    /// past one means "in use", not "about to go".
    func expiries(of models: [String], now: Double) async -> [String: Double] {
        guard let loaded = try? await loadedModels() else { return [:] }
        var result: [String: Double] = [:]
        let century = 100 * 365 * 86_400.0
        for model in models {
            guard let entry = await runner(of: model, in: loaded), let text = entry.expiresAt, let date = Self.goTime(text),
                date.timeIntervalSince1970 > now, date.timeIntervalSince1970 - now < century
            else { continue }
            result[model] = date.timeIntervalSince1970
        }
        return result
    }

    /// Sets how long `model` (loaded) stays once idle: an empty chat with `keep_alive` (`"300s"`). Ollama gives the
    /// loaded runner the request's duration and, when the request ends, expires it that long after (`useLoadedRunner`,
    /// `processCompleted` in `server/sched.go`). `numCtx` is the context it is loaded with: a request with another
    /// `num_ctx` (none counts as ``defaultNumCtx``) would reload it (`needsReload`).
    func keepAlive(_ model: String, seconds: Int, numCtx: Int?) async throws {
        let body: [String: Any] = [
            "model": model, "messages": [Any](), "keep_alive": "\(max(1, seconds))s", "options": ["num_ctx": numCtx ?? Self.defaultNumCtx],
        ]
        let response = try await send(
            .json(baseURL + "/api/chat", body), timeout: unloadTimeout, model: model, doing: "setting keep_alive of")
        let data = try await response.collect(limit: 1024 * 1024)
        guard response.status == 200 else {
            throw failure(status: response.status, body: data, model: model, doing: "setting keep_alive of")
        }
    }

    /// A Go `time.Time` as JSON writes it (RFC 3339 with up to nine digits of fraction: `2026-12-07T15:04:05.123456789Z`).
    public static func goTime(_ text: String) -> Date? {
        var whole = text
        var fraction = 0.0
        if let dot = text.firstIndex(of: ".") {
            let digits = text[text.index(after: dot)...].prefix { $0.isASCII && $0.isNumber }
            fraction = Double("0." + digits) ?? 0
            whole = String(text[..<dot]) + String(text[text.index(dot, offsetBy: digits.count + 1)...])
        }
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime]
        return formatter.date(from: whole).map { $0.addingTimeInterval(fraction) }
    }
}
