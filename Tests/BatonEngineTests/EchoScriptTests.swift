import BatonEngine
import BatonSpec
import Foundation
import Testing

/// Echo scripts are read strictly, with the file, line and key of the first problem, and a run's echo runtimes
/// read their scripts before the run starts (``RuntimeCatalog/prepareEchoRuntimes(for:)``).
@Suite struct EchoScriptTests {
    /// The message of the error `body` throws, failing the test when it throws none or another kind.
    static func refusal(_ body: () throws -> Void) throws -> String {
        let error = try #require(throws: RuntimeError.self) { try body() }
        #expect(error.code == .badResponse)
        #expect(!error.isTransient)
        return error.message
    }

    static func script(_ text: String) throws -> EchoScript {
        try EchoScript(yaml: text, file: "script.yaml")
    }

    @Test("The documented script reads into entries by stage and round, \"*\" as round 0")
    func documentedScriptReads() throws {
        // Given
        let text = """
            review:
              1: {verdict: revise, feedback: Add tests.}
              2: {verdict: approve}
            plan:
              "*": {output: "1. Write the code"}
            flaky:
              1: {fail: transient, times: 2}
            summary:
              1: {output: "The answer is", finish: length, delay: 2s}
              2: {thinking: "Hmm.", output: 42}
            """

        // When
        let script = try Self.script(text)

        // Then
        #expect(script.entries["review"]?[1]?.verdict == "revise")
        #expect(script.entries["review"]?[1]?.feedback == "Add tests.")
        #expect(script.entries["review"]?[2]?.verdict == "approve")
        #expect(script.entries["plan"]?[0]?.output == "1. Write the code")
        #expect(script.entries["flaky"]?[1]?.failure?.transient == true)
        #expect(script.entries["flaky"]?[1]?.failure?.times == 2)
        #expect(script.entries["summary"]?[1]?.finish == "length")
        #expect(script.entries["summary"]?[1]?.delay == 2)
        #expect(script.entries["summary"]?[2]?.thinking == "Hmm.")
        #expect(script.entries["summary"]?[2]?.output == "42")
    }

    @Test("A permanent failure without times fails once")
    func permanentFailureDefaultsToOnce() throws {
        let script = try Self.script("flaky:\n  1: {fail: permanent}\n")
        #expect(script.entries["flaky"]?[1]?.failure?.transient == false)
        #expect(script.entries["flaky"]?[1]?.failure?.times == 1)
    }

