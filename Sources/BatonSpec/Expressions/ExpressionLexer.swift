/// Splits an expression's text into tokens.
struct ExpressionLexer {
    private let text: ExpressionText
    private var characters: [Character] { text.characters }
    private var offset = 0

    init(_ text: ExpressionText) {
        self.text = text
    }

    /// All tokens, ending with ``ExpressionToken/Kind/end``.
    mutating func tokens() throws(ExpressionError) -> [ExpressionToken] {
        var tokens: [ExpressionToken] = []
        while true {
            let token = try next()
            tokens.append(token)
            if token.kind == .end { return tokens }
        }
    }

    private mutating func next() throws(ExpressionError) -> ExpressionToken {
        while offset < characters.count, characters[offset].isWhitespace { offset += 1 }
        let start = offset
        guard offset < characters.count else { return ExpressionToken(kind: .end, start: start, end: start) }
        let character = characters[offset]
        if character.isLetter || character == "_" { return identifier() }
        if character.isASCII, character.isNumber { return try number() }
        if character == "'" || character == "\"" { return try string(quote: character) }
        let pair = offset + 1 < characters.count ? String([character, characters[offset + 1]]) : ""
        if ["||", "&&", "==", "!=", "<=", ">="].contains(pair) {
            offset += 2
            return ExpressionToken(kind: .symbol(pair), start: start, end: offset)
        }
        if "!<>-.,()[]".contains(character) {
            offset += 1
            return ExpressionToken(kind: .symbol(String(character)), start: start, end: offset)
        }
        throw ExpressionError(.expressionUnexpectedCharacter(character), start: start, end: start + 1, in: text)
    }

    /// A name: a letter or `_`, then letters, digits, `_`, and `-` between them, as stage and input names are
    /// written (`stages.draft-2.output`); with no subtraction in the language, `a-b` cannot mean anything else.
    private mutating func identifier() -> ExpressionToken {
        let start = offset
        offset += 1
        while offset < characters.count {
            let character = characters[offset]
            if character.isLetter || character.isASCII && character.isNumber || character == "_" {
                offset += 1
            } else if character == "-", offset + 1 < characters.count, Self.continuesName(characters[offset + 1]) {
                offset += 1
            } else {
                break
            }
        }
        return ExpressionToken(kind: .identifier(text.slice(start, offset)), start: start, end: offset)
    }

    private static func continuesName(_ character: Character) -> Bool {
        character.isLetter || character.isASCII && character.isNumber || character == "_"
    }

    /// `12`, `0.5`: digits, then optionally `.` and digits.
    private mutating func number() throws(ExpressionError) -> ExpressionToken {
        let start = offset
        while offset < characters.count, characters[offset].isASCII, characters[offset].isNumber { offset += 1 }
        var isDecimal = false
        if offset + 1 < characters.count, characters[offset] == ".", characters[offset + 1].isASCII, characters[offset + 1].isNumber {
            isDecimal = true
            offset += 1
            while offset < characters.count, characters[offset].isASCII, characters[offset].isNumber { offset += 1 }
        }
        // `1abc`, `1.2.3` and `1.x` are one mistake, reported whole.
        if offset < characters.count, Self.continuesName(characters[offset]) || characters[offset] == "." && isDecimal {
            while offset < characters.count, Self.continuesName(characters[offset]) || characters[offset] == "." { offset += 1 }
            throw ExpressionError(.expressionBadNumber(text.slice(start, offset)), start: start, end: offset, in: text)
        }
        let literal = text.slice(start, offset)
        if isDecimal {
            // Hundreds of digits read as infinity, which no JSON value holds.
            guard let value = Double(literal), value.isFinite else {
                throw ExpressionError(.expressionNumberTooLarge(literal), start: start, end: offset, in: text)
            }
            return ExpressionToken(kind: .double(value), start: start, end: offset)
        }
        guard let value = Int64(literal) else {
            throw ExpressionError(.expressionNumberTooLarge(literal), start: start, end: offset, in: text)
        }
        return ExpressionToken(kind: .int(value), start: start, end: offset)
    }

    /// `'…'` or `"…"` on one line, with the escapes `\\ \" \' \n \t`.
    private mutating func string(quote: Character) throws(ExpressionError) -> ExpressionToken {
        let start = offset
        offset += 1
        var value = ""
        while offset < characters.count {
            let character = characters[offset]
            if character == quote {
                offset += 1
                return ExpressionToken(kind: .string(value), start: start, end: offset)
            }
            if character.isNewline { break }
            if character == "\\" {
                guard offset + 1 < characters.count, !characters[offset + 1].isNewline else { break }
                let escaped = characters[offset + 1]
                switch escaped {
                case "\\", "\"", "'": value.append(escaped)
                case "n": value.append("\n")
                case "t": value.append("\t")
                default:
                    throw ExpressionError(.expressionBadEscape("\\\(escaped)"), start: offset, end: offset + 2, in: text)
                }
                offset += 2
                continue
            }
            value.append(character)
            offset += 1
        }
        throw ExpressionError(.expressionUnterminatedString(quote: quote), start: start, end: offset, in: text)
    }
}
