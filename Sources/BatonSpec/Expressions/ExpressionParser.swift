/// Parses an expression's tokens into a tree, by recursive descent over the grammar in docs/expressions.md.
///
/// Hostile texts are bounded: at most ``maxLength`` characters, and no tree or recursion deeper than
/// ``maxDepth``, so neither this parser nor the checker and evaluator that walk the tree can run out of stack.
struct ExpressionParser {
    /// The longest expression text read, in characters.
    static let maxLength = 4096
    /// The deepest nesting read: parentheses, prefix operators, and the height of the tree.
    static let maxDepth = 64

    private let text: ExpressionText
    private let tokens: [ExpressionToken]
    private var position = 0
    private var depth = 0

    private init(text: ExpressionText, tokens: [ExpressionToken]) {
        self.text = text
        self.tokens = tokens
    }

    /// The tree of `text`.
    static func parse(_ text: ExpressionText) throws(ExpressionError) -> ExpressionNode {
        let count = text.characters.count
        guard count <= maxLength else {
            throw ExpressionError(.expressionTooLong(count, limit: maxLength), start: maxLength, end: count, in: text)
        }
        var lexer = ExpressionLexer(text)
        let tokens = try lexer.tokens()
        guard tokens[0].kind != .end else {
            throw ExpressionError(.expressionEmpty, start: 0, end: max(1, count), in: text)
        }
        var parser = ExpressionParser(text: text, tokens: tokens)
        let node = try parser.parseOr()
        guard parser.current.kind == .end else {
            throw parser.unexpected(expected: "an operator or the end of the expression")
        }
        return node
    }

    // MARK: - Grammar

    /// `Or = And { ("||" | "or") And }`
    private mutating func parseOr() throws(ExpressionError) -> ExpressionNode {
        try descend()
        defer { depth -= 1 }
        var operands = [try parseAnd()]
        while current.isSymbol("||") || current.isWord("or") {
            advance()
            operands.append(try parseAnd())
        }
        return operands.count == 1 ? operands[0] : try make(.or(operands), operands[0].start, operands[operands.count - 1].end)
    }

    /// `And = Not { ("&&" | "and") Not }`
    private mutating func parseAnd() throws(ExpressionError) -> ExpressionNode {
        var operands = [try parseNot()]
        while current.isSymbol("&&") || current.isWord("and") {
            advance()
            operands.append(try parseNot())
        }
        return operands.count == 1 ? operands[0] : try make(.and(operands), operands[0].start, operands[operands.count - 1].end)
    }

    /// `Not = ("!" | "not") Not | Relation`
    private mutating func parseNot() throws(ExpressionError) -> ExpressionNode {
        guard current.isSymbol("!") || current.isWord("not") else { return try parseRelation() }
        let start = advance().start
        try descend()
        defer { depth -= 1 }
        let operand = try parseNot()
        return try make(.not(operand), start, operand.end)
    }

    /// `Relation = Negation [ RelOp Negation ]`: comparisons do not chain.
    private mutating func parseRelation() throws(ExpressionError) -> ExpressionNode {
        let left = try parseNegation()
        guard let op = relation(current) else { return left }
        advance()
        let right = try parseNegation()
        if relation(current) != nil {
            throw ExpressionError(.expressionChainedComparison, start: current.start, end: current.end, in: text)
        }
        return try make(.binary(op, left, right), left.start, right.end)
    }

    /// `Negation = "-" Negation | Postfix`; the minus of a number literal is folded into it.
    private mutating func parseNegation() throws(ExpressionError) -> ExpressionNode {
        guard current.isSymbol("-") else { return try parsePostfix() }
        let start = advance().start
        try descend()
        defer { depth -= 1 }
        let operand = try parseNegation()
        switch operand.kind {
        case .int(let value): return try make(.int(-value), start, operand.end)
        case .double(let value): return try make(.double(-value), start, operand.end)
        default: return try make(.negate(operand), start, operand.end)
        }
    }

    /// `Postfix = Primary { "." Name [ "(" [ Arguments ] ")" ] | "[" Or "]" }`
    private mutating func parsePostfix() throws(ExpressionError) -> ExpressionNode {
        var node = try parsePrimary()
        while true {
            if current.isSymbol(".") {
                advance()
                guard case .identifier(let name) = current.kind else {
                    throw unexpected(expected: "a field name after '.'")
                }
                let nameToken = advance()
                if current.isSymbol("(") {
                    let (arguments, end) = try parseArguments()
                    try checkCall(
                        name, arguments, nameStart: nameToken.start, nameEnd: nameToken.end, callEnd: end, known: ExpressionNode.methods)
                    node = try make(.method(node, name, arguments), node.start, end, culprit: nameToken.start)
                } else {
                    node = try make(
                        .member(node, field: name, fieldStart: nameToken.start), node.start, nameToken.end, culprit: nameToken.start)
                }
            } else if current.isSymbol("[") {
                let open = advance()
                let index = try parseOr()
                let close = try expectClosing("]", opened: open)
                node = try make(.index(node, index), node.start, close.end, culprit: open.start)
            } else {
                return node
            }
        }
    }

