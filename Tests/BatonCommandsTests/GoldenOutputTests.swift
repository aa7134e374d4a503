import BatonTestSupport
import Foundation
import Testing

/// The human-facing output of `plan`, `graph`, `show`, `runs`, `doctor` and `--help`, run through the real binary on
/// the echo runtime (the `ci` profile) and compared with golden files in `Fixtures/golden` after ``GoldenNormalizer``
/// replaced what varies (run ids, times, durations, temporary paths, ports, token rates, the machine's memory and
/// thermal state). `RECORD_SNAPSHOTS=1` rewrites them; read every rewritten file before committing it.
@Suite struct GoldenOutputTests {
    static let folder = "Tests/BatonCommandsTests/Fixtures/golden"

    /// The subcommands whose `--help` has a golden: every command `baton --help` lists, and the subcommands of
    /// `keys`, `profiles` and `tools`.
    static let helpCommands: [[String]] = [
        [], ["run"], ["resume"], ["rerun"], ["runs"], ["show"], ["validate"], ["plan"], ["graph"], ["list"], ["doctor"],
        ["models"], ["keys"], ["keys", "set"], ["keys", "list"], ["keys", "remove"], ["keys", "test"], ["keys", "passphrase"],
        ["keys", "allow"], ["keys", "hosts"],
        ["profiles"], ["profiles", "list"],
        ["profiles", "show"], ["profiles", "export"], ["profiles", "import"], ["init"], ["trust"], ["tools"], ["tools", "list"],
        ["index"], ["search"], ["indexes"], ["test"], ["stats"], ["bench"], ["serve"],
        ["submit"], ["worker"], ["workers"],
    ]

    // MARK: - Helpers

    /// The command line, exit status and both streams of `result`, normalised, as a golden file holds them. Each
    /// stream is followed by a line break, so a blank line before `--- stderr` means the output ended with one.
    static func transcript(_ arguments: [String], _ result: BatonProcess.Result, normalizer: GoldenNormalizer) -> String {
        let text = """
            $ baton \(arguments.joined(separator: " "))
            exit \(result.signal.map { "signal \($0)" } ?? "\(result.status)")
            --- stdout
            \(result.stdout)
            --- stderr
            \(result.stderr)
            """
        return normalizer.normalize(text)
    }

    /// Records an issue when the transcript of `result` differs from the golden `name`.
    static func expectGolden(
        _ arguments: [String], _ result: BatonProcess.Result, _ name: String, normalizer: GoldenNormalizer,
        sourceLocation: Testing.SourceLocation = #_sourceLocation
    ) {
        let text = transcript(arguments, result, normalizer: normalizer)
        if let difference = Fixtures.compareGolden(text, at: "\(folder)/\(name)") {
            Issue.record(Comment(rawValue: difference), sourceLocation: sourceLocation)
        }
    }

    /// A normaliser for `sandbox`: its folder becomes `<sandbox>`, the test fixtures `<fixtures>`.
    static func normalizer(_ sandbox: RunSandbox, keepPorts: Set<Int> = []) -> GoldenNormalizer {
        GoldenNormalizer(paths: [(sandbox.folder, "<sandbox>"), (RunSandbox.fixtures, "<fixtures>")], keepPorts: keepPorts)
    }

