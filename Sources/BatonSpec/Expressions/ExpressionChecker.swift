/// Finds the type of an expression in a scope, collecting every type error, unknown name and unknown field.
///
/// After an error a node's type is ``ExpressionType/any``, so one mistake is reported once, not again by
/// every operator above it.
struct ExpressionChecker {
    private let text: ExpressionText
    private let scope: ExpressionScope
    private(set) var errors: [ExpressionError] = []

    init(text: ExpressionText, scope: ExpressionScope) {
        self.text = text
        self.scope = scope
    }

    mutating func type(of node: ExpressionNode) -> ExpressionType {
        switch node.kind {
        case .null: return .null
        case .bool: return .bool
        case .int: return .int
        case .double: return .double
        case .string: return .string
        case .list(let items): return Self.listType(items.map { type(of: $0) })
        case .name(let name):
            if let type = scope.names[name] { return type }
            let names = scope.names.keys.sorted()
            report(
                .unknownExpressionName(name, available: names, suggestion: Suggestion.closest(to: name, in: names)),
                node.start, node.end)
            return .any
        case .member(let base, let field, let fieldStart):
            return self.field(field, of: type(of: base), subject: source(base), fieldStart, fieldStart + field.count)
        case .index(let base, let index):
            return indexType(base: base, index: index)
        case .call(let name, let arguments):
            return callType(name, arguments)
        case .method(let receiver, let name, let arguments):
            return methodType(name, receiver: receiver, arguments)
        case .not(let operand):
            requireBool(operand, of: "!")
            return .bool
        case .negate(let operand):
            let operandType = type(of: operand)
            switch operandType.unwrapped {
            case .int, .double, .any: return operandType.unwrapped
            default:
                report(.expressionOperand(source(operand), Self.phrase(operandType), of: "-", expected: "a number"), operand)
                return .any
            }
        case .and(let operands):
            for operand in operands { requireBool(operand, of: "&&") }
            return .bool
        case .or(let operands):
            for operand in operands { requireBool(operand, of: "||") }
            return .bool
        case .binary(let op, let left, let right):
            let leftType = type(of: left)
            let rightType = type(of: right)
            switch op {
            case .equal, .notEqual: checkEquality(op, left, leftType, right, rightType)
            case .less, .lessOrEqual, .greater, .greaterOrEqual: checkOrdering(op, left, leftType, right, rightType)
            case .in: checkMembership(left, leftType, right, rightType)
            }
            return .bool
        }
    }

    /// Reports a condition that is not a bool (an optional bool, or `any`, is left to the run).
    mutating func requireCondition(_ node: ExpressionNode, _ type: ExpressionType) {
        switch type.unwrapped {
        case .bool, .any: break
        default: report(.expressionConditionNotBool(source(node), Self.phrase(type)), node)
        }
    }

    // MARK: - Fields and indexes

    private mutating func field(_ name: String, of base: ExpressionType, subject: String, _ start: Int, _ end: Int) -> ExpressionType {
        switch base.unwrapped {
        case .any:
            return .any
        case .object(let fields, let open):
            if let type = fields[name] {
                // A field of something that may be absent may be absent too.
                return base.isOptional && !type.isOptional ? .optional(type) : type
            }
            if open { return .any }
            let names = fields.keys.sorted()
            report(
                .unknownExpressionField(name, of: subject, fields: names, suggestion: Suggestion.closest(to: name, in: names)),
                start, end)
            return .any
        default:
            report(.expressionNoFields(subject, Self.phrase(base)), start, end)
            return .any
        }
    }

    private mutating func indexType(base: ExpressionNode, index: ExpressionNode) -> ExpressionType {
        let baseType = type(of: base)
        let indexType = type(of: index)
        switch (baseType.unwrapped, indexType.unwrapped) {
        case (.any, _):
            return .any
        case (.list(let item), .int), (.list(let item), .any):
            return baseType.isOptional && !item.isOptional ? .optional(item) : item
        case (.object, .string), (.object, .strings), (.object, .any):
            if case .string(let key) = index.kind {
                return field(key, of: baseType, subject: source(base), index.start, index.end)
            }
            return .any
        default:
            report(.expressionIndex(source(base), Self.phrase(baseType), index: Self.phrase(indexType)), index)
            return .any
        }
    }

    // MARK: - Functions

    /// The parser has refused unknown functions and wrong argument counts; what is left are argument types.
    private mutating func callType(_ name: String, _ arguments: [ExpressionNode]) -> ExpressionType {
        let types = arguments.map { type(of: $0) }
        guard name == "size" else { return .bool }  // has(): its field path was typed above, for unknown fields
        requireSized(arguments[0], types[0], of: name)
        return .int
    }

    private mutating func methodType(_ name: String, receiver: ExpressionNode, _ arguments: [ExpressionNode]) -> ExpressionType {
        let receiverType = type(of: receiver)
        let types = arguments.map { type(of: $0) }
        switch name {
        case "lower", "upper":
            requireString(receiver, receiverType, of: name)
            return .string
        case "size":
            requireSized(receiver, receiverType, of: name)
            return .int
        default:
            requireString(receiver, receiverType, of: name)
            requireString(arguments[0], types[0], of: name)
            return .bool
        }
    }

    private mutating func requireString(_ node: ExpressionNode, _ type: ExpressionType, of function: String) {
        switch type.unwrapped {
        case .string, .strings, .any: break
        default: report(.expressionOperand(source(node), Self.phrase(type), of: function, expected: "a string"), node)
        }
    }

