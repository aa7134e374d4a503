import BatonEngine
import BatonTestSupport
import Foundation
import Testing

/// Issue 12: "every turn and every tool result is its own attempt in the run store; `show` and the markdown transcript
/// show the conversation", and "a SIGKILL after a committed tool result followed by resume does not execute that tool
/// again". A model stage with `tools:` on the echo runtime, in json mode, calls an `external` tool that appends a line
/// (its BATON_IDEMPOTENCY_KEY, also its output) to a file; the real `baton` is SIGKILLed once that call's result is committed.
@Suite struct ToolLoopResumeTests {
    static let profile = """
        version: 1
        name: tooling
        default_runtime: echo
        runtimes:
          echo: {kind: echo}
        tools: {allow: [sh]}
        """

    static let pipeline = """
        version: 1
        name: loop
        inputs:
          out: {}
        stages:
          append:
            description: Appends a line to the file.
            run: [sh, -c, 'echo "$BATON_IDEMPOTENCY_KEY" | tee -a "$OUT"']
            env: {OUT: "{{inputs.out}}"}
            effects: external
          ask:
            model: m
            prompt: Append a line, then say done.
            tools: [append]
            max_tool_calls: 3
            tool_mode: json
        """

    /// The echo model's answer to every turn of `ask`.
    static func script(_ answer: String) -> String {
        "ask:\n  \"*\": {output: '\(answer)'}\n"
    }

    static let call = #"{"call": {"name": "append", "arguments": {}}}"#

    /// A sandbox with the `tooling` profile, the loop pipeline and an echo script that always calls `append`; returns
    /// it with the `run` arguments and the file the tool appends to.
    static func sandbox() throws -> (RunSandbox, [String], String) {
        let sandbox = try RunSandbox("tool-loop")
        let profiles = sandbox.folder + "/profiles"
        try FileManager.default.createDirectory(atPath: profiles, withIntermediateDirectories: true)
        try profile.write(toFile: profiles + "/tooling.yaml", atomically: true, encoding: .utf8)
        sandbox.environment["BATON_PROFILE_PATH"] = profiles
        let scriptPath = sandbox.folder + "/calls-append.yaml"
        try script(call).write(toFile: scriptPath, atomically: true, encoding: .utf8)
        sandbox.environment["BATON_ECHO_SCRIPT"] = scriptPath
        let path = sandbox.folder + "/loop.yaml"
        try pipeline.write(toFile: path, atomically: true, encoding: .utf8)
        let out = sandbox.folder + "/out.txt"
        return (sandbox, ["run", path, "--profile", "tooling", "--input", "out=\(out)"], out)
    }

    static func lines(_ path: String) -> [String] {
        ((try? String(contentsOfFile: path, encoding: .utf8)) ?? "").split(separator: "\n").map(String.init)
    }

    /// `ask`'s attempts as `show --format json` lists them: (turn, status, has calls).
    static func turns(_ sandbox: RunSandbox, _ runID: String) async throws -> [[String: Any]] {
        let shown = try await sandbox.show(runID)
        let attempts = try #require(shown["attempts"] as? [[String: Any]], "\(shown.keys)")
        return attempts.filter { $0["stage"] as? String == "ask" }
    }

