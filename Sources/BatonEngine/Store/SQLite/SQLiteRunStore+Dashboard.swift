import Foundation
import GRDB

/// One run as `baton serve`'s runs list shows it: the row, its totals and where it is.
public struct DashboardRunRow: Sendable, Hashable {
    /// The run.
    public var run: RunRecord
    /// The profile it ran with (the first of its chain), nil for none.
    public var profile: String?
    /// Tokens over every attempt.
    public var promptTokens: Int
    public var outputTokens: Int
    /// The plan's stages (tool definitions left out) and how many of them completed or were skipped.
    public var stagesTotal: Int
    public var stagesDone: Int
    /// The stage of the latest running attempt of a running run, nil otherwise.
    public var currentStage: String?
}

/// What the runs list shows of a run's pinned snapshot; it changes only when `resume --use-current-pipeline` replaces it.
public struct PlanFacts: Sendable, Hashable {
    /// The profile it ran with (the first of its chain, else the one the plan was compiled with), nil for none.
    public var profile: String?
    /// The plan's stages, tool definitions left out.
    public var stagesTotal: Int
}

/// Where a run stands for an event stream: its status and whether a process still holds it.
public struct RunStanding: Sendable, Hashable {
    /// The run's status.
    public var status: RunStatus
    /// Whether no live process holds the run (``RunStore/leaseIsFree(heartbeat:pid:holderHost:now:host:isAlive:)``).
    public var leaseFree: Bool
    /// The holder's pid and host, when there is one.
    public var leasePid: Int?
    public var leaseHost: String?

    /// Whether the run is over and its process gone: nothing more will be written to its log but by a new command.
    public var isSettled: Bool { status.isFinished && leaseFree }
}

// The queries of `baton serve`, as functions of a connection so that the server's store and its event poller's own
// read-only connection share them.
extension SQLiteRunStore {
    /// Runs for the dashboard's list, newest first; `profile` and `stagesTotal` are left for ``planFacts(_:)``.
    public func dashboardRuns(status: RunStatus? = nil, pipeline: String? = nil, limit: Int = 100) throws(StoreError) -> [DashboardRunRow] {
        try read { db in try Self.dashboardRuns(db, status: status, pipeline: pipeline, limit: limit) }
    }

    /// What the list shows of runs' snapshots, by run id (``PlanFacts``).
    public func planFacts(_ runIDs: [String]) throws(StoreError) -> [String: PlanFacts] {
        try read { db in try Self.planFacts(db, runIDs) }
    }

    /// The highest event id of run `runID` (of every run when nil), 0 when there is none.
    public func lastEventID(runID: String? = nil) throws(StoreError) -> Int64 {
        try read { db in try Self.lastEventID(db, runID: runID) }
    }

    /// Up to `limit` events after id `after`, of run `runID` (of every run when nil), in id order.
    public func events(after: Int64, runID: String?, limit: Int = 1000) throws(StoreError) -> [EventRecord] {
        try read { db in try Self.events(db, after: after, runID: runID, limit: limit) }
    }

    /// The attempts with these ids, without prompt, system, output, thinking and calls (empty or nil), by id.
    public func attemptSummaries(_ ids: [Int64]) throws(StoreError) -> [Int64: AttemptRecord] {
        try read { db in try Self.attemptSummaries(db, ids) }
    }

    /// Attempt `id` of run `runID`, whole; nil when the run has none of that id.
    public func attempt(_ id: Int64, runID: String) throws(StoreError) -> AttemptRecord? {
        try read { db in try AttemptRecord.filter(Column("id") == id && Column("run_id") == runID).fetchOne(db) }
    }

    /// Where run `runID` stands; nil when there is no such run.
    public func standing(_ runID: String) throws(StoreError) -> RunStanding? {
        try read { db in try Self.standings(db, [runID])[runID] }
    }

    static func dashboardRuns(_ db: Database, status: RunStatus?, pipeline: String?, limit: Int) throws -> [DashboardRunRow] {
        var filters: [String] = []
        var arguments: [any DatabaseValueConvertible] = []
        if let status {
            filters.append("r.status = ?")
            arguments.append(status.rawValue)
        }
        if let pipeline {
            filters.append("r.pipeline = ?")
            arguments.append(pipeline)
        }
        arguments.append(max(1, limit))
        let sql = """
            SELECT r.*,
              (SELECT COALESCE(sum(prompt_tokens), 0) FROM attempts a WHERE a.run_id = r.id) AS prompt_sum,
              (SELECT COALESCE(sum(output_tokens), 0) FROM attempts a WHERE a.run_id = r.id) AS output_sum,
              (SELECT count(DISTINCT stage) FROM attempts a WHERE a.run_id = r.id AND a.status IN ('completed', 'skipped')
                 AND a.calls IS NULL) AS stages_done,
              (SELECT stage FROM attempts a WHERE a.run_id = r.id AND a.status = 'running' ORDER BY a.id DESC LIMIT 1) AS running_stage
            FROM runs r
            \(filters.isEmpty ? "" : "WHERE " + filters.joined(separator: " AND "))
            ORDER BY r.created_at DESC LIMIT ?
            """
        return try Row.fetchAll(db, sql: sql, arguments: StatementArguments(arguments)).map { row in
            let run = try RunRecord(row: row)
            return DashboardRunRow(
                run: run, profile: nil, promptTokens: row["prompt_sum"] ?? 0, outputTokens: row["output_sum"] ?? 0,
                stagesTotal: 0, stagesDone: row["stages_done"] ?? 0, currentStage: run.status == .running ? row["running_stage"] : nil)
        }
    }

