import Foundation

/// The run store: runs, their attempts and their event log, one transaction per state change, in SQLite
/// (``SQLiteRunStore``, the default) or PostgreSQL (``PostgresRunStore``, for workers on several machines).
///
/// A value with the backend inside: every method forwards to it, so callers never depend on which one it is.
public struct RunStore: Sendable {
    /// What holds the data.
    public internal(set) var backend: any RunStoreBackend

    /// A store on `backend`.
    public init(backend: any RunStoreBackend) {
        self.backend = backend
    }

    /// Opens (creating and migrating if needed) the store at `location`: a `postgres://` or `postgresql://` URL, else
    /// a SQLite file path.
    ///
    /// - Throws: ``StoreError`` as ``SQLiteRunStore/init(path:)`` or ``PostgresRunStore/init(url:)``.
    public init(path location: String) throws(StoreError) {
        if PostgresRunStore.isURL(location) {
            backend = try PostgresRunStore(url: location)
        } else {
            backend = try SQLiteRunStore(path: location)
        }
    }

    /// Opens the store at `location` for commands that only read it (`runs`, `show`); see
    /// ``SQLiteRunStore/forReading(path:)``.
    public static func forReading(path location: String) throws(StoreError) -> RunStore {
        if PostgresRunStore.isURL(location) { return try RunStore(path: location) }
        return RunStore(backend: try SQLiteRunStore.forReading(path: location))
    }

    /// An empty in-memory SQLite store, for tests.
    public static func inMemory() throws(StoreError) -> RunStore {
        RunStore(backend: try SQLiteRunStore.inMemory())
    }

    /// Seconds since 1970, the unit of every time column.
    public static func now() -> Double { Date().timeIntervalSince1970 }

    /// The database file when the store is a local file, else nil.
    public var path: String? { backend.path }

    /// Where the store is, for messages (a PostgreSQL URL without its password).
    public var location: String? { backend.location }

    /// Crash tests only: kills the process inside chosen commits.
    public var killSwitch: KillSwitch? {
        get { backend.killSwitch }
        set { backend.killSwitch = newValue }
    }

    /// Records the results of bench `benchID`, in one transaction; `detail` keeps each whole result as JSON.
    public func saveBenchResults(_ results: [BenchResult], benchID: String, at createdAt: Double = RunStore.now()) throws(StoreError) {
        try backend.saveBenchResults(results, benchID: benchID, at: createdAt)
    }

    /// The rows of bench `benchID`, or of every bench when nil, oldest first then in the order they were written.
    public func benchResults(benchID: String? = nil) throws(StoreError) -> [BenchRecord] {
        try backend.benchResults(benchID: benchID)
    }

    /// Replaces the recording of `key` with `records` (in the order they were answered), in one transaction, so a
    /// recording is never half old and half new.
    public func replaceCassettes(_ key: CassetteKey, with records: [CassetteRecord], runID: String?) throws(StoreError) {
        try backend.replaceCassettes(key, with: records, runID: runID)
    }

    /// The recording of `key`, in the order it was answered (empty when there is none).
    public func cassettes(_ key: CassetteKey) throws(StoreError) -> [CassetteRecord] {
        try backend.cassettes(key)
    }

    /// The variants a case of `suite` was recorded on, sorted, with the repetitions each has.
    public func cassetteVariants(suite: String, caseName: String) throws(StoreError) -> [String: [Int]] {
        try backend.cassetteVariants(suite: suite, caseName: caseName)
    }

    /// Runs for the dashboard's list, newest first; `profile` and `stagesTotal` are left for ``planFacts(_:)``.
    public func dashboardRuns(status: RunStatus? = nil, pipeline: String? = nil, limit: Int = 100) throws(StoreError) -> [DashboardRunRow] {
        try backend.dashboardRuns(status: status, pipeline: pipeline, limit: limit)
    }

