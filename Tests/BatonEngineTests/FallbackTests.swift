import BatonEngine
import BatonSpec
import BatonTestSupport
import Foundation
import Testing

/// Model fallback chains: each trigger moves a stage to the next model, recorded and reported; other
/// failures do not.
@Suite struct FallbackTests {
    static func pipeline(chain: String = "[a, b, c]", retry: String = "{max_attempts: 2, initial_backoff: 1s}") -> String {
        """
        version: 1
        stages:
          plan:
            model: \(chain)
            retry: \(retry)
            prompt: Plan
          build:
            model: c
            prompt: "Build {{stages.plan.output}}"
        """
    }

    /// A critic loop whose reviewed stage has a two-model chain.
    static let loop = """
        version: 1
        stages:
          draft:
            model: [a, b]
            prompt: "Draft {{round}}"
          review:
            model: r
            reviews: draft
            max_rounds: 3
            prompt: "Review {{stages.draft.output}}"
        """

    /// Runs `yaml` on `runtime`, collecting the observer's fallback notices.
    static func run(
        _ yaml: String, on runtime: any RuntimeProvider, store: RunStore
    ) async throws -> (RunOutcome, [String]) {
        let notices = Notices()
        let executor = Executor(
            store: store, runtimes: runtime,
            observer: { event in
                if case .modelFallback(let stage, let from, let to, let reason) = event {
                    notices.append("\(stage): \(from) → \(to) (\(reason))")
                }
            },
            sleep: { _ in }, random: { 0.5 })
        let outcome = try await executor.start(try snapshot(yaml), inputs: [:], claim: .current())
        return (outcome, notices.values)
    }

    static func fallbackEvents(_ store: RunStore, _ id: String) throws -> [[String: String]] {
        try store.events(id).filter { $0.kind == .modelFallback }.map {
            try JSONDecoder().decode([String: String].self, from: Data(($0.payload ?? "{}").utf8))
        }
    }

    @Test(arguments: [
        (RuntimeError(.modelNotFound, "model 'a' not found", isTransient: false), "model not found", 1),
        (RuntimeError(.outOfMemory, "model 'a' needs more memory than is available", isTransient: false), "out of memory", 1),
        // Unreachable is transient: the stage's retries are used up first (max_attempts: 2).
        (RuntimeError(.unreachable, "connection refused", isTransient: true), "runtime unreachable", 2),
    ])
    func eachGenerationTriggerMovesToTheNextModel(error: RuntimeError, reason: String, callsOnA: Int) async throws {
        // Given a runtime on which model a fails that way
        let store = try RunStore.inMemory()
        let runtime = ScriptedRuntime { request, _ in request.model == "a" ? .error(error) : .text("\(request.model) answered") }

        // When
        let (outcome, notices) = try await Self.run(Self.pipeline(), on: runtime, store: store)

        // Then the stage ran on b, and the move is an event, an observer notice and visible in the attempts
        guard case .completed(let id) = outcome else {
            Issue.record("\(outcome)")
            return
        }
        #expect(runtime.requests.filter { $0.stage == "plan" }.map(\.model) == Array(repeating: "a", count: callsOnA) + ["b"])
        #expect(notices == ["plan: a → b (\(reason))"])
        let events = try Self.fallbackEvents(store, id)
        #expect(events.map { [$0["from"], $0["to"], $0["reason"]] } == [["a", "b", reason]])
        #expect(events.first?["error"]?.contains(error.message) == true)
        let plan = try store.attempts(id).filter { $0.stage == "plan" }
        #expect(plan.map(\.model) == Array(repeating: "a", count: callsOnA) + ["b"])
        #expect(plan.map(\.status) == Array(repeating: .failed, count: callsOnA) + [.completed])
        #expect(try store.attempts(id).last?.output == "c answered")
    }

    @Test func failuresAnotherModelWouldNotFixDoNotFallBack() async throws {
        for error in [
            RuntimeError(.invalidOutput, "the verdict is not JSON", isTransient: false),
            RuntimeError(.httpStatus, "HTTP 400: bad request", isTransient: false),
            RuntimeError(.timeout, "stage 'plan' took longer than its timeout of 1s", isTransient: true),
        ] {
            let store = try RunStore.inMemory()
            let runtime = ScriptedRuntime { request, _ in request.model == "a" ? .error(error) : .text("ok") }
            let (outcome, notices) = try await Self.run(Self.pipeline(), on: runtime, store: store)
            guard case .failed(let id, let reason, _) = outcome else {
                Issue.record("\(outcome)")
                continue
            }
            #expect(reason.contains(error.message))
            #expect(notices.isEmpty)
            #expect(try Self.fallbackEvents(store, id).isEmpty)
            #expect(!runtime.requests.contains { $0.model == "b" })
        }
    }

