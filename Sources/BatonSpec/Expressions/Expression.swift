/// A condition or value written in Baton's expression language (docs/expressions.md): its text and its parsed tree.
///
/// Parsing needs no scope; ``check(in:)`` types the expression against the names where it is written, and
/// ``evaluate(_:)`` computes it from the values of those names. Encoded as its plain text.
public struct Expression: Sendable, Hashable, Codable, CustomStringConvertible {
    /// The text as written.
    public let text: String
    let root: ExpressionNode
    private let characters: ExpressionText

    private init(text: String, characters: ExpressionText, root: ExpressionNode) {
        self.text = text
        self.characters = characters
        self.root = root
    }

    /// Parses `text`; errors are `expression-syntax`, `expression-limit`, `unknown-function` (with a did-you-mean)
    /// and `expression-type` for a function given the wrong number of arguments.
    public static func parse(_ text: String) throws(ExpressionError) -> Expression {
        let characters = ExpressionText(text)
        return Expression(text: text, characters: characters, root: try ExpressionParser.parse(characters))
    }

    /// The text as written.
    public var description: String { text }

    /// The parsed tree as an S-expression (`(|| a (&& b c))`), for tests of the grammar.
    package var tree: String { root.sExpression }

    // MARK: - Checking

    /// The type of the expression in `scope`, and every error found (sorted by position; empty when it is well typed).
    public func check(in scope: ExpressionScope) -> (type: ExpressionType, errors: [ExpressionError]) {
        var checker = ExpressionChecker(text: characters, scope: scope)
        let type = checker.type(of: root)
        return (type, Self.sorted(checker.errors))
    }

    /// The errors of the expression used as a condition in `scope`: those of ``check(in:)``, and an
    /// `expression-type` error when it is not a bool (no truthiness: a string or a number is not a condition).
    public func checkCondition(in scope: ExpressionScope) -> [ExpressionError] {
        var checker = ExpressionChecker(text: characters, scope: scope)
        let type = checker.type(of: root)
        if checker.errors.isEmpty { checker.requireCondition(root, type) }
        return Self.sorted(checker.errors)
    }

    /// Every fixed name path the expression reads, in order of first appearance and without repeats:
    /// `["stages", "classify", "json", "category"]`. A path stops before its first numeric or computed index
    /// (`inputs.items[0].title` reads `["inputs", "items"]`).
    public var references: [[String]] {
        var paths: [[String]] = []
        var pending = [root]
        // Depth first, left to right, without recursion.
        while let node = pending.popLast() {
            if let path = node.path {
                var names: [String] = []
                loop: for component in path {
                    switch component {
                    case .field(let name), .key(let name): names.append(name)
                    case .position: break loop
                    }
                }
                if !paths.contains(names) { paths.append(names) }
            } else {
                pending.append(contentsOf: ExpressionNode.children(of: node.kind).reversed())
            }
        }
        return paths
    }

    // MARK: - Evaluating

    /// The value of the expression, given the values of its root names (`["inputs": ..., "stages": ..., "round": 2]`).
    ///
    /// Errors are `absent-value` (a path with nothing at its end, named; `has()` never fails) and `expression-type`
    /// (an operator given a value of the wrong type, which the checker cannot rule out for values of type `any`).
    public func evaluate(_ values: [String: JSONValue]) throws(ExpressionError) -> JSONValue {
        var evaluator = ExpressionEvaluator(text: characters, values: values)
        return try evaluator.evaluate(root)
    }

    /// The value of the expression and the values it read on the way, by dotted path
    /// (`"stages.classify.json.category": "billing"`), for the record of a decided condition.
    public func evaluateRecording(_ values: [String: JSONValue]) throws(ExpressionError) -> ExpressionEvaluation {
        var evaluator = ExpressionEvaluator(text: characters, values: values)
        let value = try evaluator.evaluate(root)
        return ExpressionEvaluation(value: value, seen: evaluator.seen)
    }

    /// The value of the expression as a condition: an `expression-type` error unless it is `true` or `false`.
    public func evaluateCondition(_ values: [String: JSONValue]) throws(ExpressionError) -> Bool {
        let value = try evaluate(values)
        guard case .bool(let result) = value else {
            let end = characters.characters.count
            throw ExpressionError(
                .expressionConditionNotBool(text, ExpressionEvaluator.phrase(value)), start: 0, end: end, in: characters)
        }
        return result
    }

    // MARK: - Equality and coding

    public static func == (lhs: Expression, rhs: Expression) -> Bool { lhs.text == rhs.text }

    public func hash(into hasher: inout Hasher) { hasher.combine(text) }

    /// Decodes the plain text and parses it; a text that does not parse is a `DecodingError` quoting the error.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        let text = try container.decode(String.self)
        do {
            self = try Expression.parse(text)
        } catch {
            throw DecodingError.dataCorruptedError(in: container, debugDescription: "expression '\(text)': \(error)")
        }
    }

    /// Encodes the plain text.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(text)
    }

    private static func sorted(_ errors: [ExpressionError]) -> [ExpressionError] {
        errors.enumerated().sorted { ($0.element.line, $0.element.column, $0.offset) < ($1.element.line, $1.element.column, $1.offset) }
            .map(\.element)
    }
}
