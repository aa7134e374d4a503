import BatonEngine
import BatonSpec
import Foundation
import Testing

/// A scratch folder: a project (with `profiles/`) and a user configuration folder beside it.
private final class TrustFolder: @unchecked Sendable {
    let root = NSTemporaryDirectory() + "baton-trust-\(UUID().uuidString.prefix(8))"
    var project: String { root + "/project" }
    var config: String { root + "/config/baton" }

    init() throws {
        try FileManager.default.createDirectory(atPath: project + "/profiles", withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: config, withIntermediateDirectories: true)
    }

    deinit { try? FileManager.default.removeItem(atPath: root) }

    func write(_ text: String, _ relative: String) throws {
        try text.write(toFile: project + "/" + relative, atomically: true, encoding: .utf8)
    }
}

/// ``ProjectTrust``: the trusted-folders records (issue 18, item 2).
@Suite struct ProjectTrustTests {
    @Test func aTrustedFolderIsRecordedByItsRealPathWithItsProfilesHashed() throws {
        let folder = try TrustFolder()
        try folder.write("version: 1\n", "profiles/default.yaml")
        try folder.write("version: 1\n", "profiles/ci.yml")
        try folder.write("not a profile", "profiles/notes.txt")
        let link = folder.root + "/link"
        try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: folder.project)
        let store = ProjectTrust(configDirectory: folder.config)

        let record = try store.trust(link, version: "9.9.9")

        #expect(record.path == Workspace.realPath(folder.project))
        #expect(record.profiles == ["profiles/ci.yml", "profiles/default.yaml"])
        #expect(record.batonVersion == "9.9.9")
        #expect(try store.records() == [record])
        guard case .trusted = try store.status(of: folder.project) else {
            Issue.record("not trusted after 'trust'")
            return
        }
        let mode = try FileManager.default.attributesOfItem(atPath: store.file)[.posixPermissions] as? Int
        #expect(mode == 0o600)
    }

    @Test(arguments: ["changed", "added", "removed"])
    func aProfileChangedAddedOrRemovedNeedsTrustingAgain(_ change: String) throws {
        let folder = try TrustFolder()
        try folder.write("version: 1\n", "profiles/default.yaml")
        try folder.write("version: 1\n", "profiles/other.yaml")
        let store = ProjectTrust(configDirectory: folder.config)
        try store.trust(folder.project, version: "1")

        switch change {
        case "changed": try folder.write("version: 1\nruntimes: {x: {kind: anthropic}}\n", "profiles/default.yaml")
        case "added": try folder.write("version: 1\n", "profiles/new.yaml")
        default: try FileManager.default.removeItem(atPath: folder.project + "/profiles/other.yaml")
        }

        guard case .changed = try store.status(of: folder.project) else {
            Issue.record("a \(change) profile left the folder trusted")
            return
        }
        try store.trust(folder.project, version: "1")
        guard case .trusted = try store.status(of: folder.project) else {
            Issue.record("trusting again did not trust")
            return
        }
        #expect(try store.records().count == 1)
    }

    @Test func movingBytesBetweenProfilesChangesTheHash() throws {
        let folder = try TrustFolder()
        try folder.write("ab", "profiles/a.yaml")
        try folder.write("c", "profiles/b.yaml")
        let before = ProjectTrust.profiles(of: folder.project).sha256
        try folder.write("a", "profiles/a.yaml")
        try folder.write("bc", "profiles/b.yaml")
        #expect(ProjectTrust.profiles(of: folder.project).sha256 != before)
    }

    @Test func revokeRemovesTheRecord() throws {
        let folder = try TrustFolder()
        let store = ProjectTrust(configDirectory: folder.config)
        try store.trust(folder.project, version: "1")
        #expect(try store.revoke(folder.project) != nil)
        #expect(try store.status(of: folder.project) == .untrusted)
        #expect(try store.revoke(folder.project) == nil)
    }

    @Test(arguments: ["{", "[]", #"{"format_version": 1, "folders": [{"path": 3}]}"#, #"{"format_version": 99, "folders": []}"#])
    func aMalformedRecordsFileIsAnErrorNamingItNeverTrustAll(_ text: String) throws {
        let folder = try TrustFolder()
        let store = ProjectTrust(configDirectory: folder.config)
        try text.write(toFile: store.file, atomically: true, encoding: .utf8)
        #expect {
            try store.status(of: folder.project)
        } throws: { error in
            guard case .malformed(let file, _) = error as? ProjectTrustError else { return false }
            return file == store.file && "\(error)".contains(store.file)
        }
        // Trusting over a damaged file refuses too, rather than replacing the user's records.
        #expect(throws: ProjectTrustError.self) { try store.trust(folder.project, version: "1") }
    }

    @Test func anOversizedRecordsFileIsRefusedUnread() throws {
        let folder = try TrustFolder()
        let store = ProjectTrust(configDirectory: folder.config)
        try Data(count: ProjectTrust.maximumFileSize + 1).write(to: URL(fileURLWithPath: store.file))
        #expect {
            try store.records()
        } throws: { error in
            "\(error)".contains("limit")
        }
    }

    @Test func trustingAMissingFolderIsRefused() throws {
        let folder = try TrustFolder()
        let store = ProjectTrust(configDirectory: folder.config)
        #expect(throws: ProjectTrustError.notAFolder(folder.root + "/nope")) { try store.trust(folder.root + "/nope", version: "1") }
        #expect(!FileManager.default.fileExists(atPath: store.file))
    }
}

