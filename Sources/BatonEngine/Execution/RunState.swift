import BatonSpec
import Foundation
import Mustache

/// What a stage produced: its text, and for JSON stages and critics what the text means.
struct StageResult {
    var output: String
    /// The parsed output of a JSON stage, as Mustache context values.
    var json: Any?
    /// The parsed output of a JSON stage as it was answered (empty strings and nulls kept), for conditions and routes.
    var jsonValue: JSONValue?
    /// Whether the stage was skipped (its condition was false, its route's branch left it out, or the stage its
    /// critic reviews was skipped): its output is empty and it has no JSON, verdict or feedback.
    var skipped = false
    /// A critic's verdict (`approve` / `revise`) and feedback.
    var verdict: String?
    var feedback: String?
    /// For a fan-out stage, downstream: `stages.X.items` ({index from 1, item, output, json} in item order) and
    /// `stages.X.vote` ({value, count, total, tally}), for templates (Mustache values) and conditions (JSON).
    var items: [[String: Any]]?
    var itemsValue: JSONValue?
    var vote: [String: Any]?
    var voteValue: JSONValue?
    /// For a `run` stage: the command's exit code and the tail of its stderr (`stages.X.exit_code`, `.stderr`).
    var exitCode: Int?
    var stderr: String?
    /// For an `http` stage: the response's status (`stages.X.status`).
    var httpStatus: Int?
    /// For a retrieve stage: the chunks found (`stages.X.chunks`: {n, id, text, source, line, end_line, score}), for
    /// templates (Mustache values) and conditions (JSON).
    var chunks: [[String: Any]]?
    var chunksValue: JSONValue?

    /// The schema requested from critics.
    static let verdictSchema: JSONValue = .object([
        ("type", .string("object")),
        (
            "properties",
            .object([
                ("verdict", .object([("type", .string("string")), ("enum", .array([.string("approve"), .string("revise")]))])),
                // Bounded, so a small model that pads or repeats cannot run past max_tokens.
                ("feedback", .object([("type", .string("string")), ("maxLength", .number(160))])),
            ])
        ),
        ("required", .array([.string("verdict"), .string("feedback")])),
        ("additionalProperties", .bool(false)),
    ])

    /// Interprets `output` for `stage`.
    ///
    /// - Throws: ``RuntimeError`` `.invalidOutput` (transient: a new try may answer better) when a critic's
    ///   verdict or a JSON stage's output does not parse.
    init(output: String, stage: PlannedStage) throws {
        self.output = output
        if stage.critic != nil {
            guard let object = Self.parseJSON(output), let verdict = object["verdict"]?.stringValue,
                verdict == "approve" || verdict == "revise"
            else {
                throw RuntimeError(
                    .invalidOutput,
                    "critic '\(stage.name)' did not answer with a verdict ({\"verdict\": \"approve\" or \"revise\", \"feedback\": \"...\"}); it answered: \(Self.excerpt(output))",
                    isTransient: true)
            }
            self.verdict = verdict
            self.feedback = object["feedback"]?.stringValue ?? ""
        } else if stage.output.format == .json {
            guard let value = Self.parseJSON(output) else {
                throw RuntimeError(
                    .invalidOutput, "stage '\(stage.name)' should answer with JSON; it answered: \(Self.excerpt(output))",
                    isTransient: true)
            }
            self.json = Self.mustacheValue(value)
            self.jsonValue = value
            if stage.cite != nil { try Self.checkCitations(value, schema: stage.output.schema, stage: stage) }
        }
    }

    /// A retrieve stage's result from its recorded output (``RetrievalRecord``'s JSON): `output` is the chunks as
    /// numbered text, `json` the record, `chunks` the chunks.
    ///
    /// - Throws: ``RuntimeError`` `.invalidOutput` when `recorded` is not a retrieval record.
    init(retrieval recorded: String, stage: PlannedStage) throws {
        guard let record = RetrievalRecord.decode(recorded), let value = Self.parseJSON(recorded) else {
            throw RuntimeError(
                .invalidOutput, "stage '\(stage.name)': its recorded retrieval does not read as one: \(Self.excerpt(recorded))",
                isTransient: false)
        }
        output = record.numberedText
        json = Self.mustacheValue(value)
        jsonValue = value
        chunksValue = value["chunks"] ?? .array([])
        // Mustache values keep every field, empty text too, so a section over the chunks sees each one whole.
        chunks = record.chunks.map { chunk in
            var entry: [String: Any] = [
                "n": chunk.n, "id": Int(chunk.id), "text": chunk.text, "source": chunk.source, "line": chunk.line,
                "end_line": chunk.endLine, "score": chunk.score,
            ]
            if let similarity = chunk.similarity { entry["similarity"] = similarity }
            return entry
        }
    }

