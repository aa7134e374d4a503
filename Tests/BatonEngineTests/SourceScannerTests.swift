import BatonEngine
import BatonSpec
import Foundation
import Testing

/// Finding an index's files: globs, excludes, hidden folders, symbolic links, and files that cannot be indexed.
@Suite struct SourceScannerTests {
    static func paths(_ scan: SourceScan) -> [String] { scan.files.map(\.path) }

    @Test func globsExcludesAndHiddenFoldersDecideTheFilesSorted() throws {
        // Given a tree with docs, a draft, hidden folders and other files
        let folder = try IndexTestFolder()
        try folder.write("README.md", "# Readme\n")
        try folder.write("docs/b.md", "b\n")
        try folder.write("docs/a.md", "a\n")
        try folder.write("docs/guide/deep/c.md", "c\n")
        try folder.write("docs/drafts/wip.md", "wip\n")
        try folder.write("docs/notes.txt", "not markdown\n")
        try folder.write("docs/.hidden/secret.md", "hidden\n")
        try folder.write(".git/HEAD.md", "git\n")
        try folder.write("src/x1.swift", "let a = 1\n")
        try folder.write("src/x2.swift", "let b = 2\n")
        try folder.write("src/y.swift", "let c = 3\n")

        // When scanning
        let scan = try SourceScanner.scan(folder.index(["docs/**/*.md", "README.md", "src/x[0-9].swift"], exclude: ["**/drafts/**"]))

        // Then
        #expect(Self.paths(scan) == ["README.md", "docs/a.md", "docs/b.md", "docs/guide/deep/c.md", "src/x1.swift", "src/x2.swift"])
        #expect(scan.skipped.isEmpty)
        let readme = try #require(scan.files.first)
        #expect(readme.absolutePath == folder.path + "/README.md")
        #expect(readme.size == 9)
        #expect(readme.sha256 == "9d30855a2ada542760d1a9de78920f0e1ed6b45c2aa1780ecd90ecfe48994c20")  // printf "# Readme\n" | sha256sum
    }

    @Test func wildcardsQuestionMarksClassesAndFolderNames() throws {
        let folder = try IndexTestFolder()
        for name in ["a1.md", "a2.md", "ab.md", "b1.md", "notes/n.md", "notes/sub/m.md", ".hidden.md"] {
            try folder.write(name, "text\n")
        }
        #expect(Self.paths(try SourceScanner.scan(folder.index(["a?.md"]))) == ["a1.md", "a2.md", "ab.md"])
        #expect(Self.paths(try SourceScanner.scan(folder.index(["[!a]*.md"]))) == ["b1.md"])
        #expect(Self.paths(try SourceScanner.scan(folder.index(["a[0-9].md"]))) == ["a1.md", "a2.md"])
        #expect(Self.paths(try SourceScanner.scan(folder.index(["*.md"]))) == ["a1.md", "a2.md", "ab.md", "b1.md"])
        #expect(Self.paths(try SourceScanner.scan(folder.index([".*.md"]))) == [".hidden.md"])
        // A folder named by a glob means everything in it
        #expect(Self.paths(try SourceScanner.scan(folder.index(["notes"]))) == ["notes/n.md", "notes/sub/m.md"])
        #expect(Self.paths(try SourceScanner.scan(folder.index(["**/*.md"], exclude: ["notes"]))) == ["a1.md", "a2.md", "ab.md", "b1.md"])
        // ... but a folder that a wildcard happens to match is not
        try folder.write("odd.md/inside.txt", "text\n")
        #expect(Self.paths(try SourceScanner.scan(folder.index(["*.md"]))) == ["a1.md", "a2.md", "ab.md", "b1.md"])
        #expect(Self.paths(try SourceScanner.scan(folder.index(["**/sub"]))) == ["notes/sub/m.md"])
        // The same file matched twice is listed once
        #expect(Self.paths(try SourceScanner.scan(folder.index(["a1.md", "a*.md", "./a1.md"]))) == ["a1.md", "a2.md", "ab.md"])
    }

    @Test func binaryHugeAndBrokenFilesAreSkippedWithAReason() throws {
        // Given usable text beside a binary file, a file not UTF-8, a 5 MiB file and a broken link
        let folder = try IndexTestFolder()
        try folder.write("ok.md", "fine\n")
        try folder.write("image.md", Data([0x89, 0x50, 0x4E, 0x47, 0x00, 0x01, 0x02]))
        try folder.write("latin1.md", Data("caf\u{e9}".utf8.dropLast(2)) + Data([0xE9, 0x20, 0xFF, 0xFE]))
        try folder.write("huge.md", Data(repeating: UInt8(ascii: "a"), count: 5 * 1024 * 1024))
        #expect(symlink(folder.path + "/missing.md", folder.path + "/broken.md") == 0)

        // When scanning
        let scan = try SourceScanner.scan(folder.index(["*.md"]))

        // Then
        #expect(Self.paths(scan) == ["ok.md"])
        let reasons = Dictionary(uniqueKeysWithValues: scan.skipped.map { ($0.path, $0.reason) })
        #expect(reasons["image.md"] == "binary (a NUL byte in its first 8 KiB)")
        #expect(reasons["latin1.md"] == "binary (not UTF-8 text)")
        #expect(reasons["huge.md"] == "too large (5.0 MiB; the limit is 4 MiB)")
        #expect(reasons["broken.md"] == "unreadable (a broken symbolic link)")
    }

