import BatonSpec
import BatonTestSupport
import Foundation
import Testing

@testable import BatonEngine

/// `after_run` with the Ollama stand-in: the models resident before a run are resident again after it (`restore`, the
/// default), with the context and idle time they had; `keep` changes nothing; `unload` unloads what the run loaded. It
/// holds for completed, failed and cancelled runs, and failures of its own never change the run's outcome.
@Suite struct AfterRunTests {
    /// Resident before the run, used by no stage.
    static let other = OllamaStandIn.Model("llama3.2:3b")
    static let models = [OllamaStandIn.Model("qwen3:4b"), OllamaStandIn.Model("gemma3:1b"), other]

    /// Two stages on two 1 GB models; the 2 GB budget does not hold `llama3.2:3b` (1.5 GB) beside either, so the
    /// first load unloads it.
    static let pipeline = """
        version: 1
        stages:
          plan:
            model: qwen3:4b
            prompt: Plan a picnic.
          write:
            model: gemma3:1b
            prompt: "Write from {{stages.plan.output}}"
        """

    static func snapshot(_ yaml: String = pipeline, url: String, policy: String?, budget: String = "2GB") throws -> RunSnapshot {
        let profileText = """
            version: 1
            name: stand-in
            memory_budget: \(budget)
            \(policy.map { "after_run: \($0)" } ?? "")
            runtimes:
              ollama: {kind: ollama, url: "\(url)"}
            models:
              qwen3:4b: {runtime: ollama, footprint: 1GB}
              gemma3:1b: {runtime: ollama, footprint: 1GB}
              llama3.2:3b: {runtime: ollama, footprint: 1.5GB}
            """
        let document = ProfileDecoder.decode(SourceFile(path: "stand-in.yaml", text: profileText), environment: [:])
        let (resolved, diagnostics) = ProfileResolver.resolve(document) { _ in nil }
        let profile = try #require(resolved, "\(diagnostics)")
        let result = PipelineCompiler(profile: profile).compile(SourceFile(path: "after-run.yaml", text: yaml))
        let plan = try #require(result.plan, "\(result.diagnostics.map(\.message))")
        return RunSnapshot(plan: plan, profile: profile, sources: ["after-run.yaml": yaml], pipelinePath: nil, forcedRuntime: nil)
    }

    /// Runs `snapshot` to its end, returning the outcome and the after-run reports the observer saw.
    /// With `hourAfterFirstLoad`, the executor's wall clock jumps an hour ahead once the run has loaded a model: an idle
    /// timeout recorded at the start has run out by the end, whatever the test process's own speed.
    static func run(_ snapshot: RunSnapshot, store: RunStore, hourAfterFirstLoad: Bool = false) async throws -> (
        RunOutcome, [AfterRunReport]
    ) {
        let reports = LockedList<AfterRunReport>()
        let loaded = Locked(false)
        var executor = Executor(
            store: store, runtimes: RuntimeCatalog(environment: [:]),
            observer: { event in
                if case .afterRun(let report) = event { reports.append(report) }
                if case .modelLoaded = event { loaded.withLock { $0 = true } }
            }, sleep: { _ in })
        if hourAfterFirstLoad {
            executor.wallClock = { Date().timeIntervalSince1970 + (loaded.withLock { $0 } ? 3600 : 0) }
        }
        let outcome = try await executor.start(snapshot, inputs: [:], claim: .current())
        return (outcome, reports.values)
    }

    /// The `after-run` events of run `id`, decoded.
    static func recorded(_ store: RunStore, _ id: String) throws -> [AfterRunReport] {
        try store.events(id, kind: .afterRun).map { try JSONDecoder().decode(AfterRunReport.self, from: Data(($0.payload ?? "").utf8)) }
    }

    /// `/api/ps` as a client sees it: name → (context_length, expires_at).
    static func ps(_ standIn: OllamaStandIn) async throws -> [String: (context: Int?, expires: String?)] {
        let loaded = try await OllamaClient(baseURL: standIn.baseURL).loadedModels()
        return Dictionary(uniqueKeysWithValues: loaded.map { ($0.name, ($0.contextLength, $0.expiresAt)) })
    }

