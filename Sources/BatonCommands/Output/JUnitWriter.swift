import BatonEngine
import Foundation

/// `baton test --junit FILE`: the report as JUnit XML, the shape CI tools render.
///
/// One `<testsuite name="FILE [VARIANT]">` per test file and variant (in the order they ran), one
/// `<testcase classname="PIPELINE" name="CASE [VARIANT]">` per case; a failed case has `<failure type="assertion">`, an
/// errored one `<error type="error">` (a runtime down is not a failure), a skipped one `<skipped>`; tokens, speeds, run
/// ids and the pass rate go in `<system-out>`. The counts are the cases', so they equal the console's last line.
enum JUnitWriter {
    /// The XML document for `report`.
    static func xml(_ report: TestReport) -> String {
        var groups: [(key: String, cases: [TestCaseResult])] = []
        for result in report.cases {
            let key = "\(result.file) [\(result.variant)]"
            if let index = groups.firstIndex(where: { $0.key == key }) {
                groups[index].cases.append(result)
            } else {
                groups.append((key, [result]))
            }
        }
        var lines = [
            #"<?xml version="1.0" encoding="UTF-8"?>"#,
            "<testsuites name=\"baton test\"\(counts(report.cases)) time=\"\(time(report.seconds))\">",
        ]
        for group in groups {
            let seconds = group.cases.reduce(0) { $0 + caseSeconds($1) }
            lines.append("  <testsuite name=\"\(attribute(group.key))\"\(counts(group.cases)) time=\"\(time(seconds))\">")
            for result in group.cases { lines += testcase(result) }
            lines.append("  </testsuite>")
        }
        lines.append("</testsuites>")
        return lines.joined(separator: "\n") + "\n"
    }

    /// ` tests="N" failures="N" errors="N" skipped="N"` over `cases`.
    private static func counts(_ cases: [TestCaseResult]) -> String {
        let failures = cases.count { $0.status == .failed }
        let errors = cases.count { $0.status == .error }
        let skipped = cases.count { $0.status == .skipped }
        return " tests=\"\(cases.count)\" failures=\"\(failures)\" errors=\"\(errors)\" skipped=\"\(skipped)\""
    }

    private static func caseSeconds(_ result: TestCaseResult) -> Double {
        result.repetitions.reduce(0) { $0 + $1.seconds }
    }

    private static func time(_ seconds: Double) -> String { String(format: "%.3f", seconds) }

    private static func testcase(_ result: TestCaseResult) -> [String] {
        let open =
            "    <testcase classname=\"\(attribute(result.pipeline))\" name=\"\(attribute("\(result.name) [\(result.variant)]"))\" time=\"\(time(caseSeconds(result)))\""
        var body: [String] = []
        switch result.status {
        case .passed:
            break
        case .skipped:
            let reason = result.skipReason ?? TestReportFormatter.skippedAssertions(result).first?.message ?? "skipped"
            body.append("      <skipped message=\"\(attribute(reason))\"/>")
        case .failed:
            let first = result.repetitions.flatMap(\.assertions).first { $0.status == .failed }
            let message = first.map(TestReportFormatter.describe) ?? "the case failed"
            body.append("      <failure message=\"\(attribute(message))\" type=\"assertion\">\(text(details(result)))</failure>")
        case .error:
            let first = result.repetitions.first { $0.status == .error }
            let message =
                first?.error ?? first?.assertions.first { $0.status == .error }.map(TestReportFormatter.describe)
                ?? "the case could not be judged"
            body.append("      <error message=\"\(attribute(message))\" type=\"error\">\(text(details(result)))</error>")
        }
        body.append("      <system-out>\(text(systemOut(result)))</system-out>")
        return [open + ">"] + body + ["    </testcase>"]
    }

    /// The console's details of the case (failed and errored repetitions with their assertions and diffs), unindented.
    private static func details(_ result: TestCaseResult) -> String {
        TestReportFormatter.caseBlock(result).dropFirst().map { $0.hasPrefix("    ") ? String($0.dropFirst(4)) : $0 }
            .joined(separator: "\n")
    }

    /// Pass rate, then per repetition: status, run id, time, tokens, speed, time to first token; then skipped assertions.
    static func systemOut(_ result: TestCaseResult) -> String {
        let passes = result.repetitions.count { $0.status == .passed }
        var lines: [String] = []
        if result.status == .skipped, result.repetitions.isEmpty {
            lines.append("skipped: \(result.skipReason ?? "")")
        } else {
            let percent = result.repetitions.isEmpty ? 0 : Int((result.passRate * 100).rounded())
            lines.append("pass rate: \(passes)/\(result.repetitions.count) (\(percent)%)")
        }
        for (index, repetition) in result.repetitions.enumerated() {
            var parts = ["repetition \(index + 1): \(repetition.status.rawValue)"]
            if let run = repetition.runID { parts.append("run \(run)") }
            parts.append(String(format: "%.3f s", repetition.seconds))
            parts.append("tokens \(repetition.promptTokens) prompt, \(repetition.outputTokens) output")
            if let rate = repetition.generationTokensPerSecond { parts.append(String(format: "%.1f tok/s", rate)) }
            if let ttft = repetition.timeToFirstTokenMs { parts.append(String(format: "first token %.0f ms", ttft)) }
            lines.append(parts.joined(separator: ", "))
        }
        lines += TestReportFormatter.skippedAssertions(result).map { "skipped: " + TestReportFormatter.describe($0) }
        return lines.joined(separator: "\n")
    }

    // MARK: - Escaping

    /// `value` for a double-quoted attribute: markup characters as entities, line breaks and tabs as character
    /// references (so a parser keeps them), characters XML 1.0 forbids made visible.
    static func attribute(_ value: String) -> String {
        escaped(value, entities: ["&": "&amp;", "<": "&lt;", ">": "&gt;", "\"": "&quot;", "\n": "&#10;", "\r": "&#13;", "\t": "&#9;"])
    }

    /// `value` as element text: markup characters as entities, forbidden characters made visible.
    static func text(_ value: String) -> String {
        escaped(value, entities: ["&": "&amp;", "<": "&lt;", ">": "&gt;"])
    }

    /// `value` with each scalar in `entities` replaced (scalar by scalar: a CR LF pair is two), after ``allowed(_:)``.
    private static func escaped(_ value: String, entities: [Unicode.Scalar: String]) -> String {
        var result = String.UnicodeScalarView()
        for scalar in allowed(value).unicodeScalars {
            if let entity = entities[scalar] { result.append(contentsOf: entity.unicodeScalars) } else { result.append(scalar) }
        }
        return String(result)
    }

    /// `value` with every scalar XML 1.0 does not allow (C0 controls but tab, line feed and carriage return; U+FFFE,
    /// U+FFFF) shown as `^X` or `\u{FFFE}`, as a terminal shows them; C1 controls are allowed but shown too.
    private static func allowed(_ value: String) -> String {
        var scalars = String.UnicodeScalarView()
        for scalar in value.unicodeScalars {
            switch scalar.value {
            case 0x09, 0x0A, 0x0D: scalars.append(scalar)
            case 0x00...0x1F: scalars.append(contentsOf: "^\(Character(Unicode.Scalar(UInt8(scalar.value + 0x40))))".unicodeScalars)
            case 0x7F: scalars.append(contentsOf: "^?".unicodeScalars)
            case 0x80...0x9F, 0xFFFE, 0xFFFF:
                scalars.append(contentsOf: "\\u{\(String(scalar.value, radix: 16, uppercase: true))}".unicodeScalars)
            default: scalars.append(scalar)
            }
        }
        return String(scalars)
    }
}
