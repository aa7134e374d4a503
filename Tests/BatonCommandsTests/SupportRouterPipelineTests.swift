import BatonEngine
import BatonTestSupport
import Foundation
import Testing

/// The shipped support-router pipeline (issue 11's routing pattern) on the echo runtime: every branch of its route,
/// with and without the urgent hand-off, calls exactly the stages of that branch and polishes that branch's draft.
@Suite struct SupportRouterPipelineTests {
    static let pipeline = Fixtures.path("pipelines/support-router.yaml")

    /// A triage answer the bug branch's JSON stage gives.
    static let triage =
        #"{"summary": "Export crashes", "steps": ["open a report", "export"], "severity": "major", "missing": ["app version"]}"#

    struct Case: Sendable, CustomTestStringConvertible {
        var category: String
        var urgent: Bool
        /// The stages the branch runs, in the pipeline's order.
        var branch: [String]
        var testDescription: String { "\(category)\(urgent ? ", urgent" : "")" }
    }

    static let cases: [Case] = [
        Case(category: "billing", urgent: true, branch: ["billing_reply"]),
        Case(category: "bug", urgent: false, branch: ["bug_triage", "bug_reply"]),
        Case(category: "account", urgent: false, branch: ["account_reply"]),
        Case(category: "other", urgent: true, branch: ["general_reply"]),
    ]

    static let drafts = ["billing_reply", "bug_triage", "bug_reply", "account_reply", "general_reply"]

    @Test("each category runs its branch only, and the hand-off only when urgent", arguments: cases)
    func eachBranchRunsAlone(_ branch: Case) async throws {
        // Given the classifier scripted to answer this category
        let sandbox = try RunSandbox("support-router")
        let script = """
            classify:
              1: {output: '{"category": "\(branch.category)", "urgent": \(branch.urgent)}'}
            bug_triage:
              1: {output: '\(Self.triage)'}

            """
        try script.write(toFile: sandbox.folder + "/script.yaml", atomically: true, encoding: .utf8)
        sandbox.environment["BATON_ECHO_SCRIPT"] = sandbox.folder + "/script.yaml"

        // When it runs
        let run = try await sandbox.baton(["run", Self.pipeline, "--runtime", "echo", "--input", "ticket=It broke."])

        // Then only the chosen branch (and the hand-off when urgent) was called, once each
        #expect(run.status == 0, "\(run.summary)")
        let expected = ["classify"] + branch.branch + (branch.urgent ? ["handoff"] : []) + ["reply"]
        #expect(sandbox.calls().map(\.stage) == expected)
        let id = try await sandbox.onlyRunID()
        let attempts = try sandbox.attempts(id)
        let skipped = Set(attempts.filter { $0.status == .skipped }.map(\.stage))
        let notRun = Set(Self.drafts).subtracting(branch.branch).union(branch.urgent ? [] : ["handoff"])
        #expect(skipped == notRun)
        #expect(attempts.filter { $0.status == .completed }.map(\.stage) == expected)

        // And the writer polished the one draft the branch made, told of the urgency only when urgent
        let reply = try #require(attempts.first { $0.stage == "reply" })
        let draft = try #require(attempts.first { $0.stage == branch.branch.last! })
        #expect(reply.prompt.contains(draft.output))
        #expect(reply.prompt.contains("The ticket is urgent") == branch.urgent)
        if branch.category == "bug" {
            let bugReply = try #require(attempts.first { $0.stage == "bug_reply" })
            #expect(bugReply.prompt.contains("passed to engineering as a major issue") && bugReply.prompt.contains("ask for: app version"))
        }
        #expect(run.stdout.contains("## reply") && run.stdout.contains("## handoff"))
    }

    @Test("an answer without the route's field takes the default branch")
    func anAnswerWithoutTheFieldTakesTheDefaultBranch() async throws {
        // Given a classifier whose JSON lacks 'category' (echo does not hold answers to the schema, a model might not)
        let sandbox = try RunSandbox("support-router-default")
        try "classify:\n  \"*\": {output: '{\"urgent\": false}'}\n".write(
            toFile: sandbox.folder + "/script.yaml", atomically: true, encoding: .utf8)
        sandbox.environment["BATON_ECHO_SCRIPT"] = sandbox.folder + "/script.yaml"

        // When
        let run = try await sandbox.baton(["run", Self.pipeline, "--runtime", "echo", "--input", "ticket=Hello"])

        // Then the default branch ran, and the condition on the hand-off read urgent = false
        #expect(run.status == 0, "\(run.summary)")
        #expect(sandbox.calls().map(\.stage) == ["classify", "general_reply", "reply"])
    }
}
