import BatonSpec
import Foundation

/// Conditions (`when:`), routes (`route:`) and skipped stages (issue 11; docs/runs-and-resume.md, "Skipped stages").
///
/// A stage is decided when the walk reaches it, before the thermal wait and any load: a skip recorded by an
/// earlier process (same fingerprint) is taken as it is, and a stage that completed before is not decided again,
/// so a resumed run never re-decides. Otherwise its router's branch, then its own condition, say whether it runs;
/// a critic follows the stage it reviews. A skip is an attempt (`skipped`) and a `stage-skipped` event, written in
/// one transaction. Stages without a condition, a route, a skipped reviewed stage or a call with one never come here.
///
/// A stage inlined through sub-pipeline calls (`uses:`) is first decided by its calls, outermost first: a call whose
/// `when:` is false, or whose route chose another branch, skips every stage of it, each recorded as any skip with the
/// call named in the reason (`call 'review': when: … was false`) and in the payload (`"call": "review"`).
extension Executor {
    /// Whether `stage` must be decided before it runs: it has a condition or a router, it is the critic of a
    /// skipped stage, or a sub-pipeline call it is in has one. Cheap, so the walk of a plan without conditions costs
    /// nothing more.
    static func needsDecision(_ stage: PlannedStage, state: RunState) -> Bool {
        if stage.condition != nil || stage.routedBy != nil { return true }
        if let loop = stage.critic, state.results[loop.reviews]?.skipped == true { return true }
        if let calls = stage.calls, calls.contains(where: { $0.condition != nil || $0.routedBy != nil }) { return true }
        return false
    }

    /// Decides `stage`: records its skip and returns true, or returns false when it runs (or ran before).
    ///
    /// - Throws: ``StageFailure`` when its condition cannot be evaluated (an absent value) or its router has no answer.
    func skipIfDecided(_ stage: PlannedStage, state: inout RunState) throws -> Bool {
        let fingerprint = state.fingerprints[stage.name] ?? ""
        if let done = state.decided[stage.name], done.fingerprint == fingerprint {
            state.record(stage: stage.name, .skipped)
            observer(.stageSkipped(stage: stage.name, reason: state.skipReasons[stage.name] ?? "", reused: true))
            return true
        }
        if let done = state.completed[StageRound(stage: stage.name, round: 1)], done.fingerprint == fingerprint { return false }
        // A fan-out stage whose list was pinned was decided to run (it may have no completed item yet).
        if stage.fanOut != nil, state.pinned[stage.name]?.fingerprint == fingerprint { return false }
        guard let skip = try decide(stage, state: &state) else {
            killSwitch?.hit(.conditionDecided)
            return false
        }
        let model = stage.models.first
        let now = RunStore.now()
        // Try 1, unless attempts superseded by `resume --use-current-pipeline` came first: the numbering goes on.
        let key = StageRound(stage: stage.name, round: 1)
        let tryNumber = state.triesSoFar[key, default: 0] + 1
        state.triesSoFar[key] = tryNumber
        let attempt = AttemptRecord(
            id: nil, runID: state.runID, stage: stage.name, round: 1, tryNumber: tryNumber, status: .skipped, model: model?.name,
            runtime: state.snapshot.forcedRuntime ?? model?.runtime, system: nil, prompt: "", output: "", verdict: nil, feedback: nil,
            promptTokens: nil, outputTokens: nil, startedAt: now, firstTokenAt: nil, finishedAt: now, timings: nil, error: nil,
            fingerprint: fingerprint)
        _ = try store.recordSkip(attempt, payload: skip.payload)
        killSwitch?.hit(.conditionDecided)
        state.record(stage: stage.name, .skipped)
        observer(.stageSkipped(stage: stage.name, reason: skip.reason, reused: false))
        return true
    }

    /// Why `stage` is skipped, or nil when it runs: its calls (outermost first), then the stage it reviews, its
    /// router, its condition.
    private func decide(_ stage: PlannedStage, state: inout RunState) throws -> Skip? {
        if let calls = stage.calls, let skip = try decideCalls(calls, state: &state) { return skip }
        if let loop = stage.critic, state.results[loop.reviews]?.skipped == true {
            return Skip(reason: "the stage it reviews, '\(loop.reviews)', was skipped", reviewed: loop.reviews)
        }
        if let choice = stage.routedBy, let skip = try Self.routeSkip(choice, of: "stage '\(stage.name)'", state: state) {
            return skip
        }
        guard let condition = stage.condition else { return nil }
        let values = Self.conditionValues(for: condition, stage: stage, state: state)
        return try Self.conditionSkip(condition, values: values, of: "stage '\(stage.name)'")
    }

