import BatonTestSupport
import Foundation
import Testing

/// PostgreSQL restarts, a network partition and version skew (S4, S7, S8): the rest of ``WorkerClusterTests``.
extension WorkerClusterTests {
    /// S4: `pg_ctl restart -m immediate` while runs are mid-stage on three workers: every run finishes exactly once,
    /// none is stranded, and the workers LISTEN again afterwards (a new run is claimed; the latency is printed).
    @Test(.tags(.slow)) func postgresRestartedMidRunStrandsNoRun() async throws {
        try await WorkerCluster.with("s4") { cluster in
            let slow = ["BATON_ECHO_TOKEN_DELAY": "0.02"]
            for name in ["w1", "w2", "w3"] { _ = try await cluster.startWorker(name, environment: slow) }
            var topics: [String: String] = [:]
            for index in 0..<6 {
                topics[try await cluster.submit(topic: Self.topics[index % Self.topics.count])] = Self.topics[index % Self.topics.count]
            }
            let midRun = try await cluster.waitUntil {
                try await cluster.statuses().values.filter { $0 == "running" }.count >= 2
                    && cluster.allWorkers.contains { !$0.calls().isEmpty }
            }
            try #require(midRun, "no run got going:\n\(cluster.logs)")
            try await cluster.restartPostgres()
            let finished = try await cluster.waitForRuns(topics.keys, timeout: 240)
            let statuses = try await cluster.statuses()
            try #require(finished, "runs stranded after the restart: \(statuses)\n\(cluster.logs)")
            try await cluster.checkRuns(topics, stopped: ["aborted", "interrupted"], context: "restart mid-run")
            try await cluster.checkWakeUps(workers: 3, context: "after a restart mid-run")
        }
    }

    /// S4, the DBOS #716 case: PostgreSQL restarted again and again around the moment the rescuer takes a dead worker's
    /// run back: the run is requeued and finished, never left `running`.
    @Test(.tags(.slow)) func postgresRestartedDuringARescueStrandsNoRun() async throws {
        try await WorkerCluster.with("s4-rescue") { cluster in
            let topic = Self.topics[3]
            let first = try await cluster.startWorker("w1", environment: ["BATON_ECHO_TOKEN_DELAY": "0.05"])
            let run = try await cluster.submit(topic: topic)
            try #require(try await cluster.waitUntil { !first.calls().isEmpty }, "w1 never called the runtime:\n\(cluster.logs)")
            _ = try await cluster.startWorker("w2")
            first.send(SIGKILL)
            let lease = try await cluster.query("SELECT lease_until FROM runs WHERE id = '\(run)'").first?["lease_until"] as? NSNumber
            let leaseUntil = try #require(lease, "the run has no lease").doubleValue
            // The first sweep that sees the lease expired comes within a third of the lease after it: restart across
            // that window until the requeue shows.
            try await Task.sleep(for: .seconds(max(0, leaseUntil - Date().timeIntervalSince1970 - 0.3)))
            var restarts = 0
            while restarts < 5, try await cluster.events(["run-requeued"]).isEmpty {
                try await cluster.restartPostgres()
                restarts += 1
                try await Task.sleep(for: .milliseconds(Int.random(in: 300...1200)))
            }
            print("S4: \(restarts) restarts of PostgreSQL from the lease's end to the requeue")
            try #require(try await cluster.waitForRuns([run], timeout: 240), "the run was stranded:\n\(cluster.logs)")
            try await cluster.checkRuns([run: topic], context: "restart during a rescue")
            let stuck = try await cluster.query("SELECT id FROM runs WHERE status IN ('running', 'queued')")
            #expect(stuck.isEmpty, "stranded: \(stuck)")
            try await cluster.checkWakeUps(workers: 1, context: "after restarts during a rescue")
        }
    }

