import BatonTestSupport
import Foundation
import Testing

/// `baton test` run as the real binary on the fixtures in `Fixtures/testing` (a pipeline with a critic loop and a JSON
/// stage, and test files for it): exit codes, the console report, JUnit and JSON.
@Suite struct TestCommandTests {
    static let folder = RunSandbox.fixtures + "/testing"
    static let passing = folder + "/greet.test.yaml"
    static let wrong = folder + "/wrong.test.yaml"
    static let invalid = folder + "/invalid.test.yaml"
    /// A profile whose llama-server listens on nothing (the discard port 9).
    static let closed = folder + "/closed.yaml"

    /// A sandbox with its own run database, and no echo script from the environment (each case brings its own).
    static func sandbox(_ name: String) throws -> RunSandbox {
        let sandbox = try RunSandbox(name)
        sandbox.environment["BATON_ECHO_SCRIPT"] = nil
        return sandbox
    }

    static func expectGolden(
        _ arguments: [String], _ result: BatonProcess.Result, _ name: String, sandbox: RunSandbox,
        sourceLocation: Testing.SourceLocation = #_sourceLocation
    ) {
        GoldenOutputTests.expectGolden(
            arguments, result, "../testing/golden/\(name)", normalizer: GoldenOutputTests.normalizer(sandbox),
            sourceLocation: sourceLocation)
    }

    /// The counts of the console's last line.
    static func consoleCounts(_ output: String) throws -> [Int] {
        let last = try #require(output.split(separator: "\n").last.map(String.init))
        let match = try #require(last.wholeMatch(of: #/(\d+) passed, (\d+) failed, (\d+) errors, (\d+) skipped/#), "last line: \(last)")
        return [Int(match.1), Int(match.2), Int(match.3), Int(match.4)].compactMap { $0 }
    }

    // MARK: - Invalid files

    /// Every seeded mistake located (unknown assertion, bad regex, unknown stage, json-path into a text stage); nothing runs.
    @Test func anInvalidTestFileExits65WithEveryMistakeLocated() async throws {
        let sandbox = try Self.sandbox("test-invalid")
        let arguments = ["test", Self.invalid]
        let result = try await sandbox.baton(arguments)
        #expect(result.status == 65, "\(result.summary)")
        for code in ["test-assertion-unknown", "test-regex-invalid", "test-stage-unknown", "test-json-path-text-stage"] {
            #expect(result.stdout.contains("[\(code)]"), "\(code) missing:\n\(result.stdout)")
        }
        #expect(result.stdout.hasSuffix("1 invalid test file, 4 errors: no case ran\n"))
        Self.expectGolden(arguments, result, "invalid.txt", sandbox: sandbox)
        #expect(try await sandbox.runIDs().isEmpty)
    }

    // MARK: - Failures, errors, skips

    /// Seeded wrong expectations: FAIL with the stage, the assertion and a diff; exit 1; the JUnit file has the failure.
    @Test func wrongExpectationsFailWithStageAssertionAndDiff() async throws {
        let sandbox = try Self.sandbox("test-wrong")
        let arguments = ["test", Self.wrong, "--junit", "junit.xml"]
        let result = try await sandbox.baton(arguments)
        #expect(result.status == 1, "\(result.summary)")
        #expect(result.stdout.contains("FAIL   \(Self.wrong) › the draft is not what was expected [echo]"))
        #expect(result.stdout.contains("wrong.test.yaml:16:9: equals [draft]: stage 'draft' does not equal the expected text"))
        #expect(result.stdout.contains("        -welcome home!\n        +welcome aboard!"))
        #expect(result.stdout.contains("critic-rounds [review]:"))
        #expect(result.stdout.hasSuffix("1 passed, 1 failed, 0 errors, 0 skipped\n"))
        Self.expectGolden(arguments, result, "wrong.txt", sandbox: sandbox)

        let xml = try String(contentsOfFile: sandbox.folder + "/junit.xml", encoding: .utf8)
        #expect(xml.contains(#"<failure message="equals [draft]: stage 'draft' does not equal the expected text" type="assertion">"#))
        #expect(xml.contains("-welcome home!\n    +welcome aboard!"))
        // The failed run is in the store like any other.
        let ids = try await sandbox.runIDs()
        #expect(ids.count == 2)
    }

