import Foundation

/// The subset of JSON Schema (draft 2020-12) that `is-json` assertions validate against. Pure, so the spec layer can
/// refuse a schema using any other keyword instead of silently ignoring it.
public enum JSONSchemaCheck {
    /// The keywords validated (`description`, `title`, `$schema`, `default` and `$comment` are read and ignored).
    public static let supportedKeywords: Set<String> = [
        "type", "properties", "required", "additionalProperties", "items", "prefixItems", "minItems", "maxItems",
        "uniqueItems", "enum", "const", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "minLength",
        "maxLength", "pattern", "anyOf", "oneOf", "allOf", "not", "description", "title", "$schema", "default", "$comment",
    ]

    /// The type names `type` takes.
    public static let typeNames = ["null", "boolean", "object", "array", "number", "integer", "string"]

    /// Every keyword of `schema` (and of the schemas inside it) not in ``supportedKeywords``, as JSON pointers
    /// (`/properties/a/format`), in document order. A schema that is not an object or a boolean is reported as `""`.
    public static func unsupportedKeywords(in schema: JSONValue) -> [String] {
        var found: [String] = []
        collectUnsupported(schema, pointer: "", into: &found)
        return found
    }

    private static func collectUnsupported(_ schema: JSONValue, pointer: String, into found: inout [String]) {
        guard case .object(let pairs) = schema else { return }
        for (key, value) in pairs {
            let here = pointer + "/" + escape(key)
            guard supportedKeywords.contains(key) else {
                found.append(here)
                continue
            }
            switch key {
            case "properties":
                if case .object(let properties) = value {
                    for (name, subschema) in properties { collectUnsupported(subschema, pointer: here + "/" + escape(name), into: &found) }
                }
            case "items", "not", "additionalProperties":
                collectUnsupported(value, pointer: here, into: &found)
            case "prefixItems", "anyOf", "oneOf", "allOf":
                if case .array(let schemas) = value {
                    for (index, subschema) in schemas.enumerated() {
                        collectUnsupported(subschema, pointer: "\(here)/\(index)", into: &found)
                    }
                }
            default:
                break
            }
        }
    }

    private static func escape(_ key: String) -> String {
        key.replacingOccurrences(of: "~", with: "~0").replacingOccurrences(of: "/", with: "~1")
    }

    /// What is wrong with `value` against `schema`, one line per problem (`$.a[0]: expected a string, found 3`); empty
    /// when it is valid. Unsupported keywords are ignored here (``unsupportedKeywords(in:)`` finds them).
    public static func validate(_ value: JSONValue, against schema: JSONValue) -> [String] {
        var errors: [String] = []
        check(value, schema, path: "$", into: &errors)
        return errors
    }

    private static func check(_ value: JSONValue, _ schema: JSONValue, path: String, into errors: inout [String]) {
        switch schema {
        case .bool(true): return
        case .bool(false):
            errors.append("\(path): no value is allowed here (the schema is false)")
            return
        case .object: break
        default: return
        }
        if let type = schema["type"] {
            let names: [String] =
                switch type {
                case .string(let name): [name]
                case .array(let items): items.compactMap(\.stringValue)
                default: []
                }
            if !names.isEmpty, !names.contains(where: { matches(value, type: $0) }) {
                errors.append("\(path): expected \(names.map(article).joined(separator: " or ")), found \(describe(value))")
                return
            }
        }
        if let constant = schema["const"], !equal(value, constant) {
            errors.append("\(path): expected \(compact(constant)), found \(compact(value))")
        }
        if case .array(let allowed) = schema["enum"], !allowed.contains(where: { equal(value, $0) }) {
            errors.append("\(path): \(compact(value)) is not one of \(allowed.map(compact).joined(separator: ", "))")
        }
        switch value {
        case .number(let number): checkNumber(number, schema, path: path, into: &errors)
        case .string(let text): checkString(text, schema, path: path, into: &errors)
        case .array(let items): checkArray(items, schema, path: path, into: &errors)
        case .object(let pairs): checkObject(pairs, schema, path: path, into: &errors)
        default: break
        }
        checkCombinators(value, schema, path: path, into: &errors)
    }

