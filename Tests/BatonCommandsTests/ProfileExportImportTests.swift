import BatonSpec
import BatonTestSupport
import Foundation
import Testing

@testable import BatonEngine

/// `baton profiles export` and `baton profiles import` on the real binary: the export is one standalone file that
/// resolves to the same profile; an import is validated first and never replaces a profile without `--force`.
@Suite struct ProfileExportImportTests {
    typealias Folders = ProfilesCommandTests.Folders

    /// A home of its own, so imports land in `xdg/baton/profiles` below the test's folder.
    static func environment(_ folders: Folders) -> [String: String] {
        ["XDG_CONFIG_HOME": folders.root + "/xdg", "HOME": folders.root + "/home"]
    }

    @Test func exportMergesTheChainIntoAStandaloneFileThatResolvesTheSame() async throws {
        let folders = try Folders()
        let export = try await folders.baton(["profiles", "export", "top"])
        #expect(export.status == 0, "\(export.summary)")
        let exportedFolder = folders.root + "/exported"
        try FileManager.default.createDirectory(atPath: exportedFolder, withIntermediateDirectories: true)
        try export.stdout.write(toFile: exportedFolder + "/top.yaml", atomically: true, encoding: .utf8)

        let original = try #require(
            try Workspace(profileDirectories: [folders.first, folders.second], root: folders.root).loadProfile("top").profile)
        let alone = try Workspace(profileDirectories: [exportedFolder], root: folders.root).loadProfile("top")
        #expect(alone.diagnostics.isEmpty, "\(alone.diagnostics)\n\(export.stdout)")
        #expect(alone.profile?.chain == ["top"])
        var expected = original.spec
        expected.extends = nil
        #expect(alone.profile?.spec == expected, "\(export.stdout)")
        // The values of every profile of the chain are there: top's budget, mid's temperature, base's retry.
        for line in ["memory_budget: 4 GB", "temperature: 0.3", "max_tokens: 100", "max_attempts: 2"] {
            #expect(export.stdout.contains(line), "\(line) missing from:\n\(export.stdout)")
        }

