import BatonSpec

/// The run page's stage graph: a layered drawing of an ``ExecutionPlan`` as SVG, left to right.
///
/// A stage's rank is the longest path to it from a stage without dependencies; the stages of one rank are one column,
/// in plan order. Dependencies are edges from left to right (a router's carry the branches that run the stage, a fan-out
/// stage's list edge says `for each NAME`); a critic's loop is a dashed back edge under the two stages. Tool definitions
/// (called by models, never walked) are left out. The output depends on the plan alone, so it can be compared in tests.
/// The page's script colours the nodes through their `data-status` and `data-items` attributes.
public enum StageGraph {
    /// A stage's box: its name, where it is drawn, and the lines under its name.
    struct Node: Equatable {
        var name: String
        var rank: Int
        /// The position within its rank, from 0.
        var order: Int
        var x: Int
        var y: Int
        /// The model line, then at most one detail line (fan-out, route, call path, condition).
        var lines: [String]
        /// CSS classes beside `stage`: `critic`, `router`, `fan-out`, `conditional`, `tool`.
        var kinds: [String]
    }

    /// An arrow between two stages.
    struct Edge: Equatable {
        enum Kind: String { case dependency, list, branch, revise }
        var from: String
        var to: String
        var kind: Kind
        var label: String?
    }

    /// A whole drawing.
    struct Layout {
        var nodes: [Node]
        var edges: [Edge]
        var width: Int
        var height: Int
    }

    static let nodeWidth = 170
    static let nodeHeight = 60
    static let columnGap = 96
    static let rowGap = 22
    static let margin = 20
    /// Room above the top row for the edges that skip ranks, which arc over the boxes between.
    static let topMargin = 44
    /// How high an edge that skips ranks arcs.
    static let skipLift = 60
    /// Room under the lowest row for the critics' back edges.
    static let loopRoom = 40
    /// The longest name or line a box shows; longer ones end in `…` (the `<title>` has the whole).
    static let lineLimit = 28

