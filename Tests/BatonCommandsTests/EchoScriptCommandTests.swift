import BatonTestSupport
import Foundation
import Testing

/// `baton run` reads the echo script (`BATON_ECHO_SCRIPT`) before the run starts: a malformed script is refused with
/// exit 65 and its place, and no run is recorded, where it used to become a failed run (69) at the first stage.
@Suite struct EchoScriptCommandTests {
    /// A sandbox whose echo script is `script`.
    static func sandbox(_ name: String, script: String) throws -> RunSandbox {
        let sandbox = try RunSandbox(name)
        try script.write(toFile: sandbox.folder + "/script.yaml", atomically: true, encoding: .utf8)
        sandbox.environment["BATON_ECHO_SCRIPT"] = sandbox.folder + "/script.yaml"
        return sandbox
    }

    @Test("A misspelled key in the echo script refuses the run up front: exit 65, file, line and key, no run recorded")
    func misspelledKeyRefusesTheRun() async throws {
        // Given the crash fixture's script with `verdict` misspelled in round 2
        let script = try String(contentsOfFile: RunSandbox.script, encoding: .utf8)
            .replacingOccurrences(of: "2: {verdict: revise", with: "2: {verdikt: revise")
        try #require(script.contains("verdikt"))
        let sandbox = try Self.sandbox("echo-script-key", script: script)

        // When
        let run = try await sandbox.runPipeline()

        // Then
        #expect(run.status == 65, "\(run.summary)")
        let place = sandbox.folder + "/script.yaml:3:7"
        #expect(
            run.stderr.contains("error: echo script \(place): stage 'review' round '2' has an unknown key 'verdikt'"), "\(run.stderr)")
        #expect(try await sandbox.runIDs().isEmpty)
        #expect(sandbox.calls().isEmpty)
    }

    @Test("A value of the wrong type in the echo script refuses a --runtime echo run up front")
    func wrongTypeRefusesAnEchoRun() async throws {
        // Given a script whose output is a list
        let sandbox = try Self.sandbox("echo-script-type", script: "draft:\n  1:\n    output: [one, two]\n")
        let pipeline = sandbox.folder + "/one.yaml"
        try "version: 1\nstages:\n  draft: {model: m, prompt: Say hi.}\n".write(toFile: pipeline, atomically: true, encoding: .utf8)

        // When
        let run = try await sandbox.baton(["run", pipeline, "--runtime", "echo"])

        // Then
        #expect(run.status == 65, "\(run.summary)")
        let message = "echo script \(sandbox.folder)/script.yaml:3:13: expected text for stage 'draft' round '1' key 'output', found a list"
        #expect(run.stderr.contains(message), "\(run.stderr)")
        #expect(try await sandbox.runIDs().isEmpty)
    }

    @Test("resume reads the echo script up front too: a malformed one refuses with 65 before any stage is called")
    func resumeRefusesAMalformedScriptUpFront() async throws {
        // Given a run killed mid-way under the well-formed script, whose script then gets a misspelled key
        let script = try String(contentsOfFile: RunSandbox.script, encoding: .utf8)
        let sandbox = try Self.sandbox("echo-script-resume", script: script)
        let killed = try await sandbox.runPipeline(["BATON_TEST_KILL_AT": "token:30"])
        #expect(killed.signal != nil || killed.status != 0, "\(killed.summary)")
        let id = try await sandbox.onlyRunID()
        try script.replacingOccurrences(of: "2: {verdict: revise", with: "2: {verdikt: revise")
            .write(toFile: sandbox.folder + "/script.yaml", atomically: true, encoding: .utf8)
        sandbox.clearCallLog()

        // When
        let resume = try await sandbox.baton(["resume", id])

        // Then it is refused as run refuses it, at the script's place, before any stage was called
        #expect(resume.status == 65, "\(resume.summary)")
        #expect(resume.stderr.contains("has an unknown key 'verdikt'"), "\(resume.stderr)")
        #expect(sandbox.calls().isEmpty)
    }

    @Test("A well-formed echo script still drives the run")
    func wellFormedScriptRuns() async throws {
        // Given the crash fixture's own script
        let sandbox = try RunSandbox("echo-script-ok")

        // When
        let run = try await sandbox.runPipeline()

        // Then the critic's three scripted rounds were played
        #expect(run.status == 0, "\(run.summary)")
        #expect(sandbox.calls().filter { $0.stage == "review" }.count == 3)
    }
}