    /// The first of `calls` (outermost first) that is skipped as a whole, decided once per call and execution: its
    /// router's branch, then its `when:`, each in its caller's scope.
    private func decideCalls(_ calls: [CallFrame], state: inout RunState) throws -> Skip? {
        for (depth, frame) in calls.enumerated() {
            if let decided = state.callDecisions[frame.path] {
                if let skip = decided { return skip }
                continue
            }
            guard frame.condition != nil || frame.routedBy != nil else { continue }
            let what = "call '\(frame.path)' (uses \(frame.pipeline))"
            var skip = try frame.routedBy.flatMap { try Self.routeSkip($0, of: what, state: state) }
            if skip == nil, let condition = frame.condition {
                let values = state.expressionValues(for: condition, in: StageScope(calls: calls, depth: depth), excluding: nil)
                skip = try Self.conditionSkip(condition, values: values, of: what)
            }
            guard var skip else {
                state.callDecisions[frame.path] = .some(nil)
                state.skippedCalls.remove(frame.path)
                continue
            }
            skip.reason = "call '\(frame.path)': " + skip.reason
            skip.call = frame.path
            state.callDecisions[frame.path] = skip
            state.skippedCalls.insert(frame.path)
            return skip
        }
        return nil
    }

    /// The skip a route gives a stage or a call it does not choose; nil when its branch is chosen.
    ///
    /// - Throws: ``StageFailure`` when the router has not run (the plan's order is wrong).
    private static func routeSkip(_ choice: RouteChoice, of what: String, state: RunState) throws -> Skip? {
        guard let router = state.results[choice.router] else {
            throw StageFailure(
                message: "\(what): its router '\(choice.router)' has not run; it must come first in the plan", runtimeUnavailable: false)
        }
        if router.skipped {
            return Skip(reason: "its router '\(choice.router)' was skipped", router: choice.router, branch: nil)
        }
        if let branch = state.branches[choice.router], !choice.branches.contains(branch) {
            return Skip(
                reason: "route \(choice.router) chose \(branch)", router: choice.router, branch: branch,
                values: ["stages.\(choice.router).branch": .string(branch)])
        }
        return nil
    }

    /// The skip a false condition gives; nil when it is true.
    ///
    /// - Throws: ``StageFailure`` when it cannot be evaluated (an absent value) or is not a boolean.
    private static func conditionSkip(_ condition: BatonSpec.Expression, values: [String: JSONValue], of what: String) throws -> Skip? {
        let evaluation: ExpressionEvaluation
        do {
            evaluation = try condition.evaluateRecording(values)
        } catch {
            throw StageFailure(
                message: "\(what): its condition '\(condition.text)' cannot be evaluated: \(error.message)", runtimeUnavailable: false)
        }
        guard case .bool(let result) = evaluation.value else {
            throw StageFailure(
                message:
                    "\(what): its condition '\(condition.text)' is \(Self.jsonText(evaluation.value)), not true or false; compare it, as in \(condition.text) == 'yes'",
                runtimeUnavailable: false)
        }
        if result { return nil }
        let seen = evaluation.seen.sorted { $0.key < $1.key }
        var notes = seen.map { "\($0.key) = \(Self.quoted($0.value))" }
        // What `has()` found missing is not a value it saw, but it is why the condition is false.
        for path in condition.references where path.count > 1 && evaluation.seen[path.joined(separator: ".")] == nil {
            if Self.lookup(path, in: values) == nil { notes.append("\(path.joined(separator: ".")) absent") }
        }
        let shown = notes.joined(separator: ", ")
        return Skip(
            reason: "when: \(condition.text) was false" + (shown.isEmpty ? "" : " (\(shown))"), condition: condition.text,
            values: Dictionary(uniqueKeysWithValues: seen.map { ($0.key, $0.value) }))
    }

    /// The values a condition (or a `for_each` list) of `stage` reads, in the stage's scope (RunState+Scope):
    /// `inputs`, and the stages it names (`stages.X`: output, skipped, json, verdict, feedback, branch, items, vote;
    /// for a call: output, json, outputs, skipped).
    static func conditionValues(for condition: BatonSpec.Expression, stage: PlannedStage, state: RunState) -> [String: JSONValue] {
        state.expressionValues(for: condition, in: StageScope(calls: stage.calls), excluding: stage.name)
    }

    /// The value at a reference's names (`["inputs", "urgent"]`), or nil when something on the way is absent or null.
    static func lookup(_ path: [String], in values: [String: JSONValue]) -> JSONValue? {
        guard var value = values[path[0]] else { return nil }
        for name in path.dropFirst() {
            guard let next = value[name], next != .null else { return nil }
            value = next
        }
        return value
    }

    /// What `stages.X` is in a condition.
    static func stageValue(_ result: StageResult, branch: String?) -> JSONValue {
        if result.skipped { return .object([("output", .string("")), ("skipped", .bool(true))]) }
        var fields: [(key: String, value: JSONValue)] = [("output", .string(result.output)), ("skipped", .bool(false))]
        if let json = result.jsonValue { fields.append(("json", json)) }
        if let verdict = result.verdict { fields.append(("verdict", .string(verdict))) }
        if let feedback = result.feedback { fields.append(("feedback", .string(feedback))) }
        if let branch { fields.append(("branch", .string(branch))) }
        if let items = result.itemsValue { fields.append(("items", items)) }
        if let vote = result.voteValue { fields.append(("vote", vote)) }
        if let exitCode = result.exitCode { fields.append(("exit_code", .number(Double(exitCode)))) }
        if let stderr = result.stderr { fields.append(("stderr", .string(stderr))) }
        if let status = result.httpStatus { fields.append(("status", .number(Double(status)))) }
        if let chunks = result.chunksValue { fields.append(("chunks", chunks)) }
        return .object(fields)
    }