/// Where a file came from (``Workspace/origin(of:)``) and ``TrustCheck``: what an untrusted folder may not do.
@Suite struct TrustCheckTests {
    static func workspace(_ folder: TrustFolderHandle) -> Workspace {
        Workspace(
            pipelineDirectories: ["pipelines", folder.config + "/pipelines"],
            profileDirectories: ["profiles", folder.config + "/profiles"],
            environment: [:], currentDirectory: folder.project, installedDirectory: folder.root + "/share/baton",
            configDirectory: folder.config)
    }

    @Test func filesAreTheProjectsUnlessTheyAreTheUsersInstalledOrBuiltIn() throws {
        let handle = try TrustFolderHandle()
        try FileManager.default.createDirectory(atPath: handle.project + "/pipelines", withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: handle.project + "/examples/deep", withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: handle.root + "/loose", withIntermediateDirectories: true)
        let workspace = Self.workspace(handle)
        let project = Workspace.realPath(handle.project)

        #expect(workspace.origin(of: "pipelines/hello.yaml") == .project(project))
        #expect(workspace.origin(of: "profiles/default.yaml") == .project(project))
        // A path argument: the nearest folder above holding profiles/, pipelines/ or .git.
        #expect(workspace.origin(of: "examples/deep/x.yaml") == .project(project))
        #expect(workspace.origin(of: handle.root + "/loose/x.yaml") == .project(Workspace.realPath(handle.root + "/loose")))
        #expect(workspace.origin(of: handle.config + "/profiles/mine.yaml") == .user)
        #expect(workspace.origin(of: handle.root + "/share/baton/pipelines/hello.yaml") == .installed)
        #expect(workspace.origin(of: BuiltInProfiles.defaultPath) == .builtIn)
        #expect(workspace.projectFolders(of: ["pipelines/a.yaml", "profiles/b.yaml", BuiltInProfiles.defaultPath]) == [project])
    }

    @Test func discoveryAsksOnlyLoopbackRuntimesOfAnUntrustedProfileUntilItIsTrusted() async throws {
        let handle = try TrustFolderHandle()
        try FileManager.default.createDirectory(atPath: handle.project + "/pipelines", withIntermediateDirectories: true)
        // 192.0.2.1 is TEST-NET-1 (RFC 5737): never this machine; port 9 on loopback refuses at once.
        try """
        version: 1
        runtimes:
          remote: {kind: ollama, url: "http://192.0.2.1:11434"}
          local: {kind: ollama, url: "http://127.0.0.1:9"}
        models:
          m: {runtime: local, footprint: 1GB}
        """.write(toFile: handle.project + "/profiles/default.yaml", atomically: true, encoding: .utf8)
        try "version: 1\nstages:\n  a: {model: m, prompt: hi}\n".write(
            toFile: handle.project + "/pipelines/p.yaml", atomically: true, encoding: .utf8)
        let loader = PlanLoader(workspace: Self.workspace(handle))

        let untrusted = try await loader.load("p", profileName: nil, discover: true, database: nil)

        guard case .unknown(let reason) = untrusted.inventory?.runtimes["remote"] else {
            Issue.record("the remote runtime was asked: \(String(describing: untrusted.inventory?.runtimes["remote"]))")
            return
        }
        #expect(reason.contains("not trusted") && reason.contains("baton trust"), "\(reason)")
        guard case .unknown(let local) = untrusted.inventory?.runtimes["local"] else {
            Issue.record("the loopback runtime was not asked")
            return
        }
        #expect(!local.contains("not trusted"), "\(local)")
        #expect(untrusted.projectFolders == [handle.project])

        var trusted = loader
        trusted.trustedForThisRun = true
        #expect(trusted.untrustedFolders(pipeline: "p", profileSources: ["profiles/default.yaml"]).isEmpty)
        #expect(loader.untrustedFolders(pipeline: "p", profileSources: ["profiles/default.yaml"]) == [handle.project])
        try ProjectTrust(configDirectory: handle.config).trust(handle.project, version: "1")
        #expect(loader.untrustedFolders(pipeline: "p", profileSources: ["profiles/default.yaml"]).isEmpty)
    }

    static let profile = """
        version: 1
        runtimes:
          local: {kind: ollama, url: "http://127.0.0.1:11434"}
          remote: {kind: ollama, url: "http://gpu-box.lan:11434"}
          cloud: {kind: anthropic, url: "http://127.0.0.1:9", api_key_env: CANARY_KEY}
          compat: {kind: openai, url: "http://localhost:1234/v1"}
        models:
          qwen: {runtime: local, footprint: 1GB}
          big: {runtime: remote, footprint: 1GB}
          claude: {runtime: cloud}
          compat-model: {runtime: compat}
          tiny: {runtime: echo, footprint: 0}
        """

