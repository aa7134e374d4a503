import BatonSpec
import Foundation

/// Renders an execution plan's DAG as Mermaid or Graphviz DOT.
///
/// Critics are hexagons (Mermaid) or diamonds (DOT) with a dashed "revise" edge back to the stage they review;
/// a stage with a `route` is a rhombus (Mermaid) or an `Mdiamond` (DOT) whose edges to its branch stages carry
/// the case values (`default` for the default branch); a stage that may be skipped (a `when:` condition, or
/// run by a route's branch, or the critic of such a stage) has a dashed border, and its condition is the last line of its label.
/// A fan-out stage (`for_each` or `repeat`) is a subroutine box (Mermaid) or a double border (DOT); its label says
/// `for each NAME in LIST, ×N at most` or `×N samples`, the vote and the concurrency, and the edge from a stage its list
/// reads says `for each NAME`; a critic of a fan-out stage revises per item.
/// The stages of a sub-pipeline call (`uses:`) are drawn inside a subgraph (Mermaid) or cluster (DOT) titled
/// `X (uses P)`, nested as the calls are, with the call's condition under the title; they are dashed when the call may
/// be skipped.
/// A tool stage (`run`, `http`, `mcp`) has no model; its second line says what it runs (``toolLine(_:)``). A model stage
/// with `tools:` names them and its bound.
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

    /// The longest condition a label shows; longer ones end in `…` (`baton show` and the file have the whole).
    static let conditionLimit = 60

    private static func label(_ stage: PlannedStage) -> [String] {
        var lines = [stage.name]
        let detail = [stage.role, stage.models.first.map(\.description)].compactMap { $0 }.joined(separator: " · ")
        if !detail.isEmpty { lines.append(detail) }
        if let tool = stage.tool { lines.append(toolLine(tool)) }
        if let use = stage.toolUse {
            lines.append(shortened("tools: " + use.tools.joined(separator: ", ")) + ", ≤\(use.maxToolCalls) calls")
        }
        if let route = stage.route {
            let empty = route.cases.filter(\.stages.isEmpty).map(\.value) + (route.otherwise?.isEmpty == true ? ["default"] : [])
            lines.append("route on \(route.on)" + (empty.isEmpty ? "" : "; \(empty.joined(separator: ", ")): nothing"))
        }
        if let fanOut = stage.fanOut {
            lines.append(fanOutLine(fanOut))
        }
        if let condition = stage.condition {
            lines.append("when: " + shortened(condition.text))
        }
        return lines
    }

    /// `for each part in stages.sections.json.parts, ×20 at most` or `×5 samples, vote on label`, then `, 4 at once`.
    public static func fanOutLine(_ fanOut: FanOut) -> String {
        var line: String
        if let count = fanOut.repeatCount {
            line = "×\(count) samples" + (fanOut.vote.map { ", vote on \($0)" } ?? "")
        } else {
            let source = fanOut.source.map { " in " + shortened($0.text) } ?? ""
            line = "for each \(fanOut.itemName)\(source), ×\(fanOut.maxItems) at most"
        }
        if fanOut.concurrency > 1 { line += ", \(fanOut.concurrency) at once" }
        return line
    }

    /// What a tool stage runs, on one line: `run: wc -w` (`sh: SCRIPT` with `shell: true`), `http: GET host`
    /// (the whole URL when its host is a template), `mcp: server.tool`.
    public static func toolLine(_ tool: ToolStep) -> String {
        switch tool {
        case .run(let run):
            return shortened((run.shell ? "sh: " : "run: ") + run.argv.joined(separator: " "))
        case .http(let http):
            let host = http.url.contains("{{") ? nil : URLComponents(string: http.url)?.host
            return shortened("http: \(http.method) " + (host ?? http.url))
        case .mcp(let mcp):
            return shortened("mcp: \(mcp.server).\(mcp.tool)")
        }
    }

    /// The label of the edge from `dependency` to a fan-out stage whose list reads it: `for each NAME`.
    private static func fanOutEdgeLabel(_ stage: PlannedStage, from dependency: String) -> String? {
        guard let fanOut = stage.fanOut, let source = fanOut.source,
            source.references.contains(where: { $0.count > 1 && $0[0] == "stages" && $0[1] == dependency })
        else { return nil }
        return "for each \(fanOut.itemName)"
    }

    /// The text on one line (a `|` block's breaks as spaces), cut at ``conditionLimit`` characters.
    static func shortened(_ text: String) -> String {
        let words = text.split(whereSeparator: \.isWhitespace).joined(separator: " ")
        return words.count <= conditionLimit ? words : String(words.prefix(conditionLimit - 1)) + "…"
    }

    /// Whether the stage may be skipped at run time: by its condition, by its route, with the stage it reviews, or with
    /// a call it is inlined through.
    private static func isConditional(_ stage: PlannedStage, in plan: ExecutionPlan) -> Bool {
        if stage.condition != nil || stage.routedBy != nil { return true }
        if (stage.calls ?? []).contains(where: { $0.condition != nil || $0.routedBy != nil }) { return true }
        guard let reviewed = stage.critic.flatMap({ plan.stage(named: $0.reviews) }) else { return false }
        return reviewed.condition != nil || reviewed.routedBy != nil
    }

    /// The label of the edge from a stage's router: the branches that run it.
    private static func branchLabel(_ choice: RouteChoice) -> String {
        choice.branches.joined(separator: ", ")
    }

    /// The route choice the edge from `dependency` to `stage` stands for: the stage's own, or that of a call it is
    /// inlined through (the router runs the whole call).
    private static func choice(of stage: PlannedStage, from dependency: String) -> RouteChoice? {
        if let choice = stage.routedBy, choice.router == dependency { return choice }
        return stage.calls?.first { $0.routedBy?.router == dependency }?.routedBy
    }

    /// The title of a call's subgraph: `X (uses P)`, then its condition.
    private static func callTitle(_ frame: CallFrame) -> [String] {
        ["\(frame.path) (uses \(frame.pipeline))"] + (frame.condition.map { ["when: " + shortened($0.text)] } ?? [])
    }

    /// The stages in plan order with the subgraphs around them: `open` before the first stage of a call, `close` after
    /// its last (a call's stages are contiguous in the plan, nested calls within their caller's).
    private static func grouped(
        _ plan: ExecutionPlan, open: (CallFrame, Int) -> Void, stage: (PlannedStage, Int) -> Void, close: (Int) -> Void
    ) {
        var stack: [String] = []
        for planned in plan.stages {
            let frames = planned.calls ?? []
            var common = 0
            while common < min(stack.count, frames.count), stack[common] == frames[common].path { common += 1 }
            while stack.count > common {
                stack.removeLast()
                close(stack.count)
            }
            for frame in frames[common...] {
                open(frame, stack.count)
                stack.append(frame.path)
            }
            stage(planned, stack.count)
        }
        while !stack.isEmpty {
            stack.removeLast()
            close(stack.count)
        }
    }

    private static func revise(_ loop: CriticLoop, in plan: ExecutionPlan) -> String {
        "revise, up to \(loop.maxRounds) rounds" + (plan.stage(named: loop.reviews)?.fanOut != nil ? " per item" : "")
    }

    static func mermaid(_ plan: ExecutionPlan) -> String {
        // '/' only ever joins a call's name to its stages' (X/S): '__' keeps the ids apart from the stage names' '_'.
        func id(_ name: String) -> String {
            "s_" + name.replacingOccurrences(of: "-", with: "_").replacingOccurrences(of: "/", with: "__")
        }
        // Mermaid entity codes: a label is HTML, so a condition's '<', '>' and '&' must not read as markup.
        func escape(_ text: String) -> String {
            text.replacingOccurrences(of: "&", with: "#amp;").replacingOccurrences(of: "\"", with: "#quot;")
                .replacingOccurrences(of: "<", with: "#lt;").replacingOccurrences(of: ">", with: "#gt;")
        }
        var lines = ["flowchart TD"]
        func indent(_ depth: Int) -> String { String(repeating: "    ", count: depth + 1) }
        grouped(
            plan,
            open: { frame, depth in
                let title = callTitle(frame).map(escape).joined(separator: "<br/>")
                lines.append("\(indent(depth))subgraph c_\(id(frame.path).dropFirst(2))[\"\(title)\"]")
            },
            stage: { stage, depth in
                let text = label(stage).map(escape).joined(separator: "<br/>")
                let node: String
                if stage.critic != nil {
                    node = "\(id(stage.name)){{\"\(text)\"}}"
                } else if stage.route != nil {
                    node = "\(id(stage.name)){\"\(text)\"}"
                } else if stage.fanOut != nil {
                    node = "\(id(stage.name))[[\"\(text)\"]]"
                } else {
                    node = "\(id(stage.name))[\"\(text)\"]"
                }
                lines.append(indent(depth) + node)
            },
            close: { depth in lines.append("\(indent(depth))end") })
        for stage in plan.stages {
            for dependency in stage.dependencies {
                if let choice = choice(of: stage, from: dependency) {
                    lines.append("    \(id(dependency)) -->|\"\(escape(branchLabel(choice)))\"| \(id(stage.name))")
                } else if let label = fanOutEdgeLabel(stage, from: dependency) {
                    lines.append("    \(id(dependency)) ==>|\"\(escape(label))\"| \(id(stage.name))")
                } else {
                    lines.append("    \(id(dependency)) --> \(id(stage.name))")
                }
            }
            if let loop = stage.critic {
                lines.append("    \(id(stage.name)) -. \"\(revise(loop, in: plan))\" .-> \(id(loop.reviews))")
            }
        }
        let conditional = plan.stages.filter { isConditional($0, in: plan) }
        if !conditional.isEmpty {
            lines.append("    classDef conditional stroke-dasharray: 5 5")
            lines.append("    class \(conditional.map { id($0.name) }.joined(separator: ",")) conditional")
        }
        return lines.joined(separator: "\n") + "\n"
    }

    static func dot(_ plan: ExecutionPlan) -> String {
        func quote(_ text: String) -> String {
            "\"" + text.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"") + "\""
        }
        var lines = ["digraph \(quote(plan.pipeline)) {", "    rankdir=TB;", "    node [shape=box];"]
        func indent(_ depth: Int) -> String { String(repeating: "    ", count: depth + 1) }
        grouped(
            plan,
            open: { frame, depth in
                lines.append("\(indent(depth))subgraph \(quote("cluster_" + frame.path)) {")
                var attributes = ["label=\(quote(callTitle(frame).joined(separator: "\n")))"]
                if frame.condition != nil || frame.routedBy != nil { attributes.append("style=dashed") }
                lines.append("\(indent(depth + 1))\(attributes.joined(separator: "; "));")
            },
            stage: { stage, depth in
                var attributes = ["label=\(quote(label(stage).joined(separator: "\n")))"]
                if stage.critic != nil {
                    attributes.append("shape=diamond")
                } else if stage.route != nil {
                    attributes.append("shape=Mdiamond")
                }
                if stage.fanOut != nil { attributes.append("peripheries=2") }
                if isConditional(stage, in: plan) { attributes.append("style=dashed") }
                lines.append("\(indent(depth))\(quote(stage.name)) [\(attributes.joined(separator: ", "))];")
            },
            close: { depth in lines.append("\(indent(depth))}") })
        for stage in plan.stages {
            for dependency in stage.dependencies {
                if let choice = choice(of: stage, from: dependency) {
                    lines.append("    \(quote(dependency)) -> \(quote(stage.name)) [label=\(quote(branchLabel(choice)))];")
                } else if let label = fanOutEdgeLabel(stage, from: dependency) {
                    lines.append("    \(quote(dependency)) -> \(quote(stage.name)) [label=\(quote(label)), style=bold];")
                } else {
                    lines.append("    \(quote(dependency)) -> \(quote(stage.name));")
                }
            }
            if let loop = stage.critic {
                lines.append("    \(quote(stage.name)) -> \(quote(loop.reviews)) [style=dashed, label=\(quote(revise(loop, in: plan)))];")
            }
        }
        lines.append("}")
        return lines.joined(separator: "\n") + "\n"
    }
}
