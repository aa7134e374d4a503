import Foundation
import GRDB

/// A row of `bench_results` (migration v8): one role and candidate model of a `baton bench`.
public struct BenchRecord: Sendable, Hashable {
    /// The bench the row belongs to (one id per `baton bench` invocation).
    public var benchID: String
    /// Seconds since 1970.
    public var createdAt: Double
    /// What was measured.
    public var result: BenchResult
}

extension SQLiteRunStore {
    /// Records the results of bench `benchID`, in one transaction; `detail` keeps each whole result as JSON.
    public func saveBenchResults(_ results: [BenchResult], benchID: String, at createdAt: Double = RunStore.now()) throws(StoreError) {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        try write { db in
            for result in results {
                let detail = String(decoding: try encoder.encode(result), as: UTF8.self)
                let runIDs = String(decoding: try encoder.encode(result.runIDs), as: UTF8.self)
                try db.execute(
                    sql: """
                        INSERT INTO bench_results (bench_id, created_at, role, model, runtime, cases, passed, judge_score, ttft_ms,
                            prompt_tps, generation_tps, load_ms, peak_rss_bytes, run_ids, detail)
                        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                        """,
                    arguments: [
                        benchID, createdAt, result.role, result.model, result.runtime, result.cases, result.passed, result.judgeScore,
                        result.ttftMs, result.promptTokensPerSecond, result.generationTokensPerSecond, result.loadMs,
                        result.peakRSSBytes, runIDs, detail,
                    ])
            }
        }
    }

    /// The rows of bench `benchID`, or of every bench when nil, oldest first then in the order they were written.
    public func benchResults(benchID: String? = nil) throws(StoreError) -> [BenchRecord] {
        try read { db in
            let rows =
                if let benchID {
                    try Row.fetchAll(db, sql: "SELECT * FROM bench_results WHERE bench_id = ? ORDER BY id", arguments: [benchID])
                } else {
                    try Row.fetchAll(db, sql: "SELECT * FROM bench_results ORDER BY created_at, id")
                }
            return rows.map { row in
                let detail: String? = row["detail"]
                var result =
                    detail.flatMap { try? JSONDecoder().decode(BenchResult.self, from: Data($0.utf8)) }
                    ?? BenchResult(role: row["role"], model: row["model"], runtime: row["runtime"])
                // The columns are what queries read: they win over the detail where both exist.
                result.role = row["role"]
                result.model = row["model"]
                result.runtime = row["runtime"]
                result.cases = row["cases"]
                result.passed = row["passed"]
                result.judgeScore = row["judge_score"]
                result.ttftMs = row["ttft_ms"]
                result.promptTokensPerSecond = row["prompt_tps"]
                result.generationTokensPerSecond = row["generation_tps"]
                result.loadMs = row["load_ms"]
                result.peakRSSBytes = row["peak_rss_bytes"]
                let runIDs: String = row["run_ids"]
                result.runIDs = (try? JSONDecoder().decode([String].self, from: Data(runIDs.utf8))) ?? result.runIDs
                return BenchRecord(benchID: row["bench_id"], createdAt: row["created_at"], result: result)
            }
        }
    }
}
