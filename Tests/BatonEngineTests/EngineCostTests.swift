import BatonTestSupport
import Foundation
import GRDB
import Mustache
import Testing

@testable import BatonEngine

/// Issue 15 part 3: a completed attempt's end written with the next transaction (RunStore+Pending), and prompts
/// rendered without swift-mustache when they are plain text and names (RunState+Templates).
@Suite struct EngineCostTests {
    static func attempt(_ stage: String) -> AttemptRecord {
        AttemptRecord(
            id: nil, runID: "r1", stage: stage, round: 1, tryNumber: 1, status: .running, model: "m", runtime: "echo", system: nil,
            prompt: "Prompt of \(stage)", output: "", verdict: nil, feedback: nil, promptTokens: nil, outputTokens: nil, startedAt: 10,
            firstTokenAt: nil, finishedAt: nil, timings: nil, error: nil, fingerprint: "f", item: nil)
    }

    /// What another connection (another process: `baton show`, a resume) sees of each attempt.
    static func statuses(_ path: String) throws -> [String: String] {
        let queue = try DatabaseQueue(path: path)
        defer { try? queue.close() }
        return try queue.read { db in
            Dictionary(
                uniqueKeysWithValues: try Row.fetchAll(db, sql: "SELECT stage, status FROM attempts").map { ($0["stage"], $0["status"]) })
        }
    }

    static func completed(_ attempt: AttemptRecord, output: String) -> AttemptRecord {
        var done = attempt
        done.status = .completed
        done.output = output
        done.finishedAt = 11
        return done
    }

    @Test func aDeferredEndIsWrittenInTheTransactionThatStartsTheNextAttempt() throws {
        let path = RunStoreTests.temporaryPath()
        defer { try? FileManager.default.removeItem(atPath: (path as NSString).deletingLastPathComponent) }
        let store = try RunStore(path: path)
        try store.createRun(RunStoreTests.run("r1"))
        let first = try store.startAttempt(Self.attempt("a"))

        try store.finishAttempt(Self.completed(first, output: "A"), event: .attemptCompleted, deferred: true)
        // Not in the file yet: a process killed now leaves `a` running, as one killed before its commit always did.
        #expect(try Self.statuses(path) == ["a": "running"])

        _ = try store.startAttempt(Self.attempt("b"))
        #expect(try Self.statuses(path) == ["a": "completed", "b": "running"])
        let kinds = try store.events("r1").map(\.kind)
        #expect(kinds.suffix(3) == [.attemptStarted, .attemptCompleted, .attemptStarted])
    }

    @Test func aReadWritesTheWaitingEndFirst() throws {
        let path = RunStoreTests.temporaryPath()
        defer { try? FileManager.default.removeItem(atPath: (path as NSString).deletingLastPathComponent) }
        let store = try RunStore(path: path)
        try store.createRun(RunStoreTests.run("r1"))
        let first = try store.startAttempt(Self.attempt("a"))
        try store.finishAttempt(Self.completed(first, output: "A"), event: .attemptCompleted, deferred: true)

        #expect(try store.attempts("r1").map(\.output) == ["A"])
        #expect(try Self.statuses(path) == ["a": "completed"])
    }

    @Test func anotherWriteOrTheRunsStatusCarriesTheWaitingEnd() throws {
        let path = RunStoreTests.temporaryPath()
        defer { try? FileManager.default.removeItem(atPath: (path as NSString).deletingLastPathComponent) }
        let store = try RunStore(path: path)
        try store.createRun(RunStoreTests.run("r1"))
        let first = try store.startAttempt(Self.attempt("a"))
        try store.finishAttempt(Self.completed(first, output: "A"), event: .attemptCompleted, deferred: true)
        try store.appendEvent("r1", kind: .routeChosen, stage: "a", payload: "{}")
        #expect(try Self.statuses(path) == ["a": "completed"])

        let second = try store.startAttempt(Self.attempt("b"))
        try store.finishAttempt(Self.completed(second, output: "B"), event: .attemptCompleted, deferred: true)
        try store.setStatus("r1", .completed, event: .runCompleted)
        #expect(try Self.statuses(path) == ["a": "completed", "b": "completed"])
    }

