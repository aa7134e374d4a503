import BatonSpec
import Foundation

extension Executor {
    /// Runs one round of a stage on one model of its chain, with retries.
    ///
    /// - Throws: ``StageFailure``; for a fan-out item running beside others, a failure that would move the stage down
    ///   its chain as ``DeferredFallback`` (the chain falls back once, from the item's run alone: Executor+FanOut).
    func runStage(
        _ stage: PlannedStage, model: ResolvedModel, round: Int, rendered: RenderedStage, state: inout RunState
    ) async throws -> StageResult {
        guard state.currentItem?.concurrent == true else {
            return try await runTries(stage, model: model, round: round, rendered: rendered, state: &state)
        }
        do {
            return try await runTries(stage, model: model, round: round, rendered: rendered, state: &state)
        } catch let failure as StageFailure where failure.fallbackReason != nil {
            throw DeferredFallback(failure: failure)
        }
    }

    /// The tries of one round on one model.
    private func runTries(
        _ stage: PlannedStage, model: ResolvedModel, round: Int, rendered: RenderedStage, state: inout RunState
    ) async throws -> StageResult {
        let runtime: any LLMRuntime
        do {
            runtime = try runtimes.runtime(for: model, snapshot: state.snapshot)
        } catch {
            throw StageFailure(
                message: "stage '\(stage.name)': \(error)", runtimeUnavailable: true, fallbackReason: "runtime not usable")
        }
        let policy = stage.settings.retry ?? .default
        // A load or unload is a request to the runtime: the attempt before ends in the store first (RunStore+Pending).
        if runtime is any ModelManaging { try store.commitPending() }
        // Items running at once use the model the item before them made resident: nothing loads or unloads while
        // they are in flight (a runtime that dropped it meanwhile loads it again inside the request).
        let loadTimings =
            state.currentItem?.concurrent == true
            ? [:] : try await load(stage, model: model, round: round, runtime: runtime, policy: policy, state: &state)
        let key = StageRound(stage: stage.name, item: state.currentItem?.index, round: round)
        var tryNumber = state.triesSoFar[key, default: 0]
        var failures = 0
        while true {
            // A signal that arrived between attempts stops here, before an attempt that could only be empty.
            try Task.checkCancellation()
            tryNumber += 1
            failures += 1
            state.triesSoFar[key] = tryNumber
            let outcome = try await attempt(
                stage, model: model, round: round, tryNumber: tryNumber, rendered: rendered,
                runtime: toolLoopRuntime(for: stage, runtime, round: round, state: state),
                extraTimings: failures == 1 ? loadTimings : [:], state: state)
            var finished = outcome.attempt
            finished.finishedAt = RunStore.now()
            let error: RuntimeError
            switch outcome.result {
            case .success:
                do {
                    return try await accept(outcome, &finished, stage: stage, model: model, round: round, runtime: runtime, state: &state)
                } catch let thrown as RuntimeError {
                    error = thrown
                }
            case .failure(let thrown as RuntimeError):
                error = thrown
            case .failure(let thrown) where thrown is CancellationError:
                try finish(&finished, .interrupted, error: "interrupted by a signal")
                throw CancellationError()
            case .failure(let thrown):
                try finish(&finished, .failed, error: "\(thrown)")
                throw StageFailure(message: "stage '\(stage.name)' failed: \(thrown)", runtimeUnavailable: false)
            }
            try finish(&finished, .failed, error: error.message)
            try await retryOrFail(stage, round: round, error: error, failures: failures, policy: policy, state: state)
        }
    }

    /// Makes `model` resident for `stage` (``prepareModel(_:model:round:runtime:state:)``), retrying transient
    /// errors (a runtime that is restarting) as a generation does. Returns the timings the first attempt records. A
    /// retrieve stage's embedding model is made resident the same way (Executor+Retrieve).
    func load(
        _ stage: PlannedStage, model: ResolvedModel, round: Int, runtime: any LLMRuntime, policy: RetryPolicy, state: inout RunState
    ) async throws -> [String: Double] {
        var failures = 0
        while true {
            do {
                guard let loading = try await prepareModel(stage, model: model, round: round, runtime: runtime, state: &state) else {
                    return [:]
                }
                var timings = ["resident": loading.wasResident ? 1.0 : 0]
                if let seconds = loading.loadSeconds { timings["load_ms"] = seconds * 1000 }
                // A load that ran in the background: what the stage waited for, and what of it the stage before hid.
                if let waited = loading.waitSeconds {
                    timings["load_wait_ms"] = waited * 1000
                    if let seconds = loading.loadSeconds { timings["load_hidden_ms"] = max(0, seconds - waited) * 1000 }
                }
                return timings
            } catch let error as RuntimeError {
                failures += 1
                try await retryOrFail(stage, round: round, error: error, failures: failures, policy: policy, state: state, loading: true)
            }
        }
    }

