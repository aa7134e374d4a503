extension AsyncThrowingStream where Failure == any Error, Element: Sendable {
    /// A stream fed by `produce` in a task of its own: it finishes when `produce` returns, fails with what
    /// `produce` throws, and cancels the task when its reader stops reading (the reader's task is cancelled or
    /// it drops the stream), so a stage timeout or Ctrl-C also ends the HTTP request underneath.
    ///
    /// Every stream of the runtime layer (a generation, an HTTP body, its lines, its server-sent events) is made
    /// this way, so none can forget the cancellation.
    static func producing(_ produce: @escaping @Sendable (Continuation) async throws -> Void) -> Self {
        AsyncThrowingStream { continuation in
            let task = Task {
                do {
                    try await produce(continuation)
                    continuation.finish()
                } catch {
                    continuation.finish(throwing: error)
                }
            }
            continuation.onTermination = { _ in task.cancel() }
        }
    }
}
