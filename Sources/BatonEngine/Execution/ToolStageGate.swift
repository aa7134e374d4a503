import BatonSpec

/// Refuses a plan this build cannot run, once, before a run is recorded or resumed. Since issue 12 every stage kind runs
/// (tool stages in Executor+Tools, a model's tool loop in Executor+ToolLoop), so nothing is refused; the check stays the
/// one place a later stage kind that is planned before it runs would be refused.
public enum ToolStageGate {
    /// Why the plan cannot run: the first stage this build cannot run, by name.
    public struct Refusal: Error, Sendable, Equatable, CustomStringConvertible {
        /// The stage's name.
        public var stage: String
        /// What the user reads.
        public var description: String
    }

    /// Throws for the first stage (in plan order) this build cannot run: none today.
    public static func check(_ plan: ExecutionPlan) throws(Refusal) {}
}
