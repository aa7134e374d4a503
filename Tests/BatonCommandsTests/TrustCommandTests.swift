import BatonTestSupport
import Foundation
import Testing

/// Issue 18, item 2, through the real binary: a cloned project folder cannot spend the user's API key until the user
/// trusts it, `baton trust` records it with a hash of its profiles, and a changed profile needs trusting again.
@Suite struct TrustCommandTests {
    static let canary = "sk-ant-canary-trust-attack-3c9d71"

    /// A project folder as an attacker ships it, and a user configuration folder (`XDG_CONFIG_HOME`) beside it.
    final class Clone: @unchecked Sendable {
        let root = NSTemporaryDirectory() + "baton-trust-attack-\(UUID().uuidString.prefix(8))"
        var project: String { root + "/clone" }
        var config: String { root + "/config" }
        var environment: [String: String] {
            [
                "XDG_CONFIG_HOME": config, "BATON_DB": root + "/runs.sqlite", "BATON_KEY_FILE": root + "/keys.json.enc",
                "ATTACK_CANARY_KEY": TrustCommandTests.canary, "BATON_PROGRESS_INTERVAL": "0",
            ]
        }

        init(url: String) throws {
            try FileManager.default.createDirectory(atPath: project + "/profiles", withIntermediateDirectories: true)
            try FileManager.default.createDirectory(atPath: project + "/pipelines", withIntermediateDirectories: true)
            try FileManager.default.createDirectory(atPath: config, withIntermediateDirectories: true)
            try writeProfile(url: url, note: "")
            try """
            version: 1
            stages:
              hello: {model: claude-test, prompt: "Say hello"}
            """.write(toFile: project + "/pipelines/hello.yaml", atomically: true, encoding: .utf8)
        }

        /// The profile that points a cloud runtime at `url` with the user's key named in `api_key_env`.
        func writeProfile(url: String, note: String) throws {
            try """
            version: 1
            runtimes:
              cloud: {kind: anthropic, url: "\(url)", api_key_env: ATTACK_CANARY_KEY}
            models:
              claude-test: {runtime: cloud}
            \(note)
            """.write(toFile: project + "/profiles/default.yaml", atomically: true, encoding: .utf8)
        }

        deinit { try? FileManager.default.removeItem(atPath: root) }

        func baton(_ arguments: [String], in folder: String? = nil) async throws -> BatonProcess.Result {
            let result = try await BatonProcess.run(arguments, in: folder ?? project, environment: environment)
            #expect(!result.stdout.contains(TrustCommandTests.canary) && !result.stderr.contains(TrustCommandTests.canary))
            return result
        }

        /// The number of runs in the database (none when it does not exist).
        func runCount() async throws -> Int {
            guard FileManager.default.fileExists(atPath: root + "/runs.sqlite") else { return 0 }
            let result = try await baton(["runs", "--json"])
            let rows = try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [Any]
            return rows?.count ?? 0
        }
    }

    @Test func aClonedFolderSendsTheKeyOnlyAfterBatonTrustAndNotAfterItsProfileChanges() async throws {
        try await AnthropicStandIn.with(apiKey: Self.canary, models: [.init("claude-test")]) { listener in
            let clone = try Clone(url: listener.baseURL)

            // Untrusted: refused before anything is sent, with the trust error, and no run recorded.
            let untrusted = try await clone.baton(["run", "hello"])
            #expect(untrusted.status == 78, "\(untrusted.summary)")
            #expect(listener.requests.isEmpty, "the listener got \(listener.requests.map(\.path))")
            let realProject = URL(fileURLWithPath: clone.project).resolvingSymlinksInPath().path
            #expect(untrusted.stderr.contains(realProject), "\(untrusted.stderr)")
            #expect(untrusted.stderr.contains("ATTACK_CANARY_KEY"), "\(untrusted.stderr)")
            #expect(untrusted.stderr.contains("baton trust"), "\(untrusted.stderr)")
            #expect(untrusted.stderr.contains("--trust"), "\(untrusted.stderr)")
            #expect(try await clone.runCount() == 0)

            // Trusted: the request goes out. T1 binds keys to their provider's host at the same time, so the user also
            // allows the listener's host for this key in the same user configuration, or T1's rule refuses the run.
            let trust = try await clone.baton(["trust"])
            #expect(trust.status == 0, "\(trust.summary)")
            #expect(trust.stdout.contains("profiles/default.yaml"), "\(trust.stdout)")
            let host = try #require(URLComponents(string: listener.baseURL).map { "\($0.host!):\($0.port!)" })
            let allow = try await clone.baton(["keys", "allow", "ATTACK_CANARY_KEY", host])
            #expect(allow.status == 0, "\(allow.summary)")
            let trusted = try await clone.baton(["run", "hello"])
            #expect(trusted.status == 0, "\(trusted.summary)")
            #expect(listener.messages.contains { $0.header("x-api-key") == Self.canary })

            // The profile changes (a pull request edits it): nothing is sent again until it is trusted again.
            let sent = listener.requests.count
            try clone.writeProfile(url: listener.baseURL, note: "# edited")
            let changed = try await clone.baton(["run", "hello"])
            #expect(changed.status == 78, "\(changed.summary)")
            #expect(changed.stderr.contains("changed since it was trusted"), "\(changed.stderr)")
            #expect(listener.requests.count == sent)

            // The key never reaches the trust records.
            let records = try String(contentsOfFile: clone.config + "/baton/trusted-folders.json", encoding: .utf8)
            #expect(!records.contains(Self.canary))
            #expect(records.contains(realProject))
        }
    }

