/// The text of one file handed to the spec layer, with the path used in diagnostics.
///
/// The spec layer never reads files itself: callers read them and pass `SourceFile` values in.
public struct SourceFile: Sendable, Hashable {
    /// The path as it should appear in diagnostics (relative to the working directory when possible).
    public var path: String
    /// The whole text of the file.
    public var text: String

    /// Creates a source file from its path and text.
    public init(path: String, text: String) {
        self.path = path
        self.text = text
    }

    /// The 1-based line `line` without its line break, or nil past the end.
    public func line(_ line: Int) -> String? {
        guard line >= 1 else { return nil }
        var current = 1
        var start = text.startIndex
        while current < line {
            guard let newline = text[start...].firstIndex(where: { $0 == "\n" || $0 == "\r\n" }) else { return nil }
            start = text.index(after: newline)
            current += 1
        }
        let end = text[start...].firstIndex(where: { $0 == "\n" || $0 == "\r\n" }) ?? text.endIndex
        return String(text[start..<end])
    }

    /// The file name without directories and without a `.yaml` / `.yml` extension.
    public var stem: String {
        var name = path.split(separator: "/").last.map(String.init) ?? path
        for ext in [".yaml", ".yml"] where name.hasSuffix(ext) {
            name.removeLast(ext.count)
        }
        return name
    }
}
