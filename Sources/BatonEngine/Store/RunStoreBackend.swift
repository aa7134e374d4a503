import Foundation

/// What a run store keeps, whatever holds it: SQLite on one machine (``SQLiteRunStore``), PostgreSQL for several
/// (``PostgresRunStore``). Every method is one transaction; ``RunStore`` is the handle the rest of Baton uses.
public protocol RunStoreBackend: Sendable {
    /// Where it is, for messages: a file path, or a PostgreSQL URL without its password; nil in memory.
    var location: String? { get }
    /// The database file when the store is a local file (indexes and tool work folders go next to it), else nil.
    var path: String? { get }
    /// The lease a worker holds on the run it executes: every write transaction first checks that the run's epoch is
    /// still this one, and throws `.fenced` (writing nothing) when another worker took the run over. Nil: unfenced.
    var fence: RunFence? { get set }
    /// Crash tests only: kills the process inside chosen commits (``KillPoint``s named `...-commit`).
    var killSwitch: KillSwitch? { get set }

    /// Records the results of bench `benchID`, in one transaction; `detail` keeps each whole result as JSON.
    func saveBenchResults(_ results: [BenchResult], benchID: String, at createdAt: Double) throws(StoreError)

    /// The rows of bench `benchID`, or of every bench when nil, oldest first then in the order they were written.
    func benchResults(benchID: String?) throws(StoreError) -> [BenchRecord]

    /// Replaces the recording of `key` with `records` (in the order they were answered), in one transaction, so a
    /// recording is never half old and half new.
    func replaceCassettes(_ key: CassetteKey, with records: [CassetteRecord], runID: String?) throws(StoreError)

    /// The recording of `key`, in the order it was answered (empty when there is none).
    func cassettes(_ key: CassetteKey) throws(StoreError) -> [CassetteRecord]

    /// The variants a case of `suite` was recorded on, sorted, with the repetitions each has.
    func cassetteVariants(suite: String, caseName: String) throws(StoreError) -> [String: [Int]]

    /// Runs for the dashboard's list, newest first; `profile` and `stagesTotal` are left for ``planFacts(_:)``.
    func dashboardRuns(status: RunStatus?, pipeline: String?, limit: Int) throws(StoreError) -> [DashboardRunRow]

    /// What the list shows of runs' snapshots, by run id (``PlanFacts``).
    func planFacts(_ runIDs: [String]) throws(StoreError) -> [String: PlanFacts]

    /// The highest event id of run `runID` (of every run when nil), 0 when there is none.
    func lastEventID(runID: String?) throws(StoreError) -> Int64

    /// Up to `limit` events after id `after`, of run `runID` (of every run when nil), in id order.
    func events(after: Int64, runID: String?, limit: Int) throws(StoreError) -> [EventRecord]

    /// The attempts with these ids, without prompt, system, output, thinking and calls (empty or nil), by id.
    func attemptSummaries(_ ids: [Int64]) throws(StoreError) -> [Int64: AttemptRecord]

    /// Attempt `id` of run `runID`, whole; nil when the run has none of that id.
    func attempt(_ id: Int64, runID: String) throws(StoreError) -> AttemptRecord?

    /// Where run `runID` stands; nil when there is no such run.
    func standing(_ runID: String) throws(StoreError) -> RunStanding?

    /// Takes the run for `claim`: when nobody holds it, when the holder is a process on this host that no longer exists
    /// (or hung: ``leaseHungAfter``), or when a holder on another host stopped its heartbeat (``leaseStaleAfter``).
    ///
    /// - Throws: ``StoreError`` `.leaseHeld` naming the holder when another live process has it.
    func acquireLease(_ runID: String, claim: LeaseClaim, isAlive: @Sendable (Int) -> Bool) throws(StoreError)

    /// Refreshes the heartbeat. - Throws: `.leaseLost` when another process took the run over.
    func heartbeat(_ runID: String, claim: LeaseClaim) throws(StoreError)

    /// Gives the run up.
    func releaseLease(_ runID: String, claim: LeaseClaim) throws(StoreError)

    /// Records how an attempt ended (the whole record is rewritten), with an event of `kind`.
    ///
    /// With `deferred`, the record waits and is written at the start of the store's next write transaction (the
    /// next attempt's start, an event, the run's status), saving a commit per stage; the executor asks for it only
    /// when nothing outside Baton happens before that next write (``PendingFinish``). Reads write it first.
    func finishAttempt(_ attempt: AttemptRecord, event kind: EventKind, payload: String?, deferred: Bool) throws(StoreError)

    /// Writes the end of an attempt that waits for the next transaction, if one does (``PendingFinish``).
    func commitPending() throws(StoreError)

