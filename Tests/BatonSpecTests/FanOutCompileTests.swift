import BatonSpec
import BatonTestSupport
import Foundation
import Testing

/// `for_each`, `as`, `max_items`, `concurrency`, `repeat` and `vote` compiled (s7/fanout.md): the plan's ``FanOut``,
/// the dependencies a list adds, what downstream templates and conditions may read, and the did-you-mean of each key.
@Suite struct FanOutCompileTests {
    /// The contract's example (s7/fanout.md), with a condition downstream reading the items and the vote.
    static let contract = """
        version: 1
        inputs:
          topics: {}
        stages:
          sections:
            model: m
            prompt: Split the text.
            output: {format: json, schema: {type: object, required: [parts],
                     properties: {parts: {type: array, items: {type: object, required: [title, text],
                       properties: {title: {type: string}, text: {type: string}}}}}}}
          review:
            for_each: stages.sections.json.parts
            as: part
            max_items: 20
            concurrency: 1
            model: m
            prompt: "Review '{{part.title}}' ({{item_index}} of the parts): {{part.text}}"
          check:
            model: m
            reviews: review
            prompt: "Is the review of {{part.title}} ({{item_index}}) fair? {{stages.review.output}}"
          label:
            repeat: 5
            vote: label
            model: m
            prompt: Label it.
            output: {format: json, schema: {type: object, required: [label], properties: {label: {enum: [spam, ham]}}}}
          per_topic:
            for_each: inputs.topics
            max_items: 100
            model: m
            prompt: "Write about {{item}} ({{item_index}})"
          summary:
            model: m
            when: size(stages.review.items) > 0 && stages.label.vote.count >= 3 && stages.review.items[0].item.title != ''
            prompt: |
              {{#stages.review.items}}- {{item.title}}: {{output}}
              {{/stages.review.items}} Label: {{stages.label.vote.value}} {{stages.label.json.label}}
              {{#stages.per_topic.items}}{{output}}{{/stages.per_topic.items}}
        """

    @Test func aForEachStageCompilesToAFanOutOverItsList() throws {
        let plan = try #require(compileValid(Self.contract))
        let review = try #require(plan.stage(named: "review"))
        let fanOut = try #require(review.fanOut)
        #expect(fanOut.source?.text == "stages.sections.json.parts")
        #expect(fanOut.itemName == "part")
        #expect(fanOut.maxItems == 20)
        #expect(fanOut.concurrency == 1)
        #expect(fanOut.repeatCount == nil)
        #expect(fanOut.vote == nil)
        // The list's stage is a dependency, as a template reference would make it.
        #expect(review.dependencies == ["sections"])
        #expect(review.reviewedBy == "check")
        // The default item name, and an input as the list.
        let perTopic = try #require(plan.stage(named: "per_topic")?.fanOut)
        #expect(perTopic.itemName == "item")
        #expect(perTopic.source?.text == "inputs.topics")
        #expect(perTopic.maxItems == 100)
        #expect(plan.stage(named: "per_topic")?.dependencies == [])
    }

    @Test func aRepeatStageIsAFanOutOverItsSamplesWithItsVote() throws {
        let plan = try #require(compileValid(Self.contract))
        let fanOut = try #require(plan.stage(named: "label")?.fanOut)
        #expect(fanOut.source == nil)
        #expect(fanOut.repeatCount == 5)
        #expect(fanOut.maxItems == 5)
        #expect(fanOut.vote == "label")
        #expect(fanOut.votePath == ["label"])
        #expect(fanOut.itemName == "item")
        #expect(plan.stage(named: "sections")?.fanOut == nil)
        #expect(plan.stage(named: "check")?.fanOut == nil, "a critic of a fan-out stage runs per item but has no fan-out of its own")
    }

    @Test func downstreamItemsAndVoteAreDependencies() throws {
        let plan = try #require(compileValid(Self.contract))
        #expect(plan.stage(named: "summary")?.dependencies == ["review", "check", "label", "per_topic"])
        let order = plan.stages.map(\.name)
        #expect(order == ["sections", "review", "check", "label", "per_topic", "summary"])
    }

