import BatonSpec
import BatonTestSupport
import Foundation
import Testing

/// The expression language of docs/expressions.md: its grammar (precedence, literals, escapes, every operator),
/// the positions of its errors inside the text, and its type checking against a scope.
@Suite struct ExpressionTests {
    typealias F = ExpressionFixtures

    // MARK: - Parsing

    @Test(
        "Precedence, low to high: || and or; && and and; ! and not; comparisons and in; unary minus; member, index, call",
        arguments: [
            ("a || b && c", "(|| a (&& b c))"),
            ("a && b || c && d", "(|| (&& a b) (&& c d))"),
            ("a or b and not c", "(|| a (&& b (! c)))"),
            ("a || b or c", "(|| a b c)"),
            ("a && b and c", "(&& a b c)"),
            ("!a && b", "(&& (! a) b)"),
            ("not a == b", "(! (== a b))"),
            ("!x in [1, 2]", "(! (in x (list 1 2)))"),
            ("!!a", "(! (! a))"),
            ("-a < 2", "(< (- a) 2)"),
            ("-a.b", "(- a.b)"),
            ("(a || b) && c", "(&& (|| a b) c)"),
            ("a == (b == c)", "(== a (== b c))"),
            ("a.b[0].c.contains('x')", "(.contains a.b[0].c \"x\")"),
            ("a[b].c", "(. ([] a b) c)"),
            ("a[\"k y\"].z", "a[\"k y\"].z"),
            ("size(a.b) >= 2", "(>= (size a.b) 2)"),
            ("has(a.b) && a.b.lower() != 'x'", "(&& (has a.b) (!= (.lower a.b) \"x\"))"),
            ("x.size() > 0", "(> (.size x) 0)"),
        ])
    func precedence(text: String, tree: String) {
        #expect(F.parse(text)?.tree == tree)
    }

    @Test(
        "Every comparison operator parses, each written both ways where it has a word",
        arguments: [
            ("a == 1", "(== a 1)"), ("a != 1", "(!= a 1)"), ("a < 1", "(< a 1)"), ("a <= 1", "(<= a 1)"),
            ("a > 1", "(> a 1)"), ("a >= 1", "(>= a 1)"), ("a in b", "(in a b)"),
            ("a&&b", "(&& a b)"), ("a and b", "(&& a b)"), ("a||b", "(|| a b)"), ("a or b", "(|| a b)"),
            ("!a", "(! a)"), ("not a", "(! a)"), ("--a", "(- (- a))"),
        ])
    func everyOperator(text: String, tree: String) {
        #expect(F.parse(text)?.tree == tree)
    }

    @Test(
        "Literals: true, false, null, integers, decimals, negative numbers folded, lists with a trailing comma",
        arguments: [
            ("true", "true"), ("false", "false"), ("null", "null"), ("42", "42"), ("0.5", "0.5"), ("-3", "-3"),
            ("-2.25", "-2.25"), ("--3", "3"), ("9223372036854775807", "9223372036854775807"),
            ("[]", "(list)"), ("[1, 'a', true,]", "(list 1 \"a\" true)"), ("[[1], []]", "(list (list 1) (list))"),
        ])
    func literals(text: String, tree: String) {
        #expect(F.parse(text)?.tree == tree)
    }

