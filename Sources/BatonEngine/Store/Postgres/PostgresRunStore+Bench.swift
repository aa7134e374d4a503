import Foundation
import PostgresNIO

extension PostgresRunStore {
    /// Records the results of bench `benchID`, in one transaction; `detail` keeps each whole result as JSON.
    public func saveBenchResults(_ results: [BenchResult], benchID: String, at createdAt: Double = RunStore.now()) throws(StoreError) {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        try write { session in
            for result in results {
                let detail = String(decoding: try encoder.encode(result), as: UTF8.self)
                let runIDs = String(decoding: try encoder.encode(result.runIDs), as: UTF8.self)
                try session.execute(
                    """
                    INSERT INTO bench_results (bench_id, created_at, role, model, runtime, cases, passed, judge_score, ttft_ms,
                        prompt_tps, generation_tps, load_ms, peak_rss_bytes, run_ids, detail)
                    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)
                    """,
                    [
                        .text(benchID), .real(createdAt), .text(result.role), .text(result.model), .text(result.runtime),
                        .integer(result.cases), .integer(result.passed), .real(result.judgeScore), .real(result.ttftMs),
                        .real(result.promptTokensPerSecond), .real(result.generationTokensPerSecond), .real(result.loadMs),
                        .integer(result.peakRSSBytes), .text(runIDs), .text(detail),
                    ])
            }
        }
    }

    /// The rows of bench `benchID`, or of every bench when nil, oldest first then in the order they were written.
    public func benchResults(benchID: String? = nil) throws(StoreError) -> [BenchRecord] {
        try read { session in
            let rows =
                if let benchID {
                    try session.query("SELECT * FROM bench_results WHERE bench_id = $1 ORDER BY id", [.text(benchID)])
                } else {
                    try session.query("SELECT * FROM bench_results ORDER BY created_at, id")
                }
            return try rows.map { row in
                let row = row.makeRandomAccess()
                let detail: String? = try row.value("detail")
                let role: String = try row.value("role")
                let model: String = try row.value("model")
                let runtime: String? = try row.value("runtime")
                var result =
                    detail.flatMap { try? JSONDecoder().decode(BenchResult.self, from: Data($0.utf8)) }
                    ?? BenchResult(role: role, model: model, runtime: runtime)
                // The columns are what queries read: they win over the detail where both exist.
                result.role = role
                result.model = model
                result.runtime = runtime
                result.cases = try row.value("cases")
                result.passed = try row.value("passed")
                result.judgeScore = try row.value("judge_score")
                result.ttftMs = try row.value("ttft_ms")
                result.promptTokensPerSecond = try row.value("prompt_tps")
                result.generationTokensPerSecond = try row.value("generation_tps")
                result.loadMs = try row.value("load_ms")
                result.peakRSSBytes = try row.value("peak_rss_bytes")
                let runIDs: String = try row.value("run_ids")
                result.runIDs = (try? JSONDecoder().decode([String].self, from: Data(runIDs.utf8))) ?? result.runIDs
                return BenchRecord(benchID: try row.value("bench_id"), createdAt: try row.value("created_at"), result: result)
            }
        }
    }
}
