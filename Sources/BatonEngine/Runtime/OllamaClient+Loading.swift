import BatonSpec
import Foundation

// Loading and unloading: empty chats with `keep_alive`, confirmed by the reply or by `/api/ps`.
extension OllamaClient {
    /// An open-ended deadline for the load request's head: the load's own stall watch bounds it.
    static let openEnded = 7 * 24 * 3600.0

    /// Ollama loads one model at a time, but a request for a model already loaded skips the queue a load
    /// holds up: `getRunner` hands it the loaded runner directly (`server/sched.go:197-201`), and the
    /// scheduler's note on `activeLoading` says so: "We can only load one model at a time but new requests to
    /// models that already loaded can happen in parallel" (`sched.go:69-73`; ollama/ollama fb30760, 2026-08-21).
    /// So a stage can generate while the next stage's model loads. `/api/ps` lists a runner only once its load
    /// is done (`sched.go:627, 727`), so no model is seen half loaded, and a load whose client disconnects
    /// (a killed run) is aborted (`llm/llama_server.go:1299-1302`).
    public var loadsWhileGenerating: Bool { true }

    /// Loads `model` with an empty chat and returns once Ollama confirms it.
    ///
    /// The reply `done_reason: "load"` is the confirmation: Ollama sends it only once the runner is in its
    /// loaded set (`sched.go:727, 751`), whichever name the runner is listed under; `/api/ps` then gives
    /// the size (matched by name, else by digest). A server that answers without `"load"` is polled.
    ///
    /// The load has no total deadline. Ollama aborts a load when its client disconnects
    /// (`llm/llama_server.go:1299-1301`), so giving up on a slow but healthy load would make it fail on
    /// every attempt. Ollama itself watches the load for progress and fails it after `OLLAMA_LOAD_TIMEOUT`
    /// without any (`llama_server.go:1285-1335`), so while it answers the request ends, loaded or failed.
    /// What Baton watches is the server: it asks `/api/ps` while the load runs, and gives up only when the
    /// server has not answered for ``loadTimeout`` (a stall, not a total).
    public func load(_ model: String, settings: StageSettings) async throws -> LoadReport {
        guard manages(model) else { return LoadReport(seconds: 0, measuredBytes: nil) }
        book.remember(model)
        let started = ContinuousClock.now
        // No `think`: loading does not read it (`routes.go:2634-2654`).
        var body: [String: Any] = ["model": model, "messages": [Any](), "keep_alive": -1]
        let options = Self.options(settings)
        if !options.isEmpty { body["options"] = options }
        let (response, data) = try await sendLoad(.json(baseURL + "/api/chat", body), model: model)
        guard response.status == 200 else { throw failure(status: response.status, body: data, model: model, doing: "loading") }
        if let error = Self.errorText(data) { throw streamFailure(error, model: model) }
        let entry: LoadedModel?
        if Self.doneReason(data) == "load" {
            entry = await runner(of: model, in: (try? await loadedModels()) ?? [])
        } else {
            entry = try await confirm(
                by: ContinuousClock.now + .seconds(loadTimeout), every: pollInterval,
                else: {
                    RuntimeError(
                        .timeout,
                        "Ollama at \(baseURL) answered the load of model '\(model)' but did not list it in /api/ps within \(Self.duration(loadTimeout))",
                        isTransient: true)
                }
            ) { await runner(of: model, in: try await loadedModels()) }
        }
        var notices: [RuntimeNotice] = []
        // After an unload Ollama frees GPU memory only after the runner leaves /api/ps (`sched.go:459-463`);
        // a load right after may land partly on the CPU (`sched.go:1433-1436`). Say so when it did.
        if let entry, let size = entry.size, let vram = entry.sizeVRAM, vram > 0, vram < size {
            notices.append(
                RuntimeNotice(
                    code: "partly-on-cpu",
                    message:
                        "Ollama at \(baseURL) placed only \(ByteCount(bytes: vram)) of model '\(model)' (\(ByteCount(bytes: size))) in GPU memory; the rest runs on the CPU, slowly. Lower num_ctx or the memory budget, or choose a smaller model"
                ))
        }
        return LoadReport(seconds: secondsSince(started), measuredBytes: entry?.size, notices: notices)
    }

    /// Sends a load request and waits for its reply as long as the server shows signs of life: a probe of
    /// `/api/ps` answers at least once every ``loadTimeout`` seconds.
    private func sendLoad(_ request: HTTPRequest, model: String) async throws -> (HTTPResponse, Data) {
        try await withThrowingTaskGroup(of: (HTTPResponse, Data)?.self) { group in
            group.addTask {
                let response = try await send(request, timeout: Self.openEnded, model: model, doing: "loading")
                return (response, try await response.collect(limit: 1024 * 1024))
            }
            group.addTask {
                let interval = max(pollInterval, min(5, loadTimeout / 4))
                var lastAnswer = ContinuousClock.now
                while true {
                    try await Task.sleep(for: .seconds(interval))
                    if (try? await loadedModels()) != nil {
                        lastAnswer = ContinuousClock.now
                    } else if ContinuousClock.now - lastAnswer >= .seconds(loadTimeout) {
                        throw RuntimeError(
                            .timeout,
                            "Ollama at \(baseURL) stopped answering while loading model '\(model)': no answer for \(Self.duration(loadTimeout)); check the server, or raise load_timeout in the runtime's options",
                            isTransient: true)
                    }
                }
            }
            defer { group.cancelAll() }
            while let next = try await group.next() {
                if let reply = next { return reply }
            }
            throw CancellationError()
        }
    }

    /// Asks Ollama to unload `model` (asynchronous in Ollama) and waits until `/api/ps` no longer lists its
    /// runner, under its name or another name for the same weights.
    public func unload(_ model: String) async throws {
        guard manages(model) else { return }
        let started = ContinuousClock.now
        let body: [String: Any] = ["model": model, "messages": [Any](), "keep_alive": 0]
        // Asynchronous in Ollama: the reply only marks the runner expired; /api/ps says when it is gone.
        let response = try await send(.json(baseURL + "/api/chat", body), timeout: unloadTimeout, model: model, doing: "unloading")
        let data = try await response.collect(limit: 1024 * 1024)
        guard response.status == 200 else { throw failure(status: response.status, body: data, model: model, doing: "unloading") }
        try await confirm(
            by: started + .seconds(unloadTimeout), every: pollInterval,
            else: {
                RuntimeError(
                    .timeout,
                    "Ollama at \(baseURL) accepted the unload of model '\(model)' but still listed it in /api/ps after \(Self.duration(unloadTimeout)); the unload was not confirmed",
                    isTransient: true)
            }
        ) { await runner(of: model, in: try await loadedModels()) == nil ? () : nil }
    }
}
