import BatonEngine
import BatonSpec
import BatonTestSupport
import Testing

/// ``ToolStageGate``: which plans this build refuses to run until the engine runs tool stages (issue 12).
@Suite struct ToolStageGateTests {
    static func plan(_ stages: String) throws -> ExecutionPlan {
        let result = PipelineCompiler(profile: nil).compile(SourceFile(path: "t.yaml", text: "version: 1\nstages:\n" + stages))
        return try #require(result.plan, "\(result.diagnostics)")
    }

    @Test func aPlanWithoutToolsPasses() throws {
        try ToolStageGate.check(try Self.plan("  a: {model: m, prompt: A}\n"))
    }

    @Test(arguments: [
        ("  a: {model: m, prompt: A}\n  h: {http: {url: 'http://127.0.0.1:9/x'}}\n", "h", "`http` stage"),
        ("  m: {mcp: {server: s, tool: t}}\nmcp_servers:\n  s: {command: [srv]}\n", "m", "`mcp` stage"),
        ("  t: {run: [ls]}\n  a: {model: m, prompt: A, tools: [t], max_tool_calls: 2}\n", "t", "`run` stage"),
    ])
    func aToolStageIsRefusedByName(stages: String, stage: String, kind: String) throws {
        let plan = try Self.plan(stages)
        #expect(throws: ToolStageGate.Refusal.self) { try ToolStageGate.check(plan) }
        do {
            try ToolStageGate.check(plan)
        } catch {
            #expect(error.stage == stage)
            #expect(error.description.contains(kind))
        }
    }
}
