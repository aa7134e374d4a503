import BatonSpec
import Foundation

/// Two runs side by side, stage by stage (`baton serve`'s compare page and `GET /api/compare`): which stages' own
/// definitions changed and how, whose fingerprints, prompts and outputs differ, and line diffs of prompts and outputs.
///
/// A stage is `changed` only when its own definition differs (or it is in one run only); a stage whose prompt differs
/// because an upstream output changed has `prompt_changed` instead, so the page marks the cause, not its effects.
public struct RunComparison: Codable, Sendable, Hashable {
    /// The version of this document (times are RFC 3339 strings, like every other Baton JSON).
    public var formatVersion = JSONTime.formatVersion
    /// The first run (the "before").
    public var a: RunSummary
    /// The second run (the "after").
    public var b: RunSummary
    /// Every stage of either run: b's plan order, then the stages only a has.
    public var stages: [StageComparison]

    /// Texts longer than this many characters are diffed on their first this many.
    public static let diffLimit = 200_000

    /// Who a compared run is.
    public struct RunSummary: Codable, Sendable, Hashable {
        public var id: String
        public var pipeline: String
        public var status: String
        /// RFC 3339 in UTC with milliseconds.
        public var createdAt: String

        enum CodingKeys: String, CodingKey {
            case id, pipeline, status
            case createdAt = "created_at"
        }
    }

    /// One field of a stage's definition that differs between the runs (`model`, `settings.temperature`,
    /// `prompt_template`, ...), with its value in each (nil: not set).
    public struct FieldChange: Codable, Sendable, Hashable {
        public var field: String
        public var a: String?
        public var b: String?

