import BatonSpec
import Foundation

/// Renders an execution plan's DAG as Mermaid or Graphviz DOT.
public enum GraphFormatter {
    /// The formats of `baton graph`.
    public enum Format: String, CaseIterable, Sendable {
        /// A Mermaid `flowchart`.
        case mermaid
        /// A Graphviz `digraph`.
        case dot
    }

    /// The plan in `format`.
    public static func render(_ plan: ExecutionPlan, format: Format) -> String {
        switch format {
        case .mermaid: mermaid(plan)
        case .dot: dot(plan)
        }
    }

    private static func label(_ stage: PlannedStage) -> [String] {
        var lines = [stage.name]
        let detail = [stage.role, stage.models.first.map(\.description)].compactMap { $0 }.joined(separator: " · ")
        if !detail.isEmpty { lines.append(detail) }
        return lines
    }

    private static func revise(_ loop: CriticLoop) -> String {
        "revise, up to \(loop.maxRounds) rounds"
    }

    static func mermaid(_ plan: ExecutionPlan) -> String {
        func id(_ name: String) -> String { "s_" + name.replacingOccurrences(of: "-", with: "_") }
        func escape(_ text: String) -> String { text.replacingOccurrences(of: "\"", with: "#quot;") }
        var lines = ["flowchart TD"]
        for stage in plan.stages {
            let text = escape(label(stage).joined(separator: "<br/>"))
            lines.append(stage.critic == nil ? "    \(id(stage.name))[\"\(text)\"]" : "    \(id(stage.name)){{\"\(text)\"}}")
        }
        for stage in plan.stages {
            for dependency in stage.dependencies {
                lines.append("    \(id(dependency)) --> \(id(stage.name))")
            }
            if let loop = stage.critic {
                lines.append("    \(id(stage.name)) -. \"\(revise(loop))\" .-> \(id(loop.reviews))")
            }
        }
        return lines.joined(separator: "\n") + "\n"
    }

    static func dot(_ plan: ExecutionPlan) -> String {
        func quote(_ text: String) -> String {
            "\"" + text.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"") + "\""
        }
        var lines = ["digraph \(quote(plan.pipeline)) {", "    rankdir=TB;", "    node [shape=box];"]
        for stage in plan.stages {
            let shape = stage.critic == nil ? "" : ", shape=diamond"
            lines.append("    \(quote(stage.name)) [label=\(quote(label(stage).joined(separator: "\n")))\(shape)];")
        }
        for stage in plan.stages {
            for dependency in stage.dependencies {
                lines.append("    \(quote(dependency)) -> \(quote(stage.name));")
            }
            if let loop = stage.critic {
                lines.append("    \(quote(stage.name)) -> \(quote(loop.reviews)) [style=dashed, label=\(quote(revise(loop)))];")
            }
        }
        lines.append("}")
        return lines.joined(separator: "\n") + "\n"
    }
}
