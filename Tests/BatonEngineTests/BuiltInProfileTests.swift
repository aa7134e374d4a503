import BatonEngine
import BatonSpec
import BatonTestSupport
import Foundation
import Testing

/// The built-in default profile, the echo layer of `run --runtime echo`, the installed search path, and what
/// `baton init` writes.
@Suite struct BuiltInProfileTests {
    /// The built-in default profile resolved as a file would be.
    static func builtIn(_ environment: [String: String] = [:]) -> (profile: ResolvedProfile?, diagnostics: [Diagnostic]) {
        ProfileResolver.resolve(BuiltInProfiles.defaultDocument(environment: environment)) { _ in nil }
    }

    static func compile(_ text: String, profile: ResolvedProfile?, inventory: ModelInventory? = nil) -> CompileResult {
        PipelineCompiler(profile: profile, inventory: inventory).compile(SourceFile(path: "p.yaml", text: text))
    }

    /// A folder removed when the value goes away.
    final class Folder: @unchecked Sendable {
        let path = NSTemporaryDirectory() + "baton-builtin-\(UUID().uuidString.prefix(8))"
        init() throws { try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true) }
        deinit { try? FileManager.default.removeItem(atPath: path) }

        func write(_ relative: String, _ text: String) throws {
            let full = path + "/" + relative
            try FileManager.default.createDirectory(atPath: (full as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            try text.write(toFile: full, atomically: true, encoding: .utf8)
        }

        func read(_ relative: String) -> String? { try? String(contentsOfFile: path + "/" + relative, encoding: .utf8) }
    }

    // MARK: - The built-in default profile

    @Test func theBuiltInProfileCompilesLikeAFileWithOllamaBudgetAutoAndRolesByCapability() throws {
        let (profile, diagnostics) = Self.builtIn()
        #expect(diagnostics.isEmpty, "\(diagnostics.map(\.message))")
        let spec = try #require(profile?.spec)
        #expect(spec.name == "default")
        #expect(spec.memoryBudget?.description == "auto")
        #expect(spec.runtime(named: "ollama")?.url == "http://127.0.0.1:11434")
        #expect(!spec.runtimes.contains { $0.kind == .llamaServer }, "llama-server only when BATON_LLAMA_URL is set")
        for role in ["planner", "critic", "executor", "writer", "researcher"] {
            let mapped = try #require(spec.role(named: role))
            #expect(mapped.models == nil, "role \(role) maps by capability, not by a list")
            #expect(spec.models.contains { $0.capabilities[mapped.effectiveCapability ?? ""] != nil }, "role \(role)")
        }
    }

    @Test func theBuiltInProfileGainsLlamaServerWhenBatonLlamaURLIsSetAndFollowsOllamaHost() throws {
        let (profile, diagnostics) = Self.builtIn(["BATON_LLAMA_URL": "http://127.0.0.1:8091", "OLLAMA_HOST": "0.0.0.0:11500"])
        #expect(diagnostics.isEmpty, "\(diagnostics.map(\.message))")
        let spec = try #require(profile?.spec)
        #expect(spec.runtime(named: "local")?.kind == .llamaServer)
        #expect(spec.runtime(named: "local")?.url == "http://127.0.0.1:8091")
        #expect(spec.runtime(named: "ollama")?.url == "http://0.0.0.0:11500")
        // BATON_OLLAMA_URL, which the shipped profiles read, wins over OLLAMA_HOST.
        let explicit = Self.builtIn(["BATON_OLLAMA_URL": "http://10.0.0.9:1", "OLLAMA_HOST": "0.0.0.0"]).profile
        #expect(explicit?.spec.runtime(named: "ollama")?.url == "http://10.0.0.9:1")
    }

    /// OLLAMA_HOST read as ollama/ollama envconfig/config.go (getOllamaHost, at 000ce02) reads it.
    @Test(
        arguments: [
            (nil, "http://127.0.0.1:11434"),
            ("", "http://127.0.0.1:11434"),
            ("0.0.0.0", "http://0.0.0.0:11434"),
            ("example.com:1234", "http://example.com:1234"),
            ("http://10.0.0.2", "http://10.0.0.2:80"),
            ("https://ollama.example.com/", "https://ollama.example.com:443"),
            (":8000", "http://127.0.0.1:8000"),
            ("  \"localhost:11434\"  ", "http://localhost:11434"),
            ("[::1]:5000", "http://[::1]:5000"),
            ("::1", "http://[::1]:11434"),
            ("host:99999", "http://host:11434"),
        ] as [(String?, String)])
    func ollamaHostIsReadAsOllamaReadsIt(value: String?, url: String) {
        #expect(BuiltInProfiles.ollamaURL(host: value) == url)
    }

    @Test func rolesTakeTheBestInstalledModelForTheirCapabilityThatFits() throws {
        let profile = try #require(Self.builtIn().profile)
        let installed = ["gemma3:4b", "qwen2.5:7b-instruct", "gemma3:27b"].map { DiscoveredModel(name: $0, runtime: "ollama") }
        let inventory = ModelInventory(runtimes: ["ollama": .known(installed)], autoBudget: ByteCount(parsing: "12GB"))
        let result = Self.compile(ProjectScaffold.starterPipeline, profile: profile, inventory: inventory)
        #expect(result.diagnostics.isEmpty, "\(result.diagnostics.map(\.message))")
        let models = Dictionary(uniqueKeysWithValues: (result.plan?.stages ?? []).map { ($0.name, $0.models.first?.name) })
        // gemma3:27b scores higher but needs 18.4 GB, more than the 12 GB budget.
        #expect(models["plan"] == "qwen2.5:7b-instruct")
        #expect(models["review"] == "qwen2.5:7b-instruct")
        #expect(models["write"] == "gemma3:4b")
    }

    @Test func everyShippedPipelineCompilesWithTheBuiltInProfile() throws {
        let profile = try #require(Self.builtIn().profile)
        let workspace = Fixtures.repositoryWorkspace()
        for entry in workspace.pipelines() {
            let result = try workspace.compile(path: entry.path, profile: profile)
            #expect(!result.diagnostics.hasErrors, "\(entry.path): \(result.diagnostics.map(\.message))")
        }
    }

    // MARK: - The workspace

    @Test func defaultIsTheBuiltInProfileOnlyWhenNoFileOfThatNameIsOnThePath() throws {
        let folder = try Folder()
        try folder.write("profiles/child.yaml", "version: 1\nextends: default\nmemory_budget: 4GB\n")
        let workspace = Workspace(
            pipelineDirectories: [], profileDirectories: ["profiles"], environment: [:], currentDirectory: folder.path)
        #expect(workspace.profileName(requested: nil) == "default")
        #expect(workspace.usesBuiltInDefault(requested: nil))
        let loaded = try workspace.loadProfile("default")
        #expect(loaded.profile?.spec.runtime(named: "ollama") != nil)
        #expect(loaded.sources.keys.contains(BuiltInProfiles.defaultPath))
        // `extends: default` takes the built-in profile too.
        let child = try workspace.loadProfile("child")
        #expect(child.diagnostics.isEmpty, "\(child.diagnostics.map(\.message))")
        #expect(child.profile?.chain == ["child", "default"])
        #expect(child.profile?.spec.memoryBudget?.description == "4 GB")

        try folder.write("profiles/default.yaml", "version: 1\ndescription: mine\nruntimes:\n  echo: {kind: echo}\n")
        #expect(!workspace.usesBuiltInDefault(requested: nil))
        #expect(try workspace.loadProfile("default").profile?.spec.description == "mine")
    }

    @Test func theInstalledFilesAreSearchedAfterTheUsersOwn() throws {
        let folder = try Folder()
        try folder.write("prefix/share/baton/pipelines/shipped.yaml", "version: 1\n")
        try folder.write("prefix/share/baton/pipelines/both.yaml", "version: 1\n")
        try folder.write("prefix/share/baton/profiles/shipped-profile.yaml", "version: 1\n")
        try folder.write("project/pipelines/both.yaml", "version: 1\n")
        try folder.write("prefix/bin/baton", "")
        // A link to the installed binary finds the installed files.
        try FileManager.default.createSymbolicLink(atPath: folder.path + "/link", withDestinationPath: folder.path + "/prefix/bin/baton")
        let environment = ["HOME": folder.path, "XDG_CONFIG_HOME": folder.path + "/config"]
        let share = try #require(Workspace.installedShareDirectory(executable: folder.path + "/link"))
        #expect(URL(fileURLWithPath: share).resolvingSymlinksInPath().path.hasSuffix("/prefix/share/baton"))
        #expect(Workspace.installedShareDirectory(executable: folder.path + "/project/baton") == nil)

        var workspace = Workspace(
            pipelineDirectories: ["pipelines", folder.path + "/config/baton/pipelines"], profileDirectories: ["profiles"],
            environment: environment, currentDirectory: folder.path + "/project", installedDirectory: share)
        #expect(workspace.pipelineSearchPath.last == share + "/pipelines")
        #expect(workspace.pipelines().map(\.name) == ["both", "shipped"])
        #expect(try workspace.pipelinePath("both") == "pipelines/both.yaml", "the user's file hides the shipped one")
        #expect(try workspace.pipelinePath("shipped") == share + "/pipelines/shipped.yaml")
        #expect(workspace.profiles().map(\.name) == ["shipped-profile"])
        // `validate` with no paths checks the user's folders only.
        #expect(!workspace.pipelineDirectories.contains { $0.hasPrefix(share) })
        // An explicit search path is the whole path.
        workspace.environment["BATON_PIPELINE_PATH"] = "pipelines"
        #expect(workspace.pipelines().map(\.name) == ["both"])
        #expect(workspace.profiles().map(\.name) == ["shipped-profile"])
    }

    // MARK: - The echo layer

    @Test func theEchoLayerGivesEveryStageOfAValidPipelineAModel() throws {
        let pipeline = """
            version: 1
            stages:
              plan: {role: planner, prompt: plan}
              poem: {role: poet, needs: [plan], prompt: "{{stages.plan.output}}"}
              named: {model: qwen2.5:14b-instruct, needs: [poem], prompt: "{{stages.poem.output}}"}
            """
        let base = try #require(Self.builtIn().profile)
        #expect(Self.compile(pipeline, profile: base).diagnostics.hasErrors, "without the layer, role 'poet' has no model")
        let layered = BuiltInProfiles.echoLayer(over: base, roles: ["planner", "poet"])
        let result = Self.compile(pipeline, profile: layered)
        #expect(!result.diagnostics.hasErrors, "\(result.diagnostics.map(\.message))")
        let models = Dictionary(uniqueKeysWithValues: (result.plan?.stages ?? []).map { ($0.name, $0.models.first) })
        #expect(models["plan"]??.name == "echo")
        #expect(models["poem"]??.name == "echo")
        #expect(models["poem"]??.runtime == "echo")
        #expect(models["named"]??.name == "qwen2.5:14b-instruct", "a model the stage names is kept (it runs on echo)")
        #expect(layered.chain == ["echo", "default"])

        // A profile's own preferences come first.
        let ci = try #require(try Fixtures.repositoryWorkspace().loadProfile("ci").profile)
        let overCI = Self.compile(pipeline, profile: BuiltInProfiles.echoLayer(over: ci, roles: ["planner", "poet"]))
        #expect(overCI.plan?.stages.first { $0.name == "plan" }?.models.map(\.name) == ["echo-small", "echo"])
    }

    // MARK: - baton init

    @Test func theMachineProfileWithNoRuntimeValidatesTheStarterOnEcho() throws {
        let machine = MachineProfile(runtimes: [], budget: ByteCount(parsing: "12GB")!, host: "box")
        let document = ProfileDecoder.decode(SourceFile(path: "default.yaml", text: machine.text()), environment: [:])
        let (profile, diagnostics) = ProfileResolver.resolve(document) { _ in nil }
        #expect(diagnostics.isEmpty, "\(diagnostics.map(\.message))")
        #expect(profile?.spec.memoryBudget?.description == "12 GB")
        let result = Self.compile(ProjectScaffold.starterPipeline, profile: profile)
        #expect(result.diagnostics.isEmpty, "\(result.diagnostics.map(\.message))")
        #expect(result.plan?.stages.allSatisfy { $0.models.first?.runtime == "echo" } == true)
    }

    @Test func theMachineProfileNamesTheModelsFoundThatFitBestFirst() throws {
        func model(_ name: String, _ gb: String) -> DiscoveredModel {
            DiscoveredModel(
                name: name, runtime: "ollama", contextLength: 32768,
                footprint: FootprintEstimate(bytes: ByteCount(parsing: gb)!, source: .metadata))
        }
        let ollama = MachineProfile.Runtime(
            name: "ollama", kind: .ollama, url: "http://127.0.0.1:11434",
            models: [
                model("gemma3:4b", "3.9GB"), model("qwen2.5:7b-instruct", "5.5GB"), model("mystery:3b", "2GB"), model("gemma3:27b", "18GB"),
            ])
        let machine = MachineProfile(runtimes: [ollama], budget: ByteCount(parsing: "12GB")!, host: "box")
        let text = machine.text()
        let (profile, diagnostics) = ProfileResolver.resolve(
            ProfileDecoder.decode(SourceFile(path: "d.yaml", text: text), environment: [:])
        ) { _ in nil }
        #expect(diagnostics.isEmpty, "\(diagnostics.map(\.message))\n\(text)")
        let spec = try #require(profile?.spec)
        #expect(spec.runtime(named: "ollama")?.url == "http://127.0.0.1:11434")
        #expect(spec.model(named: "gemma3:27b") == nil, "18 GB does not fit 12 GB")
        #expect(spec.model(named: "qwen2.5:7b-instruct")?.capabilities["reasoning"] == 6)
        #expect(spec.role(named: "planner")?.models?.map(\.text) == ["qwen2.5:7b-instruct", "gemma3:4b", "mystery:3b"])
        #expect(spec.role(named: "writer")?.models?.map(\.text) == ["gemma3:4b", "qwen2.5:7b-instruct", "mystery:3b"])
        let result = Self.compile(ProjectScaffold.starterPipeline, profile: profile)
        #expect(result.diagnostics.isEmpty, "\(result.diagnostics.map(\.message))")
    }

    @Test func initNeverOverwritesAFile() throws {
        let folder = try Folder()
        try folder.write("profiles/default.yaml", "mine\n")
        let scaffold = ProjectScaffold.standard(profile: MachineProfile(runtimes: [], budget: ByteCount(bytes: 1 << 30), host: "box"))
        let first = try scaffold.write(to: folder.path)
        #expect(
            first.map(\.path) == [
                "pipelines/starter.yaml", "pipelines/starter.test.yaml", "profiles/default.yaml", ".gitignore",
                ".github/workflows/baton.yml",
            ])
        #expect(first.map(\.outcome) == [.written, .written, .skipped, .written, .written])
        #expect(folder.read("profiles/default.yaml") == "mine\n")
        try folder.write("pipelines/starter.yaml", "edited\n")
        let second = try scaffold.write(to: folder.path)
        #expect(second.allSatisfy { $0.outcome == .skipped })
        #expect(folder.read("pipelines/starter.yaml") == "edited\n")
        #expect(folder.read(".github/workflows/baton.yml")?.contains("baton validate --strict --format github") == true)
        #expect(folder.read(".github/workflows/baton.yml")?.contains("baton test --junit baton-junit.xml") == true)
    }
}