    /// The plan's graph as an `<svg id="graph">` element with one `<g class="stage" data-stage=NAME>` per stage.
    public static func svg(_ plan: ExecutionPlan) -> String {
        let layout = layout(plan)
        let byName = Dictionary(layout.nodes.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
        var out = """
            <svg id="graph" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 \(layout.width) \(layout.height)" \
            width="\(layout.width)" height="\(layout.height)" role="img" aria-label="stage graph of \(esc(plan.pipeline))">
            <defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="9" markerHeight="9" \
            markerUnits="userSpaceOnUse" orient="auto-start-reverse"><path d="M 0 0 L 10 5 L 0 10 z" class="arrow-head"/></marker></defs>

            """
        // Edges under the boxes, their labels over them.
        var labels = ""
        for edge in layout.edges {
            guard let from = byName[edge.from], let to = byName[edge.to] else { continue }
            let (path, label) = edgeSVG(edge, from: from, to: to)
            out += path
            labels += label
        }
        for node in layout.nodes {
            out += nodeSVG(node)
        }
        out += labels
        out += "</svg>"
        return out
    }

    /// Ranks, positions and edges of the plan's stages.
    static func layout(_ plan: ExecutionPlan) -> Layout {
        let stages = plan.stages.filter { !$0.isToolDefinition }
        let names = Set(stages.map(\.name))
        // The plan is in topological order, so every dependency's rank is known when a stage is reached.
        var ranks: [String: Int] = [:]
        for stage in stages {
            ranks[stage.name] = stage.dependencies.filter(names.contains).compactMap { ranks[$0] }.map { $0 + 1 }.max() ?? 0
        }
        var columns: [[PlannedStage]] = []
        for stage in stages {
            let rank = ranks[stage.name] ?? 0
            while columns.count <= rank { columns.append([]) }
            columns[rank].append(stage)
        }
        let tallest = columns.map(\.count).max() ?? 0
        // Room above for edges that skip ranks, below for critics' loops, only when the plan has them.
        let skips = stages.contains { stage in
            stage.dependencies.contains { names.contains($0) && (ranks[stage.name] ?? 0) - (ranks[$0] ?? 0) > 1 }
        }
        let loops = stages.contains { $0.critic.map { names.contains($0.reviews) } ?? false }
        let top = skips ? topMargin : margin
        var nodes: [Node] = []
        for (rank, column) in columns.enumerated() {
            // Shorter columns are centred against the tallest, so a diamond's join sits between its branches.
            let offset = (tallest - column.count) * (nodeHeight + rowGap) / 2
            for (order, stage) in column.enumerated() {
                nodes.append(
                    Node(
                        name: stage.name, rank: rank, order: order, x: margin + rank * (nodeWidth + columnGap),
                        y: top + offset + order * (nodeHeight + rowGap), lines: lines(stage, in: plan),
                        kinds: kinds(stage, in: plan)))
            }
        }
        nodes.sort { ($0.rank, $0.order) < ($1.rank, $1.order) }
        var edges: [Edge] = []
        for stage in stages {
            for dependency in stage.dependencies where names.contains(dependency) {
                if let choice = choice(of: stage, from: dependency) {
                    edges.append(Edge(from: dependency, to: stage.name, kind: .branch, label: choice.branches.joined(separator: ", ")))
                } else if let item = listEdge(stage, from: dependency) {
                    edges.append(Edge(from: dependency, to: stage.name, kind: .list, label: "for each \(item)"))
                } else {
                    edges.append(Edge(from: dependency, to: stage.name, kind: .dependency, label: nil))
                }
            }
            if let loop = stage.critic, names.contains(loop.reviews) {
                edges.append(Edge(from: stage.name, to: loop.reviews, kind: .revise, label: "revise ≤\(loop.maxRounds)"))
            }
        }
        let width = margin * 2 + max(1, columns.count) * nodeWidth + max(0, columns.count - 1) * columnGap
        let height = top + margin + max(1, tallest) * nodeHeight + max(0, tallest - 1) * rowGap + (loops ? loopRoom : 0)
        return Layout(nodes: nodes, edges: edges, width: width, height: height)
    }

    // MARK: - Labels

    /// The lines under a stage's name: its model (or what its tool runs), then what makes it special.
    private static func lines(_ stage: PlannedStage, in plan: ExecutionPlan) -> [String] {
        var lines: [String] = []
        if let tool = stage.tool {
            lines.append(toolLine(tool))
        } else if let retrieve = stage.retrieve {
            lines.append("retrieve from \(retrieve.index)")
        } else {
            lines.append([stage.role, stage.models.first?.name].compactMap { $0 }.joined(separator: " · "))
        }
        if let fanOut = stage.fanOut {
            if let count = fanOut.repeatCount {
                lines.append("×\(count) samples" + (fanOut.vote.map { ", vote on \($0)" } ?? ""))
            } else {
                lines.append("for each \(fanOut.itemName), ≤\(fanOut.maxItems)")
            }
        } else if let route = stage.route {
            lines.append("route on \(route.on)")
        } else if let loop = stage.critic {
            lines.append("reviews \(loop.reviews)")
        } else if let frame = stage.calls?.last {
            lines.append("in \(frame.path) (uses \(frame.pipeline))")
        } else if let condition = stage.condition {
            lines.append("when: " + condition.text.split(whereSeparator: \.isWhitespace).joined(separator: " "))
        }
        return lines
    }

    /// What a tool stage runs, short.
    private static func toolLine(_ tool: ToolStep) -> String {
        switch tool {
        case .run(let run): (run.shell ? "sh: " : "run: ") + run.argv.joined(separator: " ")
        case .http(let http): "http: \(http.method) \(http.url)"
        case .mcp(let mcp): "mcp: \(mcp.server).\(mcp.tool)"
        }
    }

    private static func kinds(_ stage: PlannedStage, in plan: ExecutionPlan) -> [String] {
        var kinds: [String] = []
        if stage.critic != nil { kinds.append("critic") }
        if stage.route != nil { kinds.append("router") }
        if stage.fanOut != nil { kinds.append("fan-out") }
        if stage.isTool { kinds.append("tool") }
        if stage.calls?.isEmpty == false { kinds.append("called") }
        let reviewed = stage.critic.flatMap { plan.stage(named: $0.reviews) }
        let skippable = [stage, reviewed].compactMap { $0 }.contains {
            $0.condition != nil || $0.routedBy != nil || ($0.calls ?? []).contains { $0.condition != nil || $0.routedBy != nil }
        }
        if skippable { kinds.append("conditional") }
        return kinds
    }

    /// The route choice the edge from `dependency` stands for: the stage's own, or that of a call it is inlined through.
    private static func choice(of stage: PlannedStage, from dependency: String) -> RouteChoice? {
        if let choice = stage.routedBy, choice.router == dependency { return choice }
        return stage.calls?.first { $0.routedBy?.router == dependency }?.routedBy
    }

    /// The item name when `dependency` is the stage whose output a fan-out stage's list reads.
    private static func listEdge(_ stage: PlannedStage, from dependency: String) -> String? {
        guard let fanOut = stage.fanOut, let source = fanOut.source,
            source.references.contains(where: { $0.count > 1 && $0[0] == "stages" && $0[1] == dependency })
        else { return nil }
        return fanOut.itemName
    }

    // MARK: - Drawing

    private static func nodeSVG(_ node: Node) -> String {
        let classes = (["stage"] + node.kinds).joined(separator: " ")
        var out = """
            <g class="\(classes)" data-stage="\(esc(node.name))" data-status="pending" data-rank="\(node.rank)" \
            transform="translate(\(node.x),\(node.y))" tabindex="0">\
            <title>\(esc(([node.name] + node.lines).joined(separator: "\n")))</title>\
            <rect class="box" width="\(nodeWidth)" height="\(nodeHeight)" rx="8"/>\
            <text class="name" x="12" y="21">\(esc(shortened(node.name)))</text>
            """
        for (index, line) in node.lines.prefix(2).enumerated() {
            out += "<text class=\"line\" x=\"12\" y=\"\(38 + index * 15)\">\(esc(shortened(line)))</text>"
        }
        out += "<text class=\"items\" x=\"\(nodeWidth - 10)\" y=\"21\"></text></g>\n"
        return out
    }

    /// The edge's path, and its label (empty without one).
    private static func edgeSVG(_ edge: Edge, from: Node, to: Node) -> (path: String, label: String) {
        let path: String
        let labelX: Int
        let labelY: Int
        if edge.kind == .revise {
            // Under both boxes, from the critic back to the stage it reviews.
            let (x1, y1) = (from.x + 30, from.y + nodeHeight)
            let (x2, y2) = (to.x + nodeWidth - 30, to.y + nodeHeight)
            let depth = max(y1, y2) + loopRoom - 8
            path = "M \(x1) \(y1) C \(x1) \(depth), \(x2) \(depth), \(x2) \(y2)"
            (labelX, labelY) = ((x1 + x2) / 2, depth - 6)
        } else {
            let (x1, y1) = (from.x + nodeWidth, from.y + nodeHeight / 2)
            let (x2, y2) = (to.x, to.y + nodeHeight / 2)
            let bend = max(30, (x2 - x1) / 2)
            // An edge that skips ranks arcs over the boxes between, which would otherwise hide it.
            let lift = to.rank - from.rank > 1 ? skipLift : 0
            path = "M \(x1) \(y1) C \(x1 + bend) \(y1 - lift), \(x2 - bend) \(y2 - lift), \(x2) \(y2)"
            (labelX, labelY) = ((x1 + x2) / 2, (y1 + y2) / 2 - 5 - lift * 3 / 4)
        }
        let line = """
            <path class="edge \(edge.kind.rawValue)" data-from="\(esc(edge.from))" data-to="\(esc(edge.to))" \
            d="\(path)" marker-end="url(#arrow)"/>

            """
        guard let label = edge.label else { return (line, "") }
        let text = "<text class=\"edge-label \(edge.kind.rawValue)\" x=\"\(labelX)\" y=\"\(labelY)\">\(esc(shortened(label)))</text>\n"
        return (line, text)
    }

    private static func shortened(_ text: String) -> String {
        text.count <= lineLimit ? text : String(text.prefix(lineLimit - 1)) + "…"
    }

    private static func esc(_ text: String) -> String { DashboardPages.html(text) }
}
