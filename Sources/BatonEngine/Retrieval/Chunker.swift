import BatonSpec
import Foundation

/// Splits a file's text into chunks (markdown headings and code-aware).
///
/// Every chunk is a run of the file's whole lines, trimmed of blank lines at either end, with the file's own
/// 1-based line numbers; only a single line longer than `size` is cut inside (each piece keeps that line's number).
/// Sizes count characters (for `lines`: lines). Overlap is made of whole lines taken from the end of the previous
/// chunk, as many as fit in `overlap` characters, so it never cuts a line and line numbers stay exact.
///
/// - `heading`: in markdown, sections start at ATX headings (`#` to `######`, outside fenced code); consecutive
///   sections are packed together while they fit, and a chunk starts at a section's heading whenever that section
///   fits in one chunk (no overlap across sections). A section too large is split like `paragraph`. Files that are
///   not markdown have no headings and are split like `paragraph`.
/// - `paragraph`: blocks separated by blank lines, packed up to `size` with overlap. A fenced code block is one
///   block (blank lines inside it do not split it) and a heading stays with the block after it. In source code
///   (by extension) a blank line separates blocks only between top-level declarations: outside braces and before a
///   line that is not indented, so a function is not cut at the blank lines inside it when it fits.
/// - `lines`: windows of `size` lines, each starting `overlap` lines before the previous one ended.
///
/// A block still larger than `size` is split by lines, and a line larger than `size` by characters.
///
/// No heading path is prefixed to a chunk: its text is exactly what the file shows at its lines, so a citation
/// `[n] path:line` and the quoted text agree. (A section split in pieces loses its heading in the later pieces.)
public enum Chunker {
    /// The chunks of `text`, the contents of the file `source` (a path relative to the index root, whose
    /// extension decides between markdown, source code and plain text).
    public static func chunks(of text: String, source: String, spec: ChunkSpec) -> [Chunk] {
        let document = ChunkDocument(text: text, kind: ChunkFileKind(path: source))
        guard !document.lines.isEmpty else { return [] }
        let size = max(1, spec.size)
        let overlap = min(max(0, spec.overlap), size - 1)
        var packer = ChunkPacker(document: document, size: size, overlap: overlap)
        switch spec.by {
        case .lines:
            return document.lineWindows(size: size, overlap: overlap).compactMap { document.chunk($0, source: source) }
        case .paragraph:
            for unit in document.blocks(in: 0..<document.lines.count, size: size) {
                packer.add(unit, overlapsPrevious: true)
            }
        case .heading:
            for section in document.sections() {
                // A section that fits is packed whole and never starts inside an earlier chunk's overlap;
                // one that does not fit is split by paragraph, and its pieces overlap each other.
                let pieces = document.length(section) <= size ? [section] : document.blocks(in: section, size: size)
                for (number, piece) in pieces.enumerated() {
                    packer.add(piece, overlapsPrevious: number > 0, startsGroup: number == 0 && pieces.count > 1)
                }
            }
        }
        return packer.finish().compactMap { piece in
            switch piece {
            case .lines(let range): document.chunk(range, source: source)
            case .part(let line, let text): Chunk(source: source, startLine: line + 1, endLine: line + 1, text: text)
            }
        }
    }
}

/// How a file's text is structured, from its extension.
enum ChunkFileKind {
    case markdown, code, text

    static let markdownExtensions: Set<String> = ["md", "markdown", "mdx", "mdown", "mkd"]
    static let codeExtensions: Set<String> = [
        "swift", "py", "js", "mjs", "cjs", "jsx", "ts", "tsx", "go", "rs", "c", "h", "cc", "cpp", "cxx", "hpp", "hh",
        "m", "mm", "java", "kt", "kts", "scala", "rb", "sh", "bash", "zsh", "fish", "php", "cs", "fs", "lua", "pl",
        "pm", "r", "jl", "dart", "zig", "nim", "ex", "exs", "erl", "hs", "ml", "clj", "sql", "ps1", "groovy", "gradle",
        "vue", "svelte",
    ]

    init(path: String) {
        let ext = (path as NSString).pathExtension.lowercased()
        if Self.markdownExtensions.contains(ext) {
            self = .markdown
        } else if Self.codeExtensions.contains(ext) {
            self = .code
        } else {
            self = .text
        }
    }
}

/// What the packer emits: a range of whole lines, or a piece of one line longer than the chunk size.
enum ChunkPiece: Equatable {
    case lines(Range<Int>)
    case part(line: Int, text: String)
}

/// Packs units (ranges of lines, each fitting in `size` unless it is a single line) into chunks up to `size`
/// characters, with whole-line overlap.
struct ChunkPacker {
    let document: ChunkDocument
    let size: Int
    let overlap: Int
    private var current: Range<Int>?
    private var output: [ChunkPiece] = []

    init(document: ChunkDocument, size: Int, overlap: Int) {
        self.document = document
        self.size = size
        self.overlap = overlap
    }

    /// Adds a unit; `overlapsPrevious` lets the chunk it starts repeat the previous chunk's last lines, and
    /// `startsGroup` makes it start a new chunk even when it would fit in the current one.
    mutating func add(_ unit: Range<Int>, overlapsPrevious: Bool, startsGroup: Bool = false) {
        if unit.count == 1, document.length(unit) > size {
            flush()
            output += document.parts(ofLine: unit.lowerBound, size: size, overlap: overlap).map {
                .part(line: unit.lowerBound, text: $0)
            }
            return
        }
        guard let open = current else {
            current = unit
            return
        }
        if !startsGroup, document.length(open.lowerBound..<unit.upperBound) <= size {
            current = open.lowerBound..<unit.upperBound
            return
        }
        flush()
        var start = unit.lowerBound
        if overlapsPrevious, overlap > 0 {
            // The earliest line of the previous chunk (not its first) from which the tail fits in `overlap`
            // and the tail plus the unit fits in `size`.
            var candidate = open.upperBound
            while candidate - 1 > open.lowerBound,
                document.length((candidate - 1)..<open.upperBound) <= overlap,
                document.length((candidate - 1)..<unit.upperBound) <= size
            {
                candidate -= 1
            }
            if candidate < open.upperBound, open.upperBound == unit.lowerBound { start = candidate }
        }
        current = start..<unit.upperBound
    }

    private mutating func flush() {
        if let open = current { output.append(.lines(open)) }
        current = nil
    }

    /// The chunks packed so far, in order.
    mutating func finish() -> [ChunkPiece] {
        flush()
        return output
    }
}
