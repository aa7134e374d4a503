import BatonSpec
import Foundation

/// One tool call to make: a tool stage's own call, or a call a model asked for in a tool loop (Executor+ToolLoop).
struct ToolCallPlan: Sendable {
    /// What is called.
    enum Target: Sendable {
        /// A `run`, `http` or `mcp` stage (its own call, or a tool definition a model called).
        case stage(PlannedStage)
        /// A tool on a declared MCP server, called by a model.
        case mcp(server: String, tool: String)
    }

    /// The stage whose attempt this is.
    var owner: PlannedStage
    /// What is called.
    var target: Target
    /// `args.*` for a tool definition (or an MCP tool's arguments); nil for a tool stage's own call.
    var arguments: JSONValue?
    /// The critic-loop round, from 1.
    var round: Int
    /// The model turn that asked for the call (0 for a tool stage's own call).
    var turn: Int
    /// The call's place among its turn's calls, from 0.
    var callIndex: Int
}

/// How a tool call ended, for the stage's result or the model's next turn.
struct ToolCallOutcome: Sendable {
    /// stdout (run), the body (http), the text content (mcp); empty for a skipped call.
    var output: String
    /// Whether the call failed (a refused exit code or status, a tool error, a denial).
    var isError: Bool
    /// A command's exit code.
    var exitCode: Int?
    /// An HTTP response's status.
    var status: Int?
    /// The tail of a command's stderr.
    var stderr: String?
    /// Whether the result was read back from the store instead of running (resume).
    var replayed: Bool
}

extension Executor {
    /// Makes one tool call: renders its templates, checks the allow-list and approval, commits its intent, runs it,
    /// commits its result, and on resume applies the effects rules (replay, re-run with the same key, or stop).
    func performToolCall(_ call: ToolCallPlan, state: inout RunState) async throws -> ToolCallOutcome {
        throw StageFailure(message: "stage '\(call.owner.name)': tool calls are not implemented yet", runtimeUnavailable: false)
    }
}
