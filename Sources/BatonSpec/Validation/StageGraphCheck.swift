/// Checks `needs`, `reviews` and `outputs`, builds the dependency edges, and finds cycles.
enum StageGraphCheck {
    static func run(_ context: inout CompilationContext) {
        let names = context.stageNames
        for stage in context.spec.stages {
            let path = "stages.\(stage.name)"
            for (index, need) in stage.needs.enumerated() {
                let location = context.sourceMap.location("\(path).needs[\(index)]")
                if need == stage.name {
                    context.emit(.selfReference(stage.name, how: "needs"), at: location)
                } else if context.stageIndex[need] == nil {
                    context.emit(
                        .unknownStage(need, usedBy: "stage '\(stage.name)' needs", suggestion: Suggestion.closest(to: need, in: names)),
                        at: location)
                } else {
                    context.addDependency(stage.name, on: need, .needs(location))
                }
            }
            checkCritic(stage, &context)
        }
        for (index, output) in (context.spec.outputs ?? []).enumerated() where context.stageIndex[output] == nil {
            context.emit(
                .unknownStage(output, usedBy: "'outputs' names", suggestion: Suggestion.closest(to: output, in: names)),
                at: context.sourceMap.location("outputs[\(index)]"))
        }
    }

    private static func checkCritic(_ stage: StageSpec, _ context: inout CompilationContext) {
        let path = "stages.\(stage.name)"
        guard let reviewed = stage.reviews else {
            for key in ["max_rounds", "on_exhausted"] where context.sourceMap.values["\(path).\(key)#key"] != nil {
                context.emit(.criticSettingWithoutReviews(key, stage: stage.name), at: context.sourceMap.keyLocation("\(path).\(key)"))
            }
            return
        }
        let location = context.sourceMap.location("\(path).reviews")
        if stage.output != nil {
            context.emit(.criticOutput(stage.name), at: context.sourceMap.keyLocation("\(path).output"))
        }
        if reviewed == stage.name {
            context.emit(.criticReviewsItself(stage.name), at: location)
            return
        }
        guard let target = context.stage(reviewed) else {
            context.emit(
                .unknownStage(
                    reviewed, usedBy: "critic '\(stage.name)' reviews", suggestion: Suggestion.closest(to: reviewed, in: context.stageNames)
                ),
                at: location)
            return
        }
        if target.isCritic {
            context.emit(.criticReviewsCritic(stage.name, other: reviewed), at: location)
            return
        }
        // A critic of a call: reported by CallCheck.
        if target.isCall { return }
        if let first = context.criticOf[reviewed] {
            context.emit(
                .duplicateCritic(reviewed, first: first, second: stage.name), at: location,
                notes: [
                    Diagnostic.Note(
                        "critic '\(first)' reviews '\(reviewed)' here", at: context.sourceMap.location("stages.\(first).reviews"))
                ])
            return
        }
        context.criticOf[reviewed] = stage.name
        context.addDependency(stage.name, on: reviewed, .reviews(location))
    }

    /// Reports each cycle once: as `not-upstream` where a template reference closes it, else as `cycle`.
    static func checkCycles(_ context: inout CompilationContext) {
        context.addCriticDependencies()
        let names = context.stageNames
        // Flow edges: dependency -> dependent.
        var dependents: [String: [String]] = [:]
        for stage in names {
            for dependency in context.dependencies[stage] ?? [] {
                dependents[dependency.stage, default: []].append(stage)
            }
        }
        var state: [String: Int] = [:]  // 1 = on the stack, 2 = done
        var stack: [String] = []
        var reported: Set<String> = []
        var cycles: [[String]] = []

        func visit(_ node: String) {
            state[node] = 1
            stack.append(node)
            for next in (dependents[node] ?? []).sorted(by: { context.index(of: $0) < context.index(of: $1) }) {
                if state[next] == 1, let start = stack.firstIndex(of: next) {
                    let cycle = Array(stack[start...])
                    if reported.isDisjoint(with: cycle) {
                        cycles.append(cycle)
                        reported.formUnion(cycle)
                    }
                } else if state[next] == nil {
                    visit(next)
                }
            }
            stack.removeLast()
            state[node] = 2
        }
        for name in names where state[name] == nil {
            visit(name)
        }
        for cycle in cycles {
            report(cycle, &context)
        }
    }

    /// `cycle` lists stages in flow order: each runs before the next, and the last before the first.
    private static func report(_ cycle: [String], _ context: inout CompilationContext) {
        let count = cycle.count
        func reason(_ index: Int) -> DependencyReason? {
            let dependency = cycle[index]
            let dependent = cycle[(index + 1) % count]
            return context.dependencies[dependent]?.first { $0.stage == dependency }?.reason
        }
        // A condition, a route or a fan-out list in the cycle makes it a cycle of the flow, not a template reading a later stage.
        let isFlow = (0..<count).contains { index in
            switch reason(index) {
            case .condition, .route, .fanOut: true
            default: false
            }
        }
        for index in 0..<count where !isFlow {
            if case .reference(let location) = reason(index) {
                let used = cycle[index]
                let user = cycle[(index + 1) % count]
                // From the user around to the stage it uses.
                let path = (0..<count).map { cycle[(index + 1 + $0) % count] }
                if context.criticOf[user] == used {
                    context.emit(.usesOwnCritic(stage: user, critic: used), at: location)
                } else {
                    context.emit(.notUpstream(stage: user, uses: used, path: path), at: location)
                }
                return
            }
        }
        let start = (0..<count).min { context.index(of: cycle[$0]) < context.index(of: cycle[$1]) } ?? 0
        let path = (0...count).map { cycle[(start + $0) % count] }
        // At a 'needs' entry of the cycle, else at a condition or route that closes it.
        var location: SourceLocation?
        for offset in 0..<count {
            if case .needs(let found) = reason((start + offset) % count) {
                location = found
                break
            }
        }
        for offset in 0..<count where location == nil {
            switch reason((start + offset) % count) {
            case .condition(let found), .route(let found), .fanOut(let found): location = found
            default: continue
            }
        }
        context.emit(.cycle(path), at: location ?? context.stageLocation(path[0]))
    }
}
