import Foundation

/// A JSON path of the subset of RFC 9535 that test files use: `$`, `.name`, `['name']`, `[N]` (negative from the end),
/// `[*]` and `.*`.
public struct JSONPath: Sendable, Hashable, CustomStringConvertible {
    /// One step of a path.
    public enum Segment: Sendable, Hashable {
        /// The member of an object.
        case name(String)
        /// The element of an array; negative counts from the end (`-1` is the last).
        case index(Int)
        /// Every element of an array or every member value of an object.
        case wildcard
    }

    /// Why a path does not parse, and where.
    public struct ParseError: Error, Sendable, Hashable, CustomStringConvertible {
        /// The 1-based column in the path text.
        public var column: Int
        /// What is wrong, lower-case start.
        public var message: String

        /// An error at `column`.
        public init(column: Int, message: String) {
            self.column = column
            self.message = message
        }

        public var description: String { "column \(column): \(message)" }
    }

    /// The steps after `$`.
    public var segments: [Segment]

    /// A path of the given steps.
    public init(segments: [Segment]) {
        self.segments = segments
    }

    /// Parses `text`, which starts with `$`.
    public init(parsing text: String) throws(ParseError) {
        var parser = Parser(characters: Array(text))
        segments = try parser.parse()
    }

    /// The path written back in its canonical form (`$.a[0]['b c'][*]`).
    public var description: String {
        var text = "$"
        for segment in segments {
            switch segment {
            case .name(let name) where Parser.isPlainName(name): text += ".\(name)"
            case .name(let name):
                text += "['\(name.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "'", with: "\\'"))']"
            case .index(let index): text += "[\(index)]"
            case .wildcard: text += "[*]"
            }
        }
        return text
    }

    /// The values the path selects in `value`, in document order; empty when nothing matches.
    public func select(in value: JSONValue) -> [JSONValue] {
        var current = [value]
        for segment in segments {
            current = current.flatMap { node -> [JSONValue] in
                switch (segment, node) {
                case (.name(let name), .object(let pairs)):
                    return pairs.first { $0.key == name }.map { [$0.value] } ?? []
                case (.index(let index), .array(let items)):
                    let position = index < 0 ? items.count + index : index
                    return items.indices.contains(position) ? [items[position]] : []
                case (.wildcard, .array(let items)):
                    return items
                case (.wildcard, .object(let pairs)):
                    return pairs.map(\.value)
                default:
                    return []
                }
            }
        }
        return current
    }

    private struct Parser {
        let characters: [Character]
        var position = 0

        static func isNameStart(_ character: Character) -> Bool {
            character == "_" || (character.isLetter) || !character.isASCII
        }

        static func isNameCharacter(_ character: Character) -> Bool {
            isNameStart(character) || character.isASCII && character.isNumber
        }

        static func isPlainName(_ name: String) -> Bool {
            guard let first = name.first, isNameStart(first) else { return false }
            return name.allSatisfy(isNameCharacter)
        }

        func error(_ message: String, at index: Int? = nil) -> ParseError {
            ParseError(column: (index ?? position) + 1, message: message)
        }

        var current: Character? { position < characters.count ? characters[position] : nil }

        mutating func parse() throws(ParseError) -> [Segment] {
            guard current == "$" else {
                throw error(current == nil ? "the path is empty; start it with '$'" : "a path starts with '$', not '\(current!)'")
            }
            position += 1
            var segments: [Segment] = []
            while let character = current {
                switch character {
                case ".":
                    position += 1
                    segments.append(try dotSegment())
                case "[":
                    position += 1
                    segments.append(try bracketSegment())
                default:
                    throw error("expected '.' or '[' after a step, found '\(character)'")
                }
            }
            return segments
        }

        mutating func dotSegment() throws(ParseError) -> Segment {
            guard let first = current else { throw error("'.' must be followed by a member name or '*'") }
            if first == "*" {
                position += 1
                return .wildcard
            }
            if first == "." { throw error("'..' (descendants) is not supported; write each step") }
            guard Self.isNameStart(first) else {
                throw error("'\(first)' cannot start a member name after '.'; write ['\(first)...'] for other names")
            }
            let start = position
            while let character = current, Self.isNameCharacter(character) { position += 1 }
            return .name(String(characters[start..<position]))
        }

        mutating func bracketSegment() throws(ParseError) -> Segment {
            let open = position - 1
            guard let first = current else { throw error("'[' is never closed with ']'", at: open) }
            let segment: Segment
            switch first {
            case "*":
                position += 1
                segment = .wildcard
            case "'", "\"":
                segment = .name(try quotedName(quote: first))
            case "-", "0"..."9":
                segment = .index(try index())
            default:
                throw error("expected a quoted name, a whole number or '*' after '[', found '\(first)'")
            }
            guard current == "]" else {
                if current == nil { throw error("'[' is never closed with ']'", at: open) }
                let found = current!
                throw error(
                    found == ":"
                        ? "slices ('[a:b]') are not supported"
                        : found == ","
                            ? "unions ('[a,b]') are not supported"
                            : "expected ']', found '\(found)'")
            }
            position += 1
            return segment
        }

        mutating func quotedName(quote: Character) throws(ParseError) -> String {
            let open = position
            position += 1
            var name = ""
            while let character = current {
                position += 1
                if character == quote { return name }
                if character == "\\" {
                    guard let escaped = current else { break }
                    position += 1
                    switch escaped {
                    case "\\", "'", "\"", "/": name.append(escaped)
                    case "n": name.append("\n")
                    case "t": name.append("\t")
                    default:
                        throw error("'\\\(escaped)' is not an escape a path name takes; use \\\\, \\', \\\", \\n or \\t", at: position - 2)
                    }
                } else {
                    name.append(character)
                }
            }
            throw error("the quoted name is never closed with \(quote)", at: open)
        }

        mutating func index() throws(ParseError) -> Int {
            let start = position
            if current == "-" { position += 1 }
            let digitsStart = position
            while let character = current, character.isASCII, character.isNumber { position += 1 }
            let text = String(characters[start..<position])
            guard position > digitsStart, let value = Int(text) else {
                throw error("'\(text)' is not a whole number", at: start)
            }
            if characters[digitsStart] == "0", position - digitsStart > 1 {
                throw error("an index has no leading zeros ('\(text)')", at: start)
            }
            if text == "-0" { throw error("'-0' is not an index; the last element is -1", at: start) }
            return value
        }
    }
}

/// What the values a ``JSONPath`` selects must meet.
public enum JSONPathExpectation: Sendable, Hashable {
    /// `true`: at least one value is selected; `false`: none is.
    case exists(Bool)
    /// At least one selected value equals this (as JSON).
    case equals(JSONValue)
    /// At least one selected value is text containing this (other values as their JSON text).
    case contains(String)
    /// At least one selected value is text the pattern matches somewhere (other values as their JSON text).
    case regex(String)
}
