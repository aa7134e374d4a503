/// A piece of a source file.
///
/// `startLine` and `endLine` are the file's own 1-based line numbers (inclusive), so a citation
/// `path:line` opens the editor where `text` begins.
public struct Chunk: Sendable, Hashable {
    /// The file's path, relative to the index root.
    public var source: String
    /// The first line of `text` in the file, 1-based.
    public var startLine: Int
    /// The last line of `text` in the file, 1-based, inclusive.
    public var endLine: Int
    /// The chunk's text: the file's lines `startLine...endLine` (or part of one very long line).
    public var text: String

    /// Creates a chunk.
    public init(source: String, startLine: Int, endLine: Int, text: String) {
        self.source = source
        self.startLine = startLine
        self.endLine = endLine
        self.text = text
    }
}
