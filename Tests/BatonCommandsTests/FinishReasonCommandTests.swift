import BatonEngine
import BatonTestSupport
import Foundation
import Testing

/// Finish reasons and thinking through the real binary, scripted on the echo runtime: what a user sees in
/// the progress, in `show`, and as the exit code.
@Suite struct FinishReasonCommandTests {
    /// The crash fixture's script with `extra` lines added for the stages it names.
    static func sandbox(_ name: String, script extra: String) throws -> RunSandbox {
        let sandbox = try RunSandbox(name)
        let script = try String(contentsOfFile: RunSandbox.script, encoding: .utf8) + extra
        try script.write(toFile: sandbox.folder + "/script.yaml", atomically: true, encoding: .utf8)
        sandbox.environment["BATON_ECHO_SCRIPT"] = sandbox.folder + "/script.yaml"
        return sandbox
    }

    @Test("A text stage cut at max_tokens completes, and the progress and show say it was cut off")
    func truncatedReportIsShown() async throws {
        // Given
        let sandbox = try Self.sandbox(
            "truncated", script: "report:\n  1: {thinking: \"Outline first.\", output: \"The garden party is\", finish: length}\n")

        // When
        let run = try await sandbox.runPipeline()

        // Then
        #expect(run.status == 0, "\(run.summary)")
        #expect(run.stdout.contains("The garden party is"))
        #expect(run.stderr.contains("report: the answer was cut off"), "\(run.stderr)")
        #expect(run.stderr.contains("(truncated)"), "\(run.stderr)")
        let id = try await sandbox.onlyRunID()
        let show = try await sandbox.baton(["show", id, "--stage", "report"])
        #expect(show.status == 0, "\(show.summary)")
        #expect(show.stdout.contains("· truncated"), "\(show.stdout)")
        #expect(show.stdout.contains("truncated (stage report): the answer was cut off"), "\(show.stdout)")
        #expect(show.stdout.contains("thinking:\nOutline first.\nanswer:\nThe garden party is"), "\(show.stdout)")
    }

    @Test("A JSON stage cut at max_tokens fails the run with exit 1 after one try, naming the fix")
    func truncatedJSONFailsTheRun() async throws {
        // Given: the facts answer is cut mid-object
        let sandbox = try RunSandbox("truncated-json")
        let script = try String(contentsOfFile: RunSandbox.script, encoding: .utf8)
            .replacingOccurrences(
                of: #"  1: {output: '{"title": "Garden plan", "steps": 3, "risk": "low"}'}"#,
                with: #"  1: {output: '{"title": "Garden', finish: length}"#)
        try #require(script.contains("finish: length"))
        try script.write(toFile: sandbox.folder + "/script.yaml", atomically: true, encoding: .utf8)
        sandbox.environment["BATON_ECHO_SCRIPT"] = sandbox.folder + "/script.yaml"

        // When
        let run = try await sandbox.runPipeline()

        // Then
        #expect(run.status == 1, "\(run.summary)")
        #expect(run.stderr.contains("the JSON answer of stage 'facts' was cut off"), "\(run.stderr)")
        #expect(run.stderr.contains("raise max_tokens for this stage"), "\(run.stderr)")
        let calls = sandbox.calls().filter { $0.stage == "facts" }
        #expect(calls.count == 1, "a cut answer was asked for again: \(calls)")
    }

    @Test("A refusal fails the run at once and quotes the model")
    func refusalFailsTheRun() async throws {
        // Given
        let sandbox = try Self.sandbox("refusal", script: "report:\n  1: {output: \"I can't write that.\", finish: refusal}\n")

        // When
        let run = try await sandbox.runPipeline()

        // Then
        #expect(run.status == 1, "\(run.summary)")
        #expect(run.stderr.contains("refused to answer stage 'report' (refusal): \"I can't write that.\""), "\(run.stderr)")
    }

    @Test("An echo script with an unknown finish reason is refused with the ones it takes")
    func unknownFinishIsRefused() async throws {
        // Given
        let sandbox = try Self.sandbox("finish-unknown", script: "report:\n  1: {output: x, finish: sideways}\n")

        // When
        let run = try await sandbox.runPipeline()

        // Then
        #expect(run.status != 0, "\(run.summary)")
        #expect(run.stderr.contains("has finish 'sideways'; use stop, length, refusal or content_filter"), "\(run.stderr)")
    }
}