        public func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(field, forKey: .field)
            try container.encode(a, forKey: .a)
            try container.encode(b, forKey: .b)
        }
    }

    /// What a stage did in one run, from its final accepted attempt (the latest completed one, else the latest; for a
    /// fan-out stage, each item's, joined in item order by a blank line).
    public struct Side: Codable, Sendable, Hashable {
        /// pending, completed, failed, skipped, ... (as `baton show` counts it).
        public var status: String
        /// `runtime:model` of the attempt (or the plan's first model, before any attempt); nil for a tool stage.
        public var model: String?
        /// The stage's sampling and load settings, as compiled.
        public var settings: JSONValue
        /// The stage's fingerprint in that run.
        public var fingerprint: String?
        /// How many attempts the stage made (retries, rounds and items included).
        public var attempts: Int
        /// The rendered prompt; nil before any attempt.
        public var prompt: String?
        /// The output; nil before any attempt.
        public var output: String?
        public var promptTokens: Int?
        public var outputTokens: Int?
        /// The final attempt's (or items') seconds.
        public var seconds: Double?

        enum CodingKeys: String, CodingKey {
            case status, model, settings, fingerprint, attempts, prompt, output, seconds
            case promptTokens = "prompt_tokens"
            case outputTokens = "output_tokens"
        }

        public func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(status, forKey: .status)
            try container.encode(model, forKey: .model)
            try container.encode(settings, forKey: .settings)
            try container.encode(fingerprint, forKey: .fingerprint)
            try container.encode(attempts, forKey: .attempts)
            try container.encode(prompt, forKey: .prompt)
            try container.encode(output, forKey: .output)
            try container.encode(promptTokens, forKey: .promptTokens)
            try container.encode(outputTokens, forKey: .outputTokens)
            try container.encode(seconds, forKey: .seconds)
        }
    }

    /// One step of a line diff: lines (each with its line break) both texts share, or only the second has (`insert`),
    /// or only the first (`delete`). The `equal` and `delete` texts in order make the first text; `equal` and
    /// `insert`, the second.
    public struct DiffOp: Codable, Sendable, Hashable {
        /// What the step does.
        public enum Kind: String, Codable, Sendable {
            case equal, insert, delete
        }

        public var op: Kind
        public var text: String

        /// Creates a step.
        public init(_ op: Kind, _ text: String) {
            self.op = op
            self.text = text
        }
    }

    /// One stage in both runs.
    public struct StageComparison: Codable, Sendable, Hashable {
        public var stage: String
        /// The stage's own definition differs, or the stage is in one run only.
        public var changed: Bool
        /// Each field of the definition that differs.
        public var changes: [FieldChange]
        public var fingerprintChanged: Bool
        public var promptChanged: Bool
        public var outputChanged: Bool
        /// The stage in each run; nil when that run's plan has no such stage.
        public var a: Side?
        public var b: Side?
        public var promptDiff: [DiffOp]
        public var outputDiff: [DiffOp]
        /// True when a prompt or an output was longer than ``RunComparison/diffLimit`` and only its start was diffed.
        public var truncated: Bool?

        enum CodingKeys: String, CodingKey {
            case stage, changed, changes, a, b, truncated
            case fingerprintChanged = "fingerprint_changed"
            case promptChanged = "prompt_changed"
            case outputChanged = "output_changed"
            case promptDiff = "prompt_diff"
            case outputDiff = "output_diff"
        }

        public func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(stage, forKey: .stage)
            try container.encode(changed, forKey: .changed)
            try container.encode(changes, forKey: .changes)
            try container.encode(fingerprintChanged, forKey: .fingerprintChanged)
            try container.encode(promptChanged, forKey: .promptChanged)
            try container.encode(outputChanged, forKey: .outputChanged)
            try container.encode(a, forKey: .a)
            try container.encode(b, forKey: .b)
            try container.encode(promptDiff, forKey: .promptDiff)
            try container.encode(outputDiff, forKey: .outputDiff)
            try container.encodeIfPresent(truncated, forKey: .truncated)
        }
    }

    enum CodingKeys: String, CodingKey {
        case a, b, stages
        case formatVersion = "format_version"
    }

    /// Compares run `a` (before) with run `b` (after); both reports need their attempts with prompts (`.full`).
    public static func compare(_ a: RunReport, _ b: RunReport) -> RunComparison {
        let left = Run(a)
        let right = Run(b)
        var names = b.snapshot.plan.stages.map(\.name)
        let known = Set(names)
        names += a.snapshot.plan.stages.map(\.name).filter { !known.contains($0) }
        let stages = names.map { name in
            compareStage(name, a: left.plan[name].map { (left.side(of: $0), $0) }, b: right.plan[name].map { (right.side(of: $0), $0) })
        }
        return RunComparison(a: left.summary, b: right.summary, stages: stages)
    }

    /// The comparison as JSON text (keys sorted).
    public func json() throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return String(decoding: try encoder.encode(self), as: UTF8.self)
    }

    private static func compareStage(_ name: String, a: (Side, PlannedStage)?, b: (Side, PlannedStage)?) -> StageComparison {
        var changes: [FieldChange] = []
        if let a, let b {
            let before = StageFields.of(a.1)
            let after = StageFields.of(b.1)
            let beforeValues = Dictionary(before, uniquingKeysWith: { first, _ in first })
            let afterValues = Dictionary(after, uniquingKeysWith: { first, _ in first })
            var fields = after.map(\.0)
            fields += before.map(\.0).filter { afterValues[$0] == nil }
            for field in fields where beforeValues[field] != afterValues[field] {
                changes.append(FieldChange(field: field, a: beforeValues[field], b: afterValues[field]))
            }
        }
        let prompt = diff(a?.0.prompt ?? "", b?.0.prompt ?? "")
        let output = diff(a?.0.output ?? "", b?.0.output ?? "")
        return StageComparison(
            stage: name, changed: a == nil || b == nil || !changes.isEmpty, changes: changes,
            fingerprintChanged: a?.0.fingerprint != b?.0.fingerprint || a == nil || b == nil,
            promptChanged: a?.0.prompt != b?.0.prompt, outputChanged: a?.0.output != b?.0.output, a: a?.0, b: b?.0,
            promptDiff: prompt.ops, outputDiff: output.ops, truncated: prompt.truncated || output.truncated ? true : nil)
    }

    /// The line diff of `a` into `b`, each cut to ``diffLimit`` characters first.
    static func diff(_ a: String, _ b: String) -> (ops: [DiffOp], truncated: Bool) {
        // A character count walks the text: the byte count (never smaller) is checked first.
        let truncated = (a.utf8.count > diffLimit && a.count > diffLimit) || (b.utf8.count > diffLimit && b.count > diffLimit)
        let before = truncated ? String(a.prefix(diffLimit)) : a
        let after = truncated ? String(b.prefix(diffLimit)) : b
        return (LineDiffOps.ops(from: before, to: after), truncated)
    }
}

