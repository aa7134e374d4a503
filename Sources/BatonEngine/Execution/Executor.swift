import BatonSpec
import Foundation

/// How a run ended.
public enum RunOutcome: Sendable, Equatable {
    /// Every stage finished; the outputs of the result stages.
    case completed(runID: String)
    /// A stage failed for good (retries or critic rounds exhausted, a permanent runtime error).
    case failed(runID: String, reason: String, runtimeUnavailable: Bool)
    /// Stopped by a signal after the in-flight attempt was recorded.
    case interrupted(runID: String)
}

/// Provides the runtime for a model of a stage.
public protocol RuntimeProvider: Sendable {
    /// The runtime serving `model`.
    ///
    /// - Throws: ``RuntimeError`` when the runtime is not usable (unknown kind, bad options).
    func runtime(for model: ResolvedModel, snapshot: RunSnapshot) throws -> any LLMRuntime
}

/// Walks a run's plan one stage at a time, checkpointing every attempt to the run store, and resumes a
/// run without repeating a completed attempt.
///
/// Resume is a replay: the same walk happens again, and wherever the store has a completed attempt for
/// a stage and round (with the stage's current fingerprint), its output is used instead of running.
public struct Executor: Sendable {
    /// The run store.
    public var store: RunStore
    /// Where runtimes come from.
    public var runtimes: any RuntimeProvider
    /// Receives progress.
    public var observer: @Sendable (RunEvent) -> Void
    /// Sleeps between retries and between thermal readings (injectable so tests do not wait).
    public var sleep: @Sendable (Double) async throws -> Void
    /// Random numbers in 0..<1 for backoff jitter.
    public var random: @Sendable () -> Double
    /// Seconds between saves of a streaming attempt's partial output.
    public var progressInterval: Double = 0.5
    /// Crash tests only: kills the process at chosen points.
    public var killSwitch: KillSwitch?
    /// The machine's memory, read before each load (injectable for tests).
    public var machine: @Sendable () -> MachineMemory = { MachineMemory.current() }
    /// Benchmarks only: unload every model right after its stage, as Baton's predecessor did, to compare
    /// with the memory planner (`BATON_BENCH_UNLOAD_AFTER_EACH_STAGE=1`).
    public var unloadAfterEachStage = false
    /// The machine's thermal sensor, read before each stage round when the profile has a `thermal` policy;
    /// nil (the default) never pauses. The command line passes ``ThermalSensors/platform(environment:)``.
    public var thermal: (any ThermalSensor)?

    /// Creates an executor.
    public init(
        store: RunStore, runtimes: any RuntimeProvider, observer: @escaping @Sendable (RunEvent) -> Void = { _ in },
        sleep: @escaping @Sendable (Double) async throws -> Void = { try await Task.sleep(for: .seconds($0)) },
        random: @escaping @Sendable () -> Double = { Double.random(in: 0..<1) }
    ) {
        self.store = store
        self.runtimes = runtimes
        self.observer = observer
        self.sleep = sleep
        self.random = random
    }

    // MARK: - Starting and resuming

    /// Creates a run for `snapshot` and `inputs` and executes it.
    ///
    /// - Throws: ``StoreError`` when the store fails (the run is left resumable).
    public func start(
        _ snapshot: RunSnapshot, inputs: [String: String], claim: LeaseClaim, parent: (runID: String, stage: String)? = nil
    ) async throws -> RunOutcome {
        var snapshot = snapshot
        if snapshot.fingerprints == nil { snapshot.fingerprints = Fingerprints.compute(snapshot.plan, inputs: inputs) }
        let id = Self.newRunID()
        let now = RunStore.now()
        let record = RunRecord(
            id: id, pipeline: snapshot.plan.pipeline, pipelinePath: snapshot.pipelinePath, pipelineHash: snapshot.sourceHash,
            snapshot: try snapshot.encoded(), inputs: try Self.encode(inputs), status: .running, error: nil,
            parentRunID: parent?.runID, rerunFrom: parent?.stage, createdAt: now, updatedAt: now, finishedAt: nil,
            leaseToken: nil, leasePid: nil, leaseHost: nil, leaseHeartbeat: nil)
        try store.createRun(record, reusing: parent.map { ($0.runID, Self.upstream(of: $0.stage, in: snapshot.plan)) })
        try store.acquireLease(id, claim: claim)
        return try await execute(runID: id, snapshot: snapshot, inputs: inputs, claim: claim, resumed: false)
    }

