import BatonSpec
import Crypto
import Foundation

/// Files an index reads, after globs, excludes and the refusal of unusable files.
public struct SourceScan: Sendable {
    /// The usable files, sorted by path.
    public var files: [IndexSourceFile]
    /// Files the globs matched that cannot be indexed, sorted by path, each with why.
    public var skipped: [SkippedSource]

    /// Creates a scan result.
    public init(files: [IndexSourceFile], skipped: [SkippedSource]) {
        self.files = files
        self.skipped = skipped
    }
}

/// One file an index reads (named apart from BatonSpec.SourceFile, a pipeline file's text).
public struct IndexSourceFile: Sendable, Hashable {
    /// The path relative to the index root (as the globs see it), e.g. `docs/guide.md`.
    public var path: String
    /// The absolute path.
    public var absolutePath: String
    /// The SHA-256 of the contents, lowercase hex.
    public var sha256: String
    /// The size in bytes.
    public var size: Int64

    /// Creates a file description.
    public init(path: String, absolutePath: String, sha256: String, size: Int64) {
        self.path = path
        self.absolutePath = absolutePath
        self.sha256 = sha256
        self.size = size
    }
}

/// A matched file that cannot be indexed.
public struct SkippedSource: Sendable, Hashable {
    /// The path relative to the index root.
    public var path: String
    /// Why, in words: "binary (a NUL byte in its first 8 KiB)", "too large (5.0 MiB; the limit is 4 MiB)", "unreadable (...)".
    public var reason: String

    /// Creates a skipped file.
    public init(path: String, reason: String) {
        self.path = path
        self.reason = reason
    }
}

/// Finds an index's files: its `sources` globs relative to its root, minus `exclude`, minus files that cannot be
/// indexed (binary, larger than 4 MiB, unreadable), which are listed with the reason.
///
/// Globs: `*` (any characters but `/`), `?` (one), `[abc]`, `[a-z]`, `[!a]` (one of, or not), `**` as a whole path
/// segment (any number of folders, none included). Wildcards do not match names starting with `.`, so hidden
/// folders such as `.git` and `.build` are skipped unless a glob names them (`.github/*.yml`). A glob may start with
/// `../` or be absolute; the folders it names literally are walked from.
///
/// Symbolic links: a link is followed only when its target, resolved, lies inside the index root (or inside the
/// literal folder the glob walks from, for a glob reaching outside the root); a link leading out of it is skipped
/// with a reason, so an index of `docs/**` cannot read `~/.ssh` through a link placed in `docs/`. A folder reached
/// twice through links is walked once.
public enum SourceScanner {
    /// Files larger than this are skipped: a chunked 4 MiB file is already thousands of chunks.
    public static let maximumFileSize: Int64 = 4 * 1024 * 1024
    /// How much of a file is checked for binary content.
    static let sniffLength = 8 * 1024

    /// The files of `index`.
    ///
    /// - Throws: ``IndexError`` `.noSources` when no usable file matches: the message names each pattern and the
    ///   folder, and the excluded or skipped matches when there were some.
    public static func scan(_ index: IndexPlan) throws -> SourceScan {
        let root = URL(fileURLWithPath: index.root).standardizedFileURL.path
        let excludes = index.exclude.map { IndexGlob($0) }
        var matched: [String: String] = [:]  // relative path -> absolute path
        var escapes: [SkippedSource] = []
        for pattern in index.sources {
            let glob = IndexGlob(pattern)
            let walker = IndexSourceWalker(root: root, glob: glob)
            walker.walk { relative, absolute in
                matched[relative] = absolute
            } skipped: {
                escapes.append($0)
            }
        }
        var excludedCount = 0
        var files: [IndexSourceFile] = []
        var skipped = escapes
        for relative in matched.keys.sorted() {
            if excludes.contains(where: { $0.matchesPathOrFolder(relative) }) {
                excludedCount += 1
                continue
            }
            switch inspect(absolutePath: matched[relative]!) {
            case .success(let (sha256, size)):
                files.append(IndexSourceFile(path: relative, absolutePath: matched[relative]!, sha256: sha256, size: size))
            case .failure(let reason):
                skipped.append(SkippedSource(path: relative, reason: reason.message))
            }
        }
        skipped.sort { $0.path < $1.path }
        guard files.isEmpty else { return SourceScan(files: files, skipped: skipped) }
        throw noSources(index, root: root, excluded: excludedCount, skipped: skipped)
    }

