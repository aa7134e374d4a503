/// The branches a JSON stage's answer selects (`route:` on the stage): the value of one field of the answer
/// picks the stages that run; the stages of the other branches are skipped.
///
/// ```yaml
/// route:
///   on: team                      # a field of the answer, a dotted path into its JSON
///   cases:
///     billing: billing_reply      # one stage or a list
///     bug: [bug_triage, bug_reply]
///   default: general_reply        # any other value; without it every value of the field's enum needs a case
/// ```
public struct RouteSpec: Sendable, Hashable, Codable {
    /// The field of the stage's JSON answer whose value selects the branch, as a dotted path (`team`, `triage.team`).
    public var on: String
    /// The branches in file order: a value of the field and the stages it runs.
    public var cases: [RouteCase]
    /// The stages run when the value matches no case (the `default` key); nil when there is no default branch.
    public var otherwise: [String]?

    /// Creates a route.
    public init(on: String, cases: [RouteCase], otherwise: [String]?) {
        self.on = on
        self.cases = cases
        self.otherwise = otherwise
    }

    /// The keys as written in files.
    public enum CodingKeys: String, CodingKey, CaseIterable {
        case on, cases
        case otherwise = "default"
    }

    /// Every stage some branch runs, in file order, each once.
    public var branchStages: [String] {
        var seen = Set<String>()
        return (cases.flatMap(\.stages) + (otherwise ?? [])).filter { seen.insert($0).inserted }
    }

    /// The name of the branch `value` selects: the case's value, `default`, or nil when no branch takes it.
    public func branch(for value: String) -> String? {
        if cases.contains(where: { $0.value == value }) { return value }
        return otherwise == nil ? nil : "default"
    }

    /// The stages the branch named `branch` (a case's value or `default`) runs.
    public func stages(ofBranch branch: String) -> [String] {
        if let match = cases.first(where: { $0.value == branch }) { return match.stages }
        return branch == "default" ? otherwise ?? [] : []
    }
}

/// One branch of a ``RouteSpec``: the value that selects it and the stages it runs.
public struct RouteCase: Sendable, Hashable, Codable {
    /// The value of the route's field.
    public var value: String
    /// The stages this branch runs.
    public var stages: [String]

    /// Creates a branch.
    public init(value: String, stages: [String]) {
        self.value = value
        self.stages = stages
    }
}

/// How a stage that a route's branch runs is chosen: the routing stage, and the branches that run it.
public struct RouteChoice: Sendable, Hashable, Codable {
    /// The stage whose `route` selects this one.
    public var router: String
    /// The branches (case values, or `default`) that run this stage.
    public var branches: [String]

    /// Creates a route choice.
    public init(router: String, branches: [String]) {
        self.router = router
        self.branches = branches
    }
}
