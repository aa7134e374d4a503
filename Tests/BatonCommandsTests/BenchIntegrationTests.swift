import BatonEngine
import BatonTestSupport
import Foundation
import Testing

/// `baton bench` on a real llama-server router serving Gemma 3 270M under three names (gemma-a and gemma-b the
/// candidates, `other` the roles not benchmarked): the figures come out, and the generation speed agrees with what
/// llama-server itself logged for the same calls. Set `BATON_SKIP_INTEGRATION=1` to leave it out.
@Suite(.serialized, .enabled(if: !LlamaRouter.skipped, "BATON_SKIP_INTEGRATION=1"))
struct BenchIntegrationTests {
    /// llama-server's own timings of each call, per model name, from the router's log: a child's lines start with
    /// `[PORT]`, and `spawning server instance with name=NAME on port PORT` says whose port it is.
    static func ownTimings(log: String) -> [String: [(ms: Double, tokens: Int, perSecond: Double)]] {
        var names: [String: String] = [:]
        var timings: [String: [(ms: Double, tokens: Int, perSecond: Double)]] = [:]
        let spawn = /spawning server instance with name=(\S+) on port (\d+)/
        let eval = /^\[(\d+)\].*\seval time =\s+([\d.]+) ms \/\s+(\d+) tokens \(\s*[\d.]+ ms per token,\s+([\d.]+) tokens per second\)/
        for line in log.split(separator: "\n") {
            if let match = line.firstMatch(of: spawn) {
                names[String(match.2)] = String(match.1)
            } else if !line.contains("prompt eval time"), let match = line.firstMatch(of: eval),
                let ms = Double(match.2), let tokens = Int(match.3), let perSecond = Double(match.4)
            {
                timings[names[String(match.1)] ?? String(match.1), default: []].append((ms, tokens, perSecond))
            }
        }
        return timings
    }

    @Test func aBenchOverTwoModelNamesAgreesWithLlamaServersOwnTimings() async throws {
        try await LlamaRouter.with(names: ["gemma-a", "gemma-b", "other"]) { router in
            let folder = NSTemporaryDirectory() + "baton-bench-real-\(UUID().uuidString.prefix(8))"
            defer { try? FileManager.default.removeItem(atPath: folder) }
            try FileManager.default.createDirectory(atPath: folder + "/profiles", withIntermediateDirectories: true)
            let fixtures = RunSandbox.fixtures + "/bench"
            for file in ["steps.yaml", "steps.test.yaml"] {
                try FileManager.default.copyItem(atPath: fixtures + "/" + file, toPath: folder + "/" + file)
            }
            try FileManager.default.copyItem(atPath: fixtures + "/bench-gemma.yaml", toPath: folder + "/profiles/bench-gemma.yaml")
            let environment = [
                "BATON_LLAMA_URL": router.url, "BATON_DB": folder + "/runs.sqlite", "BATON_PROFILE_PATH": folder + "/profiles",
            ]

            let result = try await BatonProcess.run(
                [
                    "bench", "steps.test.yaml", "--profile", "bench-gemma", "--role", "planner=gemma-a,gemma-b", "--repeat", "2",
                    "--json", "--svg", "chart.svg",
                ], in: folder, environment: environment)

            #expect(result.status == 0, "\(result.summary)")
            let document = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
            let rows = try #require(document["results"] as? [[String: Any]])
            #expect(rows.map { $0["model"] as? String } == ["gemma-a", "gemma-b"])
            #expect(FileManager.default.fileExists(atPath: folder + "/chart.svg"))
            #expect(result.stderr.contains("GEN TOK/S"))
            let log = try String(contentsOfFile: router.stateDirectory + "/llama-server.log", encoding: .utf8)
            let own = Self.ownTimings(log: log)
            for row in rows {
                let model = try #require(row["model"] as? String)
                #expect(row["speed_source"] as? String == "runtime")
                #expect(row["repetitions"] as? Int == 6)
                #expect((row["ttft_ms"] as? Double ?? 0) > 0)
                #expect((row["prompt_tps"] as? Double ?? 0) > 0)
                #expect((row["load_ms"] as? Double ?? 0) > 0, "the router loads each name on its first call")
                #expect(row["memory_source"] as? String == "vmhwm")
                #expect((row["peak_rss_bytes"] as? Int ?? 0) > 100 << 20, "a 270M model's server holds over 100 MiB")
                // Only the candidate's planner stages ran on its name, so its process logged exactly those calls.
                let calls = try #require(own[model], "llama-server logged no call of \(model): \(own.keys.sorted())")
                #expect(calls.count >= 6, "one call per planner attempt (a retried call adds one)")
                let totalMs = calls.reduce(0) { $0 + $1.ms }
                let theirs = calls.reduce(0) { $0 + $1.perSecond * $1.ms } / totalMs
                let ours = try #require(row["generation_tps"] as? Double)
                #expect(abs(ours - theirs) / theirs < 0.10, "\(model): baton \(ours) tok/s, llama-server \(theirs) tok/s")
            }
        }
    }
}
