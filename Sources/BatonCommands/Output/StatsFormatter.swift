import BatonEngine
import BatonSpec
import Foundation

/// `baton stats` output: a table, or JSON.
enum StatsFormatter {
    /// The table, one row per (model, role), and a note on how the figures were measured.
    static func text(_ report: StatsReport, query: StatsQuery) -> String {
        guard !report.rows.isEmpty else { return "" }
        let header = [
            "model", "role", "runs", "calls", "failed", "fallbacks", "prompt tok", "output tok", "gen tok/s", "prompt tok/s",
            "ttft ms", "loads", "load s", "peak memory",
        ]
        let table = report.rows.map { row -> [String] in
            [
                row.model, row.role ?? "-", String(row.runs), String(row.calls), String(row.failures), String(row.fallbacks),
                String(row.promptTokens), String(row.outputTokens),
                row.generationTokensPerSecond.map { number($0) + (row.generationRateFromWallTime ? "*" : "") } ?? "-",
                row.promptTokensPerSecond.map(number) ?? "-", row.medianTimeToFirstTokenMs.map { String(format: "%.0f", $0) } ?? "-",
                String(row.loads), row.meanLoadSeconds.map { String(format: "%.2f", $0) } ?? "-",
                row.peakMemoryBytes.map { ByteCount(bytes: $0).description } ?? "-",
            ]
        }
        // Numbers align right, names left.
        let numeric = Set(2..<header.count)
        let widths = header.indices.map { column in ([header] + table).map { $0[column].count }.max() ?? 0 }
        var lines: [String] = []
        for cells in [header] + table {
            let padded = cells.enumerated().map { index, cell in
                let pad = String(repeating: " ", count: widths[index] - cell.count)
                return numeric.contains(index) ? pad + cell : cell + pad
            }
            lines.append(padded.joined(separator: "  "))
        }
        lines.append("")
        var notes = ["\(report.runs) run\(report.runs == 1 ? "" : "s")"]
        if let profile = query.profile { notes.append("profile \(profile)") }
        if let since = query.since { notes.append("since \(JSONTime.string(since))") }
        if !query.includeEcho { notes.append("echo runtime left out (--include-echo counts it)") }
        lines.append(notes.joined(separator: ", "))
        if report.rows.contains(where: \.generationRateFromWallTime) {
            lines.append("* from first token to finish: the runtime gave no timings of its own")
        }
        return lines.joined(separator: "\n") + "\n"
    }

    private static func number(_ value: Double) -> String {
        String(format: value >= 100 ? "%.0f" : "%.1f", value)
    }

    /// A row of `baton stats --json`: every key always present, `null` when unknown.
    struct Row: Encodable {
        var model: String
        var role: OrNull<String>
        var runs, calls, failures, fallbacks, loads, promptTokens, outputTokens: Int
        var generationTokensPerSecond: OrNull<Double>
        var generationRateSource: OrNull<String>
        var promptTokensPerSecond: OrNull<Double>
        var medianTimeToFirstTokenMs: OrNull<Double>
        var meanLoadSeconds: OrNull<Double>
        var peakMemoryBytes: OrNull<Int64>

        init(_ row: ModelRoleStats) {
            model = row.model
            role = OrNull(row.role)
            runs = row.runs
            calls = row.calls
            failures = row.failures
            fallbacks = row.fallbacks
            loads = row.loads
            promptTokens = row.promptTokens
            outputTokens = row.outputTokens
            generationTokensPerSecond = OrNull(row.generationTokensPerSecond)
            generationRateSource = OrNull(row.generationTokensPerSecond == nil ? nil : row.generationRateFromWallTime ? "wall" : "runtime")
            promptTokensPerSecond = OrNull(row.promptTokensPerSecond)
            medianTimeToFirstTokenMs = OrNull(row.medianTimeToFirstTokenMs)
            meanLoadSeconds = OrNull(row.meanLoadSeconds)
            peakMemoryBytes = OrNull(row.peakMemoryBytes)
        }

        enum CodingKeys: String, CodingKey {
            case model, role, runs, calls, failures, fallbacks, loads
            case promptTokens = "prompt_tokens"
            case outputTokens = "output_tokens"
            case generationTokensPerSecond = "generation_tokens_per_second"
            case generationRateSource = "generation_rate_source"
            case promptTokensPerSecond = "prompt_tokens_per_second"
            case medianTimeToFirstTokenMs = "median_ttft_ms"
            case meanLoadSeconds = "mean_load_seconds"
            case peakMemoryBytes = "peak_memory_bytes"
        }
    }

    /// The document `baton stats --json` prints.
    struct Document: Encodable {
        var formatVersion = JSONTime.formatVersion
        var profile: OrNull<String>
        var since: OrNull<String>
        var includeEcho: Bool
        var runs: Int
        var rows: [Row]

        enum CodingKeys: String, CodingKey {
            case profile, since, runs, rows
            case formatVersion = "format_version"
            case includeEcho = "include_echo"
        }
    }

    static func json(_ report: StatsReport, query: StatsQuery) throws -> String {
        try JSONOutput.text(
            Document(
                profile: OrNull(query.profile), since: OrNull(query.since.map(JSONTime.string)), includeEcho: query.includeEcho,
                runs: report.runs, rows: report.rows.map(Row.init)))
    }
}
