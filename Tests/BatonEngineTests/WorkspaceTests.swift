import BatonEngine
import BatonSpec
import BatonTestSupport
import Foundation
import Testing

/// `Workspace` directly: search paths from the environment, shadowing, `.yaml`/`.yml`, the installed `share/baton`
/// folder, profile loading with `extends` and the built-in default, and the size limit on reads.
@Suite struct WorkspaceTests {
    /// A scratch folder removed when the value goes away.
    final class Folder: @unchecked Sendable {
        let path = NSTemporaryDirectory() + "baton-workspace-\(UUID().uuidString.prefix(8))"
        init() throws { try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true) }
        deinit { try? FileManager.default.removeItem(atPath: path) }

        func write(_ relative: String, _ text: String) throws {
            let full = path + "/" + relative
            try FileManager.default.createDirectory(
                atPath: (full as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            try text.write(toFile: full, atomically: true, encoding: .utf8)
        }

        func mkdir(_ relative: String) throws {
            try FileManager.default.createDirectory(atPath: path + "/" + relative, withIntermediateDirectories: true)
        }

        /// A workspace rooted here with these pipeline and profile folders (relative to the root).
        func workspace(pipelines: [String] = ["pipelines"], profiles: [String] = ["profiles"], installed: String? = nil)
            -> Workspace
        {
            Workspace(
                pipelineDirectories: pipelines, profileDirectories: profiles, environment: [:], currentDirectory: path,
                installedDirectory: installed.map { path + "/" + $0 })
        }
    }

    static func pipeline(_ name: String) -> String {
        """
        version: 1
        name: \(name)
        stages:
          only: {model: echo-small, prompt: "Say hi"}
        """
    }

    // MARK: - Search paths

    @Test func theSearchPathsComeFromTheBatonVariablesSplitAtColons() {
        let workspace = Workspace.current(
            environment: ["BATON_PIPELINE_PATH": "one:/abs/two", "BATON_PROFILE_PATH": "three", "HOME": "/home/u"], executable: nil)
        #expect(workspace.pipelineDirectories == ["one", "/abs/two"])
        #expect(workspace.profileDirectories == ["three"])
    }

    @Test func withoutTheVariablesTheLocalFolderComesBeforeTheConfigFolder() {
        let xdg = Workspace.current(environment: ["XDG_CONFIG_HOME": "/xdg", "HOME": "/home/u"], executable: nil)
        #expect(xdg.pipelineDirectories == ["pipelines", "/xdg/baton/pipelines"])
        #expect(xdg.profileDirectories == ["profiles", "/xdg/baton/profiles"])
        // An empty XDG_CONFIG_HOME counts as unset (the XDG base directory rule), and so does an empty BATON_*_PATH.
        let home = Workspace.current(environment: ["XDG_CONFIG_HOME": "", "BATON_PIPELINE_PATH": "", "HOME": "/home/u"], executable: nil)
        #expect(home.pipelineDirectories == ["pipelines", "/home/u/.config/baton/pipelines"])
        #expect(home.profileDirectories == ["profiles", "/home/u/.config/baton/profiles"])
    }

    @Test func anEarlierFolderHidesTheSameNameInALaterOne() throws {
        let folder = try Folder()
        try folder.write("first/hello.yaml", Self.pipeline("first"))
        try folder.write("second/hello.yaml", Self.pipeline("second"))
        try folder.write("second/other.yaml", Self.pipeline("other"))
        let workspace = folder.workspace(pipelines: ["first", "second"])

        #expect(workspace.pipelines().map(\.name) == ["hello", "other"])
        #expect(workspace.pipelines().first?.path == "first/hello.yaml")
        #expect(try workspace.pipelinePath("hello") == "first/hello.yaml")
        #expect(try workspace.pipelinePath("other") == "second/other.yaml")
        // The order of the folders decides, not their names.
        #expect(try folder.workspace(pipelines: ["second", "first"]).pipelinePath("hello") == "second/hello.yaml")
    }

    @Test func bothYamlAndYmlAreFoundAndNothingElse() throws {
        let folder = try Folder()
        try folder.write("pipelines/a.yaml", Self.pipeline("a"))
        try folder.write("pipelines/b.yml", Self.pipeline("b"))
        try folder.write("pipelines/notes.txt", "not a pipeline")
        try folder.write("pipelines/yaml", "no extension")
        try folder.write("pipelines/nested/c.yaml", Self.pipeline("c"))

        let listed = Workspace.yamlFiles(in: folder.path + "/pipelines")
        #expect(listed == [folder.path + "/pipelines/a.yaml", folder.path + "/pipelines/b.yml"])
        let workspace = folder.workspace()
        #expect(workspace.pipelines().map(\.name) == ["a", "b"])
        #expect(workspace.pipelines().map(\.path) == ["pipelines/a.yaml", "pipelines/b.yml"])
        #expect(try workspace.pipelinePath("b") == "pipelines/b.yml")
        // A path (with a slash or an extension) is taken as it is, and must exist.
        #expect(try workspace.pipelinePath("pipelines/nested/c.yaml") == "pipelines/nested/c.yaml")
        #expect(throws: WorkspaceError.fileNotFound("missing.yml")) { try workspace.pipelinePath("missing.yml") }
    }

    @Test func anUnknownNameNamesTheFoldersSearchedAndTheNearestName() throws {
        let folder = try Folder()
        try folder.write("pipelines/hello.yaml", Self.pipeline("hello"))
        let workspace = folder.workspace()
        #expect(throws: WorkspaceError.pipelineNotFound("helo", searched: ["pipelines"], known: ["hello"])) {
            try workspace.pipelinePath("helo")
        }
        let error = WorkspaceError.pipelineNotFound("helo", searched: ["pipelines"], known: ["hello"])
        #expect(error.description == "no pipeline named 'helo' in pipelines; did you mean 'hello'?")
    }

