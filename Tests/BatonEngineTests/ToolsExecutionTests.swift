import BatonSpec
import BatonTestSupport
import Foundation
import GRDB
import HTTPTypes
import Hummingbird
import Testing

@testable import BatonEngine

/// Tool stages in the executor (issue 12, "Side effects and resume"; docs/tools.md), on a real SQLite store: the
/// call's output feeds later stages, exit codes, timeouts, the environment, the allow-list, http with its
/// Idempotency-Key, mcp on the real mcp-server-time, and what resume does with a call by its effects.
@Suite struct ToolsExecutionTests {
    /// The canary of CanaryKeyTests (`ANTHROPIC_CANARY_KEY`): set in this process, it must reach no tool.
    static let canary = "sk-ant-canary-from-the-environment-77d2"

    /// A scratch folder with its own run database.
    final class Folder: @unchecked Sendable {
        let path = NSTemporaryDirectory() + "baton-tools-\(UUID().uuidString.prefix(8))"
        init() throws { try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true) }
        deinit { try? FileManager.default.removeItem(atPath: path) }
        var db: String { path + "/runs.sqlite" }
        func store() throws -> RunStore { try RunStore(path: db) }
        func lines(_ name: String) -> [String] {
            ((try? String(contentsOfFile: path + "/" + name, encoding: .utf8)) ?? "").split(separator: "\n").map(String.init)
        }
    }

    /// `stages` compiled with a profile whose `tools.allow` is `allow` (nil: no profile at all).
    static func plan(
        _ stages: String, inputs: String = "", allow: [String]? = ["wc", "sh", "env", "pwd", "sleep"], top: String = "",
        called: [String: String] = [:]
    ) throws -> ExecutionPlan {
        var profile: ResolvedProfile?
        if let allow {
            let text = """
                version: 1
                name: tooling
                default_runtime: local
                runtimes:
                  local: {kind: echo}
                tools: {allow: [\(allow.joined(separator: ", "))]}
                """
            let file = SourceFile(path: "/tmp/tooling.yaml", text: text)
            let decoded = ProfileDecoder.decode(file, environment: [:])
            profile = ResolvedProfile(spec: try #require(decoded.spec, "\(decoded.diagnostics)"), chain: [file.path])
        }
        let source = "version: 1\nname: tools\n" + inputs + top + "stages:\n" + stages
        let compiler = PipelineCompiler(
            profile: profile,
            resolvePipeline: { name, _ throws(SourceReadError) in
                guard let text = called[name] else { throw .notFound }
                return SourceFile(path: "/tmp/\(name).yaml", text: text)
            })
        let result = compiler.compile(SourceFile(path: "/tmp/tools.yaml", text: source))
        return try #require(result.plan, "\(result.diagnostics.map(\.message))")
    }

    /// Prompts the model stages received, by stage.
    final class Prompts: @unchecked Sendable {
        let list = LockedList<(String, String)>()
        subscript(stage: String) -> String? { list.values.last { $0.0 == stage }?.1 }
    }

    static func executor(
        _ store: RunStore, prompts: Prompts = Prompts(), events: LockedList<RunEvent>? = nil, fail: (@Sendable (String) -> Bool)? = nil
    ) -> Executor {
        let runtime = ScriptedRuntime { request, _ in
            prompts.list.append((request.stage, request.prompt))
            if fail?(request.stage) == true { return .error(RuntimeError(.badResponse, "scripted failure", isTransient: false)) }
            return .text("ok")
        }
        return Executor(store: store, runtimes: runtime, observer: { events?.append($0) }, sleep: { _ in }, random: { 0.5 })
    }

    static func start(_ plan: ExecutionPlan, _ executor: Executor, inputs: [String: String] = [:]) async throws -> RunOutcome {
        let snapshot = RunSnapshot(plan: plan, profile: nil, sources: [:], pipelinePath: nil, forcedRuntime: nil)
        let resolved = try RunInputs.resolve(plan.inputs, given: inputs)
        return try await executor.start(snapshot, inputs: resolved, claim: .current())
    }

    // MARK: - Running

    @Test("a run stage's stdout, exit code and command feed the next stage; the attempt records the command, no model")
    func aRunStageFeedsTheNextStage() async throws {
        let folder = try Folder()
        let store = try folder.store()
        let plan = try Self.plan(
            """
              words:
                run: [wc, -w]
                stdin: "{{inputs.text}}"
                effects: none
              say:
                model: m
                prompt: "words={{stages.words.output}} exit={{stages.words.exit_code}}"
            """, inputs: "inputs:\n  text: {}\n")
        let prompts = Prompts()
        let outcome = try await Self.start(plan, Self.executor(store, prompts: prompts), inputs: ["text": "one two three"])
        #expect(outcome == .completed(runID: outcome.runID))
        let said = try #require(prompts["say"])
        #expect(said.trimmingCharacters(in: .whitespacesAndNewlines).hasPrefix("words=3"), "\(said)")
        #expect(said.hasSuffix("exit=0"), "\(said)")
        let attempt = try #require(try store.attempts(outcome.runID).first { $0.stage == "words" })
        #expect(attempt.status == .completed)
        #expect(attempt.model == nil && attempt.runtime == nil)
        #expect(attempt.prompt == "wc -w")
        let call = try #require(try store.toolCalls(outcome.runID).first)
        #expect(call.status == .done && call.exitCode == 0 && call.effects == "none")
        #expect(call.idempotencyKey.count == 32)
        let kinds = try store.events(outcome.runID).map(\.kind)
        #expect(kinds.contains(.toolCallStarted) && kinds.contains(.toolCallFinished))
    }

    @Test("an exit code outside exit_codes fails the stage with the stderr tail; a listed one is a result")
    func exitCodes() async throws {
        let folder = try Folder()
        let store = try folder.store()
        let script = "echo partial; echo something broke >&2; exit 3"
        let failing = try Self.plan("  job: {run: [sh, -c, '\(script)'], effects: none}\n")
        let failed = try await Self.start(failing, Self.executor(store))
        guard case .failed(_, let reason, _) = failed else {
            Issue.record("expected a failure, got \(failed)")
            return
        }
        #expect(reason.contains("exited with code 3"), "\(reason)")
        #expect(reason.contains("something broke"), "\(reason)")
        #expect(reason.contains("exit_codes"), "\(reason)")
        let call = try #require(try store.toolCalls(failed.runID).first)
        #expect(call.status == .failed && call.exitCode == 3 && call.result == "partial\n")
        #expect(try store.events(failed.runID, kind: .toolStderr).count == 1)

        let accepting = try Self.plan(
            "  job: {run: [sh, -c, '\(script)'], effects: none, exit_codes: [0, 3]}\n"
                + "  after: {model: m, prompt: 'code {{stages.job.exit_code}}: {{stages.job.stderr}}'}\n")
        let prompts = Prompts()
        let passed = try await Self.start(accepting, Self.executor(store, prompts: prompts))
        #expect(passed == .completed(runID: passed.runID))
        #expect(prompts["after"] == "code 3: something broke\n")
    }

    @Test("a command past the stage's timeout is stopped and the stage fails, naming the timeout")
    func timeout() async throws {
        let folder = try Folder()
        let store = try folder.store()
        let plan = try Self.plan("  nap: {run: [sleep, '300'], timeout: 1s, effects: none}\n")
        let outcome = try await Self.start(plan, Self.executor(store))
        guard case .failed(_, let reason, _) = outcome else {
            Issue.record("expected a failure, got \(outcome)")
            return
        }
        // The timeout stopped it (the sleep would have taken 300 s); no wall-clock bound, as a loaded machine varies.
        #expect(reason.contains("did not finish within 1s"), "\(reason)")
    }

    @Test("a tool's environment is PATH, LANG, Baton's three and its env: only; the canary key never reaches it")
    func environment() async throws {
        setenv("ANTHROPIC_CANARY_KEY", Self.canary, 1)
        let folder = try Folder()
        let store = try folder.store()
        let plan = try Self.plan(
            """
              show:
                run: [env]
                env: {GREETING: "hello {{inputs.who}}"}
                effects: none
              here:
                run: [pwd]
                effects: none
            """, inputs: "inputs:\n  who: {}\n")
        let outcome = try await Self.start(plan, Self.executor(store), inputs: ["who": "world"])
        #expect(outcome == .completed(runID: outcome.runID))
        let attempts = try store.attempts(outcome.runID)
        let env = try #require(attempts.first { $0.stage == "show" }?.output)
        #expect(!env.contains(Self.canary))
        var variables: [String: String] = [:]
        for line in env.split(separator: "\n") {
            let parts = line.split(separator: "=", maxSplits: 1).map(String.init)
            variables[parts[0]] = parts.count > 1 ? parts[1] : ""
        }
        #expect(Set(variables.keys) == ["PATH", "LANG", "BATON_RUN_ID", "BATON_STAGE", "BATON_IDEMPOTENCY_KEY", "GREETING"])
        #expect(variables["PATH"] == "/usr/bin:/bin" && variables["LANG"] == "C.UTF-8")
        #expect(variables["BATON_RUN_ID"] == outcome.runID && variables["BATON_STAGE"] == "show")
        #expect(variables["GREETING"] == "hello world")
        let call = try #require(try store.toolCalls(outcome.runID).first { $0.stage == "show" })
        #expect(variables["BATON_IDEMPOTENCY_KEY"] == call.idempotencyKey)
        // The default working folder: STATE/runs/RUN/work, 0700.
        let work = folder.path + "/runs/\(outcome.runID)/work"
        let pwd = try #require(attempts.first { $0.stage == "here" }?.output)
        #expect(pwd.trimmingCharacters(in: .whitespacesAndNewlines).hasSuffix("/runs/\(outcome.runID)/work"), "\(pwd)")
        let mode = try #require(try FileManager.default.attributesOfItem(atPath: work)[.posixPermissions] as? Int)
        #expect(mode == 0o700)
        // Nothing of the canary in the store either.
        let database = try String(contentsOfFile: folder.db, encoding: .isoLatin1)
        #expect(!database.contains(Self.canary))
    }

    @Test("without a profile's tools.allow no executable runs: the stage fails naming the fix, nothing runs")
    func notAllowedAtRunTime() async throws {
        let folder = try Folder()
        let store = try folder.store()
        let marker = folder.path + "/ran"
        let plan = try Self.plan("  job: {run: [sh, -c, 'touch \(marker)'], effects: none}\n", allow: nil)
        #expect(plan.toolPolicy == nil)
        let outcome = try await Self.start(plan, Self.executor(store))
        guard case .failed(_, let reason, _) = outcome else {
            Issue.record("expected a failure, got \(outcome)")
            return
        }
        #expect(reason.contains("add sh to tools.allow"), "\(reason)")
        #expect(!FileManager.default.fileExists(atPath: marker))
        #expect(try store.toolCalls(outcome.runID).isEmpty)
    }

    @Test("approve: true without an approver denies the call: the stage fails, a tool-denied event, nothing runs")
    func deniedWithoutApprover() async throws {
        let folder = try Folder()
        let store = try folder.store()
        let marker = folder.path + "/ran"
        let plan = try Self.plan("  job: {run: [sh, -c, 'touch \(marker)'], effects: none, approve: true}\n")
        let outcome = try await Self.start(plan, Self.executor(store))
        guard case .failed(_, let reason, _) = outcome else {
            Issue.record("expected a failure, got \(outcome)")
            return
        }
        #expect(reason.contains("denied") && reason.contains("--approve job"), "\(reason)")
        #expect(!FileManager.default.fileExists(atPath: marker))
        #expect(try store.toolCalls(outcome.runID).map(\.status) == [.denied])
        #expect(try store.events(outcome.runID, kind: .toolDenied).count == 1)

        var approving = Self.executor(store)
        let asked = LockedList<ToolApprovalRequest>()
        approving.approver = { request in
            asked.append(request)
            return .approved("--approve")
        }
        let approved = try await Self.start(plan, approving)
        #expect(approved == .completed(runID: approved.runID))
        #expect(asked.values.map(\.detail) == ["sh -c 'touch \(marker)'"])
        #expect(FileManager.default.fileExists(atPath: marker))
        #expect(try store.events(approved.runID, kind: .toolApproved).count == 1)
    }

    @Test("a run stage runs once per fan-out item, each call at its own place with its own key; the items feed the next stage")
    func fanOut() async throws {
        let folder = try Folder()
        let store = try folder.store()
        let plan = try Self.plan(
            """
              shout:
                for_each: inputs.words
                max_items: 5
                run: [sh, -c, 'printf %s "$WORD" | tr a-z A-Z']
                env: {WORD: "{{item}}"}
                effects: none
              say:
                model: m
                prompt: "{{#stages.shout.items}}{{output}};{{/stages.shout.items}}"
            """, inputs: "inputs:\n  words: {}\n")
        let prompts = Prompts()
        let outcome = try await Self.start(plan, Self.executor(store, prompts: prompts), inputs: ["words": #"["tea", "cake"]"#])
        #expect(outcome == .completed(runID: outcome.runID), "\(outcome)")
        #expect(prompts["say"] == "TEA;CAKE;")
        let calls = try store.toolCalls(outcome.runID)
        #expect(calls.map(\.item) == [0, 1])
        #expect(Set(calls.map(\.idempotencyKey)).count == 2)
    }

    @Test("output: json on a run stage is parsed for later stages; stdout that is not JSON fails the stage like a model's answer")
    func jsonOutput() async throws {
        let folder = try Folder()
        let store = try folder.store()
        let good = try Self.plan(
            """
              facts:
                run: [sh, -c, 'echo {\\"n\\": 2}']
                output: json
                effects: none
              say:
                model: m
                prompt: "n={{stages.facts.json.n}}"
            """)
        let prompts = Prompts()
        let outcome = try await Self.start(good, Self.executor(store, prompts: prompts))
        #expect(outcome == .completed(runID: outcome.runID), "\(outcome)")
        #expect(prompts["say"] == "n=2")

        let bad = try Self.plan("  facts: {run: [sh, -c, 'echo not json'], output: json, effects: none}\n")
        let failed = try await Self.start(bad, Self.executor(store))
        guard case .failed(_, let reason, _) = failed else {
            Issue.record("expected a failure, got \(failed)")
            return
        }
        #expect(reason.contains("should answer with JSON"), "\(reason)")
        #expect(try store.toolCalls(failed.runID).map(\.status) == [.failed])
    }

    @Test("20 MB of stdout is cut at max_output (1 MB by default); the stage keeps what fits")
    func outputCap() async throws {
        let folder = try Folder()
        let store = try folder.store()
        let plan = try Self.plan("  big: {run: [sh, -c, 'head -c 20000000 /dev/zero | tr \"\\\\000\" x'], effects: none}\n")
        let outcome = try await Self.start(plan, Self.executor(store))
        #expect(outcome == .completed(runID: outcome.runID), "\(outcome)")
        let output = try #require(try store.attempts(outcome.runID).first?.output)
        #expect(output.utf8.count == 1_000_000)
        #expect(output.allSatisfy { $0 == "x" })
        let finished = try #require(try store.events(outcome.runID, kind: .toolCallFinished).first?.payload)
        #expect(finished.contains("\"truncated\":\"true\""), "\(finished)")
    }

    @Test("a run stage inside a called pipeline renders in its call's scope (the call's inputs) and feeds the caller")
    func subPipeline() async throws {
        let folder = try Folder()
        let store = try folder.store()
        let shout = """
            version: 1
            name: shout
            inputs:
              word: {}
            outputs: [up]
            stages:
              up:
                run: [sh, -c, 'printf %s "$W" | tr a-z A-Z']
                env: {W: "{{inputs.word}}"}
                effects: none
            """
        let plan = try Self.plan(
            """
              call:
                uses: shout
                with: {word: "{{inputs.w}}"}
              say:
                model: m
                prompt: "{{stages.call.output}}"
            """, inputs: "inputs:\n  w: {}\n", called: ["shout": shout])
        let prompts = Prompts()
        let outcome = try await Self.start(plan, Self.executor(store, prompts: prompts), inputs: ["w": "tea"])
        #expect(outcome == .completed(runID: outcome.runID), "\(outcome)")
        #expect(prompts["say"] == "TEA")
        #expect(try store.toolCalls(outcome.runID).map(\.stage) == ["call/up"])
    }

    // MARK: - http

    @Test("an http stage posts its rendered body with an Idempotency-Key header; the body and status feed the next stage")
    func httpStage() async throws {
        let folder = try Folder()
        let store = try folder.store()
        let keys = LockedList<String>()
        let server = try await HTTPToolTests.Server.start { router, _ in
            router.post("/orders") { request, _ in
                keys.append(request.headers[HTTPField.Name("Idempotency-Key")!] ?? "")
                let body = try await request.body.collect(upTo: 1 << 20)
                return HTTPToolTests.text("ordered \(String(buffer: body))", status: .created)
            }
        }
        defer { Task { await server.stop() } }
        let plan = try Self.plan(
            """
              order:
                http: {method: POST, url: "\(server.base)/orders", body: "{{inputs.item}}"}
                effects: idempotent
              say:
                model: m
                prompt: "{{stages.order.status}} {{stages.order.output}}"
            """, inputs: "inputs:\n  item: {}\n")
        let prompts = Prompts()
        let outcome = try await Self.start(plan, Self.executor(store, prompts: prompts), inputs: ["item": "tea"])
        #expect(outcome == .completed(runID: outcome.runID))
        #expect(prompts["say"] == "201 ordered tea")
        let call = try #require(try store.toolCalls(outcome.runID).first)
        #expect(keys.values == [call.idempotencyKey])
        #expect(call.httpStatus == 201)
        await server.stop()
    }

    // MARK: - mcp

    @Test(
        "an mcp stage calls get_current_time on the real mcp-server-time; effects come from its annotations",
        .enabled(if: MCPServers.bin != nil, "BATON_MCP_BIN is unset: run scripts/setup-mcp.sh (scripts/test.sh does)"))
    func mcpStage() async throws {
        let bin = try #require(MCPServers.bin)
        let folder = try Folder()
        let store = try folder.store()
        let plan = try Self.plan(
            """
              now:
                mcp: {server: clock, tool: get_current_time, arguments: {timezone: UTC}}
              say:
                model: m
                prompt: "{{stages.now.output}}"
            """, top: "mcp_servers:\n  clock: {command: [\(bin)/mcp-server-time, --local-timezone=UTC]}\n")
        let prompts = Prompts()
        let outcome = try await Self.start(plan, Self.executor(store, prompts: prompts))
        #expect(outcome == .completed(runID: outcome.runID), "\(outcome)")
        let said = try #require(prompts["say"])
        #expect(said.contains("\"timezone\": \"UTC\"") || said.contains("\"timezone\":\"UTC\""), "\(said)")
        let call = try #require(try store.toolCalls(outcome.runID).first)
        // mcp_server_time/server.py: get_current_time is readOnlyHint: true.
        #expect(call.effects == "none")
        #expect(call.status == .done)
    }

    /// The MCP client tests' fixture server (MCPServers.fixtureSource), written to a path of this test's own, so that
    /// its processes can be found by their command line without touching another test's.
    static func fixtureServer(in folder: Folder) throws -> (top: String, path: String) {
        let bin = try #require(MCPServers.bin)
        let path = folder.path + "/fixture-\(UUID().uuidString.prefix(8)).py"
        try MCPServers.fixtureSource.write(toFile: path, atomically: true, encoding: .utf8)
        return ("mcp_servers:\n  fixture: {command: [\(bin)/python, \(path)]}\n", path)
    }

    /// The process ids whose command line mentions `text`.
    static func processes(mentioning text: String) -> [Int32] {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        return entries.compactMap { entry in
            guard let pid = Int32(entry), let data = FileManager.default.contents(atPath: "/proc/\(entry)/cmdline") else { return nil }
            return String(decoding: data, as: UTF8.self).contains(text) ? pid : nil
        }
    }

    @Test(
        "an mcp call carries the idempotency key in _meta, the server's stderr lines are mcp-stderr events, and no server is left",
        .enabled(if: MCPServers.bin != nil, "BATON_MCP_BIN is unset: run scripts/setup-mcp.sh (scripts/test.sh does)"))
    func mcpMetaAndStderr() async throws {
        let folder = try Folder()
        let store = try folder.store()
        let (top, path) = try Self.fixtureServer(in: folder)
        let plan = try Self.plan("  ask: {mcp: {server: fixture, tool: meta}, effects: idempotent}\n", top: top)
        let outcome = try await Self.start(plan, Self.executor(store))
        #expect(outcome == .completed(runID: outcome.runID), "\(outcome)")
        let call = try #require(try store.toolCalls(outcome.runID).first)
        #expect(call.result?.contains(call.idempotencyKey) == true, "\(call.result ?? "")")
        let lines = try store.events(outcome.runID, kind: .mcpStderr).compactMap(\.payload)
        #expect(lines.contains { $0.contains("fixture server starting") }, "\(lines)")
        #expect(Self.processes(mentioning: path).isEmpty)
    }

    @Test(
        "killing the MCP server mid-call fails the stage with a clear error, records the call failed, and stops the server",
        .enabled(if: MCPServers.bin != nil, "BATON_MCP_BIN is unset: run scripts/setup-mcp.sh (scripts/test.sh does)"))
    func mcpServerKilledMidCall() async throws {
        let folder = try Folder()
        let store = try folder.store()
        let (top, path) = try Self.fixtureServer(in: folder)
        let plan = try Self.plan(
            "  nap: {mcp: {server: fixture, tool: sleep, arguments: {seconds: '300'}}, effects: none, timeout: 240s}\n", top: top)
        let events = LockedList<RunEvent>()
        let executor = Executor(
            store: store, runtimes: ScriptedRuntime { _, _ in .text("ok") },
            observer: { event in
                events.append(event)
                // The tool is running: kill its server.
                if case .tool(.mcpStderr(_, let line)) = event, line.contains("sleeping") {
                    for pid in Self.processes(mentioning: path) { kill(pid, SIGKILL) }
                }
            }, sleep: { _ in }, random: { 0.5 })
        let outcome = try await Self.start(plan, executor)
        guard case .failed(_, let reason, _) = outcome else {
            Issue.record("expected a failure, got \(outcome)")
            return
        }
        #expect(reason.contains("stage 'nap'") && reason.contains("fixture"), "\(reason)")
        // Had the stage waited for the dead server's answer, it would have failed at its 240 s timeout, saying so.
        #expect(!reason.contains("within"), "the stage waited for the dead server's answer: \(reason)")
        #expect(try store.toolCalls(outcome.runID).map(\.status) == [.failed])
        #expect(Self.processes(mentioning: path).isEmpty)
    }

    // MARK: - Resume

    /// A tool stage that appends its idempotency key to `out`, then a model stage that fails until told otherwise.
    static func appendPlan(_ effects: ToolEffects, folder: Folder) throws -> ExecutionPlan {
        try plan(
            """
              append:
                run: [sh, -c, 'echo "$BATON_IDEMPOTENCY_KEY" >> "$OUT"']
                env: {OUT: "\(folder.path)/out.txt"}
                effects: \(effects.rawValue)
              after:
                model: m
                prompt: "after: {{stages.append.output}}"
            """)
    }

    /// What a crash between the call and its result's commit leaves: the attempt running, the call's intent only.
    static func forgetResult(of stage: String, in folder: Folder) throws {
        let queue = try DatabaseQueue(path: folder.db)
        try queue.write { db in
            try db.execute(
                sql: "UPDATE tool_calls SET status = 'intent', result = NULL, exit_code = NULL, finished_at = NULL WHERE stage = ?",
                arguments: [stage])
            try db.execute(sql: "UPDATE attempts SET status = 'running', finished_at = NULL WHERE stage = ?", arguments: [stage])
        }
        try queue.close()
    }

    @Test("resume replays a call whose result is recorded: nothing runs again, the next stage gets the same output")
    func replayOnResume() async throws {
        let folder = try Folder()
        let store = try folder.store()
        let plan = try Self.appendPlan(.external, folder: folder)
        let first = try await Self.start(plan, Self.executor(store) { $0 == "after" })
        guard case .failed = first else {
            Issue.record("expected the first run to fail at 'after', got \(first)")
            return
        }
        #expect(folder.lines("out.txt").count == 1)
        let events = LockedList<RunEvent>()
        let resumed = try await Self.executor(store, events: events).resume(first.runID, claim: .current())
        #expect(resumed == .completed(runID: first.runID))
        #expect(folder.lines("out.txt").count == 1)
        #expect(events.values.contains { if case .tool(.callReplayed("append", _, _)) = $0 { true } else { false } })
        #expect(try store.toolCalls(first.runID).count == 1)
    }

    @Test("an external call with an intent and no result stops the resume (ambiguousCall, run failed); nothing runs")
    func externalIntentIsAmbiguous() async throws {
        let folder = try Folder()
        let store = try folder.store()
        let plan = try Self.appendPlan(.external, folder: folder)
        let first = try await Self.start(plan, Self.executor(store) { $0 == "after" })
        try Self.forgetResult(of: "append", in: folder)
        let prompts = Prompts()
        let resumed = try await Self.executor(store, prompts: prompts).resume(first.runID, claim: .current())
        guard case .ambiguousCall(let id, let stage, let message) = resumed else {
            Issue.record("expected an ambiguous call, got \(resumed)")
            return
        }
        #expect(id == first.runID && stage == "append")
        #expect(message.contains("its effects are external, so Baton will not repeat it on its own"), "\(message)")
        #expect(message.contains("baton resume \(first.runID) --retry-call append"), "\(message)")
        #expect(message.contains("--skip-call append"), "\(message)")
        #expect(folder.lines("out.txt").count == 1)
        #expect(prompts["after"] == nil)
        #expect(try store.run(first.runID).status == .failed)
        #expect(try store.run(first.runID).error == message)
        #expect(try store.events(first.runID, kind: .toolCallAmbiguous).count == 1)
    }

    @Test("--retry-call runs the unfinished external call again with the same idempotency key")
    func retryResolution() async throws {
        let folder = try Folder()
        let store = try folder.store()
        let plan = try Self.appendPlan(.external, folder: folder)
        let first = try await Self.start(plan, Self.executor(store) { $0 == "after" })
        try Self.forgetResult(of: "append", in: folder)
        _ = try await Self.executor(store).resume(first.runID, claim: .current())
        var retrying = Self.executor(store)
        retrying.callResolutions = ["append": .retry]
        let resumed = try await retrying.resume(first.runID, claim: .current())
        #expect(resumed == .completed(runID: first.runID))
        let lines = folder.lines("out.txt")
        #expect(lines.count == 2)
        #expect(Set(lines).count == 1, "the retry's key differs: \(lines)")
        let calls = try store.toolCalls(first.runID)
        #expect(calls.map(\.status) == [.done])
        #expect(calls.first?.idempotencyKey == lines.first)
    }

    @Test("--skip-call records the call skipped with an empty output; later stages read it empty and nothing runs")
    func skipResolution() async throws {
        let folder = try Folder()
        let store = try folder.store()
        let plan = try Self.appendPlan(.external, folder: folder)
        let first = try await Self.start(plan, Self.executor(store) { $0 == "after" })
        try Self.forgetResult(of: "append", in: folder)
        let prompts = Prompts()
        var skipping = Self.executor(store, prompts: prompts)
        skipping.callResolutions = ["append": .skip]
        let resumed = try await skipping.resume(first.runID, claim: .current())
        #expect(resumed == .completed(runID: first.runID))
        #expect(folder.lines("out.txt").count == 1)
        #expect(prompts["after"] == "after: ")
        #expect(try store.toolCalls(first.runID).map(\.status) == [.skipped])
    }

    @Test("an idempotent call with an intent and no result runs again on resume, with the same key")
    func idempotentIntentReruns() async throws {
        let folder = try Folder()
        let store = try folder.store()
        let plan = try Self.appendPlan(.idempotent, folder: folder)
        let first = try await Self.start(plan, Self.executor(store) { $0 == "after" })
        try Self.forgetResult(of: "append", in: folder)
        let events = LockedList<RunEvent>()
        let resumed = try await Self.executor(store, events: events).resume(first.runID, claim: .current())
        #expect(resumed == .completed(runID: first.runID))
        let lines = folder.lines("out.txt")
        #expect(lines.count == 2 && Set(lines).count == 1, "\(lines)")
        #expect(events.values.contains { if case .tool(.callStarted("append", _, _, _, _, _, true)) = $0 { true } else { false } })
    }
}
