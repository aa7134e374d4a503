/// Evaluates a parsed expression against the values of its root names, recording each fixed path it reads.
///
/// Strict: an operator given a value of the wrong type is an error (`expression-type`), never coerced;
/// a path with nothing at its end is an `absent-value` error naming it, except inside `has()`.
struct ExpressionEvaluator {
    private let text: ExpressionText
    private let values: [String: JSONValue]
    /// The fixed paths read so far, dotted, with their values.
    private(set) var seen: [String: JSONValue] = [:]

    init(text: ExpressionText, values: [String: JSONValue]) {
        self.text = text
        self.values = values
    }

    mutating func evaluate(_ node: ExpressionNode) throws(ExpressionError) -> JSONValue {
        if let path = node.path { return try read(path, node) }
        switch node.kind {
        case .null: return .null
        case .bool(let value): return .bool(value)
        case .int(let value): return .number(Double(value))
        case .double(let value): return .number(value)
        case .string(let value): return .string(value)
        case .list(let items):
            var values: [JSONValue] = []
            for item in items { values.append(try evaluate(item)) }
            return .array(values)
        case .name, .member, .index:
            return try select(node)
        case .call(let name, let arguments):
            if name == "has", let path = arguments.first?.path { return .bool(has(path)) }
            return try size(of: arguments[0], name: name)
        case .method(let receiver, let name, let arguments):
            return try method(name, receiver: receiver, arguments)
        case .not(let operand):
            return .bool(!(try bool(operand, of: "!")))
        case .negate(let operand):
            let value = try evaluate(operand)
            guard case .number(let number) = value else {
                throw error(.expressionOperand(source(operand), Self.phrase(value), of: "-", expected: "a number"), operand)
            }
            return .number(-number)
        case .and(let operands):
            // Left to right, stopping at the first false: `has(x.y) && x.y > 1` never reads an absent x.y.
            for operand in operands {
                if try !bool(operand, of: "&&") { return .bool(false) }
            }
            return .bool(true)
        case .or(let operands):
            for operand in operands {
                if try bool(operand, of: "||") { return .bool(true) }
            }
            return .bool(false)
        case .binary(let op, let left, let right):
            return .bool(try binary(op, left, right))
        }
    }

    // MARK: - Reading values

    /// The value at a fixed path, recorded under its dotted text.
    private mutating func read(_ path: [ExpressionNode.PathComponent], _ node: ExpressionNode) throws(ExpressionError) -> JSONValue {
        guard case .field(let root) = path[0], var value = values[root] else {
            throw error(.absentValue(ExpressionNode.PathComponent.text(of: path.prefix(1))), node)
        }
        for depth in 1..<path.count {
            let subject = ExpressionNode.PathComponent.text(of: path.prefix(depth))
            value = try step(
                value, path[depth], subject: subject, fullPath: ExpressionNode.PathComponent.text(of: path.prefix(depth + 1)), node)
        }
        seen[ExpressionNode.PathComponent.text(of: path)] = value
        return value
    }

    /// One step down from `value` (found at `subject`).
    private func step(
        _ value: JSONValue, _ component: ExpressionNode.PathComponent, subject: String, fullPath: String, _ node: ExpressionNode
    ) throws(ExpressionError) -> JSONValue {
        switch (component, value) {
        case (.field(let name), .object), (.key(let name), .object):
            guard let next = value[name] else {
                if case .key = component { throw error(.absentKey(name, of: subject), node) }
                throw error(.absentValue(fullPath), node)
            }
            return next
        case (.position(let position), .array(let items)):
            guard position >= 0, position < items.count else {
                throw error(.absentIndex(String(position), of: subject, count: items.count), node)
            }
            return items[Int(position)]
        case (_, .null):
            throw error(.absentValue(fullPath), node)
        case (.position(let position), _):
            throw error(.expressionIndex(subject, Self.phrase(value), index: Self.phrase(.number(Double(position)))), node)
        case (.key(let key), _):
            throw error(.expressionIndex(subject, Self.phrase(value), index: Self.phrase(.string(key))), node)
        case (.field, _):
            throw error(.expressionNoFields(subject, Self.phrase(value)), node)
        }
    }

    /// A field or index of a computed value (`[1, 2][i]`, `inputs.list[round]`).
    private mutating func select(_ node: ExpressionNode) throws(ExpressionError) -> JSONValue {
        switch node.kind {
        case .member(let base, let field, _):
            return try step(try evaluate(base), .field(field), subject: source(base), fullPath: source(node), node)
        case .index(let base, let index):
            let container = try evaluate(base)
            let key = try evaluate(index)
            switch (key, container) {
            case (.string(let name), .object), (.string(let name), .null):
                return try step(container, .key(name), subject: source(base), fullPath: source(node), node)
            case (.number(let number), .array) where number == number.rounded() && abs(number) < 1e15,
                (.number(let number), .null) where number == number.rounded() && abs(number) < 1e15:
                return try step(container, .position(Int64(number)), subject: source(base), fullPath: source(node), node)
            default:
                throw error(.expressionIndex(source(base), Self.phrase(container), index: Self.phrase(key)), index)
            }
        default:
            return try evaluate(node)
        }
    }

