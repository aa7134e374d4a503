import BatonCommands
import BatonSpec
import BatonTestSupport
import Testing

/// `baton graph` of conditions and routes, in every format: the router's edges carry the case values that run
/// each branch stage (`default` for the default branch), stages that may be skipped have a dashed border and show
/// their condition; a sub-pipeline call is a subgraph or cluster titled "X (uses P)".
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

    // MARK: - Sub-pipelines

    static let calledFiles = [
        "pipelines/review.yaml": """
        version: 1
        name: review
        inputs:
          text: {}
        stages:
          draft: {model: m, prompt: "Review {{inputs.text}}"}
          check: {model: m, reviews: draft, prompt: "{{stages.draft.output}}"}
        """,
        "pipelines/outer.yaml": """
        version: 1
        name: outer
        inputs:
          body: {}
        stages:
          prep: {model: m, prompt: "Prep {{inputs.body}}"}
          inner: {uses: review, with: {text: "{{stages.prep.output}}"}}
        """,
        "main.yaml": """
        version: 1
        name: calls
        inputs:
          doc: {}
        stages:
          classify:
            model: m
            prompt: "Classify {{inputs.doc}}"
            output: {format: json, schema: {type: object, required: [deep], properties: {deep: {type: boolean}}}}
            route: {on: deep, cases: {"true": nested, "false": []}}
          nested: {uses: outer, with: {body: "{{inputs.doc}}"}}
          quick:
            uses: review
            with: {text: "{{inputs.doc}}"}
            when: inputs.doc.size() < 100
          report: {model: m, prompt: "{{stages.nested.output}} {{stages.quick.output}}"}
        """,
    ]

    static func callsPlan() throws -> ExecutionPlan {
        let files = calledFiles
        let compiler = PipelineCompiler(
            profile: nil,
            resolvePipeline: { name, _ throws(SourceReadError) in
                guard let text = files["pipelines/\(name).yaml"] else { throw .notFound }
                return SourceFile(path: "pipelines/\(name).yaml", text: text)
            })
        let result = compiler.compile(SourceFile(path: "main.yaml", text: files["main.yaml"]!))
        #expect(result.diagnostics.isEmpty, "\(result.diagnostics.map(\.message))")
        return try #require(result.plan)
    }

    @Test func mermaidDrawsEachCallAsASubgraphNestedAsTheCallsAre() throws {
        let text = GraphFormatter.render(try Self.callsPlan(), format: .mermaid)
        #expect(text.contains("    subgraph c_nested[\"nested (uses outer)\"]"))
        #expect(text.contains("        s_nested__prep[\"nested/prep<br/>m\"]"))
        #expect(text.contains("        subgraph c_nested__inner[\"nested/inner (uses review)\"]"))
        #expect(text.contains("            s_nested__inner__draft[\"nested/inner/draft<br/>m\"]"))
        #expect(text.contains("    subgraph c_quick[\"quick (uses review)<br/>when: inputs.doc.size() #lt; 100\"]"))
        // The router's edge into the call carries the branch; a stage reading the call waits for all of it.
        #expect(text.contains("    s_classify -->|\"true\"| s_nested__prep"))
        #expect(text.contains("    s_nested__inner__check --> s_report"))
        #expect(
            text.contains("class s_nested__prep,s_nested__inner__draft,s_nested__inner__check,s_quick__draft,s_quick__check conditional"))
        if let difference = Fixtures.compareGolden(text, at: "Tests/BatonCommandsTests/Fixtures/golden/graph-calls-mermaid.txt") {
            Issue.record(Comment(rawValue: difference))
        }
    }

    @Test func dotDrawsEachCallAsAClusterNestedAsTheCallsAre() throws {
        let text = GraphFormatter.render(try Self.callsPlan(), format: .dot)
        #expect(text.contains("    subgraph \"cluster_nested\" {\n        label=\"nested (uses outer)\"; style=dashed;"))
        #expect(text.contains("        subgraph \"cluster_nested/inner\" {\n            label=\"nested/inner (uses review)\";"))
        #expect(text.contains("            \"nested/inner/draft\" [label=\"nested/inner/draft\nm\", style=dashed];"))
        #expect(text.contains("label=\"quick (uses review)\nwhen: inputs.doc.size() < 100\"; style=dashed;"))
        #expect(text.contains("    \"classify\" -> \"nested/prep\" [label=\"true\"];"))
        if let difference = Fixtures.compareGolden(text, at: "Tests/BatonCommandsTests/Fixtures/golden/graph-calls-dot.txt") {
            Issue.record(Comment(rawValue: difference))
        }
    }

    static let toolPipeline = """
        version: 1
        mcp_servers:
          clock: {command: [uvx, mcp-server-time]}
        outputs: [draft, count, fetch, now, agent]
        stages:
          draft: {model: m, prompt: Say hi.}
          count: {run: [wc, -w], needs: draft}
          fetch: {http: {method: post, url: "http://127.0.0.1:8080/echo"}, needs: count}
          now: {mcp: {server: clock, tool: get_current_time}}
          agent: {model: m, prompt: What time is it?, tools: [clock.get_current_time], max_tool_calls: 3, needs: [fetch, now]}
        """

    @Test func aToolStageIsDrawnWithWhatItRunsAndNoModel() throws {
        let plan = try #require(compileValid(Self.toolPipeline))
        let mermaid = GraphFormatter.render(plan, format: .mermaid)
        #expect(mermaid.contains("    s_count[\"count<br/>run: wc -w\"]"), "\(mermaid)")
        #expect(mermaid.contains("    s_fetch[\"fetch<br/>http: POST 127.0.0.1\"]"), "\(mermaid)")
        #expect(mermaid.contains("    s_now[\"now<br/>mcp: clock.get_current_time\"]"), "\(mermaid)")
        #expect(mermaid.contains("agent<br/>m<br/>tools: clock.get_current_time, ≤3 calls"), "\(mermaid)")
        let dot = GraphFormatter.render(plan, format: .dot)
        #expect(dot.contains("\"count\" [label=\"count\nrun: wc -w\""), "\(dot)")
        #expect(GraphFormatter.toolLine(.run(RunStep(argv: ["echo $HOME"], shell: true))) == "sh: echo $HOME")
        #expect(GraphFormatter.toolLine(.http(HTTPSpec(url: "http://{{inputs.host}}/x"))) == "http: GET http://{{inputs.host}}/x")
    }

    @Test func everyFormatIsCovered() {
        // A new format must draw routes and conditions too: add it to the tests above.
        #expect(GraphFormatter.Format.allCases == [.mermaid, .dot])
    }
}
