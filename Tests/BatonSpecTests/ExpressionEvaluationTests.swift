import BatonSpec
import Foundation
import Testing

/// Evaluating expressions: every operator, strict booleans, int and double, `in` three ways, `has` and `size`,
/// absent values named by path; the values a decision read; references; Codable; types from JSON Schemas.
@Suite struct ExpressionEvaluationTests {
    typealias F = ExpressionFixtures

    @Test(
        "Every operator and function evaluates as docs/expressions.md says",
        arguments: [
            ("stages.classify.json.category == 'billing'", true), ("stages.classify.json.category != 'billing'", false),
            ("round < 2", false), ("round <= 2", true), ("round > 1", true), ("round >= 3", false),
            ("'a' < 'b' && 'b' <= 'b' && 'c' > 'b' && 'c' >= 'c'", true),
            ("!(round == 2)", false), ("not false", true),
            ("true && false", false), ("true and true", true), ("false || true", true), ("false or false", false),
            ("-round == -2", true), ("-item.ratio < -2", true),
            // int and double compare numerically
            ("round == 2.0", true), ("item.ratio > round", true), ("1 == 1.0 && 0.5 < 1", true),
            // `in`: list membership, substring, object key
            ("'refund' in stages.classify.json.tags", true), ("'x' in stages.classify.json.tags", false),
            ("round in [1, 2, 3]", true), ("2.0 in [1, 2]", true), ("[1] in [[1], [2]]", true),
            ("'double' in inputs.topic", true), ("'triple' in inputs.topic", false), ("'' in inputs.topic", true),
            ("'c' in item.map", true), ("'d' in item.map", false),
            // has: present and not null
            ("has(stages.classify.json.category)", true), ("has(stages.classify.json.note)", false),
            ("has(stages.classify.json.missing)", false), ("has(item.map['a b'])", true), ("has(item.map.c)", false),
            ("has(item.list[2])", true), ("has(item.list[3])", false), ("has(nothing.here)", false), ("has(round.x)", false),
            // size: characters, items, keys
            ("size(item.title) == 5", true), ("size(stages.classify.json.tags) == 2", true), ("size(item.map) == 2", true),
            ("item.title.size() == 5 && item.list.size() == 3", true),
            // string methods
            ("inputs.topic.contains('double')", true), ("inputs.topic.startsWith('Refund')", true),
            ("inputs.topic.endsWith('charge')", true), ("inputs.topic.lower() == 'refund for a double charge'", true),
            ("item.title.upper() == 'HÉLLO'", true), ("inputs.topic.contains('')", true),
            // indexes, literals, equality of lists and objects
            ("item.list[0] == 1 && item.map['a b'] == 1", true), ("item.list == [1, 2, 3.0]", true),
            ("item.map == item.map", true), ("stages['draft-2'].skipped", true), ("stages.draft-2.skipped", true),
            ("item.map.c == null", true), ("stages.classify.json.note == null", true),
            // `==` between different types at run time is false, never an error
            ("item.count == '3'", false), ("item.flag != 1", true), ("null == 0", false), ("[1] == 1", false),
            // short-circuit: the right side is never read
            ("false && nothing.x == 1", false), ("true || nothing.x == 1", true),
            ("has(stages.classify.json.note) && stages.classify.json.note == 'x'", false),
        ])
    func operators(text: String, expected: Bool) {
        #expect(F.evaluate(text) == .success(.bool(expected)))
    }

    @Test("Values come back as JSON: numbers, strings, lists")
    func values() {
        #expect(F.evaluate("round") == .success(.number(2)))
        #expect(F.evaluate("-1.5") == .success(.number(-1.5)))
        #expect(F.evaluate("stages.classify.json.tags") == .success(.array([.string("refund"), .string("card")])))
        #expect(F.evaluate("[item.count, 'x', null]") == .success(.array([.number(3), .string("x"), .null])))
        #expect(F.evaluate("size('é🎉x')") == .success(.number(3)))
    }

    @Test(
        "A value that is not there is an absent-value error naming its path, at the expression that reads it",
        arguments: [
            ("stages.classify.json.missing == 'x'", "absent-value", [1, 1, 28], "'stages.classify.json.missing' has no value in this run"),
            ("round > 1 && nothing.x", "absent-value", [1, 14, 9], "'nothing' has no value in this run"),
            ("item.map.c.d == 1", "absent-value", [1, 1, 12], "'item.map.c.d' has no value in this run; guard it with has(item.map.c.d)"),
            ("item.list[5] == 1", "absent-value", [1, 1, 12], "'item.list' has 3 items, so [5] is out of range"),
            ("item.map['zz'] == 1", "absent-value", [1, 1, 14], "'item.map' has no key 'zz'"),
            ("item.list[size(item.list)] == 1", "absent-value", [1, 1, 26], "'item.list' has 3 items, so [3] is out of range"),
        ])
    func absentValues(text: String, code: String, position: [Int], says: String) {
        guard case .failure(let error) = F.evaluate(text) else {
            Issue.record("'\(text)' evaluated")
            return
        }
        #expect(error.code.rawValue == code, "\(error)")
        #expect(error.position == position, "\(error)")
        #expect(error.message.contains(says), "\(error)")
    }

