import BatonEngine
import BatonSpec
import BatonTestSupport
import Foundation
import Testing

/// Issue 12's spec leftovers (contract s10): the executables a profile allows, the keys a tool stage may hold, tool
/// definitions and their `parameters`, and the tool fields templates and conditions read. Each diagnostic is asserted
/// at its line and column.
@Suite struct ToolRulesTests {
    /// The fixture profile (`tools: {allow: [wc, ls, /bin/sh]}`) with its allow-list replaced.
    static func profile(allowing allow: [String]?) -> ResolvedProfile {
        var profile = InvalidFixtureTests.testProfile()
        profile.spec.tools = allow.map(ToolPolicy.init(allow:))
        return profile
    }

    // MARK: - tool-not-allowed

    @Test func anExecutableTheProfileDoesNotListIsRefusedAtTheRunValue() {
        assertDiagnostics(
            """
            version: 1
            stages:
              count: {run: [wc, -w]}
              list: {run: 1️⃣[cat, /etc/hosts]}
              script:
                run: 2️⃣echo hi
                3️⃣shell: true
            """,
            profile: Self.profile(allowing: ["wc"]),
            [
                DiagnosticSpec(
                    "1️⃣", code: "tool-not-allowed",
                    message: "stage 'list' runs 'cat'; profile 'test' does not allow it: add cat to tools.allow in profile test "
                        + "('tools: {allow: [cat]}')"),
                DiagnosticSpec(
                    "2️⃣", code: "tool-not-allowed",
                    message: "stage 'script' runs its script with '/bin/sh' ('shell: true'); profile 'test' does not allow it: add "
                        + "/bin/sh to tools.allow in profile test ('tools: {allow: [/bin/sh]}')"),
                DiagnosticSpec("3️⃣", code: "shell-tool", severity: .warning),
            ])
    }

    @Test func aProfileWithoutToolsAllowsNothingAndSaysHowToAllow() {
        // The built-in default profile has no `tools:` either.
        assertDiagnostics(
            "version: 1\nstages:\n  count: {run: 1️⃣[wc, -w]}\n", profile: Self.profile(allowing: nil),
            [
                DiagnosticSpec(
                    "1️⃣", code: "tool-not-allowed",
                    message: "stage 'count' runs 'wc'; profile 'test' has no 'tools:', so it allows no executable (nor does the "
                        + "built-in default profile): add 'tools: {allow: [wc]}' to profile test, or run with a profile that has "
                        + "it (--profile)")
            ])
    }

    @Test func theBuiltInDefaultProfileAllowsNothing() throws {
        let document = BuiltInProfiles.defaultDocument(environment: [:])
        let profile = try #require(ProfileResolver.resolve(document) { _ in nil }.profile)
        #expect(profile.spec.tools == nil)
        assertDiagnostics(
            "version: 1\nstages:\n  count: {run: 1️⃣[wc, -w]}\n", profile: profile,
            [
                DiagnosticSpec(
                    "1️⃣", code: "tool-not-allowed",
                    message: "stage 'count' runs 'wc'; profile 'default' has no 'tools:', so it allows no executable (nor does the "
                        + "built-in default profile): add 'tools: {allow: [wc]}' to profile default, or run with a profile that "
                        + "has it (--profile)")
            ])
    }

    @Test func anEmptyAllowListAllowsNothing() {
        assertDiagnostics(
            "version: 1\nstages:\n  count: {run: 1️⃣[wc, -w]}\n", profile: Self.profile(allowing: []),
            [DiagnosticSpec("1️⃣", code: "tool-not-allowed")])
    }

