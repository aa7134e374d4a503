import BatonSpec
import Foundation
import Mustache

/// The scope a stage's templates and expressions are resolved in (issue 11, sub-pipelines; briefs s8/calls.md):
/// the top level, or the pipeline of the innermost sub-pipeline call (`uses:`) the stage was inlined through.
///
/// The compiler names a called stage `X/S` and keeps its templates and expressions as written in the called file, so
/// `stages.S` there means the stage `X/S` and `inputs.text` means the call's `with: {text: ...}`. This one place turns
/// those names into the run's results, for prompts and system messages, conditions, `for_each` lists and a call's
/// own `with` and `when`: there are no other copies of the rule.
struct StageScope {
    /// What `stages.` names are relative to: "" at the top level, "X/" inside call X ("X/Y/" inside its call Y).
    var prefix: String
    /// The innermost call, whose pipeline the names belong to; nil at the top level.
    var frame: CallFrame?

    /// The top level.
    static let top = StageScope(prefix: "", frame: nil)

    /// The scope inside the first `depth` calls of `calls` (all of them when nil): the innermost one's pipeline.
    init(calls: [CallFrame]?, depth: Int? = nil) {
        let calls = calls ?? []
        let count = min(depth ?? calls.count, calls.count)
        guard count > 0 else {
            self = .top
            return
        }
        let frame = calls[count - 1]
        self.init(prefix: frame.path + "/", frame: frame)
    }

    private init(prefix: String, frame: CallFrame?) {
        self.prefix = prefix
        self.frame = frame
    }
}

/// What a name under `stages.` stands for in a scope.
enum ScopedStage {
    /// A stage of the scope's pipeline (its full name).
    case stage(String)
    /// A sub-pipeline call of the scope's pipeline.
    case call(CallFrame)
}

extension RunState {
    /// Each sub-pipeline call of `plan` by its path (`review`, `outer/review`), from its stages' frames.
    static func frames(of plan: ExecutionPlan) -> [String: CallFrame] {
        var frames: [String: CallFrame] = [:]
        for stage in plan.stages {
            for frame in stage.calls ?? [] where frames[frame.path] == nil { frames[frame.path] = frame }
        }
        return frames
    }

    /// What `stages.NAME` is in `scope`: a stage of its pipeline, a call of its pipeline, or nothing.
    func resolve(_ name: String, in scope: StageScope) -> ScopedStage? {
        let full = scope.prefix + name
        if positions[full] != nil { return .stage(full) }
        if let frame = frames[full] { return .call(frame) }
        return nil
    }

    /// The names visible as `stages.N` in `scope` among `names` (full stage names), in their order, each once:
    /// the names under the scope's prefix with the prefix taken off, and a nested call's stages (`Y/T`) as the call
    /// (`Y`), never as `Y/T`.
    func visible(_ names: some Sequence<String>, in scope: StageScope) -> [(name: String, target: ScopedStage)] {
        var result: [(name: String, target: ScopedStage)] = []
        var seen: Set<String> = []
        for full in names where full.hasPrefix(scope.prefix) {
            let rest = full.dropFirst(scope.prefix.count)
            if let slash = rest.firstIndex(of: "/") {
                let call = String(rest[..<slash])
                guard seen.insert(call).inserted, let frame = frames[scope.prefix + call] else { continue }
                result.append((call, .call(frame)))
            } else {
                guard seen.insert(String(rest)).inserted else { continue }
                result.append((String(rest), .stage(full)))
            }
        }
        return result
    }

    /// `inputs` in `scope`: the run's inputs at the top level, a call's inputs inside it (``enterCalls(_:)``).
    func inputs(in scope: StageScope) -> [String: String] {
        guard let frame = scope.frame else { return inputs }
        return callInputs[frame.path] ?? [:]
    }

    // MARK: - Templates

    /// The template values of `scope`: `inputs` (empty text left out, so `{{#inputs.x}}` does not render) and
    /// `stages` for the visible names among `names`.
    func templateValues(in scope: StageScope, stages names: some Sequence<String>) -> [String: Any] {
        var stages: [String: Any] = [:]
        for (name, target) in visible(names, in: scope) {
            if let entry = templateEntry(target) { stages[name] = entry }
        }
        return [
            "inputs": inputs(in: scope).filter { !$0.value.isEmpty },
            "stages": stages,
            "pipeline": ["name": scope.frame?.pipeline ?? snapshot.plan.pipeline],
        ]
    }

