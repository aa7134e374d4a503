import Foundation
import PostgresNIO

/// The queries of `baton serve` (``SQLiteRunStore``'s, with PostgreSQL's JSON operators for the snapshot's facts).
extension PostgresRunStore {
    /// Runs for the dashboard's list, newest first; `profile` and `stagesTotal` are left for ``planFacts(_:)``.
    public func dashboardRuns(status: RunStatus? = nil, pipeline: String? = nil, limit: Int = 100) throws(StoreError) -> [DashboardRunRow] {
        var filters: [String] = []
        var binds: [PostgresValue] = []
        if let status {
            binds.append(.text(status.rawValue))
            filters.append("r.status = $\(binds.count)")
        }
        if let pipeline {
            binds.append(.text(pipeline))
            filters.append("r.pipeline = $\(binds.count)")
        }
        binds.append(.integer(Int64(max(1, limit))))
        let sql = """
            SELECT r.*,
              (SELECT COALESCE(sum(prompt_tokens), 0)::bigint FROM attempts a WHERE a.run_id = r.id) AS prompt_sum,
              (SELECT COALESCE(sum(output_tokens), 0)::bigint FROM attempts a WHERE a.run_id = r.id) AS output_sum,
              (SELECT count(DISTINCT stage) FROM attempts a WHERE a.run_id = r.id AND a.status IN ('completed', 'skipped')
                 AND a.calls IS NULL) AS stages_done,
              (SELECT stage FROM attempts a WHERE a.run_id = r.id AND a.status = 'running' ORDER BY a.id DESC LIMIT 1) AS running_stage
            FROM runs r
            \(filters.isEmpty ? "" : "WHERE " + filters.joined(separator: " AND "))
            ORDER BY r.created_at DESC, r.id DESC LIMIT $\(binds.count)
            """
        return try read { session in
            try session.query(sql, binds).map { row in
                let run = try Self.run(row)
                let columns = row.makeRandomAccess()
                return DashboardRunRow(
                    run: run, profile: nil, promptTokens: try columns.value("prompt_sum"), outputTokens: try columns.value("output_sum"),
                    stagesTotal: 0, stagesDone: try columns.value("stages_done"),
                    currentStage: run.status == .running ? try columns.value("running_stage") : nil)
            }
        }
    }

    /// What the list shows of runs' snapshots, by run id (``PlanFacts``), read with PostgreSQL's JSON operators:
    /// decoding whole snapshots (megabytes for a large plan) would cost more.
    public func planFacts(_ runIDs: [String]) throws(StoreError) -> [String: PlanFacts] {
        guard !runIDs.isEmpty else { return [:] }
        let sql = """
            SELECT s.run_id,
              COALESCE(j.doc #>> '{profile,chain,0}', j.doc #>> '{plan,profile}') AS profile_name,
              (SELECT count(*) FROM jsonb_array_elements(
                 CASE WHEN jsonb_typeof(j.doc #> '{plan,stages}') = 'array' THEN j.doc #> '{plan,stages}' ELSE '[]'::jsonb END) AS e
               WHERE COALESCE(e ->> 'isToolDefinition', 'false') IN ('false', '0')) AS stages_total
            FROM run_snapshots s, LATERAL (SELECT s.snapshot::jsonb AS doc) AS j
            WHERE s.run_id IN (\(Self.placeholders(runIDs.count)))
            """
        let rows = try read { session in
            try session.query(sql, runIDs.map { .text($0) }).map { try $0.decode((String, String?, Int).self) }
        }
        var facts: [String: PlanFacts] = [:]
        for (runID, profile, total) in rows { facts[runID] = PlanFacts(profile: profile, stagesTotal: total) }
        return facts
    }

    /// The highest event id of run `runID` (of every run when nil), 0 when there is none.
    public func lastEventID(runID: String? = nil) throws(StoreError) -> Int64 {
        try read { session in
            let rows =
                if let runID {
                    try session.query("SELECT COALESCE(max(id), 0) FROM events WHERE run_id = $1", [.text(runID)])
                } else {
                    try session.query("SELECT COALESCE(max(id), 0) FROM events")
                }
            return try rows[0].decode(Int64.self)
        }
    }

    /// Up to `limit` events after id `after`, of run `runID` (of every run when nil), in id order.
    public func events(after: Int64, runID: String?, limit: Int = 1000) throws(StoreError) -> [EventRecord] {
        try read { session in
            let rows =
                if let runID {
                    try session.query(
                        "SELECT * FROM events WHERE run_id = $1 AND id > $2 ORDER BY id LIMIT $3",
                        [.text(runID), .integer(after), .integer(limit)])
                } else {
                    try session.query("SELECT * FROM events WHERE id > $1 ORDER BY id LIMIT $2", [.integer(after), .integer(limit)])
                }
            return try rows.map(Self.event)
        }
    }

    /// The attempts with these ids, without prompt, system, output, thinking and calls (empty or nil), by id.
    public func attemptSummaries(_ ids: [Int64]) throws(StoreError) -> [Int64: AttemptRecord] {
        guard !ids.isEmpty else { return [:] }
        var result: [Int64: AttemptRecord] = [:]
        for start in stride(from: 0, to: ids.count, by: 500) {
            let chunk = Array(ids[start..<min(ids.count, start + 500)])
            let sql = """
                SELECT id, run_id, stage, round, try, status, model, runtime, NULL::text AS system, '' AS prompt, '' AS output,
                verdict, feedback, prompt_tokens, output_tokens, started_at, first_token_at, finished_at, timings, error,
                fingerprint, finish_reason, NULL::text AS thinking, item, turn, NULL::text AS calls
                FROM attempts WHERE id IN (\(Self.placeholders(chunk.count)))
                """
            let attempts = try read { session in try session.query(sql, chunk.map { .integer($0) }).map(Self.attempt) }
            for attempt in attempts { if let id = attempt.id { result[id] = attempt } }
        }
        return result
    }

    /// Attempt `id` of run `runID`, whole; nil when the run has none of that id.
    public func attempt(_ id: Int64, runID: String) throws(StoreError) -> AttemptRecord? {
        try read { session in
            try session.query("SELECT * FROM attempts WHERE id = $1 AND run_id = $2", [.integer(id), .text(runID)]).first.map(Self.attempt)
        }
    }

    /// Where run `runID` stands; nil when there is no such run.
    public func standing(_ runID: String) throws(StoreError) -> RunStanding? {
        let row = try read { session in
            try session.query(
                "SELECT status, lease_token, lease_pid, lease_host, lease_heartbeat FROM runs WHERE id = $1", [.text(runID)]
            ).first.map { try $0.decode((String, String?, Int?, String?, Double?).self) }
        }
        guard let (status, token, pid, holder, heartbeat) = row else { return nil }
        let free =
            token == nil
            || RunStore.leaseIsFree(
                heartbeat: heartbeat, pid: pid, holderHost: holder, now: RunStore.now(), host: ProcessInfo.processInfo.hostName,
                isAlive: RunStore.processIsAlive)
        return RunStanding(
            status: RunStatus(rawValue: status), leaseFree: free, leasePid: token == nil ? nil : pid, leaseHost: token == nil ? nil : holder
        )
    }
}