    // MARK: - Routes

    /// Takes the branch `router`'s final answer selects (recording `route-chosen` once per run), so that its branch
    /// stages can be decided. A reused router's branch is read again from its stored answer: the same answer, the
    /// same branch.
    ///
    /// - Throws: ``StageFailure`` when the value selects no branch and the route has no `default`.
    func chooseRoute(of router: PlannedStage, state: inout RunState) throws {
        guard let route = router.route, let result = state.results[router.name], !result.skipped else { return }
        let found = result.jsonValue.flatMap { Self.value(at: route.on, in: $0) }
        let value = found.flatMap(Self.routeText)
        guard let branch = value.flatMap(route.branch(for:)) ?? (route.otherwise != nil ? "default" : nil) else {
            let said = found.map { "answered \(Self.jsonText($0))" } ?? "gave no value"
            throw StageFailure(
                message:
                    "stage '\(router.name)': route on '\(route.on)' \(said), which no case takes (cases: \(route.cases.map(\.value).joined(separator: ", "))) and the route has no default; add a case or a default branch",
                runtimeUnavailable: false)
        }
        state.branches[router.name] = branch
        let stages = route.stages(ofBranch: branch)
        if !state.routesRecorded.contains(router.name) {
            var payload: [(key: String, value: JSONValue)] = [("field", .string(route.on))]
            payload.append(("value", found ?? .null))
            payload.append(("branch", .string(branch)))
            payload.append(("stages", .array(stages.map(JSONValue.string))))
            try store.appendEvent(state.runID, kind: .routeChosen, stage: router.name, payload: Self.jsonText(.object(payload)))
            state.routesRecorded.insert(router.name)
            killSwitch?.hit(.routeChosen)
        }
        observer(.routeChosen(router: router.name, field: route.on, value: value, branch: branch, stages: stages))
    }

    /// The value at a dotted path (`triage.team`) of a JSON answer.
    static func value(at path: String, in json: JSONValue) -> JSONValue? {
        var current = json
        for key in path.split(separator: ".", omittingEmptySubsequences: false) {
            guard let next = current[String(key)] else { return nil }
            current = next
        }
        return current
    }

    /// A route's value as a case compares it: a string as it is, a number or a boolean as its JSON text; nil otherwise.
    static func routeText(_ value: JSONValue) -> String? {
        switch value {
        case .string(let text): text
        case .number, .bool: jsonText(value)
        default: nil
        }
    }

    /// `value` as compact JSON (whole numbers without a fraction).
    static func jsonText(_ value: JSONValue) -> String {
        switch value {
        case .null: return "null"
        case .bool(let flag): return flag ? "true" : "false"
        case .number(let number):
            return number == number.rounded() && abs(number) < 1e15 ? String(Int64(number)) : String(number)
        case .string, .array, .object:
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
            return (try? encoder.encode(value)).map { String(decoding: $0, as: UTF8.self) } ?? "null"
        }
    }

    /// A seen value for a reason line: strings quoted, long ones cut.
    private static func quoted(_ value: JSONValue) -> String {
        let text = jsonText(value)
        return text.count > 80 ? String(text.prefix(80)) + "…" : text
    }
}

/// Why a stage is skipped, and the `stage-skipped` payload that records it.
struct Skip {
    /// One line for people: the condition and the values it saw, or the route's choice.
    var reason: String
    var condition: String? = nil
    var router: String? = nil
    var branch: String? = nil
    var reviewed: String? = nil
    /// The sub-pipeline call skipped as a whole, by path, when that is why.
    var call: String? = nil
    var values: [String: JSONValue] = [:]

    init(reason: String, condition: String? = nil, values: [String: JSONValue] = [:]) {
        self.reason = reason
        self.condition = condition
        self.values = values
    }

    init(reason: String, router: String, branch: String?, values: [String: JSONValue] = [:]) {
        self.reason = reason
        self.router = router
        self.branch = branch
        self.values = values
    }

    init(reason: String, reviewed: String) {
        self.reason = reason
        self.reviewed = reviewed
    }

    /// `{"condition": TEXT|null, "route": {"router": R, "branch": B}|null, "values": {...}, "reason": TEXT}`, plus
    /// `"reviewed": X` for the critic of a skipped stage and `"call": PATH` for a stage of a skipped call.
    var payload: String {
        var fields: [(key: String, value: JSONValue)] = [("condition", condition.map(JSONValue.string) ?? .null)]
        if let router {
            fields.append(("route", .object([("router", .string(router)), ("branch", branch.map(JSONValue.string) ?? .null)])))
        } else {
            fields.append(("route", .null))
        }
        fields.append(("values", .object(values.sorted { $0.key < $1.key }.map { ($0.key, $0.value) })))
        if let reviewed { fields.append(("reviewed", .string(reviewed))) }
        if let call { fields.append(("call", .string(call))) }
        fields.append(("reason", .string(reason)))
        return Executor.jsonText(.object(fields))
    }
}