    // MARK: - The installed share/baton folder

    @Test func theInstalledFolderIsFoundBesideTheBinaryAndThroughASymlink() throws {
        let folder = try Folder()
        try folder.write("prefix/bin/baton", "")
        try folder.mkdir("prefix/share/baton/pipelines")
        let share = URL(fileURLWithPath: folder.path + "/prefix/share/baton").resolvingSymlinksInPath().path
        #expect(Workspace.installedShareDirectory(executable: folder.path + "/prefix/bin/baton").map(Self.resolved) == share)
        try FileManager.default.createDirectory(atPath: folder.path + "/elsewhere", withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(
            atPath: folder.path + "/elsewhere/baton", withDestinationPath: folder.path + "/prefix/bin/baton")
        #expect(Workspace.installedShareDirectory(executable: folder.path + "/elsewhere/baton").map(Self.resolved) == share)
        // A binary with no share/baton beside it (a build folder) has no installed folder.
        try folder.write("build/debug/baton", "")
        #expect(Workspace.installedShareDirectory(executable: folder.path + "/build/debug/baton") == nil)
    }

    static func resolved(_ path: String) -> String { URL(fileURLWithPath: path).resolvingSymlinksInPath().path }

    @Test func theInstalledFilesComeAfterTheUsersFoldersUnlessAVariableSetsThePath() throws {
        let folder = try Folder()
        try folder.write("prefix/bin/baton", "")
        try folder.write("prefix/share/baton/pipelines/hello.yaml", Self.pipeline("shipped"))
        try folder.write("prefix/share/baton/pipelines/shipped-only.yaml", Self.pipeline("shipped-only"))
        try folder.write("prefix/share/baton/profiles/ci.yaml", "version: 1\nname: ci\n")
        try folder.write("project/pipelines/hello.yaml", Self.pipeline("mine"))
        let environment = ["HOME": folder.path + "/home"]

        let installed = try #require(Workspace.installedShareDirectory(executable: folder.path + "/prefix/bin/baton"))
        var workspace = Workspace.current(environment: environment, executable: folder.path + "/prefix/bin/baton")
        workspace.currentDirectory = folder.path + "/project"
        #expect(workspace.pipelineSearchPath == ["pipelines", folder.path + "/home/.config/baton/pipelines", installed + "/pipelines"])
        #expect(workspace.profileSearchPath.last == installed + "/profiles")
        #expect(try workspace.pipelinePath("hello") == "pipelines/hello.yaml", "the user's file hides the shipped one")
        #expect(try workspace.pipelinePath("shipped-only") == installed + "/pipelines/shipped-only.yaml")

        // BATON_PIPELINE_PATH is the whole pipeline path; the profile path still ends with the installed folder.
        var pinned = Workspace.current(
            environment: environment.merging(["BATON_PIPELINE_PATH": "pipelines"]) { $1 }, executable: folder.path + "/prefix/bin/baton")
        pinned.currentDirectory = folder.path + "/project"
        #expect(pinned.pipelineSearchPath == ["pipelines"])
        #expect(pinned.profileSearchPath.last == installed + "/profiles")
        #expect(throws: WorkspaceError.self) { try pinned.pipelinePath("shipped-only") }
    }

    // MARK: - Profiles

    static let base = """
        version: 1
        name: base
        memory_budget: 8GB
        default_runtime: echo
        runtimes:
          echo: {kind: echo}
        models:
          echo-small: {runtime: echo, footprint: 256MB}
        defaults:
          temperature: 0.5
        """

    @Test func aProfileIsLoadedWithWhatItExtends() throws {
        let folder = try Folder()
        try folder.write("profiles/base.yaml", Self.base)
        try folder.write("profiles/child.yml", "version: 1\nname: child\nextends: base\nmemory_budget: 2GB\n")
        let loaded = try folder.workspace().loadProfile("child")

        #expect(loaded.diagnostics.isEmpty, "\(loaded.diagnostics)")
        let profile = try #require(loaded.profile)
        #expect(profile.chain == ["child", "base"])
        #expect(profile.spec.memoryBudget == .fixed(ByteCount(parsing: "2GB")!), "the child's value wins")
        #expect(profile.spec.runtime(named: "echo") != nil, "the parent's runtime is inherited")
        #expect(profile.spec.defaults.temperature == 0.5)
        #expect(loaded.documents.map(\.file.path) == ["profiles/child.yml", "profiles/base.yaml"])
        #expect(Set(loaded.sources.keys) == ["profiles/child.yml", "profiles/base.yaml"])
    }

    @Test func aProfileCanBeLoadedByPath() throws {
        let folder = try Folder()
        try folder.write("profiles/base.yaml", Self.base)
        try folder.write("elsewhere/mine.yaml", "version: 1\nname: mine\nextends: base\n")
        let loaded = try folder.workspace().loadProfile("elsewhere/mine.yaml")
        #expect(loaded.profile?.chain == ["mine", "base"], "\(loaded.diagnostics)")
    }

    @Test func aMissingParentIsADiagnosticAndAMissingProfileAnError() throws {
        let folder = try Folder()
        try folder.write("profiles/orphan.yaml", "version: 1\nname: orphan\nextends: nowhere\n")
        let workspace = folder.workspace()
        let loaded = try workspace.loadProfile("orphan")
        #expect(loaded.diagnostics.map(\.code) == ["unknown-profile"])
        #expect(throws: WorkspaceError.profileNotFound("orphn", searched: ["profiles"], known: ["orphan"])) {
            try workspace.loadProfile("orphn")
        }
    }

