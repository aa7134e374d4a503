import Foundation

/// A unified diff of two texts by lines (longest common subsequence), with three lines of context, as `diff -u`
/// prints it: what `baton bench --write-profile` shows before it writes.
public enum ProfileDiff {
    /// The diff of `old` and `new` under the names `oldName` and `newName`; empty when they are equal.
    public static func unified(old: String, new: String, oldName: String, newName: String, context: Int = 3) -> String {
        guard old != new else { return "" }
        let a = lines(old)
        let b = lines(new)
        let edits = script(a, b)
        // Hunks: each change with up to `context` equal lines either side, merged where they touch.
        var ranges: [ClosedRange<Int>] = []
        for (index, edit) in edits.enumerated() where edit.kind != " " {
            let range = max(0, index - context)...min(edits.count - 1, index + context)
            if let last = ranges.last, range.lowerBound <= last.upperBound + 1 {
                ranges[ranges.count - 1] = last.lowerBound...max(last.upperBound, range.upperBound)
            } else {
                ranges.append(range)
            }
        }
        var out = "--- \(oldName)\n+++ \(newName)\n"
        for range in ranges {
            let hunk = edits[range]
            let oldCount = hunk.filter { $0.kind != "+" }.count
            let newCount = hunk.filter { $0.kind != "-" }.count
            // An empty side starts at the line before the hunk, as diff -u writes it.
            let oldStart = hunk.first { $0.kind != "+" }?.oldLine ?? hunk[range.lowerBound].oldLine
            let newStart = hunk.first { $0.kind != "-" }?.newLine ?? hunk[range.lowerBound].newLine
            out += "@@ -\(span(oldStart, oldCount)) +\(span(newStart, newCount)) @@\n"
            for line in hunk { out += "\(line.kind)\(line.text)\n" }
        }
        return out
    }

    private static func span(_ start: Int, _ count: Int) -> String {
        count == 1 ? "\(start)" : "\(start),\(count)"
    }

    private static func lines(_ text: String) -> [String] {
        var split = text.components(separatedBy: "\n")
        if text.hasSuffix("\n") { split.removeLast() }
        return split
    }

    /// The edit script: every line of `a` and `b` as equal (` `), removed (`-`) or added (`+`), with 1-based line numbers
    /// (for an added line, `oldLine` is the old line it follows; for a removed one, `newLine` likewise).
    private static func script(_ a: [String], _ b: [String]) -> [(kind: Character, text: String, oldLine: Int, newLine: Int)] {
        let n = a.count
        let m = b.count
        var table = Array(repeating: Array(repeating: 0, count: m + 1), count: n + 1)
        for i in stride(from: n - 1, through: 0, by: -1) {
            for j in stride(from: m - 1, through: 0, by: -1) {
                table[i][j] = a[i] == b[j] ? table[i + 1][j + 1] + 1 : max(table[i + 1][j], table[i][j + 1])
            }
        }
        var result: [(kind: Character, text: String, oldLine: Int, newLine: Int)] = []
        var i = 0
        var j = 0
        while i < n || j < m {
            if i < n, j < m, a[i] == b[j] {
                result.append((" ", a[i], i + 1, j + 1))
                i += 1
                j += 1
            } else if i < n, j == m || table[i + 1][j] >= table[i][j + 1] {
                result.append(("-", a[i], i + 1, j))
                i += 1
            } else {
                result.append(("+", b[j], i, j + 1))
                j += 1
            }
        }
        return result
    }
}
