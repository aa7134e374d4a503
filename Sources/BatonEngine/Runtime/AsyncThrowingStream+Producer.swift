import BatonSpec

extension AsyncThrowingStream where Failure == any Error, Element: Sendable {
    /// A stream fed by `produce` in a task of its own: it finishes when `produce` returns, fails with what
    /// `produce` throws, and cancels the task when its reader stops reading (the reader's task is cancelled or
    /// it drops the stream), so a stage timeout or Ctrl-C also ends the HTTP request underneath.
    ///
    /// Every stream of the runtime layer (a generation, an HTTP body, its lines, its server-sent events) is made
    /// this way, so none can forget the cancellation.
    ///
    /// With a `timeout` (seconds), the stream fails with `timedOut()` once that long has passed, and the task is
    /// cancelled. The clock is the process's one ``DeadlineClock``, not a task racing `produce`: the executor relies
    /// on this for the stage timeout (``LLMRuntime/enforcesTimeout``), and a racing task per attempt cost about a
    /// tenth of the engine's time per stage (Benchmarks/README.md).
    public static func producing(
        timeout: Double? = nil, timedOut: @escaping @Sendable () -> any Error = { CancellationError() },
        _ produce: @escaping @Sendable (Continuation) async throws -> Void
    ) -> Self {
        AsyncThrowingStream { continuation in
            let task = Task {
                do {
                    try await produce(continuation)
                    continuation.finish()
                } catch {
                    continuation.finish(throwing: error)
                }
            }
            guard let timeout else {
                continuation.onTermination = { _ in task.cancel() }
                return
            }
            // Finishing an already finished stream does nothing, so the clock may lose the race to the end.
            let deadline = DeadlineClock.shared.after(timeout) {
                continuation.finish(throwing: timedOut())
                task.cancel()
            }
            continuation.onTermination = { _ in
                DeadlineClock.shared.forget(deadline)
                task.cancel()
            }
        }
    }

}

extension AsyncThrowingStream where Element == GenerationEvent, Failure == any Error {
    /// The stream of a generation for `request`, made by ``producing(timeout:timedOut:_:)`` with the stage's
    /// timeout (`request.settings.timeout`): past it the stream fails with a transient `.timeout` error.
    public static func generation(_ request: GenerationRequest, _ produce: @escaping @Sendable (Continuation) async throws -> Void) -> Self
    {
        let stage = request.stage
        return producing(
            timeout: request.settings.timeout,
            timedOut: { RuntimeError.stageTimeout(stage: stage, seconds: request.settings.timeout ?? 0) }, produce)
    }
}

extension RuntimeError {
    /// The transient error of a stage whose generation took longer than its timeout.
    static func stageTimeout(stage: String, seconds: Double) -> RuntimeError {
        RuntimeError(.timeout, "stage '\(stage)' took longer than its timeout of \(Executor.seconds(seconds))", isTransient: true)
    }
}
