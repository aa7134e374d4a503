import BatonTestSupport
import Foundation
import Testing

@testable import BatonEngine

/// The queue's store operations on both backends: claim order, labels and engine levels, concurrent claims, epochs,
/// heartbeats, fencing, handing back, and the rescuer with its bound.
@Suite struct QueueStoreTests {
    static func queued(_ id: String, created: Double, priority: Int = 0, labels: String? = nil, level: Int = 1) -> RunRecord {
        var run = RunRecord(
            id: id, pipeline: "p", pipelinePath: nil, pipelineHash: "h", snapshot: "{}", inputs: "{}", status: .queued,
            createdAt: created, updatedAt: created, priority: priority, labels: labels)
        run.engineVersion = level
        return run
    }

    static func worker(_ id: String, labels: [String] = [], level: Int = 1, lease: Double = 30, beat: Double = 1000) -> WorkerRecord {
        WorkerRecord(
            id: id, host: "host-\(id)", pid: 1, labels: labels, concurrency: 1, engineLevel: level, leaseSeconds: lease,
            startedAt: beat, heartbeatAt: beat)
    }

    @Test(arguments: StoreBackend.allCases) func claimsTakeTheHighestPriorityThenTheOldest(_ backend: StoreBackend) throws {
        let store = try backend.open().store
        try store.submitRun(Self.queued("a", created: 100))
        try store.submitRun(Self.queued("b", created: 200, priority: 5))
        try store.submitRun(Self.queued("c", created: 150, priority: 5))
        try store.submitRun(Self.queued("d", created: 50))
        let worker = Self.worker("w")
        try store.registerWorker(worker)
        var order: [String] = []
        while let claim = try store.claimRun(for: worker, at: 1000) { order.append(claim.runID) }
        #expect(order == ["c", "b", "d", "a"])
        let run = try store.run("c")
        #expect(run.status == .running)
        #expect(run.leaseOwner == "w")
        #expect(run.leaseUntil == 1030)
        #expect(try store.events("c").map(\.kind) == [.runCreated, .runSubmitted, .runClaimed])
    }

    @Test(arguments: StoreBackend.allCases) func labelsAndEngineLevelsDecideWhoMayClaim(_ backend: StoreBackend) throws {
        let store = try backend.open().store
        try store.submitRun(Self.queued("gpu", created: 1, labels: "gpu"))
        try store.submitRun(Self.queued("gpu-big", created: 2, labels: "gpu,big"))
        try store.submitRun(Self.queued("level2", created: 3, level: 2))
        try store.submitRun(Self.queued("any", created: 4))
        #expect(try store.claimRun(for: Self.worker("plain"), at: 1000)?.runID == "any")
        #expect(try store.claimRun(for: Self.worker("plain"), at: 1000) == nil)
        #expect(try store.claimRun(for: Self.worker("g", labels: ["gpu"]), at: 1000)?.runID == "gpu")
        #expect(try store.claimRun(for: Self.worker("g", labels: ["gpu"]), at: 1000) == nil)
        #expect(try store.claimRun(for: Self.worker("gb", labels: ["big", "gpu", "x"]), at: 1000)?.runID == "gpu-big")
        #expect(try store.claimRun(for: Self.worker("gb", labels: ["big", "gpu", "x"]), at: 1000) == nil)
        #expect(try store.claimRun(for: Self.worker("new", level: 2), at: 1000)?.runID == "level2")
    }

