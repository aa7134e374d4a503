import BatonSpec

/// A tool call that needs the user's approval before it runs (`approve:` on a tool stage or a model stage's tools).
public struct ToolApprovalRequest: Sendable, Hashable {
    /// The stage whose attempt makes the call.
    public var stage: String
    /// What `--approve` names: the stage's name for a tool stage, else the tool's name (`server.tool` or a tool stage).
    public var tool: String
    /// The kind of call.
    public var kind: ToolKind
    /// Exactly what will run: the argv shell-quoted, `METHOD URL` and the headers' names, or `server.tool {json args}`.
    public var detail: String

    /// A request for `stage`'s call of `tool`, shown to the user as `detail`.
    public init(stage: String, tool: String, kind: ToolKind, detail: String) {
        self.stage = stage
        self.tool = tool
        self.kind = kind
        self.detail = detail
    }
}

/// The answer to a `ToolApprovalRequest`.
public enum ToolApprovalDecision: Sendable, Hashable {
    /// The call may run; the associated text says how it was approved ("terminal", "--approve").
    case approved(String)
    /// The call must not run; the associated text says why.
    case denied(String)

    /// Whether the call may run.
    public var isApproved: Bool {
        if case .approved = self { return true }
        return false
    }
}

/// Decides whether a call that needs approval may run; the command builds it, the executor asks it once per call.
public typealias ToolApprover = @Sendable (ToolApprovalRequest) async -> ToolApprovalDecision
