import BatonEngine
import BatonTestSupport
import Foundation
import Testing

/// `baton plan` on a pipeline with a route (issue 11): the worst-case schedule, then one line per branch.
@Suite struct RoutePlanCommandTests {
    @Test func planListsEachBranchWithItsStagesAndLoads() async throws {
        let sandbox = try RunSandbox("route-plan")
        let text = try await sandbox.baton(["plan", RouteCrashResumeTests.pipeline, "--profile", "ci"])
        #expect(text.status == 0, "\(text.summary)")
        #expect(text.stdout.contains("the rows above run every branch (the worst case); each branch alone:\n"))
        #expect(
            text.stdout.contains(
                "  route classify → billing: runs billing_reply; loads echo:echo-small, echo:echo-medium; 0 unloads, peak 768 MB\n"))
        #expect(
            text.stdout.contains(
                "  route classify → bug: runs bug_triage, bug_reply; loads echo:echo-small, echo:echo-large, echo:echo-medium; 0 unloads, peak 1.8 GB\n"
            ))

        let json = try await sandbox.baton(["plan", RouteCrashResumeTests.pipeline, "--profile", "ci", "--json"])
        #expect(json.status == 0, "\(json.summary)")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any])
        let branches = try #require(object["branches"] as? [[String: Any]])
        #expect(branches.map { $0["branch"] as? String } == ["billing", "bug"])
        #expect(branches.allSatisfy { $0["router"] as? String == "classify" })
        #expect(branches.last?["stages"] as? [String] == ["bug_triage", "bug_reply"])
        #expect(branches.last?["load_models"] as? [String] == ["echo:echo-small", "echo:echo-large", "echo:echo-medium"])
        #expect(branches.last?["loads"] as? Int == 3)
        // The billing branch never loads echo-large: its peak is the two smaller models, the bug branch's all three.
        let peaks = branches.compactMap { ($0["peak_bytes"] as? NSNumber)?.int64Value }
        #expect(peaks.count == 2 && peaks[0] < peaks[1] && peaks[1] == (object["peak_bytes"] as? NSNumber)?.int64Value)
    }
}