    /// What the list shows of runs' snapshots, by run id (``PlanFacts``).
    public func planFacts(_ runIDs: [String]) throws(StoreError) -> [String: PlanFacts] {
        try backend.planFacts(runIDs)
    }

    /// The highest event id of run `runID` (of every run when nil), 0 when there is none.
    public func lastEventID(runID: String? = nil) throws(StoreError) -> Int64 {
        try backend.lastEventID(runID: runID)
    }

    /// Up to `limit` events after id `after`, of run `runID` (of every run when nil), in id order.
    public func events(after: Int64, runID: String?, limit: Int = 1000) throws(StoreError) -> [EventRecord] {
        try backend.events(after: after, runID: runID, limit: limit)
    }

    /// The attempts with these ids, without prompt, system, output, thinking and calls (empty or nil), by id.
    public func attemptSummaries(_ ids: [Int64]) throws(StoreError) -> [Int64: AttemptRecord] {
        try backend.attemptSummaries(ids)
    }

    /// Attempt `id` of run `runID`, whole; nil when the run has none of that id.
    public func attempt(_ id: Int64, runID: String) throws(StoreError) -> AttemptRecord? {
        try backend.attempt(id, runID: runID)
    }

    /// Where run `runID` stands; nil when there is no such run.
    public func standing(_ runID: String) throws(StoreError) -> RunStanding? {
        try backend.standing(runID)
    }

    /// Takes the run for `claim`: when nobody holds it, when the holder is a process on this host that no longer exists
    /// (or hung: ``leaseHungAfter``), or when a holder on another host stopped its heartbeat (``leaseStaleAfter``).
    ///
    /// - Throws: ``StoreError`` `.leaseHeld` naming the holder when another live process has it.
    public func acquireLease(_ runID: String, claim: LeaseClaim, isAlive: @Sendable (Int) -> Bool = RunStore.processIsAlive)
        throws(StoreError)
    {
        try backend.acquireLease(runID, claim: claim, isAlive: isAlive)
    }

    /// Refreshes the heartbeat. - Throws: `.leaseLost` when another process took the run over.
    public func heartbeat(_ runID: String, claim: LeaseClaim) throws(StoreError) {
        try backend.heartbeat(runID, claim: claim)
    }

    /// Gives the run up.
    public func releaseLease(_ runID: String, claim: LeaseClaim) throws(StoreError) {
        try backend.releaseLease(runID, claim: claim)
    }

    /// Records how an attempt ended (the whole record is rewritten), with an event of `kind`.
    ///
    /// With `deferred`, the record waits and is written at the start of the store's next write transaction (the
    /// next attempt's start, an event, the run's status), saving a commit per stage; the executor asks for it only
    /// when nothing outside Baton happens before that next write (``PendingFinish``). Reads write it first.
    public func finishAttempt(_ attempt: AttemptRecord, event kind: EventKind, payload: String? = nil, deferred: Bool = false)
        throws(StoreError)
    {
        try backend.finishAttempt(attempt, event: kind, payload: payload, deferred: deferred)
    }

    /// Writes the end of an attempt that waits for the next transaction, if one does (``PendingFinish``).
    public func commitPending() throws(StoreError) {
        try backend.commitPending()
    }

    /// Saves the output received so far of an attempt in flight and, when given, its `output-chunk` event, in one
    /// transaction.
    public func saveProgress(_ attemptID: Int64, output: String, firstTokenAt: Double?, thinking: String? = nil, chunk: OutputChunk? = nil)
        throws(StoreError)
    {
        try backend.saveProgress(attemptID, output: output, firstTokenAt: firstTokenAt, thinking: thinking, chunk: chunk)
    }

    /// The stats of the runs `query` selects, one row per (model, role).
    public func stats(_ query: StatsQuery) throws(StoreError) -> StatsReport {
        try backend.stats(query)
    }