    private static func checkCombinators(_ value: JSONValue, _ schema: JSONValue, path: String, into errors: inout [String]) {
        if case .array(let schemas) = schema["allOf"] {
            for subschema in schemas { check(value, subschema, path: path, into: &errors) }
        }
        if case .array(let schemas) = schema["anyOf"], !schemas.contains(where: { validate(value, against: $0).isEmpty }) {
            errors.append("\(path): matches none of the \(schemas.count) schemas of anyOf")
        }
        if case .array(let schemas) = schema["oneOf"] {
            let matching = schemas.filter { validate(value, against: $0).isEmpty }.count
            if matching != 1 { errors.append("\(path): matches \(matching) of the schemas of oneOf; exactly one must match") }
        }
        if let negated = schema["not"], validate(value, against: negated).isEmpty {
            errors.append("\(path): matches the schema under 'not'")
        }
    }

    private static func checkNumber(_ number: Double, _ schema: JSONValue, path: String, into errors: inout [String]) {
        let text = compact(.number(number))
        if case .number(let bound) = schema["minimum"], number < bound {
            errors.append("\(path): \(text) is less than the minimum \(compact(.number(bound)))")
        }
        if case .number(let bound) = schema["maximum"], number > bound {
            errors.append("\(path): \(text) is more than the maximum \(compact(.number(bound)))")
        }
        if case .number(let bound) = schema["exclusiveMinimum"], number <= bound {
            errors.append("\(path): \(text) is not more than \(compact(.number(bound)))")
        }
        if case .number(let bound) = schema["exclusiveMaximum"], number >= bound {
            errors.append("\(path): \(text) is not less than \(compact(.number(bound)))")
        }
    }

    private static func checkString(_ text: String, _ schema: JSONValue, path: String, into errors: inout [String]) {
        // JSON Schema counts characters as code points.
        let length = text.unicodeScalars.count
        if case .number(let bound) = schema["minLength"], Double(length) < bound {
            errors.append("\(path): \(length) characters, fewer than minLength \(compact(.number(bound)))")
        }
        if case .number(let bound) = schema["maxLength"], Double(length) > bound {
            errors.append("\(path): \(length) characters, more than maxLength \(compact(.number(bound)))")
        }
        if case .string(let pattern) = schema["pattern"] {
            if let regex = try? NSRegularExpression(pattern: pattern) {
                let range = NSRange(text.startIndex..., in: text)
                if regex.firstMatch(in: text, range: range) == nil {
                    errors.append("\(path): \(compact(.string(text))) does not match the pattern \(compact(.string(pattern)))")
                }
            } else {
                errors.append("\(path): the schema's pattern \(compact(.string(pattern))) is not a valid regular expression")
            }
        }
    }

    private static func checkArray(_ items: [JSONValue], _ schema: JSONValue, path: String, into errors: inout [String]) {
        if case .number(let bound) = schema["minItems"], Double(items.count) < bound {
            errors.append("\(path): \(items.count) items, fewer than minItems \(compact(.number(bound)))")
        }
        if case .number(let bound) = schema["maxItems"], Double(items.count) > bound {
            errors.append("\(path): \(items.count) items, more than maxItems \(compact(.number(bound)))")
        }
        if schema["uniqueItems"] == .bool(true) {
            outer: for index in items.indices {
                for earlier in items.indices where earlier < index && equal(items[earlier], items[index]) {
                    errors.append("\(path)[\(index)]: repeats item \(earlier); uniqueItems is true")
                    break outer
                }
            }
        }
        var prefixCount = 0
        if case .array(let prefix) = schema["prefixItems"] {
            prefixCount = prefix.count
            for (index, subschema) in prefix.enumerated() where index < items.count {
                check(items[index], subschema, path: "\(path)[\(index)]", into: &errors)
            }
        }
        if let itemSchema = schema["items"] {
            for index in items.indices where index >= prefixCount {
                check(items[index], itemSchema, path: "\(path)[\(index)]", into: &errors)
            }
        }
    }

