import BatonEngine
import BatonSpec
import BatonTestSupport
import Foundation
import Testing

@testable import BatonCommands

/// What `run` prints about fan-out items (issue 11 leftovers, briefs s8/CC.md): `item` on the `attempt-started`,
/// `attempt-reused`, `token` and `verdict` JSON events (absent outside fan-out), and a summary table that counts a
/// fan-out stage's items and retries instead of one try per item.
@Suite struct FanOutProgressTests {
    static func json(_ event: RunEvent) throws -> [String: Any] {
        let line = try #require(ProgressEventLine(event))
        let text = try JSONOutput.text(line, pretty: false)
        return try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
    }

    @Test func attemptStartedAndVerdictEventsCarryTheItemOnlyInsideFanOut() throws {
        let started = try Self.json(
            .attemptStarted(stage: "review", role: nil, model: "m", round: 1, tryNumber: 1, stageNumber: 2, stageCount: 3, item: 4))
        #expect(started["event"] as? String == "attempt-started")
        #expect(started["item"] as? Int == 4)
        let plain = try Self.json(
            .attemptStarted(stage: "plan", role: nil, model: "m", round: 1, tryNumber: 1, stageNumber: 1, stageCount: 3))
        #expect(plain["item"] == nil)
        #expect(plain.keys.sorted() == ["event", "model", "round", "stage", "stage_count", "stage_number", "try"])

        let verdict = try Self.json(
            .verdict(critic: "check", reviewed: "review", round: 2, verdict: "revise", feedback: "shorter", item: 0))
        #expect(verdict["item"] as? Int == 0)
        #expect(verdict["critic"] as? String == "check" && verdict["stage"] as? String == "review")
        let single = try Self.json(.verdict(critic: "check", reviewed: "plan", round: 1, verdict: "approve", feedback: ""))
        #expect(single["item"] == nil)

        #expect(try Self.json(.attemptReused(stage: "review", round: 1, item: 2))["item"] as? Int == 2)
        #expect(try Self.json(.token(stage: "review", text: "hi", item: 1))["item"] as? Int == 1)
        #expect(try Self.json(.token(stage: "plan", text: "hi"))["item"] == nil)
    }

    @Test func theSummaryOfAFanOutRunGivesItemsAndRetriesNotATryPerItem() async throws {
        let yaml = """
            version: 1
            inputs:
              xs: {}
            stages:
              each:
                model: m
                for_each: inputs.xs
                max_items: 10
                prompt: "Item {{item}}"
              join:
                model: m
                needs: [each]
                prompt: "{{stages.each.output}}"
            """
        let store = try RunStore.inMemory()
        let runtime = ScriptedRuntime { _, _ in .text("ok") }
        let pipeline = try snapshot(yaml)
        let inputs = try RunInputs.resolve(pipeline.plan.inputs, given: ["xs": "[0, 1, 2, 3, 4, 5, 6, 7, 8, 9]"])
        let outcome = try await Executor(store: store, runtimes: runtime, sleep: { _ in }, random: { 0.5 })
            .start(pipeline, inputs: inputs, claim: .current())
        guard case .completed(let id) = outcome else {
            Issue.record("\(outcome)")
            return
        }
        let table = ProgressPrinter.summary(try RunReport.load(id, from: store, attempts: .summary))
        let lines = table.split(separator: "\n").map { String($0).replacingOccurrences(of: #" +"#, with: " ", options: .regularExpression) }
        #expect(lines.first == "stage status items rounds retries time tokens in → out", "\(table)")
        #expect(lines.dropFirst().first?.hasPrefix("each completed 10 1 0 ") == true, "\(table)")
        #expect(lines.last?.hasPrefix("join completed – 1 0 ") == true, "\(table)")
    }

    @Test func theSummaryOfARunWithoutFanOutIsUnchanged() async throws {
        let store = try RunStore.inMemory()
        let runtime = ScriptedRuntime { _, _ in .text("ok") }
        let pipeline = try snapshot("version: 1\nstages:\n  plan: {model: m, prompt: Plan}\n")
        let outcome = try await Executor(store: store, runtimes: runtime, sleep: { _ in }, random: { 0.5 })
            .start(pipeline, inputs: [:], claim: .current())
        guard case .completed(let id) = outcome else {
            Issue.record("\(outcome)")
            return
        }
        let table = ProgressPrinter.summary(try RunReport.load(id, from: store, attempts: .summary))
        #expect(
            table.hasPrefix("stage  status       rounds  tries      time   tokens in → out\nplan   completed         1      1  "),
            "\(table)")
    }
}