    /// Commits a call's intent (status `intent`, no result) with its `tool-call-started` event, in its own
    /// transaction, before the call starts. A row read back from the store (`id` set) is started again in place, so a
    /// call re-run on resume keeps its one row and its key.
    public func recordToolIntent(_ call: ToolCallRecord, payload: String? = nil) throws(StoreError) -> ToolCallRecord {
        try backend.recordToolIntent(call, payload: payload)
    }

    /// Commits how a call ended (`call.status`: done, failed, skipped or denied) and, when the call is a tool stage's
    /// own, how its attempt ended, with their events, in ONE transaction: a crash leaves both or neither.
    public func recordToolResult(
        _ call: ToolCallRecord, attempt: AttemptRecord?, attemptEvent: EventKind = .attemptCompleted,
        callEvent: EventKind = .toolCallFinished, payload: String? = nil
    ) throws(StoreError) {
        try backend.recordToolResult(call, attempt: attempt, attemptEvent: attemptEvent, callEvent: callEvent, payload: payload)
    }

    /// The latest call recorded at one place: run, stage, fan-out item, round, turn and call index.
    public func toolCall(_ runID: String, stage: String, item: Int?, round: Int, turn: Int, callIndex: Int) throws(StoreError)
        -> ToolCallRecord?
    {
        try backend.toolCall(runID, stage: stage, item: item, round: round, turn: turn, callIndex: callIndex)
    }

    /// Every call of a run, in the order they started.
    public func toolCalls(_ runID: String) throws(StoreError) -> [ToolCallRecord] {
        try backend.toolCalls(runID)
    }

    /// Records that the user chose `--skip-call` for an unfinished call: the call is `skipped` with an empty result,
    /// and `attempt` (the stage's attempt, when the call is a tool stage's own) is completed with an empty output, in
    /// one transaction.
    public func markToolCallSkipped(_ call: ToolCallRecord, attempt: AttemptRecord?, payload: String? = nil) throws(StoreError) {
        try backend.markToolCallSkipped(call, attempt: attempt, payload: payload)
    }

    /// The running attempt of a try whose tool loop has not recorded calls on it yet, the newest.
    public func runningToolAttempt(runID: String, stage: String, round: Int, item: Int?) throws(StoreError) -> AttemptRecord? {
        try backend.runningToolAttempt(runID: runID, stage: stage, round: round, item: item)
    }

    /// The completed attempts of a try that carry tool calls (its answered turns), oldest first.
    public func completedToolTurns(runID: String, stage: String, round: Int, item: Int?) throws(StoreError) -> [AttemptRecord] {
        try backend.completedToolTurns(runID: runID, stage: stage, round: round, item: item)
    }

    /// Inserts an attempt as it is (a tool-loop turn); returns it with its id.
    public func insertAttempt(_ attempt: AttemptRecord) throws(StoreError) -> AttemptRecord {
        try backend.insertAttempt(attempt)
    }

    /// Sets what each call of a turn returned (JSON).
    public func setAttemptCalls(_ attemptID: Int64, calls: String) throws(StoreError) {
        try backend.setAttemptCalls(attemptID, calls: calls)
    }

    /// Marks an attempt as its tool loop's turn `turn`.
    public func setAttemptTurn(_ attemptID: Int64, turn: Int) throws(StoreError) {
        try backend.setAttemptTurn(attemptID, turn: turn)
    }

    /// Records a new run and its first event.
    /// Records a new run; with `reusing`, also copies the completed attempts of those stages of the
    /// parent run (`baton rerun`), in the same transaction, so a crash never leaves a rerun without them.
    ///
    /// When `freshID` is given and `run.id` is taken (ids are the second and 16 random bits, so a busy
    /// `baton test` or several processes can draw the same one), the run gets the first free id it draws
    /// instead; the check is inside the write transaction, so no other process can take it meanwhile.
    /// - Returns: the id the run was created under.
    @discardableResult
    public func createRun(_ run: RunRecord, reusing parent: (runID: String, stages: Set<String>)? = nil, freshID: (() -> String)? = nil)
        throws(StoreError) -> String
    {
        try backend.createRun(run, reusing: parent, freshID: freshID)
    }

