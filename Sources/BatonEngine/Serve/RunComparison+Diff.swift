import BatonSpec
import Foundation

/// A stage's own definition as named fields (``RunComparison``'s `changes`): its compiled ``PlannedStage`` encoded
/// and flattened, `model`, `runtime` and `fallbacks` from its model chain, `settings.X` per setting, the prompt
/// template as `prompt_template`, the rest under their encoded names (`system`, `critic.max_rounds`, ...).
enum StageFields {
    /// The fields of `stage`, in a stable order: the model chain first, then the rest by name.
    static func of(_ stage: PlannedStage) -> [(String, String)] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        guard let data = try? encoder.encode(stage), case .object(let pairs)? = OrderedJSON.parse(data) else { return [] }
        var fields: [(String, String)] = []
        let models = stage.models
        if let first = models.first {
            fields.append(("model", first.name))
            if let runtime = first.runtime { fields.append(("runtime", runtime)) }
            if let footprint = first.footprint { fields.append(("footprint", footprint.description)) }
        }
        if models.count > 1 { fields.append(("fallbacks", models.dropFirst().map(\.description).joined(separator: ", "))) }
        for (key, value) in pairs where key != "name" && key != "models" {
            switch key {
            case "prompt": flatten(value, path: "prompt_template", into: &fields)
            case "settings": flatten(withoutModel(value), path: "settings", into: &fields)
            default: flatten(value, path: key, into: &fields)
            }
        }
        return fields
    }

    /// Settings without `model` and `runtime`: the references as written, which the model chain already shows resolved.
    static func withoutModel(_ settings: JSONValue) -> JSONValue {
        guard case .object(let pairs) = settings else { return settings }
        return .object(pairs.filter { $0.key != "model" && $0.key != "runtime" })
    }

    /// Objects become one field per member (`path.key`); anything else is one field, its text (arrays as JSON).
    private static func flatten(_ value: JSONValue, path: String, into fields: inout [(String, String)]) {
        switch value {
        case .null:
            return
        case .object(let pairs):
            for (key, inner) in pairs { flatten(inner, path: "\(path).\(key)", into: &fields) }
        case .string(let text):
            fields.append((path, text))
        default:
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
            fields.append((path, (try? encoder.encode(value)).map { String(decoding: $0, as: UTF8.self) } ?? ""))
        }
    }
}

/// A line diff as ``RunComparison/DiffOp``s, by Swift's `CollectionDifference` over lines that keep their line breaks,
/// so the ops give both texts back exactly.
enum LineDiffOps {
    /// The steps that turn `a` into `b`, neighbours of one kind merged.
    static func ops(from a: String, to b: String) -> [RunComparison.DiffOp] {
        if a.utf8.elementsEqual(b.utf8) { return a.isEmpty ? [] : [RunComparison.DiffOp(.equal, a)] }
        let old = lines(a)
        let new = lines(b)
        // The shared start and end are taken as they are: the difference is then over the changed middle only.
        var prefix = 0
        while prefix < old.count, prefix < new.count, old[prefix] == new[prefix] { prefix += 1 }
        var suffix = 0
        while suffix < old.count - prefix, suffix < new.count - prefix, old[old.count - 1 - suffix] == new[new.count - 1 - suffix] {
            suffix += 1
        }
        let oldMiddle = old[prefix..<(old.count - suffix)]
        let newMiddle = new[prefix..<(new.count - suffix)]
        // Myers' difference takes time (lines × edits): two unrelated answers of 200,000 characters in short lines would
        // take minutes. Past a budget, the middle is shown replaced whole, which is what such a diff would mostly say.
        let size = oldMiddle.count + newMiddle.count
        let difference =
            size > wholeDiffLines && size * max(unmatched(oldMiddle, newMiddle), 1) > diffBudget
            ? CollectionDifference<Line>(
                oldMiddle.enumerated().map { .remove(offset: $0.offset, element: $0.element, associatedWith: nil) }
                    + newMiddle.enumerated().map { .insert(offset: $0.offset, element: $0.element, associatedWith: nil) })!
            : newMiddle.difference(from: oldMiddle)
        var removed = Set<Int>()
        var inserted = Set<Int>()
        for change in difference {
            switch change {
            case .remove(let offset, _, _): removed.insert(offset)
            case .insert(let offset, _, _): inserted.insert(offset)
            }
        }
        var steps: [(RunComparison.DiffOp.Kind, Line)] = old[..<prefix].map { (.equal, $0) }
        var i = 0
        var j = 0
        let oldLines = Array(oldMiddle)
        let newLines = Array(newMiddle)
        while i < oldLines.count || j < newLines.count {
            if i < oldLines.count, removed.contains(i) {
                steps.append((.delete, oldLines[i]))
                i += 1
            } else if j < newLines.count, inserted.contains(j) {
                steps.append((.insert, newLines[j]))
                j += 1
            } else {
                // Neither removed nor inserted: the same line in both (CollectionDifference keeps the rest in order).
                steps.append((.equal, oldLines[i]))
                i += 1
                j += 1
            }
        }
        steps += old[(old.count - suffix)...].map { (.equal, $0) }
        var result: [RunComparison.DiffOp] = []
        for (kind, text) in steps {
            if let last = result.last, last.op == kind {
                result[result.count - 1].text += text.text
            } else {
                result.append(RunComparison.DiffOp(kind, String(text.text)))
            }
        }
        return result
    }

    /// Middles of up to this many lines (both texts together) are always diffed line by line.
    static let wholeDiffLines = 4_000
    /// Above ``wholeDiffLines``, the most lines × edits (at least) diffed line by line: about half a second.
    static let diffBudget = 20_000_000

    /// How many lines of either text the other lacks, counting repeats: no diff has fewer edits.
    private static func unmatched(_ a: ArraySlice<Line>, _ b: ArraySlice<Line>) -> Int {
        var counts: [Line: Int] = [:]
        for line in a { counts[line, default: 0] += 1 }
        for line in b { counts[line, default: 0] -= 1 }
        return counts.values.reduce(0) { $0 + abs($1) }
    }

    /// One line with its line break, equal to another only byte for byte: `String`'s own equality is canonical
    /// equivalence, and a diff that called `é` and `e\u{301}` equal would not give the second text back.
    struct Line: Hashable {
        var text: Substring

        static func == (lhs: Line, rhs: Line) -> Bool { lhs.text.utf8.elementsEqual(rhs.text.utf8) }

        func hash(into hasher: inout Hasher) {
            let hashed: Void? = text.utf8.withContiguousStorageIfAvailable { hasher.combine(bytes: UnsafeRawBufferPointer($0)) }
            if hashed == nil {
                for byte in text.utf8 { hasher.combine(byte) }
            }
        }
    }

    /// `text`'s lines, each with its `\n` (the last one without, when the text does not end with one).
    static func lines(_ text: String) -> [Line] {
        var result: [Line] = []
        let bytes = text.utf8
        var start = bytes.startIndex
        var index = bytes.startIndex
        while index < bytes.endIndex {
            let next = bytes.index(after: index)
            if bytes[index] == UInt8(ascii: "\n") {
                result.append(Line(text: text[start..<next]))
                start = next
            }
            index = next
        }
        if start < bytes.endIndex { result.append(Line(text: text[start...])) }
        return result
    }
}