    /// S7: a worker cut off from the network past its lease loses its run to another; when its link comes back its
    /// late commit is refused and the run completes once.
    @Test(.tags(.slow), .enabled(if: WorkerNetwork.detected == .namespaces, "needs network namespaces (root and ip(8))"))
    func aPartitionedWorkerLosesItsRunAndItsLateCommitIsRefused() async throws {
        try await WorkerCluster.with("s7") { cluster in
            let topic = Self.topics[4]
            let first = try await cluster.startWorker(
                "w1", environment: ["BATON_ECHO_TOKEN_DELAY": "0.05", "BATON_PROGRESS_INTERVAL": "0"])
            let run = try await cluster.submit(topic: topic)
            try #require(try await cluster.waitUntil { !first.calls().isEmpty }, "w1 never called the runtime:\n\(cluster.logs)")
            _ = try await cluster.startWorker("w2")
            try await cluster.partition(first)
            let cut = Date()
            let takenOver = try await cluster.waitUntil { try await cluster.isTakenOver(run, by: "w2") }
            try await cluster.setLink(first, up: true)
            try #require(takenOver, "w2 never took the run over:\n\(cluster.logs)")
            print(
                "S7: partitioned worker's run taken over \(String(format: "%.1f", Date().timeIntervalSince(cut))) s after the link went down"
            )
            let refused = try await cluster.waitUntil(timeout: 120) { try await cluster.wasFenced(first) }
            #expect(refused, "w1's late commit was not refused:\n\(cluster.logs)")
            try #require(try await cluster.waitForRuns([run]), "the run did not finish:\n\(cluster.logs)")
            try await cluster.checkRuns([run: topic], context: "partition")
        }
    }

    /// S8: a worker of an older engine level leaves runs of the current level alone; `baton runs` says why they wait;
    /// a worker of the current level then runs them.
    @Test func aWorkerOfAnOlderEngineLevelLeavesNewerRunsAlone() async throws {
        try await WorkerCluster.with("s8") { cluster in
            let old = try await cluster.startWorker("old", ["--poll", "1"], environment: ["BATON_ENGINE_LEVEL": "0"])
            var topics: [String: String] = [:]
            for topic in Self.topics.prefix(2) { topics[try await cluster.submit(topic: topic)] = topic }
            // The old worker has registered and polled the queue a few times.
            try #require(
                try await cluster.waitUntil { !(try await cluster.query("SELECT id FROM workers WHERE id = 'old'")).isEmpty },
                "the old worker never registered:\n\(cluster.logs)")
            try await Task.sleep(for: .seconds(3))
            #expect(try await cluster.statuses().filter { topics[$0.key] != nil }.values.allSatisfy { $0 == "queued" })
            let listing = try await cluster.baton(["runs"])
            #expect(listing.status == 0, "\(listing.summary)")
            #expect(listing.stdout.contains("needs engine level 1"), "\(listing.stdout)")
            let workers = try await cluster.baton(["workers"])
            #expect(workers.status == 0 && workers.stdout.contains("old"), "\(workers.summary)")
            let current = try await cluster.startWorker("current")
            try #require(try await cluster.waitForRuns(topics.keys), "the runs did not finish:\n\(cluster.logs)")
            try await cluster.checkRuns(topics, stopped: [], context: "version skew")
            for run in topics.keys {
                #expect(!old.log.contains(run) && current.log.contains(run), "\(run):\n\(cluster.logs)")
            }
        }
    }
}

extension WorkerCluster {
    /// After a restart: every live worker LISTENs again (its session shows in `pg_stat_activity`), and a new run is
    /// claimed; prints the time from submit to claim.
    func checkWakeUps(workers: Int, context: String, sourceLocation: Testing.SourceLocation = #_sourceLocation) async throws {
        let listening = try await waitUntil(timeout: 60) {
            try await query("SELECT pid FROM pg_stat_activity WHERE query ILIKE 'listen%baton_runs%'").count >= workers
        }
        #expect(listening, "\(context): fewer than \(workers) workers LISTEN again:\n\(logs)", sourceLocation: sourceLocation)
        let run = try await submit(topic: "a wake-up")
        let claimed = try await waitUntil { try await events(["run-claimed"]).contains { $0.run == run } }
        #expect(claimed, "\(context): the new run was never claimed:\n\(logs)", sourceLocation: sourceLocation)
        let times = try await events(["run-submitted", "run-claimed"]).filter { $0.run == run }
        if let submitted = times.first(where: { $0.kind == "run-submitted" }), let claim = times.first(where: { $0.kind == "run-claimed" })
        {
            print("S4: \(context): submit → claim \(String(format: "%.0f", (claim.at - submitted.at) * 1000)) ms")
        }
        _ = try await waitForRuns([run])
    }
}