    @Test(
        "Booleans are strict at run time and ordering needs numbers or strings: values of type any are checked when they run",
        arguments: [
            ("item.flag && true", [1, 1, 9], "'&&' needs true or false, but 'item.flag' is the string 'yes'"),
            ("false || item.count", [1, 10, 10], "'||' needs true or false, but 'item.count' is the number 3"),
            ("!item.list", [1, 2, 9], "'!' needs true or false, but 'item.list' is a list of 3 items"),
            ("item.flag < 3", [1, 13, 1], "cannot compare 'item.flag' (the string 'yes') with '3' (the number 3) using '<'"),
            ("-item.flag == 1", [1, 2, 9], "'-' needs a number"),
            ("1 in item.title", [1, 1, 1], "'in' needs a string, but '1' is the number 1"),
            ("1 in item.count", [1, 6, 10], "'in' needs a list, a string or an object on its right"),
            ("item.count.contains('3')", [1, 1, 10], "'contains' needs a string"),
            ("size(item.count) == 1", [1, 6, 10], "'size' needs a string, a list or an object"),
            ("item.title.x == 1", [1, 1, 12], "'item.title' is the string 'Héllo' and has no fields"),
            ("item.list[item.flag] == 1", [1, 11, 9], "'item.list' is a list of 3 items and cannot be indexed by the string 'yes'"),
        ])
    func strictAtRunTime(text: String, position: [Int], says: String) {
        guard case .failure(let error) = F.evaluate(text) else {
            Issue.record("'\(text)' evaluated")
            return
        }
        #expect(error.code == "expression-type", "\(error)")
        #expect(error.position == position, "\(error)")
        #expect(error.message.contains(says), "\(error)")
    }