    /// A profile whose llama-server is down: the cases are errors, not failures, in the console and in JUnit.
    @Test func aRuntimeThatIsDownIsAnErrorNotAFailure() async throws {
        let sandbox = try Self.sandbox("test-down")
        let result = try await sandbox.baton(["test", Self.passing, "--profile", Self.closed, "--junit", "junit.xml"])
        #expect(result.status == 1, "\(result.summary)")
        #expect(!result.stdout.contains("FAIL "), "\(result.stdout)")
        #expect(result.stdout.contains("ERROR  \(Self.passing) › the critic approves the second draft [tiny]"))
        #expect(result.stdout.contains("runtime 'router' is not reachable"))
        #expect(try Self.consoleCounts(result.stdout) == [0, 0, 2, 1])
        let xml = try String(contentsOfFile: sandbox.folder + "/junit.xml", encoding: .utf8)
        #expect(xml.components(separatedBy: "<error message=").count == 3)
        #expect(!xml.contains("<failure"))
        let counts = try await ShippedPipelineTestsTests.JUnitCounts.read(sandbox.folder + "/junit.xml")
        let found: [Int] = [counts.tests, counts.failures, counts.errors, counts.skipped]
        #expect(found == [3, 0, 2, 1])
    }

    /// A passing file with a skipped case and a case only a judge can decide: exit 0; the judge is skipped on echo (SKIP
    /// in the console, `<skipped>` in JUnit) and junitparser's counts equal the console line.
    @Test func judgeOnEchoIsSkippedAndJUnitCountsEqualTheConsole() async throws {
        let sandbox = try Self.sandbox("test-judge")
        let result = try await sandbox.baton(["test", Self.passing, "--junit", "junit.xml"])
        #expect(result.status == 0, "\(result.summary)")
        #expect(result.stdout.contains("PASS   \(Self.passing) › the critic approves the second draft [echo]"))
        #expect(result.stdout.contains("SKIP   \(Self.passing) › a case not ready yet [echo]  (the greeting in French is not written yet)"))
        #expect(result.stdout.contains("SKIP   \(Self.passing) › only a model can say whether it is warm [echo]"), "\(result.stdout)")
        let console = try Self.consoleCounts(result.stdout)
        #expect(console == [1, 0, 0, 2])
        let xml = try String(contentsOfFile: sandbox.folder + "/junit.xml", encoding: .utf8)
        #expect(xml.contains("<skipped message=\"judge [summary]: judge needs a real model"), "\(xml)")
        let counts = try await ShippedPipelineTestsTests.JUnitCounts.read(sandbox.folder + "/junit.xml")
        let found: [Int] = [
            counts.tests - counts.failures - counts.errors - counts.skipped, counts.failures, counts.errors, counts.skipped,
        ]
        #expect(found == console)
    }

