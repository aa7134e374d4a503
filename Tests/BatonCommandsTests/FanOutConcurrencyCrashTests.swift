import BatonEngine
import BatonTestSupport
import Foundation
import Testing

/// Crash safety of `concurrency: N` (issue 11 item 3), end to end on the real binary: the echo runtime declares
/// `parallel: 3` in a profile of its own, answers each token after 30 ms, and a fan-out over eight items runs three at
/// once after the first. Kills land while several items are in flight (tokens, commits, an item finishing beside
/// others); after each, a resume gives the uninterrupted run's outputs, no completed item ran again (echo call log vs
/// attempt rows: ``RunSandbox/checkInvariants``), and the database passes `PRAGMA integrity_check`.
@Suite struct FanOutConcurrencyCrashTests {
    static let pipelineText = """
        version: 1
        name: fanout-parallel
        inputs:
          xs: {description: The items}
        outputs: [join]
        stages:
          each:
            role: writer
            for_each: inputs.xs
            max_items: 10
            concurrency: 3
            prompt: "Describe {{item}} ({{item_index}})"
          join:
            role: writer
            needs: [each]
            prompt: "{{#stages.each.items}}{{index}}. {{output}}\\n{{/stages.each.items}}"
        """

    static let profileText = """
        version: 1
        name: parallel
        memory_budget: 8GB
        default_runtime: echo
        runtimes:
          echo: {kind: echo, parallel: 3, options: {token_delay: 30ms}}
        models:
          echo-medium: {runtime: echo, footprint: 512MB, context_length: 32768}
        roles:
          writer: {models: [echo-medium]}
        defaults: {temperature: 0.0, seed: 0, max_tokens: 256, timeout: 30s, retry: {max_attempts: 1}}
        """

    /// The pipeline, profile and (empty) echo script, written once per test process.
    static let files: (pipeline: String, profile: String, script: String) = {
        let folder = NSTemporaryDirectory() + "baton-fanout-parallel-\(UUID().uuidString.prefix(8))"
        try? FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        let paths = (folder + "/fanout-parallel.yaml", folder + "/parallel.yaml", folder + "/script.yaml")
        try? pipelineText.write(toFile: paths.0, atomically: true, encoding: .utf8)
        try? profileText.write(toFile: paths.1, atomically: true, encoding: .utf8)
        try? "{}\n".write(toFile: paths.2, atomically: true, encoding: .utf8)
        return paths
    }()

    static var arguments: [String] {
        let items = "[" + (1...8).map { "\"item \($0)\"" }.joined(separator: ", ") + "]"
        return ["run", files.pipeline, "--profile", files.profile, "--input", "xs=\(items)"]
    }

    static let cases: [KillCase] = [
        // Tokens of the first batch (items 2-4 in flight; the first item's answer has 10 tokens) and of later ones.
        KillCase("token:14"), KillCase("token:20"), KillCase("token:30"),
        // An item finished beside others still in flight; its result is recorded, theirs are partial.
        KillCase("item-done:2"), KillCase("item-done:5"),
        // Inside the commits of items starting and ending beside others.
        KillCase("attempt-start-commit:4"), KillCase("attempt-finish-commit:3"), KillCase("progress-commit:12"),
        // Crashes in a row, each resumed process dying again further on.
        KillCase("token:12", "token:12", "item-done:3"),
    ]

    /// The uninterrupted run, made once per test process.
    static let baseline = Baseline.Shared(FanOutConcurrencyCrashTests.arguments, script: FanOutConcurrencyCrashTests.files.script)

    static func sandbox(_ name: String) throws -> RunSandbox {
        let sandbox = try RunSandbox(name)
        sandbox.environment["BATON_ECHO_SCRIPT"] = files.script
        return sandbox
    }

