import BatonSpec
import BatonTestSupport
import Foundation
import Testing

/// Tool stages in the spec (issue 12, s9/design.md "Stage kinds"): `run`, `http` and `mcp` decoded and planned, with
/// their options, `effects`, `approve`, `parameters` and a model stage's `tools`; pipelines without them plan as before.
@Suite struct ToolSpecTests {
    /// One stage of each kind, every option given.
    static let everyForm = """
        version: 1
        mcp_servers:
          clock:
            command: [uvx, mcp-server-time]
            env: {TZ: UTC}
            allow_tools: [get_current_time]
            startup_timeout: 20s
            call_timeout: 5s
        stages:
          count:
            run: [wc, -w]
            stdin: some words here
            cwd: /tmp
            env: {LC_ALL: C}
            exit_codes: [0, 1]
            max_output: 64KB
            effects: none
          fetch:
            http:
              method: post
              url: http://127.0.0.1:8080/echo
              headers: {Content-Type: text/plain}
              body: hello
              allow_hosts: [example.org]
              max_response: 2MB
              accept_status: [404]
            effects: idempotent
            approve: true
          now:
            mcp: {server: clock, tool: get_current_time, arguments: {timezone: UTC}}
          script:
            run: echo hi
            shell: true
        """

    @Test func eachToolStageIsPlannedWithItsOptionsAndNoModel() throws {
        let result = PipelineCompiler(profile: nil).compile(SourceFile(path: "test.yaml", text: Self.everyForm))
        let plan = try #require(result.plan, "\(result.diagnostics)")
        let count = try #require(plan.stage(named: "count"))
        #expect(count.models.isEmpty)
        #expect(
            count.tool
                == .run(
                    RunStep(
                        argv: ["wc", "-w"], stdin: "some words here", cwd: "/tmp", env: ["LC_ALL": "C"], exitCodes: [0, 1],
                        maxOutput: ByteCount(bytes: 64_000))))
        #expect(count.effects == ToolEffects.none)
        let fetch = try #require(plan.stage(named: "fetch"))
        #expect(fetch.models.isEmpty)
        guard case .http(let http) = fetch.tool else {
            Issue.record("fetch is not an http stage: \(String(describing: fetch.tool))")
            return
        }
        #expect(http.method == "POST")
        #expect(http.url == "http://127.0.0.1:8080/echo")
        #expect(http.headers == ["Content-Type": "text/plain"])
        #expect(http.allowHosts == ["example.org"])
        #expect(http.maxResponse == ByteCount(bytes: 2_000_000))
        #expect(http.acceptStatus == [404])
        #expect(fetch.effects == .idempotent)
        #expect(fetch.approve == .all(true))
        #expect(
            plan.stage(named: "now")?.tool == .mcp(MCPCallSpec(server: "clock", tool: "get_current_time", arguments: ["timezone": "UTC"])))
        #expect(plan.stage(named: "script")?.tool == .run(RunStep(argv: ["echo hi"], shell: true)))
        // The defaults a run stage gets when it gives none.
        guard case .run(let script) = plan.stage(named: "script")?.tool else { return }
        #expect(script.exitCodes == [0] && script.maxOutput == ByteCount(bytes: 1_000_000))
        // The servers are the pipeline's, in file order.
        let spec = try #require(result.spec)
        #expect(
            spec.mcpServers == [
                MCPServerSpec(
                    name: "clock", command: ["uvx", "mcp-server-time"], env: ["TZ": "UTC"], allowTools: ["get_current_time"],
                    startupTimeout: 20, callTimeout: 5)
            ])
    }

    @Test func aToolStageSurvivesEncoding() throws {
        let plan = try #require(PipelineCompiler(profile: nil).compile(SourceFile(path: "test.yaml", text: Self.everyForm)).plan)
        let data = try JSONEncoder().encode(plan)
        let decoded = try JSONDecoder().decode(ExecutionPlan.self, from: data)
        #expect(decoded.stages.map(\.tool) == plan.stages.map(\.tool))
        #expect(decoded.stages.map(\.effects) == plan.stages.map(\.effects))
        #expect(decoded.stages.map(\.approve) == plan.stages.map(\.approve))
    }

    @Test func withoutToolsThePlanEncodesNoToolKeys() throws {
        let plan = try #require(
            compileValid(
                """
                version: 1
                stages:
                  a: {model: m, prompt: A}
                  b: {model: m, prompt: "{{stages.a.output}}", output: json}
                  c: {model: m, reviews: b, prompt: "Review {{stages.b.output}}"}
                """))
        #expect(plan.stages.allSatisfy { $0.tool == nil && $0.toolUse == nil && $0.effects == nil && $0.approve == nil })
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let json = String(decoding: try encoder.encode(plan), as: UTF8.self)
        for key in ["tool", "toolUse", "effects", "approve", "parameters"] {
            #expect(!json.contains("\"\(key)\":"), "a plan without tools encodes '\(key)'")
        }
        // A plan pinned before tool stages (no key) still reads, and encodes to the same bytes.
        let decoded = try JSONDecoder().decode(ExecutionPlan.self, from: Data(json.utf8))
        #expect(String(decoding: try encoder.encode(decoded), as: UTF8.self) == json)
    }

    @Test func aModelStageWithToolsPlansItsToolUse() throws {
        let plan = try #require(
            compileValid(
                """
                version: 1
                mcp_servers:
                  clock: {command: [uvx, mcp-server-time]}
                stages:
                  count:
                    run: [wc, -w]
                    stdin: "{{args.text}}"
                    description: Counts the words of a text.
                    parameters: {type: object, required: [text], properties: {text: {type: string}}}
                  agent:
                    model: m
                    prompt: How many words?
                    tools: [count, clock.get_current_time]
                    max_tool_calls: 4
                    tool_mode: native
                    approve: [count]
                """))
        let agent = try #require(plan.stage(named: "agent"))
        #expect(agent.toolUse == ToolUse(tools: ["count", "clock.get_current_time"], maxToolCalls: 4, mode: .native))
        #expect(agent.approve == .tools(["count"]))
        #expect(plan.stage(named: "count")?.parameters?["type"] == .string("object"))
    }

    @Test(arguments: [
        ("rn", "run"), ("stdn", "stdin"), ("exit_code", "exit_codes"), ("max_outpt", "max_output"), ("htp", "http"), ("mpc", "mcp"),
        ("effect", "effects"), ("aprove", "approve"), ("parameter", "parameters"), ("tool", "tools"), ("max_tool_call", "max_tool_calls"),
        ("toolmode", "tool_mode"),
    ])
    func aMisspeltToolKeyGetsADidYouMean(written: String, meant: String) {
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

    @Test func aMisspeltHTTPOrMCPKeyGetsADidYouMean() {
        assertDiagnostics(
            """
            version: 1
            mcp_servers:
              clock: {command: [x], 1️⃣allow_tool: [a]}
            stages:
              a: {http: {url: "http://127.0.0.1/", 2️⃣allowed_hosts: [x]}}
              b: {mcp: {server: clock, tool: t, 3️⃣argument: {}}}
            """,
            [
                DiagnosticSpec(
                    "1️⃣", code: "unknown-key", message: "unknown key 'allow_tool' in MCP server 'clock'; did you mean 'allow_tools'?"),
                DiagnosticSpec(
                    "2️⃣", code: "unknown-key",
                    message: "unknown key 'allowed_hosts' in 'http' in stage 'a'; did you mean 'allow_hosts'?"),
                DiagnosticSpec(
                    "3️⃣", code: "unknown-key", message: "unknown key 'argument' in 'mcp' in stage 'b'; did you mean 'arguments'?"),
            ])
    }

    @Test func twoKindsInOneStageIsStageKindsAtTheSecond() {
        assertDiagnostics(
            """
            version: 1
            stages:
              a: {model: m, prompt: A, 1️⃣run: [ls]}
              b: {run: [ls], 2️⃣http: {url: "http://127.0.0.1/"}}
            """,
            [
                DiagnosticSpec(
                    "1️⃣", code: "stage-kinds",
                    message: "stage 'a' has both 'prompt' and 'run'; a stage is one kind: a model stage ('prompt' or 'prompt_file'), "
                        + "a command ('run'), an HTTP request ('http'), an MCP call ('mcp') or an index query ('retrieve'): split it "
                        + "into two stages"),
                DiagnosticSpec("2️⃣", code: "stage-kinds"),
            ])
    }

    @Test func aRunStringWithoutShellIsRunNotListAndWithShellAWarning() {
        assertDiagnostics(
            """
            version: 1
            stages:
              a: {run: 1️⃣wc -w}
              b: {run: wc -w, 2️⃣shell: true}
            """,
            [
                DiagnosticSpec(
                    "1️⃣", code: "run-not-list",
                    message: "'run' in stage 'a' is one string; write the command as a list of arguments, e.g. run: ['wc', '-w'], "
                        + "so no shell splits or expands it (or add 'shell: true' to run it with /bin/sh -c)"),
                DiagnosticSpec("2️⃣", code: "shell-tool", severity: .warning),
            ])
    }

    @Test func aStageWithNoKindNamesTheFourKinds() {
        assertDiagnostics(
            """
            version: 1
            stages:
              1️⃣a: {model: m}
            """,
            [DiagnosticSpec("1️⃣", code: "missing-key")])
    }

    @Test func toolsWithoutMaxToolCallsIsMissingKey() {
        assertDiagnostics(
            """
            version: 1
            stages:
              t: {run: [ls]}
              a: {model: m, prompt: A, 1️⃣tools: [t]}
            """,
            [DiagnosticSpec("1️⃣", code: "missing-key")])
    }

    @Test func theStageKeysListTheToolKeys() {
        for key in [
            "run", "shell", "stdin", "cwd", "env", "exit_codes", "max_output", "http", "mcp", "effects", "approve", "parameters", "tools",
            "max_tool_calls", "tool_mode",
        ] {
            #expect(AllowedKeys.stage.contains(key), "'\(key)' is not a stage key")
        }
        #expect(AllowedKeys.pipeline.contains("mcp_servers"))
        #expect(AllowedKeys.profile.contains("tools") && AllowedKeys.profile.contains("mcp_servers"))
    }

    @Test func theSchemasHaveTheToolKeys() throws {
        let data = try #require(FileManager.default.contents(atPath: Fixtures.path("schemas/pipeline.schema.json")))
        let schema = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        let definitions = try #require(schema["$defs"] as? [String: Any])
        let stage = try #require((definitions["stage"] as? [String: Any])?["properties"] as? [String: Any])
        for key in AllowedKeys.stage { #expect(stage[key] != nil, "the schema's stage has no '\(key)'") }
        let http = try #require((stage["http"] as? [String: Any])?["properties"] as? [String: Any])
        #expect(Set(http.keys) == Set(AllowedKeys.http))
        let mcp = try #require((stage["mcp"] as? [String: Any])?["properties"] as? [String: Any])
        #expect(Set(mcp.keys) == Set(AllowedKeys.mcp))
        let server = try #require((definitions["mcp_server"] as? [String: Any])?["properties"] as? [String: Any])
        #expect(Set(server.keys) == Set(AllowedKeys.mcpServer))
    }
}

/// A tool stage's templates are checked like prompts: what they read becomes a dependency, and the typed fields of a
/// tool stage (`exit_code`, `stderr` of a run; `status`, `headers` of an http) are known to later templates.
@Suite struct ToolTemplateTests {
    @Test func aToolStagesTemplatesMakeDependencies() throws {
        let plan = try #require(
            compileValid(
                """
                version: 1
                inputs:
                  path: {}
                outputs: [report]
                stages:
                  draft: {model: m, prompt: Say hi.}
                  count: {run: [wc, -w, "{{inputs.path}}"], stdin: "{{stages.draft.output}}"}
                  post:
                    http: {method: post, url: "http://127.0.0.1:9/x", headers: {X-Count: "{{stages.count.output}}"}}
                  report:
                    model: m
                    prompt: "{{stages.count.exit_code}} {{stages.count.stderr}} {{stages.post.status}} {{stages.post.output}}"
                """))
        #expect(plan.stage(named: "count")?.dependencies == ["draft"])
        #expect(plan.stage(named: "post")?.dependencies == ["count"])
        #expect(plan.stage(named: "report")?.dependencies == ["count", "post"])
    }

    @Test func aMisspeltToolFieldIsLocatedWithItsSuggestion() {
        assertDiagnostics(
            """
            version: 1
            stages:
              count: {run: [ls]}
              report: {model: m, prompt: "1️⃣{{stages.count.exit_cod}}"}
              bad: {run: [echo, "2️⃣{{stages.nope.output}}"]}
            """,
            [
                DiagnosticSpec("1️⃣", code: "unknown-variable"),
                DiagnosticSpec("2️⃣", code: "unknown-stage"),
            ])
    }

    @Test func argsOutsideAToolDefinitionIsRefused() {
        assertDiagnostics(
            """
            version: 1
            stages:
              count: {run: [wc, -w], stdin: "1️⃣{{args.text}}"}
            """,
            [DiagnosticSpec("1️⃣", code: "args-outside-tool")])
    }
}