    /// Refuses an answer of a citing stage whose `citations` are not the chunk numbers its schema offered (a runtime
    /// that does not enforce the schema's enum): a new try may answer better. Without the enum (a replayed answer read
    /// back with the plain schema) nothing is checked.
    private static func checkCitations(_ value: JSONValue, schema: JSONValue?, stage: PlannedStage) throws {
        // Only the schema ``Executor/citing(_:state:)`` built says which numbers there are: an enum, or none at all.
        guard let property = schema?["properties"]?["citations"] else { return }
        var offered: Set<Double> = []
        if case .array(let values)? = property["items"]?["enum"] {
            for case .number(let number) in values { offered.insert(number) }
        } else if property["maxItems"] != .number(0) {
            return
        }
        let cited = stage.cite ?? ""
        let expected =
            offered.isEmpty
            ? "should answer \"citations\": [], since '\(cited)' found no chunks"
            : "should cite chunks of '\(cited)' by number (\(offered.sorted().map { String(Int($0)) }.joined(separator: ", "))) in \"citations\""
        let bad = RuntimeError(
            .invalidOutput,
            "stage '\(stage.name)' \(expected); it answered: \(excerpt(Executor.jsonText(value["citations"] ?? .null)))",
            isTransient: true)
        guard case .array(let numbers)? = value["citations"] else { throw bad }
        for entry in numbers {
            guard case .number(let number) = entry, offered.contains(number) else { throw bad }
        }
    }

    /// A result built by hand (a fan-out stage's collection).
    init(output: String, json: Any?, jsonValue: JSONValue?) {
        self.output = output
        self.json = json
        self.jsonValue = jsonValue
    }

    private init(skipped: Bool) {
        output = ""
        self.skipped = skipped
    }

    /// The result of a skipped stage.
    static var skipped: StageResult { StageResult(skipped: true) }

    /// The result recorded in a completed attempt.
    init(attempt: AttemptRecord, stage: PlannedStage) throws {
        if stage.isRetrieve {
            try self.init(retrieval: attempt.output, stage: stage)
        } else {
            try self.init(output: attempt.output, stage: stage)
        }
    }

    static func excerpt(_ text: String) -> String {
        let flat = text.replacingOccurrences(of: "\n", with: " ")
        return flat.count > 120 ? "'\(flat.prefix(120))…'" : "'\(flat)'"
    }

    /// JSON in the output, tolerating a Markdown code fence and text around one object.
    static func parseJSON(_ text: String) -> JSONValue? {
        var candidate = text.trimmingCharacters(in: .whitespacesAndNewlines)
        if candidate.hasPrefix("```") {
            candidate = candidate.split(separator: "\n", omittingEmptySubsequences: false).dropFirst()
                .joined(separator: "\n")
            if let fence = candidate.range(of: "```", options: .backwards) { candidate = String(candidate[..<fence.lowerBound]) }
        }
        if let value = OrderedJSON.parse(candidate) {
            return value
        }
        if let start = candidate.firstIndex(of: "{"), let end = candidate.lastIndex(of: "}"), start < end {
            return OrderedJSON.parse(String(candidate[start...end]))
        }
        return nil
    }

    /// JSON as plain Swift values for Mustache: empty text and null left out, whole numbers as Int.
    static func mustacheValue(_ value: JSONValue) -> Any? {
        switch value {
        case .object(let pairs):
            var dictionary: [String: Any] = [:]
            for (key, value) in pairs { dictionary[key] = mustacheValue(value) }
            return dictionary
        case .array(let values): return values.compactMap(mustacheValue)
        case .number(let number): return number == number.rounded() && abs(number) < 1e15 ? Int(number) : number
        case .bool(let flag): return flag
        case .string(let text): return text.isEmpty ? nil : text
        case .null: return nil
        }
    }
}

