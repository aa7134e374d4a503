import Foundation
import PostgresNIO

extension PostgresRunStore {
    /// Appends an event.
    public func appendEvent(
        _ runID: String, kind: EventKind, stage: String? = nil, attemptID: Int64? = nil, payload: String? = nil
    ) throws(StoreError) {
        try write { session in
            try Self.insertEvent(
                session, runID: runID, at: RunStore.now(), kind: kind, stage: stage, attemptID: attemptID, payload: payload)
        }
    }

    /// A run's events, in order.
    public func events(_ runID: String) throws(StoreError) -> [EventRecord] {
        try read { session in try session.query("SELECT * FROM events WHERE run_id = $1 ORDER BY id", [.text(runID)]).map(Self.event) }
    }

    /// A run's events of one kind, oldest first.
    public func events(_ runID: String, kind: EventKind) throws(StoreError) -> [EventRecord] {
        try read { session in
            try session.query("SELECT * FROM events WHERE run_id = $1 AND kind = $2 ORDER BY id", [.text(runID), .text(kind.rawValue)])
                .map(Self.event)
        }
    }

    /// How many events of each of `kinds` a run has (0 for a kind it has none of).
    public func eventCounts(_ runID: String, kinds: [EventKind]) throws(StoreError) -> [EventKind: Int] {
        guard !kinds.isEmpty else { return [:] }
        let found = try read { session in
            try session.query(
                "SELECT kind, count(*) FROM events WHERE run_id = $1 AND kind IN (\(Self.placeholders(kinds.count, from: 2))) GROUP BY kind",
                [.text(runID)] + kinds.map { .text($0.rawValue) }
            ).map { row in try row.decode((String, Int).self) }
        }
        var counts: [EventKind: Int] = [:]
        for kind in kinds { counts[kind] = 0 }
        for (kind, count) in found { counts[EventKind(rawValue: kind)] = count }
        return counts
    }

    // MARK: - Footprints

    /// Records the footprint a runtime measured for a model.
    public func saveFootprint(runtime: String, model: String, bytes: Int64) throws(StoreError) {
        try write { session in
            try session.execute(
                """
                INSERT INTO model_footprints (runtime, model, bytes, measured_at) VALUES ($1, $2, $3, $4)
                ON CONFLICT (runtime, model) DO UPDATE SET bytes = EXCLUDED.bytes, measured_at = EXCLUDED.measured_at
                """, [.text(runtime), .text(model), .integer(bytes), .real(RunStore.now())])
        }
    }

    /// Every measured footprint.
    public func measuredFootprints() throws(StoreError) -> [ModelKey: Int64] {
        let rows = try read { session in
            try session.query("SELECT runtime, model, bytes FROM model_footprints").map { try $0.decode((String, String, Int64).self) }
        }
        var result: [ModelKey: Int64] = [:]
        for (runtime, model, bytes) in rows { result[ModelKey(runtime: runtime, name: model)] = bytes }
        return result
    }

    // MARK: - Integrity

    /// `ok` when the server answers and the core tables are there: PostgreSQL checks its own pages (`data_checksums`),
    /// and has no `PRAGMA integrity_check`; otherwise what is missing.
    public func integrityCheck() throws(StoreError) -> String {
        let missing = try read { session in
            try session.query(
                """
                SELECT t FROM unnest(ARRAY['runs', 'run_snapshots', 'attempts', 'events', 'model_footprints', 'tool_calls',
                  'cassettes', 'bench_results']) AS t WHERE to_regclass(t) IS NULL ORDER BY t
                """
            ).map { try $0.decode(String.self) }
        }
        return missing.isEmpty ? "ok" : "missing tables: " + missing.joined(separator: ", ")
    }
}
