import BatonTestSupport
import Foundation
import Testing

@testable import BatonEngine

/// Every operation of ``RunStoreBackend`` on both backends (RunStoreConformance.swift): the same inputs give the
/// same observable results on SQLite and PostgreSQL.
@Suite struct RunStoreConformanceTests {
    typealias C = Conformance

    @Test(arguments: StoreBackend.allCases) func runsAreCreatedReadListedAndFiltered(_ backend: StoreBackend) throws {
        let open = try backend.open()
        let store = open.store
        let first = C.run("r1", created: 100, status: .completed, pipeline: "a", snapshot: "{\"plan\":1}")
        try store.createRun(first)
        try store.createRun(C.run("r2", created: 200, status: .queued, pipeline: "b"))
        try store.createRun(C.run("r3", created: 300, status: .completed, pipeline: "b"))

        #expect(try store.run("r1") == first)
        #expect(try store.runs().map(\.id) == ["r3", "r2", "r1"])
        #expect(try store.runs(status: .completed).map(\.id) == ["r3", "r1"])
        #expect(try store.runs(pipeline: "b").map(\.id) == ["r3", "r2"])
        #expect(try store.runs(status: .completed, pipeline: "b", limit: 5).map(\.id) == ["r3"])
        #expect(try store.runs(limit: 1).map(\.id) == ["r3"])
        #expect(try store.runs().first { $0.id == "r1" }?.snapshot == "{\"plan\":1}")
        let created = try store.events("r1")
        #expect(created.map(\.kind) == [.runCreated])
        #expect(created.first?.at == 100)
    }

    @Test(arguments: StoreBackend.allCases) func aTakenIDIsReplacedByTheFirstFreeOneDrawn(_ backend: StoreBackend) throws {
        let open = try backend.open()
        try open.store.createRun(C.run("taken"))
        try open.store.createRun(C.run("also-taken"))
        var draws = ["also-taken", "free"].makeIterator()
        let id = try open.store.createRun(C.run("taken"), freshID: { draws.next() ?? "never" })
        #expect(id == "free")
        #expect(try open.store.run("free").pipelineHash == "hash-taken")
        #expect(throws: StoreError.self) { try open.store.createRun(C.run("taken")) }
        #expect(try open.store.runs().count == 3)
    }

