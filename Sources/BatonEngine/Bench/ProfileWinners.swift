import BatonSpec
import Foundation
import Yams

/// `baton bench --write-profile`: the best candidate of each role becomes the first model of that role's `models:` in
/// the profile file, edited in place so its comments, order and layout stay; only the lines of those roles change.
public enum ProfileWinners {
    /// Why the profile cannot be edited; the message names the file and what to do.
    public struct Failure: Error, Sendable, Hashable, CustomStringConvertible {
        public var message: String
        public init(_ message: String) { self.message = message }
        public var description: String { message }
    }

    /// The winner of each role, roles in the order they first appear: the highest pass rate, then the highest judge
    /// score, then the fastest generation; a candidate whose repetitions all errored (or that ran none) never wins.
    public static func winners(_ results: [BenchResult]) -> [(role: String, model: String)] {
        var roles: [String] = []
        for result in results where !roles.contains(result.role) { roles.append(result.role) }
        return roles.compactMap { role in
            let eligible = results.filter { $0.role == role && $0.repetitions > 0 && $0.errors < $0.repetitions }
            // `max(by:)` keeps the first of equals: the first in bench order wins a tie.
            let best = eligible.max { isWorse($0, than: $1) }
            return best.map { (role, $0.model) }
        }
    }

    /// Whether `a` ranks below `b`: pass rate, then judge score, then generation tok/s (absent counts lowest).
    static func isWorse(_ a: BenchResult, than b: BenchResult) -> Bool {
        let left = [a.passRate ?? -1, a.judgeScore ?? -1, a.generationTokensPerSecond ?? -1]
        let right = [b.passRate ?? -1, b.judgeScore ?? -1, b.generationTokensPerSecond ?? -1]
        return left.lexicographicallyPrecedes(right)
    }

    /// `text` (a profile file at `path`) with each winner first in its role's `models:`. `inherited` gives a role's
    /// models as the resolved profile has them, for a role the file does not declare (it extends another profile):
    /// the new entry keeps them after the winner, so fallbacks stay.
    public static func edit(
        _ text: String, path: String, winners: [(role: String, model: String)], inherited: [String: [String]] = [:]
    ) throws(Failure) -> String {
        var text = text
        for (role, model) in winners {
            text = try edit(text, path: path, role: role, model: model, inherited: inherited[role] ?? [])
        }
        return text
    }