    /// Saves the output received so far of an attempt in flight and, when given, its `output-chunk` event, in one
    /// transaction.
    func saveProgress(_ attemptID: Int64, output: String, firstTokenAt: Double?, thinking: String?, chunk: RunStore.OutputChunk?)
        throws(StoreError)

    /// The stats of the runs `query` selects, one row per (model, role).
    func stats(_ query: StatsQuery) throws(StoreError) -> StatsReport

    /// Commits a call's intent (status `intent`, no result) with its `tool-call-started` event, in its own
    /// transaction, before the call starts. A row read back from the store (`id` set) is started again in place, so a
    /// call re-run on resume keeps its one row and its key.
    func recordToolIntent(_ call: ToolCallRecord, payload: String?) throws(StoreError) -> ToolCallRecord

    /// Commits how a call ended (`call.status`: done, failed, skipped or denied) and, when the call is a tool stage's
    /// own, how its attempt ended, with their events, in ONE transaction: a crash leaves both or neither.
    func recordToolResult(_ call: ToolCallRecord, attempt: AttemptRecord?, attemptEvent: EventKind, callEvent: EventKind, payload: String?)
        throws(StoreError)

    /// The latest call recorded at one place: run, stage, fan-out item, round, turn and call index.
    func toolCall(_ runID: String, stage: String, item: Int?, round: Int, turn: Int, callIndex: Int) throws(StoreError) -> ToolCallRecord?

    /// Every call of a run, in the order they started.
    func toolCalls(_ runID: String) throws(StoreError) -> [ToolCallRecord]

    /// Records that the user chose `--skip-call` for an unfinished call: the call is `skipped` with an empty result,
    /// and `attempt` (the stage's attempt, when the call is a tool stage's own) is completed with an empty output, in
    /// one transaction.
    func markToolCallSkipped(_ call: ToolCallRecord, attempt: AttemptRecord?, payload: String?) throws(StoreError)

    /// The running attempt of a try whose tool loop has not recorded calls on it yet, the newest.
    func runningToolAttempt(runID: String, stage: String, round: Int, item: Int?) throws(StoreError) -> AttemptRecord?

    /// The completed attempts of a try that carry tool calls (its answered turns), oldest first.
    func completedToolTurns(runID: String, stage: String, round: Int, item: Int?) throws(StoreError) -> [AttemptRecord]

    /// Inserts an attempt as it is (a tool-loop turn); returns it with its id.
    func insertAttempt(_ attempt: AttemptRecord) throws(StoreError) -> AttemptRecord

    /// Sets what each call of a turn returned (JSON).
    func setAttemptCalls(_ attemptID: Int64, calls: String) throws(StoreError)

    /// Marks an attempt as its tool loop's turn `turn`.
    func setAttemptTurn(_ attemptID: Int64, turn: Int) throws(StoreError)

    /// Records a new run and its first event.
    /// Records a new run; with `reusing`, also copies the completed attempts of those stages of the
    /// parent run (`baton rerun`), in the same transaction, so a crash never leaves a rerun without them.
    ///
    /// When `freshID` is given and `run.id` is taken (ids are the second and 16 random bits, so a busy
    /// `baton test` or several processes can draw the same one), the run gets the first free id it draws
    /// instead; the check is inside the write transaction, so no other process can take it meanwhile.
    /// - Returns: the id the run was created under.
    func createRun(_ run: RunRecord, reusing parent: (runID: String, stages: Set<String>)?, freshID: (() -> String)?) throws(StoreError)
        -> String

    /// The run `id`.
    ///
    /// - Throws: ``StoreError`` `.runNotFound` when there is none.
    func run(_ id: String) throws(StoreError) -> RunRecord

    /// Runs, newest first, optionally filtered by status and pipeline.
    func runs(status: RunStatus?, pipeline: String?, limit: Int) throws(StoreError) -> [RunRecord]

    /// Sets a run's status (and error), with an event of `kind`.
    func setStatus(_ runID: String, _ status: RunStatus, error: String?, event kind: EventKind, payload: String?) throws(StoreError)

    /// Replaces a run's pinned snapshot (for `resume --use-current-pipeline`) and marks the attempts of
    /// `changedStages` superseded, in one transaction.
    func replaceSnapshot(_ runID: String, snapshot: String, pipelineHash: String, supersede changedStages: [String]) throws(StoreError)

    /// Records that an attempt started; returns it with its id.
    func startAttempt(_ attempt: AttemptRecord) throws(StoreError) -> AttemptRecord

    /// Records a skipped stage: its `skipped` attempt and its `stage-skipped` event (`payload`), in one transaction.
    func recordSkip(_ attempt: AttemptRecord, payload: String) throws(StoreError) -> AttemptRecord

    /// Records the footprint a runtime measured for a model.
    func saveFootprint(runtime: String, model: String, bytes: Int64) throws(StoreError)

    /// Every measured footprint.
    func measuredFootprints() throws(StoreError) -> [ModelKey: Int64]

