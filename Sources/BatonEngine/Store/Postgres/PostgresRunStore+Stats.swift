import Foundation
import PostgresNIO

/// `baton stats` on PostgreSQL: the same selection and aggregation as ``SQLiteRunStore``'s (``StatsAggregation``), so
/// both stores give the same report for the same runs (RunStoreConformanceTests).
extension PostgresRunStore {
    /// The stats of the runs `query` selects, one row per (model, role).
    public func stats(_ query: StatsQuery) throws(StoreError) -> StatsReport {
        try read { session in
            let since = query.since ?? -Double.greatestFiniteMagnitude
            var outlines: [String: StatsSnapshotOutline?] = [:]
            func outline(_ runID: String) throws -> StatsSnapshotOutline? {
                if let known = outlines[runID] { return known }
                let text = try session.query("SELECT snapshot FROM run_snapshots WHERE run_id = $1", [.text(runID)]).first
                    .map { try $0.decode(String.self) }
                // A snapshot this Baton cannot read still has its attempts counted, without roles.
                let decoded = text.flatMap { try? JSONDecoder().decode(StatsSnapshotOutline.self, from: Data($0.utf8)) }
                outlines[runID] = decoded
                return decoded
            }
            func selected(_ outline: StatsSnapshotOutline?) -> Bool {
                guard let profile = query.profile else { return true }
                return outline?.profile?.chain.first == profile
            }

            // `baton test --replay` runs answer from recordings: their attempts repeat calls already counted. A payload
            // that is not JSON is skipped, as SQLite's reading of it in Swift skips it.
            var replayed = Set<String>()
            for row in try session.query(
                "SELECT run_id, payload FROM events WHERE kind = $1", [.text(EventKind.testCase.rawValue)])
            {
                let (runID, payload) = try row.decode((String, String?).self)
                let fields = payload.flatMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
                if fields?["variant"] as? String == "replay" { replayed.insert(runID) }
            }
            var attempts: [StatsAttempt] = []
            // `baton rerun` copies the parent's completed attempts into the new run: one call, counted once.
            var seen = Set<String>()
            let rows = try session.query(
                """
                SELECT run_id, stage, item, round, try, turn, status, model, runtime, prompt_tokens, output_tokens,
                started_at, first_token_at, finished_at, timings FROM attempts
                WHERE model IS NOT NULL AND status != 'skipped' AND started_at >= $1 ORDER BY id
                """, [.real(since)])
            for row in rows {
                let row = row.makeRandomAccess()
                let runtime: String = try row.value("runtime", as: String?.self) ?? "?"
                if !query.includeEcho, runtime == "echo" { continue }
                let runID: String = try row.value("run_id")
                if replayed.contains(runID) { continue }
                let stage: String = try row.value("stage")
                let model: String = try row.value("model")
                let startedAt: Double = try row.value("started_at")
                let item: Int? = try row.value("item")
                let turn: Int? = try row.value("turn")
                let round: Int = try row.value("round")
                let tryNumber: Int = try row.value("try")
                let identity =
                    "\(stage)\u{0}\(item ?? -1)\u{0}\(round)\u{0}\(tryNumber)\u{0}\(turn ?? -1)\u{0}\(runtime):\(model)\u{0}\(startedAt)"
                guard seen.insert(identity).inserted else { continue }
                let snapshot = try outline(runID)
                guard selected(snapshot) else { continue }
                let parsed = AttemptRecord.timingValues(try row.value("timings"))
                attempts.append(
                    StatsAttempt(
                        runID: runID, key: "\(runtime):\(model)", role: snapshot?.role(of: stage),
                        status: try row.value("status"),
                        promptTokens: try row.value("prompt_tokens"), outputTokens: try row.value("output_tokens"), startedAt: startedAt,
                        firstTokenAt: try row.value("first_token_at"), finishedAt: try row.value("finished_at"),
                        promptMs: parsed["prompt"], generationMs: parsed["generation"]))
            }

            var events: [StatsEvent] = []
            let eventRows = try session.query(
                "SELECT run_id, stage, kind, payload FROM events WHERE kind IN ($1, $2) AND at >= $3 ORDER BY id",
                [.text(EventKind.modelLoaded.rawValue), .text(EventKind.modelFallback.rawValue), .real(since)])
            for row in eventRows {
                let (runID, stage, kindText, payloadText) = try row.decode((String, String?, String, String?).self)
                if replayed.contains(runID) { continue }
                let kind = EventKind(rawValue: kindText)
                let payload = payloadText.flatMap { try? JSONDecoder().decode([String: String].self, from: Data($0.utf8)) } ?? [:]
                let snapshot = try outline(runID)
                guard selected(snapshot) else { continue }
                let role = stage.flatMap { snapshot?.role(of: $0) }
                if kind == .modelLoaded, let model = payload["model"] {
                    if !query.includeEcho, model.hasPrefix("echo:") { continue }
                    events.append(StatsEvent(key: model, role: role, kind: .load(seconds: payload["seconds"].flatMap(Double.init))))
                } else if kind == .modelFallback, let from = payload["from"] {
                    let key = stage.flatMap { snapshot?.key(of: from, stage: $0) } ?? from
                    if !query.includeEcho, key.hasPrefix("echo:") { continue }
                    events.append(StatsEvent(key: key, role: role, kind: .fallback))
                }
            }

            var footprints: [String: Int64] = [:]
            for row in try session.query("SELECT runtime, model, bytes FROM model_footprints") {
                let (runtime, model, bytes) = try row.decode((String, String, Int64).self)
                footprints["\(runtime):\(model)"] = bytes
            }
            return StatsAggregation.report(attempts: attempts, events: events, footprints: footprints)
        }
    }
}