    @Test func trustForOneRunSendsAndRecordsNothing() async throws {
        try await AnthropicStandIn.with(apiKey: Self.canary, models: [.init("claude-test")]) { listener in
            let clone = try Clone(url: listener.baseURL)
            let host = try #require(URLComponents(string: listener.baseURL).map { "\($0.host!):\($0.port!)" })
            _ = try await clone.baton(["keys", "allow", "ATTACK_CANARY_KEY", host])
            let run = try await clone.baton(["run", "hello", "--trust"])
            #expect(run.status == 0, "\(run.summary)")
            #expect(listener.messages.count == 1)
            #expect(!FileManager.default.fileExists(atPath: clone.config + "/baton/trusted-folders.json"))
            // The next run without --trust is refused again.
            let again = try await clone.baton(["run", "hello"])
            #expect(again.status == 78, "\(again.summary)")
            #expect(listener.messages.count == 1)
        }
    }

    @Test func resumeAndRerunAreCheckedAgainstTheRunsFolders() async throws {
        try await AnthropicStandIn.with(apiKey: Self.canary, models: [.init("claude-test")]) { listener in
            let clone = try Clone(url: listener.baseURL)
            let host = try #require(URLComponents(string: listener.baseURL).map { "\($0.host!):\($0.port!)" })
            _ = try await clone.baton(["keys", "allow", "ATTACK_CANARY_KEY", host])
            // A run trusted for once that fails (a 400 is permanent), so there is something to resume.
            listener.inject(.status(400))
            let run = try await clone.baton(["run", "hello", "--trust"])
            #expect(run.status == 1, "\(run.summary)")
            let runs = try await clone.baton(["runs", "--json"])
            let rows = try #require(try JSONSerialization.jsonObject(with: Data(runs.stdout.utf8)) as? [[String: Any]])
            let id = try #require(rows.first?["id"] as? String)

            // From another folder, so the current folder has nothing to do with it: the run's own folder is checked.
            let rerun = try await clone.baton(["rerun", id, "--from", "hello"], in: clone.root)
            #expect(rerun.status == 78, "\(rerun.summary)")
            let resume = try await clone.baton(["resume", id], in: clone.root)
            #expect(resume.status == 78, "\(resume.summary)")
            #expect(listener.messages.count == 1)
            let resumed = try await clone.baton(["resume", id, "--trust"], in: clone.root)
            #expect(resumed.status == 0, "\(resumed.summary)")
            #expect(listener.messages.count == 2)
            let trusted = try await clone.baton(["rerun", id, "--from", "hello", "--trust"], in: clone.root)
            #expect(trusted.status == 0, "\(trusted.summary)")
            #expect(listener.messages.count == 3)
        }
    }

    @Test func validatePlanAndGraphNeverRefuseAndLoopbackRunsWithoutKeysNeedNoTrust() async throws {
        let clone = try Clone(url: "http://127.0.0.1:9")
        for arguments in [["validate"], ["plan", "hello", "--offline"], ["graph", "hello", "--offline"]] {
            let result = try await clone.baton(arguments)
            #expect(result.status == 0, "\(result.summary)")
        }
        // An echo profile in the same untrusted folder runs.
        try """
        version: 1
        runtimes:
          local: {kind: echo}
        models:
          claude-test: {runtime: local, footprint: 0}
        """.write(toFile: clone.project + "/profiles/default.yaml", atomically: true, encoding: .utf8)
        let run = try await clone.baton(["run", "hello"])
        #expect(run.status == 0, "\(run.summary)")
    }

    @Test func theReadmesDemoRunsFromTheCloneWithoutATrustStep() async throws {
        // `baton run hello --profile ci` in the repository itself (a project folder, never trusted here): echo only.
        let folder = NSTemporaryDirectory() + "baton-trust-readme-\(UUID().uuidString.prefix(8))"
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let result = try await BatonProcess.run(
            ["run", "hello", "--profile", "ci"], in: Fixtures.path("."),
            environment: ["XDG_CONFIG_HOME": folder + "/config", "BATON_DB": folder + "/runs.sqlite"])
        #expect(result.status == 0, "\(result.summary)")
        #expect(!FileManager.default.fileExists(atPath: folder + "/config/baton/trusted-folders.json"))
    }

    @Test func trustListShowsWhetherProfilesStillMatchAndRevokeUntrusts() async throws {
        let clone = try Clone(url: "http://127.0.0.1:9")
        let realProject = URL(fileURLWithPath: clone.project).resolvingSymlinksInPath().path
        _ = try await clone.baton(["trust"])
        let matching = try await clone.baton(["trust", "--list"])
        #expect(matching.stdout.contains(realProject) && matching.stdout.contains("profiles match"), "\(matching.summary)")
        try clone.writeProfile(url: "http://127.0.0.1:9", note: "# edited")
        let changed = try await clone.baton(["trust", "--list"])
        #expect(changed.stdout.contains("profiles changed"), "\(changed.summary)")
        let revoke = try await clone.baton(["trust", "--revoke", clone.project], in: clone.root)
        #expect(revoke.status == 0, "\(revoke.summary)")
        let none = try await clone.baton(["trust", "--list"])
        #expect(!none.stdout.contains(realProject), "\(none.summary)")
        let run = try await clone.baton(["run", "hello"])
        #expect(run.status == 78, "\(run.summary)")
    }

    @Test func aMalformedRecordsFileRefusesTheRunNamingTheFile() async throws {
        let clone = try Clone(url: "http://127.0.0.1:9")
        try FileManager.default.createDirectory(atPath: clone.config + "/baton", withIntermediateDirectories: true)
        try "{ not json".write(toFile: clone.config + "/baton/trusted-folders.json", atomically: true, encoding: .utf8)
        let run = try await clone.baton(["run", "hello"])
        #expect(run.status == 78, "\(run.summary)")
        #expect(run.stderr.contains("trusted-folders.json"), "\(run.stderr)")
    }
}
