import BatonSpec
import BatonTestSupport
import Testing

/// FanOutCheck and the names fan-out adds to templates and conditions: positions inside a `for_each` expression,
/// the item's type in templates, the scope of conditions, and when `concurrency` above 1 is allowed.
@Suite struct FanOutCheckTests {
    // MARK: - Positions inside the list's expression

    @Test func anErrorInALiteralBlockListLandsOnItsLineAndColumn() {
        assertDiagnostics(
            """
            version: 1
            stages:
              list:
                model: m
                prompt: L
                output: {format: json, schema: {type: object, required: [parts], properties: {parts: {type: array}}}}
              each:
                model: m
                max_items: 4
                for_each: |
                  has(stages.list.json.parts)
                    && stages.1️⃣lisst.json.parts
                prompt: "{{item}}"
            """,
            [
                DiagnosticSpec(
                    "1️⃣", code: "unknown-field",
                    message: "'stages' has no field 'lisst'; did you mean 'list'? its fields are 'list'")
            ])
    }

    @Test func anErrorInADoubleQuotedListLandsAfterTheQuote() {
        assertDiagnostics(
            """
            version: 1
            inputs: {topics: {}}
            stages:
              each: {model: m, max_items: 4, for_each: "inputs.1️⃣topic", prompt: "{{inputs.topics}}"}
            """,
            [
                DiagnosticSpec(
                    "1️⃣", code: "unknown-field", message: "'inputs' has no field 'topic'; did you mean 'topics'? its fields are 'topics'")
            ])
    }

    @Test func aListThatIsNotAListIsMarkedAtItsStart() {
        assertDiagnostics(
            """
            version: 1
            stages:
              list: {model: m, prompt: L, output: {format: json, schema: {type: array}}}
              each: {model: m, max_items: 4, for_each: 1️⃣size(stages.list.json), prompt: "{{item}}"}
            """,
            [
                DiagnosticSpec(
                    "1️⃣", code: "fan-out-list",
                    message: "'for_each' of stage 'each' is int, not a list: 'size(stages.list.json)'; give an expression that is a list, "
                        + "such as a JSON array field (stages.X.json.items) or an input holding one")
            ])
    }

    @Test func anInputInsideALargerListExpressionIsRefused() {
        assertDiagnostics(
            """
            version: 1
            inputs: {topics: {}}
            stages:
              each: {model: m, max_items: 4, for_each: 1️⃣"inputs.topics[0]", prompt: "{{item}}"}
            """,
            [
                DiagnosticSpec(
                    "1️⃣", code: "fan-out-list",
                    message: "'for_each' of stage 'each' reads input 'topics' inside 'inputs.topics[0]'; an input holds JSON text, "
                        + "which the run parses as a list only when it is the whole expression: write 'for_each: inputs.topics'")
            ])
    }

    @Test func anItemFieldInABlockPromptIsMarkedAtItsTag() {
        assertDiagnostics(
            """
            version: 1
            inputs: {text: {}}
            stages:
              split:
                model: m
                prompt: "Split {{inputs.text}}"
                output:
                  format: json
                  schema: {type: array, items: {type: object, required: [title], properties: {title: {type: string}}}}
              each:
                model: m
                for_each: stages.split.json
                as: section
                max_items: 9
                prompt: |
                  Section {{item_index}}:
                  1️⃣{{section.tile}}
            """,
            [
                DiagnosticSpec(
                    "1️⃣", code: "unknown-field",
                    message: "template uses 'section.tile', but the items of the list have no field 'tile'; did you mean 'section.title'?")
            ])
    }

    @Test func aMisspeltItemNameGetsADidYouMeanKeepingItsFields() {
        assertDiagnostics(
            """
            version: 1
            inputs: {topics: {}}
            stages:
              each: {model: m, max_items: 4, for_each: inputs.topics, as: section, prompt: "1️⃣{{sectoin.title}} 2️⃣{{item_indx}}"}
            """,
            [
                DiagnosticSpec(
                    "1️⃣", code: "unknown-variable", message: "template uses unknown name 'sectoin.title'; did you mean 'section.title'?"),
                DiagnosticSpec(
                    "2️⃣", code: "unknown-variable", message: "template uses unknown name 'item_indx'; did you mean 'item_index'?"),
            ])
    }

