/// A token of an expression's text.
struct ExpressionToken: Sendable, Hashable {
    /// What the token is.
    enum Kind: Sendable, Hashable {
        /// A name, or one of the words `true`, `false`, `null`, `and`, `or`, `not`, `in`.
        case identifier(String)
        case int(Int64)
        case double(Double)
        case string(String)
        /// An operator or punctuation: `||`, `&&`, `!`, `==`, `!=`, `<`, `<=`, `>`, `>=`, `-`, `.`, `,`, `(`, `)`, `[`, `]`.
        case symbol(String)
        /// Past the last character.
        case end
    }

    var kind: Kind
    /// The offset of the first character.
    var start: Int
    /// The offset past the last character.
    var end: Int

    /// Whether this is the symbol `text`.
    func isSymbol(_ text: String) -> Bool { kind == .symbol(text) }

    /// Whether this is the identifier `word` (`and`, `or`, `not`, `in`, ...).
    func isWord(_ word: String) -> Bool { kind == .identifier(word) }

    /// How the token reads in a message: `')'`, `'foo'`, `the end of the expression`.
    var quoted: String {
        switch kind {
        case .identifier(let name): "'\(name)'"
        case .int(let value): "'\(value)'"
        case .double(let value): "'\(value)'"
        case .string: "a string"
        case .symbol(let symbol): "'\(symbol)'"
        case .end: "the end of the expression"
        }
    }
}
