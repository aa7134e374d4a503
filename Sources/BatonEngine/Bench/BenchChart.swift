import Foundation

/// The bench as a picture of speed against quality: an SVG scatter plot, generation tokens per second across,
/// pass rate (or the judge's mean score, when every row has one) up, one colour per role, each point labelled with its
/// model. The text depends only on the results (fixed sizes, palette and number formats; no fonts to fetch), so the
/// same bench draws the same file.
public enum BenchChart {
    /// The colours of the roles, in the order the roles first appear.
    static let palette = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf"]

    static let width = 760.0
    static let height = 460.0
    static let left = 70.0
    static let right = 190.0
    static let top = 50.0
    static let bottom = 60.0

    /// The SVG document for `results` (every row is a point; a row without a speed sits at 0 and says so).
    public static func svg(_ results: [BenchResult], title: String = "baton bench") -> String {
        let useJudge = !results.isEmpty && results.allSatisfy { $0.judgeScore != nil }
        let yName = useJudge ? "judge score (mean)" : "pass rate"
        let maxSpeed = results.compactMap(\.generationTokensPerSecond).max() ?? 0
        let xTicks = niceTicks(upTo: maxSpeed)
        let xMax = xTicks.last ?? 1
        let plotWidth = width - left - right
        let plotHeight = height - top - bottom
        func x(_ value: Double) -> Double { left + value / xMax * plotWidth }
        func y(_ value: Double) -> Double { top + (1 - min(max(value, 0), 1)) * plotHeight }

        var roles: [String] = []
        for result in results where !roles.contains(result.role) { roles.append(result.role) }
        func colour(_ role: String) -> String { palette[(roles.firstIndex(of: role) ?? 0) % palette.count] }

        var lines: [String] = [
            ##"<?xml version="1.0" encoding="UTF-8"?>"##,
            ##"<svg xmlns="http://www.w3.org/2000/svg" width="\##(n(width))" height="\##(n(height))" viewBox="0 0 \##(n(width)) \##(n(height))" font-family="sans-serif" font-size="12">"##,
            ##"<rect x="0" y="0" width="\##(n(width))" height="\##(n(height))" fill="#ffffff"/>"##,
            ##"<text x="\##(n(left))" y="24" font-size="15" font-weight="bold">\##(escape(title))</text>"##,
            ##"<text x="\##(n(left))" y="40" fill="#555555">generation tokens/s against \##(yName), per role and model</text>"##,
        ]
        // Grid and ticks.
        lines.append(##"<g stroke="#dddddd" stroke-width="1">"##)
        for tick in xTicks {
            lines.append(##"<line x1="\##(n(x(tick)))" y1="\##(n(top))" x2="\##(n(x(tick)))" y2="\##(n(top + plotHeight))"/>"##)
        }
        for tick in stride(from: 0.0, through: 1.0, by: 0.25) {
            lines.append(##"<line x1="\##(n(left))" y1="\##(n(y(tick)))" x2="\##(n(left + plotWidth))" y2="\##(n(y(tick)))"/>"##)
        }
        lines.append("</g>")
        lines.append(##"<g stroke="#333333" stroke-width="1.5">"##)
        lines.append(
            ##"<line x1="\##(n(left))" y1="\##(n(top + plotHeight))" x2="\##(n(left + plotWidth))" y2="\##(n(top + plotHeight))"/>"##)
        lines.append(##"<line x1="\##(n(left))" y1="\##(n(top))" x2="\##(n(left))" y2="\##(n(top + plotHeight))"/>"##)
        lines.append("</g>")
        lines.append(##"<g fill="#333333">"##)
        for tick in xTicks {
            lines.append(##"<text x="\##(n(x(tick)))" y="\##(n(top + plotHeight + 18))" text-anchor="middle">\##(label(tick))</text>"##)
        }
        for tick in stride(from: 0.0, through: 1.0, by: 0.25) {
            lines.append(##"<text x="\##(n(left - 8))" y="\##(n(y(tick) + 4))" text-anchor="end">\##(label(tick))</text>"##)
        }
        lines.append(
            ##"<text x="\##(n(left + plotWidth / 2))" y="\##(n(height - 16))" text-anchor="middle">generation tokens per second</text>"##)
        lines.append(
            ##"<text x="18" y="\##(n(top + plotHeight / 2))" text-anchor="middle" transform="rotate(-90 18 \##(n(top + plotHeight / 2)))">\##(yName)</text>"##
        )
        lines.append("</g>")
        // Points, each label at the first place beside its point that no earlier label covers.
        var placed: [(x: Double, y: Double, width: Double)] = []
        lines.append(##"<g class="points">"##)
        for result in results {
            let px = x(result.generationTokensPerSecond ?? 0)
            let py = y((useJudge ? result.judgeScore : result.passRate) ?? 0)
            var text = result.model
            if result.generationTokensPerSecond == nil { text += " (no tok/s)" }
            let width = Double(text.count) * 7
            let offsets: [Double] = [-6, 14, -20, 28, -34, 42, -48, 56]
            let ly =
                offsets.map { py + $0 }.first { candidate in
                    !placed.contains { abs($0.y - candidate) < 13 && px + 8 < $0.x + $0.width && $0.x < px + 8 + width }
                } ?? py - 6
            placed.append((px + 8, ly, width))
            lines.append(
                ##"<circle class="point" cx="\##(n(px))" cy="\##(n(py))" r="5" fill="\##(colour(result.role))" data-role="\##(escape(result.role))" data-model="\##(escape(result.model))"/>"##
            )
            lines.append(##"<text x="\##(n(px + 8))" y="\##(n(ly))" fill="\##(colour(result.role))">\##(escape(text))</text>"##)
        }
        lines.append("</g>")
        // Legend.
        lines.append(##"<g class="legend">"##)
        for (index, role) in roles.enumerated() {
            let ly = top + 10 + Double(index) * 20
            lines.append(##"<circle cx="\##(n(width - right + 24))" cy="\##(n(ly))" r="5" fill="\##(colour(role))"/>"##)
            lines.append(##"<text x="\##(n(width - right + 36))" y="\##(n(ly + 4))">\##(escape(role))</text>"##)
        }
        lines.append("</g>")
        lines.append("</svg>")
        return lines.joined(separator: "\n") + "\n"
    }

    /// Ticks from 0 to a round number at or above `maximum` (steps of 1, 2 or 5 times a power of ten, 4 to 8 of them).
    static func niceTicks(upTo maximum: Double) -> [Double] {
        guard maximum > 0, maximum.isFinite else { return [0, 0.25, 0.5, 0.75, 1] }
        let rough = maximum / 5
        let power = pow(10, floor(log10(rough)))
        let step = [1.0, 2, 5, 10].map { $0 * power }.first { $0 >= rough } ?? 10 * power
        let count = Int((maximum / step).rounded(.up))
        return (0...max(count, 1)).map { Double($0) * step }
    }

    /// A coordinate with at most one decimal (stable text).
    static func n(_ value: Double) -> String {
        let rounded = (value * 10).rounded() / 10
        return rounded == rounded.rounded() ? String(Int(rounded)) : String(format: "%.1f", rounded)
    }

    /// A tick label: whole numbers plain, others with up to two decimals.
    static func label(_ value: Double) -> String {
        if value == value.rounded() { return String(Int(value)) }
        var text = String(format: "%.2f", value)
        while text.hasSuffix("0") { text.removeLast() }
        return text
    }

    /// `text` escaped for XML, with control characters (which XML 1.0 cannot hold) dropped.
    static func escape(_ text: String) -> String {
        var out = ""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&apos;"
            case _ where scalar.value < 0x20 && scalar != "\t" && scalar != "\n" && scalar != "\r": continue
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out
    }
}