    // MARK: - Scope

    @Test func theFanOutStagesOwnConditionCannotSeeItsItem() {
        assertDiagnostics(
            """
            version: 1
            inputs: {topics: {}}
            stages:
              each: {model: m, max_items: 4, for_each: inputs.topics, as: topic, when: "1️⃣topic != ''", prompt: "{{topic}}"}
            """,
            [
                DiagnosticSpec(
                    "1️⃣", code: "unknown-name", message: "unknown name 'topic'; the names here are 'inputs' and 'stages'")
            ])
    }

    @Test func aConditionReadsTheItemsTypedByTheListAndTheVote() throws {
        let plan = try #require(
            compileValid(
                """
                version: 1
                stages:
                  split:
                    model: m
                    prompt: Split
                    output:
                      format: json
                      schema:
                        type: object
                        properties: {parts: {type: array, items: {type: object, required: [n], properties: {n: {type: integer}}}}}
                  each: {model: m, for_each: stages.split.json.parts, max_items: 5, prompt: "{{item.n}}", output: json}
                  label:
                    model: m
                    repeat: 3
                    vote: label
                    prompt: L
                    output: {format: json, schema: {type: object, required: [label], properties: {label: {enum: [a, b]}}}}
                  after:
                    model: m
                    when: >-
                      stages.each.items[0].item.n > 2 && stages.each.items[0].index == 1 && stages.each.items[0].output != ''
                      && stages.label.vote.count >= 2
                    prompt: "{{stages.label.json.label}}"
                """))
        // An optional list (parts is not required) is a list: the run fails the stage if it is absent.
        #expect(plan.stage(named: "each")?.dependencies == ["split"])
        #expect(plan.stage(named: "after")?.dependencies.sorted() == ["each", "label"])
    }

    @Test func aNumberItemHasNoFieldsInAConditionOrATemplate() {
        assertDiagnostics(
            """
            version: 1
            stages:
              split: {model: m, prompt: S, output: {format: json, schema: {type: array, items: {type: integer}}}}
              each: {model: m, for_each: stages.split.json, max_items: 5, prompt: "1️⃣{{item.n}}"}
              after: {model: m, when: "stages.each.items[0].item.2️⃣n == 1", prompt: "{{stages.each.output}}"}
            """,
            [
                DiagnosticSpec(
                    "1️⃣", code: "unknown-field",
                    message: "template uses 'item.n', but the items of the list have no field 'n'; the items are int and have no such field"
                ),
                DiagnosticSpec("2️⃣", code: "expression-type"),
            ])
    }

    @Test func aConditionCannotReadTheSingleJSONOfAFanOutStage() {
        assertDiagnostics(
            """
            version: 1
            inputs: {topics: {}, go: {required: false}}
            stages:
              each: {model: m, for_each: inputs.topics, max_items: 5, prompt: "{{item}}", output: json}
              label:
                model: m
                when: has(inputs.go)
                repeat: 3
                concurrency: 1
                vote: k
                prompt: L
                output: {format: json, schema: {type: object, required: [k], properties: {k: {enum: [a, b]}}}}
              after:
                model: m
                when: "stages.each.1️⃣json != null || stages.label.vote.value == 'a' || stages.label.json.k == 'b'"
                prompt: "{{stages.each.output}}{{stages.label.output}}"
            """,
            [
                DiagnosticSpec(
                    "1️⃣", code: "unknown-field",
                    message: "'stages.each' has no field 'json'; its fields are 'items', 'output' and 'skipped'")
                // A repeat stage with a vote has one JSON answer: the first sample holding the winning value.
            ])
    }

    // MARK: - Concurrency

    static func profile(_ runtimes: String) -> ResolvedProfile {
        let text = """
            version: 1
            name: p
            memory_budget: 8GB
            runtimes:
            \(runtimes)
            models:
              local-model: {runtime: local, footprint: 1GB}
              cloud-model: {runtime: cloud, footprint: 0B}
            """
        let document = ProfileDecoder.decode(SourceFile(path: "p.yaml", text: text), environment: [:])
        let (profile, diagnostics) = ProfileResolver.resolve(document) { _ in nil }
        precondition(diagnostics.isEmpty, "\(diagnostics)")
        return profile!
    }

    static let runtimes = """
          local: {kind: llama-server, url: "http://127.0.0.1:8080", parallel: 4}
          cloud: {kind: anthropic, url: "https://api.anthropic.com", api_key_env: KEY}
        """

    @Test func concurrencyUpToTheDeclaredSlotsOrOnARemoteRuntimeIsAllowed() throws {
        let plan = try #require(
            compileValid(
                """
                version: 1
                inputs: {topics: {}}
                stages:
                  a: {model: local-model, for_each: inputs.topics, max_items: 9, concurrency: 4, prompt: "{{item}}"}
                  b: {model: cloud-model, repeat: 9, concurrency: 9, prompt: "{{stages.a.output}}"}
                """, profile: Self.profile(Self.runtimes)))
        #expect(plan.stage(named: "a")?.fanOut?.concurrency == 4)
        #expect(plan.stage(named: "b")?.fanOut?.concurrency == 9)
    }

    @Test func concurrencyAboveTheDeclaredSlotsNamesTheModelAndTheSlots() {
        assertDiagnostics(
            """
            version: 1
            inputs: {topics: {}}
            stages:
              a: {model: [cloud-model, local-model], for_each: inputs.topics, max_items: 9, concurrency: 1️⃣5, prompt: "{{item}}"}
            """, profile: Self.profile(Self.runtimes),
            [
                DiagnosticSpec(
                    "1️⃣", code: "fan-out-concurrency",
                    message: "stage 'a' sets 'concurrency: 5', but its model 'local-model' is on runtime 'local' (llama-server), "
                        + "which declares 'parallel: 4', fewer than 5, so running items at once could break the memory budget; "
                        + "set 'parallel: 5' on runtime 'local' if its server answers that many requests at once "
                        + "(llama-server --parallel, OLLAMA_NUM_PARALLEL), or lower 'concurrency'")
            ])
    }

    @Test func concurrencyWithoutAProfileIsRefusedSinceNoRuntimeIsKnown() {
        assertDiagnostics(
            """
            version: 1
            stages:
              a: {model: m, repeat: 3, concurrency: 1️⃣2, prompt: A}
            """,
            [
                DiagnosticSpec(
                    "1️⃣", code: "fan-out-concurrency",
                    message: "stage 'a' sets 'concurrency: 2', but its model 'm' has no runtime (no profile places it), "
                        + "so running items at once could break the memory budget; validate with a profile that puts it on a "
                        + "remote runtime or one with 'parallel: 2', or remove 'concurrency'")
            ])
    }

    @Test func concurrencyOneNeedsNoSlots() throws {
        let plan = try #require(
            compileValid(
                """
                version: 1
                stages:
                  a: {model: m, repeat: 3, concurrency: 1, prompt: A}
                """))
        #expect(plan.stage(named: "a")?.fanOut?.concurrency == 1)
    }

    @Test func aParallelOutOfRangeIsRefusedInTheProfile() {
        let text = """
            version: 1
            runtimes:
              local: {kind: llama-server, url: "http://127.0.0.1:8080", parallel: 0}
            """
        let document = ProfileDecoder.decode(SourceFile(path: "p.yaml", text: text), environment: [:])
        #expect(document.diagnostics.map(\.code.rawValue) == ["out-of-range"])
        #expect(document.diagnostics.first?.location?.line == 3)
    }
}
