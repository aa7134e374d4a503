import BatonSpec

/// Refuses a plan this build cannot run: model stages with `tools:` are validated and planned (issue 12), but the
/// executor does not run a model's tool loop yet (tool stages themselves run). Checked once, before a run is recorded
/// or resumed, so no such run starts and then fails or, worse, sends a tool stage's empty prompt to a model.
public enum ToolStageGate {
    /// Why the plan cannot run: the first stage this build cannot run, by name.
    public struct Refusal: Error, Sendable, Equatable, CustomStringConvertible {
        /// The stage's name.
        public var stage: String
        /// What the user reads.
        public var description: String
    }

    /// Throws for the first stage (in plan order) that calls tools.
    public static func check(_ plan: ExecutionPlan) throws(Refusal) {
        // Tool stages run (Executor+Tools); only a model's tool loop does not yet.
        for stage in plan.stages {
            if stage.toolUse != nil {
                throw Refusal(
                    stage: stage.name,
                    description: "stage '\(stage.name)' calls tools ('tools:'); this build validates tool use but cannot run it "
                        + "yet ('baton validate', 'plan' and 'graph' work)")
            }
        }
    }
}
