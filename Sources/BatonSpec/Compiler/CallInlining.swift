/// A pipeline a `uses:` stage calls, compiled on its own (calls.md).
struct CalledPipeline {
    /// The called file's path, as the resolver gave it.
    var file: String
    /// The called pipeline's plan, its own calls already inlined.
    var plan: ExecutionPlan

    /// The most calls any of its stages is inlined through (0 without `uses`).
    var height: Int { plan.stages.map { $0.calls?.count ?? 0 }.max() ?? 0 }

    /// The output stage `stages.X.output` and `stages.X.json` of the call read: the first of the plan's outputs.
    var firstOutput: PlannedStage? { plan.outputs.first.flatMap { plan.stage(named: $0) } }

    /// The type of `stages.X.json` of the call: its first output stage's JSON type; `any` when that stage has no one
    /// JSON answer or no schema (unknown before the run).
    var jsonType: ExpressionType {
        guard let stage = firstOutput, stage.output.format == .json, let schema = stage.output.schema else { return .any }
        if let fanOut = stage.fanOut, fanOut.source != nil || fanOut.vote == nil { return .any }
        return ExpressionType(jsonSchema: schema)
    }

    /// Whether the first output stage may be skipped inside the call (its condition, a route, a call it is in).
    var outputMayBeSkipped: Bool {
        guard let stage = firstOutput else { return true }
        return stage.condition != nil || stage.routedBy != nil
            || (stage.calls ?? []).contains { $0.condition != nil || $0.routedBy != nil }
    }
}

extension CompilationContext {
    /// The plan's stages in execution order, each call replaced by its called plan's stages named `X/S` (calls.md).
    /// Without calls, exactly the stages ``plannedStage(_:)`` gives.
    func inlinedStages() -> [PlannedStage] {
        let order = executionOrder()
        guard !calls.isEmpty else { return order.map { plannedStage($0) } }
        var expansion: [String: [String]] = [:]
        for (name, call) in calls {
            expansion[name] = call.plan.stages.map { "\(name)/\($0.name)" }
        }
        func expand(_ names: [String]) -> [String] { names.flatMap { expansion[$0] ?? [$0] } }

        var stages: [PlannedStage] = []
        for name in order {
            guard let call = calls[name] else {
                var planned = plannedStage(name)
                planned.dependencies = expand(planned.dependencies)
                planned.route = planned.route.map { $0.expanding(expand) }
                stages.append(planned)
                continue
            }
            let frame = CallFrame(
                path: name, pipeline: call.plan.pipeline, inputs: call.plan.inputs, with: stage(name)?.with ?? [:],
                dependencies: expand(sortedDependencies(of: name)), condition: conditions[name], routedBy: routedBy[name],
                outputs: call.plan.outputs.map { "\(name)/\($0)" })
            stages += call.plan.stages.map { $0.inlined(into: frame) }
        }
        return stages
    }

    /// The plan's outputs with each call replaced by its frame's outputs (full names).
    func inlinedOutputs() -> [String] {
        outputStages.flatMap { name in calls[name].map { call in call.plan.outputs.map { "\(name)/\($0)" } } ?? [name] }
    }

    /// The stages `name` depends on, in file order (as ``plannedStage(_:)`` lists them).
    func sortedDependencies(of name: String) -> [String] {
        (dependencies[name] ?? []).map(\.stage).sorted { index(of: $0) < index(of: $1) }
    }
}

extension RouteSpec {
    /// The route with every stage list passed through `transform` (a call's name to its stages' full names, a name to
    /// its prefixed form).
    func expanding(_ transform: ([String]) -> [String]) -> RouteSpec {
        RouteSpec(
            on: on, cases: cases.map { RouteCase(value: $0.value, stages: transform($0.stages)) }, otherwise: otherwise.map(transform))
    }
}

extension PlannedStage {
    /// This stage of a called plan as the calling plan holds it: every stage name prefixed with the frame's path,
    /// the frame first in `calls`, and, when it depends on nothing inside the called pipeline, the frame's
    /// dependencies as its own. Templates and expressions stay as written (the called pipeline's scope).
    func inlined(into frame: CallFrame) -> PlannedStage {
        let prefix = frame.path + "/"
        func full(_ name: String) -> String { prefix + name }
        var copy = self
        copy.name = full(name)
        copy.dependencies = dependencies.isEmpty ? frame.dependencies : dependencies.map(full)
        if let reviews = critic?.reviews { copy.critic?.reviews = full(reviews) }
        copy.reviewedBy = reviewedBy.map(full)
        copy.cite = cite.map(full)
        if let router = routedBy?.router { copy.routedBy?.router = full(router) }
        copy.route = route?.expanding { $0.map(full) }
        // A tool named by stage is the called pipeline's stage; `SERVER.TOOL` names a server, not a stage.
        copy.toolUse?.tools = toolUse?.tools.map { $0.contains(".") ? $0 : full($0) } ?? []
        let inner = (calls ?? []).map { frame -> CallFrame in
            var frame = frame
            frame.path = full(frame.path)
            frame.dependencies = frame.dependencies.map(full)
            if let router = frame.routedBy?.router { frame.routedBy?.router = full(router) }
            frame.outputs = frame.outputs.map(full)
            return frame
        }
        copy.calls = [frame] + inner
        return copy
    }
}
