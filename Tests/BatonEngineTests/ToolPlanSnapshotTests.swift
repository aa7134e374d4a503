import BatonSpec
import Foundation
import Testing

@testable import BatonEngine

/// A plan with tools pinned and read back: the shared plan fields of issue 12 (mcpServers, toolPolicy,
/// isToolDefinition, description) survive the fast snapshot decoder and JSONDecoder alike.
@Suite struct ToolPlanSnapshotTests {
    static let pipeline = """
        version: 1
        name: tooled
        mcp_servers:
          clock: {command: [mcp-server-time], allow_tools: [get_current_time], startup_timeout: 5s}
        stages:
          count:
            description: Counts the words of a text.
            run: [wc, -w]
            stdin: "{{args.text}}"
            effects: none
            parameters:
              type: object
              properties: {text: {type: string, description: "the text"}}
              required: [text]
          ask:
            model: m1
            prompt: "How many words in 'a b c'?"
            tools: [count, clock.get_current_time]
            max_tool_calls: 3
          now:
            mcp: {server: clock, tool: get_current_time, arguments: {timezone: UTC}}
            approve: true
        """

    static let profile = """
        version: 1
        name: tooling
        default_runtime: local
        runtimes:
          local: {kind: echo}
        tools: {allow: [wc]}
        mcp_servers:
          clock: {command: [ignored]}
          git: {command: [mcp-server-git]}
        """

    static func compiled() throws -> ExecutionPlan {
        let profileFile = SourceFile(path: "/tmp/tooling.yaml", text: profile)
        let decoded = ProfileDecoder.decode(profileFile, environment: [:])
        let spec = try #require(decoded.spec, "\(decoded.diagnostics)")
        let resolved = ResolvedProfile(spec: spec, chain: [profileFile.path])
        let source = SourceFile(path: "/tmp/tooled.yaml", text: pipeline)
        let result = PipelineCompiler(profile: resolved) { _ in nil }.compile(source)
        return try #require(result.plan, "\(result.diagnostics.map(\.message))")
    }

    @Test func aPlanWithToolsComesBackThroughBothDecoders() throws {
        let plan = try Self.compiled()
        // Filled by the compiler: the pipeline's server wins over the profile's of the same name.
        #expect(plan.mcpServers?.map(\.name) == ["clock", "git"])
        #expect(plan.mcpServers?.first?.command == ["mcp-server-time"])
        #expect(plan.toolPolicy == ToolPolicy(allow: ["wc"]))
        #expect(plan.stage(named: "count")?.isToolDefinition == true)
        #expect(plan.stage(named: "count")?.description == "Counts the words of a text.")
        #expect(plan.stage(named: "now")?.isToolDefinition == false)
        #expect(plan.stage(named: "ask")?.isToolDefinition == false)

        let snapshot = RunSnapshot(plan: plan, profile: nil, sources: [:], pipelinePath: nil, forcedRuntime: nil)
        let text = try snapshot.encoded()
        let fast = try SnapshotJSONDecoder.decode(RunSnapshot.self, from: text)
        let foundation = try JSONDecoder().decode(RunSnapshot.self, from: Data(text.utf8))
        // Compared field by field and encoded: a JSON schema's keys come back sorted, so the values differ in order only.
        for decoded in [fast.plan, foundation.plan] {
            #expect(decoded.mcpServers == plan.mcpServers)
            #expect(decoded.toolPolicy == plan.toolPolicy)
            #expect(decoded.stages.map(\.isToolDefinition) == plan.stages.map(\.isToolDefinition))
            #expect(decoded.stages.map(\.description) == plan.stages.map(\.description))
            #expect(decoded.stages.map(\.toolUse) == plan.stages.map(\.toolUse))
            #expect(decoded.stages.map(\.tool) == plan.stages.map(\.tool))
        }
        #expect(try foundation.encoded() == text)
        #expect(try fast.encoded() == text)
        #expect(text.contains("\"isToolDefinition\":true"))
    }

    @Test func aPlanWithoutToolsEncodesNoneOfTheToolFields() throws {
        let source = SourceFile(path: "/tmp/plain.yaml", text: "version: 1\nname: plain\nstages:\n  a: {model: m1, prompt: hi}\n")
        let plan = try #require(PipelineCompiler(profile: nil) { _ in nil }.compile(source).plan)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let text = String(decoding: try encoder.encode(plan), as: UTF8.self)
        for key in ["mcpServers", "toolPolicy", "isToolDefinition", "description"] {
            #expect(!text.contains("\"\(key)\""), "\(key) in \(text)")
        }
    }
}
