import Yams

/// Maps a position inside a template (line and column relative to the template text) back to the
/// file it was written in, so template errors point at the YAML file's line and column.
public struct TemplatePlacement: Sendable, Hashable {
    enum Kind: Sendable, Hashable {
        /// A `|` block: template line N is file line `firstLine + N - 1`, shifted right by `indent`.
        case literalBlock(firstLine: Int, indent: Int)
        /// A scalar on one line: template column C is file column `column + C - 1`.
        case singleLine(line: Int, column: Int)
        /// A folded or multi-line flow scalar: positions are found by searching the file from `start`.
        case flowing(start: SourceLocation)
        /// A whole file (`prompt_file`): positions are the same.
        case wholeFile
    }

    let kind: Kind
    /// The file the template was written in.
    public let file: String

    /// The placement of a template that is the whole of `file`.
    public static func wholeFile(_ file: String) -> TemplatePlacement {
        TemplatePlacement(kind: .wholeFile, file: file)
    }

    init(kind: Kind, file: String) {
        self.kind = kind
        self.file = file
    }

    init(scalar: Node.Scalar, at location: SourceLocation, in source: SourceFile) {
        file = source.path
        switch scalar.style {
        case .literal:
            var indent = 0
            var line = location.line + 1
            while let text = source.line(line) {
                if !text.allSatisfy({ $0 == " " || $0 == "\t" }) {
                    indent = text.prefix { $0 == " " }.count
                    break
                }
                line += 1
            }
            kind = .literalBlock(firstLine: location.line + 1, indent: indent)
        case .plain, .any, .singleQuoted, .doubleQuoted:
            let quoted = scalar.style == .singleQuoted || scalar.style == .doubleQuoted
            let column = location.column + (quoted ? 1 : 0)
            // Columns map one to one only when the text is written as it reads: an escape ('' or \") shifts them.
            if !scalar.string.contains("\n"), let text = source.line(location.line),
                text.unicodeScalars.dropFirst(column - 1).starts(with: scalar.string.unicodeScalars)
            {
                kind = .singleLine(line: location.line, column: column)
            } else {
                kind = .flowing(start: location)
            }
        case .folded:
            kind = .flowing(start: location)
        }
    }

    /// The file location of template position (`line`, `column`), both 1-based.
    ///
    /// - Parameters:
    ///   - tagText: the text of the tag at that position, used to find it in flowing scalars.
    ///   - occurrence: which occurrence of `tagText` in the template this is (0 for the first).
    ///   - source: the file the template was written in.
    func location(line: Int, column: Int, tagText: String?, occurrence: Int, in source: SourceFile) -> SourceLocation {
        switch kind {
        case .wholeFile:
            return SourceLocation(file: file, line: line, column: column)
        case .literalBlock(let firstLine, let indent):
            return SourceLocation(file: file, line: firstLine + line - 1, column: indent + column)
        case .singleLine(let fileLine, let fileColumn):
            return SourceLocation(file: file, line: fileLine, column: fileColumn + column - 1)
        case .flowing(let start):
            guard let tagText, let found = Self.find(tagText, occurrence: occurrence, from: start, in: source) else {
                return start
            }
            return found
        }
    }

    private static func find(_ needle: String, occurrence: Int, from start: SourceLocation, in source: SourceFile)
        -> SourceLocation?
    {
        var seen = 0
        var lineNumber = start.line
        var firstColumn = start.column
        while let text = source.line(lineNumber) {
            let scalars = Array(text.unicodeScalars)
            let needleScalars = Array(needle.unicodeScalars)
            var index = max(firstColumn - 1, 0)
            while index + needleScalars.count <= scalars.count {
                if Array(scalars[index..<index + needleScalars.count]) == needleScalars {
                    if seen == occurrence {
                        return SourceLocation(file: source.path, line: lineNumber, column: index + 1)
                    }
                    seen += 1
                }
                index += 1
            }
            lineNumber += 1
            firstColumn = 1
            if lineNumber > start.line + 10_000 { break }
        }
        return nil
    }
}
