import Foundation
import GRDB

/// A row of `runs`: one execution of a pipeline, with everything needed to resume it.
public struct RunRecord: Sendable, Hashable, Codable, FetchableRecord, PersistableRecord {
    public static let databaseTableName = "runs"

    /// The run's id (`20261126-060112-a3f9`).
    public var id: String
    /// The pipeline's name.
    public var pipeline: String
    /// The pipeline file the run started from (for `resume` to notice edits).
    public var pipelinePath: String?
    /// SHA-256 of the pipeline file and its prompt files when the run started.
    public var pipelineHash: String
    /// The pinned snapshot: the compiled plan, the profile and the source files, as JSON (``RunSnapshot``).
    /// Stored in the `run_snapshots` table (migration v3), not in this row; ``RunStore`` reads and writes it
    /// there, and the `runs.snapshot` column is left empty.
    public var snapshot: String
    /// The inputs, as a JSON object of strings.
    public var inputs: String
    /// Where the run is (``RunStatus``).
    public var status: RunStatus
    /// Why the run failed, for failed runs.
    public var error: String?
    /// For `baton rerun`: the run this one was started from, and the stage it re-runs from.
    public var parentRunID: String?
    public var rerunFrom: String?
    /// Seconds since 1970.
    public var createdAt: Double
    public var updatedAt: Double
    public var finishedAt: Double?
    /// The process executing the run, if any: a random token, its pid, its host, its last heartbeat.
    public var leaseToken: String?
    public var leasePid: Int?
    public var leaseHost: String?
    public var leaseHeartbeat: Double?
    /// Queue order for `baton worker`: a higher priority is claimed first (`baton submit --priority`).
    public var priority: Int = 0
    /// The engine level that can execute the run (``EngineLevel/current`` of the Baton that created it); a worker
    /// leaves runs of a higher level alone.
    public var engineVersion: Int = EngineLevel.current
    /// Labels a worker must have to claim the run, comma-separated (`baton submit --labels`), or nil for any worker.
    public var labels: String?
    /// The worker holding the run (`workers.id`), while one does.
    public var leaseOwner: String?
    /// The fencing token: raised by every claim and every requeue, checked by every commit of the holder.
    public var leaseEpoch: Int64 = 0
    /// When the holder's lease runs out unless its heartbeat extends it (seconds since 1970).
    public var leaseUntil: Double?
    /// How many times the rescuer requeued the run after its worker died.
    public var recoveryAttempts: Int = 0

    /// Creates a run record; the lease starts empty.
    public init(
        id: String, pipeline: String, pipelinePath: String?, pipelineHash: String, snapshot: String, inputs: String,
        status: RunStatus, error: String? = nil, parentRunID: String? = nil, rerunFrom: String? = nil, createdAt: Double,
        updatedAt: Double, finishedAt: Double? = nil, leaseToken: String? = nil, leasePid: Int? = nil,
        leaseHost: String? = nil, leaseHeartbeat: Double? = nil, priority: Int = 0, labels: String? = nil
    ) {
        self.priority = priority
        self.labels = labels
        self.id = id
        self.pipeline = pipeline
        self.pipelinePath = pipelinePath
        self.pipelineHash = pipelineHash
        self.snapshot = snapshot
        self.inputs = inputs
        self.status = status
        self.error = error
        self.parentRunID = parentRunID
        self.rerunFrom = rerunFrom
        self.createdAt = createdAt
        self.updatedAt = updatedAt
        self.finishedAt = finishedAt
        self.leaseToken = leaseToken
        self.leasePid = leasePid
        self.leaseHost = leaseHost
        self.leaseHeartbeat = leaseHeartbeat
    }

    enum CodingKeys: String, CodingKey {
        case id, pipeline
        case pipelinePath = "pipeline_path"
        case pipelineHash = "pipeline_hash"
        case snapshot, inputs, status, error
        case parentRunID = "parent_run_id"
        case rerunFrom = "rerun_from"
        case createdAt = "created_at"
        case updatedAt = "updated_at"
        case finishedAt = "finished_at"
        case leaseToken = "lease_token"
        case leasePid = "lease_pid"
        case leaseHost = "lease_host"
        case leaseHeartbeat = "lease_heartbeat"
        case priority
        case engineVersion = "engine_version"
        case labels
        case leaseOwner = "lease_owner"
        case leaseEpoch = "lease_epoch"
        case leaseUntil = "lease_until"
        case recoveryAttempts = "recovery_attempts"
    }

    /// Reads a row by column name (GRDB's Codable row decoding costs several times more).
    public init(row: Row) throws {
        id = try row.decode(forColumn: "id")
        pipeline = try row.decode(forColumn: "pipeline")
        pipelinePath = try row.decode(forColumn: "pipeline_path")
        pipelineHash = try row.decode(forColumn: "pipeline_hash")
        snapshot = try row.decode(forColumn: "snapshot")
        inputs = try row.decode(forColumn: "inputs")
        status = try row.decode(forColumn: "status")
        error = try row.decode(forColumn: "error")
        parentRunID = try row.decode(forColumn: "parent_run_id")
        rerunFrom = try row.decode(forColumn: "rerun_from")
        createdAt = try row.decode(forColumn: "created_at")
        updatedAt = try row.decode(forColumn: "updated_at")
        finishedAt = try row.decode(forColumn: "finished_at")
        leaseToken = try row.decode(forColumn: "lease_token")
        leasePid = try row.decode(forColumn: "lease_pid")
        leaseHost = try row.decode(forColumn: "lease_host")
        leaseHeartbeat = try row.decode(forColumn: "lease_heartbeat")
        priority = try row.decode(forColumn: "priority")
        engineVersion = try row.decode(forColumn: "engine_version")
        labels = try row.decode(forColumn: "labels")
        leaseOwner = try row.decode(forColumn: "lease_owner")
        leaseEpoch = try row.decode(forColumn: "lease_epoch")
        leaseUntil = try row.decode(forColumn: "lease_until")
        recoveryAttempts = try row.decode(forColumn: "recovery_attempts")
    }
}

