import BatonSpec
import BatonTestSupport
import Foundation
import Testing

/// Issue 13's plan (contract s13 §2): indexes planned with defaults, absolute roots and resolved models; retrieve
/// stages with their index's embedding model; `cite`; profile indexes merged with the pipeline's winning; and plans
/// without retrieval unchanged.
@Suite struct RetrievalPlanTests {
    static let fixture = "Tests/BatonSpecTests/Fixtures/valid/retrieval.yaml"
    /// The folder relative paths are taken from, fixed so the snapshot is the same on every machine.
    static let currentDirectory = "/srv/project"

    static func compile(_ text: String, path: String = "p/test.yaml", profile: ResolvedProfile? = InvalidFixtureTests.testProfile())
        -> CompileResult
    {
        var compiler = PipelineCompiler(profile: profile)
        compiler.currentDirectory = currentDirectory
        return compiler.compile(SourceFile(path: path, text: text))
    }

    static func encoded(_ plan: ExecutionPlan) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return String(decoding: try encoder.encode(plan), as: UTF8.self) + "\n"
    }

    @Test func theFixturesPlanMatchesItsSnapshot() throws {
        let text = try String(contentsOfFile: Fixtures.path(Self.fixture), encoding: .utf8)
        let result = Self.compile(text, path: Self.fixture)
        #expect(result.diagnostics.isEmpty, "\(result.diagnostics.map { "\($0.location?.description ?? "-") \($0.message)" })")
        let plan = try #require(result.plan)
        if let difference = Fixtures.compareGolden(
            try Self.encoded(plan), at: "Tests/BatonSpecTests/Fixtures/valid/retrieval.plan.json")
        {
            Issue.record(Comment(rawValue: difference))
        }
    }

    @Test func indexesGetTheirDefaultsAbsolutePathsAndModels() throws {
        let text = try String(contentsOfFile: Fixtures.path(Self.fixture), encoding: .utf8)
        let plan = try #require(Self.compile(text, path: Self.fixture).plan)
        let root = "/srv/project/Tests/BatonSpecTests/Fixtures/valid"
        #expect(
            plan.indexes == [
                IndexPlan(
                    name: "code", root: root, sources: ["Sources/**/*.swift"], exclude: [],
                    chunk: ChunkSpec(by: .lines, size: 60, overlap: 10),
                    model: ResolvedModel(name: "minilm", runtime: "local", footprint: nil), batch: 32, path: nil, vector: .sqliteVec),
                IndexPlan(
                    name: "docs", root: root, sources: ["docs/**/*.md", "README.md"], exclude: ["**/drafts/**"],
                    chunk: ChunkSpec(by: .heading, size: 1200, overlap: 150),
                    model: ResolvedModel(name: "small", runtime: "local", footprint: ByteCount(parsing: "430MB")), batch: 16,
                    path: "\(root)/.baton/docs-index.sqlite", vector: .exact),
            ])
        let facts = try #require(plan.stage(named: "facts"))
        #expect(facts.isRetrieve)
        #expect(facts.retrieve == RetrieveStep(index: "docs", query: "{{inputs.question}}", topK: 4, hybrid: true, minScore: 0.2))
        #expect(facts.models == [ResolvedModel(name: "small", runtime: "local", footprint: ByteCount(parsing: "430MB"))])
        #expect(facts.prompt == "" && facts.output == OutputSpec(format: .json, schema: nil))
        #expect(facts.settings.timeout == 30)
        #expect(facts.index(in: plan)?.name == "docs")
        let snippets = try #require(plan.stage(named: "snippets")?.retrieve)
        #expect(snippets == RetrieveStep(index: "code", query: "{{inputs.question}}", topK: 5, hybrid: false, minScore: nil))
        let answer = try #require(plan.stage(named: "answer"))
        #expect(answer.cite == "facts")
        #expect(answer.dependencies == ["facts", "snippets"])
        #expect(answer.condition != nil)
        #expect(plan.outputs == ["answer"])
    }

    @Test func defaultsApplyWhenAnIndexSaysLittle() throws {
        let plan = try #require(
            compileValid(
                """
                version: 1
                indexes:
                  notes: {sources: "*.txt", embed: {model: small}}
                  small-chunks: {sources: "*.md", chunk: {size: 100}, embed: {model: small}}
                stages:
                  find: {retrieve: {index: notes, query: q}}
                  find2: {retrieve: {index: small-chunks, query: q}}
                  say: {model: mistral:7b-instruct, prompt: "{{stages.find.output}} {{stages.find2.output}}"}
                """, profile: InvalidFixtureTests.testProfile()))
        let notes = try #require(plan.indexes?.first { $0.name == "notes" })
        #expect(notes.chunk == ChunkSpec(by: .paragraph, size: 1200, overlap: 150))
        #expect(notes.batch == 32 && notes.vector == .exact && notes.path == nil && notes.exclude.isEmpty)
        #expect(notes.root.hasPrefix("/"), "the root is absolute: \(notes.root)")
        // A size below the default overlap shrinks the default overlap rather than refusing the file.
        #expect(plan.indexes?.first { $0.name == "small-chunks" }?.chunk == ChunkSpec(by: .paragraph, size: 100, overlap: 25))
        #expect(plan.stage(named: "find")?.retrieve?.topK == 5 && plan.stage(named: "find")?.retrieve?.hybrid == true)
    }

    @Test func planWithoutRetrievalEncodesNoRetrievalKeys() throws {
        let result = Self.compile(
            """
            version: 1
            indexes:
              notes: {sources: "*.txt", embed: {model: small}}
            stages:
              a: {model: small, prompt: hi}
            """)
        #expect(result.diagnostics.map(\.code.rawValue) == ["index-unused"])
        let plan = try #require(result.plan)
        #expect(plan.indexes == nil)
        let json = try Self.encoded(plan)
        for key in ["\"indexes\"", "\"retrieve\"", "\"cite\""] { #expect(!json.contains(key), "\(key) in \(json)") }
    }

    @Test func onlyIndexesSomeStageQueriesArePlannedSortedByName() throws {
        let result = Self.compile(
            """
            version: 1
            indexes:
              zeta: {sources: "*.txt", embed: {model: small}}
              alpha: {sources: "*.md", embed: {model: small}}
              unused: {sources: "*.rst", embed: {model: small}}
            stages:
              z: {retrieve: {index: zeta, query: q}}
              a: {retrieve: {index: alpha, query: q}}
              say: {model: mistral:7b-instruct, prompt: "{{stages.z.output}} {{stages.a.output}}"}
            """)
        #expect(result.diagnostics.map(\.code.rawValue) == ["index-unused"])
        #expect(result.plan?.indexes?.map(\.name) == ["alpha", "zeta"])
    }

    @Test func profileIndexesAreMergedAndThePipelinesWin() throws {
        let profileText = """
            version: 1
            name: with-indexes
            default_runtime: local
            runtimes:
              local: {kind: llama-server, url: "http://127.0.0.1:8080"}
            models:
              small: {runtime: local, footprint: 430MB}
              big: {runtime: local, footprint: 2GB}
            indexes:
              shared: {sources: "notes/*.md", embed: {model: small}}
              docs: {sources: "profile-docs/*.md", embed: {model: big}}
            """
        let document = ProfileDecoder.decode(SourceFile(path: "/etc/baton/profiles/with-indexes.yaml", text: profileText), environment: [:])
        let (profile, diagnostics) = ProfileResolver.resolve(document) { _ in nil }
        #expect(diagnostics.isEmpty, "\(diagnostics)")
        let result = Self.compile(
            """
            version: 1
            indexes:
              docs: {sources: "docs/*.md", embed: {model: small}}
            stages:
              a: {retrieve: {index: docs, query: q}}
              b: {retrieve: {index: shared, query: q}}
              say: {model: small, prompt: "{{stages.a.output}} {{stages.b.output}}"}
            """, path: "project/p.yaml", profile: profile)
        #expect(result.diagnostics.isEmpty, "\(result.diagnostics)")
        let indexes = try #require(result.plan?.indexes)
        #expect(indexes.map(\.name) == ["docs", "shared"])
        // The pipeline's `docs` wins, rooted at the pipeline's folder; the profile's `shared` is rooted at the profile's.
        #expect(indexes[0].sources == ["docs/*.md"] && indexes[0].root == "/srv/project/project")
        #expect(indexes[1].root == "/etc/baton/profiles" && indexes[1].model.runtime == "local")
    }

    @Test func anExtendingProfilesIndexReplacesTheParentsOfItsName() throws {
        let parent = """
            version: 1
            name: base
            runtimes: {local: {kind: echo}}
            default_runtime: local
            models: {small: {}}
            indexes:
              docs: {sources: "a/*.md", embed: {model: small}}
              notes: {sources: "n/*.md", embed: {model: small}}
            """
        let child = """
            version: 1
            name: child
            extends: base
            indexes:
              docs: {sources: "b/*.md", embed: {model: small}}
            """
        let parentDocument = ProfileDecoder.decode(SourceFile(path: "/p/base.yaml", text: parent), environment: [:])
        let childDocument = ProfileDecoder.decode(SourceFile(path: "/c/child.yaml", text: child), environment: [:])
        let (profile, diagnostics) = ProfileResolver.resolve(childDocument) { $0 == "base" ? parentDocument : nil }
        #expect(diagnostics.isEmpty, "\(diagnostics)")
        let indexes = try #require(profile?.spec.indexes)
        #expect(indexes.map(\.name) == ["docs", "notes"])
        #expect(indexes[0].sources == ["b/*.md"] && indexes[0].folder == "/c")
        #expect(indexes[1].folder == "/p")
    }

    @Test func aCalledPipelinesRetrievalIsInlinedWithItsIndex() throws {
        let called = """
            version: 1
            name: lookup
            inputs: {q: {}}
            indexes:
              docs: {sources: "*.md", embed: {model: small}}
            outputs: [answer]
            stages:
              find: {retrieve: {index: docs, query: "{{inputs.q}}"}}
              answer: {model: small, prompt: "{{stages.find.output}}", output: {format: json}, cite: find}
            """
        var compiler = PipelineCompiler(profile: InvalidFixtureTests.testProfile())
        compiler.currentDirectory = Self.currentDirectory
        compiler.resolvePipeline = { reference, _ throws(SourceReadError) in
            guard reference == "lookup" else { throw .notFound }
            return SourceFile(path: "lib/lookup.yaml", text: called)
        }
        let result = compiler.compile(
            SourceFile(
                path: "main.yaml",
                text: """
                    version: 1
                    stages:
                      ask: {uses: lookup, with: {q: hello}}
                    """))
        #expect(result.diagnostics.isEmpty, "\(result.diagnostics)")
        let plan = try #require(result.plan)
        #expect(plan.indexes?.map(\.root) == ["/srv/project/lib"])
        #expect(plan.stage(named: "ask/find")?.retrieve?.index == "docs")
        #expect(plan.stage(named: "ask/answer")?.cite == "ask/find")
    }

    @Test func aCalledPipelinesIndexClashingWithOneOfThisPipelineIsRefusedAtTheCall() throws {
        let called = """
            version: 1
            name: lookup
            indexes:
              docs: {sources: "*.md", embed: {model: small}}
            stages:
              find: {retrieve: {index: docs, query: q}}
            """
        var compiler = PipelineCompiler(profile: InvalidFixtureTests.testProfile())
        compiler.currentDirectory = Self.currentDirectory
        compiler.resolvePipeline = { _, _ throws(SourceReadError) in SourceFile(path: "lib/lookup.yaml", text: called) }
        let result = compiler.compile(
            SourceFile(
                path: "main.yaml",
                text: """
                    version: 1
                    indexes:
                      docs: {sources: "*.txt", embed: {model: small}}
                    stages:
                      mine: {retrieve: {index: docs, query: q}}
                      ask: {uses: lookup, needs: [mine]}
                    """))
        let conflict = try #require(result.diagnostics.first { $0.code == "index-conflict" }, "\(result.diagnostics)")
        #expect(conflict.location == SourceLocation(file: "main.yaml", line: 6, column: 15))
        #expect(conflict.message.contains("called pipeline 'lookup' declares index 'docs' differently"))
    }

    @Test func theCodableFormOfAPlanWithRetrievalRoundTrips() throws {
        let text = try String(contentsOfFile: Fixtures.path(Self.fixture), encoding: .utf8)
        let plan = try #require(Self.compile(text, path: Self.fixture).plan)
        let decoded = try JSONDecoder().decode(ExecutionPlan.self, from: try JSONEncoder().encode(plan))
        #expect(decoded.indexes == plan.indexes)
        #expect(decoded.stages.map(\.retrieve) == plan.stages.map(\.retrieve))
        #expect(decoded.stages.map(\.cite) == plan.stages.map(\.cite))
    }

    @Test func indexPlanningResolvesAProfileIndexOnItsOwn() {
        // What `baton index NAME --profile P` plans without a pipeline.
        let profile = InvalidFixtureTests.testProfile().spec
        let spec = IndexSpec(name: "n", sources: ["*.md"], model: "small", path: "../idx/n.sqlite", folder: "conf")
        let plan = IndexPlanning.plan(spec, profile: profile, currentDirectory: "/home/u/")
        #expect(plan.root == "/home/u/conf" && plan.path == "/home/u/idx/n.sqlite")
        #expect(plan.model == ResolvedModel(name: "small", runtime: "local", footprint: ByteCount(parsing: "430MB")))
        #expect(IndexPlanning.resolveModel("openai:text-embedding-3-small", profile: profile).runtime == "openai")
        #expect(IndexPlanning.resolveModel("unknown", profile: profile).runtime == "ollama", "the default runtime places it")
    }
}
