import Foundation

/// A `baton worker`: registers, claims queued runs up to its concurrency and executes each under a fenced store,
/// heartbeats its leases, sweeps for runs whose worker died, and on ``stop()`` hands its runs back before it leaves.
///
/// The run itself is executed by `execute` (the command passes one that resumes it as `baton resume` would); the
/// worker owns only the lease around it.
public final class QueueWorker: Sendable {
    /// Executes a claimed run on the store given (fenced to the claim) and says how it ended.
    public typealias Execute = @Sendable (QueueClaim, RunStore) async throws -> RunOutcome

    let store: RunStore
    let settings: WorkerSettings
    let execute: Execute
    let log: @Sendable (String) -> Void
    let wake = WorkerWake()
    private let state = Locked(State())

    private struct State {
        var stopping = false
        var claimed = 0
        var running: [String: Running] = [:]
    }

    private struct Running {
        var fence: RunFence
        var task: Task<Void, Never>?
        var lost = false
    }

    /// A worker on `store` (unfenced: the worker fences each run's copy itself).
    public init(store: RunStore, settings: WorkerSettings, log: @escaping @Sendable (String) -> Void, execute: @escaping Execute) {
        self.store = store
        self.settings = settings
        self.log = log
        self.execute = execute
    }

    /// Stops claiming and interrupts the runs in flight (each records its attempt in flight as interrupted and is
    /// handed back to the queue); ``run()`` then returns.
    public func stop() {
        let tasks = state.withLock { state -> [Task<Void, Never>] in
            state.stopping = true
            return state.running.values.compactMap(\.task)
        }
        for task in tasks { task.cancel() }
        wake.wake()
    }

    /// Whether ``stop()`` was called.
    public var isStopping: Bool { state.withLock { $0.stopping } }

    /// Registers, works until stopped (or, with `once`, after one run), hands back what it holds and deregisters.
    ///
    /// - Throws: ``StoreError`` when the worker cannot register (the store is unreachable or refuses it).
    public func run() async throws(StoreError) {
        let started = RunStore.now()
        let name = settings.id
        try store.registerWorker(settings.record(at: started, startedAt: started))
        let labels = settings.labels.isEmpty ? "" : ", labels \(settings.labels.joined(separator: ","))"
        log(
            "worker \(name): started (concurrency \(settings.concurrency), lease \(Self.seconds(settings.leaseSeconds)), "
                + "engine level \(settings.engineLevel)\(labels))")
        let listener = QueueListener.start(store: store) { [wake] in wake.wake() }
        let heartbeat = Task { await self.heartbeatLoop(startedAt: started) }
        let rescuer = Task { await self.rescueLoop() }
        if settings.once { sweep() }
        await claimLoop()
        // Every run task ends on its own (interrupted ones hand themselves back).
        while let task = state.withLock({ $0.running.values.compactMap(\.task).first }) { await task.value }
        heartbeat.cancel()
        rescuer.cancel()
        await listener?.stop()
        do {
            try store.deregisterWorker(name)
        } catch {
            log("worker \(name): could not deregister (\(error)); 'baton workers' shows it stale until its row is cleared")
        }
        log("worker \(name): stopped")
    }

    private func claimLoop() async {
        let record = settings.record(at: RunStore.now(), startedAt: RunStore.now())
        while true {
            let (stopping, busy, claimed) = state.withLock { ($0.stopping, $0.running.count, $0.claimed) }
            if stopping || (settings.once && claimed >= 1) { return }
            if busy < settings.concurrency {
                do {
                    if let claim = try store.claimRun(for: record) {
                        start(claim)
                        continue
                    }
                    if settings.once { return }
                } catch {
                    log("worker \(settings.id): claiming failed: \(error); trying again in \(Self.seconds(settings.pollSeconds))")
                }
            }
            await wake.wait(seconds: settings.pollSeconds)
        }
    }

    private func start(_ claim: QueueClaim) {
        let fence = claim.fence(worker: settings.id)
        log("worker \(settings.id): claimed run \(claim.runID) (epoch \(claim.epoch))")
        store.killSwitch?.hit(.claimed)
        state.withLock { state in
            state.claimed += 1
            state.running[claim.runID] = Running(fence: fence)
        }
        let task = Task { await self.executeRun(claim, fence: fence) }
        let stopping = state.withLock { state -> Bool in
            state.running[claim.runID]?.task = task
            return state.stopping
        }
        if stopping { task.cancel() }
    }