    /// `stages.X` in a template, empty text left out; nil when X has not run.
    func templateEntry(_ target: ScopedStage) -> [String: Any]? {
        switch target {
        case .stage(let name):
            guard let result = results[name] else { return nil }
            var entry: [String: Any] = [:]
            if result.skipped { entry["skipped"] = true }
            if !branches.isEmpty, let branch = branches[name] { entry["branch"] = branch }
            if !result.output.isEmpty { entry["output"] = result.output }
            if let json = result.json { entry["json"] = json }
            if let verdict = result.verdict { entry["verdict"] = verdict }
            if let feedback = result.feedback, !feedback.isEmpty { entry["feedback"] = feedback }
            if let items = result.items { entry["items"] = items }
            if let vote = result.vote { entry["vote"] = vote }
            if let exitCode = result.exitCode { entry["exit_code"] = exitCode }
            if let stderr = result.stderr, !stderr.isEmpty { entry["stderr"] = stderr }
            if let status = result.httpStatus { entry["status"] = status }
            if let chunks = result.chunks { entry["chunks"] = chunks }
            return entry
        case .call(let frame):
            if skippedCalls.contains(frame.path) { return ["skipped": true] }
            var entry: [String: Any] = [:]
            var outputs: [String: Any] = [:]
            for (index, name) in frame.outputs.enumerated() {
                guard let result = results[name] else { continue }
                if !result.output.isEmpty { outputs[Self.localName(name, in: frame)] = result.output }
                guard index == 0 else { continue }
                if !result.output.isEmpty { entry["output"] = result.output }
                if let json = result.json { entry["json"] = json }
            }
            entry["outputs"] = outputs
            return entry
        }
    }

    // MARK: - Expressions

    /// The values an expression of `scope` reads (a condition, a `for_each` list, a call's `when`): `inputs`, and
    /// `stages.X` for the stages it names (all visible ones for a bare `stages`), except `excluded` (the stage itself).
    /// Only the stages it references are built, so a long plan does not pay per condition.
    func expressionValues(for expression: BatonSpec.Expression, in scope: StageScope, excluding excluded: String?) -> [String: JSONValue] {
        var targets: [(name: String, target: ScopedStage)] = []
        var named: Set<String> = []
        var everyStage = false
        for path in expression.references where path.first == "stages" {
            guard path.count > 1 else {
                everyStage = true
                continue
            }
            guard named.insert(path[1]).inserted, let target = resolve(path[1], in: scope) else { continue }
            targets.append((path[1], target))
        }
        if everyStage { targets = visible(snapshot.plan.stages.map(\.name), in: scope) }
        var stages: [(key: String, value: JSONValue)] = []
        for (name, target) in targets {
            if case .stage(let full) = target, full == excluded { continue }
            guard let value = expressionValue(target) else { continue }
            stages.append((name, value))
        }
        let inputs = inputs(in: scope).sorted { $0.key < $1.key }.map { (key: $0.key, value: JSONValue.string($0.value)) }
        return ["inputs": .object(inputs), "stages": .object(stages)]
    }

    /// `stages.X` in an expression; nil when X has not run.
    func expressionValue(_ target: ScopedStage) -> JSONValue? {
        switch target {
        case .stage(let name):
            return results[name].map { Executor.stageValue($0, branch: branches[name]) }
        case .call(let frame):
            let skipped = skippedCalls.contains(frame.path)
            var outputs: [(key: String, value: JSONValue)] = []
            var fields: [(key: String, value: JSONValue)] = []
            for (index, name) in frame.outputs.enumerated() {
                let result = skipped ? nil : results[name]
                outputs.append((Self.localName(name, in: frame), .string(result?.output ?? "")))
                if index == 0 {
                    fields.append(("output", .string(result?.output ?? "")))
                    if let json = result?.jsonValue { fields.append(("json", json)) }
                }
            }
            if frame.outputs.isEmpty { fields.append(("output", .string(""))) }
            fields.append(("outputs", .object(outputs)))
            fields.append(("skipped", .bool(skipped)))
            return .object(fields)
        }
    }

    /// A call's output stage's name inside the called pipeline (`review/summary` → `summary`).
    static func localName(_ name: String, in frame: CallFrame) -> String {
        name.hasPrefix(frame.path + "/") ? String(name.dropFirst(frame.path.count + 1)) : name
    }

    // MARK: - A call's inputs

    /// Computes the inputs of each call in `calls` not computed yet in this execution, outermost first: its `with`
    /// templates rendered in the caller's scope (with the stages of its `dependencies`), then the defaults of its
    /// inputs without a `with` value. The walk calls this before it decides or runs a stage inside a call; the
    /// results the templates read are recorded, so a resumed run computes the same inputs.
    ///
    /// - Throws: ``StageFailure`` when a `with` template does not parse.
    mutating func enterCalls(_ calls: [CallFrame]) throws {
        for (depth, frame) in calls.enumerated() where callInputs[frame.path] == nil {
            let caller = StageScope(calls: calls, depth: depth)
            let context = templateValues(in: caller, stages: frame.dependencies)
            var values: [String: String] = [:]
            for (name, text) in frame.with {
                do {
                    values[name] = try MustacheTemplate(string: "{{% CONTENT_TYPE: TEXT}}" + text).render(context)
                } catch {
                    throw StageFailure(
                        message: "call '\(frame.path)' (uses \(frame.pipeline)): its with: \(name) does not parse: \(error)",
                        runtimeUnavailable: false)
                }
            }
            for input in frame.inputs where values[input.name] == nil {
                if let value = input.defaultValue { values[input.name] = value }
            }
            callInputs[frame.path] = values
        }
    }
}
