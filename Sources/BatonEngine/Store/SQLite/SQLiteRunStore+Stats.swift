import Foundation
import GRDB

/// `baton stats`: what the attempts, load and fallback events and measured footprints of past runs say per model and
/// role. A stage's role is read from the snapshot its run pinned, so a stage renamed or re-roled since still counts as
/// it ran.
extension SQLiteRunStore {
    /// The stats of the runs `query` selects, one row per (model, role).
    public func stats(_ query: StatsQuery) throws(StoreError) -> StatsReport {
        try read { db in
            let since = query.since ?? -Double.greatestFiniteMagnitude
            var outlines: [String: StatsSnapshotOutline?] = [:]
            func outline(_ runID: String) throws -> StatsSnapshotOutline? {
                if let known = outlines[runID] { return known }
                let text = try String.fetchOne(db, sql: "SELECT snapshot FROM run_snapshots WHERE run_id = ?", arguments: [runID])
                // A snapshot this Baton cannot read still has its attempts counted, without roles.
                let decoded = text.flatMap { try? JSONDecoder().decode(StatsSnapshotOutline.self, from: Data($0.utf8)) }
                outlines[runID] = decoded
                return decoded
            }
            func selected(_ outline: StatsSnapshotOutline?) -> Bool {
                guard let profile = query.profile else { return true }
                return outline?.profile?.chain.first == profile
            }

            // `baton test --replay` runs answer from recordings: their attempts repeat calls already counted.
            var replayed = Set<String>()
            for row in try Row.fetchAll(db, sql: "SELECT run_id, payload FROM events WHERE kind = ?", arguments: [EventKind.testCase]) {
                let payload: String? = row["payload"]
                let fields = payload.flatMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
                if fields?["variant"] as? String == "replay" { replayed.insert(row["run_id"]) }
            }
            var attempts: [StatsAttempt] = []
            // `baton rerun` copies the parent's completed attempts into the new run: one call, counted once.
            var seen = Set<String>()
            let rows = try Row.fetchCursor(
                db,
                sql: """
                    SELECT run_id, stage, item, round, try, turn, status, model, runtime, prompt_tokens, output_tokens,
                    started_at, first_token_at, finished_at, timings FROM attempts
                    WHERE model IS NOT NULL AND status != 'skipped' AND started_at >= ? ORDER BY id
                    """, arguments: [since])
            while let row = try rows.next() {
                let runtime: String = row["runtime"] ?? "?"
                if !query.includeEcho, runtime == "echo" { continue }
                let runID: String = row["run_id"]
                if replayed.contains(runID) { continue }
                let stage: String = row["stage"]
                let model: String = row["model"]
                let startedAt: Double = row["started_at"]
                let item: Int? = row["item"]
                let turn: Int? = row["turn"]
                let round: Int = row["round"]
                let tryNumber: Int = row["try"]
                let identity =
                    "\(stage)\u{0}\(item ?? -1)\u{0}\(round)\u{0}\(tryNumber)\u{0}\(turn ?? -1)\u{0}\(runtime):\(model)\u{0}\(startedAt)"
                guard seen.insert(identity).inserted else { continue }
                let snapshot = try outline(runID)
                guard selected(snapshot) else { continue }
                let parsed = AttemptRecord.timingValues(row["timings"])
                attempts.append(
                    StatsAttempt(
                        runID: runID, key: "\(runtime):\(model)", role: snapshot?.role(of: stage), status: row["status"],
                        promptTokens: row["prompt_tokens"], outputTokens: row["output_tokens"], startedAt: startedAt,
                        firstTokenAt: row["first_token_at"], finishedAt: row["finished_at"], promptMs: parsed["prompt"],
                        generationMs: parsed["generation"]))
            }

            var events: [StatsEvent] = []
            let eventRows = try Row.fetchCursor(
                db,
                sql: "SELECT run_id, stage, kind, payload FROM events WHERE kind IN (?, ?) AND at >= ? ORDER BY id",
                arguments: [EventKind.modelLoaded, EventKind.modelFallback, since])
            while let row = try eventRows.next() {
                let runID: String = row["run_id"]
                if replayed.contains(runID) { continue }
                let stage: String? = row["stage"]
                let kind: EventKind = row["kind"]
                let payloadText: String? = row["payload"]
                let payload = payloadText.flatMap { try? JSONDecoder().decode([String: String].self, from: Data($0.utf8)) } ?? [:]
                let snapshot = try outline(runID)
                guard selected(snapshot) else { continue }
                let role = stage.flatMap { snapshot?.role(of: $0) }
                if kind == .modelLoaded, let model = payload["model"] {
                    // Already `runtime:name`, with the runtime the run used (`--runtime echo` included).
                    if !query.includeEcho, model.hasPrefix("echo:") { continue }
                    events.append(StatsEvent(key: model, role: role, kind: .load(seconds: payload["seconds"].flatMap(Double.init))))
                } else if kind == .modelFallback, let from = payload["from"] {
                    let key = stage.flatMap { snapshot?.key(of: from, stage: $0) } ?? from
                    if !query.includeEcho, key.hasPrefix("echo:") { continue }
                    events.append(StatsEvent(key: key, role: role, kind: .fallback))
                }
            }

            var footprints: [String: Int64] = [:]
            for row in try Row.fetchAll(db, sql: "SELECT runtime, model, bytes FROM model_footprints") {
                let runtime: String = row["runtime"]
                let model: String = row["model"]
                footprints["\(runtime):\(model)"] = row["bytes"]
            }
            return StatsAggregation.report(attempts: attempts, events: events, footprints: footprints)
        }
    }
}
