import BatonTestSupport
import Foundation
import Testing

/// Canary keys through the whole run path of the real binary: a key from the encrypted key file, a key
/// from an environment variable, and a wrong key that the API echoes back in its 401. None of them may
/// reach the run database (with its WAL), standard output or error, an event, `show` in any format, or
/// an error message.
@Suite struct CanaryKeyTests {
    static let fileCanary = "sk-canary-from-the-key-file-5b1f0c9e"
    static let envCanary = "sk-ant-canary-from-the-environment-77d2"
    static let wrongCanary = "sk-canary-wrong-key-echoed-by-the-api-a4e8"
    static let canaries = [fileCanary, envCanary, wrongCanary]

    final class Folder: @unchecked Sendable {
        let path = NSTemporaryDirectory() + "baton-canary-\(UUID().uuidString.prefix(8))"
        init() throws { try FileManager.default.createDirectory(atPath: path + "/profiles", withIntermediateDirectories: true) }
        deinit { try? FileManager.default.removeItem(atPath: path) }
    }

    /// Runs baton in `folder` with its database, key file and passphrase, the environment key, and `stdin`.
    static func baton(_ arguments: [String], in folder: Folder, stdin: String = "") async throws -> BatonProcess.Result {
        let input = folder.path + "/stdin-\(UUID().uuidString.prefix(8))"
        try Data(stdin.utf8).write(to: URL(fileURLWithPath: input))
        defer { try? FileManager.default.removeItem(atPath: input) }
        let environment = [
            "BATON_DB": folder.path + "/runs.sqlite", "BATON_KEY_FILE": folder.path + "/keys.json.enc",
            "BATON_KEY_PASSPHRASE": "correct horse battery staple", "BATON_PROFILE_PATH": folder.path + "/profiles",
            "ANTHROPIC_CANARY_KEY": envCanary, "WRONG_CANARY_KEY": wrongCanary, "BATON_TEST_STDIN": input,
            "BATON_PROGRESS_INTERVAL": "0", "XDG_CONFIG_HOME": folder.path + "/config",
        ]
        let result = try await BatonProcess.run(
            arguments, in: folder.path, environment: environment,
            launcher: ["/bin/sh", "-c", #"exec "$0" "$@" < "$BATON_TEST_STDIN""#])
        for canary in canaries {
            #expect(!result.stdout.contains(canary), "a key is on stdout of baton \(arguments): \(result.summary)")
            #expect(!result.stderr.contains(canary), "a key is on stderr of baton \(arguments): \(result.summary)")
        }
        return result
    }

    @Test func noKeyReachesTheDatabaseTheOutputTheEventsOrAnError() async throws {
        try await OpenAIStandIn.with(apiKey: Self.fileCanary, models: [.init("gpt-test")]) { openAI in
            try await AnthropicStandIn.with(apiKey: Self.envCanary, models: [.init("claude-test")]) { anthropic in
                // Given a profile whose OpenAI key is in the key file, whose Anthropic key is in the
                // environment, and a third runtime whose key the API rejects (and echoes)
                let folder = try Folder()
                try """
                version: 1
                runtimes:
                  cloud: {kind: openai, url: "\(openAI.baseURL)"}
                  claude: {kind: anthropic, url: "\(anthropic.baseURL)", api_key_env: ANTHROPIC_CANARY_KEY}
                  wrong: {kind: openai, url: "\(openAI.baseURL)", api_key_env: WRONG_CANARY_KEY}
                models:
                  gpt-test: {runtime: cloud, footprint: 0}
                  claude-test: {runtime: claude, footprint: 0}
                """.write(toFile: folder.path + "/profiles/canary.yaml", atomically: true, encoding: .utf8)
                try """
                version: 1
                stages:
                  plan: {model: gpt-test, prompt: "Plan a picnic"}
                  review: {model: claude-test, reviews: plan, max_rounds: 1, prompt: "Review {{stages.plan.output}}"}
                """.write(toFile: folder.path + "/ok.yaml", atomically: true, encoding: .utf8)
                try """
                version: 1
                stages:
                  plan: {model: "wrong:gpt-test", retry: {max_attempts: 1}, prompt: "Plan a picnic"}
                """.write(toFile: folder.path + "/rejected.yaml", atomically: true, encoding: .utf8)
                // The stand-ins' hosts are allowed for the keys the way a user would: the key file's key bound with
                // --host, the variables' keys with 'baton keys allow' (in the folder's own configuration folder).
                let openAIHost = "127.0.0.1:\(try #require(URLComponents(string: openAI.baseURL)?.port))"
                let anthropicHost = "127.0.0.1:\(try #require(URLComponents(string: anthropic.baseURL)?.port))"
                let set = try await Self.baton(["keys", "set", "cloud", "--host", openAIHost], in: folder, stdin: Self.fileCanary + "\n")
                #expect(set.status == 0, "\(set.summary)")
                for (variable, host) in [("ANTHROPIC_CANARY_KEY", anthropicHost), ("WRONG_CANARY_KEY", openAIHost)] {
                    let allow = try await Self.baton(["keys", "allow", variable, host], in: folder)
                    #expect(allow.status == 0, "\(allow.summary)")
                }

                // When one run succeeds on both clouds and one fails on the rejected key
                let ok = try await Self.baton(["run", "ok.yaml", "--profile", "canary", "--trust"], in: folder)
                let okJSON = try await Self.baton(["run", "ok.yaml", "--profile", "canary", "--json", "--trust"], in: folder)
                let rejected = try await Self.baton(["run", "rejected.yaml", "--profile", "canary", "--trust"], in: folder)

                // Then the keys were used (the stand-ins only answer the right key)...
                #expect(ok.status == 0, "\(ok.summary)")
                #expect(okJSON.status == 0, "\(okJSON.summary)")
                #expect(openAI.chats.contains { $0.header("authorization") == "Bearer \(Self.fileCanary)" })
                #expect(anthropic.requests.contains { $0.header("x-api-key") == Self.envCanary })
                // ...the API did echo the wrong key, and the failure says what to fix without it
                #expect(rejected.status == 1, "\(rejected.summary)")
                #expect(openAI.requests.contains { $0.header("authorization") == "Bearer \(Self.wrongCanary)" })
                #expect(rejected.stderr.contains("WRONG_CANARY_KEY"), "\(rejected.stderr)")
                #expect(rejected.stderr.contains("[redacted]"), "\(rejected.stderr)")

                // And nothing Baton shows or stores afterwards holds a key
                let ids = try await Self.baton(["runs", "--json"], in: folder)
                let runs = try #require(try JSONSerialization.jsonObject(with: Data(ids.stdout.utf8)) as? [[String: Any]])
                #expect(runs.count == 3)
                for run in runs.compactMap({ $0["id"] as? String }) {
                    for format in ["text", "json", "markdown"] {
                        let show = try await Self.baton(["show", run, "--format", format], in: folder)
                        #expect(show.status == 0)
                    }
                }
                _ = try await Self.baton(["keys", "list", "--json"], in: folder)
                let searched = assertNoCanary(in: folder.path, canary: Self.fileCanary)
                assertNoCanary(in: folder.path, canary: Self.envCanary)
                assertNoCanary(in: folder.path, canary: Self.wrongCanary)
                // The database, its WAL, the key file and the key-host allowances were among the files searched.
                #expect(searched >= 4)
                #expect(FileManager.default.fileExists(atPath: folder.path + "/config/baton/key-hosts.yaml"))
                #expect(FileManager.default.fileExists(atPath: folder.path + "/keys.json.enc"))
            }
        }
    }
}