    /// A judge beside a passing assertion: the case passes, and the skipped judge is named under it.
    @Test func aSkippedJudgeInAPassingCaseIsNamed() async throws {
        let sandbox = try Self.sandbox("test-judge-pass")
        let result = try await sandbox.baton(["test", Self.wrong, "--case", "judge"])
        #expect(result.status == 0, "\(result.summary)")
        #expect(
            result.stdout.contains(
                "PASS   \(Self.wrong) › a judge and a passing check [echo]  (1/1 passed, ")
                && result.stdout.contains("\n    skipped: judge [summary]: judge needs a real model"), "\(result.stdout)")
        #expect(result.stdout.hasSuffix("1 passed, 0 failed, 0 errors, 0 skipped\n"))
    }

    /// Ctrl-C while a case runs: its run records the attempt in flight and is an error, no later case starts, the
    /// counts so far end the output, and the exit is 130.
    @Test func ctrlCStopsAfterTheCaseInFlight() async throws {
        let sandbox = try Self.sandbox("test-signal")
        let running = try sandbox.start(["test", Self.folder + "/slow.test.yaml"])
        try #require(try await sandbox.waitForCall(StageRound(stage: "draft", round: 1)))
        try await Task.sleep(for: .milliseconds(250))
        running.send(SIGINT)
        let stopped = await running.wait()
        #expect(stopped.signal == nil, "\(stopped.summary)")
        #expect(stopped.status == 130, "\(stopped.summary)")
        #expect(stopped.stderr.contains("interrupting: recording the attempt in flight"))
        #expect(stopped.stdout.contains("ERROR  \(Self.folder)/slow.test.yaml › a long draft [echo]"), "\(stopped.stdout)")
        #expect(stopped.stdout.contains("    error: the run was interrupted"))
        #expect(!stopped.stdout.contains("never reached"))
        #expect(stopped.stdout.hasSuffix("0 passed, 0 failed, 1 errors, 0 skipped\n"))
        let ids = try await sandbox.runIDs()
        #expect(ids.count == 1)
    }

    /// `--update-snapshots` twice writes the same bytes; an echo run then compares, and a changed stage output is a
    /// failed `snapshot` assertion with the stage's diff.
    @Test func snapshotsAreWrittenOnceAndComparedAfter() async throws {
        let sandbox = try Self.sandbox("test-snapshots")
        for name in ["greet.yaml", "greet.test.yaml"] {
            try FileManager.default.copyItem(atPath: Self.folder + "/" + name, toPath: sandbox.folder + "/" + name)
        }
        let snapshot = sandbox.folder + "/__snapshots__/greet.snap.yaml"
        let first = try await sandbox.baton(["test", "greet.test.yaml", "--update-snapshots"])
        #expect(first.status == 0, "\(first.summary)")
        let written = try String(contentsOfFile: snapshot, encoding: .utf8)
        #expect(try await sandbox.baton(["test", "greet.test.yaml", "--update-snapshots"]).status == 0)
        #expect(try String(contentsOfFile: snapshot, encoding: .utf8) == written)
        #expect(try await sandbox.baton(["test", "greet.test.yaml"]).status == 0)

        let edited = try String(contentsOfFile: sandbox.folder + "/greet.test.yaml", encoding: .utf8)
            .replacingOccurrences(of: "Hello Ada, welcome!", with: "Hello Ada, welcome aboard!")
        try edited.write(toFile: sandbox.folder + "/greet.test.yaml", atomically: true, encoding: .utf8)
        let changed = try await sandbox.baton(["test", "greet.test.yaml"])
        #expect(changed.status == 1, "\(changed.summary)")
        #expect(changed.stdout.contains("    snapshot [draft]: "), "\(changed.stdout)")
        #expect(changed.stdout.contains("        -Hello Ada, welcome!\n        +Hello Ada, welcome aboard!"), "\(changed.stdout)")
    }

    // MARK: - JSON

    @Test func jsonIsTheReportAndTheLinesGoToStandardError() async throws {
        let sandbox = try Self.sandbox("test-json")
        let result = try await sandbox.baton(["test", Self.wrong, "--json"])
        #expect(result.status == 1)
        let report = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
        #expect(report["passed"] as? Int == 1)
        #expect(report["failed"] as? Int == 1)
        let cases = try #require(report["cases"] as? [[String: Any]])
        #expect(cases.map { $0["status"] as? String } == ["failed", "passed"])
        #expect(result.stderr.contains("FAIL   \(Self.wrong) › the draft is not what was expected [echo]"))
        #expect(result.stderr.hasSuffix("1 passed, 1 failed, 0 errors, 0 skipped\n"))
    }

    // MARK: - Usage

    @Test(arguments: [
        (["--repeat", "3"], "echo runs are deterministic"),
        (["--record"], "--record keeps real models' answers"),
        (["--replay", "--record"], "--record and --replay cannot be combined"),
        (["--profile", "ci", "--update-snapshots"], "--update-snapshots writes echo runs' outputs"),
        (["--runtime", "ollama"], "--runtime only takes 'echo'"),
        (["--min-pass-rate", "2"], "--min-pass-rate must be between 0 and 1"),
        (["--replay", "--runtime", "echo"], "--replay answers from recordings"),
        (["--case", "no such case"], "no case name contains 'no such case'"),
    ])
    func aWrongCommandLineExits64(_ extra: [String], _ message: String) async throws {
        let sandbox = try Self.sandbox("test-usage")
        let arguments = ["test", Self.passing] + extra
        // `--record` alone means real models from the file's profile, so it is refused only with --runtime echo.
        let result = try await sandbox.baton(extra == ["--record"] ? arguments + ["--runtime", "echo"] : arguments)
        #expect(result.status == 64, "\(result.summary)")
        #expect(result.stderr.contains(message), "\(result.stderr)")
    }

    @Test func aMissingPathExits66() async throws {
        let sandbox = try Self.sandbox("test-missing")
        let result = try await sandbox.baton(["test", "no/such.test.yaml"])
        #expect(result.status == 66, "\(result.summary)")
        #expect(result.stderr.contains("no/such.test.yaml"))
    }

    @Test func aFolderWithoutTestFilesExits66() async throws {
        let sandbox = try Self.sandbox("test-empty")
        let result = try await sandbox.baton(["test", sandbox.folder])
        #expect(result.status == 66, "\(result.summary)")
        #expect(result.stderr.contains("no test files"))
    }
}
