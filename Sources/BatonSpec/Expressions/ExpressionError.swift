/// A problem with an expression: it does not parse, does not type-check, or could not be evaluated.
///
/// The position is inside the expression's own text; the caller maps it into the file the expression was
/// written in.
public struct ExpressionError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The kebab-case diagnostic id (`expression-syntax`, `expression-type`, `unknown-name`, ...).
    public var code: Diagnostic.Code
    /// The text: lower-case start, names the thing, the fix after a `;`.
    public var message: String
    /// The line of the culprit inside the expression text, from 1.
    public var line: Int
    /// The column of the culprit inside its line, from 1, in characters.
    public var column: Int
    /// How many characters the culprit spans (at least 1).
    public var length: Int
    /// ``column`` counted in Unicode scalars, as a YAML file's columns are (``SourceLocation``): use it to map the
    /// position into the file. It differs from ``column`` only after a character made of several scalars.
    public var scalarColumn: Int

    /// Creates an error from its parts; `scalarColumn` defaults to `column`.
    public init(code: Diagnostic.Code, message: String, line: Int, column: Int, length: Int, scalarColumn: Int? = nil) {
        self.code = code
        self.message = message
        self.line = line
        self.column = column
        self.length = length
        self.scalarColumn = scalarColumn ?? column
    }

    /// Creates an error from a catalog message and the character range `start..<end` of `text`.
    init(_ message: Diagnostic.Message, start: Int, end: Int, in text: ExpressionText) {
        let (line, column, scalarColumn) = text.position(of: start)
        self.init(
            code: message.code, message: message.text, line: line, column: column, length: max(1, end - start),
            scalarColumn: scalarColumn)
    }

    /// The catalog message, for a ``Diagnostic`` at the expression's place in its file.
    public var diagnosticMessage: Diagnostic.Message { Diagnostic.Message(code, .error, message) }

    /// `line:column: message [code]`.
    public var description: String { "\(line):\(column): \(message) [\(code)]" }
}
