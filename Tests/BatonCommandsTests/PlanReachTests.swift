import BatonTestSupport
import Foundation
import Testing

/// `baton plan` says what a run would reach (issue 18, item 3): hosts with their runtimes and stages, keys by name,
/// commands and MCP servers; in text and JSON, with `--offline`, and never a key's value.
@Suite struct PlanReachTests {
    static let profile = RunSandbox.fixtures + "/golden/reach.yaml"

    @Test func planListsHostsKeysAndCommandsAfterTheSchedule() async throws {
        try await GoldenOutputTests.checkCommand(
            ["plan", RunSandbox.pipeline, "--profile", Self.profile, "--offline"], golden: "plan-reach.txt")
    }

    @Test func planJSONHasTheReachWithKeysByNameOnly() async throws {
        let sandbox = try RunSandbox("plan-reach-json")
        // A key in the environment must not show: only its variable's name does.
        let canary = "sk-canary-plan-reach-\(UUID().uuidString)"
        let result = try await sandbox.baton(
            ["plan", RunSandbox.pipeline, "--profile", Self.profile, "--offline", "--json"],
            ["OPENAI_API_KEY": canary, "BATON_KEY_FILE": sandbox.folder + "/absent.enc"])

        #expect(result.status == 0, "\(result.stderr)")
        #expect(!result.stdout.contains(canary) && !result.stderr.contains(canary))
        let document = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
        let reach = try #require(document["reach"] as? [String: Any])
        let runtimes = try #require(reach["runtimes"] as? [[String: Any]])
        #expect(runtimes.map { $0["name"] as? String } == ["local", "same-box", "gpt", "claude", "echo"])
        let gpt = try #require(runtimes.first { $0["name"] as? String == "gpt" })
        #expect(gpt["host"] as? String == "api.openai.com")
        #expect(gpt["port"] as? Int == 443)
        #expect(gpt["loopback"] as? Bool == false)
        #expect(gpt["stages"] as? [String] == ["review"])
        let local = try #require(runtimes.first { $0["name"] as? String == "local" })
        #expect(local["loopback"] as? Bool == true)
        let echo = try #require(runtimes.first { $0["name"] as? String == "echo" })
        #expect(echo["host"] is NSNull)
        let keys = try #require(reach["keys"] as? [[String: Any]])
        #expect(keys.map { $0["runtime"] as? String } == ["gpt", "claude"])
        #expect(keys.first?["environment_variable"] as? String == "OPENAI_API_KEY")
        #expect(keys.first?["key_file_entries"] as? [String] == ["gpt", "OPENAI_API_KEY"])
        #expect(keys.last?["destination"] as? String == "api.anthropic.com:443")
        #expect((reach["commands"] as? [Any])?.isEmpty == true)
    }

    @Test func anEchoOnlyPlanReachesNothing() async throws {
        let sandbox = try RunSandbox("plan-reach-echo")
        let result = try await sandbox.baton(["plan", RunSandbox.pipeline, "--profile", "ci"])

        #expect(result.status == 0, "\(result.stderr)")
        #expect(
            result.stdout.contains(
                "\nhosts a run would contact:\n  none  inside baton  runtime echo (echo) for plan, review, facts, report\n"))
        #expect(result.stdout.contains("\nkeys a run would use: none\n"))
        #expect(result.stdout.hasSuffix("\ncommands and MCP servers a run would start: none\n"))
    }
}