    private mutating func requireSized(_ node: ExpressionNode, _ type: ExpressionType, of function: String) {
        switch type.unwrapped {
        case .string, .strings, .list, .object, .any: break
        default: report(.expressionOperand(source(node), Self.phrase(type), of: function, expected: "a string, a list or an object"), node)
        }
    }

    // MARK: - Operators

    private mutating func requireBool(_ node: ExpressionNode, of op: String) {
        let operandType = type(of: node)
        switch operandType.unwrapped {
        case .bool, .any: break
        default: report(.expressionOperand(source(node), Self.phrase(operandType), of: op, expected: "true or false"), node)
        }
    }

    private mutating func checkEquality(
        _ op: ExpressionNode.BinaryOperator, _ left: ExpressionNode, _ leftType: ExpressionType,
        _ right: ExpressionNode, _ rightType: ExpressionType
    ) {
        if leftType == .null || rightType == .null {
            let (other, otherType) = leftType == .null ? (right, rightType) : (left, leftType)
            if !otherType.isOptional { report(.expressionNeverNull(source(other), otherType.description), other) }
            return
        }
        guard Self.comparable(leftType, rightType) else {
            report(
                .expressionCannotCompare(source(left), leftType.description, source(right), rightType.description, using: op.rawValue),
                right)
            return
        }
        checkLiteral(right, against: leftType, subject: left)
        checkLiteral(left, against: rightType, subject: right)
    }

    private mutating func checkOrdering(
        _ op: ExpressionNode.BinaryOperator, _ left: ExpressionNode, _ leftType: ExpressionType,
        _ right: ExpressionNode, _ rightType: ExpressionType
    ) {
        switch (leftType.unwrapped, rightType.unwrapped) {
        case (.any, _), (_, .any), (.int, .int), (.int, .double), (.double, .int), (.double, .double): return
        case (.string, .string), (.string, .strings), (.strings, .string), (.strings, .strings): return
        default:
            report(
                .expressionCannotCompare(source(left), leftType.description, source(right), rightType.description, using: op.rawValue),
                right)
        }
    }

    private mutating func checkMembership(
        _ left: ExpressionNode, _ leftType: ExpressionType, _ right: ExpressionNode, _ rightType: ExpressionType
    ) {
        switch rightType.unwrapped {
        case .any:
            return
        case .list(let item):
            guard Self.comparable(leftType, item) || leftType == .null else {
                report(
                    .expressionCannotCompare(source(left), leftType.description, source(right), rightType.description, using: "in"), left)
                return
            }
            if case .list(let items) = right.kind {
                for element in items { checkLiteral(element, against: leftType, subject: left) }
            }
            checkLiteral(left, against: item, subject: right)
        case .string, .strings, .object:
            requireString(left, leftType, of: "in")
        default:
            report(
                .expressionOperand(source(right), Self.phrase(rightType), of: "in", expected: "a list, a string or an object on its right"),
                right)
        }
    }

    /// A string literal compared with a string enum must be one of its values.
    private mutating func checkLiteral(_ node: ExpressionNode, against type: ExpressionType, subject: ExpressionNode) {
        guard case .string(let value) = node.kind, case .strings(let allowed) = type.unwrapped, !allowed.contains(value) else { return }
        report(
            .unknownEnumValue(value, of: source(subject), allowed: allowed, suggestion: Suggestion.closest(to: value, in: allowed)),
            node)
    }

    /// Whether `==` between the two types can ever be true.
    static func comparable(_ left: ExpressionType, _ right: ExpressionType) -> Bool {
        switch (left.unwrapped, right.unwrapped) {
        case (.any, _), (_, .any), (.null, .null), (.bool, .bool), (.object, .object): true
        case (.int, .int), (.int, .double), (.double, .int), (.double, .double): true
        case (.string, .string), (.string, .strings), (.strings, .string), (.strings, .strings): true
        case (.list(let l), .list(let r)): comparable(l, r)
        default: false
        }
    }

    /// The type of a list literal: its items' common type, `double` for ints mixed with doubles, else `any`.
    static func listType(_ items: [ExpressionType]) -> ExpressionType {
        guard let first = items.first else { return .list(.any) }
        if items.allSatisfy({ $0 == first }) { return .list(first) }
        if items.allSatisfy({ $0 == .int || $0 == .double }) { return .list(.double) }
        if items.allSatisfy({ $0 == .string || { if case .strings = $0 { true } else { false } }($0) }) { return .list(.string) }
        return .list(.any)
    }

    /// A type in a sentence: `a string`, `an int`, `a list of string`, `an optional bool`.
    static func phrase(_ type: ExpressionType) -> String {
        switch type {
        case .int, .object, .optional: "an \(type)"
        case .null: "null"
        case .any: "a value of unknown type"
        default: "a \(type)"
        }
    }

    // MARK: - Helpers

    private func source(_ node: ExpressionNode) -> String { text.slice(node.start, node.end) }

    private mutating func report(_ message: Diagnostic.Message, _ node: ExpressionNode) {
        report(message, node.start, node.end)
    }

    private mutating func report(_ message: Diagnostic.Message, _ start: Int, _ end: Int) {
        errors.append(ExpressionError(message, start: start, end: end, in: text))
    }
}
