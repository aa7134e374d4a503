import BatonEngine
import BatonTestSupport
import Foundation
import Testing

/// `baton run` inputs: wrong ones stop the command with exit 64 before anything runs; `--input-file`
/// takes JSON and YAML, and `--input` wins over it.
@Suite struct RunInputTests {
    /// Runs the crash fixture with `arguments` instead of its usual input.
    static func run(_ sandbox: RunSandbox, _ arguments: [String]) async throws -> BatonProcess.Result {
        try await sandbox.baton(["run", RunSandbox.pipeline, "--profile", "ci"] + arguments)
    }

    /// Nothing ran: no database was even created, no runtime was called.
    static func expectNothingRan(_ sandbox: RunSandbox, sourceLocation: Testing.SourceLocation = #_sourceLocation) async throws {
        #expect(!FileManager.default.fileExists(atPath: sandbox.db), "the database was created", sourceLocation: sourceLocation)
        #expect(sandbox.calls().isEmpty, "a runtime was called", sourceLocation: sourceLocation)
        #expect(try await sandbox.runIDs().isEmpty, "a run was recorded", sourceLocation: sourceLocation)
    }

    @Test func aMissingRequiredInputExits64BeforeAnythingRuns() async throws {
        let sandbox = try RunSandbox("input-missing")
        let result = try await Self.run(sandbox, ["--input", "audience=kids"])
        #expect(result.status == 64, "\(result.summary)")
        #expect(result.stderr.contains("missing input 'task' (What to plan); give it with --input task=VALUE"), "\(result.stderr)")
        #expect(result.stderr.contains("the pipeline's inputs: task, audience? (? = optional)"))
        #expect(result.stdout.isEmpty)
        try await Self.expectNothingRan(sandbox)
    }

    @Test func anUnknownInputExits64WithASuggestionBeforeAnythingRuns() async throws {
        let sandbox = try RunSandbox("input-unknown")
        let result = try await Self.run(sandbox, ["--input", "task=x", "--input", "audiance=kids"])
        #expect(result.status == 64, "\(result.summary)")
        #expect(result.stderr.contains("unknown input 'audiance'; did you mean 'audience'?"), "\(result.stderr)")
        try await Self.expectNothingRan(sandbox)
    }

    @Test func everyInputProblemIsReportedAtOnce() async throws {
        let sandbox = try RunSandbox("input-all")
        let result = try await Self.run(sandbox, ["--input", "topic=x", "--input", "colour=red"])
        #expect(result.status == 64, "\(result.summary)")
        for line in ["unknown input 'colour'", "unknown input 'topic'", "missing input 'task'"] {
            #expect(result.stderr.contains(line), "\(result.stderr)")
        }
        try await Self.expectNothingRan(sandbox)
    }

    @Test(arguments: [
        (["--input", "task"], "'--input task' is not KEY=VALUE"),
        (["--input", "=x"], "'--input =x' is not KEY=VALUE"),
        (["--input-file", "no-such-file.json"], "the input file 'no-such-file.json' could not be read"),
    ])
    func malformedInputsExit64(_ arguments: [String], _ message: String) async throws {
        let sandbox = try RunSandbox("input-malformed")
        let result = try await Self.run(sandbox, arguments)
        #expect(result.status == 64, "\(result.summary)")
        #expect(result.stderr.contains(message), "\(result.stderr)")
        try await Self.expectNothingRan(sandbox)
    }

    @Test(arguments: [
        ("list.yaml", "- a\n- b\n", "must hold a mapping of input names to values"),
        ("nested.json", #"{"task": {"what": "x"}}"#, "input 'task' in 'nested.json' must be text or a number"),
        ("broken.json", #"{"task": "x""#, "is not valid JSON or YAML"),
        ("unknown.yaml", "task: x\ncolor: red\n", "unknown input 'color'"),
    ])
    func badInputFilesExit64(_ name: String, _ text: String, _ message: String) async throws {
        let sandbox = try RunSandbox("input-file-bad")
        try text.write(toFile: sandbox.folder + "/" + name, atomically: true, encoding: .utf8)
        let result = try await Self.run(sandbox, ["--input-file", name])
        #expect(result.status == 64, "\(result.summary)")
        #expect(result.stderr.contains(message), "\(result.stderr)")
        try await Self.expectNothingRan(sandbox)
    }

    /// The inputs the run recorded, and plan#1's rendered prompt.
    static func recorded(_ sandbox: RunSandbox) async throws -> (inputs: [String: String], prompt: String) {
        let shown = try await sandbox.show(try sandbox.onlyRunID())
        let inputs = try #require(shown["inputs"] as? [String: String])
        let attempts = try #require(shown["attempts"] as? [[String: Any]])
        let prompt = try #require(attempts.first { $0["stage"] as? String == "plan" }?["prompt"] as? String)
        return (inputs, prompt)
    }

    @Test(arguments: [
        ("inputs.json", #"{"task": "a picnic", "audience": "kids"}"#),
        ("inputs.yaml", "task: a picnic\naudience: kids\n"),
        ("inputs.yml", "# comments are fine\ntask: 'a picnic'\naudience: \"kids\"\n"),
    ])
    func inputFilesInJSONAndYAMLWork(_ name: String, _ text: String) async throws {
        let sandbox = try RunSandbox("input-file")
        try text.write(toFile: sandbox.folder + "/" + name, atomically: true, encoding: .utf8)
        let result = try await Self.run(sandbox, ["--input-file", name])
        #expect(result.status == 0, "\(result.summary)")
        let (inputs, prompt) = try await Self.recorded(sandbox)
        #expect(inputs == ["task": "a picnic", "audience": "kids"])
        #expect(prompt.hasPrefix("Plan a picnic for kids in three numbered steps."), "\(prompt)")
    }

    @Test func inputWinsOverTheInputFileAndDefaultsFillTheRest() async throws {
        let sandbox = try RunSandbox("input-precedence")
        try "task: 42\n".write(toFile: sandbox.folder + "/inputs.yaml", atomically: true, encoding: .utf8)
        let numbers = try await Self.run(sandbox, ["--input-file", "inputs.yaml"])
        #expect(numbers.status == 0, "\(numbers.summary)")
        #expect(try await Self.recorded(sandbox).inputs == ["task": "42", "audience": "testers"])

        let other = try RunSandbox("input-precedence-2")
        try #"{"task": "from the file", "audience": "from the file"}"#.write(
            toFile: other.folder + "/inputs.json", atomically: true, encoding: .utf8)
        let result = try await Self.run(other, ["--input-file", "inputs.json", "--input", "audience=from the flag"])
        #expect(result.status == 0, "\(result.summary)")
        #expect(try await Self.recorded(other).inputs == ["task": "from the file", "audience": "from the flag"])
    }
}