    @Test func withNoDefaultFileTheBuiltInDefaultProfileIsUsed() throws {
        let folder = try Folder()
        try folder.mkdir("profiles")
        let workspace = folder.workspace()
        #expect(workspace.defaultProfileFile() == nil)
        #expect(workspace.usesBuiltInDefault(requested: nil))
        #expect(workspace.profileName(requested: nil) == BuiltInProfiles.defaultName)
        let loaded = try workspace.loadProfile(BuiltInProfiles.defaultName)
        #expect(loaded.diagnostics.isEmpty, "\(loaded.diagnostics)")
        #expect(loaded.profile?.spec.runtime(named: "ollama") != nil)
        #expect(loaded.profile?.spec.memoryBudget == .auto)

        // `extends: default` takes the built-in profile too.
        try folder.write("profiles/mine.yaml", "version: 1\nname: mine\nextends: default\nmemory_budget: 4GB\n")
        let child = try workspace.loadProfile("mine")
        #expect(child.diagnostics.isEmpty, "\(child.diagnostics)")
        #expect(child.profile?.chain == ["mine", "default"])
        #expect(child.profile?.spec.runtime(named: "ollama") != nil)
    }

    @Test func aDefaultFileOnThePathReplacesTheBuiltInProfile() throws {
        let folder = try Folder()
        try folder.write("profiles/default.yaml", Self.base.replacingOccurrences(of: "name: base", with: "name: default"))
        let workspace = folder.workspace()
        #expect(workspace.defaultProfileFile()?.path == "profiles/default.yaml")
        #expect(!workspace.usesBuiltInDefault(requested: nil))
        #expect(workspace.usesBuiltInDefault(requested: "other") == false)
        let loaded = try workspace.loadProfile("default")
        #expect(loaded.profile?.spec.runtime(named: "ollama") == nil, "the file's runtimes, not the built-in ones")
        #expect(loaded.profile?.spec.memoryBudget == .fixed(ByteCount(parsing: "8GB")!))
    }