/// One run as the comparison reads it: its plan by stage name, fingerprints, per-stage totals and attempts.
private struct Run {
    let report: RunReport
    let plan: [String: PlannedStage]
    let fingerprints: [String: String]
    let statuses: [String: String]
    let attempts: [String: [AttemptRecord]]

    init(_ report: RunReport) {
        self.report = report
        plan = Dictionary(report.snapshot.plan.stages.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
        fingerprints = report.snapshot.fingerprints ?? Fingerprints.compute(report.snapshot.plan, inputs: report.inputs)
        statuses = Dictionary(report.stageTotals.map { ($0.stage, $0.status) }, uniquingKeysWith: { first, _ in first })
        // A tool loop's turns with calls are inside the try that gave the final answer; superseded attempts are gone.
        attempts = Dictionary(grouping: report.attempts.filter { $0.status != .superseded && $0.calls == nil }, by: \.stage)
    }

    var summary: RunComparison.RunSummary {
        RunComparison.RunSummary(
            id: report.run.id, pipeline: report.run.pipeline, status: report.run.status.rawValue,
            createdAt: JSONTime.string(report.run.createdAt))
    }

    func side(of stage: PlannedStage) -> RunComparison.Side {
        let mine = attempts[stage.name] ?? []
        let accepted: [AttemptRecord]
        if mine.contains(where: { $0.item != nil }) {
            // A fan-out stage: each item's latest accepted attempt (else its latest), in item order.
            let byItem = Dictionary(grouping: mine, by: { $0.item ?? -1 })
            accepted = byItem.keys.sorted().compactMap { Self.final(byItem[$0] ?? []) }
        } else {
            accepted = Self.final(mine).map { [$0] } ?? []
        }
        let first = accepted.first
        let settings = (try? JSONEncoder().encode(stage.settings)).flatMap { OrderedJSON.parse($0) } ?? .object([])
        return RunComparison.Side(
            status: statuses[stage.name] ?? (mine.isEmpty ? "pending" : mine.last!.status.rawValue),
            model: first.flatMap(Self.model(of:)) ?? stage.models.first?.description,
            settings: StageFields.withoutModel(settings), fingerprint: fingerprints[stage.name], attempts: mine.count,
            prompt: first == nil ? nil : accepted.map(\.prompt).joined(separator: "\n\n"),
            output: first == nil ? nil : accepted.map(\.output).joined(separator: "\n\n"),
            promptTokens: Self.sum(accepted.map(\.promptTokens)), outputTokens: Self.sum(accepted.map(\.outputTokens)),
            seconds: first == nil ? nil : accepted.reduce(0) { $0 + (($1.finishedAt ?? $1.startedAt) - $1.startedAt) })
    }

    /// `runtime:model` of an attempt, as a ``ResolvedModel`` describes itself; nil for one without a model (a tool stage).
    private static func model(of attempt: AttemptRecord) -> String? {
        guard let model = attempt.model else { return nil }
        return attempt.runtime.map { "\($0):\(model)" } ?? model
    }

    /// The latest completed (or skipped) attempt, else the latest.
    private static func final(_ attempts: [AttemptRecord]) -> AttemptRecord? {
        attempts.last { $0.status == .completed || $0.status == .skipped } ?? attempts.last
    }

    private static func sum(_ values: [Int?]) -> Int? {
        let known = values.compactMap { $0 }
        return known.isEmpty ? nil : known.reduce(0, +)
    }
}
