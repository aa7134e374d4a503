import BatonEngine
import BatonTestSupport
import Foundation
import Testing

#if canImport(FoundationXML)
    import FoundationXML
#endif

/// `baton bench` on the echo runtime: a two-role matrix over the bench fixture (steps.yaml and its test file), its
/// table, JSON, chart and rows in the run store, and `--write-profile` on a copy of the fixture's profile.
@Suite struct BenchCommandTests {
    static let fixtures = RunSandbox.fixtures + "/bench"
    static let matrix = [
        "bench", "steps.test.yaml", "--runtime", "echo", "--profile", "bench-gemma", "--role", "planner=gemma-a,gemma-b", "--role",
        "executor=gemma-a,gemma-b",
    ]

    /// A sandbox holding copies of the fixture pipeline, its test file and profile (so the profile can be edited).
    static func sandbox(_ name: String) throws -> RunSandbox {
        let sandbox = try RunSandbox(name)
        try FileManager.default.createDirectory(atPath: sandbox.folder + "/profiles", withIntermediateDirectories: true)
        for file in ["steps.yaml", "steps.test.yaml"] {
            try FileManager.default.copyItem(atPath: fixtures + "/" + file, toPath: sandbox.folder + "/" + file)
        }
        try FileManager.default.copyItem(atPath: fixtures + "/bench-gemma.yaml", toPath: sandbox.folder + "/profiles/bench-gemma.yaml")
        sandbox.environment["BATON_PROFILE_PATH"] = sandbox.folder + "/profiles"
        sandbox.environment["BATON_ECHO_SCRIPT"] = nil
        return sandbox
    }

    @Test func anEchoMatrixPrintsTheTableWritesTheChartAndKeepsTheRows() async throws {
        let sandbox = try Self.sandbox("bench-echo")

        let result = try await sandbox.baton(Self.matrix + ["--svg", "chart.svg"])

        #expect(result.status == 0, "\(result.summary)")
        let lines = result.stdout.split(separator: "\n").map(String.init)
        #expect(lines.first?.hasPrefix("ROLE      MODEL    RUNTIME  CASES  PASS RATE  JUDGE  TTFT MS") == true, "\(result.stdout)")
        let rows = lines.dropFirst().prefix(4).map {
            $0.split(separator: " ", omittingEmptySubsequences: true).prefix(5).joined(separator: " ")
        }
        #expect(
            rows == [
                "planner gemma-a echo 3 100%", "planner gemma-b echo 3 100%", "executor gemma-a echo 3 100%",
                "executor gemma-b echo 3 100%",
            ])
        #expect(result.stdout.contains("* from wall times"))
        #expect(lines.last?.hasPrefix("bench bench-") == true)
        #expect(lines.last?.contains("4 candidates measured; best: planner=") == true)
        #expect(result.stderr.contains("[1/4] planner on gemma-a") && result.stderr.contains("[4/4] executor on gemma-b"))

        // The chart: one labelled point per row.
        let svg = try String(contentsOfFile: sandbox.folder + "/chart.svg", encoding: .utf8)
        let document = try XMLDocument(xmlString: svg, options: [])
        #expect(try document.nodes(forXPath: "//*[local-name()='circle' and @class='point']").count == 4)

