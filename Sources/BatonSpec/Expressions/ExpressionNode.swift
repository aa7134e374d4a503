/// A node of a parsed expression, with the range of characters it was parsed from.
struct ExpressionNode: Sendable, Hashable {
    /// A binary operator that takes exactly two operands (`&&` and `||` are n-ary ``Kind/and(_:)`` and ``Kind/or(_:)``).
    enum BinaryOperator: String, Sendable, Hashable {
        case equal = "=="
        case notEqual = "!="
        case less = "<"
        case lessOrEqual = "<="
        case greater = ">"
        case greaterOrEqual = ">="
        case `in`
    }

    /// What the node is.
    indirect enum Kind: Sendable, Hashable {
        case null
        case bool(Bool)
        case int(Int64)
        case double(Double)
        case string(String)
        case list([ExpressionNode])
        /// A root name (`inputs`, `stages`, `round`, `item`).
        case name(String)
        /// `base.field`; `fieldStart` is the offset of the field's name, where an unknown field is reported.
        case member(ExpressionNode, field: String, fieldStart: Int)
        /// `base[index]`.
        case index(ExpressionNode, ExpressionNode)
        /// `size(x)`, `has(x)`.
        case call(String, [ExpressionNode])
        /// `receiver.name(arguments)`.
        case method(ExpressionNode, String, [ExpressionNode])
        /// `!x`, `not x`.
        case not(ExpressionNode)
        /// `-x`.
        case negate(ExpressionNode)
        case binary(BinaryOperator, ExpressionNode, ExpressionNode)
        /// Operands of a chain of `&&`/`and`, kept flat so a long chain is not a deep tree.
        case and([ExpressionNode])
        /// Operands of a chain of `||`/`or`.
        case or([ExpressionNode])
    }

    /// The functions called as `name(x)`, with how many arguments each takes.
    static let functions = ["size": 1, "has": 1]
    /// The methods called as `x.name(...)`, with how many arguments each takes.
    static let methods = ["contains": 1, "startsWith": 1, "endsWith": 1, "lower": 0, "upper": 0, "size": 0]

    var kind: Kind
    /// The offset of the node's first character.
    var start: Int
    /// The offset just past its last character.
    var end: Int
    /// The height of the tree below this node (1 for a leaf), which ``ExpressionParser`` caps.
    var height: Int

    init(_ kind: Kind, start: Int, end: Int) {
        self.kind = kind
        self.start = start
        self.end = end
        self.height = 1 + (Self.children(of: kind).map(\.height).max() ?? 0)
    }

    /// The direct operands of a node.
    static func children(of kind: Kind) -> [ExpressionNode] {
        switch kind {
        case .null, .bool, .int, .double, .string, .name: []
        case .list(let items), .and(let items), .or(let items): items
        case .member(let base, _, _), .not(let base), .negate(let base): [base]
        case .index(let base, let index): [base, index]
        case .call(_, let arguments): arguments
        case .method(let receiver, _, let arguments): [receiver] + arguments
        case .binary(_, let left, let right): [left, right]
        }
    }

    /// The tree as an S-expression, for tests of precedence: `(|| a (&& b c))`; fixed paths print dotted.
    var sExpression: String {
        if let path { return PathComponent.text(of: path) }
        func list(_ head: String, _ nodes: [ExpressionNode]) -> String {
            "(" + ([head] + nodes.map(\.sExpression)).joined(separator: " ") + ")"
        }
        switch kind {
        case .null: return "null"
        case .bool(let value): return "\(value)"
        case .int(let value): return "\(value)"
        case .double(let value): return "\(value)"
        case .string(let value): return "\"" + value.replacing("\\", with: "\\\\").replacing("\"", with: "\\\"") + "\""
        case .list(let items): return list("list", items)
        case .name(let name): return name
        case .member(let base, let field, _): return list(".", [base]).dropLast() + " \(field))"
        case .index(let base, let index): return list("[]", [base, index])
        case .call(let name, let arguments): return list(name, arguments)
        case .method(let receiver, let name, let arguments): return list("." + name, [receiver] + arguments)
        case .not(let operand): return list("!", [operand])
        case .negate(let operand): return list("-", [operand])
        case .binary(let op, let left, let right): return list(op.rawValue, [left, right])
        case .and(let operands): return list("&&", operands)
        case .or(let operands): return list("||", operands)
        }
    }

    /// The fixed path this node reads (`["stages", "classify", "json", "category"]`): a root name followed by
    /// fields and literal indexes, or nil for anything computed.
    var path: [PathComponent]? {
        switch kind {
        case .name(let name): return [.field(name)]
        case .member(let base, let field, _): return base.path.map { $0 + [.field(field)] }
        case .index(let base, let index):
            switch index.kind {
            case .string(let key): return base.path.map { $0 + [.key(key)] }
            case .int(let position): return base.path.map { $0 + [.position(position)] }
            default: return nil
            }
        default: return nil
        }
    }

    /// One step of a fixed path.
    enum PathComponent: Sendable, Hashable {
        /// `.name`
        case field(String)
        /// `["key"]`
        case key(String)
        /// `[0]`
        case position(Int64)

        /// The dotted text of a path: `stages.classify.json.category`, `inputs.list[0]`, `inputs.map["a b"]`.
        static func text(of path: some Collection<PathComponent>) -> String {
            var text = ""
            for component in path {
                switch component {
                case .field(let name):
                    text += text.isEmpty ? name : "." + name
                case .key(let key) where key.isPlainName:
                    text += text.isEmpty ? key : "." + key
                case .key(let key):
                    text += "[\"" + key.replacing("\\", with: "\\\\").replacing("\"", with: "\\\"") + "\"]"
                case .position(let position):
                    text += "[\(position)]"
                }
            }
            return text
        }
    }
}

extension String {
    /// Whether the text can be written as a field name after a dot.
    var isPlainName: Bool {
        guard let first, first.isLetter || first == "_" else { return false }
        return allSatisfy { $0.isLetter || $0.isASCII && $0.isNumber || $0 == "_" || $0 == "-" } && last != "-"
    }
}
