import BatonEngine
import BatonSpec
import Foundation

/// A runtime for tests: answers from a closure, records every request, and can fail or hang on demand.
public final class ScriptedRuntime: LLMRuntime, RuntimeProvider, @unchecked Sendable {
    /// What the closure decides for one call.
    public enum Reply: Sendable {
        /// Answer with this text (streamed word by word).
        case text(String)
        /// Fail with this error.
        case error(RuntimeError)
        /// Never answer (until cancelled).
        case hang
        /// Stream exactly these events, then end (a `finished` event among them ends the answer).
        case events([GenerationEvent])
    }

    private let lock = NSLock()
    private var recorded: [GenerationRequest] = []
    private let reply: @Sendable (GenerationRequest, Int) -> Reply

    /// Creates a runtime; `reply` gets each request and how many calls came before it.
    public init(_ reply: @escaping @Sendable (GenerationRequest, Int) -> Reply) {
        self.reply = reply
    }

    /// Every request so far.
    public var requests: [GenerationRequest] {
        lock.lock()
        defer { lock.unlock() }
        return recorded
    }

    /// How many calls `stage` got.
    public func calls(_ stage: String) -> Int { requests.filter { $0.stage == stage }.count }

    public func runtime(for model: ResolvedModel, snapshot: RunSnapshot) throws -> any LLMRuntime { self }

    public func generate(_ request: GenerationRequest) -> AsyncThrowingStream<GenerationEvent, any Error> {
        lock.lock()
        let index = recorded.count
        recorded.append(request)
        lock.unlock()
        let answer = reply(request, index)
        return AsyncThrowingStream { continuation in
            let task = Task {
                switch answer {
                case .text(let text):
                    var words = 0
                    for word in text.split(separator: " ", omittingEmptySubsequences: false) {
                        continuation.yield(.token((words == 0 ? "" : " ") + word))
                        words += 1
                    }
                    continuation.yield(.finished(GenerationUsage(promptTokens: 1, outputTokens: words)))
                    continuation.finish()
                case .events(let events):
                    for event in events { continuation.yield(event) }
                    continuation.finish()
                case .error(let error):
                    continuation.finish(throwing: error)
                case .hang:
                    do {
                        try await Task.sleep(for: .seconds(3600))
                    } catch {
                        continuation.finish(throwing: error)
                    }
                }
            }
            continuation.onTermination = { _ in task.cancel() }
        }
    }
}

/// Compiles pipeline text to a run snapshot (no profile), failing loudly when it does not compile.
public func snapshot(_ yaml: String) throws -> RunSnapshot {
    let result = PipelineCompiler(profile: nil).compile(SourceFile(path: "test.yaml", text: yaml))
    guard let plan = result.plan else {
        throw SnapshotError(
            message: result.diagnostics.map { "\($0.location.map(\.description) ?? ""): \($0.message)" }.joined(separator: "\n"))
    }
    return RunSnapshot(plan: plan, profile: nil, sources: ["test.yaml": yaml], pipelinePath: nil, forcedRuntime: nil)
}

/// A test pipeline that does not compile.
public struct SnapshotError: Error, CustomStringConvertible {
    public var message: String
    public var description: String { message }
}