    @Test func restoreLeavesExactlyTheModelsResidentBeforeWithTheirContext() async throws {
        try await OllamaStandIn.with(models: Self.models) { standIn in
            // Given a model another client loaded with a context of 2048, which the run must unload to make room
            standIn.preload("llama3.2:3b", numCtx: 2048)
            let store = try RunStore.inMemory()

            // When a run with the default policy completes
            let (outcome, reports) = try await Self.run(try Self.snapshot(url: standIn.baseURL, policy: nil), store: store)

            // Then exactly that model is resident again, with its context; the two the run loaded are gone
            guard case .completed(let id) = outcome else {
                Issue.record("\(outcome)")
                return
            }
            #expect(try store.events(id, kind: .modelUnloaded).count == 1, "the run had to unload llama3.2:3b")
            #expect(standIn.loadedNames == ["llama3.2:3b"])
            let context = try await Self.ps(standIn)["llama3.2:3b"]?.context
            #expect(context == 2048)
            let expected = AfterRunReport(
                policy: .restore, unloaded: ["ollama:gemma3:1b", "ollama:qwen3:4b"], reloaded: ["ollama:llama3.2:3b"])
            #expect(reports == [expected])
            #expect(try Self.recorded(store, id) == [expected])
            let atStart = try store.events(id, kind: .modelsAtStart)
            #expect(atStart.count == 1)
            #expect(atStart.first?.payload?.contains(#""ollama:llama3.2:3b":2048"#) == true, "\(atStart)")
        }
    }

    @Test func restoreLeavesAModelTheRunUsedButDidNotLoad() async throws {
        try await OllamaStandIn.with(models: Self.models) { standIn in
            // Given the first stage's model already resident
            standIn.preload("qwen3:4b")
            let store = try RunStore.inMemory()

            // When
            let (outcome, reports) = try await Self.run(try Self.snapshot(url: standIn.baseURL, policy: "restore"), store: store)

            // Then it stays; the one the run loaded goes
            guard case .completed = outcome else {
                Issue.record("\(outcome)")
                return
            }
            #expect(standIn.loadedNames == ["qwen3:4b"])
            #expect(reports.map(\.unloaded) == [["ollama:gemma3:1b"]])
            #expect(reports.map(\.reloaded) == [[]])
        }
    }

    @Test func keepLeavesEveryModelAsTheRunLeftIt() async throws {
        try await OllamaStandIn.with(models: Self.models) { standIn in
            standIn.preload("llama3.2:3b")
            let store = try RunStore.inMemory()

            let (outcome, reports) = try await Self.run(try Self.snapshot(url: standIn.baseURL, policy: "keep"), store: store)

            guard case .completed(let id) = outcome else {
                Issue.record("\(outcome)")
                return
            }
            #expect(standIn.loadedNames == ["gemma3:1b", "qwen3:4b"])
            #expect(reports == [AfterRunReport(policy: .keep)])
            #expect(try store.events(id, kind: .modelsAtStart).isEmpty, "keep needs no record of what was resident")
            #expect(try Self.recorded(store, id) == [AfterRunReport(policy: .keep)])
        }
    }

    @Test func unloadUnloadsWhatTheRunLoadedOnly() async throws {
        try await OllamaStandIn.with(models: Self.models) { standIn in
            // Given a model the run uses already resident, and room for everything
            standIn.preload("qwen3:4b")
            standIn.preload("llama3.2:3b")
            let store = try RunStore.inMemory()

            let (outcome, reports) = try await Self.run(
                try Self.snapshot(url: standIn.baseURL, policy: "unload", budget: "8GB"), store: store)

            // Then the one model it loaded is unloaded; the ones it found are left
            guard case .completed = outcome else {
                Issue.record("\(outcome)")
                return
            }
            #expect(standIn.loadedNames == ["llama3.2:3b", "qwen3:4b"])
            #expect(reports == [AfterRunReport(policy: .unload, unloaded: ["ollama:gemma3:1b"])])
        }
    }

