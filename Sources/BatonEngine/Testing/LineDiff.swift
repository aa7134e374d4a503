/// A unified diff of two texts by lines (longest common subsequence), for test failures: deterministic, three lines of
/// context, `--- expected` / `+++ actual` headers.
public enum LineDiff {
    /// The unified diff turning `expected` into `actual`; nil when they are equal.
    public static func unified(
        expected: String, actual: String, expectedName: String = "expected", actualName: String = "actual", context: Int = 3
    )
        -> String?
    {
        guard expected != actual else { return nil }
        let old = lines(expected)
        let new = lines(actual)
        let edits = script(old, new)
        var out = ["--- \(expectedName)", "+++ \(actualName)"]
        // Hunks: each change with `context` unchanged lines around it, merged when they touch.
        var hunks: [Range<Int>] = []
        for change in edits.indices where edits[change].kind != .same {
            let around = max(0, change - context)..<min(edits.count, change + context + 1)
            if let last = hunks.last, around.lowerBound <= last.upperBound {
                hunks[hunks.count - 1] = last.lowerBound..<around.upperBound
            } else {
                hunks.append(around)
            }
        }
        for bounds in hunks {
            let hunk = edits[bounds]
            let oldStart = hunk.first?.oldLine ?? 1
            let newStart = hunk.first?.newLine ?? 1
            let oldCount = hunk.count { $0.kind != .insert }
            let newCount = hunk.count { $0.kind != .delete }
            out.append("@@ -\(range(oldStart, oldCount)) +\(range(newStart, newCount)) @@")
            for edit in hunk {
                switch edit.kind {
                case .same: out.append(" " + edit.text)
                case .delete: out.append("-" + edit.text)
                case .insert: out.append("+" + edit.text)
                }
            }
        }
        if !expected.hasSuffix("\n") || !actual.hasSuffix("\n"), expected.trimmingTrailingNewlines == actual.trimmingTrailingNewlines {
            out.append("(the texts differ only in their final line breaks)")
        }
        return out.joined(separator: "\n")
    }

    private enum Kind { case same, delete, insert }

    private struct Edit {
        var kind: Kind
        var text: String
        /// 1-based line numbers in each text where this edit sits (the next line for an insert or delete).
        var oldLine: Int
        var newLine: Int
    }

    private static func lines(_ text: String) -> [String] {
        guard !text.isEmpty else { return [] }
        var parts = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        if text.hasSuffix("\n") { parts.removeLast() }
        return parts
    }

    private static func range(_ start: Int, _ count: Int) -> String {
        count == 1 ? "\(start)" : "\(count == 0 ? max(start - 1, 0) : start),\(count)"
    }

    /// The edit script by dynamic programming over the common subsequence; beyond 4 million cells (two texts of
    /// thousands of lines) the common prefix and suffix are kept and the middle is replaced whole.
    private static func script(_ old: [String], _ new: [String]) -> [Edit] {
        var prefix = 0
        while prefix < old.count, prefix < new.count, old[prefix] == new[prefix] { prefix += 1 }
        var suffix = 0
        while suffix < old.count - prefix, suffix < new.count - prefix, old[old.count - 1 - suffix] == new[new.count - 1 - suffix] {
            suffix += 1
        }
        let a = Array(old[prefix..<(old.count - suffix)])
        let b = Array(new[prefix..<(new.count - suffix)])
        var middle: [(Kind, String)] = []
        if a.count * b.count > 4_000_000 {
            middle = a.map { (.delete, $0) } + b.map { (.insert, $0) }
        } else {
            // lcs[i][j]: the common subsequence's length of a[i...] and b[j...].
            var lcs = Array(repeating: Array(repeating: 0, count: b.count + 1), count: a.count + 1)
            for i in stride(from: a.count - 1, through: 0, by: -1) {
                for j in stride(from: b.count - 1, through: 0, by: -1) {
                    lcs[i][j] = a[i] == b[j] ? lcs[i + 1][j + 1] + 1 : max(lcs[i + 1][j], lcs[i][j + 1])
                }
            }
            var i = 0
            var j = 0
            while i < a.count || j < b.count {
                if i < a.count, j < b.count, a[i] == b[j] {
                    middle.append((.same, a[i]))
                    i += 1
                    j += 1
                } else if j < b.count, i == a.count || lcs[i][j + 1] > lcs[i + 1][j] {
                    middle.append((.insert, b[j]))
                    j += 1
                } else {
                    middle.append((.delete, a[i]))
                    i += 1
                }
            }
        }
        let all = old[..<prefix].map { (Kind.same, $0) } + middle + old[(old.count - suffix)...].map { (Kind.same, $0) }
        var edits: [Edit] = []
        var oldLine = 1
        var newLine = 1
        for (kind, text) in all {
            edits.append(Edit(kind: kind, text: text, oldLine: oldLine, newLine: newLine))
            if kind != .insert { oldLine += 1 }
            if kind != .delete { newLine += 1 }
        }
        return edits
    }
}

extension String {
    fileprivate var trimmingTrailingNewlines: Substring {
        var text = self[...]
        while text.hasSuffix("\n") { text = text.dropLast() }
        return text
    }
}