    @Test("An uninterrupted loop: turn 1 calls append (one line), turn 2 repeats it and is stopped, turn 3 is the answer")
    func uninterruptedLoopRecordsEachTurn() async throws {
        let (sandbox, arguments, out) = try Self.sandbox()
        let run = try await sandbox.baton(arguments)
        #expect(run.status == 0, "\(run.summary)")
        #expect(Self.lines(out).count == 1)
        // The summary table lists the stages that run: the tool definition is not one (it read "pending").
        #expect(!run.stderr.split(separator: "\n").contains { $0.hasPrefix("append ") }, "\(run.stderr)")
        #expect(run.stderr.split(separator: "\n").contains { $0.hasPrefix("ask ") && $0.contains("completed") }, "\(run.stderr)")
        let id = try await sandbox.onlyRunID()
        let turns = try await Self.turns(sandbox, id)
        // In the order of the conversation, though the final turn's attempt started first.
        #expect(turns.map { $0["turn"] as? Int } == [1, 2, 3], "\(turns)")
        #expect(turns.allSatisfy { $0["status"] as? String == "completed" }, "\(turns)")
        // Only the final turn has no calls; the turns with calls are not the stage's output.
        #expect(turns.filter { $0["calls"] == nil || $0["calls"] is NSNull }.map { $0["turn"] as? Int } == [3], "\(turns)")

        let text = try await sandbox.baton(["show", id, "--stage", "ask"])
        #expect(text.status == 0, "\(text.summary)")
        #expect(text.stdout.contains("ask round 1 try 1 turn 1"), "\(text.stdout)")
        #expect(text.stdout.contains("call append {}"), "\(text.stdout)")
        #expect(text.stdout.contains("  result: \(Self.lines(out).first ?? "?")"), "\(text.stdout)")
        // The repeat of turn 2 was stopped before it ran.
        #expect(text.stdout.contains("not run: the loop stopped before it"), "\(text.stdout)")
        // In the order of the conversation: turn 1, turn 2, then the final answer (turn 3).
        let order = ["turn 1", "turn 2", "turn 3"].compactMap { text.stdout.range(of: $0)?.lowerBound }
        #expect(order.count == 3 && order == order.sorted(), "\(text.stdout)")

        let markdown = try await sandbox.baton(["show", id, "--format", "markdown"])
        #expect(markdown.status == 0, "\(markdown.summary)")
        #expect(markdown.stdout.contains("## ask, round 1, turn 1"), "\(markdown.stdout)")
        #expect(markdown.stdout.contains("**Tool calls**"), "\(markdown.stdout)")
        #expect(markdown.stdout.contains("call append {}"), "\(markdown.stdout)")
    }

    @Test("Killed at tool-result-committed, resumed: the call is replayed, not run again; the loop goes on from turn 2")
    func killedAfterTheResultResumesFromTheNextTurn() async throws {
        let (sandbox, arguments, out) = try Self.sandbox()
        let killed = try await sandbox.baton(arguments, ["BATON_TEST_KILL_AT": "tool-result-committed:1"])
        try #require(killed.signal == SIGKILL, "was not killed: \(killed.summary)")
        #expect(Self.lines(out).count == 1)
        let id = try await sandbox.onlyRunID()

        // Whatever the model would answer now for turn 1 (here: its final answer at once), turn 1 is not asked again:
        // its call and the call's recorded result are the conversation so far, and the model answers turn 2.
        let finalScript = sandbox.folder + "/final.yaml"
        try Self.script(#"{"final": "done"}"#).write(toFile: finalScript, atomically: true, encoding: .utf8)
        let resumed = try await sandbox.baton(["resume", id], ["BATON_ECHO_SCRIPT": finalScript])
        #expect(resumed.status == 0, "\(resumed.summary)")
        #expect(Self.lines(out).count == 1, "the committed call ran again: \(Self.lines(out))")

        let turns = try await Self.turns(sandbox, id)
        let final = try #require(turns.last { $0["status"] as? String == "completed" && ($0["calls"] == nil || $0["calls"] is NSNull) })
        #expect(final["turn"] as? Int == 2, "\(turns)")
        #expect(final["output"] as? String == "done", "\(turns)")
        // The turn-2 prompt carried turn 1's call and its result.
        let full = try await sandbox.baton(["show", id, "--stage", "ask", "--format", "markdown"])
        #expect(full.stdout.contains("try 2, turn 2"), "\(full.stdout)")
        #expect(full.stdout.contains("result (replayed): \(Self.lines(out).first ?? "?")"), "\(full.stdout)")
        let runs = try await sandbox.baton(["runs", "--json"])
        let rows = try #require(try JSONSerialization.jsonObject(with: Data(runs.stdout.utf8)) as? [[String: Any]])
        #expect(rows.map { $0["status"] as? String } == ["completed"], "\(runs.stdout)")
    }

    @Test("Killed at tool-result-committed, resumed with the same model: the file holds one line and the run completes")
    func killedAfterTheResultDoesNotRunTheCallAgain() async throws {
        let (sandbox, arguments, out) = try Self.sandbox()
        let killed = try await sandbox.baton(arguments, ["BATON_TEST_KILL_AT": "tool-result-committed:1"])
        try #require(killed.signal == SIGKILL, "was not killed: \(killed.summary)")
        let id = try await sandbox.onlyRunID()
        let resumed = try await sandbox.baton(["resume", id])
        #expect(resumed.status == 0, "\(resumed.summary)")
        #expect(Self.lines(out).count == 1, "\(Self.lines(out))")
        let runs = try await sandbox.baton(["runs", "--json"])
        let rows = try #require(try JSONSerialization.jsonObject(with: Data(runs.stdout.utf8)) as? [[String: Any]])
        #expect(rows.map { $0["status"] as? String } == ["completed"], "\(runs.stdout)")
    }
}