    @Test("An unknown key is refused with the file, its line and column, the key and the keys allowed")
    func unknownKeyIsLocated() throws {
        let message = try Self.refusal { _ = try Self.script("review:\n  1: {verdict: approve}\n  2: {verdikt: approve}\n") }
        #expect(
            message
                == "echo script script.yaml:3:7: stage 'review' round '2' has an unknown key 'verdikt'; use output, verdict, feedback, thinking, finish, delay, fail, times"
        )
    }

    @Test("A value of the wrong type is refused at the value, naming the key")
    func wrongTypeIsLocated() throws {
        let message = try Self.refusal { _ = try Self.script("plan:\n  1:\n    output: [a, b]\n") }
        #expect(message == "echo script script.yaml:3:13: expected text for stage 'plan' round '1' key 'output', found a list")
    }

    @Test("A stage that does not map rounds is refused, where it used to be skipped")
    func stageWithoutRoundsIsRefused() throws {
        let message = try Self.refusal { _ = try Self.script("plan: write the code\n") }
        #expect(message.hasPrefix("echo script script.yaml:1:7: stage 'plan' must map rounds to answers"))
        #expect(message.hasSuffix("not 'write the code'"))
    }

    @Test("A round that is not a number from 1 or \"*\" is refused")
    func badRoundIsRefused() throws {
        let message = try Self.refusal { _ = try Self.script("plan:\n  first: {output: x}\n") }
        #expect(
            message == "echo script script.yaml:2:3: stage 'plan' has round 'first'; rounds are numbers from 1, or \"*\" for every round")
        _ = try Self.refusal { _ = try Self.script("plan:\n  0: {output: x}\n") }
    }

    @Test("A delay that is not a duration is refused, where it used to be dropped")
    func badDelayIsRefused() throws {
        let message = try Self.refusal { _ = try Self.script("plan:\n  1: {output: x, delay: soon}\n") }
        #expect(
            message
                == "echo script script.yaml:2:25: stage 'plan' round '1' key 'delay' is 'soon', not a duration; write it as 500ms, 2s or 1m"
        )
    }

    @Test("fail, times and finish take only their words and counts")
    func failTimesAndFinishAreChecked() throws {
        let fail = try Self.refusal { _ = try Self.script("s:\n  1: {fail: sometimes}\n") }
        #expect(fail.contains("key 'fail' is 'sometimes'; use transient or permanent"))
        let times = try Self.refusal { _ = try Self.script("s:\n  1: {fail: transient, times: two}\n") }
        #expect(times.hasPrefix("echo script script.yaml:2:31:"))
        let alone = try Self.refusal { _ = try Self.script("s:\n  1: {times: 2}\n") }
        #expect(alone.contains("has 'times' without 'fail'"))
        let finish = try Self.refusal { _ = try Self.script("s:\n  1: {finish: done}\n") }
        #expect(finish.contains("stage 's' round '1' has finish 'done'; use stop, length, refusal or content_filter"))
    }

    @Test("A key or a round given twice is refused with its place")
    func duplicateKeyIsRefused() throws {
        let key = try Self.refusal { _ = try Self.script("s:\n  1: {output: a, output: b}\n") }
        #expect(key.hasPrefix("echo script script.yaml:2:"))
        #expect(key.hasSuffix("a mapping gives the key 'output' twice; keep one"))
        let round = try Self.refusal { _ = try Self.script("s:\n  1: {output: a}\n  01: {output: b}\n") }
        #expect(round == "echo script script.yaml:3:3: stage 's' gives round 1 twice")
    }

    @Test("A script that is not a mapping of stages is refused at its start")
    func rootMustBeAMapping() throws {
        let message = try Self.refusal { _ = try Self.script("- review\n") }
        #expect(message.hasPrefix("echo script script.yaml:1:1: must map stage names to rounds"))
    }

    @Test("A YAML syntax error is refused with its place")
    func syntaxErrorIsLocated() throws {
        let message = try Self.refusal { _ = try Self.script("plan:\n  1: {output: \"open\n") }
        #expect(message.hasPrefix("echo script script.yaml:3:1: invalid YAML: "), "\(message)")
    }

    @Test("A billion laughs is refused by the YAML limits with its place, before Yams builds anything")
    func aliasBombIsRefusedByLimits() throws {
        var lines = ["plan: {1: {output: x}}", "a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
        for (level, previous) in zip("bcdefghi", "abcdefgh") {
            lines.append("\(level): &\(level) [" + Array(repeating: "*\(previous)", count: 9).joined(separator: ", ") + "]")
        }
        let message = try Self.refusal { _ = try Self.script(lines.joined(separator: "\n")) }
        #expect(message.hasPrefix("echo script refused: script.yaml:6:8: alias '*d' takes the nodes that aliases repeat past 10000"))
    }

    // MARK: - Before the run

    static let profileText = """
        version: 1
        name: mixed
        runtimes:
          ollama: {kind: ollama, url: "http://127.0.0.1:9"}
          echo: {kind: echo}
        models:
          llama3.2: {runtime: ollama, footprint: 1GB}
          tiny: {runtime: echo, footprint: 0}
        """

    static func snapshot(model: String) throws -> RunSnapshot {
        let document = ProfileDecoder.decode(SourceFile(path: "mixed.yaml", text: profileText), environment: [:])
        let (resolved, diagnostics) = ProfileResolver.resolve(document) { _ in nil }
        let profile = try #require(resolved, "\(diagnostics)")
        let yaml = "version: 1\nstages:\n  plan: {model: \(model), prompt: hi}\n"
        let result = PipelineCompiler(profile: profile).compile(SourceFile(path: "echo-test.yaml", text: yaml))
        let plan = try #require(result.plan, "\(result.diagnostics.map(\.message))")
        return RunSnapshot(plan: plan, profile: profile, sources: ["echo-test.yaml": yaml], pipelinePath: nil, forcedRuntime: nil)
    }

    /// A script file in a fresh temporary folder.
    static func scriptFile(_ text: String) throws -> String {
        let folder = NSTemporaryDirectory() + "baton-echo-script-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        let path = folder + "/script.yaml"
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    @Test("A run on an echo runtime reads BATON_ECHO_SCRIPT before it starts, and refuses a malformed one with its place")
    func malformedScriptIsRefusedBeforeTheRun() throws {
        // Given
        let path = try Self.scriptFile("plan:\n  1: {outptu: x}\n")
        defer { try? FileManager.default.removeItem(atPath: (path as NSString).deletingLastPathComponent) }
        let catalog = RuntimeCatalog(environment: ["BATON_ECHO_SCRIPT": path])

        // When
        let message = try Self.refusal { try catalog.prepareEchoRuntimes(for: try Self.snapshot(model: "tiny")) }

        // Then
        #expect(message.hasPrefix("echo script \(path):2:7: stage 'plan' round '1' has an unknown key 'outptu'"))
    }

    @Test("A run that uses no echo runtime does not read the echo script")
    func scriptIsNotReadWithoutEcho() throws {
        let path = try Self.scriptFile("plan: [not, a, script]\n")
        defer { try? FileManager.default.removeItem(atPath: (path as NSString).deletingLastPathComponent) }
        let catalog = RuntimeCatalog(environment: ["BATON_ECHO_SCRIPT": path])

        try catalog.prepareEchoRuntimes(for: try Self.snapshot(model: "llama3.2"))
    }

    @Test("--runtime echo puts every model on echo, so its script is read before the run too")
    func forcedEchoReadsTheScript() throws {
        let path = try Self.scriptFile("plan: [not, a, script]\n")
        defer { try? FileManager.default.removeItem(atPath: (path as NSString).deletingLastPathComponent) }
        var snapshot = try Self.snapshot(model: "llama3.2")
        snapshot.forcedRuntime = "echo"

        let message = try Self.refusal { try RuntimeCatalog(environment: ["BATON_ECHO_SCRIPT": path]).prepareEchoRuntimes(for: snapshot) }
        #expect(message.hasPrefix("echo script \(path):1:7: stage 'plan' must map rounds to answers"))
    }

    @Test("The echo runtime prepared before the run is the one its stages get, script read once")
    func preparedRuntimeIsReused() async throws {
        // Given a script that fails the first call of plan round 1
        let path = try Self.scriptFile("plan:\n  1: {fail: transient}\n")
        defer { try? FileManager.default.removeItem(atPath: (path as NSString).deletingLastPathComponent) }
        let catalog = RuntimeCatalog(environment: ["BATON_ECHO_SCRIPT": path])
        let snapshot = try Self.snapshot(model: "tiny")
        try catalog.prepareEchoRuntimes(for: snapshot)

        // When the file is removed and the stage asks for its runtime
        try FileManager.default.removeItem(atPath: path)
        let model = try #require(snapshot.plan.stages.first?.models.first)
        let runtime = try catalog.runtime(for: model, snapshot: snapshot)

        // Then it still has the script read before the run
        let echo = try #require(runtime as? EchoRuntime)
        #expect(echo.options.script.entries["plan"]?[1]?.failure?.transient == true)
    }
}