    @Test(arguments: StoreBackend.allCases) func concurrentClaimsNeverGetTheSameRun(_ backend: StoreBackend) throws {
        let store = try backend.open().store
        for index in 0..<24 { try store.submitRun(Self.queued("r\(index)", created: Double(index))) }
        let claimed = Locked<[String]>([])
        let failures = Locked<[String]>([])
        DispatchQueue.concurrentPerform(iterations: 6) { thread in
            let worker = Self.worker("w\(thread)")
            do {
                while let claim = try store.claimRun(for: worker, at: 1000) { claimed.withLock { $0.append(claim.runID) } }
            } catch {
                failures.withLock { $0.append("\(error)") }
            }
        }
        #expect(failures.current == [])
        #expect(claimed.current.count == 24)
        #expect(Set(claimed.current).count == 24)
        for index in 0..<24 { #expect(try store.run("r\(index)").leaseEpoch == 1) }
    }

    @Test(arguments: StoreBackend.allCases) func eachClaimAndHandBackRaisesTheEpoch(_ backend: StoreBackend) throws {
        let store = try backend.open().store
        try store.submitRun(Self.queued("r", created: 1))
        let first = try #require(try store.claimRun(for: Self.worker("a"), at: 1000))
        #expect(first.epoch == 1)
        #expect(try store.requeueRun(first.fence(worker: "a"), reason: "worker stopping"))
        var run = try store.run("r")
        #expect(run.status == .queued)
        #expect(run.leaseOwner == nil)
        #expect(run.leaseEpoch == 2)
        // A stale fence hands nothing back.
        #expect(try store.requeueRun(first.fence(worker: "a"), reason: "worker stopping") == false)
        let second = try #require(try store.claimRun(for: Self.worker("b"), at: 1000))
        #expect(second.epoch == 3)
        run = try store.run("r")
        #expect(run.leaseOwner == "b")
        let requeued = try store.events("r", kind: .runRequeued)
        #expect(requeued.count == 1)
        #expect(requeued.first?.payload?.contains("\"reason\":\"worker stopping\"") == true)
    }

    @Test(arguments: StoreBackend.allCases) func aHeartbeatExtendsTheLeasesOfTheRunsItHolds(_ backend: StoreBackend) throws {
        let store = try backend.open().store
        try store.submitRun(Self.queued("mine", created: 1))
        try store.submitRun(Self.queued("other", created: 2))
        let worker = Self.worker("w")
        try store.registerWorker(worker)
        let claim = try #require(try store.claimRun(for: worker, at: 1000))
        _ = try store.claimRun(for: Self.worker("x"), at: 1000)
        let held = try store.workerHeartbeat(worker, at: 1020)
        #expect(held == [HeldRun(runID: "mine", epoch: claim.epoch)])
        #expect(try store.run("mine").leaseUntil == 1050)
        #expect(try store.run("other").leaseUntil == 1030)
        #expect(try store.workers().first { $0.id == "w" }?.heartbeatAt == 1020)
        #expect(try store.heldRuns()["w"] == [HeldRun(runID: "mine", epoch: 1)])
        try store.deregisterWorker("w")
        #expect(try store.workers().map(\.id).contains("w") == false)
    }

    @Test(arguments: StoreBackend.allCases) func aFencedCommitWritesNothing(_ backend: StoreBackend) throws {
        let store = try backend.open().store
        try store.submitRun(Self.queued("r", created: 1))
        let claim = try #require(try store.claimRun(for: Self.worker("a"), at: 1000))
        let fenced = store.fenced(claim.fence(worker: "a"))
        // While the epoch is its own, the holder commits.
        try fenced.appendEvent("r", kind: .runtimeNotice, payload: "{}")
        #expect(try store.requeueRun(claim.fence(worker: "a"), reason: "taken") == true)
        let before = try store.events("r").count
        do {
            try fenced.appendEvent("r", kind: .runtimeNotice, payload: "{}")
            Issue.record("a commit under a stale fence succeeded")
        } catch {
            #expect(error.code == .fenced)
            #expect(error.message.contains("worker a no longer holds run 'r'"))
        }
        #expect(throws: StoreError.self) {
            try fenced.startAttempt(Conformance.attempt("r", "plan"))
        }
        #expect(try store.events("r").count == before)
        #expect(try store.attempts("r").isEmpty)
    }

    @Test(arguments: StoreBackend.allCases) func theRescuerRequeuesOnlyWhenLeaseAndHeartbeatAreBothStale(_ backend: StoreBackend)
        throws
    {
        let store = try backend.open().store
        try store.submitRun(Self.queued("r", created: 1))
        let worker = Self.worker("w", beat: 1000)
        try store.registerWorker(worker)
        let claim = try #require(try store.claimRun(for: worker, at: 1000))
        let attempt = try store.fenced(claim.fence(worker: "w")).startAttempt(Conformance.attempt("r", "plan"))
        // The lease runs to 1030: nothing to rescue before.
        #expect(try store.rescueRuns(maxRecoveries: 3, at: 1020)?.requeued.isEmpty == true)
        // Lease out but the worker beat recently (a heartbeat that has not reached this run yet): left alone.
        var alive = worker
        alive.heartbeatAt = 1035
        try store.registerWorker(alive)
        #expect(try store.rescueRuns(maxRecoveries: 3, at: 1040)?.requeued.isEmpty == true)
        #expect(try store.run("r").status == .running)
        // Both stale: requeued, its attempt in flight aborted, the epoch raised.
        let outcome = try #require(try store.rescueRuns(maxRecoveries: 3, at: 1070))
        #expect(outcome.requeued.map(\.runID) == ["r"])
        #expect(outcome.requeued.map(\.worker) == ["w"])
        let run = try store.run("r")
        #expect(run.status == .queued)
        #expect(run.leaseOwner == nil)
        #expect(run.leaseEpoch == claim.epoch + 1)
        #expect(run.recoveryAttempts == 1)
        #expect(try store.attempts("r").first { $0.id == attempt.id }?.status == .aborted)
        #expect(try store.events("r", kind: .runRequeued).first?.payload?.contains("\"reason\":\"worker died\"") == true)
    }