    /// Continues run `runID` from its pinned snapshot (`snapshot`, when the caller decoded it already).
    ///
    /// - Throws: ``StoreError`` (`.runNotFound`, `.leaseHeld`, ...).
    public func resume(_ runID: String, claim: LeaseClaim, snapshot known: RunSnapshot? = nil) async throws -> RunOutcome {
        let run = try store.run(runID)
        try store.acquireLease(runID, claim: claim)
        try store.abortInFlightAttempts(runID)
        let snapshot = try known ?? RunSnapshot.decode(run.snapshot)
        let inputs = try JSONDecoder().decode([String: String].self, from: Data(run.inputs.utf8))
        try store.setStatus(runID, .running, event: .runResumed)
        return try await execute(runID: runID, snapshot: snapshot, inputs: inputs, claim: claim, resumed: true)
    }

    /// Stages whose completed attempts `baton rerun --from stage` reuses: everything upstream of `stage`,
    /// except the critic loop `stage` belongs to.
    public static func upstream(of stage: String, in plan: ExecutionPlan) -> Set<String> {
        let byName = Dictionary(plan.stages.map { ($0.name, $0) }) { first, _ in first }
        var loop: Set<String> = [stage]
        if let planned = byName[stage] {
            if let critic = planned.reviewedBy { loop.insert(critic) }
            if let reviewed = planned.critic?.reviews { loop.insert(reviewed) }
        }
        var result: Set<String> = []
        var pending = Array(loop)
        while let next = pending.popLast() {
            for dependency in byName[next]?.dependencies ?? [] where !result.contains(dependency) {
                result.insert(dependency)
                pending.append(dependency)
            }
        }
        return result.subtracting(loop)
    }

    static func newRunID() -> String {
        let formatter = DateFormatter()
        formatter.dateFormat = "yyyyMMdd-HHmmss"
        formatter.timeZone = TimeZone(identifier: "UTC")
        let suffix = String(format: "%04x", UInt16.random(in: 0...UInt16.max))
        return "\(formatter.string(from: Date()))-\(suffix)"
    }

