import BatonSpec
import BatonTestSupport
import Foundation
import Testing

/// Issue 13's spec rules (contract s13 §1): the shape of `indexes:`, `retrieve:` and `cite:`, what a retrieve stage
/// may hold, what its index and `cite` name, and what templates and conditions read of it. Each diagnostic is asserted
/// at its line and column.
@Suite struct RetrievalRulesTests {
    static let profile = InvalidFixtureTests.testProfile()

    // MARK: - Decoding indexes

    @Test func anIndexsKeysAreCheckedWithSuggestions() {
        assertDiagnostics(
            """
            version: 1
            indexes:
              docs:
                1️⃣sorces: ["*.md"]
                embed: {model: small, 2️⃣bach: 8}
              3️⃣Docs2: {sources: ["*.md"], embed: {model: small}}
              🔟notes:
                sources: 4️⃣[]
                embed: {model: small, batch: 5️⃣0}
              9️⃣code:
                sources: "*.swift"
                embed: {model: small}
                chunk: {by: 6️⃣words, size: 7️⃣0}
                vector: 8️⃣faiss
            stages:
              a: {model: small, prompt: hi}
            """,
            [
                DiagnosticSpec("1️⃣", code: "unknown-key", message: "unknown key 'sorces' in index 'docs'; did you mean 'sources'?"),
                DiagnosticSpec("2️⃣", code: "unknown-key", message: "unknown key 'bach' in 'embed' in index 'docs'; did you mean 'batch'?"),
                DiagnosticSpec(
                    "3️⃣", code: "invalid-name",
                    message: "'Docs2' is not a valid index name; use lower-case letters, digits, '_' and '-', starting with a letter"),
                DiagnosticSpec("4️⃣", code: "empty-value"),
                DiagnosticSpec("5️⃣", code: "out-of-range"),
                DiagnosticSpec("6️⃣", code: "invalid-value"),
                DiagnosticSpec("7️⃣", code: "out-of-range"),
                DiagnosticSpec("8️⃣", code: "invalid-value"),
                // `code` decodes without its bad settings, and nothing queries it.
                DiagnosticSpec("9️⃣", code: "index-unused", severity: .warning),
                DiagnosticSpec("🔟", code: "index-unused", severity: .warning),
            ])
    }

    @Test func anIndexWithoutSourcesOrEmbedSaysWhatToAdd() {
        assertDiagnostics(
            """
            version: 1
            indexes:
              docs: 1️⃣{embed: {model: small}}
              notes: 2️⃣{sources: "*.md"}
              code: {sources: "*.swift", embed: 3️⃣{batch: 4}}
            stages:
              a: {model: small, prompt: hi}
            """,
            [
                DiagnosticSpec(
                    "1️⃣", code: "missing-key",
                    message: "index 'docs' has no 'sources'; add 'sources: [\"docs/**/*.md\"]', globs relative to this file's folder"),
                DiagnosticSpec("2️⃣", code: "missing-key"),
                DiagnosticSpec("3️⃣", code: "missing-key"),
            ])
    }

    @Test func anOverlapNotBelowTheSizeIsOutOfRange() {
        assertDiagnostics(
            """
            version: 1
            indexes:
              docs:
                sources: "*.md"
                embed: {model: small}
                chunk: {by: lines, size: 10, overlap: 1️⃣10}
              notes:
                sources: "*.md"
                embed: {model: small}
                chunk: {overlap: 2️⃣-1}
            stages:
              a: {retrieve: {index: docs, query: q}}
              b: {retrieve: {index: notes, query: q}}
              c: {model: small, prompt: "{{stages.a.output}}{{stages.b.output}}"}
            """,
            [
                DiagnosticSpec(
                    "1️⃣", code: "out-of-range",
                    message: "10 is out of range for 'overlap' in 'chunk' in index 'docs'; use 0 to 9 (less than 'size', 10 lines)"),
                DiagnosticSpec("2️⃣", code: "out-of-range"),
            ])
    }