    private func executeRun(_ claim: QueueClaim, fence: RunFence) async {
        let name = settings.id
        let result: Result<RunOutcome, any Error>
        do {
            result = .success(try await execute(claim, store.fenced(fence)))
        } catch {
            result = .failure(error)
        }
        let (lost, stopping) = state.withLock { state in
            let lost = state.running.removeValue(forKey: claim.runID)?.lost ?? false
            return (lost, state.stopping)
        }
        defer { wake.wake() }
        if case .failure(let error as StoreError) = result, error.code == .fenced {
            return fenced(claim)
        }
        if lost { return fenced(claim) }
        switch result {
        case .success(.completed): log("worker \(name): finished run \(claim.runID): completed")
        case .success(.failed(_, let reason, _)): log("worker \(name): finished run \(claim.runID): failed: \(reason)")
        case .success(.ambiguousCall(_, _, let message)): log("worker \(name): finished run \(claim.runID): failed: \(message)")
        case .success(.interrupted):
            if stopping {
                handBack(fence)
            } else {
                log("worker \(name): run \(claim.runID) was interrupted")
            }
        case .failure(let error):
            log("worker \(name): run \(claim.runID) stopped: \(error)")
            if stopping { handBack(fence) } else { fail(claim, fence: fence, error: error) }
        }
    }

    /// A run whose store failed under it (not fenced) is handed back, so another worker or a later claim retries it.
    private func fail(_ claim: QueueClaim, fence: RunFence, error: any Error) {
        if (try? store.requeueRun(fence, reason: "the worker's store failed: \(error)")) == true {
            log("worker \(settings.id): handed back run \(claim.runID) (its store failed)")
        }
    }

    private func handBack(_ fence: RunFence) {
        do {
            if try store.requeueRun(fence, reason: "worker stopping") {
                log("worker \(settings.id): handed back run \(fence.runID) (worker stopping)")
            } else {
                fenced(QueueClaim(runID: fence.runID, epoch: fence.epoch))
            }
        } catch {
            log("worker \(settings.id): could not hand back run \(fence.runID): \(error); the rescuer requeues it once its lease runs out")
        }
    }

    private func fenced(_ claim: QueueClaim) {
        log("worker \(settings.id): fenced on run \(claim.runID) (epoch \(claim.epoch))")
        try? store.appendEvent(
            claim.runID, kind: .leaseFenced,
            payload: QueueText.json(["worker": settings.id, "epoch": claim.epoch]))
    }

    // MARK: - Heartbeat and rescuer

    private func heartbeatLoop(startedAt: Double) async {
        let interval = max(0.2, settings.leaseSeconds / 3)
        while !Task.isCancelled {
            try? await Task.sleep(for: .milliseconds(Int(interval * 1000)))
            if Task.isCancelled { return }
            do {
                let held = try store.workerHeartbeat(settings.record(at: RunStore.now(), startedAt: startedAt))
                checkHeld(held)
            } catch {
                log("worker \(settings.id): heartbeat failed: \(error)")
            }
        }
    }

    /// A run of ours the heartbeat no longer finds at our epoch was taken over: its task stops (its commits are fenced
    /// anyway). A run merely finished meanwhile keeps its epoch and is left alone.
    private func checkHeld(_ held: [HeldRun]) {
        let epochs = Dictionary(held.map { ($0.runID, $0.epoch) }) { first, _ in first }
        let mine = state.withLock { $0.running.mapValues(\.fence) }
        for (runID, fence) in mine where epochs[runID] != fence.epoch {
            let current = try? store.run(runID).leaseEpoch
            guard current != fence.epoch else { continue }
            let task = state.withLock { state -> Task<Void, Never>? in
                state.running[runID]?.lost = true
                return state.running[runID]?.task
            }
            task?.cancel()
        }
    }

    private func rescueLoop() async {
        let interval = max(1, settings.leaseSeconds / 3)
        while !Task.isCancelled {
            try? await Task.sleep(for: .milliseconds(Int(interval * 1000)))
            if Task.isCancelled { return }
            sweep()
        }
    }

    /// One sweep of the rescuer, then the reservations of epochs that are no longer their run's.
    func sweep() {
        do {
            guard let outcome = try store.rescueRuns(maxRecoveries: settings.maxRecoveries) else { return }
            for (runID, worker) in outcome.requeued {
                log("worker \(settings.id): requeued run \(runID) (its worker \(worker) stopped heartbeating)")
            }
            for runID in outcome.parked {
                log("worker \(settings.id): failed run \(runID): requeued \(settings.maxRecoveries) times after its worker died")
            }
            if !outcome.requeued.isEmpty { wake.wake() }
            try store.releaseStaleReservations()
        } catch {
            log("worker \(settings.id): rescuer sweep failed: \(error)")
        }
    }

    static func seconds(_ value: Double) -> String {
        value == value.rounded() ? "\(Int(value))s" : "\(value)s"
    }
}
