import BatonSpec
import Foundation

/// One generation of an attempt: the runtime's stream read into the attempt, partial output saved now
/// and then, within the stage's timeout.
extension Executor {
    /// An attempt as the stream left it, and how the stream ended.
    struct Generated {
        var attempt: AttemptRecord
        var result: Result<Void, any Error>
        /// Why the generation stopped, when the runtime said.
        var finish: FinishReason? = nil
        /// Of the output tokens, the thinking ones, when the runtime said.
        var thinkingTokens: Int? = nil
    }

    /// Streams one generation into `attempt`, saving partial output now and then, within `timeout`.
    func generate(
        _ request: GenerationRequest, runtime: any LLMRuntime, attempt: AttemptRecord, timeout: Double?,
        extraTimings: [String: Double]
    ) async -> Generated {
        let progress = ProgressBox(attempt: attempt, extraTimings: extraTimings)
        do {
            if runtime.enforcesTimeout {
                try await stream(request, runtime: runtime, into: progress, attempt: attempt)
            } else {
                try await Self.within(timeout, stage: request.stage) { [self] in
                    try await stream(request, runtime: runtime, into: progress, attempt: attempt)
                }
            }
            return Generated(
                attempt: progress.attempt, result: .success(()), finish: progress.finishReason, thinkingTokens: progress.thinkingCount)
        } catch {
            return Generated(attempt: progress.attempt, result: .failure(Task.isCancelled ? CancellationError() : error))
        }
    }

    /// Runs `body`, stopping it with a transient timeout error after `timeout` seconds (nil: no limit), for a runtime
    /// that does not enforce the timeout itself.
    private static func within(_ timeout: Double?, stage: String, _ body: @escaping @Sendable () async throws -> Void) async throws {
        guard let timeout else { return try await body() }
        // Race the stream against the clock.
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await body() }
            group.addTask {
                try await Task.sleep(for: .seconds(timeout))
                throw RuntimeError.stageTimeout(stage: stage, seconds: timeout)
            }
            try await group.next()
            group.cancelAll()
        }
    }

    /// Reads the runtime's stream into `progress`, reporting each piece and saving the output every
    /// `progressInterval` seconds, with the text generated since the previous save as an `output-chunk` event.
    private func stream(
        _ request: GenerationRequest, runtime: any LLMRuntime, into progress: ProgressBox, attempt: AttemptRecord
    ) async throws {
        var lastSave = Date()
        var finished = false
        // How much of the output the chunks hold, in UTF-8 bytes (to find the rest in O(1), without any work per token)
        // and in UTF-16 units (the next chunk's offset). A save that fails leaves both, so the next chunk carries its
        // text and an attempt's chunks stay contiguous.
        var sentBytes = 0
        var sentUnits = 0
        observer(.generationStarted(stage: request.stage, model: request.model))
        func take(_ event: GenerationEvent) throws {
            switch event {
            case .token(let text):
                progress.append(text)
                killSwitch?.hit(.token)
                observer(.token(stage: request.stage, text: text, item: request.item))
                if progressInterval <= 0 || Date().timeIntervalSince(lastSave) >= progressInterval {
                    lastSave = Date()
                    let snapshot = progress.attempt
                    let output = snapshot.output.utf8
                    // Tokens are whole strings, so the bytes sent end on a scalar boundary: the rest decodes as it is, and
                    // its UTF-16 length adds up (a character a token split, e and a combining accent, stays split).
                    let unsent = String(decoding: output[output.index(output.startIndex, offsetBy: sentBytes)...], as: UTF8.self)
                    let chunk = RunStore.OutputChunk(
                        runID: attempt.runID, stage: attempt.stage, text: unsent, offset: sentUnits, item: attempt.item)
                    if (try? store.saveProgress(
                        snapshot.id!, output: snapshot.output, firstTokenAt: snapshot.firstTokenAt, thinking: snapshot.thinking,
                        chunk: unsent.isEmpty ? nil : chunk)) != nil
                    {
                        sentBytes = output.count
                        sentUnits += unsent.utf16.count
                    }
                }
            case .thinking(let text):
                progress.appendThinking(text)
                observer(.thinking(stage: request.stage, text: text))
            case .notice(let notice):
                let payload = try? Self.encode(["code": notice.code, "message": notice.message, "model": request.model])
                try? store.appendEvent(attempt.runID, kind: .runtimeNotice, stage: request.stage, attemptID: attempt.id, payload: payload)
                observer(.runtimeNotice(stage: request.stage, notice: notice))
            case .finished(let usage):
                progress.finish(usage)
                finished = true
            case .toolCall:
                break  // the tool loop (Executor+ToolLoop.swift) reads calls; a plain stage offers no tools
            }
        }
        if let immediate = runtime.immediateEvents(request) {
            // An answer known at once (an echo call without delays) is taken as it is, without a stream and the task
            // switches it costs (LLMRuntime.immediateEvents), each event as a streamed one would be.
            for event in try immediate.get() {
                try Task.checkCancellation()
                try take(event)
            }
        } else {
            for try await event in runtime.generate(request) { try take(event) }
        }
        try Task.checkCancellation()
        // A stream that stops without its end is a truncated answer, not a complete one.
        guard finished else {
            throw RuntimeError(
                .badResponse, "the runtime's answer for stage '\(request.stage)' ended before it was complete", isTransient: true)
        }
    }

    static func seconds(_ value: Double) -> String {
        if value < 1 { return "\(Int((value * 1000).rounded()))ms" }
        return value == value.rounded() ? "\(Int(value))s" : String(format: "%.1fs", value)
    }
}

/// The attempt being streamed, shared between the stream task and the executor.
private final class ProgressBox: Sendable {
    private struct State {
        var current: AttemptRecord
        /// Why the generation stopped, as the runtime said.
        var finish: FinishReason?
        /// Of the output tokens, the thinking ones, when the runtime said.
        var thinkingTokens: Int?
    }

    private let state: Locked<State>
    private let extraTimings: [String: Double]

    init(attempt: AttemptRecord, extraTimings: [String: Double]) {
        var current = attempt
        self.extraTimings = extraTimings
        if !extraTimings.isEmpty {
            current.timings = (try? JSONEncoder().encode(extraTimings)).map { String(decoding: $0, as: UTF8.self) }
        }
        state = Locked(State(current: current))
    }

    var finishReason: FinishReason? { state.withLock { $0.finish } }

    var thinkingCount: Int? { state.withLock { $0.thinkingTokens } }

    var attempt: AttemptRecord { state.withLock { $0.current } }

    func appendThinking(_ text: String) {
        state.withLock { $0.current.thinking = ($0.current.thinking ?? "") + text }
    }

    func append(_ text: String) {
        state.withLock {
            if $0.current.firstTokenAt == nil { $0.current.firstTokenAt = RunStore.now() }
            $0.current.output += text
        }
    }

    func finish(_ usage: GenerationUsage) {
        let timings = usage.runtimeTimings.merging(extraTimings) { runtime, _ in runtime }
        state.withLock { state in
            state.current.promptTokens = usage.promptTokens
            state.current.outputTokens = usage.outputTokens
            state.current.finishReason = usage.finish?.kind.rawValue
            state.finish = usage.finish
            state.thinkingTokens = usage.thinkingTokens
            if !timings.isEmpty {
                state.current.timings = (try? JSONEncoder().encode(timings)).map { String(decoding: $0, as: UTF8.self) }
            }
        }
    }
}