    @Test func aGlobOfBadSyntaxIsLocatedAtTheGlob() {
        assertDiagnostics(
            """
            version: 1
            indexes:
              docs:
                sources: ["docs/*.md", 1️⃣"docs/*.{md,txt}", 2️⃣"src/a**/x.swift", 3️⃣"[abc.md"]
                exclude: [4️⃣"drafts\\\\"]
                embed: {model: small}
            stages:
              a: {retrieve: {index: docs, query: q}}
              b: {model: small, prompt: "{{stages.a.output}}"}
            """,
            [
                DiagnosticSpec(
                    "1️⃣", code: "index-glob-invalid",
                    message: "'docs/*.{md,txt}' in 'sources' in index 'docs' is not a glob the engine reads: braces are not glob "
                        + "syntax here; write one pattern per alternative ('docs/*.md', 'docs/*.txt'); globs use '*' (any "
                        + "characters but '/'), '?' (one), '[abc]', '[a-z]', '[!a]' and '**' as a whole segment (any folders)"),
                DiagnosticSpec("2️⃣", code: "index-glob-invalid"),
                DiagnosticSpec("3️⃣", code: "index-glob-invalid"),
                DiagnosticSpec("4️⃣", code: "index-glob-invalid"),
            ])
    }

    @Test func absoluteAndParentGlobsAreAllowed() throws {
        let plan = try #require(
            compileValid(
                """
                version: 1
                indexes:
                  docs: {sources: ["/srv/docs/**/*.md", "../shared/*.md", "[!_]*.md", "a?.txt"], embed: {model: small}}
                stages:
                  a: {retrieve: {index: docs, query: q}}
                  b: {model: small, prompt: "{{stages.a.output}}"}
                """))
        #expect(plan.indexes?.first?.sources.count == 4)
    }

    // MARK: - Decoding retrieve

    @Test func aRetrievesKeysAndRangesAreChecked() {
        assertDiagnostics(
            """
            version: 1
            indexes:
              docs: {sources: "*.md", embed: {model: small}}
            stages:
              a:
                retrieve: {index: docs, query: q, top_k: 1️⃣0, hybrid: 2️⃣maybe, min_score: 3️⃣1.5}
              b:
                retrieve: {index: docs, query: q, 4️⃣topk: 3}
              c:
                retrieve: 5️⃣{query: q}
              d:
                retrieve: 6️⃣{index: docs}
              e: {model: small, prompt: "{{stages.a.output}}{{stages.b.output}}"}
            """,
            [
                DiagnosticSpec(
                    "1️⃣", code: "out-of-range", message: "0 is out of range for 'top_k' in 'retrieve' in stage 'a'; use 1 to 100"),
                DiagnosticSpec("2️⃣", code: "type-mismatch"),
                DiagnosticSpec(
                    "3️⃣", code: "out-of-range",
                    message: "1.5 is out of range for 'min_score' in 'retrieve' in stage 'a'; use -1 to 1 (a cosine similarity)"),
                DiagnosticSpec("4️⃣", code: "unknown-key", message: "unknown key 'topk' in 'retrieve' in stage 'b'; did you mean 'top_k'?"),
                DiagnosticSpec("5️⃣", code: "missing-key"),
                DiagnosticSpec("6️⃣", code: "missing-key"),
            ])
    }

    // MARK: - What a retrieve stage holds

    @Test func aRetrieveStageWithAPromptIsTwoKinds() {
        assertDiagnostics(
            """
            version: 1
            indexes:
              docs: {sources: "*.md", embed: {model: small}}
            stages:
              a:
                prompt: hi
                1️⃣retrieve: {index: docs, query: q}
            """,
            [
                DiagnosticSpec(
                    "1️⃣", code: "stage-kinds",
                    message: "stage 'a' has both 'prompt' and 'retrieve'; a stage is one kind: a model stage ('prompt' or "
                        + "'prompt_file'), a command ('run'), an HTTP request ('http'), an MCP call ('mcp') or an index query "
                        + "('retrieve'): split it into two stages")
            ])
    }

    @Test func modelSettingsAndOtherKeysOnARetrieveStageAreRefusedAtTheKey() {
        assertDiagnostics(
            """
            version: 1
            indexes:
              docs: {sources: "*.md", embed: {model: small}}
            stages:
              a:
                retrieve: {index: docs, query: q}
                1️⃣model: small
                2️⃣temperature: 0.2
                3️⃣system: be brief
                4️⃣output: {format: json}
                5️⃣retry: {max_attempts: 2}
                6️⃣cite: a
                7️⃣tools: [b]
                needs: [b]
                timeout: 20s
                description: finds
              b: {run: [ls]}
              c: {model: small, prompt: "{{stages.a.output}}"}
            """, profile: Self.profile,
            [
                DiagnosticSpec(
                    "1️⃣", code: "retrieve-stage-key",
                    message: "stage 'a' is a retrieve stage, which cannot set 'model': its model is its index's 'embed.model'; a "
                        + "retrieve stage takes 'retrieve', 'needs', 'when', 'timeout', 'for_each' (with 'as', 'max_items', "
                        + "'concurrency') and 'description'"),
                DiagnosticSpec("2️⃣", code: "retrieve-stage-key"),
                DiagnosticSpec("3️⃣", code: "retrieve-stage-key"),
                DiagnosticSpec("4️⃣", code: "retrieve-stage-key"),
                DiagnosticSpec("5️⃣", code: "retrieve-stage-key"),
                DiagnosticSpec("6️⃣", code: "retrieve-stage-key"),
                DiagnosticSpec("7️⃣", code: "retrieve-stage-key"),
            ])
    }

    @Test func aCriticCannotReviewARetrieveStage() {
        assertDiagnostics(
            """
            version: 1
            indexes:
              docs: {sources: "*.md", embed: {model: small}}
            stages:
              a: {retrieve: {index: docs, query: q}}
              check: {model: small, prompt: "ok? {{stages.a.output}}", reviews: 1️⃣a}
            """,
            [
                DiagnosticSpec(
                    "1️⃣", code: "critic-reviews-retrieve",
                    message: "critic 'check' reviews stage 'a', a retrieve stage; a critic reviews a model's answer, and a "
                        + "retrieve stage's chunks come from its index: review the stage that answers from them")
            ])
    }

    @Test func aRetrieveStageMayFanOut() throws {
        let plan = try #require(
            compileValid(
                """
                version: 1
                inputs: {questions: {}}
                indexes:
                  docs: {sources: "*.md", embed: {model: small}}
                stages:
                  a:
                    retrieve: {index: docs, query: "{{q}}"}
                    for_each: inputs.questions
                    as: q
                    max_items: 10
                    when: inputs.questions != ''
                  b: {model: small, prompt: "{{#stages.a.items}}{{output}}{{/stages.a.items}}"}
                """, profile: Self.profile))
        #expect(plan.stage(named: "a")?.fanOut?.maxItems == 10)
        #expect(plan.stage(named: "a")?.models.map(\.name) == ["small"])
    }

    // MARK: - Indexes and models

    @Test func anUnknownIndexIsLocatedWithASuggestion() {
        assertDiagnostics(
            """
            version: 1
            indexes:
              docs: {sources: "*.md", embed: {model: small}}
            stages:
              a: {retrieve: {index: 1️⃣doc, query: q}}
              b: {retrieve: {index: 2️⃣zzz, query: q}}
              c: {model: small, prompt: "{{stages.a.output}}{{stages.b.output}}"}
            """,
            [
                DiagnosticSpec(
                    "1️⃣", code: "index-unknown", message: "stage 'a' queries index 'doc', which is not declared; did you mean 'docs'?"),
                DiagnosticSpec(
                    "2️⃣", code: "index-unknown",
                    message: "stage 'b' queries index 'zzz', which is not declared; the declared indexes are 'docs'"),
            ])
    }

    @Test func anIndexNoStageQueriesIsAWarning() {
        assertDiagnostics(
            """
            version: 1
            indexes:
              1️⃣docs: {sources: "*.md", embed: {model: small}}
            stages:
              a: {model: small, prompt: hi}
            """,
            [
                DiagnosticSpec(
                    "1️⃣", code: "index-unused",
                    message: "index 'docs' is declared but no stage queries it; add a stage with 'retrieve: {index: docs, query: "
                        + "...}' or remove it (`baton index docs` still builds it)", severity: .warning)
            ])
    }

    @Test func anEmbeddingModelTheRegistryDoesNotListIsUnknownWithAProfile() {
        let text = """
            version: 1
            indexes:
              docs: {sources: "*.md", embed: {model: 1️⃣smal}}
              pinned: {sources: "*.md", embed: {model: "local:minilm"}}
            stages:
              a: {retrieve: {index: docs, query: q}}
              b: {retrieve: {index: pinned, query: q}}
              c: {model: small, prompt: "{{stages.a.output}}{{stages.b.output}}"}
            """
        assertDiagnostics(
            text, profile: Self.profile,
            [
                DiagnosticSpec(
                    "1️⃣", code: "unknown-model",
                    message: "index 'docs' embeds with model 'smal', which the profile's registry does not list; did you mean 'small'?")
            ])
        // Without a profile, the run's profile decides.
        assertDiagnostics(text, [])
    }

    @Test func anEmbeddingModelLargerThanTheBudgetIsRefused() {
        assertDiagnostics(
            """
            version: 1
            memory_budget: 1GB
            indexes:
              docs: {sources: "*.md", embed: {model: 1️⃣mistral:7b-instruct}}
            stages:
              a: {retrieve: {index: docs, query: q}}
              c: {model: small, prompt: "{{stages.a.output}}"}
            """, profile: Self.profile,
            [DiagnosticSpec("1️⃣", code: "model-exceeds-budget")])
    }

    @Test func aProfilesIndexWithAnUnknownModelIsReportedInTheProfile() {
        let text = """
            version: 1
            runtimes: {local: {kind: echo}}
            models: {minilm: {runtime: local}}
            indexes:
              docs: {sources: "*.md", embed: {model: minlm}}
            """
        let document = ProfileDecoder.decode(SourceFile(path: "p.yaml", text: text), environment: [:])
        let (_, diagnostics) = ProfileResolver.resolve(document) { _ in nil }
        #expect(diagnostics.map(\.code) == ["unknown-model"])
        #expect(diagnostics.first?.location == SourceLocation(file: "p.yaml", line: 5, column: 42))
        #expect(diagnostics.first?.message.contains("did you mean 'minilm'") == true)
    }

    @Test func aProfilesIndexesAreDecodedWithLocatedErrors() {
        let text = """
            version: 1
            runtimes: {local: {kind: echo}}
            models: {minilm: {runtime: local}}
            indexes:
              notes:
                sources: ["notes/*.{md,txt}"]
                embed: {model: minilm, batch: 1000}
                vectors: exact
            """
        let document = ProfileDecoder.decode(SourceFile(path: "conf/p.yaml", text: text), environment: [:])
        let diagnostics = document.diagnostics.sortedByLocation()
        let found = diagnostics.map { "\($0.location?.line ?? 0):\($0.location?.column ?? 0) \($0.code)" }
        #expect(found == ["6:15 index-glob-invalid", "7:35 out-of-range", "8:5 unknown-key"])
        #expect(diagnostics.last?.message == "unknown key 'vectors' in index 'notes'; did you mean 'vector'?")
        // What decoded is kept, with the folder of the profile's file.
        #expect(document.spec?.indexes?.first?.folder == "conf")
    }

    @Test func globSyntax() {
        for glob in ["docs/**/*.md", "*.md", "a?c", "[abc].md", "[!_]*", "[]]x", "\\[literal\\]", "/abs/**", "../up/*.md"] {
            #expect(IndexDecoderProbe.globProblem(glob) == nil, "\(glob)")
        }
        for glob in ["", "  ", "**.md", "a/b**", "{a,b}", "[abc", "x/[a/b]", "tail\\"] {
            #expect(IndexDecoderProbe.globProblem(glob) != nil, "\(glob)")
        }
    }

    // MARK: - cite

    @Test func citeMustNameAnUpstreamRetrieveStage() {
        assertDiagnostics(
            """
            version: 1
            indexes:
              docs: {sources: "*.md", embed: {model: small}}
            stages:
              facts: {retrieve: {index: docs, query: q}}
              draft: {model: small, prompt: hi}
              a: {model: small, prompt: "{{stages.facts.output}}", output: {format: json}, cite: 1️⃣fact}
              b: {model: small, prompt: "{{stages.draft.output}}", output: {format: json}, cite: 2️⃣draft}
              c: {model: small, prompt: hi, output: {format: json}, cite: 3️⃣facts}
              d: {model: small, prompt: hi, output: {format: json}, cite: 4️⃣d}
              e: {run: [ls], 5️⃣cite: facts}
            outputs: [a, b, c, d, e]
            """, profile: Self.profile,
            [
                DiagnosticSpec(
                    "1️⃣", code: "cite-invalid", message: "'cite: fact' of stage 'a' names no stage of this pipeline; did you mean 'facts'?"),
                DiagnosticSpec(
                    "2️⃣", code: "cite-invalid",
                    message: "'cite: draft' of stage 'b' names stage 'draft', which is a model stage, not a retrieve stage; cite a "
                        + "stage with 'retrieve:'"),
                DiagnosticSpec(
                    "3️⃣", code: "cite-not-upstream",
                    message: "stage 'c' cites 'facts', which it does not wait for; read its chunks in the prompt "
                        + "({{#stages.facts.chunks}}[{{n}}] {{text}}{{/stages.facts.chunks}}) or add 'facts' to 'needs'"),
                DiagnosticSpec("4️⃣", code: "cite-invalid"),
                DiagnosticSpec("5️⃣", code: "tool-stage-key"),
            ])
    }

    @Test func citeNeedsAJSONObjectAnswer() {
        assertDiagnostics(
            """
            version: 1
            indexes:
              docs: {sources: "*.md", embed: {model: small}}
            stages:
              facts: {retrieve: {index: docs, query: q}}
              a: {model: small, prompt: "{{stages.facts.output}}", cite: 1️⃣facts}
              b:
                model: small
                prompt: "{{stages.facts.output}}"
                output: {format: json, schema: 2️⃣{type: array, items: {type: string}}}
                cite: facts
              c: {model: small, needs: [facts], prompt: hi, output: {format: json, schema: {type: object, properties: {x: {type: string}}}}, cite: facts}
            outputs: [a, b, c]
            """, profile: Self.profile,
            [
                DiagnosticSpec(
                    "1️⃣", code: "cite-not-json",
                    message: "stage 'a' has 'cite' but its output is text; its citations are a field of its JSON answer: set "
                        + "'output: {format: json}' (a default schema {answer, citations} is used) or an object schema"),
                DiagnosticSpec("2️⃣", code: "cite-not-json"),
            ])
    }

    @Test func citeOfAFanOutRetrieveStageIsRefused() {
        assertDiagnostics(
            """
            version: 1
            inputs: {qs: {}}
            indexes:
              docs: {sources: "*.md", embed: {model: small}}
            stages:
              facts: {retrieve: {index: docs, query: "{{item}}"}, for_each: inputs.qs, max_items: 3}
              a: {model: small, prompt: "{{#stages.facts.items}}{{output}}{{/stages.facts.items}}", output: {format: json}, cite: 1️⃣facts}
            """, profile: Self.profile,
            [DiagnosticSpec("1️⃣", code: "cite-invalid")])
    }

    // MARK: - Templates and conditions

    @Test func theQueryIsCheckedLikeAPromptAndMakesDependencies() throws {
        assertDiagnostics(
            """
            version: 1
            inputs: {question: {}}
            indexes:
              docs: {sources: "*.md", embed: {model: small}}
            stages:
              a: {retrieve: {index: docs, query: "{{inputs.question}} 1️⃣{{inputs.questoin}}"}}
              b: {model: small, prompt: "{{stages.a.output}}"}
            """,
            [DiagnosticSpec("1️⃣", code: "undeclared-input", message: "template uses undeclared input 'questoin'; did you mean 'question'?")])
        let plan = try #require(
            compileValid(
                """
                version: 1
                indexes:
                  docs: {sources: "*.md", embed: {model: small}}
                stages:
                  topic: {model: small, prompt: "Name a topic."}
                  a: {retrieve: {index: docs, query: "{{stages.topic.output}}"}}
                  b: {model: small, prompt: "{{stages.a.output}}"}
                """))
        #expect(plan.stage(named: "a")?.dependencies == ["topic"])
        #expect(plan.stages.map(\.name) == ["topic", "a", "b"])
    }

    @Test func chunksAreARetrieveStagesFieldOnly() {
        assertDiagnostics(
            """
            version: 1
            indexes:
              docs: {sources: "*.md", embed: {model: small}}
            stages:
              a: {retrieve: {index: docs, query: q}}
              draft: {model: small, prompt: hi}
              b:
                model: small
                prompt: "1️⃣{{stages.draft.chunks}} 2️⃣{{stages.a.chunk}} {{#stages.a.chunks}}{{text}}{{/stages.a.chunks}} 4️⃣{{stages.a.json}}"
              c:
                model: small
                prompt: "{{stages.a.output}}"
                when: stages.draft.3️⃣chunks != []
            """,
            [
                DiagnosticSpec(
                    "1️⃣", code: "retrieve-field-unavailable",
                    message: "'stages.draft.chunks' reads 'chunks', which is a retrieve stage's field, but stage 'draft' is a "
                        + "model stage; read stages.draft.output"),
                DiagnosticSpec(
                    "2️⃣", code: "unknown-variable",
                    message: "template uses 'stages.a.chunk', which stage 'a' does not provide; did you mean 'stages.a.chunks'?"),
                DiagnosticSpec("4️⃣", code: "unknown-variable"),
                DiagnosticSpec("3️⃣", code: "retrieve-field-unavailable"),
            ])
    }

    @Test func conditionsReadTheChunksTyped() {
        assertDiagnostics(
            """
            version: 1
            indexes:
              docs: {sources: "*.md", embed: {model: small}}
            stages:
              a: {retrieve: {index: docs, query: q}}
              b:
                model: small
                prompt: "{{stages.a.output}}"
                when: size(stages.a.chunks) > 0 and stages.a.chunks[0].score > 0.5 and stages.a.chunks[0].1️⃣lines > 1
            """,
            [DiagnosticSpec("1️⃣", code: "unknown-field")])
    }

    @Test func theChunksOfARetrieveStageThatMayBeSkippedAreOptional() {
        // Skipped, a retrieve stage has no chunks: comparing them with null is meaningful only then.
        assertDiagnostics(
            """
            version: 1
            inputs: {question: {}}
            indexes:
              docs: {sources: "*.md", embed: {model: small}}
            stages:
              maybe: {retrieve: {index: docs, query: q}, when: "inputs.question != ''"}
              always: {retrieve: {index: docs, query: q}}
              b:
                model: small
                prompt: "{{stages.maybe.output}}{{stages.always.output}}"
                when: stages.maybe.chunks != null && 1️⃣stages.always.chunks != null
            """,
            [DiagnosticSpec("1️⃣", code: "expression-type")])
    }

    // MARK: - Keys lists and schemas

    @Test func theKeyListsHaveTheRetrievalKeys() {
        #expect(AllowedKeys.stage.contains("retrieve") && AllowedKeys.stage.contains("cite"))
        #expect(AllowedKeys.pipeline.contains("indexes") && AllowedKeys.profile.contains("indexes"))
        #expect(AllowedKeys.retrieve == ["index", "query", "top_k", "hybrid", "min_score"])
    }

    @Test func theSchemasHaveTheRetrievalKeys() throws {
        for file in ["schemas/pipeline.schema.json", "schemas/profile.schema.json"] {
            let data = try #require(FileManager.default.contents(atPath: Fixtures.path(file)))
            let schema = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
            let definitions = try #require(schema["$defs"] as? [String: Any])
            let properties = try #require(schema["properties"] as? [String: Any])
            #expect(properties["indexes"] != nil, "\(file) has no 'indexes'")
            let index = try #require((definitions["index"] as? [String: Any])?["properties"] as? [String: Any], "\(file)")
            #expect(Set(index.keys) == Set(AllowedKeys.index))
            let chunk = try #require((index["chunk"] as? [String: Any])?["properties"] as? [String: Any])
            #expect(Set(chunk.keys) == Set(AllowedKeys.chunk))
            let embed = try #require((index["embed"] as? [String: Any])?["properties"] as? [String: Any])
            #expect(Set(embed.keys) == Set(AllowedKeys.embed))
        }
        let data = try #require(FileManager.default.contents(atPath: Fixtures.path("schemas/pipeline.schema.json")))
        let schema = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        let stage = try #require(((schema["$defs"] as? [String: Any])?["stage"] as? [String: Any])?["properties"] as? [String: Any])
        let retrieve = try #require((stage["retrieve"] as? [String: Any])?["properties"] as? [String: Any])
        #expect(Set(retrieve.keys) == Set(AllowedKeys.retrieve))
        #expect(stage["cite"] != nil)
    }
}