    @Test func aListThatReadsALaterStageRunsAfterIt() throws {
        let plan = try #require(
            compileValid(
                """
                version: 1
                stages:
                  each: {model: m, for_each: stages.list.json, max_items: 3, prompt: "{{item}}"}
                  list: {model: m, prompt: L, output: {format: json, schema: {type: array, items: {type: string}}}}
                """))
        #expect(plan.stages.map(\.name) == ["list", "each"])
        #expect(plan.stage(named: "each")?.dependencies == ["list"])
    }

    @Test func aFanOutSurvivesEncoding() throws {
        let plan = try #require(compileValid(Self.contract))
        let data = try JSONEncoder().encode(plan)
        let decoded = try JSONDecoder().decode(ExecutionPlan.self, from: data)
        #expect(decoded.stage(named: "review")?.fanOut == plan.stage(named: "review")?.fanOut)
        #expect(decoded.stage(named: "label")?.fanOut == plan.stage(named: "label")?.fanOut)
        // A stage without fan-out encodes no key for it, so fingerprints of existing stages do not change.
        let json = String(decoding: try JSONEncoder().encode(plan.stage(named: "sections")), as: UTF8.self)
        #expect(!json.contains("fanOut"))
    }

    @Test func theValidFixtureCompilesWithEveryFormOfFanOutAndVoting() throws {
        // Given the fixture that also seeds the fuzz corpus, with the invalid corpus's profile
        let path = "Tests/BatonSpecTests/Fixtures/valid/fan-out-and-voting.yaml"
        let text = try String(contentsOfFile: Fixtures.path(path), encoding: .utf8)

        // When
        let result = PipelineCompiler(profile: InvalidFixtureTests.testProfile()).compile(SourceFile(path: path, text: text))

        // Then
        #expect(result.diagnostics.isEmpty, "\(result.diagnostics)")
        let plan = try #require(result.plan)
        #expect(plan.stages.map(\.name) == ["sections", "review", "check", "per_topic", "label", "samples", "summary"])
        // A remote model may run items at once.
        #expect(plan.stage(named: "per_topic")?.fanOut?.concurrency == 8)
        #expect(plan.stage(named: "per_topic")?.dependencies == ["review", "check"])
        #expect(plan.stage(named: "label")?.fanOut?.votePath == ["verdict", "label"])
        #expect(plan.stage(named: "samples")?.fanOut?.itemName == "sample")
        #expect(plan.stage(named: "summary")?.dependencies == ["review", "check", "per_topic", "label", "samples"])
        #expect(plan.outputs == ["summary"])
    }

    // MARK: - Did-you-mean

    @Test(arguments: [
        ("for_ech", "for_each"), ("forEach", "for_each"), ("ass", "as"), ("max_item", "max_items"), ("concurency", "concurrency"),
        ("repeats", "repeat"), ("vot", "vote"),
    ])
    func aMisspeltFanOutKeyGetsADidYouMean(written: String, meant: String) {
        assertDiagnostics(
            """
            version: 1
            stages:
              a: {model: m, prompt: A, 1️⃣\(written): 2}
            """,
            [
                DiagnosticSpec(
                    "1️⃣", code: "unknown-key", message: "unknown key '\(written)' in stage 'a'; did you mean '\(meant)'?")
            ])
    }

    @Test func aMisspeltParallelGetsADidYouMean() throws {
        let text = """
            version: 1
            runtimes:
              local: {kind: llama-server, url: "http://127.0.0.1:8080", paralel: 2}
            """
        let document = ProfileDecoder.decode(SourceFile(path: "p.yaml", text: text), environment: [:])
        let messages = document.diagnostics.map(\.message)
        #expect(messages == ["unknown key 'paralel' in runtime 'local'; did you mean 'parallel'?"])
    }

    // MARK: - Keys

    @Test func theStageKeysListTheFanOutKeys() {
        for key in ["for_each", "as", "max_items", "concurrency", "repeat", "vote"] {
            #expect(AllowedKeys.stage.contains(key))
        }
        #expect(AllowedKeys.runtime.contains("parallel"))
    }

    /// schemas/pipeline.schema.json's stage and schemas/profile.schema.json's runtime have the new keys
    /// (ShippedFilesTests compares every object through scripts/check-schemas.py).
    @Test func theSchemasHaveTheFanOutKeys() throws {
        let data = try #require(FileManager.default.contents(atPath: Fixtures.path("schemas/pipeline.schema.json")))
        let schema = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        let definitions = try #require(schema["$defs"] as? [String: Any])
        let stage = try #require((definitions["stage"] as? [String: Any])?["properties"] as? [String: Any])
        for key in ["for_each", "as", "max_items", "concurrency", "repeat", "vote"] {
            #expect(stage[key] != nil, "the schema's stage has no '\(key)'")
        }
        let maxItems = try #require(stage["max_items"] as? [String: Any])
        #expect(maxItems["minimum"] as? Int == 1 && maxItems["maximum"] as? Int == 10_000)
        let profileData = try #require(FileManager.default.contents(atPath: Fixtures.path("schemas/profile.schema.json")))
        #expect(String(decoding: profileData, as: UTF8.self).contains("\"parallel\""))
    }
}