    @Test(arguments: StoreBackend.allCases) func aMissingRunIsNamedWithTheFix(_ backend: StoreBackend) throws {
        let open = try backend.open()
        try open.store.createRun(C.run("20261207-101010-ab12"))
        #expect {
            _ = try open.store.run("nope")
        } throws: { error in
            let error = error as? StoreError
            return error?.code == .runNotFound && error?.message.hasPrefix("no run 'nope' in '") == true
                && error?.message.hasSuffix("; 'baton runs' lists the runs") == true
        }
        #expect {
            _ = try open.store.run("20261207-1010")
        } throws: { error in
            (error as? StoreError)?.message.hasSuffix("; did you mean '20261207-101010-ab12'?") == true
        }
    }

    @Test(arguments: StoreBackend.allCases) func statusAndSnapshotChangesAreRecordedWithTheirEvents(_ backend: StoreBackend) throws {
        let open = try backend.open()
        let store = open.store
        try store.createRun(C.run("r"))
        let a = try store.startAttempt(C.attempt("r", "a"))
        try store.finishAttempt(C.finished(a, output: "A"), event: .attemptCompleted)
        _ = try store.startAttempt(C.attempt("r", "b"))

        try store.setStatus("r", .failed, error: "boom", event: .runFailed, payload: "{\"why\":1}")
        var run = try store.run("r")
        #expect(run.status == .failed && run.error == "boom" && run.finishedAt != nil)
        try store.setStatus("r", .running, event: .runResumed)
        run = try store.run("r")
        #expect(run.status == .running && run.error == nil && run.finishedAt == nil)

        try store.replaceSnapshot("r", snapshot: "{\"new\":true}", pipelineHash: "h2", supersede: ["a"])
        run = try store.run("r")
        #expect(run.snapshot == "{\"new\":true}" && run.pipelineHash == "h2")
        #expect(try store.attempts("r").map(\.status) == [.superseded, .running])
        #expect(
            C.timeless(try store.events("r")).suffix(3) == [
                "5 run-failed - - {\"why\":1}", "6 run-resumed - - -", "7 snapshot-replaced - - {\"superseded\":[\"a\"]}",
            ])
    }

    @Test(arguments: StoreBackend.allCases, [false, true]) func attemptsStartProgressAndFinish(_ backend: StoreBackend, deferred: Bool)
        throws
    {
        let open = try backend.open()
        let store = open.store
        try store.createRun(C.run("r"))
        let a = try store.startAttempt(C.attempt("r", "a", item: 2))
        #expect(a.id == 1)
        try store.saveProgress(
            1, output: "par", firstTokenAt: 201, thinking: "t",
            chunk: RunStore.OutputChunk(runID: "r", stage: "a", text: "par", offset: 0, item: 2))
        try store.saveProgress(1, output: "parti", firstTokenAt: 201)
        #expect(try store.attempts("r").first?.output == "parti")
        let done = C.finished(a, output: "partial and more")
        try store.finishAttempt(done, event: .attemptCompleted, payload: "{\"ok\":true}", deferred: deferred)
        try store.commitPending()
        let b = try store.startAttempt(C.attempt("r", "b"))
        let skipped = try store.recordSkip(
            AttemptRecord(
                id: nil, runID: "r", stage: "c", round: 1, tryNumber: 1, status: .skipped, model: nil, runtime: nil, system: nil,
                prompt: "", output: "", verdict: nil, feedback: nil, promptTokens: nil, outputTokens: nil, startedAt: 210,
                firstTokenAt: nil, finishedAt: 210, timings: nil, error: nil, fingerprint: "f-c"), payload: "{\"reason\":\"when\"}")
        #expect(skipped.id == 3)

        #expect(try store.attempts("r") == [done, b, skipped])
        let light = try store.attemptsWithoutPrompts("r", outputsOf: ["a"])
        #expect(light.map(\.output) == ["partial and more", "", ""])
        #expect(light.allSatisfy { $0.prompt.isEmpty && $0.system == nil })
        #expect(try store.attemptsWithoutPrompts("r", outputsOf: []).allSatisfy { $0.output.isEmpty })
        #expect(try store.attemptsWithoutPrompts("r").map(\.stage) == ["a", "b", "c"])

        let aborted = try store.abortInFlightAttempts("r")
        #expect(aborted == [b])
        #expect(try store.attempts("r")[1].status == .aborted)
        #expect(try store.attempts("r")[1].error == "the process running this attempt stopped before it finished")
        #expect(
            C.timeless(try store.events("r")) == [
                "1 run-created - - -", "2 attempt-started a 1 {\"round\":1,\"try\":1,\"item\":2}",
                "3 output-chunk a 1 {\"item\":2,\"offset\":\"0\",\"text\":\"par\"}", "4 attempt-completed a 1 {\"ok\":true}",
                "5 attempt-started b 2 {\"round\":1,\"try\":1}", "6 stage-skipped c 3 {\"reason\":\"when\"}", "7 attempt-aborted b 2 -",
            ])
        #expect(try store.eventCounts("r", kinds: [.attemptStarted, .runFailed]) == [.attemptStarted: 2, .runFailed: 0])
        #expect(try store.events("r", kind: .attemptStarted).map(\.attemptID) == [1, 2])
        try store.appendEvent("r", kind: .retry, stage: "b", attemptID: 2, payload: "{}")
        #expect(C.timeless(try store.events("r")).last == "8 retry b 2 {}")
        #expect(try store.integrityCheck() == "ok")
    }

    @Test(arguments: StoreBackend.allCases) func aRerunCopiesTheCompletedAttemptsAndDecisionsOfItsStages(_ backend: StoreBackend) throws {
        let open = try backend.open()
        let store = open.store
        try store.createRun(C.run("parent"))
        for stage in ["plan", "build", "check"] {
            let started = try store.startAttempt(C.attempt("parent", stage))
            try store.finishAttempt(C.finished(started, output: stage.uppercased()), event: .attemptCompleted)
        }
        try store.appendEvent("parent", kind: .routeChosen, stage: "plan", payload: "{\"to\":\"build\"}")
        try store.appendEvent("parent", kind: .routeChosen, stage: "check", payload: "{\"to\":\"x\"}")
        try store.createRun(C.run("child", created: 150), reusing: (runID: "parent", stages: ["plan", "build"]))
        let copied = try store.attempts("child")
        #expect(copied.map(\.stage) == ["plan", "build"])
        #expect(copied.map(\.output) == ["PLAN", "BUILD"])
        #expect(copied.allSatisfy { $0.runID == "child" && $0.status == .completed && $0.promptTokens == 10 })
        #expect(try store.events("child").map(\.kind) == [.runCreated, .routeChosen])
        #expect(try store.events("child", kind: .routeChosen).first?.attemptID == nil)
    }

    @Test(arguments: StoreBackend.allCases) func footprintsAreReplacedByTheLatestMeasurement(_ backend: StoreBackend) throws {
        let store = try backend.open().store
        try store.saveFootprint(runtime: "ollama", model: "m", bytes: 100)
        try store.saveFootprint(runtime: "ollama", model: "m", bytes: 150)
        try store.saveFootprint(runtime: "llama", model: "m", bytes: 7)
        #expect(
            try store.measuredFootprints() == [ModelKey(runtime: "ollama", name: "m"): 150, ModelKey(runtime: "llama", name: "m"): 7])
    }

    @Test(arguments: StoreBackend.allCases) func theLeaseIsHeldRenewedLostAndReleased(_ backend: StoreBackend) throws {
        let store = try backend.open().store
        try store.createRun(C.run("r"))
        let mine = LeaseClaim(token: "t1", pid: 1111, host: "here")
        let other = LeaseClaim(token: "t2", pid: 2222, host: "here")
        try store.acquireLease("r", claim: mine, isAlive: { _ in true })
        try store.heartbeat("r", claim: mine)
        #expect {
            try store.acquireLease("r", claim: other, isAlive: { _ in true })
        } throws: { error in
            (error as? StoreError)?.code == .leaseHeld && "\(error)".contains("process 1111 on here")
        }
        // The holder is gone: the lease is free to take.
        try store.acquireLease("r", claim: other, isAlive: { _ in false })
        #expect { try store.heartbeat("r", claim: mine) } throws: { ($0 as? StoreError)?.code == .leaseLost }
        var run = try store.run("r")
        #expect(run.leaseToken == "t2" && run.leasePid == 2222 && run.leaseHost == "here")
        #expect(try store.events("r", kind: .leaseAcquired).last?.payload == "{\"pid\":2222,\"host\":\"here\",\"previous_pid\":1111}")
        try store.releaseLease("r", claim: mine)
        #expect(try store.run("r").leaseToken == "t2")
        try store.releaseLease("r", claim: other)
        run = try store.run("r")
        #expect(run.leaseToken == nil && run.leasePid == nil && run.leaseHeartbeat == nil)
        #expect(try store.standing("r") == RunStanding(status: .running, leaseFree: true, leasePid: nil, leaseHost: nil))
        #expect(try store.standing("missing") == nil)
        #expect { try store.acquireLease("missing", claim: mine, isAlive: { _ in true }) } throws: {
            ($0 as? StoreError)?.code == .runNotFound
        }
    }

    @Test(arguments: StoreBackend.allCases) func aFencedWriteAfterTheEpochMovedThrowsAndWritesNothing(_ backend: StoreBackend) throws {
        let open = try backend.open()
        try open.store.createRun(C.run("r"))
        try open.execute("UPDATE runs SET lease_epoch = 4, lease_owner = $1 WHERE id = $2", ["w1", "r"])
        let holder = open.store.fenced(RunFence(runID: "r", epoch: 4, worker: "w1"))
        let started = try holder.startAttempt(C.attempt("r", "a"))
        // Another worker takes the run over.
        try open.execute("UPDATE runs SET lease_epoch = 5, lease_owner = $1 WHERE id = $2", ["w2", "r"])
        #expect {
            try holder.finishAttempt(C.finished(started, output: "late"), event: .attemptCompleted)
        } throws: { error in
            (error as? StoreError)?.code == .fenced && "\(error)".contains("worker w1 no longer holds run 'r'")
                && "\(error)".contains("epoch 4 is now 5")
        }
        #expect { try holder.appendEvent("r", kind: .retry) } throws: { ($0 as? StoreError)?.code == .fenced }
        #expect { _ = try holder.startAttempt(C.attempt("r", "b")) } throws: { ($0 as? StoreError)?.code == .fenced }
        #expect { try holder.setStatus("r", .completed, event: .runCompleted) } throws: { ($0 as? StoreError)?.code == .fenced }
        #expect(try open.store.attempts("r").map(\.status) == [.running])
        #expect(try open.store.events("r").map(\.kind) == [.runCreated, .attemptStarted])
        #expect(try open.store.run("r").status == .running)
        // The new holder writes.
        try open.store.fenced(RunFence(runID: "r", epoch: 5, worker: "w2")).appendEvent("r", kind: .retry)
        #expect(try open.store.eventCounts("r", kinds: [.retry]) == [.retry: 1])
    }
}
