/// One problem found in a pipeline or profile file, with where it is and how bad it is.
///
/// Diagnostics are values: the spec layer collects them and the command layer prints them. Their
/// wording lives in one catalog, ``Diagnostic/Message``.
public struct Diagnostic: Sendable, Hashable, Codable {
    /// How bad a diagnostic is.
    public enum Severity: String, Sendable, Hashable, Codable, Comparable {
        /// Makes the file invalid.
        case error
        /// Worth fixing; an error under `--strict`.
        case warning

        public static func < (lhs: Severity, rhs: Severity) -> Bool {
            lhs == .error && rhs == .warning
        }
    }

    /// A related place, printed after the diagnostic (`note: stage 'plan' is declared here`).
    public struct Note: Sendable, Hashable, Codable {
        /// What the related place is.
        public var message: String
        /// Where it is, if known.
        public var location: SourceLocation?

        /// Creates a note.
        public init(_ message: String, at location: SourceLocation?) {
            self.message = message
            self.location = location
        }
    }

    /// Error or warning.
    public var severity: Severity
    /// The stable kebab-case identifier of the check (`unknown-key`, `cycle`, ...).
    public var code: Code
    /// The text, lower-case start, no final period; a fix hint follows a semicolon.
    public var message: String
    /// Where the problem is; nil only for problems of a whole file that has no text.
    public var location: SourceLocation?
    /// Related places.
    public var notes: [Note]

    /// Creates a diagnostic from a catalog message.
    public init(_ message: Message, at location: SourceLocation?, notes: [Note] = []) {
        self.severity = message.severity
        self.code = message.code
        self.message = message.text
        self.location = location
        self.notes = notes
    }

    /// The same diagnostic as an error (for `--strict`).
    public func promotedToError() -> Diagnostic {
        var copy = self
        copy.severity = .error
        return copy
    }
}

extension Diagnostic {
    /// The stable identifier of a check, printed in brackets after a message.
    public struct Code: RawRepresentable, Sendable, Hashable, Codable, CustomStringConvertible,
        ExpressibleByStringLiteral
    {
        /// The kebab-case identifier.
        public var rawValue: String

        /// Creates a code from its identifier.
        public init(rawValue: String) { self.rawValue = rawValue }

        /// Creates a code from a string literal.
        public init(stringLiteral value: String) { self.rawValue = value }

        public var description: String { rawValue }

        public init(from decoder: any Decoder) throws {
            rawValue = try decoder.singleValueContainer().decode(String.self)
        }

        public func encode(to encoder: any Encoder) throws {
            var container = encoder.singleValueContainer()
            try container.encode(rawValue)
        }
    }

    /// A catalog entry: the text of a diagnostic together with its code and severity.
    public struct Message: Sendable, Hashable {
        /// The check's code.
        public var code: Code
        /// Error or warning.
        public var severity: Severity
        /// The text.
        public var text: String

        /// Creates a message.
        public init(_ code: Code, _ severity: Severity, _ text: String) {
            self.code = code
            self.severity = severity
            self.text = text
        }

        /// Creates an error message.
        public init(_ code: Code, _ text: String) {
            self.init(code, .error, text)
        }
    }
}

extension Array where Element == Diagnostic {
    /// Whether any diagnostic is an error.
    public var hasErrors: Bool { contains { $0.severity == .error } }

    /// Sorted by file, line and column; diagnostics without a location first.
    public func sortedByLocation() -> [Diagnostic] {
        enumerated().sorted { lhs, rhs in
            switch (lhs.element.location, rhs.element.location) {
            case (nil, nil): return lhs.offset < rhs.offset
            case (nil, _): return true
            case (_, nil): return false
            case (let l?, let r?): return l == r ? lhs.offset < rhs.offset : l < r
            }
        }.map(\.element)
    }
}
