import Foundation

// Not yet on PostgreSQL: each method moves to its own file as it is written (helper H1, session 12).
extension PostgresRunStore {
    public func saveBenchResults(_ results: [BenchResult], benchID: String, at createdAt: Double) throws(StoreError) {
        throw StoreError(.database, "saveBenchResults is not yet supported on PostgreSQL")
    }

    public func benchResults(benchID: String?) throws(StoreError) -> [BenchRecord] {
        throw StoreError(.database, "benchResults is not yet supported on PostgreSQL")
    }

    public func replaceCassettes(_ key: CassetteKey, with records: [CassetteRecord], runID: String?) throws(StoreError) {
        throw StoreError(.database, "replaceCassettes is not yet supported on PostgreSQL")
    }

    public func cassettes(_ key: CassetteKey) throws(StoreError) -> [CassetteRecord] {
        throw StoreError(.database, "cassettes is not yet supported on PostgreSQL")
    }

    public func cassetteVariants(suite: String, caseName: String) throws(StoreError) -> [String: [Int]] {
        throw StoreError(.database, "cassetteVariants is not yet supported on PostgreSQL")
    }

    public func dashboardRuns(status: RunStatus?, pipeline: String?, limit: Int) throws(StoreError) -> [DashboardRunRow] {
        throw StoreError(.database, "dashboardRuns is not yet supported on PostgreSQL")
    }

    public func planFacts(_ runIDs: [String]) throws(StoreError) -> [String: PlanFacts] {
        throw StoreError(.database, "planFacts is not yet supported on PostgreSQL")
    }

    public func lastEventID(runID: String?) throws(StoreError) -> Int64 {
        throw StoreError(.database, "lastEventID is not yet supported on PostgreSQL")
    }

    public func events(after: Int64, runID: String?, limit: Int) throws(StoreError) -> [EventRecord] {
        throw StoreError(.database, "events is not yet supported on PostgreSQL")
    }

    public func attemptSummaries(_ ids: [Int64]) throws(StoreError) -> [Int64: AttemptRecord] {
        throw StoreError(.database, "attemptSummaries is not yet supported on PostgreSQL")
    }

    public func attempt(_ id: Int64, runID: String) throws(StoreError) -> AttemptRecord? {
        throw StoreError(.database, "attempt is not yet supported on PostgreSQL")
    }

    public func standing(_ runID: String) throws(StoreError) -> RunStanding? {
        throw StoreError(.database, "standing is not yet supported on PostgreSQL")
    }

    public func acquireLease(_ runID: String, claim: LeaseClaim, isAlive: @Sendable (Int) -> Bool) throws(StoreError) {
        throw StoreError(.database, "acquireLease is not yet supported on PostgreSQL")
    }

    public func heartbeat(_ runID: String, claim: LeaseClaim) throws(StoreError) {
        throw StoreError(.database, "heartbeat is not yet supported on PostgreSQL")
    }

    public func releaseLease(_ runID: String, claim: LeaseClaim) throws(StoreError) {
        throw StoreError(.database, "releaseLease is not yet supported on PostgreSQL")
    }

    public func finishAttempt(_ attempt: AttemptRecord, event kind: EventKind, payload: String?, deferred: Bool) throws(StoreError) {
        throw StoreError(.database, "finishAttempt is not yet supported on PostgreSQL")
    }

    public func commitPending() throws(StoreError) {
        throw StoreError(.database, "commitPending is not yet supported on PostgreSQL")
    }

    public func saveProgress(_ attemptID: Int64, output: String, firstTokenAt: Double?, thinking: String?, chunk: RunStore.OutputChunk?)
        throws(StoreError)
    {
        throw StoreError(.database, "saveProgress is not yet supported on PostgreSQL")
    }

    public func stats(_ query: StatsQuery) throws(StoreError) -> StatsReport {
        throw StoreError(.database, "stats is not yet supported on PostgreSQL")
    }

    public func recordToolIntent(_ call: ToolCallRecord, payload: String?) throws(StoreError) -> ToolCallRecord {
        throw StoreError(.database, "recordToolIntent is not yet supported on PostgreSQL")
    }

    public func recordToolResult(
        _ call: ToolCallRecord, attempt: AttemptRecord?, attemptEvent: EventKind, callEvent: EventKind, payload: String?
    ) throws(StoreError) {
        throw StoreError(.database, "recordToolResult is not yet supported on PostgreSQL")
    }

    public func toolCall(_ runID: String, stage: String, item: Int?, round: Int, turn: Int, callIndex: Int) throws(StoreError)
        -> ToolCallRecord?
    {
        throw StoreError(.database, "toolCall is not yet supported on PostgreSQL")
    }

    public func toolCalls(_ runID: String) throws(StoreError) -> [ToolCallRecord] {
        throw StoreError(.database, "toolCalls is not yet supported on PostgreSQL")
    }

