import BatonTestSupport
import Foundation
import Testing

@testable import BatonEngine

/// `baton keys test NAME` on the real binary against the OpenAI and Anthropic stand-ins: one `GET /v1/models` with
/// the key a run would send, reported as valid (0), rejected (77) or unreachable (69), the key never printed even
/// when the API echoes it back in its 401.
@Suite struct KeysTestCommandTests {
    /// Writes a profile with an OpenAI-compatible runtime `cloud`, an Anthropic runtime `claude` and an Ollama runtime
    /// `local`, and returns its path (given to `--profile`).
    static func profile(in sandbox: KeysCommandTests.KeySandbox, openAI: String, anthropic: String, claudeVariable: String? = nil) throws
        -> String
    {
        let path = sandbox.folder + "/work/cloud.yaml"
        let variable = claudeVariable.map { ", api_key_env: \($0)" } ?? ""
        try """
        version: 1
        runtimes:
          cloud: {kind: openai, url: "\(openAI)"}
          claude: {kind: anthropic, url: "\(anthropic)"\(variable)}
          local: {kind: ollama, url: "http://127.0.0.1:9"}
        """.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    @Test func aKeyTheProviderAcceptsIsValidAndExits0() async throws {
        let openAIKey = KeysCommandTests.canary("test-openai")
        let anthropicKey = KeysCommandTests.canary("test-anthropic")
        try await OpenAIStandIn.with(apiKey: openAIKey, models: [.init("gpt-a"), .init("gpt-b")]) { openAI in
            try await AnthropicStandIn.with(apiKey: anthropicKey, models: [.init("claude-test")]) { anthropic in
                let sandbox = try KeysCommandTests.KeySandbox("test-valid")
                try sandbox.seed(["cloud": openAIKey, "claude": anthropicKey])
                let profile = try Self.profile(in: sandbox, openAI: openAI.baseURL, anthropic: anthropic.baseURL)

                let cloud = try await sandbox.baton(["keys", "test", "cloud", "--profile", profile])
                #expect(cloud.status == 0, "\(cloud.summary)")
                #expect(cloud.stdout == "valid: \(openAI.baseURL)/models accepted the key from the key file (2 models listed)\n")
                // One request, the one a run would authenticate with.
                #expect(openAI.requests.map { "\($0.method) \($0.path)" } == ["GET /v1/models"])
                #expect(openAI.requests.first?.header("authorization") == "Bearer \(openAIKey)")

                let claude = try await sandbox.baton(["keys", "test", "claude", "--profile", profile, "--json"])
                #expect(claude.status == 0, "\(claude.summary)")
                let object = try #require(try JSONSerialization.jsonObject(with: Data(claude.stdout.utf8)) as? [String: Any])
                #expect(object["verdict"] as? String == "valid")
                #expect(object["status"] as? Int == 200)
                #expect(object["runtime"] as? String == "claude")
                #expect(object["key_source"] as? String == "the key file")
                #expect(anthropic.requests.count == 1)
                #expect(anthropic.requests.first?.header("x-api-key") == anthropicKey)
                #expect(anthropic.requests.first?.header("anthropic-version") == AnthropicClient.apiVersion)
            }
        }
    }

    @Test func aKeyTheProviderRefusesIsRejectedWithTheAPIsMessageScrubbedAndExits77() async throws {
        let good = KeysCommandTests.canary("good")
        try await OpenAIStandIn.with(apiKey: good, models: [.init("gpt-a")]) { openAI in
            try await AnthropicStandIn.with(apiKey: good, models: [.init("claude-test")]) { anthropic in
                let sandbox = try KeysCommandTests.KeySandbox("test-rejected")
                let wrong = KeysCommandTests.canary("wrong")
                let wrongInEnvironment = KeysCommandTests.canary("wrong-env")
                sandbox.secrets.append(wrongInEnvironment)
                try sandbox.seed(["cloud": wrong])
                let profile = try Self.profile(
                    in: sandbox, openAI: openAI.baseURL, anthropic: anthropic.baseURL, claudeVariable: "CLAUDE_TEST_KEY")

                // The stand-ins echo a wrong key in their 401 messages, as OpenAI does; the sandbox checks no secret is printed.
                let cloud = try await sandbox.baton(["keys", "test", "cloud", "--profile", profile])
                #expect(cloud.status == 77, "\(cloud.summary)")
                #expect(
                    cloud.stdout.hasPrefix(
                        "rejected: \(openAI.baseURL)/models rejected the API key (401: Incorrect API key provided: [redacted]"))
                #expect(cloud.stdout.contains("check the key in the key file ('baton keys set cloud' replaces the stored one)"))

                let claude = try await sandbox.baton(
                    ["keys", "test", "claude", "--profile", profile], environment: ["CLAUDE_TEST_KEY": wrongInEnvironment])
                #expect(claude.status == 77, "\(claude.summary)")
                #expect(
                    claude.stdout.hasPrefix(
                        "rejected: \(anthropic.baseURL)/v1/models?limit=1000 rejected the API key (401: invalid x-api-key: [redacted])"),
                    "\(claude.stdout)")
                #expect(claude.stdout.contains("[redacted]") && claude.stdout.contains("the environment variable CLAUDE_TEST_KEY"))
            }
        }
    }

    @Test func aProviderThatCannotBeReachedIsUnreachableAndExits69() async throws {
        let key = KeysCommandTests.canary("unreachable")
        let openAI = try await OpenAIStandIn.start(apiKey: key, models: [.init("gpt-a")])
        let anthropic = try await AnthropicStandIn.start(apiKey: key, models: [.init("claude-test")])
        let (openAIURL, anthropicURL) = (openAI.baseURL, anthropic.baseURL)
        await openAI.stop()
        await anthropic.stop()
        let sandbox = try KeysCommandTests.KeySandbox("test-unreachable")
        try sandbox.seed(["cloud": key, "claude": key])
        let profile = try Self.profile(in: sandbox, openAI: openAIURL, anthropic: anthropicURL)
        for runtime in ["cloud", "claude"] {
            let result = try await sandbox.baton(["keys", "test", runtime, "--profile", profile, "--json"])
            #expect(result.status == 69, "\(result.summary)")
            let object = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
            #expect(object["verdict"] as? String == "unreachable")
            #expect(object["status"] == nil, "no HTTP answer came")
        }
    }

    @Test func noKeyALocalRuntimeOrAnUnknownNameSayWhatToDo() async throws {
        let sandbox = try KeysCommandTests.KeySandbox("test-problems")
        try sandbox.seed(["other": KeysCommandTests.canary("other")])
        let profile = try Self.profile(in: sandbox, openAI: "http://127.0.0.1:9/v1", anthropic: "http://127.0.0.1:9")

        let noKey = try await sandbox.baton(["keys", "test", "cloud", "--profile", profile])
        #expect(noKey.status == 77, "\(noKey.summary)")
        #expect(noKey.stderr.contains("runtime 'cloud' has no API key to test; run 'baton keys set cloud'"), "\(noKey.stderr)")

        let local = try await sandbox.baton(["keys", "test", "local", "--profile", profile])
        #expect(local.status == 64, "\(local.summary)")
        #expect(local.stderr.contains("runtime 'local' has kind ollama, which takes no API key"), "\(local.stderr)")

        let unknown = try await sandbox.baton(["keys", "test", "claud", "--profile", profile])
        #expect(unknown.status == 66, "\(unknown.summary)")
        #expect(unknown.stderr.contains("has no runtime 'claud'; did you mean 'claude'?"), "\(unknown.stderr)")

        // A key file that does not open is the key file's error, before any request.
        let locked = try await sandbox.baton(["keys", "test", "cloud", "--profile", profile], passphrase: "not the passphrase")
        #expect(locked.status == 77, "\(locked.summary)")
        #expect(locked.stderr.contains("cannot unlock the key file \(sandbox.keyFile): wrong passphrase"), "\(locked.stderr)")
        #expect(locked.stdout.isEmpty)
    }
}