    // MARK: - Reading

    @Test func aFileOverTheSizeLimitIsRefusedBeforeItIsRead() throws {
        let folder = try Folder()
        let path = folder.path + "/huge.yaml"
        // A sparse file: over the limit on disk size, without writing megabytes.
        #expect(FileManager.default.createFile(atPath: path, contents: nil))
        #expect(truncate(path, off_t(YAMLLimits.standard.maxBytes + 1)) == 0)
        let workspace = folder.workspace()
        #expect {
            try workspace.read("huge.yaml")
        } throws: { error in
            guard case .tooLarge(let file, _) = error as? WorkspaceError else { return false }
            return file == "huge.yaml"
        }
        // A file exactly at the limit is read.
        #expect(truncate(path, off_t(YAMLLimits.standard.maxBytes)) == 0)
        #expect(try workspace.read("huge.yaml").text.utf8.count == YAMLLimits.standard.maxBytes)
    }

    @Test func readNamesAMissingFileAFolderAndTextThatIsNotUTF8() throws {
        let folder = try Folder()
        try folder.mkdir("adir")
        try Data([0xFF, 0xFE, 0x00, 0xC3]).write(to: URL(fileURLWithPath: folder.path + "/binary.yaml"))
        try folder.write("sub/ok.yaml", "version: 1\n")
        let workspace = folder.workspace()
        #expect(throws: WorkspaceError.fileNotFound("absent.yaml")) { try workspace.read("absent.yaml") }
        #expect(throws: WorkspaceError.fileNotFound("adir")) { try workspace.read("adir") }
        #expect(throws: WorkspaceError.notUTF8("binary.yaml")) { try workspace.read("binary.yaml") }
        // The path is shown relative to the current directory, with `./` removed.
        #expect(try workspace.read("./sub/ok.yaml").path == "sub/ok.yaml")
        #expect(try workspace.read(folder.path + "/sub/ok.yaml").path == "sub/ok.yaml")
    }

    // MARK: - Prompt files (unreadable-file)

    /// A pipeline whose one stage reads `prompts/plan.md`; its `prompt_file` value is at 5:18.
    static let promptFilePipeline = """
        version: 1
        stages:
          plan:
            model: small
            prompt_file: prompts/plan.md
        """

    /// The diagnostics of `promptFilePipeline` compiled in `folder`, whose `prompts/plan.md` the test prepared.
    static func promptFileDiagnostics(in folder: Folder) throws -> [Diagnostic] {
        try folder.write("p.yaml", promptFilePipeline)
        return try folder.workspace().compile(path: "p.yaml", profile: nil).diagnostics
    }

    @Test func aPromptFileOverTheSizeLimitIsReportedAsTooLargeAtItsValueNotAsMissing() throws {
        let folder = try Folder()
        try folder.mkdir("prompts")
        let prompt = folder.path + "/prompts/plan.md"
        // A sparse file: over the limit on disk size, without writing megabytes.
        #expect(FileManager.default.createFile(atPath: prompt, contents: nil))
        #expect(truncate(prompt, off_t(3 * 1024 * 1024)) == 0)
        let diagnostics = try Self.promptFileDiagnostics(in: folder)
        #expect(diagnostics.map(\.code) == ["unreadable-file"])
        #expect(diagnostics.first?.location == SourceLocation(file: "p.yaml", line: 5, column: 18))
        #expect(
            diagnostics.first?.message
                == "prompt file 'prompts/plan.md' is 3 MB, over the 2 MB Baton reads from one file; make it smaller")
    }

    @Test(.enabled(if: getuid() != 0, "root reads a file whatever its permissions"))
    func aPromptFileWithoutReadPermissionIsReportedAsUnreadableNotAsMissing() throws {
        let folder = try Folder()
        try folder.write("prompts/plan.md", "Plan it.")
        let prompt = folder.path + "/prompts/plan.md"
        #expect(chmod(prompt, 0o000) == 0)
        defer { chmod(prompt, 0o644) }
        let diagnostics = try Self.promptFileDiagnostics(in: folder)
        #expect(diagnostics.map(\.code) == ["unreadable-file"])
        #expect(diagnostics.first?.location == SourceLocation(file: "p.yaml", line: 5, column: 18))
        #expect(
            diagnostics.first?.message
                == "prompt file 'prompts/plan.md' is there but could not be read (permission denied); check its permissions (chmod u+r)")
    }

    @Test func aPromptFileThatIsNotUTF8IsReportedAsSuchAndAMissingOneAsNotFound() throws {
        let folder = try Folder()
        try folder.mkdir("prompts")
        try Data([0x50, 0x6C, 0x61, 0x6E, 0xFC, 0x0A]).write(to: URL(fileURLWithPath: folder.path + "/prompts/plan.md"))
        let binary = try Self.promptFileDiagnostics(in: folder)
        #expect(binary.map(\.code) == ["unreadable-file"])
        #expect(binary.first?.message == "prompt file 'prompts/plan.md' is not UTF-8 text; save it as UTF-8")
        try FileManager.default.removeItem(atPath: folder.path + "/prompts/plan.md")
        #expect(try Self.promptFileDiagnostics(in: folder).map(\.code) == ["file-not-found"])
    }

    @Test func theRunLoaderReportsATooLargePromptFileAsUnreadable() async throws {
        let folder = try Folder()
        try folder.mkdir("prompts")
        let prompt = folder.path + "/prompts/plan.md"
        #expect(FileManager.default.createFile(atPath: prompt, contents: nil))
        #expect(truncate(prompt, off_t(YAMLLimits.standard.maxBytes + 1)) == 0)
        try folder.write("p.yaml", Self.promptFilePipeline)
        let loader = PlanLoader(workspace: folder.workspace())
        await #expect {
            try await loader.load("p.yaml", profileName: nil, discover: false, database: nil)
        } throws: { error in
            guard let invalid = error as? PipelineInvalid else { return false }
            return invalid.diagnostics.contains {
                $0.code == "unreadable-file" && $0.location == SourceLocation(file: "p.yaml", line: 5, column: 18)
            }
        }
    }

    @Test func pathsOutsideTheCurrentDirectoryStayAbsolute() {
        let workspace = Workspace(pipelineDirectories: [], profileDirectories: [], environment: [:], currentDirectory: "/work/project/")
        #expect(workspace.absolute("a/b.yaml") == "/work/project/a/b.yaml")
        #expect(workspace.absolute("/etc/x.yaml") == "/etc/x.yaml")
        #expect(workspace.display("/work/project/a/./b.yaml") == "a/b.yaml")
        #expect(workspace.display("/work/projectile/b.yaml") == "/work/projectile/b.yaml", "a sibling with a common prefix is not below")
    }
}
