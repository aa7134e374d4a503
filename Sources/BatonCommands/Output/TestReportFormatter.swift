import BatonEngine
import Foundation

/// `baton test`'s console report: one line per case as it finishes, what went wrong under each failure or error, and
/// the counts as the last line.
enum TestReportFormatter {
    /// `PASS`, `FAIL`, `ERROR` or `SKIP`, padded so the file names line up.
    static func label(_ status: TestStatus) -> String {
        let word =
            switch status {
            case .passed: "PASS"
            case .failed: "FAIL"
            case .error: "ERROR"
            case .skipped: "SKIP"
            }
        return word.padding(toLength: 5, withPad: " ", startingAt: 0)
    }

    /// `PASS   FILE › CASE [VARIANT]  (2/3 passed, 1.2 s)`; a skipped case gives its reason instead.
    static func caseLine(_ result: TestCaseResult) -> String {
        let head = "\(label(result.status))  \(result.file) › \(result.name) [\(result.variant)]"
        if result.status == .skipped {
            return head + "  (\(result.skipReason ?? "skipped"))"
        }
        let passes = result.repetitions.count { $0.status == .passed }
        let seconds = result.repetitions.reduce(0) { $0 + $1.seconds }
        return head + "  (\(passes)/\(result.repetitions.count) passed, \(ProgressPrinter.duration(seconds)))"
    }

    /// The case's line and, below it (indented), every repetition that did not pass with its run, error and failed
    /// assertions (location, name, stage, message, diff), then assertions skipped (a `judge` on the echo runtime).
    static func caseBlock(_ result: TestCaseResult) -> [String] {
        var lines = [caseLine(result)]
        let total = result.repetitions.count
        for (index, repetition) in result.repetitions.enumerated() where repetition.status != .passed && repetition.status != .skipped {
            var head: [String] = []
            if total > 1 { head.append("repetition \(index + 1)/\(total)") }
            if let run = repetition.runID { head.append("run \(run)") }
            if !head.isEmpty { lines.append("    " + head.joined(separator: ", ")) }
            if let error = repetition.error { lines.append("    error: \(error)") }
            for assertion in repetition.assertions where assertion.status == .failed || assertion.status == .error {
                lines += assertionLines(assertion)
            }
        }
        // A skipped case's line already gives the reason.
        if result.status != .skipped { lines += skippedAssertions(result).map { "    skipped: \(describe($0))" } }
        return lines
    }

    /// `FILE:LINE:COL: NAME [STAGE]: MESSAGE` (with `error:` before the name when it could not be evaluated), and the
    /// diff below it.
    static func assertionLines(_ assertion: AssertionResult) -> [String] {
        let location = assertion.location.map { "\($0): " } ?? ""
        let kind = assertion.status == .error ? "error: " : ""
        var lines = ["    \(location)\(kind)\(describe(assertion))"]
        if let diff = assertion.diff, !diff.isEmpty {
            var diffLines = diff.split(separator: "\n", omittingEmptySubsequences: false).map { $0.isEmpty ? "" : "        " + $0 }
            while diffLines.last == "" { diffLines.removeLast() }
            lines += diffLines
        }
        return lines
    }

    /// `NAME [STAGE]: MESSAGE`, with the score when there is one.
    static func describe(_ assertion: AssertionResult) -> String {
        let stage = assertion.stage.map { " [\($0)]" } ?? ""
        let score = assertion.score.map { String(format: " (score %.2f)", $0) } ?? ""
        return "\(assertion.name)\(stage): \(assertion.message)\(score)"
    }

    /// The assertions skipped in any repetition, each once, in order.
    static func skippedAssertions(_ result: TestCaseResult) -> [AssertionResult] {
        var seen = Set<String>()
        return result.repetitions.flatMap(\.assertions).filter { assertion in
            assertion.status == .skipped && seen.insert(describe(assertion)).inserted
        }
    }

    /// `N passed, N failed, N errors, N skipped`: always all four, in this order.
    static func summaryLine(_ report: TestReport) -> String {
        "\(report.passed) passed, \(report.failed) failed, \(report.errors) errors, \(report.skipped) skipped"
    }

    /// Every case's block and the summary line, as printed when nothing was streamed.
    static func text(_ report: TestReport) -> String {
        (report.cases.flatMap(caseBlock) + [summaryLine(report)]).joined(separator: "\n") + "\n"
    }
}
