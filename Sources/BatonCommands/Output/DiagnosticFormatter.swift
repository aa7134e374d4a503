import BatonSpec
import Foundation

/// Renders diagnostics as compiler-style text, JSON or GitHub workflow annotations.
public enum DiagnosticFormatter {
    /// The output formats of `baton validate`.
    public enum Format: String, CaseIterable, Sendable {
        /// `path:line:col: error: message [code]`, the source line and a caret, then notes.
        case text
        /// A JSON array, one object per diagnostic.
        case json
        /// `::error file=...,line=...,col=...::message` lines for GitHub Actions.
        case github
    }

    /// Compiler-style text. `sources` provides the lines shown under each diagnostic.
    public static func text(_ diagnostics: [Diagnostic], sources: [String: SourceFile], color: Bool) -> String {
        var output = ""
        for diagnostic in diagnostics {
            let label = diagnostic.severity == .error ? paint("error:", "1;31", color) : paint("warning:", "1;35", color)
            output +=
                paint(prefix(diagnostic.location), "1", color) + " \(label) "
                + paint(diagnostic.message, "1", color) + " [\(diagnostic.code)]\n"
            output += snippet(diagnostic.location, sources: sources, color: color)
            for note in diagnostic.notes {
                let place = note.location.map { paint(prefix($0), "1", color) + " " } ?? ""
                output += place + paint("note:", "1;36", color) + " \(note.message)\n"
                output += snippet(note.location, sources: sources, color: color)
            }
        }
        return output
    }

    private static func prefix(_ location: SourceLocation?) -> String {
        guard let location else { return "baton:" }
        return prefix(location)
    }

    private static func prefix(_ location: SourceLocation) -> String {
        return "\(location.file):\(location.line):\(location.column):"
    }

    private static func snippet(_ location: SourceLocation?, sources: [String: SourceFile], color: Bool) -> String {
        guard let location, let line = sources[location.file]?.line(location.line) else { return "" }
        // The caret line copies tabs so the caret lines up under the column.
        let lead = line.unicodeScalars.prefix(max(location.column - 1, 0)).map { $0 == "\t" ? "\t" : " " }.joined()
        return "\(line)\n\(lead)" + paint("^", "1;32", color) + "\n"
    }

    private static func paint(_ text: String, _ code: String, _ enabled: Bool) -> String {
        enabled ? "\u{1B}[\(code)m\(text)\u{1B}[0m" : text
    }

    /// A JSON array of diagnostics: file, line, column, severity, code, message, notes.
    public static func json(_ diagnostics: [Diagnostic]) -> String {
        struct Entry: Encodable {
            var file: String?
            var line: Int?
            var column: Int?
            var severity: String
            var code: String
            var message: String
            var notes: [NoteEntry]
        }
        struct NoteEntry: Encodable {
            var file: String?
            var line: Int?
            var column: Int?
            var message: String
        }
        let entries = diagnostics.map { diagnostic in
            Entry(
                file: diagnostic.location?.file, line: diagnostic.location?.line, column: diagnostic.location?.column,
                severity: diagnostic.severity.rawValue, code: diagnostic.code.rawValue, message: diagnostic.message,
                notes: diagnostic.notes.map {
                    NoteEntry(file: $0.location?.file, line: $0.location?.line, column: $0.location?.column, message: $0.message)
                })
        }
        return ((try? JSONOutput.text(entries)) ?? "[]") + "\n"
    }

    /// GitHub Actions workflow commands, one line per diagnostic.
    public static func github(_ diagnostics: [Diagnostic]) -> String {
        diagnostics.map { diagnostic in
            var properties: [String] = []
            if let location = diagnostic.location {
                properties += [
                    "file=\(escapeProperty(location.file))", "line=\(location.line)", "col=\(location.column)",
                ]
            }
            properties.append("title=\(escapeProperty("baton [\(diagnostic.code)]"))")
            var message = diagnostic.message
            for note in diagnostic.notes {
                message += "\nnote: \(note.message)" + (note.location.map { " (\($0))" } ?? "")
            }
            return "::\(diagnostic.severity.rawValue) \(properties.joined(separator: ","))::\(escapeData(message))"
        }.joined(separator: "\n") + (diagnostics.isEmpty ? "" : "\n")
    }

    private static func escapeData(_ text: String) -> String {
        text.replacingOccurrences(of: "%", with: "%25").replacingOccurrences(of: "\r", with: "%0D")
            .replacingOccurrences(of: "\n", with: "%0A")
    }

    private static func escapeProperty(_ text: String) -> String {
        escapeData(text).replacingOccurrences(of: ":", with: "%3A").replacingOccurrences(of: ",", with: "%2C")
    }
}