    /// Whether the path leads to a value other than null; never an error.
    private mutating func has(_ path: [ExpressionNode.PathComponent]) -> Bool {
        guard case .field(let root) = path[0], var value = values[root] else { return false }
        for component in path.dropFirst() {
            switch (component, value) {
            case (.field(let name), .object), (.key(let name), .object):
                guard let next = value[name] else { return false }
                value = next
            case (.position(let position), .array(let items)):
                guard position >= 0, position < items.count else { return false }
                value = items[Int(position)]
            default:
                return false
            }
        }
        guard value != .null else { return false }
        seen[ExpressionNode.PathComponent.text(of: path)] = value
        return true
    }

    // MARK: - Functions and operators

    private mutating func size(of node: ExpressionNode, name: String) throws(ExpressionError) -> JSONValue {
        switch try evaluate(node) {
        case .string(let text): return .number(Double(text.count))
        case .array(let items): return .number(Double(items.count))
        case .object(let pairs): return .number(Double(pairs.count))
        case let other:
            throw error(.expressionOperand(source(node), Self.phrase(other), of: name, expected: "a string, a list or an object"), node)
        }
    }

    private mutating func method(_ name: String, receiver: ExpressionNode, _ arguments: [ExpressionNode]) throws(ExpressionError)
        -> JSONValue
    {
        if name == "size" { return try size(of: receiver, name: name) }
        let subject = try string(receiver, of: name)
        switch name {
        case "lower": return .string(subject.lowercased())
        case "upper": return .string(subject.uppercased())
        default:
            let argument = try string(arguments[0], of: name)
            switch name {
            case "contains": return .bool(argument.isEmpty || subject.contains(argument))
            case "startsWith": return .bool(subject.hasPrefix(argument))
            default: return .bool(subject.hasSuffix(argument))
            }
        }
    }

    private mutating func binary(_ op: ExpressionNode.BinaryOperator, _ left: ExpressionNode, _ right: ExpressionNode)
        throws(ExpressionError) -> Bool
    {
        let l = try evaluate(left)
        let r = try evaluate(right)
        switch op {
        case .equal: return Self.equal(l, r)
        case .notEqual: return !Self.equal(l, r)
        case .less, .lessOrEqual, .greater, .greaterOrEqual:
            let order: Bool
            switch (l, r) {
            case (.number(let a), .number(let b)):
                order = op == .less ? a < b : op == .lessOrEqual ? a <= b : op == .greater ? a > b : a >= b
            case (.string(let a), .string(let b)):
                order = op == .less ? a < b : op == .lessOrEqual ? a <= b : op == .greater ? a > b : a >= b
            default:
                throw error(
                    .expressionCannotCompare(source(left), Self.phrase(l), source(right), Self.phrase(r), using: op.rawValue), right)
            }
            return order
        case .in:
            switch (l, r) {
            case (_, .array(let items)): return items.contains { Self.equal(l, $0) }
            case (.string(let needle), .string(let haystack)): return needle.isEmpty || haystack.contains(needle)
            case (.string(let key), .object): return r[key] != nil
            case (_, .string), (_, .object):
                throw error(.expressionOperand(source(left), Self.phrase(l), of: "in", expected: "a string"), left)
            default:
                throw error(
                    .expressionOperand(source(right), Self.phrase(r), of: "in", expected: "a list, a string or an object on its right"),
                    right)
            }
        }
    }

    /// Equality of JSON values: numbers by value, objects whatever their key order, different types never equal.
    static func equal(_ left: JSONValue, _ right: JSONValue) -> Bool {
        switch (left, right) {
        case (.array(let l), .array(let r)):
            return l.count == r.count && zip(l, r).allSatisfy { equal($0, $1) }
        case (.object(let l), .object(let r)):
            guard l.count == r.count else { return false }
            return l.allSatisfy { pair in right[pair.key].map { equal(pair.value, $0) } ?? false }
        default:
            return left == right
        }
    }

    private mutating func bool(_ node: ExpressionNode, of op: String) throws(ExpressionError) -> Bool {
        let value = try evaluate(node)
        guard case .bool(let result) = value else {
            throw error(.expressionOperand(source(node), Self.phrase(value), of: op, expected: "true or false"), node)
        }
        return result
    }

    private mutating func string(_ node: ExpressionNode, of function: String) throws(ExpressionError) -> String {
        let value = try evaluate(node)
        guard case .string(let text) = value else {
            throw error(.expressionOperand(source(node), Self.phrase(value), of: function, expected: "a string"), node)
        }
        return text
    }

    /// A run-time value in a sentence: `the string 'billing'`, `the number 3`, `a list of 2 items`.
    static func phrase(_ value: JSONValue) -> String {
        switch value {
        case .null: return "null"
        case .bool(let value): return "the bool \(value)"
        case .number(let value):
            return "the number " + (value == value.rounded() && abs(value) < 1e15 ? String(Int64(value)) : String(value))
        case .string(let text): return "the string '\(text.count > 40 ? String(text.prefix(40)) + "…" : text)'"
        case .array(let items): return "a list of \(items.count) item\(items.count == 1 ? "" : "s")"
        case .object: return "an object"
        }
    }

    // MARK: - Helpers

    private func source(_ node: ExpressionNode) -> String { text.slice(node.start, node.end) }

    private func error(_ message: Diagnostic.Message, _ node: ExpressionNode) -> ExpressionError {
        ExpressionError(message, start: node.start, end: node.end, in: text)
    }
}
