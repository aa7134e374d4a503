import BatonEngine
import BatonTestSupport
import Foundation
import Testing

/// The GitHub Actions recipe in docs/testing.md works as written: its `baton` steps run, in order, in a copy of this
/// repository's pipelines, profiles and docs, with the built binary first on PATH, and each succeeds; the JUnit file
/// its test step writes parses with junitparser. The steps that install Baton or check out the code are not run (they
/// need GitHub's runner); every other step must be a plain `baton` command, so nothing in the recipe goes untried.
@Suite struct CIRecipeTests {
    static let document = Fixtures.path("docs/testing.md")

    /// One `run:` step of the recipe.
    struct Step: Decodable, CustomStringConvertible {
        var name: String?
        var run: String
        var description: String { name ?? run }

        /// Every command line of the step (comments and blank lines left out).
        var commands: [String] {
            run.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty && !$0.hasPrefix("#") }
        }
        /// Whether every command is a `baton` command.
        var isBaton: Bool { !commands.isEmpty && commands.allSatisfy { $0.hasPrefix("baton ") } }
        /// Whether it installs Baton (a clone and scripts/install.sh: it needs GitHub's runner and a release build).
        var isInstall: Bool { run.contains("install") }
    }

    /// The workflow between `<!-- ci-recipe:start -->` and `<!-- ci-recipe:end -->` in docs/testing.md (one fenced YAML
    /// block), its `run:` steps read by PyYAML.
    static func recipeSteps() async throws -> [Step] {
        let text = try String(contentsOfFile: document, encoding: .utf8)
        let marked = try #require(
            text.components(separatedBy: "<!-- ci-recipe:start -->").dropFirst().first?.components(separatedBy: "<!-- ci-recipe:end -->")
                .first, "docs/testing.md has no recipe between <!-- ci-recipe:start --> and <!-- ci-recipe:end -->")
        let workflow = try #require(
            marked.components(separatedBy: "```yaml\n").dropFirst().first?.components(separatedBy: "\n```").first,
            "the recipe in docs/testing.md is not a ```yaml block")
        let script = """
            import json, sys, yaml
            workflow = yaml.safe_load(sys.argv[1])
            steps = [step for job in workflow["jobs"].values() for step in job.get("steps", []) if "run" in step]
            print(json.dumps([{"name": step.get("name"), "run": step["run"]} for step in steps]))
            """
        let (status, output) = try await Tools.run("/usr/bin/env", ["python3", "-c", script, workflow])
        try #require(status == 0, "the recipe is not a workflow PyYAML reads:\n\(output)")
        return try JSONDecoder().decode([Step].self, from: Data(output.utf8))
    }

    @Test(
        "the GitHub Actions recipe's baton steps succeed as written, and its JUnit file parses",
        .enabled("python3 lacks PyYAML or junitparser (scripts/test.sh installs both)") {
            (try? await Tools.run("/usr/bin/env", ["python3", "-c", "import yaml, junitparser"]))?.status == 0
        })
    func theRecipeWorksAsWritten() async throws {
        let steps = try await Self.recipeSteps()
        let run = steps.filter(\.isBaton)
        let notRun = steps.filter { !$0.isBaton }
        let unexplained = notRun.filter { !$0.isInstall }
        #expect(unexplained.isEmpty, "steps neither baton commands nor installs: \(unexplained)")
        #expect(run.contains { $0.run.contains("baton validate") }, "the recipe validates first: \(steps)")
        let testStep = try #require(run.first { $0.run.contains("baton test") && $0.run.contains("--junit") }, "\(steps)")
        #expect(
            run.firstIndex { $0.run.contains("baton validate") } ?? .max < run.firstIndex { $0.run.contains("baton test") } ?? -1,
            "validate comes before test")

        // A checkout of a project: this repository's pipelines (with their tests and snapshots), profiles and docs.
        let sandbox = try RunSandbox("ci-recipe")
        for folder in ["pipelines", "profiles", "docs"] {
            try FileManager.default.copyItem(atPath: Fixtures.path(folder), toPath: "\(sandbox.folder)/\(folder)")
        }
        let binaryFolder = URL(fileURLWithPath: BatonProcess.binary).deletingLastPathComponent().path
        // Only the run database is kept in the sandbox; the step's own text runs unchanged under bash as Actions runs it.
        let environment = [
            "PATH": "\(binaryFolder):/usr/bin:/bin", "BATON_DB": sandbox.folder + "/runs.sqlite", "HOME": sandbox.folder,
            "XDG_CONFIG_HOME": sandbox.folder + "/config", "CI": "true", "GITHUB_ACTIONS": "true",
        ]
        for step in run {
            let result = try await BatonProcess.run(
                [], in: sandbox.folder, environment: environment,
                launcher: ["/bin/bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", step.run, "step"])
            #expect(result.status == 0, "step '\(step)' failed:\n\(result.summary)")
        }

        let junit = try #require(
            testStep.commands.joined(separator: " ").firstMatch(of: #/--junit[ =]([^\s]+)/#).map { String($0.1) }, "\(testStep)")
        let counts = try await ShippedPipelineTestsTests.JUnitCounts.read(sandbox.folder + "/" + junit)
        #expect(counts.failures == 0 && counts.errors == 0 && counts.tests > 0, "\(counts)")
    }
}
