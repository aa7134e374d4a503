import Foundation
import Yams

/// Parses YAML text into a node tree with line and column marks, turning parser errors into diagnostics.
///
/// Scalars are composed without implicit typing (Yams' `basic` resolver): `no` stays the text `no`,
/// `1:30` stays `1:30`. ``SpecReader`` decides what a scalar means from the type the key expects.
enum YAMLLoader {
    /// The root node, or nil with a diagnostic when the text is not one valid YAML document or crosses one of
    /// the ``YAMLLimits`` (checked first: Yams would expand every alias while composing and hashing keys).
    static func compose(_ file: SourceFile, kind: String, into reader: SpecReader, limits: YAMLLimits = .standard) -> Node? {
        if let violation = limits.check(file.text) {
            reader.emit(.yamlLimit(violation), at: SourceLocation(file: file.path, line: violation.line, column: violation.column))
            return nil
        }
        do {
            guard let root = try Yams.compose(yaml: file.text, .basic) else {
                reader.emit(.emptyFile(kind), at: SourceLocation(file: file.path, line: 1, column: 1))
                return nil
            }
            return root
        } catch let error as YamlError {
            report(error, file: file, into: reader)
            return nil
        } catch {
            reader.emit(.yamlSyntax("\(error)"), at: SourceLocation(file: file.path, line: 1, column: 1))
            return nil
        }
    }

    private static func report(_ error: YamlError, file: SourceFile, into reader: SpecReader) {
        func location(_ mark: Mark) -> SourceLocation {
            SourceLocation(file: file.path, line: max(mark.line, 1), column: max(mark.column, 1))
        }
        switch error {
        case .scanner(let context, let problem, let mark, _),
            .parser(let context, let problem, let mark, _),
            .composer(let context, let problem, let mark, _):
            var notes: [Diagnostic.Note] = []
            if let context, context.mark.line != mark.line || context.mark.column != mark.column {
                notes.append(Diagnostic.Note(context.text, at: location(context.mark)))
            }
            reader.emit(.yamlSyntax(problem), at: location(mark), notes: notes)
        case .reader(let problem, let offset, _, _):
            reader.emit(.yamlSyntax(problem), at: offset.map { lineColumn(ofByteOffset: $0, in: file) })
        case .duplicatedKeysInMapping(let duplicates, let context):
            let key = duplicates.first ?? "?"
            let first = location(context.mark)
            if let second = secondOccurrence(of: key, after: context.mark, in: file) {
                reader.emit(.duplicateKey(key), at: second, notes: [Diagnostic.Note("'\(key)' is first set here", at: first)])
            } else {
                reader.emit(.duplicateKey(key), at: first)
            }
        default:
            reader.emit(.yamlSyntax(error.description), at: SourceLocation(file: file.path, line: 1, column: 1))
        }
    }

    /// Yams reports the first of two duplicate keys; the second, at the same column further down, is
    /// where the mistake usually is.
    private static func secondOccurrence(of key: String, after mark: Mark, in file: SourceFile) -> SourceLocation? {
        guard mark.line >= 1 else { return nil }
        let column = mark.column - 1
        for index in mark.line..<file.lineCount {
            let scalars = Array((file.line(index + 1) ?? "").unicodeScalars)
            guard scalars.count > column else { continue }
            let prefix = scalars[..<column]
            if !prefix.allSatisfy({ $0 == " " || $0 == "-" }) { continue }
            let rest = String(String.UnicodeScalarView(scalars[column...]))
            for candidate in [key, "\"\(key)\"", "'\(key)'"] where rest.hasPrefix(candidate) {
                let after = rest.dropFirst(candidate.count).drop { $0 == " " }
                if after.hasPrefix(":") {
                    return SourceLocation(file: file.path, line: index + 1, column: mark.column)
                }
            }
            // A line at a smaller indentation ends the mapping.
            if prefix.allSatisfy({ $0 == " " }), let first = scalars.first(where: { $0 != " " }),
                scalars.firstIndex(of: first)! < column, first != "#"
            {
                return nil
            }
        }
        return nil
    }

    private static func lineColumn(ofByteOffset offset: Int, in file: SourceFile) -> SourceLocation {
        var line = 1
        var column = 1
        var consumed = 0
        for scalar in file.text.unicodeScalars {
            if consumed >= offset { break }
            consumed += String(scalar).utf8.count
            if scalar == "\n" {
                line += 1
                column = 1
            } else {
                column += 1
            }
        }
        return SourceLocation(file: file.path, line: line, column: column)
    }
}
