/// The root names an expression may read where it is written, with their types.
///
/// For a stage's `when:` the compiler builds, for example, `["inputs": .object(...), "stages": .object(...),
/// "round": .int]`, and adds `"item"` inside a fan-out.
public struct ExpressionScope: Sendable, Hashable {
    /// The types of the root names.
    public var names: [String: ExpressionType]

    /// Creates a scope from its root names.
    public init(_ names: [String: ExpressionType]) {
        self.names = names
    }
}
