/// The result of an expression together with the values it read, for the record of a decided condition.
public struct ExpressionEvaluation: Sendable, Hashable {
    /// What the expression evaluated to.
    public var value: JSONValue
    /// Each fixed path it read, dotted (`stages.classify.json.category`), with the value found there.
    public var seen: [String: JSONValue]

    /// Creates an evaluation.
    public init(value: JSONValue, seen: [String: JSONValue]) {
        self.value = value
        self.seen = seen
    }
}
