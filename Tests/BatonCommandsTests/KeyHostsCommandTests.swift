import BatonTestSupport
import Foundation
import Testing

/// Keys bound to hosts through `baton run` on the real binary: a key from an environment variable is refused for a
/// runtime at a loopback stand-in (exit 78, the stand-in receives nothing, no run recorded) until the user allows
/// that host with `baton keys allow`, in their own configuration folder.
@Suite struct KeyHostsCommandTests {
    static let canary = "sk-canary-key-hosts-run-3c9e1f7a"

    @Test func anEnvironmentKeyIsRefusedForALoopbackRuntimeUntilBatonKeysAllowsItsHost() async throws {
        try await OpenAIStandIn.with(apiKey: Self.canary, models: [.init("gpt-test")]) { openAI in
            let folder = NSTemporaryDirectory() + "baton-keyhosts-run-\(UUID().uuidString.prefix(8))"
            try FileManager.default.createDirectory(atPath: folder + "/profiles", withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(atPath: folder) }
            try """
            version: 1
            runtimes:
              cloud: {kind: openai, url: "\(openAI.baseURL)", api_key_env: OPENAI_API_KEY}
            models:
              gpt-test: {runtime: cloud, footprint: 0}
            """.write(toFile: folder + "/profiles/cloud.yaml", atomically: true, encoding: .utf8)
            try """
            version: 1
            stages:
              plan: {model: gpt-test, prompt: "Plan a picnic"}
            """.write(toFile: folder + "/hello.yaml", atomically: true, encoding: .utf8)
            let environment = [
                "BATON_DB": folder + "/runs.sqlite", "BATON_PROFILE_PATH": folder + "/profiles", "XDG_CONFIG_HOME": folder + "/config",
                "BATON_KEY_FILE": folder + "/keys.json.enc", "OPENAI_API_KEY": Self.canary,
            ]
            func baton(_ arguments: [String]) async throws -> BatonProcess.Result {
                let result = try await BatonProcess.run(arguments, in: folder, environment: environment)
                #expect(!result.stdout.contains(Self.canary) && !result.stderr.contains(Self.canary), "\(result.summary)")
                return result
            }
            let host = "127.0.0.1:\(try #require(URLComponents(string: openAI.baseURL)?.port))"

            // Given OPENAI_API_KEY, bound to api.openai.com, and a trusted run (--trust) on a loopback runtime
            let refused = try await baton(["run", "hello.yaml", "--profile", "cloud", "--trust"])

            // Then the run is refused before it exists, naming the fix, and the stand-in received nothing
            #expect(refused.status == 78, "\(refused.summary)")
            #expect(
                refused.stderr.contains("runtime 'cloud' would send the API key from the environment variable OPENAI_API_KEY to \(host)"))
            #expect(refused.stderr.contains("'baton keys allow OPENAI_API_KEY \(host)'"), "\(refused.stderr)")
            #expect(openAI.requests.isEmpty)
            let runs = try await baton(["runs", "--json"])
            let recorded = try JSONSerialization.jsonObject(with: Data(runs.stdout.utf8)) as? [Any]
            #expect(recorded?.isEmpty == true, "a refused run was recorded: \(runs.summary)")

            // When the user allows the host
            let allow = try await baton(["keys", "allow", "OPENAI_API_KEY", host])
            #expect(allow.status == 0, "\(allow.summary)")

            // Then the key is sent there
            let accepted = try await baton(["run", "hello.yaml", "--profile", "cloud", "--trust"])
            #expect(accepted.status == 0, "\(accepted.summary)")
            #expect(openAI.chats.count == 1)
            #expect(openAI.chats.last?.header("authorization") == "Bearer \(Self.canary)")
            let allowances = try String(contentsOfFile: folder + "/config/baton/key-hosts.yaml", encoding: .utf8)
            #expect(allowances.contains(host) && !allowances.contains(Self.canary))
        }
    }
}
