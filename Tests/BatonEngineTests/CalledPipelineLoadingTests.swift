import BatonSpec
import BatonTestSupport
import Foundation
import Testing

@testable import BatonEngine

/// How the workspace finds the pipelines `uses:` calls (Workspace.readCalledPipeline) and what PlanLoader makes of
/// them: a name on the search path, a path relative to the calling file; the called files' project folders are the
/// run's project folders, so the trust check covers them.
@Suite struct CalledPipelineLoadingTests {
    static let called = """
        version: 1
        name: helper
        inputs:
          text: {}
        stages:
          answer: {model: m, prompt: "Answer {{inputs.text}}"}
        """

    /// Project A (the caller, in A/pipelines) and project B (a called file, in B/pipelines), in a fresh folder.
    static func projects() throws -> String {
        let root = NSTemporaryDirectory() + "baton-called-\(UUID().uuidString.prefix(8))"
        for folder in ["A/pipelines/lib", "B/pipelines"] {
            try FileManager.default.createDirectory(atPath: root + "/" + folder, withIntermediateDirectories: true)
        }
        try called.write(toFile: root + "/B/pipelines/helper.yaml", atomically: true, encoding: .utf8)
        try called.replacingOccurrences(of: "name: helper", with: "name: near")
            .write(toFile: root + "/A/pipelines/lib/near.yaml", atomically: true, encoding: .utf8)
        return root
    }

    @Test func aNameIsFoundOnTheSearchPathAndAPathBesideTheCallingFile() throws {
        let root = try Self.projects()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let workspace = Workspace(
            pipelineDirectories: [root + "/B/pipelines"], profileDirectories: [], environment: [:], currentDirectory: root + "/A")
        let caller = root + "/A/pipelines/main.yaml"

        #expect(try workspace.readCalledPipeline("helper", from: caller).text == Self.called)
        #expect(try workspace.readCalledPipeline("lib/near.yaml", from: caller).text.contains("name: near"))
        #expect(try workspace.readCalledPipeline("./lib/../lib/near.yaml", from: caller).text.contains("name: near"))
        // The same file reached by two paths has one path, so cycles and the cache see one pipeline.
        #expect(
            try workspace.readCalledPipeline("./lib/../lib/near.yaml", from: caller).path
                == workspace.readCalledPipeline("lib/near.yaml", from: caller).path)
        #expect(throws: SourceReadError.notFound) { try workspace.readCalledPipeline("nothing", from: caller) }
        #expect(throws: SourceReadError.notFound) { try workspace.readCalledPipeline("lib/none.yaml", from: caller) }
        // A name with a folder in it is no name: paths end in .yaml or .yml.
        #expect(throws: SourceReadError.notFound) { try workspace.readCalledPipeline("lib/near", from: caller) }
    }

    @Test func theProjectFoldersOfALoadedPipelineCoverTheFilesItCalls() async throws {
        // Given a pipeline in project A calling one in project B by path, and one by name
        let root = try Self.projects()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let main = """
            version: 1
            stages:
              far: {uses: ../../B/pipelines/helper.yaml, with: {text: a}}
              near: {uses: near, with: {text: b}}
            """
        try main.write(toFile: root + "/A/pipelines/main.yaml", atomically: true, encoding: .utf8)
        let workspace = Workspace(
            pipelineDirectories: [root + "/A/pipelines/lib"], profileDirectories: [], environment: [:], currentDirectory: root + "/A")

        // When
        let loaded = try await PlanLoader(workspace: workspace).load(
            root + "/A/pipelines/main.yaml", profileName: nil, discover: false, database: nil, echo: true)

        // Then the called stages are in the plan, the called files in the sources, and B among the project folders
        #expect(loaded.plan.stages.map(\.name) == ["far/answer", "near/answer"])
        #expect(loaded.sources.keys.contains { $0.hasSuffix("/B/pipelines/helper.yaml") })
        #expect(loaded.projectFolders.contains { $0.hasSuffix("/B") }, "\(loaded.projectFolders)")
        #expect(loaded.projectFolders.contains { $0.hasSuffix("/A") }, "\(loaded.projectFolders)")
    }

    @Test func theEchoLayerGivesAModelToARoleOnlyACalledPipelineNames() async throws {
        // Given a called pipeline whose stage has a role no profile maps, and a caller that does not name it
        let root = try Self.projects()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let called = Self.called.replacingOccurrences(of: "model: m,", with: "role: odd-role-only-here,")
        try called.write(toFile: root + "/B/pipelines/helper.yaml", atomically: true, encoding: .utf8)
        try "version: 1\nstages:\n  far: {uses: ../../B/pipelines/helper.yaml, with: {text: a}}\n"
            .write(toFile: root + "/A/pipelines/main.yaml", atomically: true, encoding: .utf8)
        let workspace = Workspace(pipelineDirectories: [], profileDirectories: [], environment: [:], currentDirectory: root + "/A")

        // When it is loaded for `run --runtime echo`
        let loaded = try await PlanLoader(workspace: workspace).load(
            root + "/A/pipelines/main.yaml", profileName: nil, discover: false, database: nil, echo: true)

        // Then the called stage runs on echo
        #expect(loaded.plan.stage(named: "far/answer")?.models.first?.runtime == "echo")
    }

    @Test func theFoldersAskedAboutBeforeDiscoveryIncludeTheCalledFilesProjects() throws {
        // Given a pipeline in project A calling one in project B, neither trusted
        let root = try Self.projects()
        defer { try? FileManager.default.removeItem(atPath: root) }
        try "version: 1\nstages:\n  far: {uses: ../../B/pipelines/helper.yaml, with: {text: a}}\n"
            .write(toFile: root + "/A/pipelines/main.yaml", atomically: true, encoding: .utf8)
        let workspace = Workspace(
            pipelineDirectories: [], profileDirectories: [], environment: [:], currentDirectory: root + "/A",
            configDirectory: root + "/config")
        let loader = PlanLoader(workspace: workspace)

        // Then B is among the untrusted folders that keep discovery on this machine
        #expect(loader.calledPipelineFiles(of: root + "/A/pipelines/main.yaml").count == 1)
        let untrusted = loader.untrustedFolders(pipeline: root + "/A/pipelines/main.yaml", profileSources: [String]())
        #expect(untrusted.contains { $0.hasSuffix("/B") }, "\(untrusted)")
        #expect(untrusted.contains { $0.hasSuffix("/A") }, "\(untrusted)")
    }
}
