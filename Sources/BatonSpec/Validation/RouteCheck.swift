/// Checks each stage's `route:` (docs/pipeline-format.md, "Routes"): the router answers in JSON, `on` is a field of
/// its schema, every value of an enum field is handled (or there is a `default`), and the branch stages exist, are
/// not the router or a critic, and are in one route only. Each branch stage gets its ``RouteChoice`` and depends on
/// the router.
enum RouteCheck {
    static func run(_ context: inout CompilationContext) {
        for router in context.spec.stages {
            guard let route = router.route else { continue }
            // The route reads the router's answer: its output is used.
            context.referencedStages.insert(router.name)
            checkField(route, of: router, &context)
            checkStages(route, of: router, &context)
        }
    }

    // MARK: - The field

    private static func checkField(_ route: RouteSpec, of router: StageSpec, _ context: inout CompilationContext) {
        let path = "stages.\(router.name).route"
        guard router.output?.format == .json else {
            context.emit(.routeNotJSON(router.name, field: route.on), at: context.sourceMap.keyLocation(path))
            return
        }
        let segments = route.on.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
        let onLocation = context.sourceMap.location("\(path).on")
        guard segments.allSatisfy({ !$0.isEmpty && !$0.contains(where: \.isWhitespace) }) else {
            context.emit(.routeFieldPath(route.on, stage: router.name), at: onLocation)
            return
        }
        let schema = router.output?.schema.map { ExpressionType(jsonSchema: $0) } ?? .any
        let type: ExpressionType
        switch schema.follow(segments) {
        case .found(let field):
            type = field
        case .unknownField(let index, _, let names):
            let segment = segments[index]
            context.emit(
                .unknownRouteField(
                    segment, in: segments[..<index].joined(separator: "."), stage: router.name, fields: names,
                    suggestion: Suggestion.closest(to: segment, in: names)),
                at: onLocation)
            return
        case .notObject(let index, let found):
            context.emit(
                .routeFieldNotObject(segments[..<index].joined(separator: "."), type: found.description, stage: router.name), at: onLocation
            )
            return
        }
        checkCases(route, field: type, of: router, &context)
    }

    /// Against an enum field (or a boolean, whose values are `true` and `false`): every case a value of it, every value
    /// handled unless there is a `default`. Against any other field: a `default` is needed, since no list of cases can
    /// cover every value.
    private static func checkCases(_ route: RouteSpec, field: ExpressionType, of router: StageSpec, _ context: inout CompilationContext) {
        let path = "stages.\(router.name).route"
        for (index, branch) in route.cases.enumerated() where branch.value == "default" {
            context.emit(.routeCaseNamedDefault(router.name), at: context.sourceMap.location("\(path).cases[\(index)]#key"))
        }
        // A boolean is read as its JSON text at run time, so `true` and `false` cover it as an enum's values do.
        let enumerated: [String]? =
            switch field.unwrapped {
            case .strings(let values): values
            case .bool: ["true", "false"]
            default: nil
            }
        guard let values = enumerated else {
            if route.otherwise == nil {
                context.emit(
                    .routeNeedsDefault(route.on, type: field.unwrapped.description, stage: router.name),
                    at: context.sourceMap.keyLocation("\(path).cases"))
            }
            return
        }
        for (index, branch) in route.cases.enumerated() where branch.value != "default" && !values.contains(branch.value) {
            context.emit(
                .unknownRouteCase(
                    branch.value, field: route.on, stage: router.name, allowed: values,
                    suggestion: Suggestion.closest(to: branch.value, in: values)),
                at: context.sourceMap.location("\(path).cases[\(index)]#key"))
        }
        let handled = Set(route.cases.map(\.value))
        let missing = values.filter { !handled.contains($0) }
        if route.otherwise == nil, !missing.isEmpty {
            context.emit(
                .routeUnhandledValues(missing, field: route.on, stage: router.name), at: context.sourceMap.keyLocation("\(path).cases"))
        }
    }

    // MARK: - The branch stages

    private static func checkStages(_ route: RouteSpec, of router: StageSpec, _ context: inout CompilationContext) {
        let path = "stages.\(router.name).route"
        // Each named stage with the branches that run it and where it is first named, in file order.
        var order: [String] = []
        var branches: [String: (names: [String], location: SourceLocation?)] = [:]
        func visit(_ names: [String], branch: String, path listPath: String) {
            for (index, name) in names.enumerated() {
                let location = context.sourceMap.location("\(listPath)[\(index)]")
                guard isValidBranchStage(name, of: router, at: location, &context) else { continue }
                if branches[name] == nil {
                    order.append(name)
                    branches[name] = ([], location)
                }
                if !branches[name]!.names.contains(branch) { branches[name]!.names.append(branch) }
            }
        }
        for (index, branch) in route.cases.enumerated() {
            visit(branch.stages, branch: branch.value, path: "\(path).cases[\(index)]")
        }
        if let otherwise = route.otherwise {
            visit(otherwise, branch: "default", path: "\(path).default")
        }
        for name in order {
            let (names, location) = branches[name]!
            if let first = context.routedBy[name] {
                context.emit(
                    .stageInTwoRoutes(name, first: first.router, second: router.name), at: location,
                    notes: [
                        Diagnostic.Note(
                            "the route of '\(first.router)' runs '\(name)' here", at: firstMention(name, of: first.router, context))
                    ])
                continue
            }
            context.routedBy[name] = RouteChoice(router: router.name, branches: names)
            context.addDependency(name, on: router.name, .route(location))
        }
    }

    private static func isValidBranchStage(
        _ name: String, of router: StageSpec, at location: SourceLocation?, _ context: inout CompilationContext
    ) -> Bool {
        if name == router.name {
            context.emit(.routeToItself(router.name), at: location)
            return false
        }
        guard let stage = context.stage(name) else {
            context.emit(
                .unknownStage(
                    name, usedBy: "the route of stage '\(router.name)' runs",
                    suggestion: Suggestion.closest(to: name, in: context.stageNames)),
                at: location)
            return false
        }
        if let reviewed = stage.reviews {
            context.emit(.routeToCritic(name, router: router.name, reviews: reviewed), at: location)
            return false
        }
        return true
    }

    /// Where the route of `router` first names `stage`.
    private static func firstMention(_ stage: String, of router: String, _ context: CompilationContext) -> SourceLocation? {
        guard let route = context.stage(router)?.route else { return nil }
        let path = "stages.\(router).route"
        for (index, branch) in route.cases.enumerated() {
            if let position = branch.stages.firstIndex(of: stage) {
                return context.sourceMap.location("\(path).cases[\(index)][\(position)]")
            }
        }
        if let position = route.otherwise?.firstIndex(of: stage) {
            return context.sourceMap.location("\(path).default[\(position)]")
        }
        return nil
    }
}