    /// Each run's profile (the first of its chain, else the plan's) and its stages without tool definitions, read from
    /// the snapshot with SQLite's JSON functions: decoding whole snapshots (megabytes for a large plan) would cost more.
    static func planFacts(_ db: Database, _ runIDs: [String]) throws -> [String: PlanFacts] {
        guard !runIDs.isEmpty else { return [:] }
        let rows = try Row.fetchAll(
            db,
            sql: """
                SELECT run_id,
                  COALESCE(json_extract(snapshot, '$.profile.chain[0]'), json_extract(snapshot, '$.plan.profile')) AS profile_name,
                  (SELECT count(*) FROM json_each(snapshot, '$.plan.stages')
                     WHERE COALESCE(json_extract(value, '$.isToolDefinition'), 0) = 0) AS stages_total
                FROM run_snapshots WHERE run_id IN (\(runIDs.map { _ in "?" }.joined(separator: ",")))
                """, arguments: StatementArguments(runIDs))
        var facts: [String: PlanFacts] = [:]
        for row in rows { facts[row["run_id"]] = PlanFacts(profile: row["profile_name"], stagesTotal: row["stages_total"] ?? 0) }
        return facts
    }

    static func lastEventID(_ db: Database, runID: String?) throws -> Int64 {
        if let runID {
            return try Int64.fetchOne(db, sql: "SELECT max(id) FROM events WHERE run_id = ?", arguments: [runID]) ?? 0
        }
        return try Int64.fetchOne(db, sql: "SELECT max(id) FROM events") ?? 0
    }

    static func events(_ db: Database, after: Int64, runID: String?, limit: Int) throws -> [EventRecord] {
        let sql =
            runID == nil
            ? "SELECT * FROM events WHERE id > ? ORDER BY id LIMIT ?"
            : "SELECT * FROM events WHERE run_id = ? AND id > ? ORDER BY id LIMIT ?"
        let arguments: StatementArguments = runID.map { [$0, after, limit] } ?? [after, limit]
        return try EventRecord.fetchAll(db, sql: sql, arguments: arguments)
    }

    static func attemptSummaries(_ db: Database, _ ids: [Int64]) throws -> [Int64: AttemptRecord] {
        guard !ids.isEmpty else { return [:] }
        var result: [Int64: AttemptRecord] = [:]
        for start in stride(from: 0, to: ids.count, by: 500) {
            let chunk = Array(ids[start..<min(ids.count, start + 500)])
            let rows = try Row.fetchAll(
                db,
                sql: """
                    SELECT id, run_id, stage, round, try, status, model, runtime, NULL AS system, '' AS prompt, '' AS output,
                    verdict, feedback, prompt_tokens, output_tokens, started_at, first_token_at, finished_at, timings, error,
                    fingerprint, finish_reason, NULL AS thinking, item, turn, NULL AS calls
                    FROM attempts WHERE id IN (\(chunk.map { _ in "?" }.joined(separator: ",")))
                    """, arguments: StatementArguments(chunk))
            for row in rows {
                let attempt = try AttemptRecord(row: row)
                if let id = attempt.id { result[id] = attempt }
            }
        }
        return result
    }

    static func standings(_ db: Database, _ runIDs: [String], now: Double = RunStore.now()) throws -> [String: RunStanding] {
        guard !runIDs.isEmpty else { return [:] }
        let host = ProcessInfo.processInfo.hostName
        let rows = try Row.fetchAll(
            db,
            sql: """
                SELECT id, status, lease_token, lease_pid, lease_host, lease_heartbeat FROM runs
                WHERE id IN (\(runIDs.map { _ in "?" }.joined(separator: ",")))
                """, arguments: StatementArguments(runIDs))
        var result: [String: RunStanding] = [:]
        for row in rows {
            let token: String? = row["lease_token"]
            let pid: Int? = row["lease_pid"]
            let holder: String? = row["lease_host"]
            let free =
                token == nil
                || RunStore.leaseIsFree(
                    heartbeat: row["lease_heartbeat"], pid: pid, holderHost: holder, now: now, host: host, isAlive: RunStore.processIsAlive)
            result[row["id"]] = RunStanding(
                status: RunStatus(rawValue: row["status"] as String), leaseFree: free, leasePid: token == nil ? nil : pid,
                leaseHost: token == nil ? nil : holder)
        }
        return result
    }
}
