import BatonEngine
import BatonSpec
import Foundation

/// `baton show` output: text, JSON, or a Markdown transcript.
enum RunFormatter {
    private static func date(_ seconds: Double) -> String {
        let formatter = DateFormatter()
        formatter.dateFormat = "yyyy-MM-dd HH:mm:ss"
        return formatter.string(from: Date(timeIntervalSince1970: seconds))
    }

    /// Whether `--stage stage` shows what stage `name` recorded: everything without `--stage`; the stage itself; for a
    /// sub-pipeline call's name, every stage of the call (`review` shows `review/check`).
    static func shows(_ name: String?, _ stage: String?) -> Bool {
        RunDocument.shows(name, stage)
    }

    private static func attempts(_ report: RunReport, stage: String?) -> [AttemptRecord] {
        ToolTurnCall.conversationOrder(report.attempts.filter { shows($0.stage, stage) })
    }

    private static func header(_ report: RunReport) -> [String] {
        let run = report.run
        var lines = [
            "run \(run.id): \(run.pipeline), \(run.status)",
            "started \(date(run.createdAt))" + (run.finishedAt.map { ", finished \(date($0))" } ?? ""),
        ]
        if let parent = run.parentRunID { lines.append("rerun of \(parent) from stage '\(run.rerunFrom ?? "")'") }
        if let error = run.error { lines.append("error: \(error)") }
        if let profile = report.snapshot.profile { lines.append("profile: \(profile.chain.joined(separator: " → "))") }
        for (name, value) in report.inputs.sorted(by: { $0.key < $1.key }) {
            lines.append("input \(name): \(value.count > 100 ? String(value.prefix(100)) + "…" : value)")
        }
        return lines
    }

    private static func describe(_ attempt: AttemptRecord) -> String {
        let item = attempt.item.map { " item \($0 + 1)" } ?? ""
        let turn = attempt.turn.map { " turn \($0)" } ?? ""
        var parts = ["\(attempt.stage)\(item) round \(attempt.round) try \(attempt.tryNumber)\(turn)", attempt.status.rawValue]
        if let model = attempt.model { parts.append(model) }
        let seconds = (attempt.finishedAt ?? attempt.startedAt) - attempt.startedAt
        parts.append(ProgressPrinter.duration(seconds))
        if let first = attempt.firstTokenAt { parts.append("first token \(ProgressPrinter.duration(first - attempt.startedAt))") }
        if let output = attempt.outputTokens {
            parts.append("\(attempt.promptTokens ?? 0) → \(output) token\(output == 1 ? "" : "s")")
            if let first = attempt.firstTokenAt, let finished = attempt.finishedAt, finished > first, output > 1 {
                parts.append(String(format: "%.1f tokens/s", Double(output - 1) / (finished - first)))
            }
        }
        if attempt.timings != nil {
            let timings = attempt.timingValues
            if let load = timings["load_ms"] {
                parts.append("model loaded in \(ProgressPrinter.duration(load / 1000))")
            } else if timings["resident"] == 1 {
                parts.append("model already resident")
            }
            // `runtime_load` is Ollama's own load_duration, present on every reply (a few ms when resident);
            // `load` is what older runs recorded for the same figure.
            let runtime = [("runtime_load", "load"), ("load", "load"), ("prompt", "prompt"), ("generation", "generation")]
                .compactMap { key, label in timings[key].map { "\(label) \(ProgressPrinter.duration($0 / 1000))" } }
            if !runtime.isEmpty { parts.append("runtime: " + runtime.joined(separator: ", ")) }
        }
        if let verdict = attempt.verdict { parts.append("verdict \(verdict)") }
        if let reason = attempt.finishReason, reason != "complete" { parts.append(reason) }
        return parts.joined(separator: " · ")
    }