/// A row of `attempts`: one try of one round of one stage.
public struct AttemptRecord: Sendable, Hashable, Codable, FetchableRecord, MutablePersistableRecord {
    public static let databaseTableName = "attempts"

    /// Assigned by SQLite.
    public var id: Int64?
    public var runID: String
    public var stage: String
    /// The critic-loop round, from 1.
    public var round: Int
    /// The try within the round (retries of transient errors), from 1.
    public var tryNumber: Int
    /// How the attempt went (``AttemptStatus``).
    public var status: AttemptStatus
    public var model: String?
    public var runtime: String?
    public var system: String?
    public var prompt: String
    /// The output, or what had arrived when the attempt stopped.
    public var output: String
    /// For critics: `approve` or `revise`, and the feedback.
    public var verdict: String?
    public var feedback: String?
    public var promptTokens: Int?
    public var outputTokens: Int?
    public var startedAt: Double
    public var firstTokenAt: Double?
    public var finishedAt: Double?
    /// The runtime's own timings, JSON (`{"load": 12.5, "prompt": 40, "generation": 900}` in ms).
    public var timings: String?
    public var error: String?
    /// The stage's fingerprint when the attempt ran.
    public var fingerprint: String
    /// Why the generation stopped (``FinishReason/Kind`` raw value: `complete`, `truncated`, `refused`,
    /// `filtered`, `context-exceeded`); nil when the runtime did not say or the attempt did not finish.
    public var finishReason: String? = nil
    /// A thinking model's thinking, apart from the output; nil when it did not think.
    public var thinking: String? = nil
    /// For a fan-out stage (`for_each`, `repeat`): the item (or sample) this attempt ran, from 0; nil otherwise.
    public var item: Int? = nil
    /// For a stage with `tools:`: the model turn of its tool loop, from 1; nil outside tool loops.
    public var turn: Int? = nil
    /// For a tool loop's turn that asked for calls: the calls as JSON (`[{id, name, arguments}]`); nil for a final answer.
    public var calls: String? = nil

    enum CodingKeys: String, CodingKey {
        case id
        case runID = "run_id"
        case stage, round
        case tryNumber = "try"
        case status, model, runtime, system, prompt, output, verdict, feedback
        case promptTokens = "prompt_tokens"
        case outputTokens = "output_tokens"
        case startedAt = "started_at"
        case firstTokenAt = "first_token_at"
        case finishedAt = "finished_at"
        case timings, error, fingerprint
        case finishReason = "finish_reason"
        case thinking, item, turn, calls
    }

    public mutating func didInsert(_ inserted: InsertionSuccess) {
        id = inserted.rowID
    }
}

/// A row of `events`: the append-only log of what happened in a run.
public struct EventRecord: Sendable, Hashable, Codable, FetchableRecord, MutablePersistableRecord {
    public static let databaseTableName = "events"

    public var id: Int64?
    public var runID: String
    public var at: Double
    /// What happened (``EventKind``).
    public var kind: EventKind
    public var stage: String?
    public var attemptID: Int64?
    /// Details, JSON.
    public var payload: String?

    enum CodingKeys: String, CodingKey {
        case id
        case runID = "run_id"
        case at, kind, stage
        case attemptID = "attempt_id"
        case payload
    }

    public mutating func didInsert(_ inserted: InsertionSuccess) {
        id = inserted.rowID
    }
}

extension AttemptRecord {
    /// Reads a row by column name: GRDB's Codable row decoding cost several times more, and a resume
    /// reads every attempt of the run.
    public init(row: Row) throws {
        id = try row.decode(forColumn: "id")
        runID = try row.decode(forColumn: "run_id")
        stage = try row.decode(forColumn: "stage")
        round = try row.decode(forColumn: "round")
        tryNumber = try row.decode(forColumn: "try")
        status = try row.decode(forColumn: "status")
        model = try row.decode(forColumn: "model")
        runtime = try row.decode(forColumn: "runtime")
        system = try row.decode(forColumn: "system")
        prompt = try row.decode(forColumn: "prompt")
        output = try row.decode(forColumn: "output")
        verdict = try row.decode(forColumn: "verdict")
        feedback = try row.decode(forColumn: "feedback")
        promptTokens = try row.decode(forColumn: "prompt_tokens")
        outputTokens = try row.decode(forColumn: "output_tokens")
        startedAt = try row.decode(forColumn: "started_at")
        firstTokenAt = try row.decode(forColumn: "first_token_at")
        finishedAt = try row.decode(forColumn: "finished_at")
        timings = try row.decode(forColumn: "timings")
        error = try row.decode(forColumn: "error")
        fingerprint = try row.decode(forColumn: "fingerprint")
        finishReason = try row.decode(forColumn: "finish_reason")
        thinking = try row.decode(forColumn: "thinking")
        item = try row.decode(forColumn: "item")
        turn = try row.decode(forColumn: "turn")
        calls = try row.decode(forColumn: "calls")
    }
}

extension AttemptRecord {
    /// ``timings`` read: milliseconds (or flags such as `resident`) by name; empty when there are none.
    public var timingValues: [String: Double] { Self.timingValues(timings) }

    /// A `timings` column's JSON read as ``timingValues``; what is not a number is left out.
    public static func timingValues(_ text: String?) -> [String: Double] {
        guard let data = text?.data(using: .utf8), let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any]
        else { return [:] }
        return object.compactMapValues { ($0 as? NSNumber)?.doubleValue }
    }
}
