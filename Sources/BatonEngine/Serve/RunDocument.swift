import BatonSpec
import Foundation

/// The JSON document of one run: what `baton show --json` prints and what `baton serve`'s `/api/runs/{id}` starts
/// from (`run`, `inputs`, `plan`, `attempts` with prompts and outputs, `events`, `format_version`), one builder for both.
public enum RunDocument {
    /// Whether `--stage stage` shows what stage `name` recorded: everything without `--stage`; the stage itself; for a
    /// sub-pipeline call's name, every stage of the call (`review` shows `review/check`).
    public static func shows(_ name: String?, _ stage: String?) -> Bool {
        guard let stage else { return true }
        guard let name else { return false }
        return name == stage || name.hasPrefix(stage + "/")
    }

    /// The document as a JSON object (times converted to RFC 3339, `format_version` set), for callers that add keys.
    public static func object(_ report: RunReport, events: [EventRecord], stage: String? = nil) throws -> [String: Any] {
        struct Document: Encodable {
            var run: RunRecord
            var inputs: [String: String]
            var plan: ExecutionPlan
            var attempts: [AttemptRecord]
            var events: [EventRecord]
        }
        var run = report.run
        run.snapshot = ""  // the plan is below, decoded
        let document = Document(
            run: run, inputs: report.inputs, plan: report.snapshot.plan,
            attempts: ToolTurnCall.conversationOrder(report.attempts.filter { shows($0.stage, stage) }),
            events: events.filter { shows($0.stage, stage) })
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        // The records encode the database's epoch seconds; the document carries RFC 3339 times instead.
        guard var object = try JSONSerialization.jsonObject(with: encoder.encode(document)) as? [String: Any] else { return [:] }
        object = JSONTime.converted(object) as? [String: Any] ?? object
        object["format_version"] = JSONTime.formatVersion
        return object
    }

    /// The document as pretty-printed JSON text (`baton show --json`).
    public static func json(_ report: RunReport, events: [EventRecord], stage: String? = nil) throws -> String {
        try JSONTime.text(object(report, events: events, stage: stage))
    }
}
