import BatonSpec

/// `baton bench`'s role override (`TestOptions.roleModels`): every stage of a role runs on one candidate model.
///
/// Applied to the compiled plan, before the run's snapshot is made: each stage whose `role` is overridden gets the
/// candidate as its only model, whatever the stage's own `model:`, the pipeline's defaults or role mapping chose, and no
/// fallbacks (a fallback would measure another model under the candidate's name). The candidate is resolved through
/// the profile's registry like any model name (`RUNTIME:NAME` pins a runtime). The TestRunner calls ``apply(_:to:)``
/// right after PlanLoader; BenchRunner calls ``check(_:plans:profile:inventory:echo:)`` first, so an unknown candidate
/// stops the bench before anything runs.
public enum RoleOverride {
    /// Why a candidate cannot be benchmarked: its message names the model, the role and the fix.
    public struct Failure: Error, Sendable, Hashable, CustomStringConvertible {
        /// What is wrong and what to do.
        public var message: String
        /// A failure saying `message`.
        public init(_ message: String) { self.message = message }
        public var description: String { message }
    }

    /// `plan` with every stage of a role in `roleModels` running on that role's candidate only, resolved through
    /// `profile`'s registry (without a profile the name is kept as written, for echo runs). Roles no stage has are
    /// left alone: a bench over several pipelines checks that each role is used somewhere (``check``).
    public static func apply(_ roleModels: [String: String], to plan: ExecutionPlan, profile: ResolvedProfile?) -> ExecutionPlan {
        guard !roleModels.isEmpty else { return plan }
        var plan = plan
        for index in plan.stages.indices {
            let stage = plan.stages[index]
            guard let role = stage.role, let candidate = roleModels[role], !stage.isTool, !stage.isRetrieve else { continue }
            plan.stages[index].models = [resolve(candidate, profile: profile)]
            plan.stages[index].modelChoice = ModelChoice(
                rule: .stage, explanation: "baton bench runs role '\(role)' on \(candidate)")
        }
        return plan
    }

    /// The candidate `reference` (`NAME` or `RUNTIME:NAME`) as the compiler resolves a stage's model.
    public static func resolve(_ reference: String, profile: ResolvedProfile?) -> ResolvedModel {
        IndexPlanning.resolveModel(reference, profile: profile?.spec)
    }

    /// Checks every candidate before a bench runs: each role is the role of some model stage of `plans`; on real
    /// models (not `echo`) each candidate resolves to a runtime of `profile` and, when discovery asked that runtime,
    /// the runtime has it. Returns every problem found, in role then candidate order; empty: all can run.
    public static func check(
        _ roles: [(role: String, candidates: [String])], plans: [ExecutionPlan], profile: ResolvedProfile?, inventory: ModelInventory?,
        echo: Bool
    ) -> [Failure] {
        var failures: [Failure] = []
        let used = Set(plans.flatMap { $0.stages.filter { !$0.isTool && !$0.isRetrieve }.compactMap(\.role) })
        for (role, candidates) in roles {
            if !used.contains(role) {
                let known = used.sorted().map { "'\($0)'" }.joined(separator: ", ")
                failures.append(
                    Failure(
                        "no stage of the tested pipelines has role '\(role)'"
                            + (known.isEmpty ? "; give stages a 'role:' to benchmark them" : "; their roles are \(known)")))
            }
            if candidates.isEmpty { failures.append(Failure("--role \(role)= names no model; give ROLE=MODEL[,MODEL...]")) }
            guard !echo else { continue }
            for candidate in candidates {
                if let problem = problem(with: candidate, role: role, profile: profile, inventory: inventory) {
                    failures.append(problem)
                }
            }
        }
        return failures
    }

    /// Why `candidate` cannot run for `role` on real models, or nil when it can (as far as discovery knows).
    static func problem(with candidate: String, role: String, profile: ResolvedProfile?, inventory: ModelInventory?) -> Failure? {
        guard let profile else {
            return Failure("model '\(candidate)' for role '\(role)' needs a profile to find its runtime; give --profile")
        }
        let resolved = resolve(candidate, profile: profile)
        let owner = "profile '\(profile.spec.name)'"
        guard let runtimeName = resolved.runtime, let runtime = profile.spec.runtime(named: runtimeName) else {
            return Failure(
                "model '\(candidate)' for role '\(role)' has no runtime in \(owner): add it to the profile's 'models:' with a runtime, "
                    + "or write it as RUNTIME:\(candidate)")
        }
        if let inventory, case .missing = inventory.availability(of: resolved.name, on: runtime) {
            return Failure(
                "model '\(candidate)' for role '\(role)' is not on runtime '\(runtimeName)' of \(owner); 'baton models' lists what it has")
        }
        return nil
    }

    /// The variant a role override is reported under: `role=model` pairs sorted by role, space-separated
    /// (`executor=c planner=a`); empty for no override.
    public static func variant(_ roleModels: [String: String]) -> String {
        roleModels.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
    }
}
