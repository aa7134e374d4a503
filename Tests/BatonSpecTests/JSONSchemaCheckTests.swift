import BatonSpec
import Testing

/// The JSON Schema subset `is-json` validates (contract §3.4): each keyword's failures with their paths, and the
/// keywords refused as unsupported.
@Suite struct JSONSchemaCheckTests {
    static func object(_ pairs: (String, JSONValue)...) -> JSONValue { .object(pairs.map { (key: $0.0, value: $0.1) }) }

    static let verdictSchema = object(
        ("type", .string("object")),
        ("required", .array([.string("verdict"), .string("feedback")])),
        ("properties", object(("verdict", object(("enum", .array([.string("approve"), .string("revise")])))), ("feedback", object()))),
        ("additionalProperties", .bool(false)))

    @Test func aValidValueHasNoErrors() {
        let value = Self.object(("verdict", .string("approve")), ("feedback", .string("")))
        #expect(JSONSchemaCheck.validate(value, against: Self.verdictSchema).isEmpty)
        #expect(JSONSchemaCheck.validate(.number(3), against: .bool(true)).isEmpty)
        #expect(JSONSchemaCheck.validate(.number(3), against: Self.object()).isEmpty)
    }

    @Test func objectKeywordsNameTheProperty() {
        let value = Self.object(("verdict", .string("maybe")), ("extra", .number(1)), ("a.b", .null))
        #expect(
            JSONSchemaCheck.validate(value, against: Self.verdictSchema) == [
                "$: the required property 'feedback' is missing",
                "$.verdict: \"maybe\" is not one of \"approve\", \"revise\"",
                "$.extra: the property 'extra' is not allowed (additionalProperties is false)",
                "$['a.b']: the property 'a.b' is not allowed (additionalProperties is false)",
            ])
        let typed = Self.object(("additionalProperties", Self.object(("type", .string("integer")))))
        #expect(
            JSONSchemaCheck.validate(Self.object(("n", .number(1.5))), against: typed) == ["$.n: expected an integer, found a number (1.5)"]
        )
    }

    @Test func typesIncludingListsAndIntegers() {
        let schema = Self.object(("type", .array([.string("string"), .string("null")])))
        #expect(JSONSchemaCheck.validate(.null, against: schema).isEmpty)
        #expect(JSONSchemaCheck.validate(.bool(true), against: schema) == ["$: expected a string or null, found a boolean (true)"])
        let integer = Self.object(("type", .string("integer")))
        #expect(JSONSchemaCheck.validate(.number(2), against: integer).isEmpty)
        #expect(JSONSchemaCheck.validate(.number(2.5), against: integer).count == 1)
        #expect(JSONSchemaCheck.validate(.number(2), against: Self.object(("type", .string("number")))).isEmpty)
    }

    @Test func numberAndStringBounds() {
        let number = Self.object(
            ("minimum", .number(1)), ("maximum", .number(5)), ("exclusiveMinimum", .number(0)), ("exclusiveMaximum", .number(5)))
        #expect(JSONSchemaCheck.validate(.number(3), against: number).isEmpty)
        #expect(JSONSchemaCheck.validate(.number(5), against: number) == ["$: 5 is not less than 5"])
        #expect(JSONSchemaCheck.validate(.number(0.5), against: number) == ["$: 0.5 is less than the minimum 1"])
        #expect(JSONSchemaCheck.validate(.number(6), against: number).count == 2)
        let string = Self.object(("minLength", .number(2)), ("maxLength", .number(3)), ("pattern", .string("^a")))
        #expect(JSONSchemaCheck.validate(.string("ab"), against: string).isEmpty)
        // Lengths count code points: "é" written as one scalar is one character.
        #expect(JSONSchemaCheck.validate(.string("aé"), against: string).isEmpty)
        #expect(JSONSchemaCheck.validate(.string("b"), against: string).count == 2)
        #expect(JSONSchemaCheck.validate(.string("abcd"), against: string) == ["$: 4 characters, more than maxLength 3"])
        // The pattern is searched, not anchored, as JSON Schema says.
        #expect(JSONSchemaCheck.validate(.string("xyz"), against: Self.object(("pattern", .string("y")))).isEmpty)
        // Keywords of other types do not apply.
        #expect(JSONSchemaCheck.validate(.bool(true), against: string).isEmpty)
    }

    @Test func arrayKeywords() {
        let schema = Self.object(
            ("prefixItems", .array([Self.object(("type", .string("string")))])), ("items", Self.object(("type", .string("number")))),
            ("minItems", .number(2)), ("maxItems", .number(3)), ("uniqueItems", .bool(true)))
        #expect(JSONSchemaCheck.validate(.array([.string("a"), .number(1), .number(2)]), against: schema).isEmpty)
        #expect(
            JSONSchemaCheck.validate(.array([.number(1)]), against: schema) == [
                "$: 1 items, fewer than minItems 2", "$[0]: expected a string, found a number (1)",
            ])
        #expect(
            JSONSchemaCheck.validate(.array([.string("a"), .number(1), .number(1.0)]), against: schema) == [
                "$[2]: repeats item 1; uniqueItems is true"
            ])
        // Objects are the same whatever their key order.
        let objects = JSONValue.array([
            Self.object(("a", .number(1)), ("b", .number(2))), Self.object(("b", .number(2)), ("a", .number(1))),
        ])
        #expect(JSONSchemaCheck.validate(objects, against: Self.object(("uniqueItems", .bool(true)))).count == 1)
    }

    @Test func constEnumAndCombinators() {
        #expect(JSONSchemaCheck.validate(.string("x"), against: Self.object(("const", .string("x")))).isEmpty)
        #expect(JSONSchemaCheck.validate(.string("y"), against: Self.object(("const", .string("x")))) == ["$: expected \"x\", found \"y\""])
        let string = Self.object(("type", .string("string")))
        let short = Self.object(("maxLength", .number(1)))
        #expect(JSONSchemaCheck.validate(.string("ab"), against: Self.object(("anyOf", .array([string, short])))).isEmpty)
        #expect(
            JSONSchemaCheck.validate(.string("a"), against: Self.object(("oneOf", .array([string, short])))) == [
                "$: matches 2 of the schemas of oneOf; exactly one must match"
            ])
        #expect(JSONSchemaCheck.validate(.number(3), against: Self.object(("anyOf", .array([string, string])))).count == 1)
        #expect(JSONSchemaCheck.validate(.string("ab"), against: Self.object(("allOf", .array([string, short])))).count == 1)
        #expect(JSONSchemaCheck.validate(.string("a"), against: Self.object(("not", string))) == ["$: matches the schema under 'not'"])
        #expect(JSONSchemaCheck.validate(.null, against: .bool(false)) == ["$: no value is allowed here (the schema is false)"])
    }

    @Test func unsupportedKeywordsAreFoundWhereverSchemasNest() {
        let schema = Self.object(
            ("$schema", .string("https://json-schema.org/draft/2020-12/schema")), ("title", .string("t")), ("format", .string("uri")),
            ("properties", Self.object(("a/b", Self.object(("$ref", .string("#")))), ("format", Self.object(("type", .string("string")))))),
            ("items", Self.object(("contains", .bool(true)))),
            ("anyOf", .array([Self.object(), Self.object(("if", .bool(true)))])),
            ("enum", .array([Self.object(("format", .number(1)))])),
            ("default", Self.object(("dependentRequired", .null))))
        #expect(
            JSONSchemaCheck.unsupportedKeywords(in: schema) == ["/format", "/properties/a~1b/$ref", "/items/contains", "/anyOf/1/if"])
        #expect(JSONSchemaCheck.unsupportedKeywords(in: Self.verdictSchema).isEmpty)
    }
}
