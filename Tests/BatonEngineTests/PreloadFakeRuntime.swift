import BatonEngine
import BatonSpec
import Foundation

/// A runtime whose models the executor loads, for the preloading tests: it logs loads and generations in order, keeps
/// the bytes resident or loading after every change (so a test can hold them to the budget), and can make a load
/// overlap a generation for sure: a gated load ends only after the gating model's generation has ended, and that
/// generation waits until the load has begun (up to ``gateTimeout``, so a run that does not preload fails, slowly).
final class PreloadFakeRuntime: LLMRuntime, ModelManaging, RuntimeProvider, @unchecked Sendable {
    let footprint: Int64
    let canPreload: Bool
    /// Loaded model → the model whose generation its load must overlap.
    let gates: [String: String]
    /// Model → how many of its loads fail, and how.
    let failures: [String: (count: Int, error: RuntimeError)]
    let gateTimeout: Double = 10

    private let lock = NSLock()
    private var resident: Set<String> = []
    private var loading: Set<String> = []
    private var leftLoading: [String: Int] = [:]
    private var failed: [String: Int] = [:]
    private var held: Set<String> = []
    private var entries: [String] = []
    private var bytes: [Int64] = []

    init(
        footprint: Int64 = 1_000_000_000, canPreload: Bool = true, gates: [String: String] = [:],
        failures: [String: (count: Int, error: RuntimeError)] = [:], resident: Set<String> = []
    ) {
        self.footprint = footprint
        self.canPreload = canPreload
        self.gates = gates
        self.failures = failures
        self.resident = resident
    }

    /// A load a killed run left: `model` is listed as loading for `polls` listings, then as loaded.
    func leaveLoading(_ model: String, polls: Int) {
        lock.withLock {
            loading.insert(model)
            leftLoading[model] = polls
            noteBytes()
        }
    }

    /// Loads of `model` wait (up to ``gateTimeout``) until ``release(_:)``.
    func hold(_ model: String) { _ = lock.withLock { held.insert(model) } }
    func release(_ model: String) { _ = lock.withLock { held.remove(model) } }

    var log: [String] { lock.withLock { entries } }
    /// The most bytes resident or loading at once.
    var peak: Int64 { lock.withLock { bytes.max() ?? 0 } }
    var residentNow: Set<String> { lock.withLock { resident } }
    var loadingNow: Set<String> { lock.withLock { loading } }

    private func note(_ entry: String) { lock.withLock { entries.append(entry) } }
    /// Called with the lock held.
    private func noteBytes() { bytes.append(Int64(resident.union(loading).count) * footprint) }

    private func waitFor(_ condition: () -> Bool) async {
        let deadline = ContinuousClock.now + .seconds(gateTimeout)
        while !lock.withLock(condition), ContinuousClock.now < deadline { try? await Task.sleep(for: .milliseconds(5)) }
    }

    func runtime(for model: ResolvedModel, snapshot: RunSnapshot) throws -> any LLMRuntime { self }

    var loadsWhileGenerating: Bool { canPreload }

    func residentModels() async throws -> [ResidentModel] {
        lock.withLock {
            for (model, polls) in leftLoading {
                if polls <= 1 {
                    leftLoading[model] = nil
                    loading.remove(model)
                    resident.insert(model)
                } else {
                    leftLoading[model] = polls - 1
                }
            }
            return resident.sorted().map { ResidentModel(name: $0, bytes: footprint) }
                + loading.sorted().map { ResidentModel(name: $0, bytes: nil, loading: true) }
        }
    }

    func load(_ model: String, settings: StageSettings) async throws -> LoadReport {
        try await load(model, settings: settings, sent: {})
    }

    func load(_ model: String, settings: StageSettings, sent: @Sendable () -> Void) async throws -> LoadReport {
        let started = ContinuousClock.now
        let twice = lock.withLock { () -> Bool in
            entries.append("load \(model)")
            let twice = resident.contains(model) || loading.contains(model)
            loading.insert(model)
            noteBytes()
            return twice
        }
        if twice { note("loaded twice: \(model)") }
        sent()
        if let gate = gates[model] { await waitFor { entries.contains("generated \(gate)") } }
        await waitFor { !held.contains(model) }
        if let failure = failures[model] {
            let fail = lock.withLock { () -> Bool in
                failed[model, default: 0] += 1
                guard failed[model]! <= failure.count else { return false }
                loading.remove(model)
                noteBytes()
                entries.append("load failed \(model)")
                return true
            }
            if fail { throw failure.error }
        }
        lock.withLock {
            loading.remove(model)
            resident.insert(model)
            noteBytes()
            entries.append("loaded \(model)")
        }
        let elapsed = ContinuousClock.now - started
        return LoadReport(seconds: Double(elapsed.components.attoseconds) / 1e18 + Double(elapsed.components.seconds), measuredBytes: nil)
    }

    func unload(_ model: String) async throws {
        lock.withLock {
            entries.append("unload \(model)")
            resident.remove(model)
            noteBytes()
        }
    }

    func generate(_ request: GenerationRequest) -> AsyncThrowingStream<GenerationEvent, any Error> {
        let model = request.model
        note("generate \(model)")
        let waitsFor = gates.first { $0.value == model }?.key
        return AsyncThrowingStream { continuation in
            Task {
                if let waitsFor { await self.waitFor { self.entries.contains("load \(waitsFor)") } }
                self.note("generated \(model)")
                continuation.yield(.token("\(model) answered"))
                continuation.yield(.finished(GenerationUsage(promptTokens: 1, outputTokens: 2)))
                continuation.finish()
            }
        }
    }
}