        // And the real binary validates it alone (no search path).
        let validate = try await BatonProcess.run(
            ["profiles", "show", exportedFolder + "/top.yaml"], in: folders.root, environment: ["BATON_PROFILE_PATH": exportedFolder])
        #expect(validate.status == 0 && validate.stdout.hasPrefix("profile top: top ("), "\(validate.summary)")
    }

    @Test func exportToAFileNeverReplacesOneWithoutForceAndRefusesAnInvalidProfile() async throws {
        let folders = try Folders()
        let target = folders.root + "/out.yaml"
        try "keep me\n".write(toFile: target, atomically: true, encoding: .utf8)
        let refused = try await folders.baton(["profiles", "export", "mid", "-o", target])
        #expect(refused.status == 73, "\(refused.summary)")
        #expect(refused.stderr.contains("\(target) exists; nothing was written. Give --force to replace it"), "\(refused.stderr)")
        #expect(try String(contentsOfFile: target, encoding: .utf8) == "keep me\n")

        let forced = try await folders.baton(["profiles", "export", "mid", "-o", target, "--force"])
        #expect(forced.status == 0 && forced.stdout.isEmpty, "\(forced.summary)")
        #expect(forced.stderr.contains("wrote the profile 'mid' (mid extends base) to \(target)"))
        #expect(try String(contentsOfFile: target, encoding: .utf8).contains("temperature: 0.3"))

        try "version: 1\nextends: nowhere\n".write(toFile: folders.first + "/broken.yaml", atomically: true, encoding: .utf8)
        let broken = try await folders.baton(["profiles", "export", "broken"])
        #expect(broken.status == 65 && broken.stdout.isEmpty, "\(broken.summary)")
        #expect(broken.stderr.contains("first/broken.yaml:2"), "\(broken.stderr)")
    }

    @Test func importCopiesAValidProfileIntoTheUserFolderAndNeverReplacesWithoutForce() async throws {
        let folders = try Folders()
        let environment = Self.environment(folders)
        let source = folders.root + "/incoming/lab.yaml"
        try FileManager.default.createDirectory(atPath: folders.root + "/incoming", withIntermediateDirectories: true)
        let text = "# my lab machine\nversion: 1\nextends: base\nmemory_budget: 6GB\n"
        try text.write(toFile: source, atomically: true, encoding: .utf8)
        let destination = folders.root + "/xdg/baton/profiles/lab.yaml"

        // It extends 'base', found on the search path, so it validates.
        let imported = try await folders.baton(["profiles", "import", source], environment)
        #expect(imported.status == 0, "\(imported.summary)")
        #expect(imported.stdout == "imported the profile 'lab' as \(destination)\n")
        #expect(try String(contentsOfFile: destination, encoding: .utf8) == text, "not copied byte for byte")

        try "version: 1\nmemory_budget: 7GB\n".write(toFile: source, atomically: true, encoding: .utf8)
        let again = try await folders.baton(["profiles", "import", source], environment)
        #expect(again.status == 73, "\(again.summary)")
        #expect(again.stderr.contains("\(destination) exists; nothing was copied. Give --force to replace it"), "\(again.stderr)")
        #expect(try String(contentsOfFile: destination, encoding: .utf8) == text)

        let forced = try await folders.baton(["profiles", "import", source, "--force"], environment)
        #expect(forced.status == 0 && forced.stdout == "replaced the profile 'lab' as \(destination)\n", "\(forced.summary)")
        #expect(try String(contentsOfFile: destination, encoding: .utf8) == "version: 1\nmemory_budget: 7GB\n")
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: folders.root + "/xdg/baton/profiles")
        #expect(leftovers == ["lab.yaml"], "a temporary file was left: \(leftovers)")
    }

    @Test func anInvalidProfileIsNotImportedAndItsErrorsAreLocated() async throws {
        let folders = try Folders()
        let environment = Self.environment(folders)
        let source = folders.root + "/bad.yaml"
        try "version: 1\nmemory_budget: lots\nruntimes:\n  cloud: {kind: opnai, url: x}\n".write(
            toFile: source, atomically: true, encoding: .utf8)
        let result = try await folders.baton(["profiles", "import", source], environment)
        #expect(result.status == 65, "\(result.summary)")
        #expect(result.stderr.contains("bad.yaml:2:"), "\(result.stderr)")
        #expect(result.stderr.contains("bad.yaml:4:"), "\(result.stderr)")
        #expect(result.stderr.contains("nothing was copied"))
        #expect(!FileManager.default.fileExists(atPath: folders.root + "/xdg/baton/profiles/bad.yaml"))
        #expect(!FileManager.default.fileExists(atPath: folders.root + "/xdg/baton/profiles"))

        let missing = try await folders.baton(["profiles", "import", folders.root + "/nowhere.yaml"], environment)
        #expect(missing.status == 66, "\(missing.summary)")
    }

    @Test func anImportHiddenByAnEarlierFolderSaysSo() async throws {
        let folders = try Folders()
        let source = folders.root + "/top.yaml"
        try "version: 1\nextends: base\n".write(toFile: source, atomically: true, encoding: .utf8)
        // The user folder comes after ./profiles on the default path; here the first folder plays ./profiles.
        let environment = Self.environment(folders).merging([
            "BATON_PROFILE_PATH": "\(folders.first):\(folders.second):\(folders.root)/xdg/baton/profiles"
        ]) { $1 }
        let result = try await folders.baton(["profiles", "import", source], environment)
        #expect(result.status == 0, "\(result.summary)")
        #expect(result.stderr.contains("note: first/top.yaml comes first on the profile search path and hides it"), "\(result.stderr)")

        // A search path without the user's folder: the profile would not be found there.
        try "version: 1\n".write(toFile: folders.root + "/solo.yaml", atomically: true, encoding: .utf8)
        let unsearched = try await folders.baton(["profiles", "import", folders.root + "/solo.yaml"], Self.environment(folders))
        #expect(unsearched.status == 0, "\(unsearched.summary)")
        #expect(
            unsearched.stderr.contains("note: BATON_PROFILE_PATH leaves out \(folders.root)/xdg/baton/profiles, so Baton does not find"),
            "\(unsearched.stderr)")
        #expect(!unsearched.stderr.contains("hides it"))
    }
}

extension Workspace {
    /// A workspace searching only `profileDirectories` for profiles, paths shown relative to `root`.
    init(profileDirectories: [String], root: String) {
        self.init(pipelineDirectories: [], profileDirectories: profileDirectories, environment: [:], currentDirectory: root)
    }
}
