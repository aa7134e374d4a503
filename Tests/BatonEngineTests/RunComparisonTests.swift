import BatonSpec
import BatonTestSupport
import Foundation
import Testing

@testable import BatonEngine

/// Comparing two runs (issue 16, `baton serve`'s compare page): only a stage whose own definition differs is
/// `changed`, with one entry per differing field; stages downstream of it see their fingerprint change, and their
/// prompt when the upstream output changed, without being `changed`; the line diffs give both texts back.
@Suite struct RunComparisonTests {
    static func pipeline(
        draftTemperature: Double = 0.2, draftPrompt: String = "Draft a note about tea.", polishModel: String = "m",
        extra: String = ""
    ) -> String {
        """
        version: 1
        stages:
          draft:
            model: m
            temperature: \(draftTemperature)
            prompt: "\(draftPrompt)"
          polish:
            model: \(polishModel)
            prompt: "Polish: {{stages.draft.output}}"
          summary:
            model: m
            prompt: "Sum up: {{stages.polish.output}}"
        \(extra)
        """
    }

    /// Runs `yaml` on the echo runtime into `store` and loads its report with prompts.
    static func run(_ yaml: String, in store: RunStore) async throws -> RunReport {
        let executor = Executor(store: store, runtimes: EchoProvider(runtime: EchoRuntime()), sleep: { _ in }, random: { 0.5 })
        let outcome = try await executor.start(try snapshot(yaml), inputs: [:], claim: .current())
        guard case .completed(let id) = outcome else { throw RunFailed(outcome: outcome) }
        return try RunReport.load(id, from: store)
    }

    static func compare(_ a: String, _ b: String) async throws -> RunComparison {
        let store = try RunStore.inMemory()
        return RunComparison.compare(try await run(a, in: store), try await run(b, in: store))
    }

    static func stage(_ comparison: RunComparison, _ name: String) throws -> RunComparison.StageComparison {
        try #require(comparison.stages.first { $0.stage == name }, "no stage \(name)")
    }

    @Test func aChangedTemperatureMarksThatStageAloneAndItsDownstreamFingerprints() async throws {
        let comparison = try await Self.compare(Self.pipeline(), Self.pipeline(draftTemperature: 0.7))

        #expect(comparison.stages.map(\.stage) == ["draft", "polish", "summary"])
        #expect(comparison.stages.filter(\.changed).map(\.stage) == ["draft"])
        let draft = try Self.stage(comparison, "draft")
        #expect(draft.changes == [RunComparison.FieldChange(field: "settings.temperature", a: "0.2", b: "0.7")])
        #expect(draft.fingerprintChanged)
        #expect(draft.a?.settings["temperature"] == .number(0.2) && draft.b?.settings["temperature"] == .number(0.7))
        for name in ["polish", "summary"] {
            let downstream = try Self.stage(comparison, name)
            #expect(downstream.changes.isEmpty, "\(name)")
            #expect(downstream.fingerprintChanged, "\(name): its fingerprint includes the draft's")
            // The echo runtime ignores the temperature: the same outputs, so the same prompts downstream.
            #expect(!downstream.promptChanged && !downstream.outputChanged, "\(name)")
        }
        #expect(comparison.stages.allSatisfy { $0.a?.status == "completed" && $0.b?.status == "completed" })
    }

    @Test func anUpstreamPromptChangeChangesDownstreamPromptsButNotTheirDefinitions() async throws {
        let comparison = try await Self.compare(Self.pipeline(), Self.pipeline(draftPrompt: "Draft a note about coffee."))

        #expect(comparison.stages.filter(\.changed).map(\.stage) == ["draft"])
        let draft = try Self.stage(comparison, "draft")
        #expect(draft.changes.map(\.field) == ["prompt_template"])
        #expect(draft.changes.first?.b == "Draft a note about coffee.")
        let polish = try Self.stage(comparison, "polish")
        #expect(!polish.changed && polish.promptChanged && polish.outputChanged && polish.fingerprintChanged)
        // The diff shows the line that changed, and gives both prompts back.
        #expect(polish.promptDiff.contains { $0.op == .delete } && polish.promptDiff.contains { $0.op == .insert })
        let (before, after) = Self.texts(polish.promptDiff)
        #expect(before == polish.a?.prompt && after == polish.b?.prompt)
    }

