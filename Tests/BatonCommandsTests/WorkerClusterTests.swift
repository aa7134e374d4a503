import BatonTestSupport
import Foundation
import Testing

extension Tag {
    /// Tests that take tens of seconds (they wait out a worker's lease): `swift test --skip-build --filter WorkerClusterTests`.
    @Tag static var slow: Self
}

/// Several `baton worker` processes on one PostgreSQL queue, each in a network namespace of its own standing for a host
/// (on loopback where namespaces cannot be made; the output says which), with faults injected: workers SIGKILLed at four
/// points, SIGSTOPped past their lease, cut off from the network, PostgreSQL restarted under them, and a worker of an
/// older engine level. Issue 17's checks S2, S3, S4, S7 and S8 (../shared/reference/scale-dashboard-tests.md, 1.5).
///
/// Every test starts its own cluster (WorkerClusterSupport.swift) and tears it down, and checks its runs against a
/// single-process `baton run` of the same inputs with ``WorkerCluster/violations(_:stopped:)``. Workers get a 10 s lease
/// (the rescuer sweeps every 3.3 s); times are printed, never asserted.
@Suite(.serialized, .enabled(if: WorkerCluster.postgresAvailable, "PostgreSQL is not installed and cannot be (scripts/setup-postgres.sh)"))
struct WorkerClusterTests {
    static let topics = ["the garden", "a bike ride", "the harbour", "a rainy day", "the night train"]

    /// S2: three workers, thirty runs: each completes once, claimed once, nothing fenced, outputs equal a single process's.
    @Test(.tags(.slow)) func thirtyRunsOnThreeWorkersCompleteOnceWithTheSingleProcessOutputs() async throws {
        try await WorkerCluster.with("s2") { cluster in
            let workers = [
                try await cluster.startWorker("w1", ["--concurrency", "2"]), try await cluster.startWorker("w2", ["--concurrency", "2"]),
                try await cluster.startWorker("w3", ["--concurrency", "2"]),
            ]
            var topics: [String: String] = [:]
            for index in 0..<30 {
                let topic = Self.topics[index % Self.topics.count]
                topics[try await cluster.submit(topic: topic)] = topic
            }
            let started = Date()
            let finished = try await cluster.waitForRuns(topics.keys, timeout: 240)
            try #require(finished, "not every run finished:\n\(cluster.logs)")
            print("S2: 30 runs on 3 workers in \(String(format: "%.1f", Date().timeIntervalSince(started))) s after the last submit")
            try await cluster.checkRuns(topics, stopped: [], context: "S2")
            let claims = try await cluster.events(["run-claimed", "run-requeued", "lease-fenced"])
            #expect(claims.filter { $0.kind != "run-claimed" }.isEmpty, "requeues or fenced commits: \(claims)")
            let claimed = Dictionary(grouping: claims.filter { $0.kind == "run-claimed" }, by: \.run).mapValues(\.count)
            #expect(claimed.count == 30 && claimed.values.allSatisfy { $0 == 1 }, "claims per run: \(claimed)")
            for worker in workers { #expect(!worker.log.contains("fenced"), "\(worker.name): \(worker.log)") }
            // The queue spreads the runs: more than one worker executed some.
            let busy = workers.filter { worker in topics.keys.contains { worker.log.contains($0) } }
            print("S2: runs per worker: \(workers.map { w in "\(w.name) \(topics.keys.filter { w.log.contains($0) }.count)" })")
            #expect(busy.count >= 2, "only \(busy.map(\.name)) executed runs:\n\(cluster.logs)")
        }
    }

    /// Where a worker is SIGKILLed (`BATON_TEST_KILL_AT`): after its claim, mid-stage (the echo runtime slowed so tokens
    /// stream), inside the commit of review round 1's answer, after the first stages' commits.
    static let kills = ["claimed:1", "token:30", "attempt-finish-commit:3", "stage-done:2"]

    /// S3: a worker killed at any of the four points: another worker takes the run over once the lease runs out and
    /// finishes it without repeating a completed attempt.
    @Test(.tags(.slow), arguments: kills)
    func aKilledWorkersRunIsFinishedByAnotherWithoutRepeats(_ kill: String) async throws {
        try await WorkerCluster.with("s3") { cluster in
            let topic = Self.topics[1]
            let first = try await cluster.startWorker(
                "w1", environment: ["BATON_TEST_KILL_AT": kill, "BATON_ECHO_TOKEN_DELAY": "0.02"])
            let run = try await cluster.submit(topic: topic)
            try #require(await first.waitForExit(), "w1 was not killed at \(kill):\n\(cluster.logs)")
            try #require(first.signal == SIGKILL, "w1 ended without being killed at \(kill):\n\(cluster.logs)")
            let died = try #require(first.exitedAt)
            _ = try await cluster.startWorker("w2")
            try #require(try await cluster.waitForRuns([run]), "the run was not taken over:\n\(cluster.logs)")
            try await cluster.checkRuns([run: topic], context: "killed at \(kill)")
            let events = try await cluster.events(["run-claimed", "run-requeued"]).filter { $0.run == run }
            #expect(events.map(\.kind) == ["run-claimed", "run-requeued", "run-claimed"], "\(events)\n\(cluster.logs)")
            if let takeover = events.last.map({ $0.at - died.timeIntervalSince1970 }) {
                print(
                    "S3: killed at \(kill): taken over \(String(format: "%.1f", takeover)) s after the kill (lease \(WorkerCluster.lease) s)"
                )
            }
        }
    }

    /// S3: a worker stopped past its lease loses the run to another; continued, its next commit is refused (fenced),
    /// and the run completes exactly once.
    @Test(.tags(.slow)) func aWorkerStoppedPastItsLeaseIsFencedWhenItContinues() async throws {
        try await WorkerCluster.with("s3-stop") { cluster in
            let topic = Self.topics[2]
            // Slow tokens, each one committed: the worker is mid-stage when stopped, and its first act when continued
            // is a commit.
            let first = try await cluster.startWorker(
                "w1", environment: ["BATON_ECHO_TOKEN_DELAY": "0.05", "BATON_PROGRESS_INTERVAL": "0"])
            let run = try await cluster.submit(topic: topic)
            try #require(try await cluster.waitUntil { !first.calls().isEmpty }, "w1 never called the runtime:\n\(cluster.logs)")
            try await cluster.pause(first)
            let stopped = Date()
            _ = try await cluster.startWorker("w2")
            let takenOver = try await cluster.waitUntil { try await cluster.isTakenOver(run, by: "w2") }
            first.send(SIGCONT)
            try #require(takenOver, "w2 never took the run over:\n\(cluster.logs)")
            print("S3: stopped worker's run taken over \(String(format: "%.1f", Date().timeIntervalSince(stopped))) s after SIGSTOP")
            let refused = try await cluster.waitUntil(timeout: 90) { try await cluster.wasFenced(first) }
            #expect(refused, "w1's commit after SIGCONT was not refused:\n\(cluster.logs)")
            try #require(try await cluster.waitForRuns([run]), "the run did not finish:\n\(cluster.logs)")
            try await cluster.checkRuns([run: topic], context: "SIGSTOP past the lease")
            #expect(first.isRunning, "the fenced worker should go on claiming:\n\(first.log)")
        }
    }
}
