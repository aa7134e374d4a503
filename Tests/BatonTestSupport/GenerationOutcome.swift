import BatonEngine
import Foundation

/// What a generation streamed: its tokens, its usage, and the error that ended it.
public struct GenerationOutcome {
    /// The tokens, in order.
    public var tokens: [String] = []
    /// The thinking pieces, in order.
    public var thinking: [String] = []
    /// The notices the client sent.
    public var notices: [RuntimeNotice] = []
    /// The tool calls the client sent, in order.
    public var toolCalls: [ToolCall] = []
    /// The usage of the `finished` event, if one came.
    public var usage: GenerationUsage?
    /// The error that ended the stream, if any.
    public var error: (any Error)?
    /// Why the generation stopped, as the client reported it.
    public var finish: FinishReason? { usage?.finish }
    /// The tokens joined.
    public var text: String { tokens.joined() }
    /// ``error`` when it is a ``RuntimeError``.
    public var runtimeError: RuntimeError? { error as? RuntimeError }

    /// Streams `request` from `runtime` to its end.
    public static func of(_ runtime: any LLMRuntime, _ request: GenerationRequest) async -> GenerationOutcome {
        var outcome = GenerationOutcome()
        do {
            for try await event in runtime.generate(request) {
                switch event {
                case .token(let text): outcome.tokens.append(text)
                case .thinking(let text): outcome.thinking.append(text)
                case .notice(let notice): outcome.notices.append(notice)
                case .finished(let usage): outcome.usage = usage
                case .toolCall(let call): outcome.toolCalls.append(call)
                }
            }
        } catch {
            outcome.error = error
        }
        return outcome
    }

    /// The runtime error `body` throws, or nil (also when it throws another error).
    public static func runtimeError(_ body: () async throws -> some Any) async -> RuntimeError? {
        do {
            _ = try await body()
            return nil
        } catch {
            return error as? RuntimeError
        }
    }
}