    @Test func aChangedModelIsAChangeOfThatStage() async throws {
        let comparison = try await Self.compare(Self.pipeline(), Self.pipeline(polishModel: "n"))

        #expect(comparison.stages.filter(\.changed).map(\.stage) == ["polish"])
        let polish = try Self.stage(comparison, "polish")
        #expect(polish.changes == [RunComparison.FieldChange(field: "model", a: "m", b: "n")])
        #expect(polish.a?.model?.hasSuffix("m") == true && polish.b?.model?.hasSuffix("n") == true)
        // The echo answer names the model: the output, and so the summary's prompt, differ.
        #expect(polish.outputChanged)
        let summary = try Self.stage(comparison, "summary")
        #expect(!summary.changed && summary.promptChanged)
    }

    @Test func aStageInOneRunOnlyIsChangedWithNoSideInTheOther() async throws {
        let onlyA = "  notes: {model: m, prompt: Notes}"
        let onlyB = "  extra: {model: m, prompt: Extra}"
        let comparison = try await Self.compare(Self.pipeline(extra: onlyA), Self.pipeline(extra: onlyB))

        // b's plan order, then what only a has.
        #expect(comparison.stages.map(\.stage) == ["draft", "polish", "summary", "extra", "notes"])
        #expect(comparison.stages.filter(\.changed).map(\.stage) == ["extra", "notes"])
        let extra = try Self.stage(comparison, "extra")
        #expect(extra.a == nil && extra.b?.output != nil && extra.fingerprintChanged && extra.outputChanged)
        #expect(extra.outputDiff.allSatisfy { $0.op == .insert })
        let notes = try Self.stage(comparison, "notes")
        #expect(notes.b == nil && notes.a?.status == "completed")
        #expect(notes.outputDiff.allSatisfy { $0.op == .delete })

        // In the JSON, the missing side is an explicit null.
        let json = try #require(try JSONSerialization.jsonObject(with: Data(comparison.json().utf8)) as? [String: Any])
        let stages = try #require(json["stages"] as? [[String: Any]])
        let extraJSON = try #require(stages.first { $0["stage"] as? String == "extra" })
        #expect(extraJSON["a"] is NSNull)
        #expect(extraJSON.keys.contains("b") && extraJSON["b"] as? [String: Any] != nil)
    }

    @Test func identicalRunsChangeNothing() async throws {
        let comparison = try await Self.compare(Self.pipeline(), Self.pipeline())

        #expect(comparison.stages.count == 3)
        for stage in comparison.stages {
            #expect(!stage.changed && stage.changes.isEmpty && !stage.fingerprintChanged, "\(stage.stage)")
            #expect(!stage.promptChanged && !stage.outputChanged, "\(stage.stage)")
            #expect(stage.outputDiff.allSatisfy { $0.op == .equal } && stage.outputDiff.count == 1)
            #expect(stage.truncated == nil)
            #expect(stage.a?.attempts == 1 && stage.b?.attempts == 1)
        }
        #expect(comparison.a.id != comparison.b.id)
    }