    static func encode(_ value: some Encodable) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return String(decoding: try encoder.encode(value), as: UTF8.self)
    }

    // MARK: - The walk

    private func execute(
        runID: String, snapshot: RunSnapshot, inputs: [String: String], claim: LeaseClaim, resumed: Bool
    ) async throws -> RunOutcome {
        observer(.runStarted(id: runID, pipeline: snapshot.plan.pipeline, resumed: resumed))
        let heartbeat = Task { [store] in
            while !Task.isCancelled {
                try? await Task.sleep(for: .seconds(RunStore.leaseStaleAfter / 3))
                if Task.isCancelled { break }
                try? store.heartbeat(runID, claim: claim)
            }
        }
        defer {
            heartbeat.cancel()
            try? store.releaseLease(runID, claim: claim)
        }

        var state = try RunState(runID: runID, snapshot: snapshot, inputs: inputs, store: store)
        do {
            for stage in snapshot.plan.stages {
                if let loop = stage.critic {
                    try await runCriticLoop(critic: stage, loop: loop, state: &state)
                } else {
                    _ = try await runStage(stage, round: 1, state: &state)
                }
                killSwitch?.hit(.stageDone)
            }
        } catch is CancellationError {
            try store.setStatus(runID, .interrupted, event: .runInterrupted)
            return .interrupted(runID: runID)
        } catch let failure as StageFailure {
            try store.setStatus(runID, .failed, error: failure.message, event: .runFailed)
            return .failed(runID: runID, reason: failure.message, runtimeUnavailable: failure.runtimeUnavailable)
        }
        try store.setStatus(runID, .completed, event: .runCompleted)
        observer(.runFinished(id: runID, outputs: snapshot.plan.outputs.map { ($0, state.results[$0]?.output ?? "") }))
        return .completed(runID: runID)
    }

    /// Round 1 of the reviewed stage has run at its own place in the order; the critic drives the rest.
    private func runCriticLoop(critic: PlannedStage, loop: CriticLoop, state: inout RunState) async throws {
        guard let reviewed = state.snapshot.plan.stage(named: loop.reviews) else { return }
        var round = 1
        while true {
            let result = try await runStage(critic, round: round, state: &state)
            let verdict = result.verdict ?? "revise"
            let feedback = result.feedback ?? ""
            // Empty text is left out so that sections over it do not render.
            var entry: [String: Any] = ["round": round, "verdict": verdict]
            if let output = state.results[reviewed.name]?.output, !output.isEmpty { entry["output"] = output }
            if !feedback.isEmpty { entry["feedback"] = feedback }
            state.history[reviewed.name, default: []].append(entry)
            observer(.verdict(critic: critic.name, reviewed: reviewed.name, round: round, verdict: verdict, feedback: feedback))
            killSwitch?.hit(.verdict)
            if verdict == "approve" { return }
            if round >= loop.maxRounds {
                if loop.onExhausted == .accept {
                    try store.appendEvent(
                        state.runID, kind: .loopExhaustedAccepted, stage: critic.name, payload: "{\"rounds\":\(round)}")
                    return
                }
                throw StageFailure(
                    message:
                        "critic '\(critic.name)' still asked for a revision of '\(reviewed.name)' after \(round) round\(round == 1 ? "" : "s") (max_rounds: \(loop.maxRounds), on_exhausted: fail)",
                    runtimeUnavailable: false)
            }
            round += 1
            state.feedback[reviewed.name] = feedback
            _ = try await runStage(reviewed, round: round, state: &state)
        }
    }

    /// Runs one round of a stage (or reuses its completed attempt), with retries.
    private func runStage(_ stage: PlannedStage, round: Int, state: inout RunState) async throws -> StageResult {
        let fingerprint = state.fingerprints[stage.name] ?? ""
        if let done = state.completed[StageRound(stage: stage.name, round: round)], done.fingerprint == fingerprint {
            let result = try StageResult(attempt: done, stage: stage)
            state.record(stage: stage.name, result)
            observer(.attemptReused(stage: stage.name, round: round))
            return result
        }
        try await waitWhileHot(before: stage, round: round, state: state)
        let (system, prompt) = try state.render(stage, round: round)
        killSwitch?.hit(.render)
        let chain = stage.models
        guard !chain.isEmpty else {
            throw StageFailure(message: "stage '\(stage.name)' has no model", runtimeUnavailable: false)
        }
        // Walk the model chain: a model that is missing, cannot load, runs out of memory or whose runtime
        // stays unreachable hands the stage to the next one, recorded as an event. A stage that fell back
        // keeps its new model for its later rounds. A runtime found unreachable is remembered for the rest of
        // the run: its other models, in this chain and in later stages, are skipped without a request.
        var index = min(state.modelIndex[stage.name] ?? 0, chain.count - 1)
        var tried: [String] = []
        while true {
            var failure: StageFailure
            let runtimeName = Self.runtimeName(of: chain[index], state: state)
            if let dead = state.deadRuntime(runtimeName) {
                failure = StageFailure(message: dead.message, runtimeUnavailable: true, fallbackReason: dead.reason)
                failure.deadRuntime = runtimeName
            } else {
                do {
                    return try await runStage(
                        stage, model: chain[index], round: round, system: system, prompt: prompt, fingerprint: fingerprint,
                        state: &state)
                } catch let thrown as StageFailure {
                    failure = thrown
                }
                guard failure.fallbackReason != nil else { throw failure }
                if failure.runtimeUnavailable, let runtimeName {
                    let down = Self.runtimeDown(runtimeName, failure: failure, state: state)
                    state.deadRuntimes[runtimeName] = down
                    let firstHand = failure.message
                    failure = StageFailure(message: down.message, runtimeUnavailable: true, fallbackReason: failure.fallbackReason)
                    failure.deadRuntime = runtimeName
                    failure.firstHand = firstHand
                    let skipped = chain[(index + 1)...].filter { Self.runtimeName(of: $0, state: state) == runtimeName }
                    try store.appendEvent(
                        state.runID, kind: .runtimeUnreachable, stage: stage.name,
                        payload: try Self.encode([
                            "runtime": runtimeName, "error": down.error, "fix": down.fix,
                            "skipped": skipped.map(\.description).joined(separator: ", "),
                        ]))
                    observer(
                        .runtimeUnreachable(
                            stage: stage.name, runtime: runtimeName, error: down.error, fix: down.fix,
                            skipped: skipped.map(\.description)))
                }
            }
            let reason = failure.fallbackReason ?? "failed"
            tried.append("\(chain[index]) (\(reason))")
            // The next model whose runtime is not known to be down.
            var next = index + 1
            while next < chain.count, state.deadRuntime(Self.runtimeName(of: chain[next], state: state)) != nil {
                next += 1
            }
            guard next < chain.count else {
                throw Self.chainExhausted(stage, failure: failure, tried: tried, chain: chain, from: index, state: state)
            }
            let (from, to) = (chain[index], chain[next])
            var payload = [
                "from": from.description, "to": to.description, "reason": reason, "error": failure.message, "round": String(round),
            ]
            let skipped = chain[(index + 1)..<next].map(\.description)
            if !skipped.isEmpty { payload["skipped"] = skipped.joined(separator: ", ") }
            try store.appendEvent(state.runID, kind: .modelFallback, stage: stage.name, payload: try Self.encode(payload))
            observer(.modelFallback(stage: stage.name, from: from.description, to: to.description, reason: reason))
            index = next
            state.modelIndex[stage.name] = index
        }
    }

    /// The name of the runtime serving `model` in this run.
    static func runtimeName(of model: ResolvedModel, state: RunState) -> String? {
        state.snapshot.forcedRuntime ?? model.runtime
    }

    /// What to tell the user about runtime `name`, found unreachable (or unusable: no key, no url) by
    /// `failure`: its error and the command that starts it, or what to check.
    static func runtimeDown(_ name: String, failure: StageFailure, state: RunState) -> DeadRuntime {
        let spec = state.snapshot.profile?.spec.runtime(named: name)
        // The runtime's own words, without the "stage 'x' failed after n tries:" prefix.
        var error = failure.message
        if error.hasPrefix("stage '"), let range = error.range(of: ": ") { error = String(error[range.upperBound...]) }
        let reason = failure.fallbackReason ?? "runtime unreachable"
        guard reason == "runtime unreachable" else {
            // No key, no url, an unknown runtime: the error names the fix already.
            // "runtime 'cloud' has no API key; ..." names the runtime already.
            let message = error.hasPrefix("runtime '\(name)' ") ? error : "runtime '\(name)' is not usable: \(error)"
            return DeadRuntime(message: message, error: error, fix: "", reason: reason)
        }
        let url = spec?.url ?? ""
        let fix: String
        switch spec?.kind {
        case .ollama:
            let components = URLComponents(string: url)
            let host = components?.host ?? "127.0.0.1"
            let port = components?.port ?? 11434
            // Ollama listens where OLLAMA_HOST says (default 127.0.0.1:11434).
            let isDefault = (host == "127.0.0.1" || host == "localhost") && port == 11434
            fix = isDefault ? "start it with: ollama serve" : "start it with: OLLAMA_HOST=\(host):\(port) ollama serve"
        case .llamaServer:
            fix = "start llama-server at \(url) (scripts/start-llama-router.sh starts a router and prints its URL)"
        case .openai, .anthropic:
            fix = "check the network and the runtime's url (\(url)) in the profile"
        default:
            fix = "check runtime '\(name)' in the profile"
        }
        return DeadRuntime(message: "runtime '\(name)' is not reachable (\(error)); \(fix)", error: error, fix: fix, reason: reason)
    }

    /// The failure of a stage none of whose models could run, naming each unreachable runtime once.
    static func chainExhausted(
        _ stage: PlannedStage, failure: StageFailure, tried: [String], chain: [ResolvedModel], from index: Int, state: RunState
    ) -> StageFailure {
        var failure = failure
        let dead = chain.compactMap { runtimeName(of: $0, state: state) }.reduce(into: [String]()) { names, name in
            if !names.contains(name), state.deadRuntime(name) != nil { names.append(name) }
        }
        if failure.runtimeUnavailable, !dead.isEmpty {
            // Every model left was on a runtime that is down: one sentence per runtime, with its fix. The last
            // failure that was tried (not skipped) leads, as it happened ("stage 'x' failed after 2 tries: ...").
            var sentences: [String] = []
            var head = "stage '\(stage.name)' cannot run: "
            if let firstHand = failure.firstHand, let name = failure.deadRuntime {
                head = firstHand + "; "
                if let fix = state.deadRuntime(name)?.fix, !fix.isEmpty {
                    sentences.append("runtime '\(name)' is not reachable: \(fix)")
                }
            }
            for name in dead where failure.firstHand == nil || name != failure.deadRuntime {
                if let down = state.deadRuntime(name) { sentences.append(down.message) }
            }
            let others = tried.count > dead.count ? "; other models of its chain: \(tried.joined(separator: ", "))" : ""
            failure.message = head + sentences.joined(separator: "; ") + others
        } else if tried.count > 1 {
            failure.message += "; every model of its chain failed: \(tried.joined(separator: ", "))"
        }
        return failure
    }

    /// Runs one round of a stage on one model of its chain, with retries.
    private func runStage(
        _ stage: PlannedStage, model: ResolvedModel, round: Int, system: String?, prompt: String, fingerprint: String,
        state: inout RunState
    ) async throws -> StageResult {
        let runtime: any LLMRuntime
        do {
            runtime = try runtimes.runtime(for: model, snapshot: state.snapshot)
        } catch {
            throw StageFailure(
                message: "stage '\(stage.name)': \(error)", runtimeUnavailable: true, fallbackReason: "runtime not usable")
        }
        let policy = stage.settings.retry ?? .default
        // Loading retries transient errors (a runtime that is restarting) like a generation does.
        let loading: (loadSeconds: Double?, wasResident: Bool)?
        var loadFailures = 0
        while true {
            do {
                loading = try await prepareModel(stage, model: model, round: round, runtime: runtime, state: &state)
                break
            } catch let error as RuntimeError {
                loadFailures += 1
                try await retryOrFail(
                    stage, round: round, error: error, failures: loadFailures, policy: policy, state: state, loading: true)
            }
        }
        var loadTimings: [String: Double] = [:]
        if let loading {
            loadTimings["resident"] = loading.wasResident ? 1 : 0
            if let seconds = loading.loadSeconds { loadTimings["load_ms"] = seconds * 1000 }
        }
        var tryNumber = state.triesSoFar[StageRound(stage: stage.name, round: round), default: 0]
        var failures = 0
        while true {
            // A signal that arrived between attempts stops here, before an attempt that could only be empty.
            try Task.checkCancellation()
            tryNumber += 1
            failures += 1
            state.triesSoFar[StageRound(stage: stage.name, round: round)] = tryNumber
            let attempt = AttemptRecord(
                id: nil, runID: state.runID, stage: stage.name, round: round, tryNumber: tryNumber, status: .running,
                model: model.name, runtime: state.snapshot.forcedRuntime ?? model.runtime, system: system, prompt: prompt,
                output: "", verdict: nil, feedback: nil, promptTokens: nil, outputTokens: nil, startedAt: RunStore.now(),
                firstTokenAt: nil, finishedAt: nil, timings: nil, error: nil, fingerprint: fingerprint)
            let started = try store.startAttempt(attempt)
            let stages = state.snapshot.plan.stages
            let number = (stages.firstIndex { $0.name == stage.name } ?? 0) + 1
            observer(
                .attemptStarted(
                    stage: stage.name, role: stage.role, model: model.description, round: round, tryNumber: tryNumber,
                    stageNumber: number, stageCount: stages.count))
            let request = GenerationRequest(
                model: model.name, system: system, prompt: prompt, settings: stage.settings,
                responseSchema: Self.responseSchema(for: stage), stage: stage.name, round: round)
            let outcome = await generate(
                request, runtime: runtime, attempt: started, timeout: stage.settings.timeout,
                extraTimings: failures == 1 ? loadTimings : [:])
            var finished = outcome.attempt
            finished.finishedAt = RunStore.now()
            switch outcome.result {
            case .success:
                do {
                    try Self.checkFinish(outcome, stage: stage, model: model)
                    let result: StageResult
                    do {
                        result = try StageResult(output: finished.output, stage: stage)
                    } catch let error as RuntimeError where error.code == .invalidOutput && outcome.finish?.kind == .truncated {
                        // A verdict or JSON answer that was cut and cannot be read: the same request would be cut
                        // again (and paid again), so this is permanent. One that reads whole (a grammar-bound model
                        // that padded after its closing brace, a second tool call cut) is kept, marked truncated.
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
                    finished.status = .completed
                    finished.verdict = result.verdict
                    finished.feedback = result.feedback
                    try store.finishAttempt(finished, event: .attemptCompleted)
                    report(finished)
                    state.record(stage: stage.name, result)
                    if unloadAfterEachStage, let manager = runtime as? any ModelManaging {
                        let started = Date()
                        try await manager.unload(model.name)
                        try store.appendEvent(
                            state.runID, kind: .modelUnloaded, stage: stage.name, payload: try Self.encode(["model": model.description]))
                        observer(.modelUnloaded(model: model.description, seconds: Date().timeIntervalSince(started)))
                    }
                    return result
                } catch let error as RuntimeError {
                    finished.status = .failed
                    finished.error = error.message
                    try store.finishAttempt(finished, event: .attemptFailed)
                    report(finished)
                    try await retryOrFail(stage, round: round, error: error, failures: failures, policy: policy, state: state)
                }
            case .failure(let error as RuntimeError):
                finished.status = .failed
                finished.error = error.message
                try store.finishAttempt(finished, event: .attemptFailed)
                report(finished)
                try await retryOrFail(stage, round: round, error: error, failures: failures, policy: policy, state: state)
            case .failure(let error) where error is CancellationError:
                finished.status = .interrupted
                finished.error = "interrupted by a signal"
                try store.finishAttempt(finished, event: .attemptInterrupted)
                report(finished)
                throw CancellationError()
            case .failure(let error):
                finished.status = .failed
                finished.error = "\(error)"
                try store.finishAttempt(finished, event: .attemptFailed)
                report(finished)
                throw StageFailure(message: "stage '\(stage.name)' failed: \(error)", runtimeUnavailable: false)
            }
        }
    }

    private func report(_ attempt: AttemptRecord) {
        observer(
            .attemptFinished(
                AttemptSummary(
                    stage: attempt.stage, round: attempt.round, tryNumber: attempt.tryNumber, status: attempt.status,
                    model: attempt.model, seconds: (attempt.finishedAt ?? attempt.startedAt) - attempt.startedAt,
                    promptTokens: attempt.promptTokens, outputTokens: attempt.outputTokens, error: attempt.error,
                    finishReason: attempt.finishReason)))
    }

    /// Waits and returns when another try is due; throws ``StageFailure`` when the error is permanent or
    /// the tries are used up.
    private func retryOrFail(
        _ stage: PlannedStage, round: Int, error: RuntimeError, failures: Int, policy: RetryPolicy, state: RunState,
        loading: Bool = false
    ) async throws {
        guard error.isTransient, failures < policy.maxAttempts else {
            let tries = error.isTransient ? " after \(failures) tr\(failures == 1 ? "y" : "ies")" : ""
            throw StageFailure(
                message: "stage '\(stage.name)' failed\(tries)\(loading ? " to load its model" : ""): \(error.message)",
                runtimeUnavailable: error.code == .unreachable, fallbackReason: Self.fallbackReason(error, loading: loading))
        }
        // Exponential backoff with "equal jitter": half the delay fixed, half random.
        let base = min(policy.maxBackoff, policy.initialBackoff * pow(policy.multiplier, Double(failures - 1)))
        // A runtime that says how long to wait (Retry-After or retry-after-ms; the clients refuse a wait over 60 s
        // as retry-too-late) is obeyed when that is longer.
        let delay = max(base / 2 + base / 2 * random(), error.retryAfter ?? 0)
        try store.appendEvent(
            state.runID, kind: .retry, stage: stage.name,
            payload: try Self.encode([
                "error": error.message, "delay": String(format: "%.3f", delay), "round": String(round),
                "phase": loading ? "load" : "generate",
            ]))
        observer(.retrying(stage: stage.name, round: round, error: error.message, delay: delay))
        try await sleep(delay)
    }

    /// Why `error` moves a stage to its next model, or nil when another model would not help (a bad
    /// answer, a timeout, an injected fault). Every load failure qualifies; of generation failures, a
    /// missing model, running out of memory and an unreachable runtime (after its retries) do.
    static func fallbackReason(_ error: RuntimeError, loading: Bool) -> String? {
        switch error.code {
        case .modelNotFound: return "model not found"
        case .outOfMemory: return "out of memory"
        case .unreachable: return "runtime unreachable"
        default: return loading ? "load failed" : nil
        }
    }

    /// Throws when how the generation stopped makes its answer unusable whatever it says: a refusal or a
    /// content filter, or the context window filling up. All are permanent: the same request would be
    /// refused again, and paid again. A cut at `max_tokens` is the caller's to judge: it depends on whether
    /// the answer can still be read.
    static func checkFinish(_ outcome: Generated, stage: PlannedStage, model: ResolvedModel) throws {
        guard let finish = outcome.finish else { return }
        let quoted = finish.detail.flatMap { $0.isEmpty ? nil : ": \"\(String($0.prefix(300)))\"" } ?? ""
        switch finish.kind {
        case .complete:
            return
        case .refused:
            throw RuntimeError(
                .refused,
                "model '\(model.name)' refused to answer stage '\(stage.name)' (\(finish.raw))\(quoted); change the prompt or the model",
                isTransient: false)
        case .filtered:
            throw RuntimeError(
                .refused,
                "the provider's content filter stopped the answer of model '\(model.name)' to stage '\(stage.name)' (\(finish.raw))\(quoted); change the prompt or the model",
                isTransient: false)
        case .contextExceeded:
            throw RuntimeError(
                .contextExceeded,
                "the answer of model '\(model.name)' to stage '\(stage.name)' filled the model's context window (\(finish.raw)); shorten the prompt or use a model with a larger context",
                isTransient: false)
        case .truncated:
            // Kept here; the caller fails a critic or JSON stage whose cut answer cannot be read.
            return
        }
    }

    /// The permanent error of a critic verdict or JSON answer cut at `max_tokens` so that it cannot be read,
    /// naming the limit, the thinking that used part of it, and the fix.
    static func truncation(_ outcome: Generated, stage: PlannedStage) -> RuntimeError {
        let limit = stage.settings.maxTokens.map { "max_tokens: \($0)" } ?? "its max_tokens"
        var thinking = ""
        if let tokens = outcome.thinkingTokens, tokens > 0 {
            thinking = "; \(tokens) of those tokens were thinking (set think: false, or raise max_tokens)"
        } else if let text = outcome.attempt.thinking, !text.isEmpty {
            thinking = "; the model spent part of them thinking (set think: false, or raise max_tokens)"
        }
        let what = stage.critic != nil ? "critic '\(stage.name)''s verdict" : "the JSON answer of stage '\(stage.name)'"
        return RuntimeError(
            .truncated,
            "\(what) was cut off at \(limit) (\(outcome.finish?.raw ?? "length")), so it cannot be read\(thinking); raise max_tokens for this stage",
            isTransient: false)
    }

    /// Critics answer with a verdict; JSON stages with their schema.
    static func responseSchema(for stage: PlannedStage) -> JSONValue? {
        if stage.critic != nil { return StageResult.verdictSchema }
        if stage.output.format == .json { return stage.output.schema ?? .object([("type", .string("object"))]) }
        return nil
    }
}

/// A stage that failed for good; the run fails with this message.
struct StageFailure: Error {
    var message: String
    var runtimeUnavailable: Bool
    /// Set when the failure is the model's or its runtime's, so the next model of the chain may succeed.
    var fallbackReason: String? = nil
    /// The runtime found unreachable, when that is the failure.
    var deadRuntime: String? = nil
    /// The message of the attempt that found the runtime unreachable (nil when its models were skipped).
    var firstHand: String? = nil
}

/// A runtime found unreachable in a run: what went wrong and what starts it.
struct DeadRuntime: Sendable {
    /// The sentence the run fails with when no other model can run.
    var message: String
    /// The runtime's error.
    var error: String
    /// The command that starts it, or what to check (empty when the error says).
    var fix: String
    /// The fallback reason recorded for its models (`runtime unreachable`, `runtime not usable`).
    var reason: String
}

/// A stage and a round of its critic loop.
struct StageRound: Hashable {
    var stage: String
    var round: Int
}
