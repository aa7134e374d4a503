import BatonSpec
import Foundation
import Testing

/// The scope and values the expression tests share: a pipeline with inputs, a classifier with a JSON schema,
/// a draft with text output, a critic, and a fan-out item.
enum ExpressionFixtures {
    /// A JSON value from JSON text.
    static func json(_ text: String) -> JSONValue {
        // Fixture text is written by hand in this file; a typo should fail loudly, not quietly become null.
        do {
            return try JSONDecoder().decode(JSONValue.self, from: Data(text.utf8))
        } catch {
            Issue.record("fixture JSON does not parse: \(error)\n\(text)")
            return .null
        }
    }

    /// The classifier's output schema: a required enum, a number, a list of strings, an optional note, closed.
    static let classifySchema = json(
        """
        {"type": "object",
         "properties": {
           "category": {"type": "string", "enum": ["billing", "tech", "other"]},
           "confidence": {"type": "number"},
           "tags": {"type": "array", "items": {"type": "string"}},
           "note": {"type": "string"}
         },
         "required": ["category", "confidence", "tags"],
         "additionalProperties": false}
        """)

    static let scope = ExpressionScope([
        "inputs": .object(fields: ["topic": .string, "mode": .strings(["fast", "careful"]), "limit": .int], open: false),
        "stages": .object(
            fields: [
                "classify": .object(
                    fields: ["output": .string, "skipped": .bool, "json": ExpressionType(jsonSchema: classifySchema)], open: false),
                "draft-2": .object(fields: ["output": .string, "skipped": .bool], open: false),
                "review": .object(fields: ["output": .string, "skipped": .bool, "verdict": .verdict, "feedback": .string], open: false),
            ],
            open: false),
        "round": .int,
        "item": .any,
    ])

    static let values: [String: JSONValue] = [
        "inputs": json(#"{"topic": "Refund for a double charge", "mode": "fast", "limit": 3}"#),
        "stages": json(
            """
            {"classify": {"output": "{}", "skipped": false,
                          "json": {"category": "billing", "confidence": 0.75, "tags": ["refund", "card"], "note": null}},
             "draft-2": {"output": "Dear customer", "skipped": true},
             "review": {"output": "", "skipped": false, "verdict": "revise", "feedback": "shorter"}}
            """),
        "round": .number(2),
        "item": json(#"{"title": "Héllo", "count": 3, "ratio": 2.5, "flag": "yes", "list": [1, 2, 3], "map": {"a b": 1, "c": null}}"#),
    ]

    /// The expression of `text`, or a recorded issue naming the parse error.
    static func parse(_ text: String, sourceLocation: Testing.SourceLocation = #_sourceLocation) -> BatonSpec.Expression? {
        do {
            return try BatonSpec.Expression.parse(text)
        } catch {
            Issue.record("'\(text)' does not parse: \(error)", sourceLocation: sourceLocation)
            return nil
        }
    }

    /// The parse error of `text`, or a recorded issue when it parses.
    static func parseError(_ text: String, sourceLocation: Testing.SourceLocation = #_sourceLocation) -> ExpressionError? {
        do {
            let expression = try BatonSpec.Expression.parse(text)
            Issue.record("'\(text)' parses, as \(expression.tree)", sourceLocation: sourceLocation)
            return nil
        } catch {
            return error
        }
    }

    /// The value of `text` against ``values``, or the error.
    static func evaluate(_ text: String) -> Result<JSONValue, ExpressionError> {
        guard let expression = try? BatonSpec.Expression.parse(text) else {
            return .failure(ExpressionError(code: "not-parsed", message: text, line: 0, column: 0, length: 0))
        }
        do {
            return .success(try expression.evaluate(values))
        } catch {
            return .failure(error)
        }
    }
}

extension ExpressionError {
    /// Line, column and length, to compare in one expectation.
    var position: [Int] { [line, column, length] }
}