    /// How many events of each of `kinds` a run has.
    func eventCounts(_ runID: String, kinds: [EventKind]) throws(StoreError) -> [EventKind: Int]

    /// Every attempt of a run without the rendered system message and prompt (which the executor and the
    /// summary never need, and which are most of the bytes of a large run); `output` is kept only for
    /// `outputsOf` stages, or for every stage when nil.
    func attemptsWithoutPrompts(_ runID: String, outputsOf stages: Set<String>?) throws(StoreError) -> [AttemptRecord]

    /// Every attempt of a run, in the order they started.
    func attempts(_ runID: String) throws(StoreError) -> [AttemptRecord]

    /// Marks attempts left `running` by a process that died as `aborted`, keeping their partial output.
    /// Returns how many there were.
    func abortInFlightAttempts(_ runID: String) throws(StoreError) -> [AttemptRecord]

    /// Appends an event.
    func appendEvent(_ runID: String, kind: EventKind, stage: String?, attemptID: Int64?, payload: String?) throws(StoreError)

    /// A run's events, in order.
    func events(_ runID: String) throws(StoreError) -> [EventRecord]

    /// A run's events of one kind, oldest first.
    func events(_ runID: String, kind: EventKind) throws(StoreError) -> [EventRecord]

    /// `PRAGMA integrity_check`'s answer (`ok` when the file is sound).
    func integrityCheck() throws(StoreError) -> String

    // MARK: - Pools

    /// Records the hosts of runtime pools (inserting new ones, updating the runtime, budget and labels of known ones).
    func registerRuntimeHosts(_ hosts: [RuntimeHostRecord]) throws(StoreError)

    /// Reserves room for a model on a host, in one transaction that locks the host's row: the live reservations there
    /// (each model once) plus this one must fit its budget. A run that already holds the model there gets its row back.
    func reserve(_ request: ReservationRequest) throws(StoreError) -> ReservationOutcome

    /// Deletes run `runID`'s reservations, on `host` only and of `model` only when given; returns how many.
    func releaseReservations(runID: String, host: String?, model: String?) throws(StoreError) -> Int

    /// Deletes reservations whose epoch is no longer their run's, or whose run finished or is gone; returns how many.
    func releaseStaleReservations() throws(StoreError) -> Int

    /// Every known host with its live reservations, by URL.
    func hostReservations() throws(StoreError) -> [HostReservations]

    // MARK: - Queue

    /// Queues `run` for `baton worker` (status `queued`, event `run-submitted`; PostgreSQL also notifies `baton_runs`
    /// in the same transaction); `freshID` as in ``createRun(_:reusing:freshID:)``. - Returns: the run's id.
    func submitRun(_ run: RunRecord, freshID: (() -> String)?) throws(StoreError) -> String

    /// Records worker `worker` (replacing a row of the same id).
    func registerWorker(_ worker: WorkerRecord) throws(StoreError)

    /// A worker's heartbeat at `now`: its row (written again if it went missing) and `lease_until = now + its lease` of
    /// every run it holds, in one transaction. - Returns: the runs it still holds, with their epochs (a run another
    /// worker took is not among them).
    func workerHeartbeat(_ worker: WorkerRecord, at now: Double) throws(StoreError) -> [HeldRun]

    /// Deletes worker `workerID`'s row.
    func deregisterWorker(_ workerID: String) throws(StoreError)

    /// Every registered worker, by id.
    func workers() throws(StoreError) -> [WorkerRecord]

    /// The `running` runs held by workers, by worker id.
    func heldRuns() throws(StoreError) -> [String: [HeldRun]]

    /// Claims for `worker` the first queued run it may execute (engine level at or below its own, labels it has),
    /// highest priority first then oldest, skipping runs another claim has locked: `running`, owned by the worker,
    /// epoch + 1, `lease_until = now + lease`, event `run-claimed`, in one transaction. - Returns: nil when none waits.
    func claimRun(for worker: WorkerRecord, at now: Double) throws(StoreError) -> QueueClaim?

    /// Hands the run `fence` holds back to the queue (`queued`, no owner, epoch + 1, event `run-requeued` with
    /// `reason`). - Returns: false when the run is no longer at the fence's epoch (nothing is written).
    func requeueRun(_ fence: RunFence, reason: String) throws(StoreError) -> Bool

    /// One sweep of the rescuer at `now`: `running` runs whose lease ran out and whose worker's heartbeat is older than
    /// its lease go back to the queue (epoch + 1, recoveries + 1, attempts in flight aborted, event `run-requeued`), or,
    /// past `maxRecoveries`, fail with the reason. - Returns: nil when another sweep is under way (it is skipped).
    func rescueRuns(maxRecoveries: Int, at now: Double) throws(StoreError) -> RescueOutcome?
}
