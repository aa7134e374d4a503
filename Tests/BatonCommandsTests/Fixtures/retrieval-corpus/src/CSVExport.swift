import Foundation

/// Writes rows as CSV (RFC 4180): fields separated by commas, records by CRLF.
///
/// A field is quoted when it contains a comma, a double quote, a carriage return or a
/// line feed; a double quote inside a quoted field is written twice. Fields that start
/// with `=`, `+`, `-` or `@` get a leading apostrophe so spreadsheet programs do not
/// evaluate them as formulas (CSV injection).
struct CSVExport {
    var header: [String]

    func render(_ rows: [[String]]) -> String {
        ([header] + rows).map { row in row.map(Self.field).joined(separator: ",") }
            .joined(separator: "\r\n") + "\r\n"
    }

    static func field(_ value: String) -> String {
        var text = value
        if let first = text.first, "=+-@".contains(first) { text = "'" + text }
        guard text.contains(where: { ",\"\r\n".contains($0) }) else { return text }
        return "\"" + text.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }
}