    @Test func aProfileThatAllowsTheExecutableCompilesAndThePlanCarriesItsPolicy() throws {
        let plan = try #require(
            compileValid(
                """
                version: 1
                inputs:
                  tool: {}
                stages:
                  count: {run: [wc, -w], stdin: some words}
                  direct: {run: [/usr/bin/env], needs: [count]}
                  templated: {run: ["{{inputs.tool}}"], needs: [direct]}
                """,
                profile: Self.profile(allowing: ["wc", "/usr/bin/env"])))
        #expect(plan.toolPolicy == ToolPolicy(allow: ["wc", "/usr/bin/env"]))
        // A templated argv[0] is known only at run time: no error now.
        #expect(plan.stage(named: "templated") != nil)
    }

    @Test func namesAndPathsCompareAsWritten() {
        let policy = ToolPolicy(allow: ["wc", "/usr/bin/env"])
        #expect(policy.allows("wc"))
        #expect(!policy.allows("/usr/bin/wc"))
        #expect(policy.allows("/usr/bin/env"))
        #expect(!policy.allows("env"))
        #expect(RunStep(argv: ["echo hi"], shell: true).executable == "/bin/sh")
        #expect(RunStep(argv: ["{{inputs.tool}}", "-x"]).executable == nil)
        #expect(RunStep(argv: ["wc", "-w"]).executable == "wc")
    }

    @Test func withoutAProfileTheRunDecides() throws {
        let plan = try #require(compileValid("version: 1\nstages:\n  count: {run: [wc, -w]}\n"))
        #expect(plan.toolPolicy == nil)
    }

    // MARK: - Keys a tool stage cannot hold, and keys only tool stages hold

    @Test func modelCriticAndSamplingKeysAreRefusedOnAToolStage() {
        assertDiagnostics(
            """
            version: 1
            stages:
              count:
                run: [wc, -w]
                1️⃣role: planner
                2️⃣model: m
                3️⃣temperature: 0.2
                4️⃣system: be brief
                5️⃣repeat: 3
                6️⃣vote: answer
                7️⃣tools: [fetch]
                8️⃣max_tool_calls: 2
                9️⃣tool_mode: json
                timeout: 5s
              fetch:
                http: {url: "http://127.0.0.1:9/x"}
                🔟reviews: count
                description: a GET
            """,
            [
                DiagnosticSpec(
                    "1️⃣", code: "tool-stage-key",
                    message: "stage 'count' is a 'run' stage, so it cannot set 'role': it runs no model; remove 'role'"),
                DiagnosticSpec("2️⃣", code: "tool-stage-key"),
                DiagnosticSpec("3️⃣", code: "tool-stage-key"),
                DiagnosticSpec("4️⃣", code: "tool-stage-key"),
                DiagnosticSpec(
                    "5️⃣", code: "tool-stage-key",
                    message: "stage 'count' is a 'run' stage, so it cannot set 'repeat': it has no samples to draw (use 'for_each' "
                        + "to run it once per item); remove 'repeat'"),
                DiagnosticSpec("6️⃣", code: "tool-stage-key"),
                DiagnosticSpec("7️⃣", code: "tool-stage-key"),
                DiagnosticSpec("8️⃣", code: "tool-stage-key"),
                DiagnosticSpec("9️⃣", code: "tool-stage-key"),
                DiagnosticSpec(
                    "🔟", code: "tool-stage-key",
                    message: "stage 'fetch' is an 'http' stage, so it cannot set 'reviews': a critic is a model stage that judges "
                        + "another stage's output; remove 'reviews'"),
            ])
    }

    @Test func aToolStageKeepsForEachTimeoutRetryWhenRouteAndOutput() throws {
        let plan = try #require(
            compileValid(
                """
                version: 1
                inputs:
                  go: {default: "yes"}
                stages:
                  count:
                    description: counts each word list
                    run: [wc, -w]
                    stdin: "{{item}}"
                    for_each: "['a b', 'c']"
                    max_items: 2
                    timeout: 5s
                    retry: {max_attempts: 2}
                    when: inputs.go == 'yes'
                  read:
                    http: {url: "http://127.0.0.1:9/x"}
                    output: {format: json, schema: {type: object, properties: {kind: {type: string, enum: [a, b]}}, required: [kind]}}
                    route: {on: kind, cases: {a: [left], b: [right]}}
                  left: {model: m, prompt: "{{stages.count.output}}"}
                  right: {model: m, prompt: "{{stages.read.output}}"}
                """))
        let count = try #require(plan.stage(named: "count"))
        #expect(count.fanOut?.maxItems == 2)
        #expect(count.settings.timeout == 5)
        #expect(count.settings.retry?.maxAttempts == 2)
        #expect(count.description == "counts each word list")
        #expect(plan.stage(named: "read")?.route != nil)
        #expect(plan.stage(named: "left")?.description == nil)
    }

    @Test func toolKeysAreRefusedWhereTheyMeanNothing() {
        assertDiagnostics(
            """
            version: 1
            stages:
              ask:
                model: m
                prompt: hi
                1️⃣effects: none
                2️⃣approve: true
                3️⃣stdin: text
                4️⃣max_tool_calls: 2
                5️⃣parameters: {type: object}
              plain:
                model: m
                prompt: "{{stages.ask.output}}"
                6️⃣approve: [count]
              fetch:
                http: {url: "http://127.0.0.1:9/x"}
                7️⃣cwd: /tmp
                8️⃣approve: [fetch]
              count:
                run: [wc]
                9️⃣parameters: {type: object}
            """,
            [
                DiagnosticSpec(
                    "1️⃣", code: "tool-only-key",
                    message: "stage 'ask' sets 'effects', which applies only to a tool stage ('run', 'http' or 'mcp'); remove "
                        + "'effects' here"),
                DiagnosticSpec("2️⃣", code: "tool-only-key"),
                DiagnosticSpec("3️⃣", code: "tool-only-key"),
                DiagnosticSpec("4️⃣", code: "tool-only-key"),
                DiagnosticSpec("5️⃣", code: "tool-only-key"),
                DiagnosticSpec("6️⃣", code: "tool-only-key"),
                DiagnosticSpec("7️⃣", code: "tool-only-key"),
                DiagnosticSpec("8️⃣", code: "tool-only-key"),
                DiagnosticSpec("9️⃣", code: "tool-only-key"),
            ])
    }

    @Test func aCriticReviewingAToolStageIsRefusedAtItsReviews() {
        assertDiagnostics(
            """
            version: 1
            stages:
              count: {run: [wc, -w], stdin: some words}
              judge:
                model: m
                reviews: 1️⃣count
                prompt: "Is {{stages.count.output}} a plausible count?"
            """,
            [
                DiagnosticSpec(
                    "1️⃣", code: "critic-reviews-tool",
                    message: "critic 'judge' reviews stage 'count', a 'run' stage; a tool's output is not revised by feedback "
                        + "(running it again gives the same answer): review the stage that reads stages.count.output instead")
            ])
    }

    // MARK: - Tool definitions

    static let definition = """
        version: 1
        stages:
          count:
            description: Counts the words of a text.
            run: [wc, -w]
            stdin: "{{args.text}}"
            parameters:
              type: object
              properties: {text: {type: string}}
              required: [text]
          ask:
            model: m
            prompt: How many words in 'a b c'?
            tools: [count]
            max_tool_calls: 2
        """

    @Test func aToolDefinitionIsPlannedAsOneAndIsNoOutput() throws {
        let plan = try #require(compileValid(Self.definition))
        let count = try #require(plan.stage(named: "count"))
        #expect(count.isToolDefinition)
        #expect(count.description == "Counts the words of a text.")
        #expect(plan.outputs == ["ask"])
        #expect(plan.stage(named: "ask")?.toolUse?.tools == ["count"])
    }

    @Test func readingArgsWithoutParametersIsRefusedAtTheFirstUse() {
        assertDiagnostics(
            """
            version: 1
            stages:
              count:
                run: [wc, -w, "1️⃣{{args.flag}}"]
                stdin: "{{args.text}}"
              ask: {model: m, prompt: hi, tools: [count], max_tool_calls: 1}
            """,
            [
                DiagnosticSpec(
                    "1️⃣", code: "tool-parameters-missing",
                    message: "tool 'count' reads 'args.flag', but has no 'parameters'; a model fills a tool's arguments from its "
                        + "schema: add 'parameters: {type: object, properties: {flag: {type: string}}}'")
            ])
    }

    @Test func parametersMustBeAnObjectSchemaAndArgsMustBeItsProperties() {
        assertDiagnostics(
            """
            version: 1
            stages:
              count:
                run: [wc, -w]
                stdin: "1️⃣{{args.txt}}"
                parameters: {type: object, properties: {text: {type: string}}}
              list:
                run: [ls]
                parameters: 2️⃣{type: array}
              ask: {model: m, prompt: hi, tools: [count, list], max_tool_calls: 1}
            """,
            [
                DiagnosticSpec(
                    "1️⃣", code: "tool-argument-unknown",
                    message: "tool 'count' reads 'args.txt', but its 'parameters' have no property 'txt'; did you mean 'args.text'?"),
                DiagnosticSpec(
                    "2️⃣", code: "tool-parameters-invalid",
                    message: "'parameters' of tool 'list' has 'type: array', not 'type: object'; it is the JSON schema of the "
                        + "tool's arguments: {type: object, properties: {NAME: {type: string}}, required: [NAME]}"),
            ])
    }

    @Test func aToolDefinitionCannotBeReadNeededOrAnOutput() {
        assertDiagnostics(
            """
            version: 1
            outputs: [ask, report, later, gated, 1️⃣count]
            stages:
              count:
                run: [wc, -w]
                stdin: "{{args.text}}"
                parameters: {type: object, properties: {text: {type: string}}}
              ask: {model: m, prompt: hi, tools: [count], max_tool_calls: 1}
              report: {model: m, prompt: "2️⃣{{stages.count.output}}"}
              later: {model: m, prompt: hi, needs: [3️⃣count]}
              gated: {model: m, prompt: hi, when: 4️⃣stages.count.exit_code == 0}
            """,
            [
                DiagnosticSpec("1️⃣", code: "tool-definition-read"),
                DiagnosticSpec(
                    "2️⃣", code: "tool-definition-read",
                    message: "stage 'report' reads stage 'count', a tool that 'ask' calls ('tools:'); a tool runs only when a "
                        + "model calls it, so it has no output of its own to read: read the output of the model stage that "
                        + "calls it, or make a separate 'count' stage to run it once"),
                DiagnosticSpec("3️⃣", code: "tool-definition-read"),
                DiagnosticSpec("4️⃣", code: "tool-definition-read"),
            ])
    }

    @Test func aModelCallingADefinitionWaitsForWhatTheDefinitionReads() throws {
        let plan = try #require(
            compileValid(
                """
                version: 1
                stages:
                  source: {model: m, prompt: a folder name}
                  list:
                    run: [ls, "{{stages.source.output}}", "{{args.flag}}"]
                    parameters: {type: object, properties: {flag: {type: string}}}
                  ask: {model: m, prompt: hi, tools: [list], max_tool_calls: 1}
                """))
        #expect(plan.stage(named: "ask")?.dependencies == ["source"])
        #expect(plan.stage(named: "list")?.isToolDefinition == true)
        // `source` is read (by the definition), so it is no output; the definition is none either.
        #expect(plan.outputs == ["ask"])
    }

    @Test func aToolDefinitionTakesNoKeyThatDecidesWhetherItRuns() {
        assertDiagnostics(
            """
            version: 1
            stages:
              count:
                run: [wc, -w]
                1️⃣when: "true"
                2️⃣for_each: "['a']"
                3️⃣max_items: 1
              ask: {model: m, prompt: hi, tools: [count], max_tool_calls: 1}
            """,
            [
                DiagnosticSpec(
                    "1️⃣", code: "tool-only-key",
                    message: "stage 'count' sets 'when', which applies only to a stage that runs on its own ('count' is a tool a "
                        + "model calls); remove 'when' here"),
                DiagnosticSpec("2️⃣", code: "tool-only-key"),
                DiagnosticSpec("3️⃣", code: "tool-only-key"),
            ])
    }

    @Test func aCalledPipelinesToolsAreNamedAsItsStagesAreInlined() throws {
        let called = """
            version: 1
            name: counter
            stages:
              count:
                run: [wc, -w]
                stdin: "{{args.text}}"
                parameters: {type: object, properties: {text: {type: string}}}
              ask: {model: m, prompt: hi, tools: [count, clock.get_current_time], max_tool_calls: 1}
            mcp_servers:
              clock: {command: [uvx, mcp-server-time]}
            """
        var compiler = PipelineCompiler(profile: nil)
        compiler.resolvePipeline = { _, _ throws(SourceReadError) in SourceFile(path: "counter.yaml", text: called) }
        let result = compiler.compile(
            SourceFile(
                path: "main.yaml",
                text: "version: 1\nstages:\n  sub: {uses: counter}\n  after: {model: m, prompt: \"{{stages.sub.output}}\"}\n"))
        let plan = try #require(result.plan, "\(result.diagnostics)")
        #expect(plan.stage(named: "sub/ask")?.toolUse?.tools == ["sub/count", "clock.get_current_time"])
        #expect(plan.stage(named: "sub/count")?.isToolDefinition == true)
        #expect(plan.mcpServers?.map(\.name) == ["clock"])
    }

    @Test func anApprovedToolMustBeOneOfTheStagesTools() {
        assertDiagnostics(
            """
            version: 1
            stages:
              count:
                run: [wc]
                stdin: "{{args.text}}"
                parameters: {type: object, properties: {text: {type: string}}}
              ask: {model: m, prompt: hi, tools: [count], max_tool_calls: 1, approve: [1️⃣cuont]}
            """,
            [
                DiagnosticSpec(
                    "1️⃣", code: "tool-unknown",
                    message: "'cuont' in 'approve' of stage 'ask' is not one of its 'tools'; did you mean 'count'?")
            ])
    }

    @Test func maxToolCallsIsRequiredWithToolsAndBounded() {
        assertDiagnostics(
            """
            version: 1
            stages:
              count: {run: [wc]}
              ask: {model: m, prompt: hi, 1️⃣tools: [count]}
              again: {model: m, prompt: hi, tools: [count], max_tool_calls: 2️⃣101}
            """,
            [DiagnosticSpec("1️⃣", code: "missing-key"), DiagnosticSpec("2️⃣", code: "out-of-range")])
    }

    // MARK: - Tool fields in templates and conditions

    @Test func exitCodeStderrAndStatusAreReadOnTheirKindsOnly() throws {
        let plan = try #require(
            compileValid(
                """
                version: 1
                stages:
                  count: {run: [wc, -w], stdin: words}
                  fetch: {http: {url: "http://127.0.0.1:9/x"}}
                  report:
                    model: m
                    prompt: "{{stages.count.exit_code}} {{stages.count.stderr}} {{stages.fetch.status}}"
                    when: stages.count.exit_code == 0 && stages.fetch.status < 400 && stages.count.stderr == ''
                """))
        #expect(plan.stage(named: "report")?.dependencies == ["count", "fetch"])
    }

    @Test func aToolFieldOfAnotherKindIsRefusedWhereItIsRead() {
        assertDiagnostics(
            """
            version: 1
            stages:
              count: {run: [wc, -w], stdin: words}
              fetch: {http: {url: "http://127.0.0.1:9/x"}}
              think: {model: m, prompt: hi}
              report:
                model: m
                prompt: "1️⃣{{stages.think.exit_code}} 2️⃣{{stages.count.status}} 3️⃣{{stages.fetch.stderr}}"
                when: stages.think.4️⃣status == 200
            """,
            [
                DiagnosticSpec(
                    "1️⃣", code: "tool-field-unavailable",
                    message: "'stages.think.exit_code' reads 'exit_code', which is a 'run' stage's field, but stage 'think' is a "
                        + "model stage; read stages.think.output"),
                DiagnosticSpec("2️⃣", code: "tool-field-unavailable"),
                DiagnosticSpec("3️⃣", code: "tool-field-unavailable"),
                DiagnosticSpec("4️⃣", code: "tool-field-unavailable"),
            ])
    }
}