    /// Records a new try of `stage` on `model`, reports it, and generates its answer.
    private func attempt(
        _ stage: PlannedStage, model: ResolvedModel, round: Int, tryNumber: Int, rendered: RenderedStage, runtime: any LLMRuntime,
        extraTimings: [String: Double], state: RunState
    ) async throws -> Generated {
        let attempt = AttemptRecord(
            id: nil, runID: state.runID, stage: stage.name, round: round, tryNumber: tryNumber, status: .running,
            model: model.name, runtime: state.snapshot.forcedRuntime ?? model.runtime, system: rendered.system,
            prompt: rendered.prompt, output: "", verdict: nil, feedback: nil, promptTokens: nil, outputTokens: nil,
            startedAt: RunStore.now(), firstTokenAt: nil, finishedAt: nil, timings: nil, error: nil, fingerprint: rendered.fingerprint,
            item: state.currentItem?.index)
        let started = try store.startAttempt(attempt)
        let stages = state.snapshot.plan.stages
        let number = (state.positions[stage.name] ?? 0) + 1
        observer(
            .attemptStarted(
                stage: stage.name, role: stage.role, model: model.description, round: round, tryNumber: tryNumber,
                stageNumber: number, stageCount: stages.count, item: state.currentItem?.index))
        var settings = stage.settings
        // `repeat`: sample n asks with seed + n, so the samples differ and each is reproducible.
        if let sample = state.currentItem?.sample { settings.seed = (settings.seed ?? 0) + sample }
        var request = GenerationRequest(
            model: model.name, system: rendered.system, prompt: rendered.prompt, settings: settings,
            responseSchema: Self.responseSchema(for: stage), stage: stage.name, round: round)
        request.item = state.currentItem?.index
        return await generate(
            request, runtime: runtime, attempt: started, timeout: stage.settings.timeout, extraTimings: extraTimings)
    }

    /// Takes the answer of a generation that ended without error: checks how it stopped, reads its verdict or
    /// JSON, and records the attempt completed.
    ///
    /// - Throws: ``RuntimeError`` when the answer cannot be used; the caller records the attempt failed, then
    ///   retries or fails the stage.
    private func accept(
        _ outcome: Generated, _ finished: inout AttemptRecord, stage: PlannedStage, model: ResolvedModel, round: Int,
        runtime: any LLMRuntime, state: inout RunState
    ) async throws -> StageResult {
        try Self.checkFinish(outcome, stage: stage, model: model)
        let result: StageResult
        do {
            result = try StageResult(output: finished.output, stage: stage)
        } catch let error as RuntimeError where error.code == .invalidOutput && outcome.finish?.kind == .truncated {
            // A verdict or JSON answer that was cut and cannot be read: the same request would be cut again (and
            // paid again), so this is permanent. One that reads whole (a grammar-bound model that padded after its
            // closing brace, a second tool call cut) is kept, marked truncated.
            throw Self.truncation(outcome, stage: stage)
        }
        if outcome.finish?.kind == .truncated {
            try store.appendEvent(
                state.runID, kind: .outputTruncated, stage: stage.name, attemptID: finished.id,
                payload: try Self.encode([
                    "round": String(round), "max_tokens": stage.settings.maxTokens.map(String.init) ?? "",
                    "reason": outcome.finish?.raw ?? "",
                ]))
            observer(.outputTruncated(stage: stage.name, round: round, limit: stage.settings.maxTokens))
        }
        finished.verdict = result.verdict
        finished.feedback = result.feedback
        // Written with the store's next transaction, usually the next attempt's start (RunStore+Pending). A fan-out
        // item's is written at once: an item that finished is in the store before the next one starts (`item-done`).
        try finish(&finished, .completed, deferred: state.currentItem == nil)
        state.record(stage: stage.name, result)
        if unloadAfterEachStage, state.currentItem?.concurrent != true, let manager = runtime as? any ModelManaging {
            try store.commitPending()
            let started = Date()
            try await manager.unload(model.name)
            try store.appendEvent(
                state.runID, kind: .modelUnloaded, stage: stage.name, payload: try Self.encode(["model": model.description]))
            observer(.modelUnloaded(model: model.description, seconds: Date().timeIntervalSince(started)))
        }
        return result
    }

    /// Records how `attempt` ended (with `error`, when given) and its event, and reports it; `deferred`: with the
    /// store's next transaction (``RunStore/finishAttempt(_:event:payload:deferred:)``).
    private func finish(_ attempt: inout AttemptRecord, _ status: AttemptStatus, error: String? = nil, deferred: Bool = false) throws {
        attempt.status = status
        if let error { attempt.error = error }
        let event: EventKind
        switch status {
        case .completed: event = .attemptCompleted
        case .interrupted: event = .attemptInterrupted
        default: event = .attemptFailed
        }
        try store.finishAttempt(attempt, event: event, deferred: deferred)
        report(attempt)
    }

    private func report(_ attempt: AttemptRecord) {
        observer(
            .attemptFinished(
                AttemptSummary(
                    stage: attempt.stage, round: attempt.round, tryNumber: attempt.tryNumber, status: attempt.status,
                    model: attempt.model, seconds: (attempt.finishedAt ?? attempt.startedAt) - attempt.startedAt,
                    promptTokens: attempt.promptTokens, outputTokens: attempt.outputTokens, error: attempt.error,
                    finishReason: attempt.finishReason, item: attempt.item)))
    }
}

/// A stage's rendered messages, and the fingerprint its attempts record.
struct RenderedStage {
    var system: String?
    var prompt: String
    var fingerprint: String
}

/// A stage, its fan-out item (nil outside fan-out) and a round of its critic loop.
struct StageRound: Hashable {
    var stage: String
    var item: Int? = nil
    var round: Int
}
