import BatonTestSupport
import Foundation
import Testing

@testable import BatonEngine
@testable import BatonSpec

/// Keys bound to hosts (issue 18, item 1): a key goes only to its provider's official host, the hosts a key-file
/// entry records, or hosts the user allows for a variable in `key-hosts.yaml`; anything else is refused before a
/// client is made, and a redirect never carries a key on.
@Suite struct KeyHostsTests {
    static let key = "sk-proj-canary-keyhosts-0123456789abcdefWXYZ"
    static let passphrase = "correct horse battery staple"

    /// A temporary folder, deleted when the test ends.
    final class Sandbox {
        let folder = NSTemporaryDirectory() + "baton-keyhosts-\(UUID().uuidString)"
        init() throws { try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true) }
        deinit { try? FileManager.default.removeItem(atPath: folder) }
        var environment: [String: String] { ["XDG_CONFIG_HOME": folder + "/config", "HOME": folder] }
    }

    static func model(_ name: String, runtime: String) -> ResolvedModel { ResolvedModel(name: name, runtime: runtime, footprint: nil) }

    /// The key file's source over `file`, unlocked with ``passphrase``.
    static func source(_ file: KeyFile) -> KeyFileSource {
        KeyFileSource(environment: [:], keyFile: file) { _ throws(KeyFileError) in KeyHostsTests.passphrase }
    }

    // MARK: - Key-file keys

    @Test func aKeyFileKeyBoundWithHostIsSentToThatHostAndRefusedForAnother() async throws {
        let sandbox = try Sandbox()
        try await OpenAIStandIn.with(apiKey: Self.key, models: [.init("gpt-test")]) { standIn in
            // Given a key-file key bound to localhost:PORT (as 'baton keys set gpt --host localhost:PORT' records it)
            let port = try #require(URLComponents(string: standIn.baseURL)?.port)
            let file = KeyFile(path: sandbox.folder + "/keys.json.enc", scrypt: KeyFileTests.fast)
            let bound = try #require(KeyHost(parsing: "localhost:\(port)"))
            try file.write(entries: ["gpt": KeyFileEntry(key: Self.key, hosts: [bound])], passphrase: Self.passphrase)
            // The hosts are inside the sealed part: the file shows neither them nor the key.
            let bytes = try String(contentsOfFile: file.path, encoding: .utf8)
            #expect(!bytes.contains("localhost") && !bytes.contains(Self.key))

            // When a runtime at that host asks for it, the request carries it
            let there = try Cloud.snapshot(
                openAIURL: "http://localhost:\(port)/v1", anthropicURL: "https://api.anthropic.com", openAIKeyEnv: nil)
            let catalog = RuntimeCatalog(environment: [:], keys: Self.source(file), keyHosts: KeyHostPolicy())
            try catalog.checkKeyHosts(for: there)
            let gpt = try catalog.runtime(for: Self.model("gpt-test", runtime: "gpt"), snapshot: there)
            #expect(await Cloud.run(gpt, Cloud.request("gpt-test")).error == nil)
            #expect(standIn.chats.count == 1)
            #expect(standIn.chats.last?.header("authorization") == "Bearer \(Self.key)")

            // And a runtime at another host (127.0.0.1, the same server) is refused before anything is sent
            let elsewhere = try Cloud.snapshot(
                openAIURL: "http://127.0.0.1:\(port)/v1", anthropicURL: "https://api.anthropic.com", openAIKeyEnv: nil)
            let other = RuntimeCatalog(environment: [:], keys: Self.source(file), keyHosts: KeyHostPolicy())
            #expect(throws: KeyHostRefusal.self) { try other.checkKeyHosts(for: elsewhere) }
            let refusal = try #require(
                Self.refusal { _ = try other.runtime(for: Self.model("gpt-test", runtime: "gpt"), snapshot: elsewhere) })
            #expect(standIn.requests.count == 1)
            let message = refusal.description
            #expect(message.contains("runtime 'gpt'"))
            #expect(message.contains("127.0.0.1:\(port)"))
            #expect(message.contains("the key file entry 'gpt'"))
            #expect(message.contains("baton keys set gpt --host localhost:\(port) --host 127.0.0.1:\(port)"))
            #expect(!message.contains(Self.key))
        }
    }

    @Test func aVersion1KeyFileStillReadsWithDefaultHostsAndIsRewrittenAsVersion2WithTheHosts() throws {
        let sandbox = try Sandbox()
        let file = KeyFile(path: sandbox.folder + "/keys.json.enc", scrypt: KeyFileTests.fast)
        // Given a file written by the Baton before keys had hosts
        try file.write(
            entries: ["openai": KeyFileEntry(key: Self.key), "OTHER": KeyFileEntry(key: "k2")], passphrase: Self.passphrase, version: 1)
        let old = try #require(try file.load())
        #expect(old.version == 1)

        // Then every key reads, with no recorded hosts (its default host applies)
        let entries = try old.unlockEntries(passphrase: Self.passphrase)
        #expect(entries["openai"] == KeyFileEntry(key: Self.key, hosts: nil))
        #expect(try old.unlock(passphrase: Self.passphrase) == ["openai": Self.key, "OTHER": "k2"])
        let runtime = RuntimeSpec(name: "openai", kind: .openai, url: "https://api.openai.com/v1", apiKeyEnv: nil, options: [:])
        let found = try #require(try Self.source(file).apiKey(for: runtime))
        #expect(found.origin == .keyFile(entry: "openai", hosts: nil))
        #expect(KeyHostPolicy.boundHosts(for: found.origin, kind: .openai) == [KeyHosts.official(kind: .openai)])

        // And the next write is version 2 and keeps hosts bound since
        var updated = entries
        updated["OTHER"]?.hosts = [try #require(KeyHost(parsing: "llm.example.com"))]
        try file.write(entries: updated, passphrase: Self.passphrase)
        let new = try #require(try file.load())
        #expect(new.version == 2)
        #expect(try new.unlockEntries(passphrase: Self.passphrase) == updated)
    }

    // MARK: - Environment keys

    @Test func anEnvironmentKeyIsRefusedForALoopbackRuntimeUntilTheUserAllowsItsHost() async throws {
        let sandbox = try Sandbox()
        try await OpenAIStandIn.with(apiKey: Self.key, models: [.init("gpt-test")]) { standIn in
            let port = try #require(URLComponents(string: standIn.baseURL)?.port)
            let snapshot = try Cloud.snapshot(openAIURL: standIn.baseURL, anthropicURL: "https://api.anthropic.com")
            var environment = sandbox.environment
            environment["OPENAI_TEST_KEY"] = Self.key

            // Without an allowance, the key would go to its kind's official host only
            let refused = RuntimeCatalog(environment: environment)
            let refusal = try #require(Self.refusal { try refused.checkKeyHosts(for: snapshot) })
            #expect(refusal.description.contains("the environment variable OPENAI_TEST_KEY"))
            #expect(refusal.fix == "baton keys allow OPENAI_TEST_KEY 127.0.0.1:\(port)")
            #expect(Self.refusal { _ = try refused.runtime(for: Self.model("gpt-test", runtime: "gpt"), snapshot: snapshot) } != nil)
            #expect(standIn.requests.isEmpty)

            // When the user allows the host in their own configuration folder (what 'baton keys allow' writes)
            var allowances = KeyHostAllowances()
            allowances.allow(try #require(KeyHost(parsing: "127.0.0.1:\(port)")), for: "OPENAI_TEST_KEY")
            let path = KeyHostAllowances.path(environment: environment)
            #expect(path == sandbox.folder + "/config/baton/key-hosts.yaml")
            try allowances.save(to: path)

            // Then the key is sent there
            let allowed = RuntimeCatalog(environment: environment)
            try allowed.checkKeyHosts(for: snapshot)
            let gpt = try allowed.runtime(for: Self.model("gpt-test", runtime: "gpt"), snapshot: snapshot)
            #expect(await Cloud.run(gpt, Cloud.request("gpt-test")).error == nil)
            #expect(standIn.chats.count == 1)
            let text = try String(contentsOfFile: path, encoding: .utf8)
            #expect(text.contains("OPENAI_TEST_KEY") && !text.contains(Self.key))
            let mode = try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int
            #expect(mode == 0o600)
        }
    }

    @Test func officialHostsNeedHttpsOnPort443AndCompareWithoutCase() throws {
        let policy = KeyHostPolicy()
        func allowed(_ variable: String, _ kind: RuntimeSpec.Kind, _ url: String) -> Bool {
            let key = APIKey(value: Self.key, origin: .environment(variable: variable))
            return (try? policy.check(key, runtime: "r", kind: kind, url: url)) != nil
        }
        #expect(allowed("OPENAI_API_KEY", .openai, "https://API.OpenAI.com/v1"))
        #expect(allowed("OPENAI_API_KEY", .openai, "https://api.openai.com:443/v1"))
        #expect(!allowed("OPENAI_API_KEY", .openai, "http://api.openai.com/v1"))
        #expect(!allowed("OPENAI_API_KEY", .openai, "https://api.openai.com:8443/v1"))
        #expect(!allowed("OPENAI_API_KEY", .openai, "https://api.openai.com.evil.example/v1"))
        #expect(!allowed("OPENAI_API_KEY", .openai, "https://evil.example/api.openai.com/v1"))
        // The variable's provider wins over the runtime's kind: a Groq key goes to Groq only.
        #expect(allowed("GROQ_API_KEY", .openai, "https://api.groq.com/openai/v1"))
        #expect(!allowed("GROQ_API_KEY", .openai, "https://api.openai.com/v1"))
        #expect(!allowed("OPENAI_API_KEY", .anthropic, "https://api.anthropic.com"))
        // Any other variable goes to the official host of the runtime's kind.
        #expect(allowed("MY_KEY", .anthropic, "https://api.anthropic.com"))
        #expect(!allowed("MY_KEY", .anthropic, "https://api.openai.com/v1"))
        #expect(!allowed("MY_KEY", .openai, "http://127.0.0.1:8080/v1"))
    }

    // MARK: - The allowance file

    @Test func theAllowanceFileRoundTripsAndAMalformedOneIsAnErrorNamingIt() throws {
        let sandbox = try Sandbox()
        let path = KeyHostAllowances.path(environment: sandbox.environment)
        #expect(try KeyHostAllowances.load(path: path) == KeyHostAllowances())

        var allowances = KeyHostAllowances()
        allowances.allow(try #require(KeyHost(parsing: "LLM.example.com")), for: "OPENAI_API_KEY")
        allowances.allow(try #require(KeyHost(parsing: "[::1]:8080")), for: "OPENAI_API_KEY")
        try allowances.save(to: path)
        let read = try KeyHostAllowances.load(path: path)
        #expect(read == allowances)
        #expect(read.hosts(for: "OPENAI_API_KEY").map(\.description) == ["[::1]:8080", "llm.example.com"])

        for (text, reason) in [
            ("version: 2\nkeys: {}\n", "version is 2"), ("keys: {A: [x.example]}\n", "no whole-number 'version'"),
            ("version: 1\nkeys: {A: x.example}\n", "not a list"), ("version: 1\nkeys: {A: ['http:://']}\n", "not a host"),
            ("version: 1\ntrust_all: true\n", "unknown field"), ("[1, 2", "not valid YAML"),
        ] {
            try text.write(toFile: path, atomically: true, encoding: .utf8)
            chmod(path, 0o600)
            let error = try #require(Self.fileError { _ = try KeyHostAllowances.load(path: path) })
            #expect(error.description.contains(path), "\(text)")
            #expect(error.description.contains(reason), "\(error)")
        }
        // A file other users may write could allow a host for your keys.
        try allowances.save(to: path)
        chmod(path, 0o666)
        #expect(Self.fileError { _ = try KeyHostAllowances.load(path: path) }?.description.contains("chmod 600") == true)
    }

    // MARK: - Redirects and `keys test`

    @Test func aRedirectToAnotherPortNeverCarriesTheKey() async throws {
        try await AnthropicStandIn.with(apiKey: Self.key, models: [.init("claude-test")]) { target in
            try await RedirectStandIn.with(target: target.baseURL) { redirect in
                // The production transport, as a run uses it
                let client = AnthropicClient(baseURL: redirect.baseURL, apiKey: Self.key, keyHint: "k", transport: AsyncHTTPTransport())
                let outcome = await Cloud.run(client, Cloud.request("claude-test"))
                #expect(outcome.error != nil)
                #expect(redirect.requests.count == 1)
                #expect(target.requests.isEmpty, "the redirect was followed: \(target.requests.map(\.path))")
                #expect(outcome.error.map { "\($0)" }?.contains(Self.key) == false)
            }
        }
    }

    @Test func keysTestRefusesAHostTheKeyIsNotBoundToBeforeSendingAnything() async throws {
        try await OpenAIStandIn.with(apiKey: Self.key, models: [.init("gpt-test")]) { standIn in
            let runtime = RuntimeSpec(name: "gpt", kind: .openai, url: standIn.baseURL, apiKeyEnv: "OPENAI_API_KEY", options: [:])
            let keys = EnvironmentKeySource(environment: ["OPENAI_API_KEY": Self.key])
            await #expect(throws: KeyHostRefusal.self) { _ = try await KeyCheck.check(runtime, keys: keys, keyHosts: KeyHostPolicy()) }
            #expect(standIn.requests.isEmpty)
            let port = try #require(URLComponents(string: standIn.baseURL)?.port)
            let policy = KeyHostPolicy(
                allowances: KeyHostAllowances(["OPENAI_API_KEY": [try #require(KeyHost(parsing: "127.0.0.1:\(port)"))]]))
            let outcome = try await KeyCheck.check(runtime, keys: keys, keyHosts: policy)
            #expect(outcome.verdict == .valid)
            #expect(outcome.keySource == "the environment variable OPENAI_API_KEY")
        }
    }

    // MARK: - Helpers

    static func refusal(_ body: () throws -> Void) -> KeyHostRefusal? {
        do {
            try body()
            return nil
        } catch {
            return error as? KeyHostRefusal
        }
    }

    static func fileError(_ body: () throws -> Void) -> KeyHostAllowances.FileError? {
        do {
            try body()
            return nil
        } catch {
            return error as? KeyHostAllowances.FileError
        }
    }
}