    static func snapshot(_ models: String) throws -> RunSnapshot {
        let document = ProfileDecoder.decode(SourceFile(path: "p.yaml", text: profile), environment: [:])
        let (resolved, diagnostics) = ProfileResolver.resolve(document) { _ in nil }
        let profile = try #require(resolved, "\(diagnostics)")
        let result = PipelineCompiler(profile: profile).compile(
            SourceFile(path: "x.yaml", text: "version: 1\nstages:\n  a: {model: \(models), prompt: hi}\n"))
        let plan = try #require(result.plan, "\(result.diagnostics.map(\.message))")
        return RunSnapshot(plan: plan, profile: profile, sources: [:], pipelinePath: nil, forcedRuntime: nil)
    }

    @Test func loopbackRuntimesWithoutKeysRunUntrusted() throws {
        let handle = try TrustFolderHandle()
        let check = TrustCheck(store: ProjectTrust(configDirectory: handle.config), keyFileExists: false)
        try check.check(try Self.snapshot("[qwen, tiny, compat-model]"), folders: [handle.project])
    }

    @Test func aKeyARemoteHostAndEveryFallbackAreRefusedUntrustedEachByName() throws {
        let handle = try TrustFolderHandle()
        let check = TrustCheck(store: ProjectTrust(configDirectory: handle.config), keyFileExists: false, environment: Self.keyed)
        // The key and the remote host are only in the fallback chain: they count.
        #expect {
            try check.check(try Self.snapshot("[qwen, claude, big]"), folders: [handle.project])
        } throws: { error in
            guard let refusal = error as? TrustCheck.Refusal else { return false }
            let messages = refusal.messages
            return messages.count == 2 && messages.allSatisfy { $0.contains(handle.project) && $0.contains("baton trust") }
                && messages.contains { $0.contains("CANARY_KEY") && $0.contains("'cloud'") && $0.contains("127.0.0.1:9") }
                && messages.contains { $0.contains("'remote'") && $0.contains("gpu-box.lan:11434") }
        }
    }

    /// The environment of a user whose key is in the variable the profile names.
    static let keyed = ["CANARY_KEY": "sk-canary"]

    @Test func aKeyNowhereIsNotSentSoTheRuntimeIsNotRefusedForIt() throws {
        let handle = try TrustFolderHandle()
        let check = TrustCheck(store: ProjectTrust(configDirectory: handle.config), keyFileExists: false, environment: [:])
        // The cloud runtime is on this machine and has no key in the environment or a key file: it fails unused.
        try check.check(try Self.snapshot("[claude, tiny]"), folders: [handle.project])
    }

    @Test func aKeyFileMakesAKeylessLocalOpenAIServerSendAKey() throws {
        let handle = try TrustFolderHandle()
        let check = TrustCheck(store: ProjectTrust(configDirectory: handle.config), keyFileExists: true)
        #expect(throws: TrustCheck.Refusal.self) { try check.check(try Self.snapshot("compat-model"), folders: [handle.project]) }
    }

    @Test func aTrustedFolderOrTrustForThisRunOrNoProjectFileRuns() throws {
        let handle = try TrustFolderHandle()
        let store = ProjectTrust(configDirectory: handle.config)
        let check = TrustCheck(store: store, keyFileExists: true)
        let snapshot = try Self.snapshot("[claude, big]")
        try check.check(snapshot, folders: [handle.project], trusted: true)
        try check.check(snapshot, folders: [])
        try store.trust(handle.project, version: "1")
        try check.check(snapshot, folders: [handle.project])
        // A second, untrusted folder (a profile from one place, the pipeline from another) is still refused, by name.
        #expect {
            try check.check(snapshot, folders: [handle.project, handle.root])
        } throws: { error in
            guard let refusal = error as? TrustCheck.Refusal else { return false }
            return refusal.folders == [handle.root]
        }
    }

    @Test func aChangedProfileIsRefusedAndSaysSo() throws {
        let handle = try TrustFolderHandle()
        let store = ProjectTrust(configDirectory: handle.config)
        try store.trust(handle.project, version: "1")
        try "version: 1\n".write(toFile: handle.project + "/profiles/new.yaml", atomically: true, encoding: .utf8)
        #expect {
            try TrustCheck(store: store, keyFileExists: false, environment: Self.keyed).check(
                try Self.snapshot("claude"), folders: [Workspace.realPath(handle.project)])
        } throws: { error in
            (error as? TrustCheck.Refusal)?.messages.first?.contains("changed since it was trusted") == true
        }
    }
}

/// The same scratch folders for the check's tests.
final class TrustFolderHandle: @unchecked Sendable {
    let root = Workspace.realPath(NSTemporaryDirectory() + "baton-trustcheck-\(UUID().uuidString.prefix(8))")
    var project: String { root + "/project" }
    var config: String { root + "/config/baton" }

    init() throws {
        try FileManager.default.createDirectory(atPath: project + "/profiles", withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: config + "/profiles", withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: root + "/share/baton/pipelines", withIntermediateDirectories: true)
    }

    deinit { try? FileManager.default.removeItem(atPath: root) }
}