/// The valid fixture with every tool key compiles with the fixture profile, its only diagnostic the script's warning.
@Suite struct ToolFixtureTests {
    @Test func theValidFixtureWithEveryToolKeyCompiles() throws {
        let path = "Tests/BatonSpecTests/Fixtures/valid/tools.yaml"
        let text = try String(contentsOfFile: Fixtures.path(path), encoding: .utf8)
        let result = PipelineCompiler(profile: InvalidFixtureTests.testProfile()).compile(SourceFile(path: path, text: text))
        #expect(result.diagnostics.map(\.code.rawValue) == ["shell-tool"], "\(result.diagnostics)")
        let plan = try #require(result.plan)
        #expect(plan.stages.map(\.name).sorted() == ["ask", "count", "fetch", "lines", "now", "script"])
        #expect(plan.stages.filter(\.isToolDefinition).map(\.name) == ["lines"])
        #expect(plan.outputs == ["ask"])
        #expect(plan.mcpServers?.map(\.name) == ["clock"])
        #expect(plan.toolPolicy == ToolPolicy(allow: ["wc", "ls", "/bin/sh"]))
        #expect(plan.stage(named: "ask")?.toolUse == ToolUse(tools: ["lines", "clock.convert_time"], maxToolCalls: 4, mode: .json))
        #expect(plan.stage(named: "ask")?.approve == .tools(["clock.convert_time"]))
    }
}
