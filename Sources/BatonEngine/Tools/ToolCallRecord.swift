import BatonSpec
import GRDB

/// Where a tool call stands in the run store: its intent is committed before it runs, its result after.
public enum ToolCallStatus: String, Sendable, Hashable, Codable, CaseIterable, DatabaseValueConvertible {
    /// Committed before the call started; no result yet (a crash here leaves the call's fate unknown).
    case intent
    /// The call returned and its result was recorded (replayed on resume, never run again).
    case done
    /// The call returned an error (a refused exit code, a 4xx/5xx, a tool error) or could not run.
    case failed
    /// The user chose `baton resume --skip-call` for an unfinished external call: its output is empty.
    case skipped
    /// Approval was refused: the call never ran.
    case denied
}

/// A row of `tool_calls`: one call of a tool (a tool stage's own, or one a model asked for), keyed by where it
/// happened (run, stage, item, round, turn, call index), so resume finds it again and knows whether it ran.
public struct ToolCallRecord: Sendable, Hashable, Codable, FetchableRecord, MutablePersistableRecord {
    public static let databaseTableName = "tool_calls"

    /// Assigned by SQLite.
    public var id: Int64?
    public var runID: String
    /// The stage whose attempt made the call.
    public var stage: String
    /// The fan-out item (from 0); nil outside fan-out.
    public var item: Int?
    /// The critic-loop round, from 1.
    public var round: Int
    /// The model turn that asked for the call (0 for a tool stage's single call).
    public var turn: Int
    /// The call's place among its turn's calls, from 0.
    public var callIndex: Int
    /// What was called: the stage's name for a tool stage, `SERVER.TOOL` for an MCP tool a model called.
    public var tool: String
    /// The rendered call as canonical JSON (sorted keys): argv, request or MCP arguments.
    public var arguments: String
    /// The key passed to the tool so a repeat changes nothing more (BATON_IDEMPOTENCY_KEY, `Idempotency-Key`, `_meta`).
    public var idempotencyKey: String
    /// The effects in force when the call started (``ToolEffects`` raw value).
    public var effects: String
    /// Where the call stands.
    public var status: ToolCallStatus
    /// The call's output once recorded (stdout, body, MCP text).
    public var result: String?
    /// Why the call failed, was denied or was skipped.
    public var error: String?
    /// A command's exit code (`stages.X.exit_code`).
    public var exitCode: Int? = nil
    /// An HTTP response's status (`stages.X.status`).
    public var httpStatus: Int? = nil
    /// The tail of a command's stderr (`stages.X.stderr`).
    public var stderr: String? = nil
    public var startedAt: Double
    public var finishedAt: Double?

    enum CodingKeys: String, CodingKey {
        case id
        case runID = "run_id"
        case stage, item, round, turn
        case callIndex = "call_index"
        case tool, arguments
        case idempotencyKey = "idempotency_key"
        case effects, status, result, error
        case exitCode = "exit_code"
        case httpStatus = "http_status"
        case stderr
        case startedAt = "started_at"
        case finishedAt = "finished_at"
    }

    /// Creates a row.
    public init(
        id: Int64? = nil, runID: String, stage: String, item: Int?, round: Int, turn: Int, callIndex: Int, tool: String,
        arguments: String, idempotencyKey: String, effects: String, status: ToolCallStatus, result: String? = nil,
        error: String? = nil, startedAt: Double, finishedAt: Double? = nil
    ) {
        self.id = id
        self.runID = runID
        self.stage = stage
        self.item = item
        self.round = round
        self.turn = turn
        self.callIndex = callIndex
        self.tool = tool
        self.arguments = arguments
        self.idempotencyKey = idempotencyKey
        self.effects = effects
        self.status = status
        self.result = result
        self.error = error
        self.startedAt = startedAt
        self.finishedAt = finishedAt
    }

    public mutating func didInsert(_ inserted: InsertionSuccess) {
        id = inserted.rowID
    }
}

/// What the user chose for an unfinished external call (`baton resume RUN --retry-call S` / `--skip-call S`).
public enum ToolCallResolution: String, Sendable, Hashable {
    /// Run the call again, with the same idempotency key.
    case retry
    /// Go on without it: the call is recorded skipped and its output is empty.
    case skip
}
