import Foundation

/// A file's text as lines, with what the chunker asks of it: lengths, blocks, sections, windows.
struct ChunkDocument {
    let kind: ChunkFileKind
    /// The lines without their terminators ("\n" or "\r\n").
    let lines: [Substring]
    /// `offsets[i]`: the characters before line `i`, each earlier line counted with one newline.
    private let offsets: [Int]

    init(text: String, kind: ChunkFileKind) {
        self.kind = kind
        // "\r\n" is one Character in Swift, so it is a separator of its own.
        var lines = text.split(omittingEmptySubsequences: false, whereSeparator: { $0 == "\n" || $0 == "\r\n" })
        if lines.last?.isEmpty == true { lines.removeLast() }
        self.lines = lines
        var offsets = [0]
        offsets.reserveCapacity(self.lines.count + 1)
        for line in self.lines { offsets.append(offsets[offsets.count - 1] + line.count + 1) }
        self.offsets = offsets
    }

    /// The characters of lines `range` joined by newlines.
    func length(_ range: Range<Int>) -> Int {
        range.isEmpty ? 0 : offsets[range.upperBound] - offsets[range.lowerBound] - 1
    }

    func isBlank(_ line: Int) -> Bool {
        lines[line].allSatisfy(\.isWhitespace)
    }

    /// The chunk of lines `range` without blank lines at either end; nil when nothing is left.
    func chunk(_ range: Range<Int>, source: String) -> Chunk? {
        var start = range.lowerBound
        var end = range.upperBound
        while start < end, isBlank(start) { start += 1 }
        while end > start, isBlank(end - 1) { end -= 1 }
        guard start < end else { return nil }
        let text = lines[start..<end].joined(separator: "\n")
        return Chunk(source: source, startLine: start + 1, endLine: end, text: text)
    }

    /// Pieces of line `line` of at most `size` characters, each repeating the last `overlap` of the previous one.
    func parts(ofLine line: Int, size: Int, overlap: Int) -> [String] {
        let characters = Array(lines[line])
        var parts: [String] = []
        var start = 0
        while start < characters.count {
            let end = min(characters.count, start + size)
            let part = String(characters[start..<end])
            if !part.allSatisfy(\.isWhitespace) { parts.append(part) }
            if end == characters.count { break }
            start = end - overlap
        }
        return parts
    }

    /// `lines` mode: windows of `size` lines, each starting `overlap` lines before the previous one ended.
    func lineWindows(size: Int, overlap: Int) -> [Range<Int>] {
        var windows: [Range<Int>] = []
        var start = 0
        while start < lines.count {
            let end = min(lines.count, start + size)
            windows.append(start..<end)
            if end == lines.count { break }
            start = end - overlap
        }
        return windows
    }

    // MARK: - Sections and blocks

    /// Markdown sections: each starts at an ATX heading outside fenced code (the text before the first heading is
    /// a section too); one section, the whole file, for other kinds.
    func sections() -> [Range<Int>] {
        guard kind == .markdown else { return [0..<lines.count] }
        var starts: [Int] = [0]
        var fence = FenceTracker()
        for index in lines.indices {
            let insideFence = fence.consume(lines[index])
            if !insideFence, index > 0, Self.isHeading(lines[index]) { starts.append(index) }
        }
        return zip(starts, starts.dropFirst() + [lines.count]).map { $0..<$1 }.filter { !$0.isEmpty }
    }

    /// The blocks of `range`, in order and covering it, each of at most `size` characters or a single line: a
    /// block is a run of lines up to and including the blank lines that end it (see ``Chunker`` for what may end
    /// one). A block of code too large is cut at its inner blank lines too, and what is still too large into lines.
    func blocks(in range: Range<Int>, size: Int) -> [Range<Int>] {
        paragraphs(in: range, codeAware: kind == .code).flatMap { block -> [Range<Int>] in
            if length(block) <= size { return [block] }
            let inner = kind == .code ? paragraphs(in: block, codeAware: false) : [block]
            return inner.flatMap { length($0) <= size || $0.count == 1 ? [$0] : $0.map { $0..<($0 + 1) } }
        }
    }

    /// Blank-line blocks of `range`; `codeAware`: only between top-level declarations.
    private func paragraphs(in range: Range<Int>, codeAware: Bool) -> [Range<Int>] {
        var blocks: [Range<Int>] = []
        var start = range.lowerBound
        var fence = FenceTracker()
        var depth = 0
        for index in range {
            let insideFence = kind == .markdown ? fence.consume(lines[index]) : false
            if codeAware { depth = max(0, depth + Self.braceBalance(lines[index])) }
            let next = index + 1
            guard next < range.upperBound, isBlank(index), !isBlank(next), !insideFence else { continue }
            if codeAware {
                // Only between top-level declarations: outside braces, before a line that is not indented.
                guard depth == 0, lines[next].first.map({ !$0.isWhitespace }) ?? false else { continue }
            }
            if kind == .markdown, let previous = lastNonBlank(before: next, from: start), Self.isHeading(lines[previous]) {
                continue  // a heading stays with the block under it
            }
            blocks.append(start..<next)
            start = next
        }
        if start < range.upperBound { blocks.append(start..<range.upperBound) }
        return blocks
    }

    private func lastNonBlank(before line: Int, from start: Int) -> Int? {
        var index = line - 1
        while index >= start {
            if !isBlank(index) { return index }
            index -= 1
        }
        return nil
    }

    /// Whether `line` is an ATX heading: up to 3 spaces, 1 to 6 `#`, then a space or the end of the line.
    static func isHeading(_ line: Substring) -> Bool {
        let trimmed = line.drop { $0 == " " }
        guard line.count - trimmed.count <= 3 else { return false }
        let hashes = trimmed.prefix { $0 == "#" }
        guard (1...6).contains(hashes.count) else { return false }
        let rest = trimmed.dropFirst(hashes.count)
        return rest.isEmpty || rest.first == " " || rest.first == "\t"
    }

    /// `{` minus `}` on a line of code, ignoring a trailing `//` comment (strings are not parsed: an estimate that
    /// only decides where blocks may end).
    static func braceBalance(_ line: Substring) -> Int {
        var balance = 0
        var previous: Character = " "
        for character in line {
            if character == "/", previous == "/" { break }
            if character == "{" { balance += 1 } else if character == "}" { balance -= 1 }
            previous = character
        }
        return balance
    }
}

/// Follows markdown code fences (``` or ~~~, up to 3 spaces of indent) line by line.
struct FenceTracker {
    private var open: (marker: Character, length: Int)?

    /// Consumes `line`; whether it belongs to a fenced block (its fences included).
    mutating func consume(_ line: Substring) -> Bool {
        let trimmed = line.drop { $0 == " " }
        guard line.count - trimmed.count <= 3, let first = trimmed.first, first == "`" || first == "~" else {
            return open != nil
        }
        let run = trimmed.prefix { $0 == first }.count
        guard run >= 3 else { return open != nil }
        if let fence = open {
            if fence.marker == first, run >= fence.length, trimmed.dropFirst(run).allSatisfy(\.isWhitespace) {
                open = nil
            }
            return true
        }
        open = (first, run)
        return true
    }
}