    static func noSources(_ index: IndexPlan, root: String, excluded: Int, skipped: [SkippedSource]) -> IndexError {
        let patterns = index.sources.map { "'\($0)'" }.joined(separator: ", ")
        var why: String
        if !FileManager.default.fileExists(atPath: root) {
            why = "the folder '\(root)' does not exist"
        } else if excluded == 0, skipped.isEmpty {
            why = "no file in '\(root)' matches \(index.sources.count == 1 ? "" : "any of ")\(patterns)"
        } else {
            why = "no usable file in '\(root)' matches \(patterns)"
            if excluded > 0 {
                let excludes = index.exclude.map { "'\($0)'" }.joined(separator: ", ")
                why += ": \(excluded) matched file\(excluded == 1 ? " is" : "s are") excluded by \(excludes)"
            }
            if !skipped.isEmpty {
                let listed = skipped.prefix(5).map { "\($0.path) is \($0.reason)" }.joined(separator: "; ")
                why += (excluded > 0 ? ", and " : ": ") + listed + (skipped.count > 5 ? "; and \(skipped.count - 5) more" : "")
            }
        }
        return IndexError(
            kind: .noSources,
            message:
                "index '\(index.name)' has no files to read: \(why); fix 'sources' (globs relative to the folder of the file declaring the index)"
        )
    }

    /// Why a file cannot be indexed.
    struct Refusal: Error {
        var message: String
    }

    /// The SHA-256 and size of a usable file, or why it is not usable.
    static func inspect(absolutePath: String) -> Result<(String, Int64), Refusal> {
        switch read(absolutePath: absolutePath) {
        case .success(let data): .success((sha256(data), Int64(data.count)))
        case .failure(let refusal): .failure(refusal)
        }
    }

    /// The contents of a usable file: readable, at most 4 MiB, text (UTF-8 without NUL bytes).
    static func read(absolutePath: String) -> Result<Data, Refusal> {
        let size: Int64
        do {
            let attributes = try FileManager.default.attributesOfItem(atPath: absolutePath)
            size = (attributes[.size] as? NSNumber)?.int64Value ?? 0
        } catch {
            return .failure(Refusal(message: "unreadable (\(reason(of: error)))"))
        }
        if size > maximumFileSize {
            return .failure(Refusal(message: "too large (\(mebibytes(size)); the limit is 4 MiB)"))
        }
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: absolutePath))
        } catch {
            return .failure(Refusal(message: "unreadable (\(reason(of: error)))"))
        }
        if data.count > maximumFileSize {
            return .failure(Refusal(message: "too large (\(mebibytes(Int64(data.count))); the limit is 4 MiB)"))
        }
        let head = data.prefix(sniffLength)
        if head.contains(0) { return .failure(Refusal(message: "binary (a NUL byte in its first 8 KiB)")) }
        if !isValidUTF8(head, truncated: data.count > sniffLength) || String(data: data, encoding: .utf8) == nil {
            return .failure(Refusal(message: "binary (not UTF-8 text)"))
        }
        return .success(data)
    }

    /// Whether `bytes` is UTF-8; `truncated`: it was cut from a longer file, so an incomplete last character is fine.
    static func isValidUTF8(_ bytes: Data, truncated: Bool) -> Bool {
        var candidate = bytes
        for _ in 0...(truncated ? 3 : 0) {
            if String(data: candidate, encoding: .utf8) != nil { return true }
            guard !candidate.isEmpty else { return false }
            candidate = candidate.dropLast()
        }
        return false
    }

    static func sha256(_ data: Data) -> String {
        SHA256.hash(data: data).map { String(format: "%02x", $0) }.joined()
    }

    static func mebibytes(_ bytes: Int64) -> String {
        String(format: "%.1f MiB", Double(bytes) / 1_048_576)
    }

    /// The OS's words for a file error ("Permission denied"), else Foundation's.
    static func reason(of error: any Error) -> String {
        let nsError = error as NSError
        if let underlying = nsError.userInfo[NSUnderlyingErrorKey] as? NSError, underlying.domain == NSPOSIXErrorDomain {
            return String(cString: strerror(Int32(underlying.code)))
        }
        if nsError.domain == NSCocoaErrorDomain, nsError.code == NSFileReadNoPermissionError {
            return String(cString: strerror(EACCES))
        }
        return nsError.localizedDescription
    }
}
