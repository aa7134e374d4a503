import BatonEngine
import Foundation

/// `resume --dry-run` output.
enum ResumePlanFormatter {
    /// One line per stage: reused (with its completed rounds) or run (with why), then the superseded stages.
    static func text(_ plan: ResumePlan, runID: String) -> String {
        var lines = ["resume \(runID):"]
        let width = plan.entries.map(\.stage.count).max() ?? 0
        for entry in plan.entries {
            let name = entry.stage.padding(toLength: width, withPad: " ", startingAt: 0)
            if entry.reuse && entry.skipped {
                lines.append("  \(name)  reuse (skipped)")
                continue
            }
            if entry.reusedItems > 0 {
                // A fan-out stage: its pinned list and completed items are reused, its other items run.
                lines.append("  \(name)  reuse \(entry.reusedItems) completed item\(entry.reusedItems == 1 ? "" : "s"); the others run")
                continue
            }
            lines.append(
                entry.reuse
                    ? "  \(name)  reuse (\(entry.reusedRounds) completed round\(entry.reusedRounds == 1 ? "" : "s"))"
                    : "  \(name)  run (\(entry.reason))")
        }
        if !plan.changed.isEmpty {
            lines.append("superseded by the current pipeline: \(plan.changed.joined(separator: ", "))")
        }
        return lines.joined(separator: "\n")
    }
}
