import BatonTestSupport
import Foundation
import Testing

/// Until the engine runs tool stages, `baton run` refuses a plan with one (exit 65, the stage named, no run recorded),
/// where it would otherwise have sent the tool stage's empty prompt to a model; `validate` accepts the file.
@Suite struct ToolStageRefusalTests {
    /// A profile file extending the default one with `tools: {allow: [wc]}`; its path.
    static func allowingWC(in sandbox: RunSandbox) throws -> String {
        let path = sandbox.folder + "/allow-wc.yaml"
        try "version: 1\nname: allow-wc\nextends: default\ntools: {allow: [wc]}\n".write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    @Test("run runs a pipeline with a run stage: the command's output is the stage's, one tool call recorded")
    func runRunsAToolStage() async throws {
        // Given a pipeline with a model stage and a run stage (it was refused, exit 65, until tool stages ran)
        let sandbox = try RunSandbox("tool-stage-run")
        let pipeline = sandbox.folder + "/tools.yaml"
        try """
        version: 1
        stages:
          draft: {model: m, prompt: Say hi.}
          count: {run: [wc, -w], stdin: some more words, effects: none}
        """.write(toFile: pipeline, atomically: true, encoding: .utf8)

        // When (with a profile that allows wc: without one, tool-not-allowed refuses it at validation)
        let profile = try Self.allowingWC(in: sandbox)
        let validate = try await sandbox.baton(["validate", pipeline, "--profile", profile])
        let run = try await sandbox.baton(["run", pipeline, "--runtime", "echo", "--profile", profile, "--trust"])

        // Then
        #expect(validate.status == 0, "\(validate.summary)")
        #expect(run.status == 0, "\(run.summary)")
        #expect(run.stdout.contains("3"), "\(run.stdout)")
        let ids = try await sandbox.runIDs()
        #expect(ids.count == 1)
        let show = try await sandbox.baton(["show", ids.first ?? "", "--stage", "count"])
        #expect(show.status == 0 && show.stdout.contains("wc"), "\(show.summary)")
    }

    @Test("plan shows a tool stage as a stage with no model: nothing loaded, no unknown footprint")
    func planShowsAToolStageWithoutAModel() async throws {
        let sandbox = try RunSandbox("tool-stage-plan")
        let pipeline = sandbox.folder + "/tools.yaml"
        try """
        version: 1
        stages:
          draft: {model: m, prompt: Say hi.}
          count: {run: [wc, -w], stdin: "{{stages.draft.output}}"}
        """.write(toFile: pipeline, atomically: true, encoding: .utf8)

        let profile = try Self.allowingWC(in: sandbox)
        let text = try await sandbox.baton(["plan", pipeline, "--offline", "--profile", profile])
        let json = try await sandbox.baton(["plan", pipeline, "--offline", "--json", "--profile", profile])

        #expect(text.status == 0, "\(text.summary)")
        #expect(text.stdout.contains("a `run` stage: no model"), "\(text.stdout)")
        #expect(!text.stdout.contains("?:?") && !text.stdout.contains("-:run"), "\(text.stdout)")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any])
        let steps = try #require(object["steps"] as? [[String: Any]])
        let count = try #require(steps.first { $0["stage"] as? String == "count" })
        #expect(count["tool"] as? String == "run")
        #expect(count["load"] as? Bool == false)
        // Only the model stage's footprint is unknown (m is in no registry); the tool stage adds none.
        #expect((object["unknown_footprints"] as? [Any])?.count == 1, "\(json.stdout)")
    }
}
