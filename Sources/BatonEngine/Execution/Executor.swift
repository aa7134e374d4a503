import BatonSpec
import Foundation

/// Walks a run's plan one stage at a time, checkpointing every attempt to the run store, and resumes a
/// run without repeating a completed attempt.
///
/// Resume is a replay: the same walk happens again, and wherever the store has a completed attempt for
/// a stage and round (with the stage's current fingerprint), its output is used instead of running.
///
/// This file holds the walk over the stages; the rest is in one file per idea: Executor+Fallback (a stage's
/// model chain), Executor+Attempt (the tries on one model), Executor+Retry (backoff), Executor+Finish (how a
/// generation stopped), Executor+Generation (the stream), Executor+Models (residency, eviction and loads),
/// Executor+Thermal (pauses), Executor+Resume, Executor+Conditions (skips and routes), Executor+FanOut (items),
/// Executor+Tools (a tool call: intent, run, result, effects on resume), Executor+ToolRendering (a call's templates),
/// Executor+ToolRunners (the call itself), Executor+ToolLoop (a model's tool turns) and Executor+Retrieve (a query of an
/// index, and the citations a stage's answer may give).
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
    /// Seconds since 1970, for the idle timeouts `after_run` gives back (injectable so a test need not wait for one
    /// to run out, nor depend on how fast its own process gets to the run under load).
    public var wallClock: @Sendable () -> Double = { Date().timeIntervalSince1970 }
    /// Benchmarks only: unload every model right after its stage, as Baton's predecessor did, to compare
    /// with the memory planner (`BATON_BENCH_UNLOAD_AFTER_EACH_STAGE=1`).
    public var unloadAfterEachStage = false
    /// The machine's thermal sensor, read before each stage round when the profile has a `thermal` policy;
    /// nil (the default) never pauses. The command line passes ``ThermalSensors/platform(environment:)``.
    public var thermal: (any ThermalSensor)?
    /// What `baton resume --retry-call S` / `--skip-call S` chose for stage S's unfinished external call (stage name
    /// → choice); a stage not named here stops the resume at such a call (``RunOutcome/ambiguousCall(runID:stage:message:)``).
    public var callResolutions: [String: ToolCallResolution] = [:]
    /// Asked before every call that needs approval (`approve:`); nil denies each such call ("run with --approve NAME
    /// or on a terminal").
    public var approver: ToolApprover?
    /// The run's profile's `tools:` when the plan was compiled without a profile (``ExecutionPlan/toolPolicy`` nil); with
    /// neither, no `run` stage may start anything.
    public var toolPolicy: ToolPolicy?
    /// Whether a retrieve stage brings a stale index up to date first (once per execution and index); false under
    /// `--no-index-update`, which queries the index as it is (an index never built then fails the stage).
    public var updatesIndexes = true
    /// The sqlite-vec extension (`BATON_SQLITE_VEC`) for indexes with `vector: sqlite-vec`; nil: not configured.
    public var sqliteVecPath: String?

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
        let drawn = Self.newRunID()
        let pinned = try snapshot.encoded()
        // The run is created when its row is written; encoding its snapshot comes before.
        let now = RunStore.now()
        let record = RunRecord(
            id: drawn, pipeline: snapshot.plan.pipeline, pipelinePath: snapshot.pipelinePath, pipelineHash: snapshot.sourceHash,
            snapshot: pinned, inputs: try Self.encode(inputs), status: .running, error: nil,
            parentRunID: parent?.runID, rerunFrom: parent?.stage, createdAt: now, updatedAt: now, finishedAt: nil,
            leaseToken: nil, leasePid: nil, leaseHost: nil, leaseHeartbeat: nil)
        let id = try store.createRun(
            record, reusing: parent.map { ($0.runID, Self.upstream(of: $0.stage, in: snapshot.plan)) },
            freshID: { Self.newRunID() })
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

    /// The stage `baton rerun --from NAME` starts from: the stage NAME, or for a sub-pipeline call NAME (`review`, or
    /// `outer/review` when nested) its first stage in execution order; nil when the plan has neither.
    public static func rerunStage(_ name: String, in plan: ExecutionPlan) -> String? {
        if plan.stage(named: name) != nil { return name }
        return plan.stages.first { $0.calls?.contains { $0.path == name } == true }?.name
    }

    /// The names `baton rerun --from` and `baton show --stage` take: every stage and every sub-pipeline call.
    public static func stageAndCallNames(in plan: ExecutionPlan) -> [String] {
        var names: [String] = []
        var calls: Set<String> = []
        for stage in plan.stages {
            for frame in stage.calls ?? [] where calls.insert(frame.path).inserted { names.append(frame.path) }
            names.append(stage.name)
        }
        return names
    }

    /// A new run's id: the UTC time to the second and four random hex digits (`20261206-204122-8a3f`).
    ///
    /// Formatted by hand, not with `DateFormatter`: that one loads ICU's calendar, time zone and number data,
    /// about 5 MB of peak RSS on every run (a 1,000-stage run: 50.2 MB with it, 45.0 MB without).
    static func newRunID(at now: time_t = time(nil), random: UInt16 = .random(in: 0...UInt16.max)) -> String {
        var seconds = now
        var parts = tm()
        gmtime_r(&seconds, &parts)
        func padded(_ value: some BinaryInteger, _ width: Int, radix: Int = 10) -> String {
            let digits = String(value, radix: radix)
            return String(repeating: "0", count: max(0, width - digits.count)) + digits
        }
        let date = padded(parts.tm_year + 1900, 4) + padded(parts.tm_mon + 1, 2) + padded(parts.tm_mday, 2)
        let time = padded(parts.tm_hour, 2) + padded(parts.tm_min, 2) + padded(parts.tm_sec, 2)
        return date + "-" + time + "-" + padded(random, 4, radix: 16)
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
        // Runtime pools (Pools/): the run places its models on the pools' hosts and holds their room in the store.
        if let pooled = try PooledRuntimes.forRun(snapshot, base: runtimes, store: store, runID: runID, sleep: sleep) {
            var executor = self
            executor.runtimes = pooled
            defer { _ = try? store.releaseReservations(runID: runID) }
            return try await executor.execute(runID: runID, snapshot: snapshot, inputs: inputs, claim: claim, resumed: resumed)
        }
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
        // What the runtimes hold before the run touches them, for `after_run` (AfterRun).
        await recordModelsAtStart(state: state, resumed: resumed)
        // MCP servers start on first use and are stopped however the walk ends (done, failed, cancelled, a store error).
        let pool = mcpPool(for: snapshot.plan, runID: runID)
        state.mcpPool = pool
        let outcome: Result<RunOutcome, any Error>
        do {
            outcome = .success(try await walk(runID: runID, snapshot: snapshot, state: &state))
        } catch {
            outcome = .failure(error)
        }
        await pool?.stopAll()
        // However the walk ended, the models are left as the profile's `after_run` says (AfterRun).
        await leaveModels(state: &state)
        return try outcome.get()
    }

    private func walk(runID: String, snapshot: RunSnapshot, state: inout RunState) async throws -> RunOutcome {
        // However the walk ends, the last attempt's end is in the store (RunStore+Pending).
        defer { try? store.commitPending() }
        do {
            for stage in snapshot.plan.stages {
                // A tool definition runs only when a model calls it (Executor+ToolLoop).
                if stage.isToolDefinition { continue }
                // A stage inlined through `uses:` reads its calls' inputs (RunState+Scope), computed once per call.
                if let calls = stage.calls { try state.enterCalls(calls) }
                // Conditions, routes and critics of skipped stages (Executor+Conditions); other stages go straight on.
                if Self.needsDecision(stage, state: state), try skipIfDecided(stage, state: &state) {
                    killSwitch?.hit(.stageDone)
                    continue
                }
                if let loop = stage.critic, state.snapshot.plan.stage(named: loop.reviews)?.fanOut != nil {
                    // The loop runs per item (Executor+FanOut).
                    try await runCriticLoopPerItem(critic: stage, loop: loop, state: &state)
                } else if let fanOut = stage.fanOut {
                    try await runFanOut(stage, fanOut, state: &state)
                } else if let loop = stage.critic {
                    try await runCriticLoop(critic: stage, loop: loop, state: &state)
                    // A reviewed router's branch is taken from its approved answer.
                    if let reviewed = snapshot.plan.stage(named: loop.reviews), reviewed.route != nil {
                        try chooseRoute(of: reviewed, state: &state)
                    }
                } else {
                    _ = try await runStage(stage, round: 1, state: &state)
                    if stage.route != nil, stage.reviewedBy == nil { try chooseRoute(of: stage, state: &state) }
                }
                killSwitch?.hit(.stageDone)
            }
        } catch is CancellationError {
            try store.setStatus(runID, .interrupted, event: .runInterrupted)
            return .interrupted(runID: runID)
        } catch let failure as StageFailure {
            try store.setStatus(runID, .failed, error: failure.message, event: .runFailed)
            return .failed(runID: runID, reason: failure.message, runtimeUnavailable: failure.runtimeUnavailable)
        } catch let ambiguous as AmbiguousToolCall {
            try store.appendEvent(
                runID, kind: .toolCallAmbiguous, stage: ambiguous.stage,
                payload: try Self.encode(["tool": ambiguous.tool, "message": ambiguous.message]))
            observer(.tool(.callAmbiguous(stage: ambiguous.stage, tool: ambiguous.tool, message: ambiguous.message)))
            try store.setStatus(runID, .failed, error: ambiguous.message, event: .runFailed)
            return .ambiguousCall(runID: runID, stage: ambiguous.stage, message: ambiguous.message)
        }
        try store.setStatus(runID, .completed, event: .runCompleted)
        observer(.runFinished(id: runID, outputs: snapshot.plan.outputs.map { ($0, state.results[$0]?.output ?? "") }))
        return .completed(runID: runID)
    }

    /// Round 1 of the reviewed stage has run at its own place in the order; the critic drives the rest.
    func runCriticLoop(critic: PlannedStage, loop: CriticLoop, state: inout RunState) async throws {
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
            observer(
                .verdict(
                    critic: critic.name, reviewed: reviewed.name, round: round, verdict: verdict, feedback: feedback,
                    item: state.currentItem?.index))
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

    /// Runs one round of a stage (or reuses its completed attempt), with retries and fallbacks.
    func runStage(_ stage: PlannedStage, round: Int, state: inout RunState) async throws -> StageResult {
        var fingerprint = state.fingerprints[stage.name] ?? ""
        if let item = state.currentItem { fingerprint += item.fingerprintSuffix }
        if let done = state.completed[StageRound(stage: stage.name, item: state.currentItem?.index, round: round)],
            done.fingerprint == fingerprint
        {
            let result =
                stage.isTool
                ? try reusedToolResult(done, stage: stage, round: round, state: state)
                : try StageResult(attempt: done, stage: stage)
            state.record(stage: stage.name, result)
            observer(.attemptReused(stage: stage.name, round: round, item: state.currentItem?.index))
            return result
        }
        // A tool's call or an index update happens outside Baton: the attempt before ends in the store first
        // (RunStore+Pending). A thermal pause records its event before it sleeps, which writes it too.
        if stage.isTool || stage.isRetrieve { try store.commitPending() }
        // A tool stage runs its call (Executor+Tools): no model, no thermal wait.
        if stage.isTool { return try await runToolStage(stage, round: round, fingerprint: fingerprint, state: &state) }
        // A retrieve stage queries its index (Executor+Retrieve): its model is the index's embedding model.
        if stage.isRetrieve { return try await runRetrieveStage(stage, round: round, fingerprint: fingerprint, state: &state) }
        try await waitWhileHot(before: stage, round: round, state: state)
        let (system, prompt) = try state.render(stage, round: round)
        killSwitch?.hit(.render)
        let rendered = RenderedStage(system: system, prompt: prompt, fingerprint: fingerprint)
        // `cite: X`: the schema asked for limits `citations` to X's chunks as they are now (replayed on resume).
        return try await runOnChain(citing(stage, state: state), round: round, rendered: rendered, state: &state)
    }
}