    /// Runs `arguments` in a new sandbox (the `ci` profile, the crash fixture's echo script) and checks the golden.
    static func checkCommand(_ arguments: [String], golden: String, sourceLocation: Testing.SourceLocation = #_sourceLocation)
        async throws
    {
        let sandbox = try RunSandbox("golden")
        let result = try await sandbox.baton(arguments)
        expectGolden(arguments, result, golden, normalizer: normalizer(sandbox), sourceLocation: sourceLocation)
    }

    /// A sandbox in which the crash fixture has run once to completion.
    static func sandboxWithARun() async throws -> RunSandbox {
        let sandbox = try RunSandbox("golden-run")
        let run = try await sandbox.runPipeline()
        try #require(run.status == 0, "\(run.summary)")
        return sandbox
    }

    // MARK: - The normaliser

    /// Two runs that differ only in what varies normalise to the same text, and right-aligned columns keep their width.
    @Test func theNormaliserHidesWhatVariesAndKeepsColumnsAligned() {
        let normalizer = GoldenNormalizer(paths: [("/tmp/baton-x-1234", "<sandbox>")], keepPorts: [9])
        let first = """
            run 20261206-185113-330a started 2026-12-06 18:51:13 in /tmp/baton-x-1234/runs.sqlite
            plan    completed         3      3       8 ms   45 → 54
            ── plan · 2 ms · first token 1 ms · 9 → 14 tokens · 8503.7 tokens/s
            ollama http://127.0.0.1:41234 llama http://127.0.0.1:9
            ✓ memory: 25.3 GB in all, 24.1 GB available now; 'memory_budget: auto' gives 19 GB; the profile's budget is 8 GB
            ✓ thermal: serious; the profile pauses at serious
            """
        let second = """
            run 20270101-000000-ffff started 2027-01-01 00:00:00 in /private/tmp/baton-x-1234/runs.sqlite
            plan    completed         3      3      1.5 s   45 → 54
            ── plan · 12 ms · first token 2m05s · 9 → 14 tokens
            ollama http://127.0.0.1:5 llama http://127.0.0.1:9
            ✓ memory: 7 GB in all; 'memory_budget: auto' gives 5.3 GB; the profile's budget is 8 GB
            ✓ thermal: nominal; the profile pauses at serious
            """
        let normalized = normalizer.normalize(first)
        #expect(normalized == normalizer.normalize(second))
        #expect(
            normalized == """
                run YYYYMMDD-hhmmss-xxxx started YYYY-MM-DD hh:mm:ss in <sandbox>/runs.sqlite
                plan    completed         3      3      <dur>   45 → 54
                ── plan · <dur> · first token <dur> · 9 → 14 tokens
                ollama http://127.0.0.1:<port> llama http://127.0.0.1:9
                ✓ memory: <total> in all[, <available> available now]; 'memory_budget: auto' gives <auto>; the profile's budget is 8 GB
                ✓ thermal: <machine thermal state>; the profile pauses at serious
                """)
        // What is not machine- or time-dependent stays: a changed count or word still changes the text.
        #expect(normalizer.normalize(first.replacingOccurrences(of: "45 → 54", with: "45 → 55")) != normalized)
    }

    // MARK: - plan and graph

    @Test func planOfACriticLoopPipeline() async throws {
        try await Self.checkCommand(["plan", RunSandbox.pipeline, "--profile", "ci"], golden: "plan.txt")
    }

    @Test func planWithABudgetThatForcesUnloads() async throws {
        let profile = RunSandbox.fixtures + "/golden/ci-1gb.yaml"
        try await Self.checkCommand(["plan", RunSandbox.pipeline, "--profile", profile], golden: "plan-unloads.txt")
    }

    @Test func graphAsMermaid() async throws {
        try await Self.checkCommand(["graph", RunSandbox.pipeline, "--profile", "ci"], golden: "graph-mermaid.txt")
    }

    @Test func graphAsDot() async throws {
        try await Self.checkCommand(["graph", RunSandbox.pipeline, "--profile", "ci", "--format", "dot"], golden: "graph-dot.txt")
    }

    // MARK: - show and runs

    @Test func showAsText() async throws {
        let sandbox = try await Self.sandboxWithARun()
        let id = try await sandbox.onlyRunID()
        let arguments = ["show", id]
        Self.expectGolden(arguments, try await sandbox.baton(arguments), "show-text.txt", normalizer: Self.normalizer(sandbox))
    }

    @Test func showAsMarkdown() async throws {
        let sandbox = try await Self.sandboxWithARun()
        let id = try await sandbox.onlyRunID()
        let arguments = ["show", id, "--format", "markdown"]
        Self.expectGolden(arguments, try await sandbox.baton(arguments), "show-markdown.txt", normalizer: Self.normalizer(sandbox))
    }

    /// A sandbox in which the route fixture (Fixtures/route-crash.yaml: a route, a false and a true condition) has run.
    static func sandboxWithARoutedRun() async throws -> RunSandbox {
        let sandbox = try RunSandbox("golden-route")
        sandbox.environment["BATON_ECHO_SCRIPT"] = RouteCrashResumeTests.script
        let run = try await sandbox.baton(RouteCrashResumeTests.arguments)
        try #require(run.status == 0, "\(run.summary)")
        return sandbox
    }

    @Test func planOfARoutedPipelineListsEachBranch() async throws {
        try await Self.checkCommand(["plan", RouteCrashResumeTests.pipeline, "--profile", "ci"], golden: "plan-route.txt")
    }

    @Test func showOfARoutedRunAsText() async throws {
        let sandbox = try await Self.sandboxWithARoutedRun()
        let id = try await sandbox.onlyRunID()
        let arguments = ["show", id]
        Self.expectGolden(arguments, try await sandbox.baton(arguments), "show-route-text.txt", normalizer: Self.normalizer(sandbox))
    }

    @Test func showOfARoutedRunAsMarkdown() async throws {
        let sandbox = try await Self.sandboxWithARoutedRun()
        let id = try await sandbox.onlyRunID()
        let arguments = ["show", id, "--format", "markdown"]
        Self.expectGolden(
            arguments, try await sandbox.baton(arguments), "show-route-markdown.txt", normalizer: Self.normalizer(sandbox))
    }

