import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Walks the folders one glob can match, reporting matched regular files as (path relative to the root, absolute
/// path) and matches that cannot be read (links leading outside, broken links, unreadable folders, devices).
///
/// The walk starts at the glob's literal prefix and only enters folders the rest of the glob can still match, so
/// `docs/*.md` never lists the rest of the tree. A glob ending in a plain name that matches a folder takes every
/// file under it (`sources: [docs]` means `docs/**`).
struct IndexSourceWalker {
    /// The index root, absolute and standardized.
    let root: String
    let glob: IndexGlob

    /// A link's target must resolve inside this folder (real path).
    private let boundary: String?
    /// Where the walk starts, absolute.
    private let base: String
    /// How paths under `base` are written relative to the root: `base`'s relative form ("" for the root itself).
    private let displayBase: String

    init(root: String, glob: IndexGlob) {
        self.root = root
        self.glob = glob
        let literal = glob.literalPrefix.joined(separator: "/")
        let joined = glob.isAbsolute ? "/" + literal : (literal.isEmpty ? root : root + "/" + literal)
        base = URL(fileURLWithPath: joined).standardizedFileURL.path
        if base == root {
            displayBase = ""
        } else if base.hasPrefix(root == "/" ? "/" : root + "/") {
            displayBase = String(base.dropFirst(root == "/" ? 1 : root.count + 1))
        } else if glob.isAbsolute {
            displayBase = base
        } else {
            displayBase = literal
        }
        // Inside the root, links must stay inside the root; a glob reaching outside it (`../shared/*.md`) is the
        // author's explicit choice of that folder, whose links must stay inside it.
        let inside = base == root || base.hasPrefix(root == "/" ? "/" : root + "/")
        boundary = Self.realPath(inside ? root : (glob.rest.isEmpty ? (base as NSString).deletingLastPathComponent : base))
    }

    /// Reports each matched file to `found` and each match that cannot be used to `skipped`.
    func walk(_ found: (String, String) -> Void, skipped: (SkippedSource) -> Void) {
        var visited: Set<String> = []
        let states = IndexGlob.closure([0], glob.rest)
        visit(base, display: displayBase, states: states, everything: false, visited: &visited, found: found, skipped: skipped)
    }

    private func visit(
        _ path: String, display: String, states: Set<Int>, everything: Bool, visited: inout Set<String>,
        found: (String, String) -> Void, skipped: (SkippedSource) -> Void
    ) {
        let accepted = everything || states.contains(glob.rest.count)
        var info = stat()
        guard lstat(path, &info) == 0 else { return }  // nothing there: the glob matches nothing
        var kind = info.st_mode & S_IFMT
        if kind == S_IFLNK {
            guard let target = Self.realPath(path), stat(target, &info) == 0 else {
                if accepted { skipped(SkippedSource(path: display, reason: "unreadable (a broken symbolic link)")) }
                return
            }
            if let boundary, target != boundary, !target.hasPrefix(boundary == "/" ? "/" : boundary + "/") {
                if accepted || info.st_mode & S_IFMT == S_IFDIR {
                    skipped(
                        SkippedSource(
                            path: display, reason: "a symbolic link to '\(target)', outside the folder '\(boundary)' (not followed)"))
                }
                return
            }
            kind = info.st_mode & S_IFMT
        }
        if kind == S_IFDIR {
            // A folder counts once, however many links lead to it.
            guard let real = Self.realPath(path), visited.insert(real).inserted else { return }
            let names: [String]
            do {
                names = try FileManager.default.contentsOfDirectory(atPath: path)
            } catch {
                if accepted || !states.isEmpty {
                    skipped(SkippedSource(path: display + "/", reason: "unreadable folder (\(SourceScanner.reason(of: error)))"))
                }
                return
            }
            // A folder matched by a glob ending in a plain name (`docs`, `**/guides`) means all of it; one matched by
            // a wildcard (`*.md` meeting a folder `old.md/`) is only walked where the glob goes on.
            let expands = accepted && (everything || glob.endsInLiteralName)
            for name in names.sorted() {
                let childDisplay = display.isEmpty ? name : (display.hasSuffix("/") ? display + name : display + "/" + name)
                let childPath = path == "/" ? "/" + name : path + "/" + name
                if expands {
                    // Everything under a matched folder, but not hidden entries.
                    guard !name.hasPrefix(".") else { continue }
                    visit(childPath, display: childDisplay, states: [], everything: true, visited: &visited, found: found, skipped: skipped)
                } else {
                    let next = IndexGlob.step(states, name, glob.rest)
                    guard !next.isEmpty else { continue }
                    visit(
                        childPath, display: childDisplay, states: next, everything: false, visited: &visited, found: found,
                        skipped: skipped)
                }
            }
            return
        }
        guard accepted else { return }
        if kind == S_IFREG {
            found(display, path)
        } else {
            skipped(SkippedSource(path: display, reason: "not a regular file (a device, socket or pipe)"))
        }
    }

    /// The canonical absolute path with links resolved; nil when it does not exist.
    static func realPath(_ path: String) -> String? {
        guard let resolved = realpath(path, nil) else { return nil }
        defer { free(resolved) }
        return String(cString: resolved)
    }
}