    @Test func aSecondDeferredEndWritesBothAtOnce() throws {
        let path = RunStoreTests.temporaryPath()
        defer { try? FileManager.default.removeItem(atPath: (path as NSString).deletingLastPathComponent) }
        let store = try RunStore(path: path)
        try store.createRun(RunStoreTests.run("r1"))
        let first = try store.startAttempt(Self.attempt("a"))
        let second = try store.startAttempt(Self.attempt("b"))
        try store.finishAttempt(Self.completed(first, output: "A"), event: .attemptCompleted, deferred: true)
        // Only one end waits: another one (an item running beside, another executor on the store) is written with it.
        try store.finishAttempt(Self.completed(second, output: "B"), event: .attemptCompleted, deferred: true)
        #expect(try Self.statuses(path) == ["a": "completed", "b": "completed"])
    }

    @Test func commitPendingWritesItAndIsANoOpOtherwise() throws {
        let path = RunStoreTests.temporaryPath()
        defer { try? FileManager.default.removeItem(atPath: (path as NSString).deletingLastPathComponent) }
        let store = try RunStore(path: path)
        try store.createRun(RunStoreTests.run("r1"))
        let before = try store.events("r1").count
        try store.commitPending()
        #expect(try store.events("r1").count == before)
        let first = try store.startAttempt(Self.attempt("a"))
        try store.finishAttempt(Self.completed(first, output: "A"), event: .attemptCompleted, deferred: true)
        try store.commitPending()
        #expect(try Self.statuses(path) == ["a": "completed"])
    }

    // MARK: - Plain templates

    static var context: [String: Any] {
        [
            "inputs": ["task": "a party", "empty": ""] as [String: String],
            "stages": ["plan": ["output": "Plan <b>&</b> \"it\"", "json": ["title": "T", "steps": 3]] as [String: Any]] as [String: Any],
            "round": 2,
            "flag": true,
            "feedback": "Tighten it.",
            "pipeline": ["name": "p"],
        ]
    }

    static func mustache(_ text: String, _ context: [String: Any]) throws -> String {
        try MustacheTemplate(string: "{{% CONTENT_TYPE: TEXT}}" + text).render(context)
    }

    @Test(arguments: [
        "Plan {{inputs.task}} now.", "{{stages.plan.output}}", "x{{ stages.plan.json.title }}y", "{{missing}}|{{stages.nope.output}}|",
        "{{inputs.empty}}.", "No tags at all", "", "a}}b", "{{pipeline.name}}{{feedback}}", "{{stages.plan.output.more}}",
        "Café ☕ {{\tinputs.task\t}} – déjà {{feedback}}\n", "{{feedback}}}", "{ {{feedback}} }",
    ])
    func aPlainTemplateRendersAsMustacheDoes(_ text: String) throws {
        var template = try StageTemplate(text)
        #expect(try template.render(Self.context) == Self.mustache(text, Self.context))
    }

    // (An object renders as its description, whose key order differs between two dictionaries: not compared here.)
    @Test(arguments: ["{{round}}", "{{stages.plan.json.steps}}", "{{flag}}", "{{stages.plan.output.count}}"])
    func aNameThatIsNotTextIsLeftToMustache(_ text: String) throws {
        #expect(PlainTemplate(text) != nil)
        #expect(PlainTemplate(text)?.render(Self.context) == nil)
        var template = try StageTemplate(text)
        #expect(try template.render(Self.context) == Self.mustache(text, Self.context))
    }

    @Test(arguments: [
        "{{#feedback}}F: {{feedback}}{{/feedback}}", "{{^feedback}}none{{/feedback}}", "{{! a comment }}", "{{> partial}}",
        "{{{stages.plan.output}}}", "{{&stages.plan.output}}", "{{=<% %>=}}", "{{.}}", "{{a..b}}", "{{unclosed", "{{a b}}",
        "{{uppercased(feedback)}}",
    ])
    func anythingElseIsNotAPlainTemplate(_ text: String) throws {
        #expect(PlainTemplate(text) == nil)
    }
}