    @Test(
        "Strings in single or double quotes, with the escapes \\\\ \\\" \\' \\n \\t",
        arguments: [
            (#"'it\'s'"#, "it's"), (#""say \"hi\"""#, #"say "hi""#), (#"'a\\b'"#, #"a\b"#), (#"'a\nb'"#, "a\nb"),
            (#"'a\tb'"#, "a\tb"), (#""it's""#, "it's"), (#"'say "hi"'"#, #"say "hi""#), ("'é 🎉'", "é 🎉"), ("''", ""),
        ])
    func stringEscapes(text: String, value: String) {
        #expect(F.parse(text).flatMap { try? $0.evaluate([:]) } == .string(value))
    }

    @Test("Names may hold '-' as stage names do, and words like 'in' are fields after a dot")
    func namesWithHyphensAndWordFields() {
        #expect(F.parse("stages.draft-2.output")?.tree == "stages.draft-2.output")
        #expect(F.parse("a-b-c == x_1")?.tree == "(== a-b-c x_1)")
        #expect(F.parse("inputs.in.not.and")?.tree == "inputs.in.not.and")
        // A '-' that ends a name is not part of it: `a- 1` is `a` then `-`, which cannot follow a name.
        #expect(F.parseError("a- 1")?.code == "expression-syntax")
    }

    // MARK: - Error positions

    struct Culprit: Sendable, CustomStringConvertible {
        var text: String
        var code: String
        var line: Int
        var column: Int
        var length: Int
        var says: String
        var description: String { text.debugDescription }
        var position: [Int] { [line, column, length] }
    }

    @Test(
        "Syntax errors are at the culprit's line, column and length inside the expression text",
        arguments: [
            Culprit(text: "inputs.topic = 'x'", code: "expression-syntax", line: 1, column: 14, length: 1, says: "use '==' to compare"),
            Culprit(text: "a & b", code: "expression-syntax", line: 1, column: 3, length: 1, says: "use '&&' or 'and'"),
            Culprit(text: "a + 1 > 2", code: "expression-syntax", line: 1, column: 3, length: 1, says: "no arithmetic"),
            Culprit(text: "a == 'abc", code: "expression-syntax", line: 1, column: 6, length: 4, says: "a string is never closed"),
            Culprit(text: "a == 'ab\nc'", code: "expression-syntax", line: 1, column: 6, length: 3, says: "never closed"),
            Culprit(text: #"a == 'x\qy'"#, code: "expression-syntax", line: 1, column: 8, length: 2, says: #"unknown escape '\q'"#),
            Culprit(text: "a < b < c", code: "expression-syntax", line: 1, column: 7, length: 1, says: "comparisons do not chain"),
            Culprit(text: "a == ", code: "expression-syntax", line: 1, column: 6, length: 1, says: "expected a value, found the end"),
            Culprit(text: "a b", code: "expression-syntax", line: 1, column: 3, length: 1, says: "found 'b'"),
            Culprit(text: "1abc == 2", code: "expression-syntax", line: 1, column: 1, length: 4, says: "'1abc' is not a number"),
            Culprit(text: "1.2.3", code: "expression-syntax", line: 1, column: 1, length: 5, says: "'1.2.3' is not a number"),
            Culprit(text: "99999999999999999999 > 1", code: "expression-syntax", line: 1, column: 1, length: 20, says: "too large"),
            Culprit(
                text: String(repeating: "9", count: 400) + ".5", code: "expression-syntax", line: 1, column: 1, length: 402,
                says: "too large"),
            Culprit(text: "a.", code: "expression-syntax", line: 1, column: 3, length: 1, says: "a field name after '.'"),
            Culprit(text: "a.1", code: "expression-syntax", line: 1, column: 3, length: 1, says: "a field name after '.'"),
            Culprit(text: "[1, 2", code: "expression-syntax", line: 1, column: 1, length: 1, says: "'[' is never closed; add ']'"),
            Culprit(text: "[1 2]", code: "expression-syntax", line: 1, column: 4, length: 1, says: "expected ',' or ']'"),
            Culprit(text: "size(a b)", code: "expression-syntax", line: 1, column: 8, length: 1, says: "expected ',' or ')'"),
            Culprit(text: "a and or b", code: "expression-syntax", line: 1, column: 7, length: 2, says: "expected a value, found 'or'"),
            Culprit(text: "   ", code: "expression-syntax", line: 1, column: 1, length: 3, says: "the expression is empty"),
            Culprit(text: "has(inputs)", code: "expression-syntax", line: 1, column: 5, length: 6, says: "has() takes a field"),
            Culprit(text: "has(size(a.b))", code: "expression-syntax", line: 1, column: 5, length: 9, says: "has() takes a field"),
            Culprit(
                text: "size(a, b) > 1", code: "expression-type", line: 1, column: 1, length: 10, says: "'size' takes 1 argument, found 2"),
            Culprit(text: "a.lower(1)", code: "expression-type", line: 1, column: 3, length: 8, says: "'lower' takes 0 arguments, found 1"),
            Culprit(text: "a.containz('x')", code: "unknown-function", line: 1, column: 3, length: 8, says: "did you mean 'contains'?"),
            Culprit(text: "lenght(a) > 1", code: "unknown-function", line: 1, column: 1, length: 6, says: "unknown function 'lenght'"),
            Culprit(text: "a.matches('x+')", code: "unknown-function", line: 1, column: 3, length: 7, says: "'matches' is not supported"),
            // Columns count characters: 'é' and '🎉' are one column each, '\r\n' is one line break.
            Culprit(text: "'é🎉' == a #", code: "expression-syntax", line: 1, column: 11, length: 1, says: "unexpected character '#'"),
            Culprit(text: "a == 1 &&\r\n  b ==", code: "expression-syntax", line: 2, column: 7, length: 1, says: "found the end"),
            Culprit(
                text: "inputs.mode == 'fast'\n  && (round > 1\n      || has(item.x)", code: "expression-syntax", line: 2, column: 6,
                length: 1, says: "'(' is never closed; add ')'"),
            Culprit(
                text: "inputs.mode == 'fast' &&\n  item.title.contains(\"x\") ||\n  item.count => 2", code: "expression-syntax", line: 3,
                column: 14, length: 1, says: "use '==' to compare"),
        ])
    func syntaxErrorPositions(culprit: Culprit) {
        guard let error = F.parseError(culprit.text) else { return }
        #expect(error.code.rawValue == culprit.code, "\(error)")
        #expect(error.position == culprit.position, "\(error)")
        #expect(error.message.contains(culprit.says), "\(error)")
        #expect(error.message.first?.isUppercase == false && !error.message.hasSuffix("."), "\(error)")
    }

    @Test("scalarColumn counts Unicode scalars, as a YAML file's columns do, where column counts characters")
    func scalarColumns() {
        // 'e' + U+0301 (combining acute) is one character and two scalars; the flag is one character, two scalars.
        guard let error = F.parseError("'e\u{301}🇫🇷' == x #") else { return }
        #expect(error.position == [1, 11, 1])
        #expect(error.scalarColumn == 13)
        let second = F.parseError("'🇫🇷'\n  == x #")
        #expect(second?.position == [2, 8, 1])
        #expect(second?.scalarColumn == 8, "a line break starts counting again")
    }

    // MARK: - Type checking

    @Test(
        "Type errors are located at the culprit and name it, with a did-you-mean for names close to one there is",
        arguments: [
            Culprit(
                text: "stage.review.verdict == 'approve'", code: "unknown-name", line: 1, column: 1, length: 5,
                says: "did you mean 'stages'?"),
            Culprit(
                text: "input.topic == 'x'", code: "unknown-name", line: 1, column: 1, length: 5,
                says: "unknown name 'input'; did you mean 'inputs'?"),
            Culprit(
                text: "zzz == 1", code: "unknown-name", line: 1, column: 1, length: 3,
                says: "unknown name 'zzz'; the names here are 'inputs', 'item', 'round' and 'stages'"),
            Culprit(
                text: "stages.classify.json.categroy == 'tech'", code: "unknown-field", line: 1, column: 22, length: 8,
                says:
                    "'stages.classify.json' has no field 'categroy'; did you mean 'category'? its fields are 'category', 'confidence', 'note' and 'tags'"
            ),
            Culprit(
                text: "stages.clasify.skipped", code: "unknown-field", line: 1, column: 8, length: 7,
                says: "'stages' has no field 'clasify'; did you mean 'classify'?"),
            Culprit(
                text: "stages.review.verdit == 'approve'", code: "unknown-field", line: 1, column: 15, length: 6,
                says: "did you mean 'verdict'?"),
            Culprit(
                text: "stages.draft-2.json.x == 1", code: "unknown-field", line: 1, column: 16, length: 4,
                says: "'stages.draft-2' has no field 'json'; its fields are 'output' and 'skipped'"),
            Culprit(
                text: "stages.classify.json['categroy'] == 'tech'", code: "unknown-field", line: 1, column: 22, length: 10,
                says: "did you mean 'category'?"),
            Culprit(
                text: "has(stages.classify.json.notes)", code: "unknown-field", line: 1, column: 26, length: 5, says: "did you mean 'note'?"
            ),
            Culprit(
                text: "inputs.topic == 3", code: "expression-type", line: 1, column: 17, length: 1,
                says: "cannot compare 'inputs.topic' (string) with '3' (int) using '=='"),
            Culprit(
                text: "round < 'two'", code: "expression-type", line: 1, column: 9, length: 5,
                says: "cannot compare 'round' (int) with ''two'' (string) using '<'"),
            Culprit(
                text: "stages.classify.json.category == \"bilingg\"", code: "unknown-enum-value", line: 1, column: 34, length: 9,
                says:
                    "'bilingg' is never a value of 'stages.classify.json.category', which is 'billing', 'tech' or 'other'; did you mean 'billing'?"
            ),
            Culprit(
                text: "'sales' != stages.classify.json.category", code: "unknown-enum-value", line: 1, column: 1, length: 7,
                says: "'sales' is never a value of 'stages.classify.json.category'"),
            Culprit(
                text: "stages.classify.json.category in ['billing', 'sales']", code: "unknown-enum-value", line: 1, column: 46,
                length: 7, says: "'sales' is never a value"),
            Culprit(
                text: "stages.review.verdict == 'approved'", code: "unknown-enum-value", line: 1, column: 26, length: 10,
                says: "which is 'approve' or 'revise'; did you mean 'approve'?"),
            Culprit(
                text: "inputs.topic == null", code: "expression-type", line: 1, column: 1, length: 12,
                says: "'inputs.topic' (string) is never null; use has()"),
            Culprit(
                text: "!inputs.topic", code: "expression-type", line: 1, column: 2, length: 12,
                says: "'!' needs true or false, but 'inputs.topic' is a string"),
            Culprit(
                text: "round > 1 && stages.draft-2.output", code: "expression-type", line: 1, column: 14, length: 21,
                says: "'&&' needs true or false, but 'stages.draft-2.output' is a string"),
            Culprit(
                text: "'x' in round", code: "expression-type", line: 1, column: 8, length: 5,
                says: "'in' needs a list, a string or an object on its right, but 'round' is an int"),
            Culprit(
                text: "1 in stages.classify.json.tags", code: "expression-type", line: 1, column: 1, length: 1,
                says: "cannot compare '1' (int) with 'stages.classify.json.tags' (list of string) using 'in'"),
            Culprit(
                text: "size(round) > 1", code: "expression-type", line: 1, column: 6, length: 5,
                says: "'size' needs a string, a list or an object"),
            Culprit(text: "round.contains('1')", code: "expression-type", line: 1, column: 1, length: 5, says: "'contains' needs a string"),
            Culprit(
                text: "round.x == 1", code: "expression-type", line: 1, column: 7, length: 1, says: "'round' is an int and has no fields"),
            Culprit(
                text: "inputs.topic[0] == 'R'", code: "expression-type", line: 1, column: 14, length: 1, says: "cannot be indexed by an int"
            ),
            Culprit(text: "-inputs.topic == 1", code: "expression-type", line: 1, column: 2, length: 12, says: "'-' needs a number"),
        ])
    func typeErrorPositions(culprit: Culprit) {
        guard let expression = F.parse(culprit.text) else { return }
        let errors = expression.check(in: F.scope).errors
        #expect(errors.count == 1, "\(errors)")
        guard let error = errors.first else { return }
        #expect(error.code.rawValue == culprit.code, "\(error)")
        #expect(error.position == culprit.position, "\(error)")
        #expect(error.message.contains(culprit.says), "\(error)")
    }

    @Test("A condition must be a bool: a string, a number or a list is a type error, not truthy")
    func conditionMustBeBool() {
        for text in ["stages.draft-2.output", "round", "stages.classify.json.tags", "inputs.mode"] {
            guard let expression = F.parse(text) else { continue }
            #expect(expression.check(in: F.scope).errors.isEmpty, "'\(text)' is a fine value")
            let errors = expression.checkCondition(in: F.scope)
            #expect(errors.map(\.code) == ["expression-type"], "\(text): \(errors)")
            #expect(errors.first?.message.contains("not true or false") == true)
            #expect(errors.first?.position == [1, 1, text.count])
        }
        for text in ["stages.draft-2.skipped", "item.flag", "has(item.x) && item.x"] {
            #expect(F.parse(text)?.checkCondition(in: F.scope) == [], "\(text) is bool, or known only when it runs")
        }
    }

    @Test("Well-typed conditions of every kind check with no error and type bool")
    func wellTypedConditions() {
        let conditions = [
            "stages.classify.json.category == 'billing' && stages.classify.json.confidence >= 0.5",
            "stages.classify.json.category in ['billing', 'tech'] or not stages.review.skipped",
            "stages.review.verdict != 'approve' && round < 3 && round <= 2.5",
            "'refund' in stages.classify.json.tags && size(stages.classify.json.tags) > 1",
            "has(stages.classify.json.note) && stages.classify.json.note.lower().contains('urgent')",
            "stages.classify.json.note == null || stages.classify.json.note.startsWith('x')",
            "inputs.topic.endsWith('?') || inputs.topic.upper() == 'HELP' || 'fund' in inputs.topic",
            "inputs.mode == 'careful' && 'topic' in inputs",
            "item.anything.deep[0]['k'] == 3 && item.title > 'a'",
            "stages['draft-2'].skipped && -round < 0 && [1, 2.5] == [1, 2]",
            "stages.classify.json.tags[0] == 'refund' && stages.classify.json.tags.size() == 2",
        ]
        for text in conditions {
            guard let expression = F.parse(text) else { continue }
            let (type, errors) = expression.check(in: F.scope)
            #expect(errors.isEmpty, "\(text): \(errors)")
            #expect(type == .bool, "\(text): \(type)")
            #expect(expression.checkCondition(in: F.scope).isEmpty)
        }
    }

    @Test("Every error of an expression is reported in one pass, in order of position, each once")
    func allErrorsInOrder() {
        let text = "stage.x == 1 ||\n  stages.classify.json.categroy == 'x' ||\n  inputs.topic > 3"
        let errors = F.parse(text)?.checkCondition(in: F.scope) ?? []
        #expect(errors.map(\.code) == ["unknown-name", "unknown-field", "expression-type"])
        #expect(errors.map(\.position) == [[1, 1, 5], [2, 24, 8], [3, 18, 1]])
    }

    @Test("The types of values: fields, optional fields, list items, method results, list literals")
    func typesOfValues() {
        let cases: [(String, ExpressionType)] = [
            ("stages.classify.json.category", .strings(["billing", "tech", "other"])),
            ("stages.classify.json.note", .optional(.string)),
            ("stages.classify.json.tags[1]", .string),
            ("stages.classify.json.confidence", .double),
            ("stages.review.verdict", .verdict),
            ("item.x.y", .any),
            ("inputs.topic.lower()", .string),
            ("size(inputs.topic)", .int),
            ("[1, 2]", .list(.int)),
            ("[1, 2.5]", .list(.double)),
            ("['a', inputs.mode]", .list(.string)),
            ("[1, 'a']", .list(.any)),
            ("-round", .int),
        ]
        for (text, expected) in cases {
            #expect(F.parse(text)?.check(in: F.scope).type == expected, "\(text)")
        }
    }

    @Test("Every example in docs/expressions.md parses and checks as a condition")
    func documentedExamples() throws {
        let doc = try String(contentsOfFile: Fixtures.path("docs/expressions.md"), encoding: .utf8)
        let examples = try #require(doc.firstRange(of: "## Examples\n\n```text\n")).upperBound
        let block = doc[examples...].prefix { $0 != "`" }.split(separator: "\n").map(String.init)
        // And the `when:` lines of its YAML examples.
        let conditions =
            block
            + doc.split(separator: "\n").compactMap { line in
                let trimmed = line.drop { $0 == " " }
                return trimmed.hasPrefix("when: ") ? String(trimmed.dropFirst(6)) : nil
            }
        #expect(conditions.count >= 8, "\(conditions)")
        let scope = ExpressionScope(["inputs": .any, "stages": .any, "item": .any, "round": .int])
        for text in conditions {
            #expect(F.parse(text)?.checkCondition(in: scope) == [], "\(text)")
        }
    }
}