    @Test func theUninterruptedRunHasThreeItemsInFlightAtItsPeak() async throws {
        let baseline = try await Self.baseline.get()
        let items = baseline.calls.filter { $0.stage == "each" }
        #expect(items.map(\.item).compactMap { $0 }.sorted() == Array(0..<8))
        #expect(items.first?.item == 0)
        // The peak, from the attempts' recorded spans: the most items whose attempts overlapped.
        let sandbox = try Self.sandbox("fanout-parallel-peak")
        let run = try await sandbox.baton(Self.arguments)
        #expect(run.status == 0, "\(run.summary)")
        #expect(run.stdout == baseline.stdout)
        let id = try await sandbox.onlyRunID()
        let spans = try sandbox.attempts(id).filter { $0.stage == "each" }.map { ($0.startedAt, $0.finishedAt ?? $0.startedAt) }
        let peak = spans.map { span in spans.filter { $0.0 <= span.0 && span.0 < $0.1 }.count }.max() ?? 0
        #expect(peak == 3)
        // The first item ran alone: every other item started after it ended.
        let first = try #require(try sandbox.attempts(id).first { $0.stage == "each" && $0.item == 0 })
        #expect(try sandbox.attempts(id).filter { $0.stage == "each" && $0.item != 0 }.allSatisfy { $0.startedAt >= first.finishedAt ?? 0 })
    }

    /// ``RunSandbox/checkInvariants`` with one rule changed for items in flight together. Sequentially an attempt's row
    /// and its call go together (a kill lands inside the row's commit or after the call), so calls equal rows. With
    /// items at once, a kill that lands while one item commits can find another item's row committed and its request
    /// not yet sent: a row without a call, left `aborted` with no output. So per stage, item and round the calls may
    /// fall short of the rows by at most the aborted rows that kept nothing, and never exceed them (a completed item
    /// that ran again would be a call too many).
    static func checkInvariants(
        _ sandbox: RunSandbox, _ runID: String, baseline: Baseline, context: String,
        sourceLocation: Testing.SourceLocation = #_sourceLocation
    ) throws {
        for violation in try sandbox.invariantViolations(runID, baseline: baseline) where !violation.contains("attempt rows") {
            Issue.record("\(context): \(violation)", sourceLocation: sourceLocation)
        }
        let attempts = try sandbox.attempts(runID).filter { $0.status != .skipped }
        let rows = Dictionary(grouping: attempts) { StageRound(stage: $0.stage, item: $0.item, round: $0.round) }
        let calls = Dictionary(grouping: sandbox.calls()) { $0 }.mapValues(\.count)
        for key in Set(rows.keys).union(calls.keys).sorted() {
            let made = calls[key, default: 0]
            let recorded = rows[key] ?? []
            let unsent = recorded.filter { $0.status == .aborted && $0.output.isEmpty && $0.firstTokenAt == nil }.count
            if made > recorded.count || made < recorded.count - unsent {
                Issue.record(
                    "\(context): \(key) was called \(made) times but has \(recorded.count) attempt rows (\(recorded.map(\.status.rawValue)))",
                    sourceLocation: sourceLocation)
            }
        }
    }

    @Test(arguments: cases)
    func killedConcurrentFanOutResumesToTheSameOutputs(_ scenario: KillCase) async throws {
        let baseline = try await Self.baseline.get()
        let sandbox = try Self.sandbox("fanout-parallel-crash")
        var runID: String?
        for (index, kill) in scenario.kills.enumerated() {
            let arguments = runID.map { ["resume", $0] } ?? Self.arguments
            let result = try await sandbox.baton(arguments, ["BATON_TEST_KILL_AT": kill])
            #expect(result.signal == SIGKILL, "process \(index + 1) (\(arguments[0])) was not killed at \(kill): \(result.summary)")
            if runID == nil { runID = try await sandbox.onlyRunID() }
            if index == 0, kill.hasPrefix("token:"), let runID {
                // Killed in the middle of a batch: several items were in flight.
                let running = try sandbox.attempts(runID).filter { $0.stage == "each" && $0.status == .running }
                #expect(running.count >= 2, "\(kill): \(running.count) items were in flight")
            }
        }
        let id = try #require(runID)
        let final = try await sandbox.baton(["resume", id])
        #expect(final.status == 0, "\(final.summary)")
        #expect(final.stdout == baseline.stdout, "the resumed run's outputs differ from an uninterrupted run's")
        try Self.checkInvariants(sandbox, id, baseline: baseline, context: scenario.testDescription)
        #expect(try sandbox.store().events(id, kind: .itemsExpanded).compactMap(\.stage) == ["each"])
    }
}