    public func markToolCallSkipped(_ call: ToolCallRecord, attempt: AttemptRecord?, payload: String?) throws(StoreError) {
        throw StoreError(.database, "markToolCallSkipped is not yet supported on PostgreSQL")
    }

    public func runningToolAttempt(runID: String, stage: String, round: Int, item: Int?) throws(StoreError) -> AttemptRecord? {
        throw StoreError(.database, "runningToolAttempt is not yet supported on PostgreSQL")
    }

    public func completedToolTurns(runID: String, stage: String, round: Int, item: Int?) throws(StoreError) -> [AttemptRecord] {
        throw StoreError(.database, "completedToolTurns is not yet supported on PostgreSQL")
    }

    public func insertAttempt(_ attempt: AttemptRecord) throws(StoreError) -> AttemptRecord {
        throw StoreError(.database, "insertAttempt is not yet supported on PostgreSQL")
    }

    public func setAttemptCalls(_ attemptID: Int64, calls: String) throws(StoreError) {
        throw StoreError(.database, "setAttemptCalls is not yet supported on PostgreSQL")
    }

    public func setAttemptTurn(_ attemptID: Int64, turn: Int) throws(StoreError) {
        throw StoreError(.database, "setAttemptTurn is not yet supported on PostgreSQL")
    }

    public func createRun(_ run: RunRecord, reusing parent: (runID: String, stages: Set<String>)?, freshID: (() -> String)?)
        throws(StoreError) -> String
    {
        throw StoreError(.database, "createRun is not yet supported on PostgreSQL")
    }

    public func run(_ id: String) throws(StoreError) -> RunRecord {
        throw StoreError(.database, "run is not yet supported on PostgreSQL")
    }

    public func runs(status: RunStatus?, pipeline: String?, limit: Int) throws(StoreError) -> [RunRecord] {
        throw StoreError(.database, "runs is not yet supported on PostgreSQL")
    }

    public func setStatus(_ runID: String, _ status: RunStatus, error: String?, event kind: EventKind, payload: String?) throws(StoreError)
    {
        throw StoreError(.database, "setStatus is not yet supported on PostgreSQL")
    }

    public func replaceSnapshot(_ runID: String, snapshot: String, pipelineHash: String, supersede changedStages: [String])
        throws(StoreError)
    {
        throw StoreError(.database, "replaceSnapshot is not yet supported on PostgreSQL")
    }

    public func startAttempt(_ attempt: AttemptRecord) throws(StoreError) -> AttemptRecord {
        throw StoreError(.database, "startAttempt is not yet supported on PostgreSQL")
    }

    public func recordSkip(_ attempt: AttemptRecord, payload: String) throws(StoreError) -> AttemptRecord {
        throw StoreError(.database, "recordSkip is not yet supported on PostgreSQL")
    }

    public func saveFootprint(runtime: String, model: String, bytes: Int64) throws(StoreError) {
        throw StoreError(.database, "saveFootprint is not yet supported on PostgreSQL")
    }

    public func measuredFootprints() throws(StoreError) -> [ModelKey: Int64] {
        throw StoreError(.database, "measuredFootprints is not yet supported on PostgreSQL")
    }

    public func eventCounts(_ runID: String, kinds: [EventKind]) throws(StoreError) -> [EventKind: Int] {
        throw StoreError(.database, "eventCounts is not yet supported on PostgreSQL")
    }

    public func attemptsWithoutPrompts(_ runID: String, outputsOf stages: Set<String>?) throws(StoreError) -> [AttemptRecord] {
        throw StoreError(.database, "attemptsWithoutPrompts is not yet supported on PostgreSQL")
    }

    public func attempts(_ runID: String) throws(StoreError) -> [AttemptRecord] {
        throw StoreError(.database, "attempts is not yet supported on PostgreSQL")
    }

    public func abortInFlightAttempts(_ runID: String) throws(StoreError) -> [AttemptRecord] {
        throw StoreError(.database, "abortInFlightAttempts is not yet supported on PostgreSQL")
    }

    public func appendEvent(_ runID: String, kind: EventKind, stage: String?, attemptID: Int64?, payload: String?) throws(StoreError) {
        throw StoreError(.database, "appendEvent is not yet supported on PostgreSQL")
    }

    public func events(_ runID: String) throws(StoreError) -> [EventRecord] {
        throw StoreError(.database, "events is not yet supported on PostgreSQL")
    }

    public func events(_ runID: String, kind: EventKind) throws(StoreError) -> [EventRecord] {
        throw StoreError(.database, "events is not yet supported on PostgreSQL")
    }

    public func integrityCheck() throws(StoreError) -> String {
        throw StoreError(.database, "integrityCheck is not yet supported on PostgreSQL")
    }

}
