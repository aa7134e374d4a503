import BatonTestSupport
import Foundation
import Testing

/// `baton validate`, `graph` and `list`, run as the real binary: output and exit codes.
@Suite struct ValidateCommandTests {
    static let invalid = "Tests/BatonSpecTests/Fixtures/invalid"

    @Test func shippedPipelinesAreValid() async throws {
        let result = try await BatonProcess.run(["validate"])
        #expect(result.status == 0, "\(result.stdout)\(result.stderr)")
        #expect(result.stdout.hasSuffix("files checked: 0 invalid files, 0 errors, 0 warnings\n"))
    }

    @Test func shippedProfilesAreValid() async throws {
        let result = try await BatonProcess.run(["validate", "profiles"])
        #expect(result.status == 0, "\(result.stdout)\(result.stderr)")
        #expect(result.stdout.contains("0 errors"))
    }

    @Test func anInvalidPipelineExits65WithCompilerStyleOutput() async throws {
        let result = try await BatonProcess.run(["validate", "\(Self.invalid)/unknown-stage-key.yaml"])
        #expect(result.status == 65)
        #expect(
            result.stdout.hasPrefix(
                """
                \(Self.invalid)/unknown-stage-key.yaml:5:5: error: unknown key 'temprature' in stage 'plan'; did you mean 'temperature'? [unknown-key]
                    temprature: 0.2
                    ^

                """))
        #expect(result.stdout.hasSuffix("1 file checked: 1 invalid file, 2 errors, 0 warnings\n"))
    }

    @Test func jsonFormatHasOneObjectPerDiagnostic() async throws {
        let result = try await BatonProcess.run(["validate", "--format", "json", "\(Self.invalid)/two-critics.yaml"])
        #expect(result.status == 65)
        let entries = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [[String: Any]])
        #expect(entries.count == 1)
        #expect(entries[0]["code"] as? String == "duplicate-critic")
        #expect(entries[0]["line"] as? Int == 12)
        #expect(entries[0]["column"] as? Int == 14)
        #expect(entries[0]["severity"] as? String == "error")
        #expect((entries[0]["notes"] as? [[String: Any]])?.first?["line"] as? Int == 8)
    }

    @Test func githubFormatWritesWorkflowCommands() async throws {
        let result = try await BatonProcess.run(["validate", "--format", "github", "\(Self.invalid)/cycle.yaml"])
        #expect(result.status == 65)
        #expect(
            result.stdout.contains(
                "::error file=\(Self.invalid)/cycle.yaml,line=9,col=13,title=baton [cycle]::stages form a cycle: a -> b -> c -> a; remove one of these dependencies\n"
            ))
        #expect(result.stdout.contains("::warning file="))
    }

    @Test func strictMakesWarningsFail() async throws {
        let file = "\(Self.invalid)/duplicate-needs.yaml"
        #expect(try await BatonProcess.run(["validate", file]).status == 0)
        let strict = try await BatonProcess.run(["validate", "--strict", file])
        #expect(strict.status == 65)
        #expect(strict.stdout.contains(": error: 'plan' appears more than once"))
    }

    @Test func aMissingPathExits66() async throws {
        let result = try await BatonProcess.run(["validate", "no/such/file.yaml"])
        #expect(result.status == 66)
        #expect(result.stderr == "error: no file at 'no/such/file.yaml'\n")
    }

    @Test func aWrongCommandLineExits64() async throws {
        let result = try await BatonProcess.run(["validate", "--format", "xml"])
        #expect(result.status == 64)
        #expect(result.stderr.contains("xml"))
    }

    @Test func anUnknownProfileExits66WithASuggestion() async throws {
        let result = try await BatonProcess.run(["validate", "--profile", "m3-16g"])
        #expect(result.status == 66)
        #expect(result.stderr.contains("no profile named 'm3-16g'"))
        #expect(result.stderr.contains("did you mean 'm3-16gb'?"))
    }

    @Test func graphPrintsMermaidAndDot() async throws {
        let mermaid = try await BatonProcess.run(["graph", "code-task"])
        #expect(mermaid.status == 0)
        #expect(mermaid.stdout.hasPrefix("flowchart TD\n"))
        #expect(mermaid.stdout.contains("s_review -. \"revise, up to 3 rounds\" .-> s_plan"))
        let dot = try await BatonProcess.run(["graph", "code-task", "--format", "dot", "--profile", "m3-16gb"])
        #expect(dot.status == 0)
        #expect(dot.stdout.contains("\"plan\" -> \"review\";"))
        #expect(dot.stdout.contains("ollama:qwen2.5:14b-instruct"))
    }

    @Test func graphOfAnInvalidPipelinePrintsItsErrors() async throws {
        let result = try await BatonProcess.run(["graph", "\(Self.invalid)/cycle.yaml"])
        #expect(result.status == 65)
        #expect(result.stderr.contains("[cycle]"))
        #expect(result.stdout.isEmpty)
    }

    @Test func listShowsNamesAndDescriptions() async throws {
        let result = try await BatonProcess.run(["list"])
        #expect(result.status == 0)
        #expect(result.stdout.contains("code-task         Plan a coding task"))
        let unknown = try await BatonProcess.run(["graph", "code-tsk"])
        #expect(unknown.status == 66)
        #expect(unknown.stderr.contains("did you mean 'code-task'?"))
    }

    @Test func searchPathComesFromTheEnvironment() async throws {
        let folder = NSTemporaryDirectory() + "baton-path-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        try "version: 1\ndescription: Mine.\nstages:\n  a: {model: m, prompt: hi}\n".write(
            toFile: folder + "/mine.yaml", atomically: true, encoding: .utf8)
        let result = try await BatonProcess.run(["list"], environment: ["BATON_PIPELINE_PATH": folder])
        #expect(result.stdout == "mine  Mine.\n")
    }

    /// Issue 14: a folder's `NAME.test.yaml` files are checked as tests against their pipelines, `__snapshots__` is
    /// left out, and a test file whose pipeline is missing says so at its `pipeline:`.
    @Test func testFilesAreValidatedAsTestsAgainstTheirPipelines() async throws {
        let folder = NSTemporaryDirectory() + "baton-validate-tests-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: folder + "/__snapshots__", withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let files = [
            "p.yaml": "version: 1\nstages:\n  plan: {model: m, prompt: hi}\n",
            "p.test.yaml": """
            version: 1
            cases:
              - name: a
                assert:
                  - stage: plna
                    contains: x
                  - json-path: {path: $.a, exists: true}

            """,
            "orphan.test.yaml": "version: 1\npipeline: gone.yaml\ncases: [{name: a}]\n",
            // Not a pipeline: were it checked as one, it would be invalid.
            "__snapshots__/p.snap.yaml": "a:\n  plan: |\n    hi\n",
        ]
        for (name, text) in files { try text.write(toFile: "\(folder)/\(name)", atomically: true, encoding: .utf8) }
        let result = try await BatonProcess.run(["validate", "."], in: folder)
        #expect(result.status == 65, "\(result.stdout)\(result.stderr)")
        #expect(
            result.stdout.contains(
                "p.test.yaml:5:16: error: assertion 'contains' names stage 'plna', which pipeline 'p' does not have; "
                    + "did you mean 'plan'? [test-stage-unknown]"))
        #expect(result.stdout.contains("p.test.yaml:7:9: error: 'json-path' looks into stage 'plan', whose output is text;"))
        #expect(result.stdout.contains("orphan.test.yaml:2:11: error: the pipeline 'gone.yaml' of this test file was not found;"))
        #expect(result.stdout.contains("[test-pipeline-missing]"))
        #expect(!result.stdout.contains("p.snap.yaml"))
        #expect(result.stdout.hasSuffix("3 files checked: 2 invalid files, 3 errors, 0 warnings\n"))
    }
}

