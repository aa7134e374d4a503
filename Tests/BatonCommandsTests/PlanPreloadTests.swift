import BatonTestSupport
import Foundation
import Testing

/// `baton plan` says which loads overlap the stage before (issue 15): in text (`started while S runs`) and JSON
/// (`preload_during`), and `preloading off:` with the reason when the profile turns it off.
@Suite struct PlanPreloadTests {
    /// The six stages and three models of Benchmarks/llama.py on a llama-server router, under a budget for two.
    static let pipeline = """
        version: 1
        name: three-models
        stages:
          plan: {model: planner, prompt: "List two steps."}
          review: {model: critic, reviews: plan, max_rounds: 1, on_exhausted: accept, prompt: "Approve {{stages.plan.output}}"}
          draft: {model: executor, needs: [review], prompt: "Explain {{stages.plan.output}}"}
          check: {model: critic, reviews: draft, max_rounds: 1, on_exhausted: accept, prompt: "Approve {{stages.draft.output}}"}
          summary: {model: planner, needs: [check], prompt: "Summarize {{stages.draft.output}}"}
          title: {model: executor, needs: [summary], prompt: "A title for {{stages.summary.output}}"}
        """

    static func profile(preload: Bool?) -> String {
        """
        version: 1
        name: router-two
        memory_budget: 900MB
        \(preload.map { "preload: \($0)" } ?? "")
        runtimes:
          router: {kind: llama-server, url: "http://127.0.0.1:9"}
        models:
          planner: {runtime: router, footprint: 430MB}
          critic: {runtime: router, footprint: 430MB}
          executor: {runtime: router, footprint: 430MB}
        """
    }

    static func plan(preload: Bool?, json: Bool) async throws -> BatonProcess.Result {
        let sandbox = try RunSandbox("plan-preload")
        try pipeline.write(toFile: sandbox.folder + "/three.yaml", atomically: true, encoding: .utf8)
        try profile(preload: preload).write(toFile: sandbox.folder + "/router-two.yaml", atomically: true, encoding: .utf8)
        return try await sandbox.baton(
            ["plan", sandbox.folder + "/three.yaml", "--profile", sandbox.folder + "/router-two.yaml", "--offline"]
                + (json ? ["--json"] : []))
    }

    @Test func theTextSaysWhichLoadsStartWhileTheStageBeforeRuns() async throws {
        let result = try await Self.plan(preload: nil, json: false)

        #expect(result.status == 0, "\(result.stderr)")
        let rows = result.stdout.split(separator: "\n").map(String.init)
        #expect(
            rows.contains { $0.contains(" review ") && $0.hasSuffix("load router:critic (430 MB), started while plan runs") },
            "\(result.stdout)")
        #expect(
            rows.contains {
                $0.contains(" draft ")
                    && $0.hasSuffix("unload router:planner (430 MB); load router:executor (430 MB), started while review runs")
            })
        #expect(rows.contains { $0.contains(" summary ") && $0.hasSuffix("load router:planner (430 MB)") })
        #expect(rows.contains("preloading: 2 of 4 loads start while an earlier stage runs; peak with loads in flight 860 MB"))
    }

    @Test func theJSONHasPreloadDuringPerLoad() async throws {
        let result = try await Self.plan(preload: nil, json: true)

        #expect(result.status == 0, "\(result.stderr)")
        let document = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
        let steps = try #require(document["steps"] as? [[String: Any]])
        #expect(steps.map { $0["preload_during"] as? String } == [nil, "plan", "review", nil, nil, nil])
        #expect(document["preloads"] as? Int == 2)
        #expect(document["preloading_off"] is NSNull)
        #expect(document["peak_bytes_with_preloads"] as? Int == 860_000_000)
    }

    @Test func preloadFalseTurnsItOffAndSaysSo() async throws {
        let text = try await Self.plan(preload: false, json: false)
        let json = try await Self.plan(preload: false, json: true)

        #expect(text.status == 0, "\(text.stderr)")
        #expect(!text.stdout.contains("started while"))
        #expect(text.stdout.contains("\npreloading off: the profile sets preload: false\n"))
        let document = try #require(try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any])
        #expect(document["preloading_off"] as? String == "the profile sets preload: false")
        #expect((document["steps"] as? [[String: Any]])?.allSatisfy { $0["preload_during"] == nil } == true)
    }
}
