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
                try sandbox.seed(["cloud": openAIKey, "claude": anthropicKey], boundTo: [openAI.baseURL, anthropic.baseURL])
                let profile = try Self.profile(in: sandbox, openAI: openAI.baseURL, anthropic: anthropic.baseURL)

                let cloud = try await sandbox.baton(["keys", "test", "cloud", "--profile", profile])
                #expect(cloud.status == 0, "\(cloud.summary)")
                #expect(
                    cloud.stdout == "valid: \(openAI.baseURL)/models accepted the key from the key file entry 'cloud' (2 models listed)\n")
                // One request, the one a run would authenticate with.
                #expect(openAI.requests.map { "\($0.method) \($0.path)" } == ["GET /v1/models"])
                #expect(openAI.requests.first?.header("authorization") == "Bearer \(openAIKey)")

                let claude = try await sandbox.baton(["keys", "test", "claude", "--profile", profile, "--json"])
                #expect(claude.status == 0, "\(claude.summary)")
                let object = try #require(try JSONSerialization.jsonObject(with: Data(claude.stdout.utf8)) as? [String: Any])
                #expect(object["verdict"] as? String == "valid")
                #expect(object["status"] as? Int == 200)
                #expect(object["runtime"] as? String == "claude")
                #expect(object["key_source"] as? String == "the key file entry 'claude'")
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
                try sandbox.seed(["cloud": wrong], boundTo: [openAI.baseURL])
                let profile = try Self.profile(
                    in: sandbox, openAI: openAI.baseURL, anthropic: anthropic.baseURL, claudeVariable: "CLAUDE_TEST_KEY")
                let port = try #require(URLComponents(string: anthropic.baseURL)?.port)
                let allow = try await sandbox.baton(["keys", "allow", "CLAUDE_TEST_KEY", "127.0.0.1:\(port)"])
                #expect(allow.status == 0, "\(allow.summary)")

                // The stand-ins echo a wrong key in their 401 messages, as OpenAI does; the sandbox checks no secret is printed.
                let cloud = try await sandbox.baton(["keys", "test", "cloud", "--profile", profile])
                #expect(cloud.status == 77, "\(cloud.summary)")
                #expect(
                    cloud.stdout.hasPrefix(
                        "rejected: \(openAI.baseURL)/models rejected the API key (401: Incorrect API key provided: [redacted]"))
                #expect(
                    cloud.stdout.contains("check the key in the key file entry 'cloud' ('baton keys set cloud' replaces the stored one)"))

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
        try sandbox.seed(["cloud": key, "claude": key], boundTo: [openAIURL, anthropicURL])
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

    // MARK: - Keys bound to hosts

    @Test func aKeyFileKeySetWithHostIsTestedThereAndRefusedWith78ForAnotherHostWhichReceivesNothing() async throws {
        let key = KeysCommandTests.canary("bound")
        try await OpenAIStandIn.with(apiKey: key, models: [.init("gpt-a")]) { openAI in
            let sandbox = try KeysCommandTests.KeySandbox("test-bound")
            let port = try #require(URLComponents(string: openAI.baseURL)?.port)
            // Given a key set with --host localhost:PORT
            let set = try await sandbox.baton(["keys", "set", "cloud", "--host", "localhost:\(port)"], stdin: key + "\n")
            sandbox.secrets.append(key)
            #expect(set.status == 0, "\(set.summary)")
            #expect(set.stdout.hasSuffix("it may be sent to localhost:\(port)\n"), "\(set.stdout)")
            let list = try await sandbox.baton(["keys", "list"])
            #expect(list.stdout == "cloud  localhost:\(port)\n", "\(list.summary)")
            let json = try await sandbox.baton(["keys", "list", "--json"])
            #expect(json.stdout.contains("\"localhost:\(port)\""), "\(json.stdout)")

            // When a profile points the runtime at that host, the key is tested there
            let there = try Self.profile(in: sandbox, openAI: "http://localhost:\(port)/v1", anthropic: "https://api.anthropic.com")
            let valid = try await sandbox.baton(["keys", "test", "cloud", "--profile", there])
            #expect(valid.status == 0, "\(valid.summary)")
            #expect(openAI.requests.count == 1)

            // And at another host (127.0.0.1, the same server) it is refused before any request
            let elsewhere = try Self.profile(in: sandbox, openAI: "http://127.0.0.1:\(port)/v1", anthropic: "https://api.anthropic.com")
            let refused = try await sandbox.baton(["keys", "test", "cloud", "--profile", elsewhere])
            #expect(refused.status == 78, "\(refused.summary)")
            #expect(openAI.requests.count == 1, "the refused host received a request")
            #expect(refused.stderr.contains("runtime 'cloud' would send the API key from the key file entry 'cloud' to 127.0.0.1:\(port)"))
            #expect(
                refused.stderr.contains("'baton keys set cloud --host localhost:\(port) --host 127.0.0.1:\(port)'"), "\(refused.stderr)")
        }
    }

    @Test func keysAllowRecordsAHostForAVariableOnlyInTheUsersConfigAndRevokeRemovesIt() async throws {
        let sandbox = try KeysCommandTests.KeySandbox("allow")
        let path = sandbox.folder + "/xdg/baton/key-hosts.yaml"
        var result = try await sandbox.baton(["keys", "allow", "OPENAI_API_KEY", "LLM.example.com:8443"])
        #expect(result.status == 0, "\(result.summary)")
        #expect(result.stdout == "the key in OPENAI_API_KEY may be sent to llm.example.com:8443 (\(path))\n")
        #expect(try sandbox.mode(path) == 0o600)
        let text = try String(contentsOfFile: path, encoding: .utf8)
        #expect(text.contains("version: 1") && text.contains(#"OPENAI_API_KEY: ["llm.example.com:8443"]"#), "\(text)")

        result = try await sandbox.baton(["keys", "hosts"])
        #expect(result.stdout.contains("OPENAI_API_KEY  api.openai.com") && result.stdout.contains("OPENAI_API_KEY  llm.example.com:8443"))

        // A key pasted where the variable's name goes is refused, so it is never written to the file.
        let pasted = KeysCommandTests.canary("pasted")
        sandbox.secrets.append(pasted)
        result = try await sandbox.baton(["keys", "allow", pasted, "llm.example.com"])
        #expect(result.status == 64, "\(result.summary)")
        #expect(!(try String(contentsOfFile: path, encoding: .utf8)).contains(pasted))

        result = try await sandbox.baton(["keys", "allow", "OPENAI_API_KEY", "llm.example.com:8443", "--revoke"])
        #expect(result.status == 0, "\(result.summary)")
        result = try await sandbox.baton(["keys", "allow", "OPENAI_API_KEY", "llm.example.com:8443", "--revoke"])
        #expect(result.status == 66, "\(result.summary)")

        // A damaged file is an error naming it, never "allow everything".
        try "version: 1\nkeys: [everything]\n".write(toFile: path, atomically: true, encoding: .utf8)
        result = try await sandbox.baton(["keys", "hosts"])
        #expect(result.status == 78 && result.stderr.contains(path), "\(result.summary)")
    }
}