/// The mutable state of one execution: results so far, critic feedback and history, and the completed
/// attempts found in the store.
struct RunState {
    let runID: String
    let snapshot: RunSnapshot
    let inputs: [String: String]
    let fingerprints: [String: String]
    /// Each stage's position in the plan's order, from 0 (looked up for every attempt: a search was quadratic).
    let positions: [String: Int]
    /// Completed attempts from the store, by stage and round (the latest one wins).
    var completed: [StageRound: AttemptRecord] = [:]
    /// Tries already recorded, by stage and round, so new tries continue the numbering.
    var triesSoFar: [StageRound: Int] = [:]
    /// The latest result of each stage.
    var results: [String: StageResult] = [:]
    /// The latest critic feedback, by reviewed stage.
    var feedback: [String: String] = [:]
    /// Earlier rounds, by reviewed stage.
    var history: [String: [[String: Any]]] = [:]
    /// Footprints the runtimes measured at load, by model.
    var measured: [ModelKey: Int64] = [:]
    /// Per stage, the position in its model chain it has fallen back to (absent: its first model).
    var modelIndex: [String: Int] = [:]
    /// Runtimes found unreachable (or unusable) in this execution, by name: their models are skipped for the
    /// rest of it. Not carried over: a resumed run tries every runtime again.
    var deadRuntimes: [String: DeadRuntime] = [:]
    /// Skipped attempts from the store, by stage (a skip is always round 1): resume reuses the decision.
    var decided: [String: AttemptRecord] = [:]
    /// The reason each skip in ``decided`` was recorded with (its `stage-skipped` event's `reason`).
    var skipReasons: [String: String] = [:]
    /// The branch each router's answer chose, by router (`stages.R.branch`).
    var branches: [String: String] = [:]
    /// Routers whose `route-chosen` event is in the store (a resumed run records a missing one once).
    var routesRecorded: Set<String> = []
    /// The fan-out item being run (its stage's attempts, template and fingerprint take it); nil outside fan-out.
    var currentItem: ItemContext?
    /// Pinned item lists from the store's `items-expanded` events, by stage (the latest per stage).
    var pinned: [String: PinnedItems] = [:]
    /// Each fan-out stage's per-item results, in item order, while its items and critic loops run.
    var itemResults: [String: [StageResult]] = [:]
    /// Voting stages whose `vote-counted` event is in the store.
    var votesRecorded: Set<String> = []
    /// Sub-pipeline calls by path (RunState+Scope); empty for a plan without `uses:`.
    let frames: [String: CallFrame]
    /// Each call's inputs by path, computed once per execution when the walk first enters the call.
    var callInputs: [String: [String: String]] = [:]
    /// Calls skipped as a whole (their `when:` false or their branch not chosen), by path: `stages.X.skipped`.
    /// Read back from the store's skips on resume.
    var skippedCalls: Set<String> = []
    /// Calls whose `when:` and route were decided in this execution: the skip, or nil when the call runs.
    var callDecisions: [String: Skip?] = [:]
    /// Parsed templates, by stage: (system, prompt).
    private var templates: [String: (system: StageTemplate?, prompt: StageTemplate)] = [:]
    /// Parsed tool templates (argv, url, arguments, ...), by text.
    private var toolTemplates: [String: MustacheTemplate] = [:]
    /// Tool stages' own calls from the store, by stage, item and round (the latest one wins): a reused attempt's
    /// exit code, stderr and status come from here.
    var toolCalls: [StageRound: ToolCallRecord] = [:]
    /// The run's MCP servers, started on first use and stopped when the execution ends; nil when the plan has none.
    var mcpPool: MCPPool?
    /// Indexes a retrieve stage has brought up to date (or found fresh) in this execution: not checked again.
    var indexesChecked: Set<String> = []
    /// Models loading in the background for stages to come (Preloader), shared by every copy of the state.
    let preloads = Preloads()