    /// `Primary = Literal | Name [ "(" [ Arguments ] ")" ] | "(" Or ")" | "[" [ Or { "," Or } [ "," ] ] "]"`
    private mutating func parsePrimary() throws(ExpressionError) -> ExpressionNode {
        let token = current
        switch token.kind {
        case .int(let value):
            advance()
            return try make(.int(value), token.start, token.end)
        case .double(let value):
            advance()
            return try make(.double(value), token.start, token.end)
        case .string(let value):
            advance()
            return try make(.string(value), token.start, token.end)
        case .identifier(let name):
            switch name {
            case "true", "false":
                advance()
                return try make(.bool(name == "true"), token.start, token.end)
            case "null":
                advance()
                return try make(.null, token.start, token.end)
            case "and", "or", "not", "in":
                throw unexpected(expected: "a value")
            default:
                advance()
                guard current.isSymbol("(") else { return try make(.name(name), token.start, token.end) }
                let (arguments, end) = try parseArguments()
                try checkCall(name, arguments, nameStart: token.start, nameEnd: token.end, callEnd: end, known: ExpressionNode.functions)
                if name == "has" {
                    guard arguments.count == 1, let path = arguments[0].path, path.count > 1 else {
                        let culprit = arguments.first.map { ($0.start, $0.end) } ?? (token.start, end)
                        throw ExpressionError(.expressionHasArgument, start: culprit.0, end: culprit.1, in: text)
                    }
                }
                return try make(.call(name, arguments), token.start, end)
            }
        case .symbol("("):
            advance()
            var inner = try parseOr()
            let close = try expectClosing(")", opened: token)
            // The parentheses belong to the operand as written, so messages quote `(a || b)` whole.
            inner.start = token.start
            inner.end = close.end
            return inner
        case .symbol("["):
            advance()
            try descend()
            defer { depth -= 1 }
            var items: [ExpressionNode] = []
            while !current.isSymbol("]") {
                items.append(try parseOr())
                guard current.isSymbol(",") else { break }
                advance()
            }
            let close = try expectClosing("]", opened: token, expected: "',' or ']'")
            return try make(.list(items), token.start, close.end)
        default:
            throw unexpected(expected: "a value")
        }
    }

    /// `"(" [ Or { "," Or } ] ")"`, returning the arguments and the offset past `)`.
    private mutating func parseArguments() throws(ExpressionError) -> ([ExpressionNode], Int) {
        let open = advance()
        try descend()
        defer { depth -= 1 }
        var arguments: [ExpressionNode] = []
        if !current.isSymbol(")") {
            arguments.append(try parseOr())
            while current.isSymbol(",") {
                advance()
                arguments.append(try parseOr())
            }
        }
        let close = try expectClosing(")", opened: open, expected: "',' or ')'")
        return (arguments, close.end)
    }

    // MARK: - Helpers

    private var current: ExpressionToken { tokens[position] }

    /// Refuses a function the language does not have, or one called with the wrong number of arguments: neither
    /// depends on the scope, so the checker and the evaluator can rely on both.
    private func checkCall(
        _ name: String, _ arguments: [ExpressionNode], nameStart: Int, nameEnd: Int, callEnd: Int, known: [String: Int]
    ) throws(ExpressionError) {
        guard let expected = known[name] else {
            let names = Array(ExpressionNode.functions.keys) + Array(ExpressionNode.methods.keys)
            let suggestion = Suggestion.closest(to: name, in: Set(names).sorted())
            throw ExpressionError(.unknownExpressionFunction(name, suggestion: suggestion), start: nameStart, end: nameEnd, in: text)
        }
        guard arguments.count == expected else {
            throw ExpressionError(
                .expressionArgumentCount(name, expected: expected, found: arguments.count), start: nameStart, end: callEnd, in: text)
        }
    }

    @discardableResult
    private mutating func advance() -> ExpressionToken {
        let token = tokens[position]
        if position < tokens.count - 1 { position += 1 }
        return token
    }

    private func relation(_ token: ExpressionToken) -> ExpressionNode.BinaryOperator? {
        if token.isWord("in") { return .in }
        guard case .symbol(let symbol) = token.kind else { return nil }
        return ExpressionNode.BinaryOperator(rawValue: symbol)
    }

    /// Consumes `symbol`, or fails: at the opening token when the text ended, else at what is there instead.
    private mutating func expectClosing(
        _ symbol: String, opened: ExpressionToken, expected: String? = nil
    ) throws(ExpressionError) -> ExpressionToken {
        if current.isSymbol(symbol) { return advance() }
        if current.kind == .end {
            let open = text.slice(opened.start, opened.end)
            throw ExpressionError(.expressionUnclosed(open, close: symbol), start: opened.start, end: opened.end, in: text)
        }
        throw unexpected(expected: expected ?? "'\(symbol)'")
    }

    private func unexpected(expected: String) -> ExpressionError {
        ExpressionError(.expressionUnexpectedToken(current.quoted, expected: expected), start: current.start, end: current.end, in: text)
    }

    private mutating func descend() throws(ExpressionError) {
        depth += 1
        if depth > Self.maxDepth {
            throw ExpressionError(.expressionTooDeep(limit: Self.maxDepth), start: current.start, end: current.end, in: text)
        }
    }

    /// A node, refused when the tree under it is higher than ``maxDepth``: at `culprit` (the field, index or method
    /// that went one level too deep) up to its end, or else the whole node.
    private func make(_ kind: ExpressionNode.Kind, _ start: Int, _ end: Int, culprit: Int? = nil) throws(ExpressionError) -> ExpressionNode
    {
        let node = ExpressionNode(kind, start: start, end: end)
        guard node.height <= Self.maxDepth else {
            throw ExpressionError(.expressionTooDeep(limit: Self.maxDepth), start: culprit ?? start, end: end, in: text)
        }
        return node
    }
}