    private static func checkObject(
        _ pairs: [(key: String, value: JSONValue)], _ schema: JSONValue, path: String, into errors: inout [String]
    ) {
        if case .array(let required) = schema["required"] {
            for case .string(let name) in required where !pairs.contains(where: { $0.key == name }) {
                errors.append("\(path): the required property '\(name)' is missing")
            }
        }
        var declared: [(key: String, value: JSONValue)] = []
        if case .object(let properties) = schema["properties"] { declared = properties }
        for (key, value) in pairs {
            let childPath = member(path, key)
            if let subschema = declared.first(where: { $0.key == key })?.value {
                check(value, subschema, path: childPath, into: &errors)
            } else if let additional = schema["additionalProperties"] {
                if additional == .bool(false) {
                    errors.append("\(childPath): the property '\(key)' is not allowed (additionalProperties is false)")
                } else {
                    check(value, additional, path: childPath, into: &errors)
                }
            }
        }
    }

    private static func member(_ path: String, _ key: String) -> String {
        JSONPath(segments: [.name(key)]).description.replacingOccurrences(of: "$", with: path, options: .anchored)
    }

    private static func matches(_ value: JSONValue, type: String) -> Bool {
        switch (type, value) {
        case ("null", .null), ("boolean", .bool), ("object", .object), ("array", .array), ("number", .number), ("string", .string):
            true
        case ("integer", .number(let number)): number.rounded() == number && number.isFinite
        default: false
        }
    }

    private static func article(_ type: String) -> String {
        switch type {
        case "null": "null"
        case "integer", "array", "object": "an \(type)"
        default: "a \(type)"
        }
    }

    private static func describe(_ value: JSONValue) -> String {
        switch value {
        case .null: "null"
        case .bool: "a boolean (\(compact(value)))"
        case .number: "a number (\(compact(value)))"
        case .string: "a string (\(compact(value)))"
        case .array: "an array"
        case .object: "an object"
        }
    }

    /// Whether two values are equal as JSON: numbers by value, objects whatever their key order.
    public static func equal(_ lhs: JSONValue, _ rhs: JSONValue) -> Bool {
        switch (lhs, rhs) {
        case (.object(let l), .object(let r)):
            guard l.count == r.count else { return false }
            return l.allSatisfy { pair in r.first { $0.key == pair.key }.map { equal(pair.value, $0.value) } ?? false }
        case (.array(let l), .array(let r)):
            return l.count == r.count && zip(l, r).allSatisfy { equal($0, $1) }
        default:
            return lhs == rhs
        }
    }

    /// A value as short JSON text for messages (`"a"`, `3`, `[1,2]`), cut at 60 characters.
    public static func compact(_ value: JSONValue) -> String {
        let text = jsonText(value)
        return text.count > 60 ? String(text.prefix(57)) + "..." : text
    }

    /// A value as JSON text: keys in their order, integers without a fraction.
    public static func jsonText(_ value: JSONValue) -> String {
        switch value {
        case .null: return "null"
        case .bool(let flag): return flag ? "true" : "false"
        case .number(let number):
            if number.rounded() == number, abs(number) < 1e15 { return String(Int64(number)) }
            return "\(number)"
        case .string(let text): return quoted(text)
        case .array(let items): return "[" + items.map(jsonText).joined(separator: ",") + "]"
        case .object(let pairs): return "{" + pairs.map { quoted($0.key) + ":" + jsonText($0.value) }.joined(separator: ",") + "}"
        }
    }

    private static func quoted(_ text: String) -> String {
        var result = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": result += "\\\""
            case "\\": result += "\\\\"
            case "\n": result += "\\n"
            case "\r": result += "\\r"
            case "\t": result += "\\t"
            case _ where scalar.value < 0x20: result += String(format: "\\u%04x", scalar.value)
            default: result.unicodeScalars.append(scalar)
            }
        }
        return result + "\""
    }
}
