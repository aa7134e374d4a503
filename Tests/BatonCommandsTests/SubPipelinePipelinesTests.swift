import BatonEngine
import BatonTestSupport
import Foundation
import Testing

/// The shipped sub-pipeline example (issue 11): compare-sources calls the shipped research-summary once per source,
/// on the echo runtime, scripted so each path runs: two sources (the first sent back once by its fact-checker, inside
/// its call) and one source (the second call skipped as a whole).
@Suite struct SubPipelinePipelinesTests {
    static func sandbox(_ name: String, script: String) throws -> RunSandbox {
        let sandbox = try RunSandbox(name)
        try script.write(toFile: sandbox.folder + "/script.yaml", atomically: true, encoding: .utf8)
        sandbox.environment["BATON_ECHO_SCRIPT"] = sandbox.folder + "/script.yaml"
        return sandbox
    }

    static let pipeline = Fixtures.path("pipelines/compare-sources.yaml")

    static let script = """
        first/extract:
          1: {output: '{"facts": [{"claim": "Green tea is brewed below boiling.", "quote": "brewed at 80 degrees"}], "gaps": []}'}
        second/extract:
          1: {output: '{"facts": [{"claim": "Black tea wants boiling water.", "quote": "pour it on at the boil"}], "gaps": [{"point": "green tea"}]}'}
        first/check:
          1: {verdict: revise, feedback: Say which tea.}
          2: {verdict: approve}

        """

    @Test("compare-sources runs research-summary once per source in its own scope, the first with its fact-check loop")
    func twoSourcesEachGoThroughTheCalledPipeline() async throws {
        let sandbox = try Self.sandbox("compare-two", script: Self.script)
        let run = try await sandbox.baton([
            "run", Self.pipeline, "--runtime", "echo", "--input", "question=How hot should the water be?",
            "--input", "source=Brew green tea at 80 degrees.", "--input", "source_name=the green tea guide",
            "--input", "other_source=Pour it on at the boil.", "--input", "other_name=the black tea guide",
        ])
        #expect(run.status == 0, "\(run.summary)")
        #expect(
            sandbox.calls().map(\.description) == [
                "first/extract#1", "first/summarize#1", "first/check#1", "first/summarize#2", "first/check#2", "first/final#1",
                "second/extract#1", "second/summarize#1", "second/check#1", "second/final#1", "brief#1",
            ])
        let attempts = try sandbox.attempts(try await sandbox.onlyRunID())
        func prompt(_ stage: String, round: Int = 1) throws -> String {
            try #require(attempts.first { $0.stage == stage && $0.round == round && $0.status == .completed }?.prompt)
        }
        // Each call reads its own `with`: the question, its source and its source's name.
        #expect(try prompt("first/extract").contains("Source (the green tea guide):\n\"\"\"\nBrew green tea at 80 degrees."))
        #expect(try prompt("second/extract").contains("Source (the black tea guide):\n\"\"\"\nPour it on at the boil."))
        #expect(try prompt("first/extract").contains("Question: How hot should the water be?"))
        // Inside the call, `stages.extract` is the call's own stage, and the critic loop's feedback reaches round 2.
        #expect(try prompt("first/summarize").contains("- Green tea is brewed below boiling. (quote: \"brewed at 80 degrees\")"))
        #expect(try prompt("second/summarize").contains("- green tea"))
        #expect(try prompt("first/summarize", round: 2).contains("Say which tea."))
        // The brief reads each call's output (its `final` stage) and compares.
        let final1 = try #require(attempts.first { $0.stage == "first/final" }?.output)
        let final2 = try #require(attempts.first { $0.stage == "second/final" }?.output)
        let brief = try prompt("brief")
        #expect(brief.contains("What the green tea guide says:\n\(final1)\n"), "\(brief)")
        #expect(brief.contains("What the black tea guide says:\n\(final2)\n"), "\(brief)")
        #expect(brief.contains("Say where the two sources agree") && !brief.contains("There is only one source"))
    }

    @Test("compare-sources without a second source skips the second call as a whole and briefs from the first alone")
    func oneSourceSkipsTheSecondCall() async throws {
        let sandbox = try Self.sandbox("compare-one", script: Self.script)
        let run = try await sandbox.baton([
            "run", Self.pipeline, "--runtime", "echo", "--input", "question=How hot?", "--input", "source=Brew at 80 degrees.",
        ])
        #expect(run.status == 0, "\(run.summary)")
        #expect(
            sandbox.calls().map(\.description) == [
                "first/extract#1", "first/summarize#1", "first/check#1", "first/summarize#2", "first/check#2", "first/final#1", "brief#1",
            ])
        let id = try await sandbox.onlyRunID()
        let attempts = try sandbox.attempts(id)
        #expect(
            attempts.filter { $0.status == .skipped }.map(\.stage) == [
                "second/extract", "second/summarize", "second/check", "second/final",
            ])
        let brief = try #require(attempts.first { $0.stage == "brief" }?.prompt)
        #expect(brief.contains("There is only one source") && !brief.contains("Say where the two sources agree"), "\(brief)")
        #expect(brief.contains("What the first source says:\n"))
        let reasons = try sandbox.store().events(id, kind: .stageSkipped).compactMap(\.payload)
        #expect(reasons.count == 4)
        #expect(
            reasons.allSatisfy {
                $0.contains(#""reason":"call 'second': when: has(inputs.other_source) was false (inputs.other_source absent)""#)
            }, "\(reasons)")
    }
}
