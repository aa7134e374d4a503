import BatonEngine
import BatonSpec
import BatonTestSupport
import Foundation
import Testing

/// A runtime that is down is said once: its other models, in the stage's chain and in later stages, are
/// skipped without a request for the rest of the run, and the run fails naming the command that starts it.
@Suite struct RuntimeDownTests {
    /// An Ollama on its default port with three models, a llama-server router with one, and an echo model.
    static let profileText = """
        version: 1
        name: down
        runtimes:
          ollama: {kind: ollama, url: "http://127.0.0.1:11434"}
          router: {kind: llama-server, url: "http://127.0.0.1:18080"}
          echo: {kind: echo}
        models:
          qwen2.5:14b: {runtime: ollama, footprint: 1GB}
          llama3.2: {runtime: ollama, footprint: 1GB}
          gemma3: {runtime: ollama, footprint: 1GB}
          planner: {runtime: router, footprint: 1GB}
          tiny: {runtime: echo, footprint: 0}
        """

    static func snapshot(_ yaml: String) throws -> RunSnapshot {
        let document = ProfileDecoder.decode(SourceFile(path: "down.yaml", text: profileText), environment: [:])
        let (resolved, diagnostics) = ProfileResolver.resolve(document) { _ in nil }
        let profile = try #require(resolved, "\(diagnostics)")
        let result = PipelineCompiler(profile: profile).compile(SourceFile(path: "down-test.yaml", text: yaml))
        let plan = try #require(result.plan, "\(result.diagnostics.map(\.message))")
        return RunSnapshot(plan: plan, profile: profile, sources: ["down-test.yaml": yaml], pipelinePath: nil, forcedRuntime: nil)
    }

    static func pipeline(_ chain: String, later: String) -> String {
        """
        version: 1
        stages:
          plan:
            model: \(chain)
            retry: {max_attempts: 2, initial_backoff: 10ms}
            prompt: Plan
          build:
            model: \(later)
            retry: {max_attempts: 2, initial_backoff: 10ms}
            prompt: "Build {{stages.plan.output}}"
        """
    }

    /// Runs `yaml` through a runtime catalog whose transport refuses every connection, counting the requests.
    static func run(_ yaml: String) async throws -> (RunOutcome, RefusingTransport, [RunEvent], RunStore) {
        let store = try RunStore.inMemory()
        let transport = RefusingTransport()
        let events = EventList()
        let executor = Executor(
            store: store, runtimes: RuntimeCatalog(environment: [:], transport: transport), observer: { events.append($0) },
            sleep: { _ in }, random: { 0.5 })
        let outcome = try await executor.start(try snapshot(yaml), inputs: [:], claim: .current())
        return (outcome, transport, events.values, store)
    }