    /// The run `id`.
    ///
    /// - Throws: ``StoreError`` `.runNotFound` when there is none.
    public func run(_ id: String) throws(StoreError) -> RunRecord {
        try backend.run(id)
    }

    /// Runs, newest first, optionally filtered by status and pipeline.
    public func runs(status: RunStatus? = nil, pipeline: String? = nil, limit: Int = 1000) throws(StoreError) -> [RunRecord] {
        try backend.runs(status: status, pipeline: pipeline, limit: limit)
    }

    /// Sets a run's status (and error), with an event of `kind`.
    public func setStatus(_ runID: String, _ status: RunStatus, error: String? = nil, event kind: EventKind, payload: String? = nil)
        throws(StoreError)
    {
        try backend.setStatus(runID, status, error: error, event: kind, payload: payload)
    }

    /// Replaces a run's pinned snapshot (for `resume --use-current-pipeline`) and marks the attempts of
    /// `changedStages` superseded, in one transaction.
    public func replaceSnapshot(_ runID: String, snapshot: String, pipelineHash: String, supersede changedStages: [String])
        throws(StoreError)
    {
        try backend.replaceSnapshot(runID, snapshot: snapshot, pipelineHash: pipelineHash, supersede: changedStages)
    }

    /// Records that an attempt started; returns it with its id.
    public func startAttempt(_ attempt: AttemptRecord) throws(StoreError) -> AttemptRecord {
        try backend.startAttempt(attempt)
    }

    /// Records a skipped stage: its `skipped` attempt and its `stage-skipped` event (`payload`), in one transaction.
    public func recordSkip(_ attempt: AttemptRecord, payload: String) throws(StoreError) -> AttemptRecord {
        try backend.recordSkip(attempt, payload: payload)
    }

    /// Records the footprint a runtime measured for a model.
    public func saveFootprint(runtime: String, model: String, bytes: Int64) throws(StoreError) {
        try backend.saveFootprint(runtime: runtime, model: model, bytes: bytes)
    }

    /// Every measured footprint.
    public func measuredFootprints() throws(StoreError) -> [ModelKey: Int64] {
        try backend.measuredFootprints()
    }

    /// How many events of each of `kinds` a run has.
    public func eventCounts(_ runID: String, kinds: [EventKind]) throws(StoreError) -> [EventKind: Int] {
        try backend.eventCounts(runID, kinds: kinds)
    }

    /// Every attempt of a run without the rendered system message and prompt (which the executor and the
    /// summary never need, and which are most of the bytes of a large run); `output` is kept only for
    /// `outputsOf` stages, or for every stage when nil.
    public func attemptsWithoutPrompts(_ runID: String, outputsOf stages: Set<String>? = nil) throws(StoreError) -> [AttemptRecord] {
        try backend.attemptsWithoutPrompts(runID, outputsOf: stages)
    }

    /// Every attempt of a run, in the order they started.
    public func attempts(_ runID: String) throws(StoreError) -> [AttemptRecord] {
        try backend.attempts(runID)
    }

    /// Marks attempts left `running` by a process that died as `aborted`, keeping their partial output.
    /// Returns how many there were.
    @discardableResult
    public func abortInFlightAttempts(_ runID: String) throws(StoreError) -> [AttemptRecord] {
        try backend.abortInFlightAttempts(runID)
    }

    /// Appends an event.
    public func appendEvent(_ runID: String, kind: EventKind, stage: String? = nil, attemptID: Int64? = nil, payload: String? = nil)
        throws(StoreError)
    {
        try backend.appendEvent(runID, kind: kind, stage: stage, attemptID: attemptID, payload: payload)
    }

    /// A run's events, in order.
    public func events(_ runID: String) throws(StoreError) -> [EventRecord] {
        try backend.events(runID)
    }