    init(runID: String, snapshot: RunSnapshot, inputs: [String: String], store: RunStore) throws {
        self.runID = runID
        self.snapshot = snapshot
        self.inputs = inputs
        self.fingerprints = snapshot.fingerprints ?? Fingerprints.compute(snapshot.plan, inputs: inputs)
        positions = Dictionary(snapshot.plan.stages.enumerated().map { ($1.name, $0) }) { first, _ in first }
        frames = Self.frames(of: snapshot.plan)
        measured = (try? store.measuredFootprints()) ?? [:]
        // A stage that fell back before the run was interrupted keeps the model it fell back to.
        for event in try store.events(runID, kind: .modelFallback) {
            guard let stage = event.stage.flatMap(snapshot.plan.stage(named:)), let payload = event.payload,
                let fields = try? JSONDecoder().decode([String: String].self, from: Data(payload.utf8)),
                let index = stage.models.firstIndex(where: { $0.description == fields["to"] })
            else { continue }
            modelIndex[stage.name] = max(modelIndex[stage.name] ?? 0, index)
        }
        let attempts = try store.attemptsWithoutPrompts(runID)
        completed.reserveCapacity(attempts.count)
        triesSoFar.reserveCapacity(attempts.count)
        for attempt in attempts {
            let key = StageRound(stage: attempt.stage, item: attempt.item, round: attempt.round)
            triesSoFar[key] = max(triesSoFar[key] ?? 0, attempt.tryNumber)
            if attempt.status == .completed {
                // A tool loop's turn that asked for calls is part of the conversation, not the stage's output.
                if attempt.calls == nil { completed[key] = attempt }
            } else if attempt.status == .skipped {
                decided[attempt.stage] = attempt
            }
        }
        if !decided.isEmpty {
            for event in try store.events(runID, kind: .stageSkipped) {
                guard let stage = event.stage, let payload = event.payload,
                    let value = OrderedJSON.parse(payload),
                    let reason = value["reason"]?.stringValue
                else { continue }
                skipReasons[stage] = reason
                // A stage skipped with its whole call: the call reads as skipped, unless the skip is stale.
                if let call = value["call"]?.stringValue, decided[stage]?.fingerprint == fingerprints[stage] {
                    skippedCalls.insert(call)
                }
            }
        }
        if snapshot.plan.stages.contains(where: { $0.route != nil }) {
            routesRecorded = Set(try store.events(runID, kind: .routeChosen).compactMap(\.stage))
        }
        if snapshot.plan.stages.contains(where: \.isTool) {
            for call in try store.toolCalls(runID) where call.turn == 0 && call.callIndex == 0 {
                toolCalls[StageRound(stage: call.stage, item: call.item, round: call.round)] = call
            }
        }
        if snapshot.plan.stages.contains(where: { $0.fanOut != nil }) {
            for event in try store.events(runID, kind: .itemsExpanded) {
                guard let stage = event.stage, let pinned = event.payload.flatMap(PinnedItems.init(payload:)) else { continue }
                self.pinned[stage] = pinned
            }
            votesRecorded = Set(try store.events(runID, kind: .voteCounted).compactMap(\.stage))
        }
    }

    mutating func record(stage: String, _ result: StageResult) {
        results[stage] = result
    }

    /// Renders a stage's system message and prompt for `round`.
    mutating func render(_ stage: PlannedStage, round: Int) throws -> (system: String?, prompt: String) {
        do {
            var (system, prompt) = try templates[stage.name] ?? (stage.system.map(StageTemplate.init), StageTemplate(stage.prompt))
            let context = self.context(for: stage, round: round)
            let rendered = (try system?.render(context), try prompt.render(context))
            templates[stage.name] = (system, prompt)
            return rendered
        } catch {
            throw StageFailure(message: "stage '\(stage.name)': its template does not parse: \(error)", runtimeUnavailable: false)
        }
    }

    /// Renders one of a tool stage's templates (an argv entry, a URL, an MCP argument, ...) in `stage`'s context, with
    /// `args` (a tool definition's arguments, for a call a model made) as `{{args.NAME}}`.
    mutating func renderTool(_ text: String, stage: PlannedStage, round: Int, args: JSONValue? = nil) throws -> String {
        let template: MustacheTemplate
        if let parsed = toolTemplates[text] {
            template = parsed
        } else {
            do {
                template = try MustacheTemplate(string: "{{% CONTENT_TYPE: TEXT}}" + text)
            } catch {
                throw StageFailure(
                    message: "stage '\(stage.name)': its template '\(text)' does not parse: \(error)", runtimeUnavailable: false)
            }
            toolTemplates[text] = template
        }
        var context = self.context(for: stage, round: round)
        if let args, let value = StageResult.mustacheValue(args) { context["args"] = value }
        return template.render(context)
    }

    /// The template context: only the stages this stage depends on, in its scope (its call's pipeline, when it was
    /// inlined through `uses:`), and empty text left out so that `{{#feedback}}` sections do not render in round 1.
    private func context(for stage: PlannedStage, round: Int) -> [String: Any] {
        let scope = StageScope(calls: stage.calls)
        var context = templateValues(in: scope, stages: stage.dependencies + [stage.critic?.reviews].compactMap({ $0 }))
        context["round"] = round
        let loopStage = stage.critic?.reviews ?? stage.name
        if let history = history[loopStage], !history.isEmpty {
            context["history"] = history
        }
        if stage.critic == nil, round > 1, let feedback = feedback[stage.name], !feedback.isEmpty {
            context["feedback"] = feedback
        }
        if let item = currentItem {
            context[item.name] = StageResult.mustacheValue(item.value) ?? ""
            context["item_index"] = item.index + 1
        }
        return context
    }
}

extension RunState {
    /// What was found wrong with runtime `name` in this execution, if it was found down.
    func deadRuntime(_ name: String?) -> DeadRuntime? {
        name.flatMap { deadRuntimes[$0] }
    }
}