    @Test func aChainThatRunsOutFailsNamingEveryModelTried() async throws {
        let store = try RunStore.inMemory()
        let runtime = ScriptedRuntime { request, _ in
            request.stage == "plan"
                ? .error(RuntimeError(.modelNotFound, "model '\(request.model)' not found", isTransient: false)) : .text("ok")
        }
        let (outcome, notices) = try await Self.run(Self.pipeline(), on: runtime, store: store)
        guard case .failed(let id, let reason, let unavailable) = outcome else {
            Issue.record("\(outcome)")
            return
        }
        #expect(
            reason
                == "stage 'plan' failed: model 'c' not found; every model of its chain failed: a (model not found), b (model not found), c (model not found)"
        )
        #expect(!unavailable)
        #expect(notices == ["plan: a → b (model not found)", "plan: b → c (model not found)"])
        #expect(try Self.fallbackEvents(store, id).count == 2)
        #expect(try store.run(id).status == .failed)
    }

    @Test func aRuntimeThatCannotBeMadeFallsBack() async throws {
        // Given a provider that cannot make model a's runtime (a cloud runtime without its key, say)
        let store = try RunStore.inMemory()
        let scripted = ScriptedRuntime { request, _ in .text("\(request.model) answered") }
        let provider = Provider { model in
            if model.name == "a" {
                throw RuntimeError(.unreachable, "runtime 'cloud' needs an API key; set OPENAI_API_KEY", isTransient: false)
            }
            return scripted
        }
        let (outcome, notices) = try await Self.run(Self.pipeline(), on: provider, store: store)
        guard case .completed = outcome else {
            Issue.record("\(outcome)")
            return
        }
        #expect(notices == ["plan: a → b (runtime not usable)"])
        #expect(scripted.requests.map(\.model) == ["b", "c"])
    }

    @Test func aModelThatFailsToLoadFallsBackAndTheNextIsLoadedInstead() async throws {
        // Given a managed runtime on which model a's load fails
        let store = try RunStore.inMemory()
        let managed = ManagedRuntime(failingLoads: [
            "a": RuntimeError(.httpStatus, "HTTP 500: failed to load model 'a'", isTransient: false)
        ])
        let (outcome, notices) = try await Self.run(Self.pipeline(chain: "[a, b]"), on: Provider { _ in managed }, store: store)
        guard case .completed(let id) = outcome else {
            Issue.record("\(outcome)")
            return
        }
        #expect(notices == ["plan: a → b (load failed)"])
        // Then after_run (restore, the default) unloads what the run loaded.
        #expect(managed.log == ["load a", "load b", "generate b", "load c", "generate c", "unload b", "unload c"])
        let loads = try store.events(id).filter { $0.kind == .modelLoaded }.compactMap(\.payload)
        #expect(loads.count == 2)
        #expect(loads.first?.contains(":b\"") == true)
    }

    @Test func onOllamaAMissingModelAndOneTooBigForMemoryFallBackToOneThatFits() async throws {
        // Given an Ollama with 'huge' (10 GB once loaded, on a machine with 4 GB) and 'small', but no 'gone'
        let yaml = """
            version: 1
            stages:
              plan:
                model: [gone, huge, small]
                prompt: Plan
            """
        var settings = OllamaStandIn.Settings()
        settings.memoryCapacity = 4_000_000_000
        let models = [OllamaStandIn.Model("huge", memoryBytes: 10_000_000_000), OllamaStandIn.Model("small")]
        try await OllamaStandIn.with(models: models, settings: settings) { standIn in
            let store = try RunStore.inMemory()
            let client = OllamaClient(baseURL: standIn.baseURL)

            // When
            let (outcome, notices) = try await Self.run(yaml, on: Provider { _ in client }, store: store)

            // Then the 404 and Ollama's out-of-memory answer each moved the stage on, and 'small' answered
            guard case .completed(let id) = outcome else {
                Issue.record("\(outcome)")
                return
            }
            #expect(notices == ["plan: gone → huge (model not found)", "plan: huge → small (out of memory)"])
            #expect(try store.attempts(id).map(\.model) == ["small"])
            // 'small' was loaded, and unloaded at the end by after_run (restore, the default)
            #expect(try store.events(id, kind: .modelLoaded).compactMap(\.payload).contains { $0.contains(":small\"") })
            #expect(standIn.loadedNames == [])
        }
    }

    @Test func aStageThatFellBackKeepsItsNewModelForLaterRounds() async throws {
        let yaml = Self.loop
        let store = try RunStore.inMemory()
        let reviews = Counter()
        let runtime = ScriptedRuntime { request, _ in
            if request.model == "a" { return .error(RuntimeError(.modelNotFound, "model 'a' not found", isTransient: false)) }
            if request.stage == "review" {
                return reviews.next() < 2 ? .text(#"{"verdict": "revise", "feedback": "more"}"#) : .text(#"{"verdict": "approve"}"#)
            }
            return .text("draft by \(request.model)")
        }
        let (outcome, notices) = try await Self.run(yaml, on: runtime, store: store)
        guard case .completed = outcome else {
            Issue.record("\(outcome)")
            return
        }
        #expect(runtime.requests.filter { $0.stage == "draft" }.map(\.model) == ["a", "b", "b", "b"])
        #expect(notices.count == 1)
    }

    @Test func resumeAfterAFallbackReusesTheCompletedWork() async throws {
        // Given a run whose first stage fell back and whose second stage then failed for good
        let store = try RunStore.inMemory()
        let first = ScriptedRuntime { request, _ in
            if request.model == "a" { return .error(RuntimeError(.modelNotFound, "model 'a' not found", isTransient: false)) }
            if request.stage == "build" { return .error(RuntimeError(.invalidOutput, "bad", isTransient: false)) }
            return .text("\(request.model) answered")
        }
        let (outcome, _) = try await Self.run(Self.pipeline(), on: first, store: store)
        guard case .failed(let id, _, _) = outcome else {
            Issue.record("\(outcome)")
            return
        }

        // When it resumes on a runtime that works
        let second = ScriptedRuntime { request, _ in .text("\(request.model) answered") }
        let resumed = try await Executor(store: store, runtimes: second, sleep: { _ in }, random: { 0.5 }).resume(id, claim: .current())

        // Then plan's completed attempt on b is reused and only build runs
        #expect(resumed == .completed(runID: id))
        #expect(second.requests.map(\.stage) == ["build"])
        #expect(second.requests.first?.prompt == "Build b answered")
    }

    @Test func aResumedStageKeepsTheModelItFellBackTo() async throws {
        // Given a critic loop whose draft fell back from a to b and whose run then failed in round 2
        let yaml = Self.loop
        let store = try RunStore.inMemory()
        let first = ScriptedRuntime { request, _ in
            if request.model == "a" { return .error(RuntimeError(.modelNotFound, "model 'a' not found", isTransient: false)) }
            if request.stage == "review" { return .text(#"{"verdict": "revise", "feedback": "more"}"#) }
            return request.round == 2 ? .error(RuntimeError(.invalidOutput, "bad", isTransient: false)) : .text("draft")
        }
        let (outcome, _) = try await Self.run(yaml, on: first, store: store)
        guard case .failed(let id, _, _) = outcome else {
            Issue.record("\(outcome)")
            return
        }

        // When it resumes
        let second = ScriptedRuntime { request, _ in
            request.stage == "review" ? .text(#"{"verdict": "approve"}"#) : .text("draft by \(request.model)")
        }
        let resumed = try await Executor(store: store, runtimes: second, sleep: { _ in }, random: { 0.5 }).resume(id, claim: .current())

        // Then round 2 of the draft runs on b at once, not on a again
        #expect(resumed == .completed(runID: id))
        #expect(second.requests.filter { $0.stage == "draft" }.map(\.model) == ["b"])
    }
}

/// A provider from a closure.
private struct Provider: RuntimeProvider {
    var make: @Sendable (ResolvedModel) throws -> any LLMRuntime
    init(_ make: @escaping @Sendable (ResolvedModel) throws -> any LLMRuntime) { self.make = make }
    func runtime(for model: ResolvedModel, snapshot: RunSnapshot) throws -> any LLMRuntime { try make(model) }
}

/// A runtime that manages its models, with loads that fail on demand, logging loads and generations.
private final class ManagedRuntime: LLMRuntime, ModelManaging, @unchecked Sendable {
    private let lock = NSLock()
    private var entries: [String] = []
    private var loaded: [String] = []
    private let failingLoads: [String: RuntimeError]

    init(failingLoads: [String: RuntimeError]) { self.failingLoads = failingLoads }

    var log: [String] {
        lock.lock()
        defer { lock.unlock() }
        return entries
    }

    private func note(_ entry: String) {
        lock.lock()
        entries.append(entry)
        lock.unlock()
    }

    func residentModels() async throws -> [ResidentModel] {
        lock.withLock { loaded.map { ResidentModel(name: $0, bytes: nil) } }
    }

    func load(_ model: String, settings: StageSettings) async throws -> LoadReport {
        note("load \(model)")
        if let error = failingLoads[model] { throw error }
        lock.withLock { loaded.append(model) }
        return LoadReport(seconds: 0.01, measuredBytes: nil)
    }

    func unload(_ model: String) async throws {
        note("unload \(model)")
        lock.withLock { loaded.removeAll { $0 == model } }
    }

    func generate(_ request: GenerationRequest) -> AsyncThrowingStream<GenerationEvent, any Error> {
        note("generate \(request.model)")
        return AsyncThrowingStream { continuation in
            continuation.yield(.token("\(request.model) answered"))
            continuation.yield(.finished(GenerationUsage(promptTokens: 1, outputTokens: 2)))
            continuation.finish()
        }
    }
}

/// Strings collected from the observer.
private typealias Notices = LockedList<String>