    @Test func aFailedRunRestoresToo() async throws {
        try await OllamaStandIn.with(models: Self.models) { standIn in
            standIn.preload("llama3.2:3b")
            let store = try RunStore.inMemory()
            // The second stage's model is not installed: the run fails there.
            let yaml = Self.pipeline.replacingOccurrences(of: "model: gemma3:1b", with: "model: missing:1b")
                .replacingOccurrences(of: "prompt: \"Write", with: "runtime: ollama\n    retry: {max_attempts: 1}\n    prompt: \"Write")

            let (outcome, reports) = try await Self.run(try Self.snapshot(yaml, url: standIn.baseURL, policy: nil), store: store)

            guard case .failed = outcome else {
                Issue.record("\(outcome)")
                return
            }
            #expect(standIn.loadedNames == ["llama3.2:3b"])
            #expect(reports.map(\.unloaded) == [["ollama:qwen3:4b"]])
            #expect(reports.map(\.reloaded) == [["ollama:llama3.2:3b"]])
        }
    }

    @Test func aCancelledRunRestoresDespiteTheCancellation() async throws {
        var settings = OllamaStandIn.Settings()
        settings.tokenDelay = 0.2
        try await OllamaStandIn.with(models: Self.models, settings: settings) { standIn in
            standIn.preload("llama3.2:3b")
            let store = try RunStore.inMemory()
            let snapshot = try Self.snapshot(url: standIn.baseURL, policy: nil)
            let reports = LockedList<AfterRunReport>()
            let executor = Executor(
                store: store, runtimes: RuntimeCatalog(environment: [:]),
                observer: { if case .afterRun(let report) = $0 { reports.append(report) } }, sleep: { _ in })

            // When the run is cancelled (as Ctrl-C does) while the second stage streams
            let task = Task { try await executor.start(snapshot, inputs: [:], claim: .current()) }
            let deadline = ContinuousClock.now + .seconds(60)
            while !standIn.requests.contains(where: { $0.model == "gemma3:1b" && $0.path == "/api/chat" && !$0.isEmptyChat }),
                ContinuousClock.now < deadline
            {
                try await Task.sleep(for: .milliseconds(20))
            }
            task.cancel()
            let outcome = try await task.value

            // Then the run is interrupted, and the models are as they were before it
            guard case .interrupted = outcome else {
                Issue.record("\(outcome)")
                return
            }
            #expect(standIn.loadedNames == ["llama3.2:3b"])
            #expect(reports.values.map(\.errors) == [[]])
            #expect(reports.values.map(\.reloaded) == [["ollama:llama3.2:3b"]])
        }
    }

    @Test func aModelLoadedWithAnIdleTimeoutGetsBackTheTimeItHadLeft() async throws {
        try await OllamaStandIn.with(models: Self.models) { standIn in
            // Given a model another client loaded for 10 minutes (`keep_alive: 10m`) with a context of 2048
            try await Self.load("llama3.2:3b", keepAlive: "10m", numCtx: 2048, on: standIn)
            let store = try RunStore.inMemory()

            // When the run unloads it, and restores it at its end
            let (outcome, reports) = try await Self.run(try Self.snapshot(url: standIn.baseURL, policy: nil), store: store)

            // Then it expires about 10 minutes after it would have (not in 300 years, as `keep_alive: -1` would have it)
            guard case .completed = outcome else {
                Issue.record("\(outcome)")
                return
            }
            #expect(reports.map(\.reloaded) == [["ollama:llama3.2:3b"]])
            let listed = try #require(try await Self.ps(standIn)["llama3.2:3b"])
            let expires = try #require(listed.expires.flatMap(OllamaClient.goTime))
            #expect(expires.timeIntervalSinceNow > 60 && expires.timeIntervalSinceNow <= 600, "\(expires)")
            // Setting its idle time did not reload it with another context
            #expect(listed.context == 2048)
            #expect(standIn.reloads == 0)
        }
    }

