import BatonSpec
import BatonTestSupport
import Foundation
import Testing

@testable import BatonEngine

/// The run page's stage graph: ranks are longest paths from a root, a rank's stages keep plan order, and the edges
/// carry what makes them special (a critic's revise loop, a fan-out's list, a router's branches).
@Suite struct StageGraphTests {
    static func plan(_ stages: String, inputs: String = "") throws -> ExecutionPlan {
        let text = "version: 1\nname: graph-test\n" + (inputs.isEmpty ? "" : "inputs:\n" + inputs) + "stages:\n" + stages
        return try #require(compileValid(text))
    }

    static func ranks(_ layout: StageGraph.Layout) -> [String: Int] {
        Dictionary(uniqueKeysWithValues: layout.nodes.map { ($0.name, $0.rank) })
    }

    static func edges(_ layout: StageGraph.Layout) -> Set<String> {
        Set(layout.edges.map { "\($0.from)->\($0.to):\($0.kind.rawValue)" + ($0.label.map { " \($0)" } ?? "") })
    }

    @Test func aChainIsOneRowOfRanks() throws {
        let plan = try Self.plan(
            """
              a: {model: m, prompt: A}
              b: {model: m, prompt: "{{stages.a.output}}"}
              c: {model: m, prompt: "{{stages.b.output}}"}
            """)
        let layout = StageGraph.layout(plan)
        #expect(Self.ranks(layout) == ["a": 0, "b": 1, "c": 2])
        #expect(Set(layout.nodes.map(\.y)).count == 1)
        #expect(Self.edges(layout) == ["a->b:dependency", "b->c:dependency"])
        let svg = StageGraph.svg(plan)
        #expect(svg.hasPrefix("<svg id=\"graph\""))
        #expect(svg.contains("viewBox=\"0 0 \(layout.width) \(layout.height)\""))
        #expect(svg.components(separatedBy: "<g class=\"stage").count - 1 == 3)
        #expect(svg.contains("<g class=\"stage\" data-stage=\"b\" data-status=\"pending\" data-rank=\"1\""))
        #expect(svg.components(separatedBy: "<path class=\"edge ").count - 1 == 2)
    }