/// ``ToolCheck``: hosts, servers, server tools and `tools:` entries.
@Suite struct ToolCheckTests {
    @Test func loopbackAllowedHostsAndTemplatedHostsPass() throws {
        let plan = try #require(
            compileValid(
                """
                version: 1
                inputs:
                  host: {}
                stages:
                  a: {http: {url: "http://localhost:8080/x"}}
                  b: {http: {url: "http://127.0.0.9/x"}}
                  c: {http: {url: "http://[::1]:9/x"}}
                  d: {http: {url: "https://api.example.org/v1", allow_hosts: [api.example.org]}}
                  e: {http: {url: "https://{{inputs.host}}/v1"}}
                """))
        #expect(plan.stages.count == 5)
    }

    @Test func aServerMayComeFromTheProfile() throws {
        var profile = InvalidFixtureTests.testProfile()
        profile.spec.mcpServers = [MCPServerSpec(name: "clock", command: ["uvx", "mcp-server-time"], allowTools: ["get_current_time"])]
        assertDiagnostics(
            """
            version: 1
            stages:
              now: {mcp: {server: clock, tool: get_current_time}}
              later: {mcp: {server: clock, tool: 1️⃣convert_time}}
              agent: {model: m, prompt: Time?, tools: [2️⃣clock.convert, now], max_tool_calls: 1}
            """,
            profile: profile,
            [DiagnosticSpec("1️⃣", code: "mcp-tool-not-allowed"), DiagnosticSpec("2️⃣", code: "mcp-tool-not-allowed")])
    }

    @Test func aLiteralHostIsReadFromTheURL() {
        #expect(ToolCheckProbe.host("https://user@example.org:8443/x?y") == "example.org")
        #expect(ToolCheckProbe.host("http://[::1]:80/") == "::1")
        #expect(ToolCheckProbe.host("http://{{inputs.h}}/x") == nil)
    }
}
