import BatonCommands
import BatonSpec
import BatonTestSupport
import Testing

/// `baton graph` of conditions and routes, in every format: the router's edges carry the case values that run
/// each branch stage (`default` for the default branch), stages that may be skipped have a dashed border and show
/// their condition.
@Suite struct GraphFormatterTests {
    static let pipeline = """
        version: 1
        name: ticket-router
        inputs:
          ticket: {}
        stages:
          classify:
            model: m
            prompt: "Classify {{inputs.ticket}}"
            output:
              format: json
              schema:
                type: object
                properties:
                  category: {type: string, enum: [billing, bug, account, spam]}
                  urgent: {type: boolean}
                required: [category, urgent]
            route:
              on: category
              cases:
                billing: billing_reply
                bug: [bug_triage, reply]
                account: reply
                spam: []
              default: reply
          billing_reply: {model: m, prompt: Billing}
          bug_triage: {model: m, prompt: Bug}
          reply: {model: m, prompt: "{{stages.bug_triage.output}}"}
          handoff:
            model: m
            prompt: Handoff
            when: |
              inputs.ticket.size() < 5000 && "a&b" != '<x>' &&
                stages.classify.json.urgent && stages.classify.branch != 'spam'
          check: {model: m, reviews: handoff, prompt: "{{stages.handoff.output}}"}
          summary:
            model: m
            prompt: "{{stages.billing_reply.output}}{{stages.reply.output}}{{#stages.handoff.skipped}}-{{/stages.handoff.skipped}}"
        """

    static func plan() throws -> ExecutionPlan {
        try #require(compileValid(pipeline))
    }

    @Test func mermaidDrawsTheRouteAndTheCondition() throws {
        let text = GraphFormatter.render(try Self.plan(), format: .mermaid)
        // The router is a rhombus, its edges labelled with the branches, and no unlabelled edge from it to a branch stage.
        #expect(text.contains("    s_classify{\"classify<br/>m<br/>route on category; spam: nothing\"}"))
        #expect(text.contains("    s_classify -->|\"billing\"| s_billing_reply"))
        #expect(text.contains("    s_classify -->|\"bug, account, default\"| s_reply"))
        #expect(!text.contains("s_classify --> s_reply"))
        // A condition's '&', '<' and '>' are entity codes, so Mermaid does not read them as HTML.
        #expect(text.contains("when: inputs.ticket.size() #lt; 5000 #amp;#amp; #quot;a#amp;b#quot; != '#lt;x#gt;' #amp;#amp; stages.cla…"))
        // The critic of a stage that may be skipped is skipped with it.
        #expect(text.contains("class s_billing_reply,s_bug_triage,s_reply,s_handoff,s_check conditional"))
        if let difference = Fixtures.compareGolden(text, at: "Tests/BatonCommandsTests/Fixtures/golden/graph-route-mermaid.txt") {
            Issue.record(Comment(rawValue: difference))
        }
    }

    @Test func dotDrawsTheRouteAndTheCondition() throws {
        let text = GraphFormatter.render(try Self.plan(), format: .dot)
        #expect(text.contains("    \"classify\" -> \"reply\" [label=\"bug, account, default\"];"))
        #expect(text.contains("shape=Mdiamond"))
        #expect(
            text.contains(
                "\"handoff\" [label=\"handoff\nm\nwhen: inputs.ticket.size() < 5000 && \\\"a&b\\\" != '<x>' && stages.cla…\", style=dashed];"
            ))
        #expect(text.contains("\"check\" [label=\"check\nm\", shape=diamond, style=dashed];"))
        if let difference = Fixtures.compareGolden(text, at: "Tests/BatonCommandsTests/Fixtures/golden/graph-route-dot.txt") {
            Issue.record(Comment(rawValue: difference))
        }
    }

    // MARK: - Fan-out and voting

    static let fanOutPipeline = """
        version: 1
        name: document-review
        inputs:
          text: {}
        stages:
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
            prompt: "Review {{part.title}} ({{item_index}})"
          check: {model: m, reviews: review, max_rounds: 2, prompt: "{{part.title}}: {{stages.review.output}}"}
          label:
            model: m
            repeat: 5
            vote: label
            prompt: "Label {{inputs.text}}"
            output: {format: json, schema: {type: object, required: [label], properties: {label: {enum: [spam, ham]}}}}
          summary:
            model: m
            prompt: "{{#stages.review.items}}{{output}}{{/stages.review.items}} {{stages.label.vote.value}}"
        """

    static func fanOutPlan() throws -> ExecutionPlan {
        try #require(compileValid(fanOutPipeline))
    }

    @Test func mermaidDrawsTheFanOutAndTheVote() throws {
        let text = GraphFormatter.render(try Self.fanOutPlan(), format: .mermaid)
        // A fan-out stage is a subroutine box saying what it runs over, how many at most, under which name.
        #expect(text.contains("    s_review[[\"review<br/>m<br/>for each part in stages.sections.json.parts, ×20 at most\"]]"))
        #expect(text.contains("    s_label[[\"label<br/>m<br/>×5 samples, vote on label\"]]"))
        // The list's stage feeds it with a thick edge naming the item; its critic revises each item.
        #expect(text.contains("    s_sections ==>|\"for each part\"| s_review"))
        #expect(!text.contains("s_sections --> s_review"))
        #expect(text.contains("    s_check -. \"revise, up to 2 rounds per item\" .-> s_review"))
        if let difference = Fixtures.compareGolden(text, at: "Tests/BatonCommandsTests/Fixtures/golden/graph-fanout-mermaid.txt") {
            Issue.record(Comment(rawValue: difference))
        }
    }

    @Test func dotDrawsTheFanOutAndTheVote() throws {
        let text = GraphFormatter.render(try Self.fanOutPlan(), format: .dot)
        #expect(text.contains("\"review\" [label=\"review\nm\nfor each part in stages.sections.json.parts, ×20 at most\", peripheries=2];"))
        #expect(text.contains("\"label\" [label=\"label\nm\n×5 samples, vote on label\", peripheries=2];"))
        #expect(text.contains("    \"sections\" -> \"review\" [label=\"for each part\", style=bold];"))
        #expect(text.contains("[style=dashed, label=\"revise, up to 2 rounds per item\"]"))
        if let difference = Fixtures.compareGolden(text, at: "Tests/BatonCommandsTests/Fixtures/golden/graph-fanout-dot.txt") {
            Issue.record(Comment(rawValue: difference))
        }
    }

    @Test func aFanOutLineSaysTheConcurrency() throws {
        let fanOut = FanOut(
            source: try BatonSpec.Expression.parse("inputs.topics"), itemName: "topic", maxItems: 50, concurrency: 4,
            repeatCount: nil, vote: nil)
        #expect(GraphFormatter.fanOutLine(fanOut) == "for each topic in inputs.topics, ×50 at most, 4 at once")
        let samples = FanOut(source: nil, itemName: "item", maxItems: 3, concurrency: 1, repeatCount: 3, vote: nil)
        #expect(GraphFormatter.fanOutLine(samples) == "×3 samples")
    }

    @Test func everyFormatIsCovered() {
        // A new format must draw routes and conditions too: add it to the tests above.
        #expect(GraphFormatter.Format.allCases == [.mermaid, .dot])
    }
}
