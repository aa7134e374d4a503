import BatonSpec
import Foundation
import Testing

/// Hostile expression texts: nesting deeper than 64 and texts longer than 4,096 characters are refused with an
/// `expression-limit` error at their place, long flat chains within the limits work, and thousands of random
/// texts built from the grammar's tokens never crash the parser, the checker or the evaluator.
@Suite struct ExpressionHostileTests {
    typealias F = ExpressionFixtures

    @Test(
        "Nesting deeper than 64 is an expression-limit error at the place it crosses the limit, not a stack overflow",
        arguments: [
            (String(repeating: "(", count: 4000) + "x", "parentheses"),
            (String(repeating: "(", count: 100) + "x" + String(repeating: ")", count: 100), "balanced parentheses"),
            (String(repeating: "!", count: 4000) + "x", "prefix '!'"),
            (String(repeating: "not ", count: 1000) + "x", "prefix 'not'"),
            (String(repeating: "-", count: 4000) + "x", "prefix '-'"),
            (String(repeating: "[", count: 4000), "list openings"),
            ("x" + String(repeating: ".a", count: 100), "a member chain"),
            ("x" + String(repeating: "[0]", count: 100), "an index chain"),
            (String(repeating: "size(", count: 800) + "x", "nested calls"),
            ("x" + String(repeating: ".lower()", count: 100), "a method chain"),
        ])
    func deepNesting(text: String, what: String) {
        guard let error = F.parseError(text) else { return }
        #expect(error.code == "expression-limit", "\(what): \(error)")
        #expect(error.message == "the expression nests more than 64 levels deep; Baton reads at most that depth, so flatten it")
        #expect(error.line == 1 && error.column > 1 && error.column <= text.count + 1, "\(what): \(error)")
    }

    @Test("Nesting up to the limit parses, checks and evaluates")
    func nestingAtTheLimit() throws {
        let parentheses = try #require(F.parse(String(repeating: "(", count: 63) + "round == 2" + String(repeating: ")", count: 63)))
        #expect(try parentheses.evaluate(F.values) == .bool(true))
        let nots = try #require(F.parse(String(repeating: "!", count: 62) + "true"))
        #expect(try nots.evaluate(F.values) == .bool(true))
        #expect(nots.checkCondition(in: F.scope).isEmpty)
    }

    @Test("A text over 4,096 characters is an expression-limit error pointing at the first character past the limit")
    func longText() {
        let text = String(repeating: "round == 2 || ", count: 400) + "true"
        guard let error = F.parseError(text) else { return }
        #expect(error.code == "expression-limit")
        #expect(error.position == [1, 4097, text.count - 4096])
        #expect(error.message == "the expression is \(text.count) characters long, over the 4096 Baton reads; shorten it")
    }

    @Test("A chain of 240 '||' within 4,096 characters is flat: it parses, checks and evaluates")
    func longFlatChain() throws {
        let text = (0..<240).map { "round == \($0 + 10)" }.joined(separator: " || ") + " || round == 2"
        #expect(text.count <= 4096)
        let expression = try #require(F.parse(text))
        #expect(expression.checkCondition(in: F.scope).isEmpty)
        #expect(try expression.evaluate(F.values) == .bool(true))
        #expect(expression.references == [["round"]])
    }

    /// A deterministic generator (SplitMix64), so a failing text can be found again from its seed.
    struct SplitMix: RandomNumberGenerator {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
    }

    static let tokens = [
        "inputs", "stages", "round", "item", "classify", "json", "category", "tags", "note", "review", "verdict", "draft-2",
        "x", "in", "and", "or", "not", "true", "false", "null", "size", "has", "contains", "lower", "startsWith", "matches",
        "0", "1", "2.5", "-", "'billing'", "\"a\\\"b\"", "'é🎉'", "'unclosed", "\\q", "||", "&&", "!", "==", "!=", "<", "<=", ">",
        ">=", "=", "&", ".", ".", ".", ",", "(", ")", "(", ")", "[", "]", " ", " ", "\n", "\r\n", "\t", "#", "99999999999999999999",
    ]

    @Test(
        "7,000 random texts (5,000 strings of the grammar's tokens, 2,000 random trees) never crash, and every error is located inside the text"
    )
    func fuzz() {
        var generator = SplitMix(state: 0xBA70_0011)
        var parsed = 0
        for _ in 0..<5000 {
            let count = Int.random(in: 1...40, using: &generator)
            var text = ""
            for _ in 0..<count {
                let token = Self.tokens.randomElement(using: &generator)!
                // Names followed by a separator half the time, so a useful share of texts parse.
                text += token + (Bool.random(using: &generator) ? " " : "")
            }
            Self.exercise(text, parsed: &parsed)
        }
        // Structured texts too: random trees of the grammar, most of which parse.
        for _ in 0..<2000 {
            Self.exercise(Self.randomExpression(depth: 5, using: &generator), parsed: &parsed)
        }
        // The run's input count is 7,000; this many of them parsed (a generator that never parses tests little).
        #expect(parsed > 1000, "only \(parsed) of 7000 random texts parsed")
    }

    static func exercise(_ text: String, parsed: inout Int) {
        let lines = text.split(omittingEmptySubsequences: false, whereSeparator: \.isNewline).map(\.count)
        func located(_ error: ExpressionError) -> Bool {
            guard error.line >= 1, error.line <= lines.count, error.column >= 1, error.length >= 1 else { return false }
            return error.column <= lines[error.line - 1] + 1
        }
        let expression: BatonSpec.Expression
        do {
            expression = try BatonSpec.Expression.parse(text)
        } catch {
            #expect(located(error), "\(text.debugDescription): \(error)")
            return
        }
        parsed += 1
        for error in expression.check(in: F.scope).errors + expression.checkCondition(in: F.scope) {
            #expect(located(error), "\(text.debugDescription): \(error)")
        }
        _ = expression.references
        do {
            _ = try expression.evaluateRecording(F.values)
        } catch {
            #expect(located(error), "\(text.debugDescription): \(error)")
        }
        #expect((try? BatonSpec.Expression.parse(expression.text)) == expression)
    }

    static func randomExpression(depth: Int, using generator: inout SplitMix) -> String {
        let leaves = [
            "round", "item.count", "item.title", "stages.classify.json.category", "stages.classify.json.tags", "inputs.topic",
            "stages.review.verdict", "'billing'", "2", "2.5", "true", "null", "[1, 'a']", "item.list[1]", "item.map['a b']", "nothing.x",
        ]
        guard depth > 0, Int.random(in: 0..<4, using: &generator) > 0 else { return leaves.randomElement(using: &generator)! }
        let a = randomExpression(depth: depth - 1, using: &generator)
        let b = randomExpression(depth: depth - 1, using: &generator)
        switch Int.random(in: 0..<12, using: &generator) {
        case 0: return "\(a) || \(b)"
        case 1: return "\(a) and \(b)"
        case 2: return "!(\(a))"
        case 3: return "\(a) == \(b)"
        case 4: return "\(a) < \(b)"
        case 5: return "\(a) in \(b)"
        case 6: return "has(\(leaves.randomElement(using: &generator)!).x)"
        case 7: return "size(\(a)) >= 1"
        case 8: return "(\(a)).contains(\(b))"
        case 9: return "-(\(a))"
        case 10: return "[\(a), \(b)][0]"
        default: return "(\(a))\n != \(b)"
        }
    }
}
