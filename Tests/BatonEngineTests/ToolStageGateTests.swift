import BatonEngine
import BatonSpec
import BatonTestSupport
import Testing

/// ``ToolStageGate``: which plans this build refuses to run: none, since tool stages and a model's tool loop run (issue 12).
@Suite struct ToolStageGateTests {
    static func plan(_ stages: String) throws -> ExecutionPlan {
        let result = PipelineCompiler(profile: nil).compile(SourceFile(path: "t.yaml", text: "version: 1\nstages:\n" + stages))
        return try #require(result.plan, "\(result.diagnostics)")
    }

    @Test func aPlanWithoutToolsPasses() throws {
        try ToolStageGate.check(try Self.plan("  a: {model: m, prompt: A}\n"))
    }

    @Test(arguments: [
        "  a: {model: m, prompt: A}\n  h: {http: {url: 'http://127.0.0.1:9/x'}}\n",
        "  m: {mcp: {server: s, tool: t}}\nmcp_servers:\n  s: {command: [srv]}\n",
    ])
    func aToolStagePassesNowThatTheEngineRunsThem(stages: String) throws {
        try ToolStageGate.check(try Self.plan(stages))
    }

    @Test func aModelStageWithToolsPassesNowThatTheLoopRuns() throws {
        try ToolStageGate.check(try Self.plan("  t: {run: [ls]}\n  a: {model: m, prompt: A, tools: [t], max_tool_calls: 2}\n"))
    }
}