    @Test func aModelWhoseIdleTimeoutRanOutDuringTheRunIsNotLoadedAgain() async throws {
        let settings = OllamaStandIn.Settings()
        try await OllamaStandIn.with(models: Self.models, settings: settings) { standIn in
            // Given a model loaded for ten more minutes
            standIn.preload("llama3.2:3b")
            try await Self.load("llama3.2:3b", keepAlive: "10m", on: standIn)
            let store = try RunStore.inMemory()

            // When the run takes longer than that (its clock jumps an hour once it has loaded a model)
            let (outcome, reports) = try await Self.run(
                try Self.snapshot(url: standIn.baseURL, policy: nil), store: store, hourAfterFirstLoad: true)

            // Then it is left unloaded, as Ollama would have left it
            guard case .completed = outcome else {
                Issue.record("\(outcome)")
                return
            }
            #expect(standIn.loadedNames == [])
            #expect(reports.map(\.expired) == [["ollama:llama3.2:3b"]])
            #expect(reports.map(\.reloaded) == [[]])
        }
    }

    @Test func aRuntimeThatStopsAnsweringIsReportedAndTheOutcomeStands() async throws {
        try await OllamaStandIn.with(models: Self.models) { standIn in
            standIn.preload("llama3.2:3b")
            let store = try RunStore.inMemory()
            let snapshot = try Self.snapshot(url: standIn.baseURL, policy: nil)
            let reports = LockedList<AfterRunReport>()
            // Once the last stage has its answer, /api/ps stops answering (within the client's 1 s).
            let client = OllamaClient(baseURL: standIn.baseURL, connectTimeout: 1)
            let executor = Executor(
                store: store, runtimes: OllamaClientTests.Provider(client: client),
                observer: { event in
                    if case .afterRun(let report) = event { reports.append(report) }
                    if case .runFinished = event { standIn.configure { $0.psDelay = 5 } }
                }, sleep: { _ in })

            let outcome = try await executor.start(snapshot, inputs: [:], claim: .current())

            // Then the run completed all the same, and the failure is reported and recorded
            guard case .completed(let id) = outcome else {
                Issue.record("\(outcome)")
                return
            }
            let report = try #require(reports.values.first)
            #expect(report.unloaded.isEmpty && report.reloaded.isEmpty)
            #expect(report.errors.count == 1)
            #expect(report.errors.first?.contains("could not list the models loaded on runtime 'ollama'") == true, "\(report.errors)")
            #expect(try Self.recorded(store, id).first?.errors == report.errors)
            #expect(try store.run(id).status == .completed)
            standIn.configure { $0.psDelay = 0 }
        }
    }

    @Test func theTimeLimitCutsOnlyWorkThatOutlastsIt() async {
        // Work that ends in time is never taken for late (the timer, stopped, ends its sleep at once)
        for _ in 0..<200 {
            let value = await Executor.within(60) { 1 }
            #expect(value == 1)
        }
        // Work past the limit is given up on, and cancelled
        let cancelled = Locked(false)
        let late = await Executor.within(0.2) { () async -> Int in
            try? await Task.sleep(for: .seconds(60))
            cancelled.withLock { $0 = Task.isCancelled }
            return 1
        }
        #expect(late == nil)
        let deadline = ContinuousClock.now + .seconds(120)
        while !cancelled.current, ContinuousClock.now < deadline { try? await Task.sleep(for: .milliseconds(20)) }
        #expect(cancelled.current)
    }

    /// Loads `model` as another client would, with `keep_alive`.
    static func load(_ model: String, keepAlive: String, numCtx: Int = 4096, on standIn: OllamaStandIn) async throws {
        let request = HTTPRequest.json(
            standIn.baseURL + "/api/chat",
            ["model": model, "messages": [Any](), "keep_alive": keepAlive, "options": ["num_ctx": numCtx]])
        let response = try await AsyncHTTPTransport().send(request, connectTimeout: 30)
        _ = try await response.collect()
        #expect(response.status == 200)
    }
}