    /// A run's events of one kind, oldest first.
    public func events(_ runID: String, kind: EventKind) throws(StoreError) -> [EventRecord] {
        try backend.events(runID, kind: kind)
    }

    /// `PRAGMA integrity_check`'s answer (`ok` when the file is sound).
    public func integrityCheck() throws(StoreError) -> String {
        try backend.integrityCheck()
    }

    // MARK: - Pools

    /// Records the hosts of runtime pools (inserting new ones, updating the runtime, budget and labels of known ones).
    public func registerRuntimeHosts(_ hosts: [RuntimeHostRecord]) throws(StoreError) { try backend.registerRuntimeHosts(hosts) }

    /// Reserves room for a model on a host if its budget has it (see ``RunStoreBackend/reserve(_:)``).
    public func reserve(_ request: ReservationRequest) throws(StoreError) -> ReservationOutcome { try backend.reserve(request) }

    /// Deletes run `runID`'s reservations, on `host` only and of `model` only when given; returns how many.
    @discardableResult
    public func releaseReservations(runID: String, host: String? = nil, model: String? = nil) throws(StoreError) -> Int {
        try backend.releaseReservations(runID: runID, host: host, model: model)
    }

    /// Deletes reservations whose epoch is no longer their run's, or whose run finished or is gone; returns how many.
    @discardableResult
    public func releaseStaleReservations() throws(StoreError) -> Int { try backend.releaseStaleReservations() }

    /// Every known host with its live reservations, by URL.
    public func hostReservations() throws(StoreError) -> [HostReservations] { try backend.hostReservations() }

    // MARK: - Queue

    /// Queues `run` for workers (``RunStoreBackend/submitRun(_:freshID:)``). - Returns: the run's id.
    @discardableResult
    public func submitRun(_ run: RunRecord, freshID: (() -> String)? = nil) throws(StoreError) -> String {
        try backend.submitRun(run, freshID: freshID)
    }

    /// Records worker `worker` (replacing a row of the same id).
    public func registerWorker(_ worker: WorkerRecord) throws(StoreError) { try backend.registerWorker(worker) }

    /// A worker's heartbeat (``RunStoreBackend/workerHeartbeat(_:at:)``). - Returns: the runs it still holds.
    @discardableResult
    public func workerHeartbeat(_ worker: WorkerRecord, at now: Double = RunStore.now()) throws(StoreError) -> [HeldRun] {
        try backend.workerHeartbeat(worker, at: now)
    }

    /// Deletes worker `workerID`'s row.
    public func deregisterWorker(_ workerID: String) throws(StoreError) { try backend.deregisterWorker(workerID) }

    /// Every registered worker, by id.
    public func workers() throws(StoreError) -> [WorkerRecord] { try backend.workers() }

    /// The `running` runs held by workers, by worker id.
    public func heldRuns() throws(StoreError) -> [String: [HeldRun]] { try backend.heldRuns() }

    /// Claims the next queued run `worker` may execute (``RunStoreBackend/claimRun(for:at:)``); nil when none waits.
    public func claimRun(for worker: WorkerRecord, at now: Double = RunStore.now()) throws(StoreError) -> QueueClaim? {
        try backend.claimRun(for: worker, at: now)
    }

    /// Hands a held run back to the queue; false when the fence's epoch is no longer the run's.
    @discardableResult
    public func requeueRun(_ fence: RunFence, reason: String) throws(StoreError) -> Bool {
        try backend.requeueRun(fence, reason: reason)
    }

    /// One sweep of the rescuer (``RunStoreBackend/rescueRuns(maxRecoveries:at:)``); nil when another sweep runs.
    public func rescueRuns(maxRecoveries: Int, at now: Double = RunStore.now()) throws(StoreError) -> RescueOutcome? {
        try backend.rescueRuns(maxRecoveries: maxRecoveries, at: now)
    }
}