    @Test("evaluateCondition gives the bool, and a type error for anything else")
    func evaluateCondition() throws {
        let yes = try #require(F.parse("stages.classify.json.category == 'billing'"))
        #expect(try yes.evaluateCondition(F.values) == true)
        let text = try #require(F.parse("item.flag"))
        #expect {
            try text.evaluateCondition(F.values)
        } throws: { error in
            let error = error as? ExpressionError
            return error?.code == "expression-type" && error?.position == [1, 1, 9]
                && error?.message.contains("the string 'yes', not true or false") == true
        }
    }

    @Test("evaluateRecording returns the value and each path the expression read, by its dotted text, and only those")
    func recording() throws {
        let expression = try #require(
            F.parse(
                "stages.classify.json.category == 'billing' && round > 1 && has(stages.classify.json.note) == false"
                    + " && item.map['a b'] == 1 && item.list[1] == 2 && has(item.title) && false && inputs.topic == 'x'"))
        let evaluation = try expression.evaluateRecording(F.values)
        #expect(evaluation.value == .bool(false))
        #expect(
            evaluation.seen == [
                "stages.classify.json.category": .string("billing"), "round": .number(2), "item.map[\"a b\"]": .number(1),
                "item.list[1]": .number(2), "item.title": .string("Héllo"),
            ])
        // A value read through a computed index is recorded as the whole value it was read from, and the index.
        let computed = try #require(F.parse("item.list[size(stages.classify.json.tags)] == 3"))
        #expect(
            try computed.evaluateRecording(F.values).seen == [
                "item.list": F.json("[1, 2, 3]"), "stages.classify.json.tags": F.json(#"["refund", "card"]"#),
            ])
    }

    @Test("references lists every fixed path read, in order, once, stopping before a numeric or computed index")
    func references() throws {
        let expression = try #require(
            F.parse(
                "stages.classify.json.category == 'billing' && has(stages.review.verdict) && inputs.items[0].title == item.title"
                    + " || stages.classify.json.category in item.map['k'].list || stages['draft-2'].output.contains(item[round])"))
        #expect(
            expression.references == [
                ["stages", "classify", "json", "category"], ["stages", "review", "verdict"], ["inputs", "items"], ["item", "title"],
                ["item", "map", "k", "list"], ["stages", "draft-2", "output"], ["item"], ["round"],
            ])
        #expect(try #require(F.parse("1 == 1")).references == [])
    }

    @Test("An expression is Codable as its plain text; a text that no longer parses is a DecodingError")
    func codable() throws {
        let expressions = try ["round > 1 && stages.review.verdict == 'revise'", "not  has(item.x)\n|| true"].map {
            try BatonSpec.Expression.parse($0)
        }
        let data = try JSONEncoder().encode(expressions)
        #expect(String(decoding: data, as: UTF8.self) == #"["round > 1 && stages.review.verdict == 'revise'","not  has(item.x)\n|| true"]"#)
        let decoded = try JSONDecoder().decode([BatonSpec.Expression].self, from: data)
        #expect(decoded == expressions)
        #expect(decoded.map(\.text) == expressions.map(\.text))
        #expect(decoded[1].tree == "(|| (! (has item.x)) true)")
        #expect(throws: DecodingError.self) {
            try JSONDecoder().decode([BatonSpec.Expression].self, from: Data(#"["round >"]"#.utf8))
        }
    }

    @Test("ExpressionType(jsonSchema:) reads type, properties, required, items, enum, const, additionalProperties; anyOf is any")
    func typesFromJSONSchemas() {
        let cases: [(String, ExpressionType)] = [
            (#"{"type": "boolean"}"#, .bool),
            (#"{"type": "integer"}"#, .int),
            (#"{"type": "number"}"#, .double),
            (#"{"type": "string"}"#, .string),
            (#"{"type": "null"}"#, .null),
            (#"{"type": ["string", "null"]}"#, .optional(.string)),
            (#"{"type": ["integer", "number"]}"#, .double),
            (#"{"type": ["string", "integer"]}"#, .any),
            (#"{"type": "string", "enum": ["a", "b"]}"#, .strings(["a", "b"])),
            (#"{"enum": ["a", "b"]}"#, .strings(["a", "b"])),
            (#"{"type": ["string", "null"], "enum": ["a"]}"#, .optional(.strings(["a"]))),
            (#"{"const": "only"}"#, .strings(["only"])),
            (#"{"enum": [1, 2]}"#, .any),
            (#"{"type": "integer", "enum": [1, 2]}"#, .int),
            (#"{"type": "array", "items": {"type": "integer"}}"#, .list(.int)),
            (#"{"type": "array"}"#, .list(.any)),
            (#"{"items": {"type": "string"}}"#, .list(.string)),
            (#"{"anyOf": [{"type": "string"}, {"type": "integer"}]}"#, .any),
            (#"{"oneOf": [{"type": "string"}]}"#, .any),
            (##"{"$ref": "#/$defs/x"}"##, .any),
            (#"{}"#, .any),
            ("true", .any),
            (#"{"type": "object"}"#, .object(fields: [:], open: true)),
            (
                #"{"type": "object", "properties": {"a": {"type": "string"}, "b": {"type": "integer"}}, "required": ["a"], "additionalProperties": false}"#,
                .object(fields: ["a": .string, "b": .optional(.int)], open: false)
            ),
            (
                // Listing properties closes the object whatever additionalProperties says, as templates read it.
                #"{"properties": {"a": {"type": ["boolean", "null"]}}, "required": ["a"], "additionalProperties": {"type": "string"}}"#,
                .object(fields: ["a": .optional(.bool)], open: false)
            ),
            (
                #"{"type": "object", "properties": {"o": {"type": "object", "properties": {"x": {"type": "number"}}, "required": ["x"], "additionalProperties": false}}, "required": ["o"], "additionalProperties": false}"#,
                .object(fields: ["o": .object(fields: ["x": .double], open: false)], open: false)
            ),
        ]
        for (schema, expected) in cases {
            #expect(ExpressionType(jsonSchema: F.json(schema)) == expected, "\(schema)")
        }
    }

    @Test("An optional field's own fields are optional too, and a type reads in messages as written")
    func optionalPropagationAndDescriptions() {
        let scope = ExpressionScope([
            "s": ExpressionType(
                jsonSchema: F.json(
                    #"{"type": "object", "properties": {"o": {"type": "object", "properties": {"x": {"type": "number"}}, "required": ["x"]}}}"#
                ))
        ])
        #expect(F.parse("s.o.x")?.check(in: scope).type == .optional(.double))
        #expect(F.parse("s.o.x == null")?.check(in: scope).errors == [])
        #expect(ExpressionType.list(.verdict).description == "list of string 'approve' or 'revise'")
        #expect(ExpressionType.optional(.int).description == "optional int")
    }
}