    /// Model fallbacks, runtimes found down and thermal pauses, one line each, so that none is ever silent.
    static func notices(_ events: [EventRecord], stage: String?) -> [String] {
        events.filter { shows($0.stage, stage) }.compactMap { event in
            let payload = event.payload.flatMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] } ?? [:]
            let where_ = event.stage.map { " (stage \($0))" } ?? ""
            if event.kind == .modelFallback {
                let skipped = (payload["skipped"] as? String).map { " (skipped \($0))" } ?? ""
                return "fallback\(where_): \(payload["from"] ?? "?") → \(payload["to"] ?? "?"), \(payload["reason"] ?? "")\(skipped)"
            }
            if event.kind == .runtimeUnreachable {
                let fix = (payload["fix"] as? String).flatMap { $0.isEmpty ? nil : "; \($0)" } ?? ""
                return "runtime down\(where_): \(payload["runtime"] ?? "?"): \(payload["error"] ?? "")\(fix)"
            }
            if event.kind == .runtimeNotice {
                return "notice\(where_): \(payload["message"] ?? payload["code"] ?? "")"
            }
            if event.kind == .stageSkipped {
                return "skipped\(where_): \(payload["reason"] as? String ?? "")"
            }
            if event.kind == .routeChosen {
                let value = payload["value"].map(Self.jsonText) ?? "null"
                let stages = (payload["stages"] as? [String]).map { $0.isEmpty ? "no stages" : $0.joined(separator: ", ") } ?? ""
                return "route\(where_): \(payload["field"] ?? "?") = \(value) chose \(payload["branch"] ?? "?"), running \(stages)"
            }
            if event.kind == .itemsExpanded {
                let count = payload["count"] as? Int ?? (payload["items"] as? [Any])?.count ?? 0
                return "items\(where_): \(count) item\(count == 1 ? "" : "s")"
            }
            if event.kind == .voteCounted {
                let tally = (payload["tally"] as? [[String: Any]] ?? []).map { "\($0["value"] ?? "?") \($0["count"] ?? 0)" }
                return
                    "vote\(where_) on \(payload["field"] ?? "?"): \(payload["value"] ?? "?"), \(payload["count"] ?? 0) of \(payload["total"] ?? 0) (\(tally.joined(separator: ", ")))"
            }
            if event.kind == .outputTruncated {
                let limit = (payload["max_tokens"] as? String).flatMap { $0.isEmpty ? nil : " at max_tokens \($0)" } ?? ""
                return "truncated\(where_): the answer was cut off\(limit)"
            }
            if event.kind == .afterRun, let data = event.payload.map({ Data($0.utf8) }),
                let report = try? JSONDecoder().decode(AfterRunReport.self, from: data)
            {
                let line = ProgressPrinter.afterRunLine(report)
                let errors = report.errors.isEmpty ? nil : "failed: " + report.errors.joined(separator: "; ")
                let said = [line, errors].compactMap { $0 }.joined(separator: "; ")
                return said.isEmpty ? nil : "after_run \(report.policy.rawValue): \(said)"
            }
            guard event.kind.rawValue.hasPrefix("thermal-") else { return nil }
            let details = payload.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")
            return "\(event.kind)\(where_)" + (details.isEmpty ? "" : ": \(details)")
        }
    }

    /// A JSON value from a decoded payload as compact JSON text (`"billing"`, `3`, `null`).
    static func jsonText(_ value: Any) -> String {
        if value is NSNull { return "null" }
        guard JSONSerialization.isValidJSONObject([value]),
            let data = try? JSONSerialization.data(withJSONObject: [value], options: [.sortedKeys, .withoutEscapingSlashes])
        else { return "\(value)" }
        return String(String(decoding: data, as: UTF8.self).dropFirst().dropLast())
    }

    /// Why each skipped stage was skipped (its `stage-skipped` event's reason), and each router's chosen branch.
    private static func decisions(_ events: [EventRecord]) -> (reasons: [String: String], branches: [String: String]) {
        var reasons: [String: String] = [:]
        var branches: [String: String] = [:]
        for event in events where event.kind == .stageSkipped || event.kind == .routeChosen {
            guard let stage = event.stage, let payload = event.payload,
                let object = try? JSONSerialization.jsonObject(with: Data(payload.utf8)) as? [String: Any]
            else { continue }
            if event.kind == .stageSkipped {
                reasons[stage] = object["reason"] as? String
            } else {
                branches[stage] = object["branch"] as? String
            }
        }
        return (reasons, branches)
    }

    /// Each fan-out stage's pinned items (its latest `items-expanded` event), for the item lines.
    private static func pinnedItems(_ events: [EventRecord]) -> [String: [Any]] {
        var items: [String: [Any]] = [:]
        for event in events where event.kind == .itemsExpanded {
            guard let stage = event.stage, let payload = event.payload,
                let object = try? JSONSerialization.jsonObject(with: Data(payload.utf8)) as? [String: Any],
                let list = object["items"] as? [Any]
            else { continue }
            items[stage] = list
        }
        return items
    }

    /// "review item 2 of 3: {…}" for the first attempt shown of an item; nil for other attempts.
    private static func itemLine(_ attempt: AttemptRecord, items: [String: [Any]], shown: inout Set<String>) -> String? {
        guard let item = attempt.item, shown.insert("\(attempt.stage)#\(item)").inserted else { return nil }
        let list = items[attempt.stage]
        var summary = list.flatMap { item < $0.count ? $0[item] : nil }.map { ($0 as? String) ?? jsonText($0) } ?? ""
        summary = summary.replacingOccurrences(of: "\n", with: " ")
        if summary.count > 80 { summary = String(summary.prefix(80)) + "…" }
        let count = list.map { " of \($0.count)" } ?? ""
        return "\(attempt.stage) item \(item + 1)\(count)" + (summary.isEmpty ? "" : ": \(summary)")
    }

    /// The sub-pipeline calls each stage of the run's plan was inlined through, outermost first (none: not listed).
    private static func calls(_ report: RunReport) -> [String: [CallFrame]] {
        var calls: [String: [CallFrame]] = [:]
        for stage in report.snapshot.plan.stages {
            if let frames = stage.calls, !frames.isEmpty { calls[stage.name] = frames }
        }
        return calls
    }

    /// The calls `frames` enters that the attempt shown before it was not in (`open`, their paths, updated): a called
    /// pipeline's stages are shown under a line naming the call and the pipeline, once per stretch of its attempts.
    private static func entered(_ frames: [CallFrame], open: inout [String]) -> [(depth: Int, frame: CallFrame)] {
        var common = 0
        while common < min(frames.count, open.count) && frames[common].path == open[common] { common += 1 }
        open = frames.map(\.path)
        return frames.indices.dropFirst(common).map { ($0, frames[$0]) }
    }

    /// The id of `stage`'s last completed attempt: a router's branch is shown after it.
    private static func finalAttempt(of stage: String, _ report: RunReport) -> Int64? {
        report.attempts.last { $0.stage == stage && $0.status == .completed && $0.calls == nil }?.id
    }

    /// The passages a `cite:` stage's answer cites, as `[n] path:line` from the cited retrieve stage's recorded chunks
    /// (the same fan-out item's when both run per item); empty for other stages and answers citing nothing.
    static func citations(of attempt: AttemptRecord, _ report: RunReport) -> [String] {
        guard attempt.status == .completed, let cited = report.snapshot.plan.stage(named: attempt.stage)?.cite else { return [] }
        let retrievals = report.attempts.filter { $0.stage == cited && $0.status == .completed }
        guard let source = retrievals.last(where: { $0.item == attempt.item }) ?? retrievals.last,
            let record = RetrievalRecord.decode(source.output)
        else { return [] }
        return record.cited(by: attempt.output).map(\.citation)
    }

    /// A retrieve stage's recorded chunks as `[n] path:line-end_line  score` lines, each followed by its text when
    /// `withText` (`show --stage`; `--format json` has the whole record); nil for other attempts.
    static func retrieval(of attempt: AttemptRecord, _ report: RunReport, withText: Bool = true) -> [String]? {
        guard attempt.status == .completed, report.snapshot.plan.stage(named: attempt.stage)?.isRetrieve == true,
            let record = RetrievalRecord.decode(attempt.output)
        else { return nil }
        var lines = [
            "\(record.mode.rawValue) search of index \(record.index) for \"\(record.query)\": \(record.chunks.count) chunk\(record.chunks.count == 1 ? "" : "s")"
        ]
        for chunk in record.chunks {
            lines.append("[\(chunk.n)] \(chunk.source):\(chunk.line)-\(chunk.endLine)  " + String(format: "%.4f", chunk.score))
            if withText {
                lines += chunk.text.trimmingCharacters(in: .whitespacesAndNewlines).split(separator: "\n", omittingEmptySubsequences: false)
                    .map { $0.isEmpty ? "" : "    " + $0 }
            }
        }
        return lines
    }

    static func text(_ report: RunReport, events: [EventRecord] = [], stage: String?) -> String {
        var lines = header(report)
        lines += notices(events, stage: stage)
        lines.append("")
        lines.append(ProgressPrinter.summary(report))
        let (reasons, branches) = decisions(events)
        let items = pinnedItems(events)
        let calls = calls(report)
        var open: [String] = []
        var shown: Set<String> = []
        for attempt in attempts(report, stage: stage) {
            for (_, frame) in entered(calls[attempt.stage] ?? [], open: &open) {
                lines += ["", "══ \(frame.path) (uses \(frame.pipeline))"]
            }
            lines.append("")
            if attempt.status == .skipped {
                lines.append("── \(attempt.stage) skipped" + (reasons[attempt.stage].map { ": \($0)" } ?? ""))
                continue
            }
            if let item = itemLine(attempt, items: items, shown: &shown) { lines.append("── " + item) }
            lines.append("── " + describe(attempt))
            if let error = attempt.error { lines.append("error: \(error)") }
            if let feedback = attempt.feedback, !feedback.isEmpty { lines.append("feedback: \(feedback)") }
            if let thinking = attempt.thinking, !thinking.isEmpty, stage != nil {
                lines.append("thinking:")
                lines.append(thinking)
                lines.append("answer:")
            }
            lines += retrieval(of: attempt, report, withText: stage != nil) ?? [attempt.output]
            let cited = citations(of: attempt, report)
            if !cited.isEmpty { lines += ["sources:"] + cited }
            lines += ToolTurnCall.transcript(of: attempt)
            if let branch = branches[attempt.stage], attempt.id == finalAttempt(of: attempt.stage, report) {
                lines.append("branch: \(branch)")
            }
        }
        return lines.joined(separator: "\n") + "\n"
    }

    static func markdown(_ report: RunReport, events: [EventRecord] = [], stage: String?) -> String {
        func fence(_ text: String) -> String {
            let ticks = text.contains("```") ? "````" : "```"
            return "\(ticks)text\n\(text)\n\(ticks)"
        }
        var lines = ["# Run \(report.run.id): \(report.run.pipeline)", ""]
        lines += header(report).dropFirst().map { "- \($0)" }
        lines.append("- status: \(report.run.status)")
        lines += notices(events, stage: stage).map { "- \($0)" }
        let (reasons, branches) = decisions(events)
        let items = pinnedItems(events)
        let calls = calls(report)
        var open: [String] = []
        var shown: Set<String> = []
        for attempt in attempts(report, stage: stage) {
            // A called pipeline's stages sit one heading level under a heading naming the call.
            for (depth, frame) in entered(calls[attempt.stage] ?? [], open: &open) {
                lines += ["", String(repeating: "#", count: depth + 2) + " \(frame.path) (uses \(frame.pipeline))"]
            }
            let heading = String(repeating: "#", count: (calls[attempt.stage]?.count ?? 0) + 2)
            lines.append("")
            if attempt.status == .skipped {
                lines += ["\(heading) \(attempt.stage) (skipped)", "", "*skipped" + (reasons[attempt.stage].map { ": \($0)" } ?? "") + "*"]
                continue
            }
            let item = attempt.item.map { " — item \($0 + 1)" + (items[attempt.stage].map { " of \($0.count)" } ?? "") } ?? ""
            lines.append(
                "\(heading) \(attempt.stage)\(item), round \(attempt.round)" + (attempt.tryNumber > 1 ? ", try \(attempt.tryNumber)" : "")
                    + (attempt.turn.map { ", turn \($0)" } ?? ""))
            lines.append("")
            if let line = itemLine(attempt, items: items, shown: &shown), let colon = line.range(of: ": ") {
                lines += ["**Item:** " + line[colon.upperBound...], ""]
            }
            lines.append(
                "*"
                    + describe(attempt).split(separator: "·").dropFirst().map { $0.trimmingCharacters(in: .whitespaces) }.joined(
                        separator: " · ") + "*")
            if let system = attempt.system {
                lines += ["", "**System**", "", fence(system)]
            }
            lines += ["", "**Prompt**", "", fence(attempt.prompt)]
            if let thinking = attempt.thinking, !thinking.isEmpty { lines += ["", "**Thinking**", "", fence(thinking)] }
            lines += ["", "**Output**", "", fence(retrieval(of: attempt, report)?.joined(separator: "\n") ?? attempt.output)]
            let cited = citations(of: attempt, report)
            if !cited.isEmpty { lines += ["", "**Sources**", ""] + cited.map { "- \($0)" } }
            if attempt.calls != nil {
                lines += ["", "**Tool calls**", "", fence(ToolTurnCall.transcript(of: attempt).joined(separator: "\n"))]
            }
            if let verdict = attempt.verdict {
                lines += ["", "**Verdict:** \(verdict)" + ((attempt.feedback ?? "").isEmpty ? "" : " — \(attempt.feedback!)")]
            }
            if let error = attempt.error { lines += ["", "**Error:** \(error)"] }
            if let branch = branches[attempt.stage], attempt.id == finalAttempt(of: attempt.stage, report) {
                lines += ["", "**Branch:** \(branch)"]
            }
        }
        let outputs = report.outputs
        if !outputs.isEmpty, stage == nil {
            lines += ["", "## Result"]
            for output in outputs {
                lines += ["", "### \(output.stage)", "", output.output]
                let cited =
                    report.attempts.last { $0.stage == output.stage && $0.status == .completed }.map { citations(of: $0, report) } ?? []
                if !cited.isEmpty { lines += [""] + cited.map { "- \($0)" } }
            }
        }
        return lines.joined(separator: "\n") + "\n"
    }

    static func json(_ report: RunReport, events: [EventRecord], stage: String?) throws -> String {
        try RunDocument.json(report, events: events, stage: stage)
    }
}