    @Test func aMultibyteCharacterCutAtTheSniffLimitIsStillText() throws {
        let folder = try IndexTestFolder()
        // 8191 ASCII bytes, then a 3-byte character across the 8 KiB boundary
        try folder.write("edge.md", String(repeating: "a", count: 8191) + "€ and more\n")
        #expect(Self.paths(try SourceScanner.scan(folder.index(["*.md"]))) == ["edge.md"])
    }

    @Test(.enabled(if: getuid() != 0, "root reads a file whatever its permissions"))
    func anUnreadableFileIsSkippedWithThePermissionError() throws {
        let folder = try IndexTestFolder()
        try folder.write("ok.md", "fine\n")
        try folder.write("locked.md", "secret\n")
        #expect(chmod(folder.path + "/locked.md", 0o000) == 0)
        let scan = try SourceScanner.scan(folder.index(["*.md"]))
        #expect(Self.paths(scan) == ["ok.md"])
        #expect(scan.skipped == [SkippedSource(path: "locked.md", reason: "unreadable (Permission denied)")])
    }

    @Test func aLinkLeadingOutsideTheRootIsNotFollowed() throws {
        // Given a link to a folder outside the index root, and one to a file inside it
        let outside = try IndexTestFolder()
        try outside.write("secret.md", "private\n")
        let folder = try IndexTestFolder()
        try folder.write("docs/real.md", "real\n")
        #expect(symlink(outside.path, folder.path + "/docs/elsewhere") == 0)
        #expect(symlink(folder.path + "/docs/real.md", folder.path + "/docs/alias.md") == 0)
        #expect(symlink(folder.path + "/docs", folder.path + "/docs/loop") == 0)

        let scan = try SourceScanner.scan(folder.index(["docs/**/*.md"]))

        // Then the inside link is read, the outside one is reported, the loop is walked once
        #expect(Self.paths(scan) == ["docs/alias.md", "docs/real.md"])
        #expect(scan.skipped.count == 1)
        #expect(scan.skipped.first?.path == "docs/elsewhere")
        #expect(scan.skipped.first?.reason.contains("outside the folder") == true)
    }

    @Test func noMatchNamesEachPatternAndTheFolder() throws {
        let folder = try IndexTestFolder()
        try folder.write("notes.txt", "text\n")
        let error = try #require(throws: IndexError.self) { try SourceScanner.scan(folder.index(["docs/**/*.md", "*.rst"])) }
        #expect(error.kind == .noSources)
        #expect(
            error.message
                == "index 'docs' has no files to read: no file in '\(folder.path)' matches any of 'docs/**/*.md', '*.rst'; fix 'sources' (globs relative to the folder of the file declaring the index)"
        )
    }

    @Test func anEmptyFolderIsNoMatch() throws {
        let folder = try IndexTestFolder()
        try FileManager.default.createDirectory(atPath: folder.path + "/docs", withIntermediateDirectories: true)
        let error = try #require(throws: IndexError.self) { try SourceScanner.scan(folder.index(["docs"])) }
        #expect(error.kind == .noSources)
        #expect(error.message.contains("no file in '\(folder.path)' matches 'docs'"))
    }

    @Test func aMissingRootIsNamed() throws {
        let folder = try IndexTestFolder()
        var index = folder.index(["*.md"])
        index.root = folder.path + "/nowhere"
        let error = try #require(throws: IndexError.self) { try SourceScanner.scan(index) }
        #expect(error.message.contains("the folder '\(folder.path)/nowhere' does not exist"))
    }

    @Test func matchesThatAreAllExcludedOrUnusableSayWhy() throws {
        let folder = try IndexTestFolder()
        try folder.write("drafts/a.md", "draft\n")
        try folder.write("blob.md", Data([0, 1, 2]))
        let error = try #require(throws: IndexError.self) { try SourceScanner.scan(folder.index(["**/*.md"], exclude: ["drafts"])) }
        #expect(error.kind == .noSources)
        #expect(
            error.message.contains(
                "no usable file in '\(folder.path)' matches '**/*.md': 1 matched file is excluded by 'drafts', and blob.md is binary (a NUL byte in its first 8 KiB)"
            ))
    }

    @Test func aGlobMayReachOutsideTheRootExplicitly() throws {
        let parent = try IndexTestFolder()
        try parent.write("shared/common.md", "shared\n")
        try parent.write("project/own.md", "own\n")
        var index = parent.index(["*.md", "../shared/*.md"])
        index.root = parent.path + "/project"
        let scan = try SourceScanner.scan(index)
        #expect(Self.paths(scan) == ["../shared/common.md", "own.md"])
        #expect(scan.files.first?.absolutePath == parent.path + "/shared/common.md")
    }
}
