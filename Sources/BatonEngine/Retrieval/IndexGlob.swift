import Foundation

/// A path glob of an index's `sources` or `exclude`: `*`, `?`, `[...]` within a segment, `**` as a whole segment.
///
/// Wildcards never match a name starting with `.` unless the pattern's segment starts with `.` itself, so hidden
/// files and folders are left out unless named.
struct IndexGlob: Sendable {
    /// One `/`-separated part of the pattern.
    enum Segment: Sendable, Equatable {
        /// `**`: any number of path segments, none included.
        case anyDepth
        /// A name pattern (or literal name).
        case name(String)
    }

    /// The pattern as written.
    let pattern: String
    /// Whether it starts with `/`.
    let isAbsolute: Bool
    /// The leading segments without wildcards: the folder (or file) a walk starts from.
    let literalPrefix: [String]
    /// The segments after `literalPrefix`.
    let rest: [Segment]

    init(_ pattern: String) {
        self.pattern = pattern
        isAbsolute = pattern.hasPrefix("/")
        let parts = pattern.split(separator: "/", omittingEmptySubsequences: true).map(String.init).filter { $0 != "." }
        var literal: [String] = []
        var index = 0
        while index < parts.count, !Self.hasWildcard(parts[index]) {
            literal.append(Self.unescaped(parts[index]))
            index += 1
        }
        literalPrefix = literal
        rest = parts[index...].map { $0 == "**" ? .anyDepth : .name($0) }
    }

    /// Whether the last segment is a plain name (`docs`, `**/guides`): a folder it matches stands for its contents.
    var endsInLiteralName: Bool {
        switch rest.last {
        case nil: true
        case .anyDepth: false
        case .name(let pattern): !Self.hasWildcard(pattern)
        }
    }

    static func hasWildcard(_ segment: String) -> Bool {
        segment.contains { $0 == "*" || $0 == "?" || $0 == "[" }
    }

    static func unescaped(_ segment: String) -> String {
        segment.replacingOccurrences(of: "\\", with: "")
    }

    // MARK: - Matching

    /// Whether the whole relative path `path` (matched against the full pattern) matches.
    func matches(_ path: String) -> Bool {
        let segments = literalPrefix.map { Segment.name($0) } + rest
        var states = Self.closure([0], segments)
        for component in path.split(separator: "/").map(String.init) where component != "." {
            states = Self.step(states, component, segments)
            if states.isEmpty { return false }
        }
        return states.contains(segments.count)
    }

    /// Whether `path` or one of the folders it is in matches (an `exclude` of a folder leaves out what is inside).
    func matchesPathOrFolder(_ path: String) -> Bool {
        let components = path.split(separator: "/")
        for length in 1...max(1, components.count) where matches(components.prefix(length).joined(separator: "/")) {
            return true
        }
        return false
    }

    /// The states (indices into `segments`) reachable from `states` by `**` matching nothing.
    static func closure(_ states: Set<Int>, _ segments: [Segment]) -> Set<Int> {
        var result = states
        var pending = Array(states)
        while let state = pending.popLast() {
            if state < segments.count, segments[state] == .anyDepth, result.insert(state + 1).inserted {
                pending.append(state + 1)
            }
        }
        return result
    }

    /// The states after one path component.
    static func step(_ states: Set<Int>, _ component: String, _ segments: [Segment]) -> Set<Int> {
        var next: Set<Int> = []
        for state in states where state < segments.count {
            switch segments[state] {
            case .anyDepth:
                if !component.hasPrefix(".") { next.insert(state) }
            case .name(let pattern):
                if nameMatches(pattern, component) { next.insert(state + 1) }
            }
        }
        return closure(next, segments)
    }

    /// Whether one name matches one segment pattern (`*`, `?`, `[...]`, `\` escapes).
    static func nameMatches(_ pattern: String, _ name: String) -> Bool {
        if name.hasPrefix("."), !pattern.hasPrefix("."), !pattern.hasPrefix("\\.") { return false }
        return match(Array(pattern), 0, Array(name), 0)
    }

    private static func match(_ p: [Character], _ pi: Int, _ n: [Character], _ ni: Int) -> Bool {
        var pi = pi
        var ni = ni
        // Iterative `*` with one backtrack point: linear in practice.
        var star: (p: Int, n: Int)?
        while ni < n.count {
            if pi < p.count {
                switch p[pi] {
                case "*":
                    star = (pi, ni)
                    pi += 1
                    continue
                case "?":
                    pi += 1
                    ni += 1
                    continue
                case "[":
                    if let (matched, next) = matchClass(p, pi, n[ni]) {
                        if matched {
                            pi = next
                            ni += 1
                            continue
                        }
                    } else if n[ni] == "[" {
                        pi += 1
                        ni += 1
                        continue
                    }
                case "\\" where pi + 1 < p.count:
                    if p[pi + 1] == n[ni] {
                        pi += 2
                        ni += 1
                        continue
                    }
                default:
                    if p[pi] == n[ni] {
                        pi += 1
                        ni += 1
                        continue
                    }
                }
            }
            guard let back = star else { return false }
            pi = back.p + 1
            ni = back.n + 1
            star = (back.p, back.n + 1)
        }
        while pi < p.count, p[pi] == "*" { pi += 1 }
        return pi == p.count
    }

    /// Matches `character` against the class starting at `p[start]` (`[`): whether it matched and the index after
    /// the class; nil when the class is not closed (then `[` is literal).
    private static func matchClass(_ p: [Character], _ start: Int, _ character: Character) -> (Bool, Int)? {
        var index = start + 1
        var negated = false
        if index < p.count, p[index] == "!" || p[index] == "^" {
            negated = true
            index += 1
        }
        var matched = false
        var first = true
        while index < p.count, first || p[index] != "]" {
            first = false
            var low = p[index]
            if low == "\\", index + 1 < p.count {
                index += 1
                low = p[index]
            }
            if index + 2 < p.count, p[index + 1] == "-", p[index + 2] != "]" {
                let high = p[index + 2]
                if low <= character && character <= high { matched = true }
                index += 3
            } else {
                if low == character { matched = true }
                index += 1
            }
        }
        guard index < p.count else { return nil }
        return (matched != negated, index + 1)
    }
}
