import Foundation

/// The tokenizer of ``SnapshotJSONDecoder``: JSON text to a flat array of tokens, in one pass.
extension SnapshotJSONDecoder {
    enum Kind: UInt8 {
        case object, array, string, escapedString, number, `true`, `false`, null
    }

    /// One JSON value. Containers are followed by their members in document order (an object's members as
    /// key, value, key, value...); `next` is the index of the token after the value's whole subtree.
    struct Token {
        var kind: Kind
        /// For strings, the bytes between the quotes; for numbers, the number's bytes.
        var start: Int32
        var end: Int32
        /// Members of an object, elements of an array.
        var count: Int32
        var next: Int32
    }

    static let maximumDepth = 512

    struct Parser {
        let bytes: UnsafeBufferPointer<UInt8>
        var position = 0
        var tokens: [Token] = []

        init(bytes: UnsafeBufferPointer<UInt8>) { self.bytes = bytes }

        func fail(_ what: String) -> SnapshotJSONDecoder.Unsupported {
            SnapshotJSONDecoder.Unsupported(description: "invalid JSON at byte \(position): \(what)")
        }

        mutating func parseDocument() throws {
            try parseValue(depth: 0)
            skipWhitespace()
            guard position == bytes.count else { throw fail("text after the value") }
        }

        @inline(__always) mutating func skipWhitespace() {
            while position < bytes.count {
                switch bytes[position] {
                case 0x20, 0x0A, 0x0D, 0x09: position += 1
                default: return
                }
            }
        }

        mutating func parseValue(depth: Int) throws {
            guard depth < maximumDepth else { throw fail("nested too deeply") }
            skipWhitespace()
            guard position < bytes.count else { throw fail("unexpected end") }
            switch bytes[position] {
            case UInt8(ascii: "{"):
                let me = tokens.count
                tokens.append(Token(kind: .object, start: Int32(position), end: 0, count: 0, next: 0))
                position += 1
                var count: Int32 = 0
                skipWhitespace()
                if position < bytes.count, bytes[position] == UInt8(ascii: "}") {
                    position += 1
                } else {
                    while true {
                        skipWhitespace()
                        guard position < bytes.count, bytes[position] == UInt8(ascii: "\"") else { throw fail("expected a key") }
                        try parseString()
                        skipWhitespace()
                        guard position < bytes.count, bytes[position] == UInt8(ascii: ":") else { throw fail("expected ':'") }
                        position += 1
                        try parseValue(depth: depth + 1)
                        count += 1
                        skipWhitespace()
                        guard position < bytes.count else { throw fail("unexpected end") }
                        if bytes[position] == UInt8(ascii: ",") {
                            position += 1
                        } else if bytes[position] == UInt8(ascii: "}") {
                            position += 1
                            break
                        } else {
                            throw fail("expected ',' or '}'")
                        }
                    }
                }
                tokens[me].count = count
                tokens[me].end = Int32(position)
                tokens[me].next = Int32(tokens.count)
            case UInt8(ascii: "["):
                let me = tokens.count
                tokens.append(Token(kind: .array, start: Int32(position), end: 0, count: 0, next: 0))
                position += 1
                var count: Int32 = 0
                skipWhitespace()
                if position < bytes.count, bytes[position] == UInt8(ascii: "]") {
                    position += 1
                } else {
                    while true {
                        try parseValue(depth: depth + 1)
                        count += 1
                        skipWhitespace()
                        guard position < bytes.count else { throw fail("unexpected end") }
                        if bytes[position] == UInt8(ascii: ",") {
                            position += 1
                        } else if bytes[position] == UInt8(ascii: "]") {
                            position += 1
                            break
                        } else {
                            throw fail("expected ',' or ']'")
                        }
                    }
                }
                tokens[me].count = count
                tokens[me].end = Int32(position)
                tokens[me].next = Int32(tokens.count)
            case UInt8(ascii: "\""):
                try parseString()
            case UInt8(ascii: "t"):
                try literal("true", .true)
            case UInt8(ascii: "f"):
                try literal("false", .false)
            case UInt8(ascii: "n"):
                try literal("null", .null)
            case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"):
                try parseNumber()
            default:
                throw fail("unexpected character")
            }
        }

        mutating func literal(_ word: StaticString, _ kind: Kind) throws {
            let length = word.utf8CodeUnitCount
            guard position + length <= bytes.count,
                memcmp(bytes.baseAddress! + position, word.utf8Start, length) == 0
            else { throw fail("unexpected word") }
            tokens.append(Token(kind: kind, start: Int32(position), end: Int32(position + length), count: 0, next: Int32(tokens.count + 1)))
            position += length
        }

        /// A number as JSON's grammar spells it: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
        mutating func parseNumber() throws {
            let start = position
            func digits() -> Int {
                let first = position
                while position < bytes.count, bytes[position] &- UInt8(ascii: "0") < 10 { position += 1 }
                return position - first
            }
            if bytes[position] == UInt8(ascii: "-") { position += 1 }
            let integerStart = position
            let integerDigits = digits()
            guard integerDigits > 0 else { throw fail("a number without digits") }
            guard integerDigits == 1 || bytes[integerStart] != UInt8(ascii: "0") else { throw fail("a number with a leading zero") }
            if position < bytes.count, bytes[position] == UInt8(ascii: ".") {
                position += 1
                guard digits() > 0 else { throw fail("a fraction without digits") }
            }
            if position < bytes.count, bytes[position] | 0x20 == UInt8(ascii: "e") {
                position += 1
                if position < bytes.count, bytes[position] == UInt8(ascii: "+") || bytes[position] == UInt8(ascii: "-") { position += 1 }
                guard digits() > 0 else { throw fail("an exponent without digits") }
            }
            tokens.append(Token(kind: .number, start: Int32(start), end: Int32(position), count: 0, next: Int32(tokens.count + 1)))
        }

        /// A string; `position` is at its opening quote.
        mutating func parseString() throws {
            position += 1
            let start = position
            var escaped = false
            let base = UnsafeRawPointer(bytes.baseAddress!)
            while true {
                // Eight bytes at a time while none is a quote, a backslash or a control character.
                while position + 8 <= bytes.count, !Self.mayEndRun(base.loadUnaligned(fromByteOffset: position, as: UInt64.self)) {
                    position += 8
                }
                guard position < bytes.count else { throw fail("an unterminated string") }
                let byte = bytes[position]
                if byte == UInt8(ascii: "\"") { break }
                if byte == UInt8(ascii: "\\") {
                    escaped = true
                    position += 2
                    continue
                }
                guard byte >= 0x20 else { throw fail("a control character in a string") }
                position += 1
            }
            guard position < bytes.count else { throw fail("an unterminated string") }
            tokens.append(
                Token(
                    kind: escaped ? .escapedString : .string, start: Int32(start), end: Int32(position), count: 0,
                    next: Int32(tokens.count + 1)))
            position += 1
        }

        /// Whether one of the eight bytes of `word` may be a quote, a backslash or below 0x20 (never wrong
        /// when it says no; the bytes are then looked at one by one).
        @inline(__always) static func mayEndRun(_ word: UInt64) -> Bool {
            let ones: UInt64 = 0x0101_0101_0101_0101
            let highs: UInt64 = 0x8080_8080_8080_8080
            func hasZeroByte(_ value: UInt64) -> Bool { (value &- ones) & ~value & highs != 0 }
            return hasZeroByte(word ^ (ones &* 0x22)) || hasZeroByte(word ^ (ones &* 0x5C))
                || (word &- ones &* 0x20) & ~word & highs != 0
        }
    }
}