    @Test func theJSONHasTheDocumentedShape() async throws {
        let comparison = try await Self.compare(Self.pipeline(), Self.pipeline(draftTemperature: 0.7))
        let json = try #require(try JSONSerialization.jsonObject(with: Data(comparison.json().utf8)) as? [String: Any])

        #expect(json["format_version"] as? Int == 2)
        let a = try #require(json["a"] as? [String: Any])
        #expect(Set(a.keys) == ["id", "pipeline", "status", "created_at"])
        #expect((a["created_at"] as? String)?.wholeMatch(of: /\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z/) != nil, "\(a)")
        let stages = try #require(json["stages"] as? [[String: Any]])
        let draft = try #require(stages.first)
        #expect(
            Set(draft.keys) == [
                "stage", "changed", "changes", "fingerprint_changed", "prompt_changed", "output_changed", "a", "b", "prompt_diff",
                "output_diff",
            ])
        let side = try #require(draft["b"] as? [String: Any])
        #expect(
            Set(side.keys) == [
                "status", "model", "settings", "fingerprint", "attempts", "prompt", "output", "prompt_tokens", "output_tokens", "seconds",
            ])
        #expect((side["settings"] as? [String: Any])?["temperature"] as? Double == 0.7)
        let change = try #require((draft["changes"] as? [[String: Any]])?.first)
        #expect(change["field"] as? String == "settings.temperature" && change["a"] as? String == "0.2")
        #expect((draft["output_diff"] as? [[String: Any]])?.first?["op"] as? String == "equal")
    }

    /// The texts the ops make: equal and delete give the first, equal and insert the second.
    static func texts(_ ops: [RunComparison.DiffOp]) -> (String, String) {
        (
            ops.filter { $0.op != .insert }.map(\.text).joined(),
            ops.filter { $0.op != .delete }.map(\.text).joined()
        )
    }

    static let pairs: [(String, String)] = [
        ("", ""),
        ("", "one\ntwo"),
        ("one\ntwo\n", ""),
        ("same\n", "same\n"),
        ("a\nb\nc\nd\n", "a\nB\nc\nd\ne"),
        ("no final break", "no final break\n"),
        ("line one\r\nline two\r\n", "line one\r\nline 2\r\n"),
        ("café 😀\nnaïve\n", "cafe\u{301} 😀\nnaïve\n🇫🇷\n"),
        ("x\n\n\ny\n\n", "\n\nx\ny\n\n\n"),
        (String(repeating: "row\n", count: 300), String(repeating: "row\n", count: 150) + "new\n" + String(repeating: "row\n", count: 151)),
    ]

    @Test(arguments: 0..<pairs.count)
    func diffOpsGiveBothTextsBack(_ index: Int) {
        let (a, b) = Self.pairs[index]
        let (ops, truncated) = RunComparison.diff(a, b)
        let (first, second) = Self.texts(ops)
        #expect(Array(first.utf8) == Array(a.utf8))
        #expect(Array(second.utf8) == Array(b.utf8))
        #expect(!truncated)
        #expect(!ops.contains { $0.text.isEmpty })
        #expect(zip(ops, ops.dropFirst()).allSatisfy { $0.op != $1.op }, "neighbours of one kind are merged")
        if a.utf8.elementsEqual(b.utf8) { #expect(ops.allSatisfy { $0.op == .equal }) }
    }

    @Test func twoLongUnrelatedTextsAreShownReplacedWholeWithoutAQuadraticDiff() {
        // 6,000 short lines each, none shared: a line-by-line diff would take 36 million steps.
        let a = (0..<6_000).map { "a\($0)\n" }.joined()
        let b = (0..<6_000).map { "b\($0)\n" }.joined()
        let (ops, truncated) = RunComparison.diff("same start\n" + a + "same end", "same start\n" + b + "same end")
        #expect(!truncated)
        #expect(ops.map(\.op) == [.equal, .delete, .insert, .equal])
        #expect(ops.map(\.text) == ["same start\n", a, b, "same end"])
        // A long text with a few changed lines is still diffed line by line.
        let edited = a.replacingOccurrences(of: "a100\n", with: "changed\n")
        let (few, _) = RunComparison.diff(a, edited)
        #expect(few.map(\.op) == [.equal, .delete, .insert, .equal])
        #expect(few.first { $0.op == .delete }?.text == "a100\n")
    }

    @Test func aPrecomposedAndADecomposedAccentAreDifferentLines() {
        let (ops, _) = RunComparison.diff("café\n", "cafe\u{301}\n")
        #expect(ops.map(\.op) == [.delete, .insert])
    }

    @Test func outputsOverTwoHundredThousandCharactersAreDiffedOnTheirStart() async throws {
        let store = try RunStore.inMemory()
        let a = try await Self.run(Self.pipeline(), in: store)
        var b = try await Self.run(Self.pipeline(), in: store)
        // b's summary wrote 250,000 characters (lines of 100), differing from a's in its first line and its last.
        let line = String(repeating: "é", count: 99) + "\n"
        let long = "first\n" + String(repeating: line, count: 2_500) + "last\n"
        let index = try #require(b.attempts.lastIndex { $0.stage == "summary" })
        b.attempts[index].output = long

        let comparison = RunComparison.compare(a, b)
        let summary = try Self.stage(comparison, "summary")
        #expect(summary.truncated == true)
        #expect(summary.b?.output == long, "the side keeps the whole output")
        let (first, second) = Self.texts(summary.outputDiff)
        #expect(first == a.attempts.last { $0.stage == "summary" }?.output)
        #expect(second == String(long.prefix(RunComparison.diffLimit)))
        #expect(!second.contains("last"))
        #expect(comparison.stages.filter { $0.truncated == true }.map(\.stage) == ["summary"])
        let json = try #require(try JSONSerialization.jsonObject(with: Data(comparison.json().utf8)) as? [String: Any])
        let stages = try #require(json["stages"] as? [[String: Any]])
        #expect(stages.first { $0["stage"] as? String == "summary" }?["truncated"] as? Bool == true)
        #expect(stages.first { $0["stage"] as? String == "draft" }?.keys.contains("truncated") == false)
    }
}

/// A comparison's run did not complete.
struct RunFailed: Error {
    var outcome: RunOutcome
}