    /// `text` with `model` first in role `role`'s models (moved there if it was later in the list).
    static func edit(_ text: String, path: String, role: String, model: String, inherited: [String]) throws(Failure) -> String {
        let root: Node?
        do {
            root = try Yams.compose(yaml: text, .basic)
        } catch {
            throw Failure("the profile '\(path)' is not valid YAML (\(error)); fix it, then run the bench again")
        }
        var lines = ProfileText(text)
        guard let top = root?.mapping else {
            throw Failure("the profile '\(path)' is not a mapping of keys; fix it, then run the bench again")
        }
        let item = scalarText(model)
        guard let (rolesKey, rolesNode) = top.first(where: { $0.key.string == "roles" }) else {
            let models = ([model] + inherited.filter { $0 != model }).map(scalarText).joined(separator: ", ")
            lines.append(["roles:", "  \(role):", "    models: [\(models)]"])
            return lines.text
        }
        guard let roles = rolesNode.mapping else {
            if rolesNode.scalar != nil, rolesNode.string?.isEmpty != false, let mark = rolesKey.mark {
                // `roles:` with nothing after it.
                let indent = String(repeating: " ", count: mark.column - 1)
                let models = ([model] + inherited.filter { $0 != model }).map(scalarText).joined(separator: ", ")
                lines.insert(["\(indent)  \(role):", "\(indent)    models: [\(models)]"], after: mark.line)
                return lines.text
            }
            throw Failure("'roles' in the profile '\(path)' is not a mapping; fix it, then run the bench again")
        }
        let newModels = ([model] + inherited.filter { $0 != model }).map(scalarText).joined(separator: ", ")
        guard let (roleKey, roleNode) = roles.first(where: { $0.key.string == role }) else {
            if let mark = rolesNode.mark, lines.character(at: mark) == "{" {
                try lines.insertInFlow(at: mark, "\(scalarText(role)): {models: [\(newModels)]}", empty: roles.count == 0, path: path)
                return lines.text
            }
            let keyColumn = roles.first?.key.mark?.column ?? 3
            let last = lines.endOfBlock(
                startingAt: roles.map { $0.key.mark?.line ?? 0 }.max() ?? rolesKey.mark?.line ?? 0, indent: keyColumn)
            let indent = String(repeating: " ", count: keyColumn - 1)
            lines.insert(["\(indent)\(role):", "\(indent)  models: [\(newModels)]"], after: last)
            return lines.text
        }
        guard let roleMapping = roleNode.mapping else {
            if roleNode.string?.isEmpty != false, let mark = roleKey.mark {
                let indent = String(repeating: " ", count: mark.column - 1)
                lines.insert(["\(indent)  models: [\(newModels)]"], after: mark.line)
                return lines.text
            }
            throw Failure("role '\(role)' in the profile '\(path)' is not a mapping; fix it, then run the bench again")
        }
        guard let (_, modelsNode) = roleMapping.first(where: { $0.key.string == "models" }) else {
            if let mark = roleNode.mark, lines.character(at: mark) == "{" {
                try lines.insertInFlow(at: mark, "models: [\(newModels)]", empty: roleMapping.count == 0, path: path)
                return lines.text
            }
            guard let first = roleMapping.first?.key.mark else {
                throw Failure("role '\(role)' in '\(path)' has no keys to place 'models' by")
            }
            lines.insert(["\(String(repeating: " ", count: first.column - 1))models: [\(newModels)]"], before: first.line)
            return lines.text
        }
        if let sequence = modelsNode.sequence {
            let existing = sequence.compactMap(\.string)
            if existing.first == model { return text }
            if let mark = modelsNode.mark, lines.character(at: mark) == "[" {
                let items = [item] + existing.filter { $0 != model }.map(scalarText)
                try lines.replaceFlowSequence(at: mark, with: "[" + items.joined(separator: ", ") + "]", path: path)
                return lines.text
            }
            guard let firstMark = sequence.first?.mark else {
                throw Failure("role '\(role)' in '\(path)': cannot place a model in 'models'")
            }
            // Block sequence: drop the winner's own line, then add it above the first item, dash aligned.
            if let old = sequence.first(where: { $0.string == model }), let mark = old.mark, lines.isSingleItemLine(mark.line) {
                lines.remove(line: mark.line)
            }
            let dashPrefix = lines.prefix(line: firstMark.line, upTo: firstMark.column)
            lines.insert([dashPrefix + item], before: firstMark.line)
            return lines.text
        }
        if let single = modelsNode.string, let mark = modelsNode.mark {
            if single == model { return text }
            // `models: name`: the one model becomes a list with the winner first.
            let replacement = "[" + ([item] + (single.isEmpty ? [] : [scalarText(single)])).joined(separator: ", ") + "]"
            try lines.replaceScalar(at: mark, with: replacement, path: path)
            return lines.text
        }
        throw Failure("'models' of role '\(role)' in the profile '\(path)' is neither a list nor a name; fix it, then run the bench again")
    }

    /// A model name as a YAML flow scalar: plain when that reads back as the same text, else double-quoted.
    static func scalarText(_ name: String) -> String {
        let plain = name.unicodeScalars.allSatisfy { CharacterSet.alphanumerics.contains($0) || "._-/:@+".unicodeScalars.contains($0) }
        let leadingOK = name.first.map { !"-:@".contains($0) } ?? false
        if plain, leadingOK, !name.hasSuffix(":"), !["true", "false", "null", "yes", "no", "~"].contains(name.lowercased()) { return name }
        let data = (try? JSONEncoder().encode(name)) ?? Data("\"\(name)\"".utf8)
        return String(decoding: data, as: UTF8.self)
    }
}

/// A profile's text as lines of Unicode scalars (Yams counts columns in scalars), edited by line and column.
struct ProfileText {
    private var lines: [String]
    private let endsWithNewline: Bool

    init(_ text: String) {
        endsWithNewline = text.hasSuffix("\n")
        var split = text.components(separatedBy: "\n")
        if endsWithNewline { split.removeLast() }
        lines = split
    }

    var text: String { lines.joined(separator: "\n") + (endsWithNewline || lines.isEmpty ? "\n" : "") }

    mutating func append(_ new: [String]) {
        while let last = lines.last, last.trimmingCharacters(in: .whitespaces).isEmpty { lines.removeLast() }
        lines.append(contentsOf: new)
    }

    /// Inserts `new` after line `line` (1-based).
    mutating func insert(_ new: [String], after line: Int) { lines.insert(contentsOf: new, at: min(line, lines.count)) }
    /// Inserts `new` before line `line` (1-based).
    mutating func insert(_ new: [String], before line: Int) { lines.insert(contentsOf: new, at: max(line - 1, 0)) }
    mutating func remove(line: Int) { lines.remove(at: line - 1) }

    /// The character at `mark` (Yams composes without keeping a node's flow or block style, so the text tells).
    func character(at mark: Mark) -> Unicode.Scalar? {
        guard mark.line >= 1, mark.line <= lines.count else { return nil }
        let scalars = Array(lines[mark.line - 1].unicodeScalars)
        return mark.column >= 1 && mark.column <= scalars.count ? scalars[mark.column - 1] : nil
    }

