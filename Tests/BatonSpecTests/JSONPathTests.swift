import BatonSpec
import Testing

/// The JSON path subset of test files (contract §1): parsing with the column of the first problem, canonical text, and
/// selection in document order.
@Suite struct JSONPathTests {
    static let document = JSONValue.object([
        ("verdict", .string("approve")),
        ("items", .array([.object([("id", .number(1))]), .object([("id", .number(2)), ("a b", .string("x"))])])),
        ("it's", .bool(true)),
        ("empty", .array([])),
    ])

    @Test(
        arguments: [
            ("$", [document]),
            ("$.verdict", [.string("approve")]),
            ("$['verdict']", [.string("approve")]),
            ("$[\"verdict\"]", [.string("approve")]),
            ("$.items[0].id", [.number(1)]),
            ("$.items[-1].id", [.number(2)]),
            ("$.items[-3]", []),
            ("$.items[2]", []),
            ("$.items[*].id", [.number(1), .number(2)]),
            ("$.items.*.id", [.number(1), .number(2)]),
            ("$.items[1]['a b']", [.string("x")]),
            ("$['it\\'s']", [.bool(true)]),
            ("$.missing.deeper", []),
            ("$.verdict[0]", []),
            ("$.verdict.x", []),
            ("$.empty[*]", []),
            ("$[*]", [.string("approve"), document["items"]!, .bool(true), .array([])]),
        ] as [(String, [JSONValue])])
    func selects(_ path: String, _ expected: [JSONValue]) throws {
        #expect(try JSONPath(parsing: path).select(in: Self.document) == expected)
    }

    @Test func aScalarRootHasNoMembers() throws {
        #expect(try JSONPath(parsing: "$.a").select(in: .string("text")).isEmpty)
        #expect(try JSONPath(parsing: "$").select(in: .number(3)) == [.number(3)])
    }

    @Test(arguments: [
        ("", 1, "the path is empty; start it with '$'"),
        ("verdict", 1, "a path starts with '$', not 'v'"),
        ("$verdict", 2, "expected '.' or '[' after a step, found 'v'"),
        ("$.", 3, "'.' must be followed by a member name or '*'"),
        ("$..a", 3, "'..' (descendants) is not supported; write each step"),
        ("$.1a", 3, "'1' cannot start a member name after '.'; write ['1...'] for other names"),
        ("$[", 2, "'[' is never closed with ']'"),
        ("$[0", 2, "'[' is never closed with ']'"),
        ("$[1:2]", 4, "slices ('[a:b]') are not supported"),
        ("$['a','b']", 6, "unions ('[a,b]') are not supported"),
        ("$['a", 3, "the quoted name is never closed with '"),
        ("$[?(@.a)]", 3, "expected a quoted name, a whole number or '*' after '[', found '?'"),
        ("$[01]", 3, "an index has no leading zeros ('01')"),
        ("$[-0]", 3, "'-0' is not an index; the last element is -1"),
        ("$[-]", 3, "'-' is not a whole number"),
        ("$['\\x']", 4, "'\\x' is not an escape a path name takes; use \\\\, \\', \\\", \\n or \\t"),
    ])
    func refuses(_ path: String, _ column: Int, _ message: String) {
        #expect(throws: JSONPath.ParseError(column: column, message: message)) { try JSONPath(parsing: path) }
    }

    @Test func theCanonicalFormReadsBackToTheSamePath() throws {
        for text in ["$", "$.a[0]['b c'][*]", "$['it\\'s'][-1]", "$.é"] {
            let path = try JSONPath(parsing: text)
            #expect(try JSONPath(parsing: path.description) == path)
        }
        #expect(try JSONPath(parsing: "$[\"a\"].*").description == "$.a[*]")
    }
}
