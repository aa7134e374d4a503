/// The type of an expression or of a name it reads, as the checker knows it before anything runs.
public indirect enum ExpressionType: Sendable, Hashable, CustomStringConvertible {
    /// `true` or `false`.
    case bool
    /// A whole number.
    case int
    /// A number with a fraction (compared numerically with `int`).
    case double
    /// Text.
    case string
    /// The literal `null`.
    case null
    /// Not known before the run: every operation is allowed and checked when it runs.
    case any
    /// A list whose items have one type.
    case list(ExpressionType)
    /// An object; `open` when it may have fields besides `fields` (reading one of those gives `any`).
    case object(fields: [String: ExpressionType], open: Bool)
    /// A string that is always one of these values (a JSON Schema `enum`, a critic's verdict).
    case strings([String])
    /// A value that may be absent or null at run time (a field a schema does not require).
    case optional(ExpressionType)

    /// A critic's verdict: `approve` or `revise`.
    public static let verdict = ExpressionType.strings(["approve", "revise"])

    /// The type a value matching `schema` has: `type`, `properties`, `required`, `items`, `enum` and `const` are
    /// read; `anyOf`, `oneOf`, `allOf`, `$ref` and anything else not understood give ``any``. An object that lists
    /// `properties` is closed (a field it does not list is refused, as templates refuse it), one that lists none is
    /// open unless `additionalProperties` is `false`; a property not in `required` is optional.
    public init(jsonSchema schema: JSONValue) {
        guard case .object = schema else {
            self = .any
            return
        }
        if schema["anyOf"] != nil || schema["oneOf"] != nil || schema["allOf"] != nil || schema["$ref"] != nil {
            self = .any
            return
        }
        if let values = Self.strings(schema["enum"] ?? schema["const"].map { .array([$0]) }) {
            self = schema["type"].map { Self.allowsNull($0) } == true ? .optional(.strings(values)) : .strings(values)
            return
        }
        // An enum of other values (numbers, mixed) says no more than the type beside it.
        var names: [String]
        switch schema["type"] {
        case .string(let name): names = [name]
        case .array(let items): names = items.compactMap(\.stringValue)
        case nil: names = schema["properties"] != nil ? ["object"] : schema["items"] != nil ? ["array"] : []
        default: names = []
        }
        let nullable = names.contains("null")
        names.removeAll { $0 == "null" }
        let base: ExpressionType =
            switch names {
            case ["boolean"]: .bool
            case ["integer"]: .int
            case ["number"], ["integer", "number"], ["number", "integer"]: .double
            case ["string"]: .string
            case ["array"]: .list(schema["items"].map { ExpressionType(jsonSchema: $0) } ?? .any)
            case ["object"]: Self.object(schema)
            case [] where nullable: .null
            default: .any
            }
        self = nullable && base != .null ? .optional(base) : base
    }

    private static func object(_ schema: JSONValue) -> ExpressionType {
        var required: Set<String> = []
        if case .array(let names)? = schema["required"] { required = Set(names.compactMap(\.stringValue)) }
        var fields: [String: ExpressionType] = [:]
        if case .object(let properties)? = schema["properties"] {
            for property in properties {
                let type = ExpressionType(jsonSchema: property.value)
                fields[property.key] = required.contains(property.key) || type.isOptional ? type : .optional(type)
            }
        }
        // Closed whenever properties are listed: a misspelt field is far likelier than one the schema leaves unnamed.
        return .object(fields: fields, open: schema["properties"] == nil && schema["additionalProperties"] != .bool(false))
    }

    /// The strings of a JSON array holding only strings.
    private static func strings(_ value: JSONValue?) -> [String]? {
        guard case .array(let items)? = value, !items.isEmpty else { return nil }
        let strings = items.compactMap(\.stringValue)
        return strings.count == items.count ? strings : nil
    }

    private static func allowsNull(_ type: JSONValue) -> Bool {
        switch type {
        case .string(let name): name == "null"
        case .array(let names): names.contains(.string("null"))
        default: false
        }
    }

    /// The type without its optional-ness.
    public var unwrapped: ExpressionType {
        if case .optional(let wrapped) = self { return wrapped.unwrapped }
        return self
    }

    /// Whether the value may be absent or null at run time.
    public var isOptional: Bool {
        switch self {
        case .optional, .null, .any: true
        default: false
        }
    }

    /// How the type reads in a message: `int`, `a list of string`, `one of 'approve' or 'revise'`.
    public var description: String {
        switch self {
        case .bool: "bool"
        case .int: "int"
        case .double: "double"
        case .string: "string"
        case .null: "null"
        case .any: "any"
        case .list(let item): "list of \(item)"
        case .object: "object"
        case .strings(let values): "string \(quotedList(values, conjunction: "or"))"
        case .optional(let wrapped): "optional \(wrapped)"
        }
    }
}