    /// The text of line `line` before column `column` (for a block sequence item: its indentation and dash).
    func prefix(line: Int, upTo column: Int) -> String {
        String(String.UnicodeScalarView(Array(lines[line - 1].unicodeScalars.prefix(column - 1))))
    }

    /// Whether line `line` is `- item` alone (a comment after it allowed).
    func isSingleItemLine(_ line: Int) -> Bool {
        lines[line - 1].trimmingCharacters(in: .whitespaces).hasPrefix("-")
    }

    /// The last line (1-based) of the block whose keys sit at `indent` (1-based column) and that has a key on `line`:
    /// the lines after it that are blank, comments, or indented deeper, up to the last of them that is not blank or a comment.
    func endOfBlock(startingAt line: Int, indent: Int) -> Int {
        var last = line
        var index = line
        while index < lines.count {
            let content = lines[index]
            let trimmed = content.trimmingCharacters(in: .whitespaces)
            let leading = content.unicodeScalars.prefix { $0 == " " }.count
            if trimmed.isEmpty || trimmed.hasPrefix("#") {
                index += 1
                continue
            }
            if leading < indent { break }
            index += 1
            last = index
        }
        return last
    }

    /// Replaces the flow sequence starting at `mark` (its `[`) with `replacement`.
    mutating func replaceFlowSequence(at mark: Mark, with replacement: String, path: String) throws(ProfileWinners.Failure) {
        let scalars = Array(lines[mark.line - 1].unicodeScalars)
        let start = mark.column - 1
        guard start < scalars.count, scalars[start] == "[", let end = Self.closing(scalars, from: start) else {
            throw ProfileWinners.Failure(
                "'models' in '\(path)' line \(mark.line) spans several lines; put the list on one line, or edit it by hand")
        }
        replace(line: mark.line, from: start, to: end + 1, with: replacement, scalars: scalars)
    }

    /// Inserts `entry` first in the flow mapping starting at `mark` (its `{`).
    mutating func insertInFlow(at mark: Mark, _ entry: String, empty: Bool, path: String) throws(ProfileWinners.Failure) {
        let scalars = Array(lines[mark.line - 1].unicodeScalars)
        let start = mark.column - 1
        guard start < scalars.count, scalars[start] == "{" else {
            throw ProfileWinners.Failure("'\(path)' line \(mark.line): cannot place '\(entry)'; edit the profile by hand")
        }
        replace(line: mark.line, from: start + 1, to: start + 1, with: empty ? entry : entry + ", ", scalars: scalars)
    }

    /// Replaces the plain or quoted scalar at `mark` with `replacement`.
    mutating func replaceScalar(at mark: Mark, with replacement: String, path: String) throws(ProfileWinners.Failure) {
        let scalars = Array(lines[mark.line - 1].unicodeScalars)
        let start = mark.column - 1
        guard start < scalars.count else { throw ProfileWinners.Failure("'\(path)' line \(mark.line): cannot find the model name") }
        var end = start
        if scalars[start] == "\"" || scalars[start] == "'" {
            let quote = scalars[start]
            end = start + 1
            while end < scalars.count, scalars[end] != quote || (quote == "\"" && scalars[end - 1] == "\\") { end += 1 }
            end = min(end + 1, scalars.count)
        } else {
            while end < scalars.count, !(scalars[end] == "#" && end > 0 && scalars[end - 1] == " ") { end += 1 }
            while end > start, scalars[end - 1] == " " { end -= 1 }
        }
        replace(line: mark.line, from: start, to: end, with: replacement, scalars: scalars)
    }

    private mutating func replace(line: Int, from start: Int, to end: Int, with replacement: String, scalars: [Unicode.Scalar]) {
        var view = String.UnicodeScalarView()
        view.append(contentsOf: scalars[..<start])
        view.append(contentsOf: replacement.unicodeScalars)
        view.append(contentsOf: scalars[end...])
        lines[line - 1] = String(view)
    }

    /// The index of the `]` closing the `[` at `start` on the same line (quotes and nesting respected).
    static func closing(_ scalars: [Unicode.Scalar], from start: Int) -> Int? {
        var depth = 0
        var quote: Unicode.Scalar?
        var index = start
        while index < scalars.count {
            let scalar = scalars[index]
            if let open = quote {
                if scalar == open, open == "'" || scalars[index - 1] != "\\" { quote = nil }
            } else if scalar == "\"" || scalar == "'" {
                quote = scalar
            } else if scalar == "[" || scalar == "{" {
                depth += 1
            } else if scalar == "]" || scalar == "}" {
                depth -= 1
                if depth == 0 { return index }
            }
            index += 1
        }
        return nil
    }
}