        // The rows are in the store, each with the runs it measured; every run is a normal run.
        let store = try RunStore(path: sandbox.db)
        let kept = try store.benchResults()
        #expect(kept.count == 4)
        #expect(Set(kept.map(\.benchID)).count == 1)
        #expect(kept.allSatisfy { $0.result.runIDs.count == 3 })
        let runID = try #require(kept.first?.result.runIDs.first)
        let attempts = try store.attempts(runID)
        #expect(attempts.first { $0.stage == "plan" }?.model == "gemma-a")
        #expect(attempts.first { $0.stage == "answer" }?.model == "other")
    }

    @Test func jsonGoesToStandardOutputAndTheTableToStandardError() async throws {
        let sandbox = try Self.sandbox("bench-json")

        let result = try await sandbox.baton(Self.matrix + ["--json"])

        #expect(result.status == 0, "\(result.summary)")
        let document = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
        #expect(document["mode"] as? String == "echo")
        #expect(document["profile"] as? String == "bench-gemma")
        let results = try #require(document["results"] as? [[String: Any]])
        #expect(
            results.map { "\($0["role"] ?? "")=\($0["model"] ?? "")" } == [
                "planner=gemma-a", "planner=gemma-b", "executor=gemma-a", "executor=gemma-b",
            ])
        #expect(
            results.allSatisfy { $0["pass_rate"] as? Double == 1 && $0["cases"] as? Int == 3 && $0["speed_source"] as? String == "wall" })
        #expect(result.stderr.contains("ROLE      MODEL"))
    }

    @Test func writeProfileWithYesPutsEachWinnerFirstAndChangesNothingElse() async throws {
        let sandbox = try Self.sandbox("bench-write")
        let path = sandbox.folder + "/profiles/bench-gemma.yaml"
        let before = try String(contentsOfFile: path, encoding: .utf8)

        let result = try await sandbox.baton(Self.matrix + ["--write-profile", "--yes"])

        #expect(result.status == 0, "\(result.summary)")
        let after = try String(contentsOfFile: path, encoding: .utf8)
        let best = try #require(result.stdout.split(separator: "\n").last?.components(separatedBy: "best: ").last)
        let winners = Dictionary(
            uniqueKeysWithValues: best.split(separator: " ").map { pair in
                let parts = pair.split(separator: "=").map(String.init)
                return (parts[0], parts[1])
            })
        #expect(Set(winners.keys) == ["planner", "executor"])
        // Only the two `models:` lines changed, each to the winner then the model it had.
        let old = before.components(separatedBy: "\n")
        let new = after.components(separatedBy: "\n")
        #expect(old.count == new.count)
        let changed = zip(old, new).filter { $0 != $1 }
        #expect(changed.map(\.0) == ["    models: [other]", "    models: [other]"])
        #expect(
            changed.map(\.1) == ["    models: [\(winners["planner"] ?? ""), other]", "    models: [\(winners["executor"] ?? ""), other]"])
        #expect(result.stdout.contains("-    models: [other]\n+    models: [\(winners["planner"] ?? ""), other]"))
        #expect(result.stdout.contains("--write-profile: wrote profiles/bench-gemma.yaml"))
    }

    @Test func writeProfileWithoutATerminalOrYesOnlyShowsTheDiff() async throws {
        let sandbox = try Self.sandbox("bench-nowrite")
        let path = sandbox.folder + "/profiles/bench-gemma.yaml"
        let before = try String(contentsOfFile: path, encoding: .utf8)

        let result = try await sandbox.baton(Self.matrix + ["--write-profile"])

        #expect(result.status == 0, "\(result.summary)")
        #expect(try String(contentsOfFile: path, encoding: .utf8) == before)
        #expect(result.stdout.contains("--- a/profiles/bench-gemma.yaml\n+++ b/profiles/bench-gemma.yaml\n@@ "))
        #expect(result.stdout.contains("not written: standard input is not a terminal; run again with --yes"))
    }

    @Test func aRoleNoStageHasStopsTheBenchBeforeAnythingRuns() async throws {
        let sandbox = try Self.sandbox("bench-role")

        let result = try await sandbox.baton([
            "bench", "steps.test.yaml", "--runtime", "echo", "--profile", "bench-gemma", "--role", "writer=gemma-a",
        ])

        #expect(result.status == 64, "\(result.summary)")
        #expect(result.stderr.contains("error: no stage of the tested pipelines has role 'writer'; their roles are 'executor', 'planner'"))
        let runs = FileManager.default.fileExists(atPath: sandbox.db) ? try RunStore(path: sandbox.db).runs() : []
        #expect(runs.isEmpty)
    }

    @Test func aBenchFileRunsAndItsMistakesAreLocated() async throws {
        let sandbox = try Self.sandbox("bench-file")
        try "tests: [steps.test.yaml]\nprofile: bench-gemma\nroles:\n  planner: [gemma-b]\n".write(
            toFile: sandbox.folder + "/bench.yaml", atomically: true, encoding: .utf8)
        try "tests: [steps.test.yaml]\nroles:\n  planner: gemma-b\nrepeat: 0\n".write(
            toFile: sandbox.folder + "/wrong.yaml", atomically: true, encoding: .utf8)

        let good = try await sandbox.baton(["bench", "--file", "bench.yaml", "--runtime", "echo"])
        let wrong = try await sandbox.baton(["bench", "--file", "wrong.yaml", "--runtime", "echo"])

        #expect(good.status == 0, "\(good.summary)")
        #expect(good.stdout.contains("planner  gemma-b  echo         3       100%"))
        #expect(wrong.status == 65)
        #expect(wrong.stderr.contains("wrong.yaml:4:9: error: 'repeat' is a whole number of at least 1"), "\(wrong.stderr)")
    }
}