    @Test(arguments: StoreBackend.allCases) func aRunWhoseWorkersKeepDyingIsFailedWithTheReason(_ backend: StoreBackend) throws {
        let store = try backend.open().store
        try store.submitRun(Self.queued("r", created: 1))
        // No worker row at all counts as a dead worker.
        _ = try store.claimRun(for: Self.worker("w1"), at: 1000)
        #expect(try store.rescueRuns(maxRecoveries: 1, at: 2000)?.requeued.map(\.runID) == ["r"])
        try store.registerWorker(Self.worker("w2", beat: 2000))
        _ = try store.claimRun(for: Self.worker("w2"), at: 2000)
        let outcome = try #require(try store.rescueRuns(maxRecoveries: 1, at: 3000))
        #expect(outcome.parked == ["r"])
        let run = try store.run("r")
        #expect(run.status == .failed)
        #expect(run.error?.hasPrefix("requeued 1 time after its worker died (last: w2 on host-w2)") == true)
        #expect(try store.claimRun(for: Self.worker("w3"), at: 3000) == nil)
    }

    @Test(arguments: StoreBackend.allCases) func concurrentSweepsRequeueEachRunOnce(_ backend: StoreBackend) throws {
        let store = try backend.open().store
        for index in 0..<6 {
            try store.submitRun(Self.queued("r\(index)", created: Double(index)))
            _ = try store.claimRun(for: Self.worker("dead"), at: 1000)
        }
        let failures = Locked<[String]>([])
        DispatchQueue.concurrentPerform(iterations: 4) { _ in
            do { _ = try store.rescueRuns(maxRecoveries: 3, at: 2000) } catch { failures.withLock { $0.append("\(error)") } }
        }
        #expect(failures.current == [])
        for index in 0..<6 {
            #expect(try store.run("r\(index)").recoveryAttempts == 1)
            #expect(try store.events("r\(index)", kind: .runRequeued).count == 1)
        }
    }

    @Test func onPostgreSQLASweepIsSkippedWhileAnotherHoldsTheLock() throws {
        let store = try StoreBackend.postgres.open().store
        let postgres = try #require(store.backend as? PostgresRunStore)
        let skipped = try postgres.write { session in
            try session.execute("SELECT pg_advisory_xact_lock($1)", [.integer(PostgresRunStore.rescuerLock)])
            return try store.rescueRuns(maxRecoveries: 3, at: 1000) == nil
        }
        #expect(skipped)
        #expect(try store.rescueRuns(maxRecoveries: 3, at: 1000) != nil)
    }

    @Test func waitingReasonsNameWhatIsMissing() {
        let now = 5000.0
        let run = Self.queued("r", created: 1, labels: "gpu", level: 2)
        #expect(QueueWaiting.reason(run, workers: [], now: now).hasPrefix("waiting for a worker"))
        let stale = Self.worker("old", labels: ["gpu"], level: 2, beat: 1000)
        #expect(QueueWaiting.reason(run, workers: [stale], now: now).hasPrefix("waiting for a worker"))
        let level1 = Self.worker("w", beat: now)
        #expect(QueueWaiting.reason(run, workers: [level1], now: now) == "needs engine level 2; live workers have 1")
        let level2 = Self.worker("w2", level: 2, beat: now)
        #expect(QueueWaiting.reason(run, workers: [level2], now: now) == "needs labels gpu; no live worker has them")
        let fit = Self.worker("w3", labels: ["gpu"], level: 2, beat: now)
        #expect(QueueWaiting.reason(run, workers: [level2, fit], now: now) == "waiting for a worker")
    }
}
