import BatonSpec
import BatonTestSupport
import Foundation
import Testing

@testable import BatonEngine

/// Golden stage outputs of echo runs (`--update-snapshots`): written sorted and deterministic, compared on every echo run
/// with a unified diff per stage, ignored on real-model runs; and the line diff they use.
@Suite struct SnapshotTests {
    static let file = """
        version: 1
        cases:
          - name: plans and implements
            inputs: {task: health}
            echo:
              plan: {"*": {output: "1. Write the handler\\n2. Test it\\n"}}
              facts: {"*": {output: '{"a": 1}'}}
          - name: another
            inputs: {task: other}

        """

    @Test func writingTwiceGivesTheSameBytesAndAChangedOutputIsADiff() async throws {
        // Given a test file, snapshots written twice
        let sandbox = try TestRunnerSandbox()
        try sandbox.write("pipelines/task.test.yaml", Self.file)
        let update = sandbox.runner { $0.updateSnapshots = true }
        let written = try await sandbox.run(update)
        let first = try sandbox.read("pipelines/__snapshots__/task.snap.yaml")
        _ = try await sandbox.run(update)
        let second = try sandbox.read("pipelines/__snapshots__/task.snap.yaml")

        // Then the file is the same, sorted, with the outputs as block scalars and no run ids or times
        #expect(first == second)
        #expect(written.allPassed)
        #expect(first.contains("plans and implements:\n  facts: |-\n    {\"a\": 1}\n  implement: |-\n"))
        #expect(first.contains("  plan: |\n    1. Write the handler\n    2. Test it\n"))
        #expect(first.range(of: "another:")!.lowerBound < first.range(of: "plans and implements:")!.lowerBound)
        #expect(!first.contains(written.cases[0].repetitions[0].runID ?? "-"))

        // And a run without changes matches them
        let same = try await sandbox.run(sandbox.runner())
        #expect(same.allPassed)
        #expect(same.cases[0].results("snapshot").map(\.status) == [.passed])

        // When the scripted plan changes
        try sandbox.write("pipelines/task.test.yaml", Self.file.replacingOccurrences(of: "2. Test it", with: "2. Ship it"))
        let changed = try await sandbox.run(sandbox.runner())

        // Then the case fails with one snapshot result per stage that differs, each with its diff
        let result = try #require(changed.case("plans and implements"))
        #expect(result.status == .failed)
        let mismatches = result.results("snapshot")
        #expect(mismatches.map(\.stage) == ["implement", "plan"])
        #expect(mismatches.allSatisfy { $0.status == .failed })
        let plan = try #require(mismatches.last)
        #expect(plan.message == "stage 'plan' differs from its snapshot; if the change is intended, run with --update-snapshots")
        #expect(plan.diff == "--- snapshot\n+++ output\n@@ -1,2 +1,2 @@\n 1. Write the handler\n-2. Test it\n+2. Ship it")
        #expect(changed.case("another")?.status == .passed)
        // The snapshot result comes before the run's.
        #expect(result.repetitions[0].assertions.last?.name == "run")
    }

    @Test func snapshotsAreIgnoredOnRealModelRuns() async throws {
        let sandbox = try TestRunnerSandbox()
        try sandbox.write("pipelines/task.test.yaml", Self.file)
        try sandbox.write("pipelines/__snapshots__/task.snap.yaml", "another:\n  plan: something else\n")
        let model = ScriptedRuntime { request, _ in
            .text(request.stage == "review" ? #"{"verdict": "approve", "feedback": ""}"# : request.stage == "facts" ? "{}" : "text")
        }
        var runner = sandbox.runner(.profile("real"))
        runner.runtimes = { _ in model }
        let report = try await sandbox.run(runner)
        #expect(report.cases.allSatisfy { $0.results("snapshot").isEmpty })
        #expect(report.allPassed)
    }

    @Test func theFileTextIsSortedWithItemsByNumberAndSurvivesAnyText() throws {
        let file = SnapshotFile(cases: [
            "b": ["s[10]": "ten", "s[2]": "two", "s": "joined", "a": "  leading spaces\nand trailing   "],
            "a": ["x": "", "y": "no final newline", "z": "two final newlines\n\n", "w": "tab\tand \u{1}control"],
        ])
        let text = try file.text()
        #expect(text.components(separatedBy: "\n").filter { $0.hasPrefix("  s") } == ["  s: |-", "  s[2]: |-", "  s[10]: |-"])
        #expect(try SnapshotFile.parse(text, path: "x") == file)
        #expect(try file.text() == text)
        #expect(SnapshotFile.path(forTestFile: "pipelines/code-task.test.yaml") == "pipelines/__snapshots__/code-task.snap.yaml")
        #expect(throws: SnapshotFileError.self) { try SnapshotFile.parse("- a list", path: "x") }
    }

    @Test func theLineDiffIsUnifiedWithContext() {
        let old = (1...12).map { "line \($0)" }.joined(separator: "\n") + "\n"
        var lines = (1...12).map { "line \($0)" }
        lines[1] = "changed 2"
        lines.remove(at: 10)
        let new = lines.joined(separator: "\n") + "\n"
        #expect(
            LineDiff.unified(expected: old, actual: new)
                == """
                --- expected
                +++ actual
                @@ -1,5 +1,5 @@
                 line 1
                -line 2
                +changed 2
                 line 3
                 line 4
                 line 5
                @@ -8,5 +8,4 @@
                 line 8
                 line 9
                 line 10
                -line 11
                 line 12
                """)
        #expect(LineDiff.unified(expected: "a", actual: "a") == nil)
        #expect(LineDiff.unified(expected: "", actual: "new") == "--- expected\n+++ actual\n@@ -0,0 +1 @@\n+new")
        #expect(LineDiff.unified(expected: "a\n", actual: "a")?.hasSuffix("(the texts differ only in their final line breaks)") == true)
    }
}