/// `baton plan`: the schedule printed before anything runs.
@Suite struct PlanCommandTests {
    @Test func theOriginSetupLoadsTwiceAndUnloadsOnce() async throws {
        let result = try await BatonProcess.run(["plan", "code-task", "--profile", "m3-16gb"])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.hasPrefix("plan code-task with profile m3-16gb, memory budget 14 GB (set)\n"))
        #expect(result.stdout.contains("unload ollama:mistral:7b-instruct (5.7 GB); load ollama:qwen2.5:14b-instruct (10.9 GB)"))
        #expect(result.stdout.contains("critic loop review ↔ plan: further rounds reuse the resident models, no swap"))
        #expect(result.stdout.contains("\npeak resident 10.9 GB of 14 GB; 2 loads, 1 unload\n\nhosts a run would contact:\n"))
        #expect(result.stdout.hasSuffix("commands and MCP servers a run would start: none\n"))
    }

    @Test func jsonListsEveryStep() async throws {
        let result = try await BatonProcess.run(["plan", "hello", "--profile", "local-gemma", "--json"])
        #expect(result.status == 0)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
        #expect((object["steps"] as? [[String: Any]])?.map { $0["stage"] as? String } == ["plan", "check", "answer"])
        #expect(object["peak_bytes"] as? Int == 860_000_000)
        #expect(object["loads"] as? Int == 3)
    }
}
