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
        let store = self.store
        let observer = self.observer
        let interval = progressInterval
        let killSwitch = self.killSwitch
        let runID = attempt.runID
        let attemptID = attempt.id
        @Sendable func consume() async throws {
            var lastSave = Date()
            var finished = false
            observer(.generationStarted(stage: request.stage, model: request.model))
            for try await event in runtime.generate(request) {
                switch event {
                case .token(let text):
                    progress.append(text)
                    killSwitch?.hit(.token)
                    observer(.token(stage: request.stage, text: text))
                    if interval <= 0 || Date().timeIntervalSince(lastSave) >= interval {
                        lastSave = Date()
                        let snapshot = progress.attempt
                        try? store.saveProgress(
                            snapshot.id!, output: snapshot.output, firstTokenAt: snapshot.firstTokenAt, thinking: snapshot.thinking)
                    }
                case .thinking(let text):
                    progress.appendThinking(text)
                    observer(.thinking(stage: request.stage, text: text))
                case .notice(let notice):
                    let payload = try? Self.encode(["code": notice.code, "message": notice.message, "model": request.model])
                    try? store.appendEvent(runID, kind: .runtimeNotice, stage: request.stage, attemptID: attemptID, payload: payload)
                    observer(.runtimeNotice(stage: request.stage, notice: notice))
                case .finished(let usage):
                    progress.finish(usage)
                    finished = true
                }
            }
            try Task.checkCancellation()
            // A stream that stops without its end is a truncated answer, not a complete one.
            guard finished else {
                throw RuntimeError(
                    .badResponse, "the runtime's answer for stage '\(request.stage)' ended before it was complete", isTransient: true)
            }
        }
        do {
            if let timeout {
                // Race the stream against the clock.
                try await withThrowingTaskGroup(of: Void.self) { group in
                    group.addTask { try await consume() }
                    group.addTask {
                        try await Task.sleep(for: .seconds(timeout))
                        throw RuntimeError(
                            .timeout, "stage '\(request.stage)' took longer than its timeout of \(Self.seconds(timeout))", isTransient: true
                        )
                    }
                    try await group.next()
                    group.cancelAll()
                }
            } else {
                try await consume()
            }
            return Generated(
                attempt: progress.attempt, result: .success(()), finish: progress.finishReason, thinkingTokens: progress.thinkingCount)
        } catch {
            return Generated(attempt: progress.attempt, result: .failure(Task.isCancelled ? CancellationError() : error))
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