    @Test func aDownOllamaIsTriedForOneModelOnlyAndTheRunNamesTheCommandThatStartsIt() async throws {
        // Given the requests one model on the down Ollama costs (its load, with its retries)
        let (_, alone, _, _) = try await Self.run(Self.pipeline("[qwen2.5:14b]", later: "tiny"))
        let oneModel = alone.count(port: 11434)
        #expect(oneModel > 0)

        // When a chain of three Ollama models and a router model runs, then a later stage on the same Ollama
        let started = Date()
        let (outcome, transport, events, store) = try await Self.run(
            Self.pipeline("[qwen2.5:14b, llama3.2, gemma3, planner]", later: "gemma3"))
        print("runtime-down run took \(String(format: "%.3f", Date().timeIntervalSince(started))) s")

        // Then Ollama received only the first model's requests, and the router its own
        #expect(transport.count(port: 11434) == oneModel, "\(transport.urls)")
        #expect(transport.count(port: 18080) > 0)
        guard case .failed(let id, let reason, let unavailable) = outcome else {
            Issue.record("\(outcome)")
            return
        }
        #expect(unavailable)
        // One sentence per runtime, with what starts it
        // The failure as it happened (on the router, tried last) leads
        #expect(
            reason.hasPrefix("stage 'plan' failed after 2 tries to load its model: cannot connect to http://127.0.0.1:18080"), "\(reason)")
        #expect(reason.contains("runtime 'ollama' is not reachable ("), "\(reason)")
        #expect(reason.components(separatedBy: "start it with: ollama serve").count == 2, "\(reason)")
        #expect(reason.contains("runtime 'router' is not reachable: start llama-server"), "\(reason)")
        #expect(reason.contains("start llama-server at http://127.0.0.1:18080"), "\(reason)")
        // Each runtime announced once; the skipped models named
        let down = events.compactMap { event -> String? in
            guard case .runtimeUnreachable(_, let runtime, _, _, let skipped) = event else { return nil }
            return "\(runtime): \(skipped.joined(separator: ","))"
        }
        #expect(down == ["ollama: ollama:llama3.2,ollama:gemma3", "router: "])
        // The fallback is still recorded, from the first model straight to the router's
        let fallbacks = try store.events(id, kind: .modelFallback).compactMap(\.payload).map {
            try JSONDecoder().decode([String: String].self, from: Data($0.utf8))
        }
        #expect(
            fallbacks.map { "\($0["from"] ?? "") → \($0["to"] ?? "") \($0["skipped"] ?? "-")" } == [
                "ollama:qwen2.5:14b → router:planner ollama:llama3.2, ollama:gemma3"
            ])
    }

    @Test func aLaterStageOnTheDeadRuntimeIsNotRetried() async throws {
        // Given a first stage that falls back from the down Ollama to echo, and a later stage on the same Ollama
        let (_, alone, _, _) = try await Self.run(Self.pipeline("[qwen2.5:14b, tiny]", later: "tiny"))
        let oneModel = alone.count(port: 11434)

        // When
        let (outcome, transport, events, _) = try await Self.run(Self.pipeline("[qwen2.5:14b, tiny]", later: "[gemma3, tiny]"))

        // Then the later stage went straight to echo: no request, no retry, no second announcement
        guard case .completed = outcome else {
            Issue.record("\(outcome)")
            return
        }
        #expect(transport.count(port: 11434) == oneModel)
        let retries = events.filter { if case .retrying(let stage, _, _, _) = $0 { stage == "build" } else { false } }
        #expect(retries.isEmpty)
        #expect(events.filter { if case .runtimeUnreachable = $0 { true } else { false } }.count == 1)
    }

    @Test func aLaterStageWhoseRuntimesAreAllDownFailsNamingThemWithoutARequest() async throws {
        // Given a first stage that falls back from the down Ollama to echo, and a later stage only on that Ollama
        let (outcome, transport, _, _) = try await Self.run(Self.pipeline("[qwen2.5:14b, tiny]", later: "[gemma3, llama3.2]"))
        let (_, alone, _, _) = try await Self.run(Self.pipeline("[qwen2.5:14b, tiny]", later: "tiny"))

        // Then the later stage fails at once, saying what starts the runtime, exit 69's kind of failure
        guard case .failed(_, let reason, let unavailable) = outcome else {
            Issue.record("\(outcome)")
            return
        }
        #expect(unavailable)
        #expect(reason.hasPrefix("stage 'build' cannot run: runtime 'ollama' is not reachable ("), "\(reason)")
        #expect(reason.hasSuffix("; start it with: ollama serve"), "\(reason)")
        #expect(transport.count(port: 11434) == alone.count(port: 11434))
    }

    @Test func aResumedRunTriesTheRuntimeAgain() async throws {
        // Given a run that failed because its only runtime was down
        let (outcome, first, _, store) = try await Self.run(Self.pipeline("[qwen2.5:14b, llama3.2]", later: "tiny"))
        guard case .failed(let id, _, _) = outcome else {
            Issue.record("\(outcome)")
            return
        }
        let before = first.count(port: 11434)

        // When it resumes (the runtime is still down)
        let second = RefusingTransport()
        let executor = Executor(
            store: store, runtimes: RuntimeCatalog(environment: [:], transport: second), sleep: { _ in }, random: { 0.5 })
        _ = try await executor.resume(id, claim: .current())

        // Then the runtime was asked again (for the model the stage had fallen back to), as often as the first time
        // less its listing of what was loaded when the run first started, for after_run (a resume reads that record)
        #expect(second.count(port: 11434) == before - 1)
    }
}

/// A transport on which nothing listens: every request is refused as a closed port refuses it, and counted.
final class RefusingTransport: HTTPTransport, @unchecked Sendable {
    private let lock = NSLock()
    private var sent: [String] = []

    var urls: [String] { lock.withLock { sent } }

    func count(port: Int) -> Int { urls.filter { URLComponents(string: $0)?.port == port }.count }

    func send(_ request: HTTPRequest, connectTimeout: Double) async throws -> HTTPResponse {
        lock.withLock { sent.append(request.url) }
        // The message AsyncHTTPTransport.map gives a refused connection.
        throw RuntimeError(.unreachable, "cannot connect to \(request.url): is the runtime running?", isTransient: true)
    }
}

/// The events an executor reported, in order.
private final class EventList: @unchecked Sendable {
    private let lock = NSLock()
    private var list: [RunEvent] = []
    func append(_ event: RunEvent) { lock.withLock { list.append(event) } }
    var values: [RunEvent] { lock.withLock { list } }
}
