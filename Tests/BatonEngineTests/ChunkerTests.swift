import BatonEngine
import BatonSpec
import Foundation
import Testing

/// The chunker on real markdown, code and text: boundaries, exact 1-based line numbers, sizes and overlap.
@Suite struct ChunkerTests {
    /// The file's lines `chunk.startLine...chunk.endLine`, as the chunk's text must be.
    static func lines(_ text: String, _ chunk: Chunk) -> String {
        let all = text.split(omittingEmptySubsequences: false, whereSeparator: { $0 == "\n" || $0 == "\r\n" })
        return all[(chunk.startLine - 1)..<chunk.endLine].joined(separator: "\n")
    }

    /// Every chunk is the file's own lines at its line numbers, within `size`; every non-blank line is in a chunk.
    static func expectFaithful(_ text: String, _ chunks: [Chunk], size: Int, sourceLocation: Testing.SourceLocation = #_sourceLocation) {
        for chunk in chunks {
            if chunk.startLine == chunk.endLine, chunk.text != lines(text, chunk) {
                // A piece of a line longer than the size
                #expect(lines(text, chunk).contains(chunk.text), "piece of line \(chunk.startLine)", sourceLocation: sourceLocation)
            } else {
                #expect(chunk.text == lines(text, chunk), "chunk at \(chunk.startLine)-\(chunk.endLine)", sourceLocation: sourceLocation)
            }
            #expect(
                chunk.text.count <= size, "chunk at \(chunk.startLine) has \(chunk.text.count) characters", sourceLocation: sourceLocation)
            #expect(chunk.startLine <= chunk.endLine, sourceLocation: sourceLocation)
        }
        let covered = Set(chunks.flatMap { Array($0.startLine...$0.endLine) })
        for (number, line) in text.split(omittingEmptySubsequences: false, whereSeparator: { $0 == "\n" || $0 == "\r\n" }).enumerated()
        where !line.allSatisfy(\.isWhitespace) {
            #expect(covered.contains(number + 1), "line \(number + 1) is in no chunk", sourceLocation: sourceLocation)
        }
    }

    static let guide = """
        Baton runs pipelines of model stages.

        # Getting started

        Install it with the script below.

        ```sh
        # this is a shell comment, not a heading

        curl -fsSL https://example.invalid/install.sh | sh
        ```

        ## Configuration

        Profiles name runtimes and models.
        A profile can extend another.

        ## Running

        Run a pipeline with `baton run`.

        ### Resuming

        A killed run resumes where it stopped.
        """

    @Test func headingChunksStartAtHeadingsAndKeepTheFileLineNumbers() {
        // Given sections of which only 'Configuration' and 'Running' fit together in a chunk
        let chunks = Chunker.chunks(of: Self.guide, source: "guide.md", spec: ChunkSpec(by: .heading, size: 160, overlap: 20))

        // Then each chunk starts at a heading (or the preamble), and the fenced '#' line is not a heading
        #expect(chunks.map(\.startLine) == [1, 3, 13, 22])
        #expect(chunks.map(\.endLine) == [1, 11, 20, 24])
        #expect(chunks[1].text.hasPrefix("# Getting started"))
        #expect(chunks[1].text.hasSuffix("```"))
        Self.expectFaithful(Self.guide, chunks, size: 160)

        // With a size too small for 'Getting started' (157 characters), it is split before its code block, and
        // 'Configuration' no longer fits with 'Running', which now fits with 'Resuming'
        let smaller = Chunker.chunks(of: Self.guide, source: "guide.md", spec: ChunkSpec(by: .heading, size: 120, overlap: 20))
        #expect(smaller.map(\.startLine) == [1, 3, 7, 13, 18])
        #expect(smaller.map(\.endLine) == [1, 5, 11, 16, 24])
        Self.expectFaithful(Self.guide, smaller, size: 120)
    }

    @Test func smallSectionsArePackedButAChunkNeverStartsMidSection() {
        let chunks = Chunker.chunks(of: Self.guide, source: "guide.md", spec: ChunkSpec(by: .heading, size: 200, overlap: 50))
        let headings: Set<Int> = [1, 3, 13, 18, 22]
        for chunk in chunks { #expect(headings.contains(chunk.startLine), "chunk starts at line \(chunk.startLine)") }
        #expect(chunks.count < 5)
        Self.expectFaithful(Self.guide, chunks, size: 200)
    }

    @Test func anOversizedSectionIsSplitByParagraphWithOverlap() {
        // Given one section of twelve paragraphs, each of three short lines
        var text = "# Notes\n"
        for number in 1...12 { text += "\nParagraph \(number) line a.\nParagraph \(number) line b.\nParagraph \(number) line c.\n" }
        let chunks = Chunker.chunks(of: text, source: "notes.md", spec: ChunkSpec(by: .heading, size: 200, overlap: 40))

        // Then the pieces fit, are the file's lines, and later ones repeat the previous chunk's last line
        #expect(chunks.count > 3)
        #expect(chunks[0].startLine == 1)
        Self.expectFaithful(text, chunks, size: 200)
        for (previous, next) in zip(chunks, chunks.dropFirst()) {
            #expect(next.startLine <= previous.endLine, "no overlap between \(previous.endLine) and \(next.startLine)")
            #expect(next.startLine > previous.startLine)
        }
    }

    @Test func aFencedBlockIsNotSplitAtItsBlankLinesWhenItFits() {
        let text = """
            Intro paragraph.

            ```swift
            let a = 1

            let b = 2

            let c = 3
            ```

            Outro paragraph.
            """
        let chunks = Chunker.chunks(of: text, source: "a.md", spec: ChunkSpec(by: .paragraph, size: 50, overlap: 0))
        let fence = chunks.first { $0.text.contains("let a") }
        #expect(fence?.startLine == 3)
        #expect(fence?.endLine == 9)
        #expect(fence?.text.contains("let c = 3") == true)
        Self.expectFaithful(text, chunks, size: 50)
    }

    @Test func aFencedBlockLargerThanTheSizeIsSplitByLines() {
        let body = (1...30).map { "print(\"line \($0)\")" }.joined(separator: "\n")
        let text = "Before.\n\n```python\n\(body)\n```\n\nAfter.\n"
        let chunks = Chunker.chunks(of: text, source: "a.md", spec: ChunkSpec(by: .paragraph, size: 100, overlap: 0))
        #expect(chunks.count > 5)
        Self.expectFaithful(text, chunks, size: 100)
    }

    static let swiftSource = """
        import Foundation

        /// Adds.
        func add(_ a: Int, _ b: Int) -> Int {
            let sum = a + b

            return sum
        }

        /// Subtracts.
        func subtract(_ a: Int, _ b: Int) -> Int {
            let difference = a - b

            return difference
        }

        struct Point {
            var x: Int

            var y: Int
        }
        """

    @Test func codeIsSplitBetweenTopLevelDeclarationsNotInsideThem() {
        let chunks = Chunker.chunks(of: Self.swiftSource, source: "Math.swift", spec: ChunkSpec(by: .paragraph, size: 110, overlap: 0))
        // Each function (with its doc comment) stays whole although it has a blank line inside
        #expect(chunks.map(\.startLine) == [1, 10, 17])
        #expect(chunks[0].text.contains("return sum\n}"))
        #expect(chunks[1].text.hasPrefix("/// Subtracts."))
        Self.expectFaithful(Self.swiftSource, chunks, size: 110)
    }

    @Test func pythonIsSplitAtUnindentedDeclarations() {
        let text = """
            import os


            def first():
                value = 1

                return value


            def second():
                other = 2

                return other
            """
        let chunks = Chunker.chunks(of: text, source: "tool.py", spec: ChunkSpec(by: .paragraph, size: 50, overlap: 0))
        #expect(chunks.map(\.startLine) == [1, 4, 10])
        #expect(chunks[1].endLine == 7)
        Self.expectFaithful(text, chunks, size: 50)
    }

    @Test func theSameTextAsProseIsSplitAtEveryBlankLine() {
        // A .txt file is not code: blank lines inside "functions" separate blocks
        let chunks = Chunker.chunks(of: Self.swiftSource, source: "notes.txt", spec: ChunkSpec(by: .paragraph, size: 60, overlap: 0))
        #expect(chunks.contains { $0.startLine == 7 })
    }

    @Test func linesModeMakesWindowsWithOverlap() {
        let text = (1...25).map { "line \($0)" }.joined(separator: "\n") + "\n"
        let chunks = Chunker.chunks(of: text, source: "log.txt", spec: ChunkSpec(by: .lines, size: 10, overlap: 3))
        #expect(chunks.map(\.startLine) == [1, 8, 15, 22])
        #expect(chunks.map(\.endLine) == [10, 17, 24, 25])
        #expect(chunks[1].text.hasPrefix("line 8\n"))
        for chunk in chunks { #expect(chunk.text == Self.lines(text, chunk)) }
    }

    @Test func aLineLongerThanTheSizeIsCutIntoPiecesOfThatLine() {
        let long = String(repeating: "abcdefghij", count: 500)
        let text = "short first line\n\n\(long)\n\nlast line\n"
        let chunks = Chunker.chunks(of: text, source: "data.txt", spec: ChunkSpec(by: .paragraph, size: 1000, overlap: 100))
        let pieces = chunks.filter { $0.startLine == 3 }
        #expect(pieces.count == 6)
        for piece in pieces {
            #expect(piece.endLine == 3)
            #expect(piece.text.count <= 1000)
        }
        // Pieces overlap by 100 characters and cover the line
        #expect(pieces[0].text.suffix(100) == pieces[1].text.prefix(100))
        #expect(pieces.last.map { long.hasSuffix($0.text) } == true)
        #expect(chunks.first?.text == "short first line")
        #expect(chunks.last?.text == "last line")
    }

    @Test func windowsLineEndingsAreNotPartOfTheText() {
        let text = "# A\r\n\r\nalpha\r\n\r\n# B\r\n\r\nbeta\r\n"
        let chunks = Chunker.chunks(of: text, source: "crlf.md", spec: ChunkSpec(by: .heading, size: 12, overlap: 0))
        #expect(chunks.map(\.text) == ["# A\n\nalpha", "# B\n\nbeta"])
        #expect(chunks.map(\.startLine) == [1, 5])
    }

    @Test func emptyAndBlankFilesHaveNoChunks() {
        for method in ChunkMethod.allCases {
            #expect(Chunker.chunks(of: "", source: "a.md", spec: ChunkSpec(by: method, size: 100, overlap: 10)).isEmpty)
            #expect(Chunker.chunks(of: "\n  \n\t\n", source: "a.md", spec: ChunkSpec(by: method, size: 100, overlap: 10)).isEmpty)
        }
    }

    @Test(arguments: ChunkMethod.allCases)
    func everyMethodIsFaithfulOnThisRepositorysDocs(_ method: ChunkMethod) throws {
        // Real files of this repository: markdown and Swift
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let files = ["README.md", "docs/pipeline-format.md", "Sources/BatonEngine/Store/RunStore.swift"]
        for file in files {
            guard let text = try? String(contentsOf: root.appendingPathComponent(file), encoding: .utf8) else { continue }
            let size = method == .lines ? 40 : 800
            let chunks = Chunker.chunks(
                of: text, source: file, spec: ChunkSpec(by: method, size: size, overlap: method == .lines ? 5 : 100))
            #expect(!chunks.isEmpty)
            if method == .lines {
                for chunk in chunks { #expect(chunk.text == Self.lines(text, chunk)) }
            } else {
                Self.expectFaithful(text, chunks, size: size)
            }
        }
    }
}
