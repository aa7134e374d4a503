import BatonTestSupport
import Foundation
import Testing

@testable import BatonEngine

/// Tool calls, tool-loop turns, cassettes and bench results on both backends.
extension RunStoreConformanceTests {
    @Test(arguments: StoreBackend.allCases) func toolCallsAreRecordedLookedUpAndSkipped(_ backend: StoreBackend) throws {
        let store = try backend.open().store
        try store.createRun(C.run("r"))
        let attempt = try store.startAttempt(C.attempt("r", "fetch", model: nil))
        let intent = try store.recordToolIntent(C.call("r", "fetch"), payload: "{\"tool\":\"fetch\"}")
        #expect(intent.id == 1 && intent.status == .intent)
        var done = intent
        done.status = .done
        done.result = "body"
        done.exitCode = 0
        done.httpStatus = 200
        done.stderr = "warn"
        done.finishedAt = 301
        var finished = attempt
        finished.status = .completed
        finished.output = "body"
        finished.finishedAt = 301
        try store.recordToolResult(done, attempt: finished, attemptEvent: .attemptCompleted, callEvent: .toolCallFinished, payload: "{}")
        #expect(try store.toolCall("r", stage: "fetch", item: nil, round: 1, turn: 0, callIndex: 0) == done)
        #expect(try store.toolCall("r", stage: "fetch", item: 0, round: 1, turn: 0, callIndex: 0) == nil)
        #expect(try store.attempts("r").first?.status == .completed)

        // Started again in place on resume: one row, its key kept.
        let again = try store.recordToolIntent(done)
        #expect(again.id == 1 && again.result == nil && again.status == .intent)
        let itemCall = try store.recordToolIntent(C.call("r", "fetch", item: 0))
        #expect(try store.toolCall("r", stage: "fetch", item: 0, round: 1, turn: 0, callIndex: 0)?.id == itemCall.id)
        try store.markToolCallSkipped(again, attempt: nil, payload: nil)
        let calls = try store.toolCalls("r")
        #expect(calls.map(\.id) == [1, 2])
        #expect(calls[0].status == .skipped && calls[0].result == "" && calls[0].idempotencyKey == "key-fetch-0")
        #expect(calls[0].error == "skipped with --skip-call: its result was never recorded")
        #expect(
            try store.events("r").map(\.kind) == [
                .runCreated, .attemptStarted, .toolCallStarted, .toolCallFinished, .attemptCompleted, .toolCallStarted,
                .toolCallStarted, .toolCallFinished,
            ])
    }

    @Test(arguments: StoreBackend.allCases) func toolLoopTurnsAreFoundByTheirPlace(_ backend: StoreBackend) throws {
        let store = try backend.open().store
        try store.createRun(C.run("r"))
        var turn1 = C.attempt("r", "agent", item: 1)
        turn1.status = .completed
        turn1.turn = 1
        turn1.calls = "[{\"id\":\"c1\"}]"
        let inserted = try store.insertAttempt(turn1)
        #expect(inserted.id == 1)
        let running = try store.startAttempt(C.attempt("r", "agent", item: 1))
        _ = try store.startAttempt(C.attempt("r", "agent", item: nil))
        #expect(try store.runningToolAttempt(runID: "r", stage: "agent", round: 1, item: 1)?.id == running.id)
        #expect(try store.runningToolAttempt(runID: "r", stage: "agent", round: 1, item: nil)?.id == 3)
        #expect(try store.runningToolAttempt(runID: "r", stage: "agent", round: 2, item: 1) == nil)
        #expect(try store.completedToolTurns(runID: "r", stage: "agent", round: 1, item: 1).map(\.id) == [1])
        try store.setAttemptTurn(running.id ?? 0, turn: 2)
        try store.setAttemptCalls(running.id ?? 0, calls: "[]")
        let turn2 = try store.attempts("r")[1]
        #expect(turn2.turn == 2 && turn2.calls == "[]")
        #expect(try store.runningToolAttempt(runID: "r", stage: "agent", round: 1, item: 1) == nil)
    }

    @Test(arguments: StoreBackend.allCases) func aCassetteIsReplacedWhole(_ backend: StoreBackend) throws {
        let store = try backend.open().store
        let key = CassetteKey(suite: "/t/suite.yaml", caseName: "case", variant: "m1", repetition: 1)
        let first = [
            CassetteRecord(kind: .generation, stage: "a", item: nil, round: 1, turn: nil, requestHash: "h1", response: "{\"o\":1}"),
            CassetteRecord(kind: .embedding, stage: "", item: 2, round: 0, turn: 3, requestHash: "h2", response: "[[1]]"),
        ]
        try store.replaceCassettes(key, with: first, runID: nil)
        try store.replaceCassettes(
            CassetteKey(suite: "/t/suite.yaml", caseName: "case", variant: "Z", repetition: 2), with: first, runID: "r")
        try store.replaceCassettes(
            CassetteKey(suite: "/t/suite.yaml", caseName: "case", variant: "m1", repetition: 3), with: [], runID: nil)
        #expect(try store.cassettes(key) == first)
        try store.replaceCassettes(key, with: [first[1]], runID: nil)
        #expect(try store.cassettes(key) == [first[1]])
        #expect(try store.cassetteVariants(suite: "/t/suite.yaml", caseName: "case") == ["m1": [1], "Z": [2]])
        #expect(try store.cassettes(CassetteKey(suite: "/t/other.yaml", caseName: "case", variant: "m1", repetition: 1)).isEmpty)
    }

    @Test(arguments: StoreBackend.allCases) func benchResultsAreKeptWithTheirDetail(_ backend: StoreBackend) throws {
        let store = try backend.open().store
        var fast = BenchResult(role: "writer", model: "small", runtime: "llama")
        fast.cases = 4
        fast.passed = 3
        fast.judgeScore = 0.75
        fast.ttftMs = 120
        fast.peakRSSBytes = 1 << 33
        fast.runIDs = ["r1", "r2"]
        let slow = BenchResult(role: "writer", model: "big", runtime: nil)
        try store.saveBenchResults([fast, slow], benchID: "b2", at: 20)
        try store.saveBenchResults([slow], benchID: "b1", at: 10)
        #expect(try store.benchResults(benchID: "b2").map(\.result) == [fast, slow])
        #expect(try store.benchResults().map(\.benchID) == ["b1", "b2", "b2"])
        #expect(try store.benchResults().map(\.createdAt) == [10, 20, 20])
        #expect(try store.benchResults(benchID: "none").isEmpty)
    }
}
