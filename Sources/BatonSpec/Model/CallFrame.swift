/// One sub-pipeline call a stage was inlined through (`uses:`).
public struct CallFrame: Sendable, Hashable, Codable {
    /// The full name of the calling stage ("review", or "outer/review" when nested): the prefix of its stages' names.
    public var path: String
    /// The called pipeline's name.
    public var pipeline: String
    /// The called pipeline's declared inputs (for defaults and `required`).
    public var inputs: [InputSpec]
    /// `with:`: input name → template, rendered in the CALLER's scope (the frame before this one, or the top level).
    public var with: [String: String]
    /// Full names of the stages the `with` templates and the `when:` read, plus the call's `needs`: what the
    /// call waits for. The called pipeline's first stages depend on them too.
    public var dependencies: [String]
    /// The calling stage's `when:`, in the caller's scope; nil: none.
    public var condition: Expression?
    /// When a route's branch runs the calling stage: the router (full name) and the branches.
    public var routedBy: RouteChoice?
    /// Full names of the called pipeline's output stages, in its `outputs` order (its default outputs otherwise).
    public var outputs: [String]

    /// Creates a frame.
    public init(
        path: String, pipeline: String, inputs: [InputSpec], with: [String: String], dependencies: [String],
        condition: Expression? = nil, routedBy: RouteChoice? = nil, outputs: [String]
    ) {
        self.path = path
        self.pipeline = pipeline
        self.inputs = inputs
        self.with = with
        self.dependencies = dependencies
        self.condition = condition
        self.routedBy = routedBy
        self.outputs = outputs
    }
}