    @Test func runsListsACompletedAndAFailedRun() async throws {
        let sandbox = try await Self.sandboxWithARun()
        // A second run that fails: the echo script's `facts` stage is told to answer something that is not JSON.
        let script = RunSandbox.fixtures + "/golden/bad-facts-script.yaml"
        let failed = try await sandbox.baton(RunSandbox.runArguments, ["BATON_ECHO_SCRIPT": script])
        try #require(failed.status != 0, "the second run was meant to fail: \(failed.summary)")
        Self.expectGolden(["runs"], try await sandbox.baton(["runs"]), "runs.txt", normalizer: Self.normalizer(sandbox))
    }

    @Test func runsWithNoRuns() async throws {
        try await Self.checkCommand(["runs"], golden: "runs-empty.txt")
    }

    // MARK: - doctor

    /// Ollama and OpenAI are stand-ins started here, llama-server is a closed port, the thermal tree is empty.
    @Test func doctorOnStandInsAndAClosedPort() async throws {
        let sandbox = try RunSandbox("golden-doctor")
        let thermal = try FakeThermalTree()
        defer { thermal.remove() }
        try await OllamaStandIn.with(models: [.init("llama3.2:1b"), .init("qwen2.5:7b")]) { ollama in
            try await OpenAIStandIn.with(apiKey: "sk-golden", models: [.init("gpt-test")]) { openAI in
                try """
                version: 1
                name: golden-doctor
                memory_budget: 8GB
                default_runtime: echo
                runtimes:
                  ollama: {kind: ollama, url: "\(ollama.baseURL)"}
                  local: {kind: llama-server, url: "http://127.0.0.1:9"}
                  cloud: {kind: openai, url: "\(openAI.baseURL)", api_key_env: GOLDEN_DOCTOR_KEY}
                  echo: {kind: echo}
                """.write(toFile: sandbox.folder + "/doctor.yaml", atomically: true, encoding: .utf8)
                let arguments = ["doctor", "--profile", sandbox.folder + "/doctor.yaml"]
                let result = try await sandbox.baton(
                    arguments, ["BATON_THERMAL_PATH": thermal.root, "BATON_KEY_FILE": sandbox.folder + "/absent.enc"])
                Self.expectGolden(arguments, result, "doctor.txt", normalizer: Self.normalizer(sandbox, keepPorts: [9]))
            }
        }
    }

    // MARK: - help

    @Test(arguments: helpCommands)
    func help(_ command: [String]) async throws {
        let arguments = command + ["--help"]
        let result = try await BatonProcess.run(arguments, environment: ["COLUMNS": "80"])
        let name = command.isEmpty ? "baton" : command.joined(separator: "-")
        Self.expectGolden(arguments, result, "help/\(name).txt", normalizer: GoldenNormalizer())
    }

    /// Help asked for a command that does not exist: a misspelt one (a suggestion expected) and one like no command.
    @Test(arguments: [["help", "plam"], ["plam", "--help"], ["help", "nosuch"]])
    func helpOfAnUnknownCommand(_ arguments: [String]) async throws {
        let result = try await BatonProcess.run(arguments, environment: ["COLUMNS": "80"])
        let name = "unknown-" + arguments.joined(separator: "-").replacingOccurrences(of: "--", with: "")
        Self.expectGolden(arguments, result, "help/\(name).txt", normalizer: GoldenNormalizer())
    }

    /// A command added to `baton` must get a golden of its help.
    @Test func everyCommandHasAHelpGolden() async throws {
        for parent in [[], ["keys"], ["profiles"]] as [[String]] {
            let result = try await BatonProcess.run(parent + ["--help"], environment: ["COLUMNS": "80"])
            let listed = Self.subcommands(inHelp: result.stdout).map { parent + [$0] }
            try #require(!listed.isEmpty, "no SUBCOMMANDS in the help of '\(parent.joined(separator: " "))': \(result.summary)")
            for command in listed {
                #expect(Self.helpCommands.contains(command), "'baton \(command.joined(separator: " "))' has no help golden")
            }
        }
    }

    /// The names in the SUBCOMMANDS section of ArgumentParser's help.
    static func subcommands(inHelp help: String) -> [String] {
        let section = help.components(separatedBy: "SUBCOMMANDS:\n").dropFirst().first ?? ""
        return section.split(separator: "\n").compactMap { line in
            // A command line starts with two spaces and the name; a wrapped abstract starts with more.
            guard line.hasPrefix("  "), !line.hasPrefix("   "), let name = line.split(separator: " ").first else { return nil }
            return name == "See" ? nil : String(name)
        }
    }
}
