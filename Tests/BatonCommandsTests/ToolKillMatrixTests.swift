import BatonEngine
import BatonTestSupport
import Foundation
import Testing

/// One scenario of the side-effects kill matrix: a `run` stage of `effects` that appends one line (its
/// BATON_IDEMPOTENCY_KEY) to a file, the real `baton` SIGKILLed at `kill`, then resumed.
struct ToolKillCase: Sendable, CustomTestStringConvertible {
    var effects: String
    var kill: String
    /// Lines in the file right after the kill.
    var linesAfterKill: Int
    /// Whether the first resume stops on the unfinished call (exit 79), and then what the user answers.
    var stops: Bool
    var resolution: String?
    /// Lines once the run completed.
    var finalLines: Int

    var testDescription: String {
        "\(effects) killed at \(kill)" + (stops ? ", stops, then \(resolution ?? "-")" : "") + ": \(finalLines) line(s)"
    }
}

/// Issue 12, "How it is checked": the kill matrix for side effects on the real binary. For `external`, the file never
/// holds two lines and the resume stops (exit 79) when the call's result was never recorded; for `idempotent`, the
/// unfinished call runs again with the same key. A recorded result is never run again.
@Suite struct ToolKillMatrixTests {
    static let cases: [ToolKillCase] = [
        // Before the intent is committed (inside the attempt's start): the call never started, resume runs it once.
        ToolKillCase(effects: "external", kill: "attempt-start-commit:1", linesAfterKill: 0, stops: false, finalLines: 1),
        // The intent is committed, the call did not start; Baton cannot know: it stops, the user retries.
        ToolKillCase(
            effects: "external", kill: "tool-intent-committed:1", linesAfterKill: 0, stops: true, resolution: "--retry-call",
            finalLines: 1),
        // The call ran, its result was not committed: Baton stops, the user (who sees the line) skips it.
        ToolKillCase(
            effects: "external", kill: "tool-ran:1", linesAfterKill: 1, stops: true, resolution: "--skip-call", finalLines: 1),
        // The result is committed: replayed.
        ToolKillCase(effects: "external", kill: "tool-result-committed:1", linesAfterKill: 1, stops: false, finalLines: 1),
        ToolKillCase(effects: "idempotent", kill: "attempt-start-commit:1", linesAfterKill: 0, stops: false, finalLines: 1),
        ToolKillCase(effects: "idempotent", kill: "tool-intent-committed:1", linesAfterKill: 0, stops: false, finalLines: 1),
        // The call ran and runs again: two lines, one key.
        ToolKillCase(effects: "idempotent", kill: "tool-ran:1", linesAfterKill: 1, stops: false, finalLines: 2),
        ToolKillCase(effects: "idempotent", kill: "tool-result-committed:1", linesAfterKill: 1, stops: false, finalLines: 1),
    ]

    static let profile = """
        version: 1
        name: tooling
        default_runtime: echo
        runtimes:
          echo: {kind: echo}
        tools: {allow: [sh]}
        """

    static func pipeline(effects: String) -> String {
        """
        version: 1
        name: append
        inputs:
          out: {}
        stages:
          append:
            run: [sh, -c, 'echo "$BATON_IDEMPOTENCY_KEY" >> "$OUT"']
            env: {OUT: "{{inputs.out}}"}
            effects: \(effects)
          after:
            model: m
            prompt: "after {{stages.append.output}}"
        """
    }

    /// A sandbox with the `tooling` profile and the append pipeline; returns it with the `run` arguments.
    static func sandbox(effects: String) throws -> (RunSandbox, [String], String) {
        let sandbox = try RunSandbox("tool-kill")
        sandbox.environment["BATON_ECHO_SCRIPT"] = nil
        let profiles = sandbox.folder + "/profiles"
        try FileManager.default.createDirectory(atPath: profiles, withIntermediateDirectories: true)
        try profile.write(toFile: profiles + "/tooling.yaml", atomically: true, encoding: .utf8)
        sandbox.environment["BATON_PROFILE_PATH"] = profiles
        let pipeline = sandbox.folder + "/append.yaml"
        try Self.pipeline(effects: effects).write(toFile: pipeline, atomically: true, encoding: .utf8)
        let out = sandbox.folder + "/out.txt"
        return (sandbox, ["run", pipeline, "--profile", "tooling", "--input", "out=\(out)"], out)
    }

    static func lines(_ path: String) -> [String] {
        ((try? String(contentsOfFile: path, encoding: .utf8)) ?? "").split(separator: "\n").map(String.init)
    }

    @Test func anUninterruptedRunAppendsOneLine() async throws {
        let (sandbox, arguments, out) = try Self.sandbox(effects: "external")
        let run = try await sandbox.baton(arguments)
        #expect(run.status == 0, "\(run.summary)")
        #expect(Self.lines(out).count == 1)
        #expect(Self.lines(out).first?.count == 32)
    }

    @Test(arguments: cases)
    func killedToolCallsResumeByTheirEffects(_ scenario: ToolKillCase) async throws {
        let (sandbox, arguments, out) = try Self.sandbox(effects: scenario.effects)
        let killed = try await sandbox.baton(arguments, ["BATON_TEST_KILL_AT": scenario.kill])
        try #require(killed.signal == SIGKILL, "was not killed: \(killed.summary)")
        #expect(Self.lines(out).count == scenario.linesAfterKill)
        let id = try await sandbox.onlyRunID()

        let resumed = try await sandbox.baton(["resume", id])
        if scenario.stops {
            #expect(resumed.status == 79, "\(resumed.summary)")
            #expect(resumed.stderr.contains("--retry-call append"), "\(resumed.stderr)")
            #expect(Self.lines(out).count == scenario.linesAfterKill, "the stopped resume ran the call")
            // Asking again without an answer stops again: nothing runs on its own.
            let again = try await sandbox.baton(["resume", id])
            #expect(again.status == 79, "\(again.summary)")
            #expect(Self.lines(out).count == scenario.linesAfterKill)
            let answered = try await sandbox.baton(["resume", id, try #require(scenario.resolution), "append"])
            #expect(answered.status == 0, "\(answered.summary)")
        } else {
            #expect(resumed.status == 0, "\(resumed.summary)")
        }
        let lines = Self.lines(out)
        #expect(lines.count == scenario.finalLines, "\(lines)")
        if scenario.effects == "external" { #expect(lines.count <= 1, "an external call ran twice: \(lines)") }
        // Every run of the call carried the same key.
        #expect(Set(lines).count <= 1, "the keys differ: \(lines)")
        let runs = try await sandbox.baton(["runs", "--json"])
        let rows = try #require(try JSONSerialization.jsonObject(with: Data(runs.stdout.utf8)) as? [[String: Any]])
        #expect(rows.map { $0["status"] as? String } == ["completed"], "\(runs.stdout)")
    }
}