    @Test func aDiamondCentresItsJoinBetweenTheBranches() throws {
        let plan = try Self.plan(
            """
              a: {model: m, prompt: A}
              b: {model: m, prompt: "{{stages.a.output}}"}
              c: {model: m, prompt: "{{stages.a.output}}"}
              d: {model: m, prompt: "{{stages.b.output}} {{stages.c.output}}"}
            """)
        let layout = StageGraph.layout(plan)
        #expect(Self.ranks(layout) == ["a": 0, "b": 1, "c": 1, "d": 2])
        let nodes = Dictionary(uniqueKeysWithValues: layout.nodes.map { ($0.name, $0) })
        let (b, c, d) = (try #require(nodes["b"]), try #require(nodes["c"]), try #require(nodes["d"]))
        #expect((b.order, c.order) == (0, 1))
        #expect(d.y == (b.y + c.y) / 2)
        #expect(Self.edges(layout) == ["a->b:dependency", "a->c:dependency", "b->d:dependency", "c->d:dependency"])
    }

    @Test func aCriticLoopIsABackEdge() throws {
        let plan = try Self.plan(
            """
              draft: {model: m, prompt: Draft}
              check: {model: m, reviews: draft, max_rounds: 2, prompt: "{{stages.draft.output}}"}
              final: {model: m, prompt: "{{stages.draft.output}}"}
            """)
        let layout = StageGraph.layout(plan)
        #expect(Self.ranks(layout)["draft"] == 0)
        #expect(Self.ranks(layout)["check"] == 1)
        #expect(Self.edges(layout).contains("check->draft:revise revise ≤2"))
        #expect(layout.nodes.first { $0.name == "check" }?.kinds == ["critic"])
        let svg = StageGraph.svg(plan)
        #expect(svg.contains("<path class=\"edge revise\" data-from=\"check\" data-to=\"draft\""))
        #expect(svg.contains("<text class=\"line\" x=\"12\" y=\"53\">reviews draft</text>"))
    }

    static let fanOut = """
          sections:
            model: m
            prompt: "Split {{inputs.text}}"
            output: {format: json, schema: {type: object, required: [parts],
                     properties: {parts: {type: array, items: {type: object, required: [title], properties: {title: {type: string}}}}}}}
          review:
            model: m
            for_each: stages.sections.json.parts
            as: part
            max_items: 20
            prompt: "Review {{part.title}}"
          label:
            model: m
            repeat: 5
            vote: label
            prompt: "Label {{inputs.text}}"
            output: {format: json, schema: {type: object, required: [label], properties: {label: {enum: [spam, ham]}}}}
        """

    @Test func aFanOutIsMarkedAndItsListEdgeNamed() throws {
        let plan = try Self.plan(Self.fanOut, inputs: "  text: {}\n")
        let layout = StageGraph.layout(plan)
        #expect(Self.edges(layout).contains("sections->review:list for each part"))
        let nodes = Dictionary(uniqueKeysWithValues: layout.nodes.map { ($0.name, $0) })
        #expect(nodes["review"]?.kinds == ["fan-out"])
        #expect(nodes["review"]?.lines == ["m", "for each part, ≤20"])
        #expect(nodes["label"]?.lines == ["m", "×5 samples, vote on label"])
        // The script writes done/total into this element.
        #expect(StageGraph.svg(plan).contains("<text class=\"items\" x=\"\(StageGraph.nodeWidth - 10)\" y=\"21\"></text>"))
    }

    @Test func aRoutersEdgesCarryTheBranches() throws {
        let plan = try Self.plan(
            """
              classify:
                model: m
                prompt: "Classify {{inputs.ticket}}"
                output:
                  format: json
                  schema: {type: object, properties: {category: {type: string, enum: [billing, bug, account]}}, required: [category]}
                route:
                  on: category
                  cases:
                    billing: billing_reply
                    bug: [bug_triage, reply]
                  default: reply
              billing_reply: {model: m, prompt: Billing}
              bug_triage: {model: m, prompt: Bug}
              reply: {model: m, prompt: "{{stages.bug_triage.output}}"}
              handoff:
                model: m
                prompt: Handoff
                when: inputs.ticket.size() < 5000 && "a&b" != '<x>'
            """, inputs: "  ticket: {}\n")
        let layout = StageGraph.layout(plan)
        let edges = Self.edges(layout)
        #expect(edges.contains("classify->billing_reply:branch billing"))
        #expect(edges.contains("classify->reply:branch bug, default"))
        let nodes = Dictionary(uniqueKeysWithValues: layout.nodes.map { ($0.name, $0) })
        #expect(nodes["classify"]?.kinds == ["router"])
        #expect(nodes["classify"]?.lines.last == "route on category")
        #expect(nodes["billing_reply"]?.kinds == ["conditional"])
        // The condition's markup characters are escaped in the drawing (the title holds the whole line).
        let svg = StageGraph.svg(plan)
        #expect(svg.contains("when: inputs.ticket.size() &lt; 5000 &amp;&amp; &quot;a&amp;b&quot; != &#39;&lt;x&gt;&#39;"))
        #expect(!svg.contains("'<x>'"))
        #expect(svg == StageGraph.svg(plan))
    }

    @Test func toolDefinitionsAreLeftOutAndCallsShowTheirPath() throws {
        var plan = try Self.plan(
            """
              a: {model: m, prompt: A}
              b: {model: m, prompt: B}
              c: {model: m, prompt: "{{stages.a.output}}"}
            """)
        plan.stages[1].isToolDefinition = true
        plan.stages[2].calls = [
            CallFrame(path: "review", pipeline: "critique", inputs: [], with: [:], dependencies: [], outputs: ["review/c"])
        ]
        let layout = StageGraph.layout(plan)
        #expect(layout.nodes.map(\.name) == ["a", "c"])
        #expect(layout.nodes.last?.lines == ["m", "in review (uses critique)"])
        #expect(!StageGraph.svg(plan).contains("data-stage=\"b\""))
    }

    @Test func aLongChainScrollsInsideItsViewBox() throws {
        let stages = (0..<200).map { index in
            index == 0 ? "  s0: {model: m, prompt: S}" : "  s\(index): {model: m, prompt: \"{{stages.s\(index - 1).output}}\"}"
        }
        let plan = try Self.plan(stages.joined(separator: "\n") + "\n")
        let layout = StageGraph.layout(plan)
        #expect(layout.nodes.count == 200)
        #expect(layout.nodes.last?.rank == 199)
        #expect(layout.width == 2 * StageGraph.margin + 200 * StageGraph.nodeWidth + 199 * StageGraph.columnGap)
        #expect(StageGraph.svg(plan).contains("width=\"\(layout.width)\" height=\"\(layout.height)\""))
    }
}
