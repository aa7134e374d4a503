/// The text of one file handed to the spec layer, with the path used in diagnostics.
///
/// The spec layer never reads files itself: callers read them and pass `SourceFile` values in.
public struct SourceFile: Sendable, Hashable {
    /// The path as it should appear in diagnostics (relative to the working directory when possible).
    public let path: String
    /// The whole text of the file.
    public let text: String
    /// Where each line starts and ends (without its break), computed once.
    private let lineRanges: [Range<String.UnicodeScalarView.Index>]

    /// Creates a source file from its path and text.
    public init(path: String, text: String) {
        self.path = path
        self.text = text
        self.lineRanges = Self.lineRanges(of: text)
    }

    /// Lines split where YAML breaks them: LF, CRLF, CR, NEL, LS and PS (libyaml counts all of these, so
    /// its line numbers only match a split that does too).
    private static func lineRanges(of text: String) -> [Range<String.UnicodeScalarView.Index>] {
        let scalars = text.unicodeScalars
        var ranges: [Range<String.UnicodeScalarView.Index>] = []
        var start = scalars.startIndex
        var index = scalars.startIndex
        while index < scalars.endIndex {
            let scalar = scalars[index]
            switch scalar {
            case "\n", "\r", "\u{85}", "\u{2028}", "\u{2029}":
                ranges.append(start..<index)
                var next = scalars.index(after: index)
                if scalar == "\r", next < scalars.endIndex, scalars[next] == "\n" {
                    next = scalars.index(after: next)
                }
                start = next
                index = next
            default:
                index = scalars.index(after: index)
            }
        }
        ranges.append(start..<scalars.endIndex)
        return ranges
    }

    /// The number of lines (a final line break starts an empty last line).
    public var lineCount: Int { lineRanges.count }

    /// The 1-based line `line` without its line break, or nil past the end.
    public func line(_ line: Int) -> String? {
        guard line >= 1, line <= lineRanges.count else { return nil }
        return String(text.unicodeScalars[lineRanges[line - 1]])
    }

    /// The file name without directories and without a `.yaml` / `.yml` extension.
    public var stem: String {
        var name = path.split(separator: "/").last.map(String.init) ?? path
        for ext in [".yaml", ".yml"] where name.hasSuffix(ext) {
            name.removeLast(ext.count)
        }
        return name
    }

    public static func == (lhs: SourceFile, rhs: SourceFile) -> Bool {
        lhs.path == rhs.path && lhs.text == rhs.text
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(path)
        hasher.combine(text)
    }
}
