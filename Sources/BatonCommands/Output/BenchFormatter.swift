import BatonEngine
import Foundation

/// `baton bench`'s table: one row per role and candidate, then what the marks mean and why candidates errored.
enum BenchFormatter {
    static let headers = [
        "ROLE", "MODEL", "RUNTIME", "CASES", "PASS RATE", "JUDGE", "TTFT MS", "PROMPT TOK/S", "GEN TOK/S", "LOAD MS", "PEAK MIB",
    ]
    /// Columns aligned right (the numbers).
    static let numeric: Set<Int> = [3, 4, 5, 6, 7, 8, 9, 10]

    /// The table and its notes, as lines.
    static func lines(_ report: BenchReport) -> [String] {
        let rows = report.results.map(row)
        var widths = headers.map(\.count)
        for row in rows {
            for (index, cell) in row.enumerated() { widths[index] = max(widths[index], cell.count) }
        }
        func render(_ cells: [String]) -> String {
            cells.enumerated().map { index, cell in
                let pad = String(repeating: " ", count: widths[index] - cell.count)
                return numeric.contains(index) ? pad + cell : cell + pad
            }.joined(separator: "  ").replacingOccurrences(of: "\\s+$", with: "", options: .regularExpression)
        }
        var lines = [render(headers)] + rows.map(render)
        lines += notes(report.results)
        for result in report.results where !result.problems.isEmpty {
            let count = "\(result.errors) of \(result.repetitions) run\(result.repetitions == 1 ? "" : "s")"
            lines.append("\(result.role) \(result.model): \(count) errored: \(result.problems.joined(separator: "; "))")
        }
        return lines
    }

    /// One row's cells.
    static func row(_ result: BenchResult) -> [String] {
        let wall = result.speedSource == .wall ? "*" : ""
        return [
            result.role, result.model, result.runtime ?? "-", String(result.cases),
            result.passRate.map { percent($0) } ?? "-",
            result.judgeScore.map { String(format: "%.2f", $0) } ?? "-",
            result.ttftMs.map { String(format: "%.0f", $0) } ?? "-",
            result.promptTokensPerSecond.map { String(format: "%.1f", $0) + wall } ?? "-",
            result.generationTokensPerSecond.map { String(format: "%.1f", $0) + wall } ?? "-",
            result.loadMs.map { String(format: "%.0f", $0) } ?? "-",
            result.peakRSSBytes.map { bytes in
                String(format: "%.0f", Double(bytes) / 1_048_576) + (result.memorySource == .footprint ? " (footprint)" : " (VmHWM)")
            } ?? "-",
        ]
    }

    /// What the figures' marks mean, only for the marks the table uses.
    static func notes(_ results: [BenchResult]) -> [String] {
        var notes: [String] = []
        if results.contains(where: { $0.speedSource == .runtime }) {
            notes.append("tok/s: sum of tokens over the runtime's own prompt and generation times, over the role's attempts")
        }
        if results.contains(where: { $0.speedSource == .wall }) {
            notes.append("* from wall times (start, first token, finish): the runtime reported no timings")
        }
        if results.contains(where: { $0.memorySource == .vmHWM }) {
            notes.append("VmHWM: peak resident memory of the llama-server process serving the model on this host (/proc)")
        }
        if results.contains(where: { $0.memorySource == .footprint }) {
            notes.append("footprint: the memory the runtime reported for the loaded model")
        }
        return notes
    }

    /// `0.5` as `50%`.
    static func percent(_ value: Double) -> String {
        String(format: "%.0f%%", value * 100)
    }

    /// The closing line: the bench id and the winners.
    static func summary(_ report: BenchReport, winners: [(role: String, model: String)]) -> String {
        let chosen = winners.map { "\($0.role)=\($0.model)" }.joined(separator: " ")
        return "bench \(report.benchID): \(report.results.count) candidate\(report.results.count == 1 ? "" : "s") measured"
            + (chosen.isEmpty ? "" : "; best: \(chosen)")
    }
}
