import BatonEngine
import BatonSpec
import BatonTestSupport
import Foundation
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// Model discovery against the Ollama stand-in and a silent listener: what each runtime reports joins the
/// inventory with an estimated footprint; a runtime that does not answer is unknown, not an error.
@Suite struct DiscoveryTests {
    /// The deadline of a discovery that must succeed: it only bounds a hang. At the start of the whole suite every test
    /// starts at once on two cores and a trivial test waits seconds for a thread (2026-12-07: 9 s), so 5 s was missed.
    static let generous: Double = 30
    static func profile(ollama: String, llama: String = "http://127.0.0.1:1", extra: String = "", numCtx: Int = 2048) throws
        -> ResolvedProfile
    {
        let text = """
            version: 1
            name: found
            memory_budget: 4GB
            default_runtime: ollama
            runtimes:
              ollama: {kind: ollama, url: "\(ollama)"}
              local: {kind: llama-server, url: "\(llama)"}
              openai: {kind: openai, url: "https://api.openai.com/v1"}
            models:
              tiny:latest: {runtime: ollama, capabilities: {reasoning: 3}}
              ghost: {runtime: ollama, footprint: 1GB, capabilities: {reasoning: 9}}
            \(extra)
            roles:
              planner: {models: [ghost, "tiny:latest"]}
            defaults: {num_ctx: \(numCtx)}
            """
        let document = ProfileDecoder.decode(SourceFile(path: "found.yaml", text: text), environment: [:])
        let (profile, diagnostics) = ProfileResolver.resolve(document) { _ in nil }
        #expect(!diagnostics.hasErrors, "\(diagnostics)")
        return try #require(profile)
    }

    static let models = [
        OllamaStandIn.Model("tiny", diskBytes: 800_000_000, memoryBytes: 1_000_000_000),
        OllamaStandIn.Model(
            "coder:7b", diskBytes: 4_700_000_000, contextLength: 32768, family: "qwen2", parameterSize: "7.6B",
            parameterCount: 7_615_616_512, quantization: "Q4_K_M"),
    ]

    @Test(
        "O-A9, O-A3: without num_ctx the estimate uses the 4096 the client sends, not the server's default; a cloud model takes no memory")
    func ollamaDefaultContextAndCloudModels() async throws {
        let models = Self.models + [OllamaStandIn.Model("gpt-oss:120b-cloud")]
        try await OllamaStandIn.with(models: models) { standIn in
            standIn.configure { $0.defaultNumCtx = 32768 }  // what Ollama picks with 24 GB of VRAM
            let text = """
                version: 1
                name: found
                runtimes:
                  ollama: {kind: ollama, url: "\(standIn.baseURL)"}
                """
            let document = ProfileDecoder.decode(SourceFile(path: "found.yaml", text: text), environment: [:])
            let profile = try #require(ProfileResolver.resolve(document) { _ in nil }.0)

            let inventory = await ModelDiscovery.discover(profile: profile, timeout: Self.generous)

            guard case .known(let found) = inventory.runtimes["ollama"] else {
                Issue.record("ollama should be known")
                return
            }
            #expect(found.first { $0.name == "coder:7b" }?.footprint?.contextSize == OllamaClient.defaultNumCtx)
            #expect(found.first { $0.name == "tiny:latest" }?.footprint?.contextSize == OllamaClient.defaultNumCtx)
            let cloud = try #require(found.first { $0.name == "gpt-oss:120b-cloud" })
            #expect(cloud.footprint == nil)
        }
    }

    @Test func ollamaModelsJoinWithTheirFactsAndAnEstimatedFootprint() async throws {
        try await OllamaStandIn.with(models: Self.models) { standIn in
            // Given one model loaded (its size is Ollama's own report) and one not
            standIn.preload("coder:7b", numCtx: 4096)
            let profile = try Self.profile(ollama: standIn.baseURL)

            // When
            let inventory = await ModelDiscovery.discover(profile: profile, timeout: Self.generous)

            // Then
            guard case .known(let found) = inventory.runtimes["ollama"] else {
                Issue.record("ollama should be known: \(String(describing: inventory.runtimes["ollama"]))")
                return
            }
            #expect(found.map(\.name) == ["coder:7b", "tiny:latest"])
            let tiny = try #require(found.last)
            #expect(tiny.family == "llama" && tiny.parameterSize == "1.2B" && tiny.quantization == "Q4_K_M")
            #expect(tiny.parameterCount == 1_235_814_400 && tiny.contextLength == 8192 && tiny.fileSize == 800_000_000)
            // 800 MB on disk + f16 KV cache of 16 layers x 8 KV heads x (64 + 64) x 2 bytes x 2048 tokens
            // (67,108,864) + 15 % for buffers (130,066,329)
            #expect(tiny.footprint == FootprintEstimate(bytes: ByteCount(bytes: 997_175_193), source: .metadata, contextSize: 2048))
            let coder = try #require(found.first)
            // The stand-in's resident size: memoryBytes (1 GB default) + 0 per token
            #expect(coder.footprint == FootprintEstimate(bytes: ByteCount(bytes: 1_000_000_000), source: .runtime, contextSize: 4096))
            #expect(coder.family == "qwen2" && coder.contextLength == 32768)
            // Cloud runtimes are not asked; an unreachable llama-server is unknown, with the reason
            #expect(inventory.runtimes["openai"] == nil)
            guard case .unknown(let reason) = inventory.runtimes["local"] else {
                Issue.record("local should be unknown")
                return
            }
            #expect(reason.contains("127.0.0.1:1"), "\(reason)")
            // Discovery asked for each model's metadata
            #expect(standIn.requests.filter { $0.path == "/api/show" }.count == 2)
        }
    }

    @Test func theCompilerMapsRolesToWhatOllamaHas() async throws {
        try await OllamaStandIn.with(models: Self.models) { standIn in
            let profile = try Self.profile(ollama: standIn.baseURL)
            let inventory = await ModelDiscovery.discover(profile: profile, timeout: Self.generous)
            let pipeline = SourceFile(path: "p.yaml", text: "version: 1\nstages:\n  plan: {role: planner, prompt: Plan}\n")

            let plan = try #require(PipelineCompiler(profile: profile, inventory: inventory).compile(pipeline).plan)
            let offline = try #require(PipelineCompiler(profile: profile).compile(pipeline).plan)

            // 'ghost' is not installed; 'tiny:latest' is, and fits 4 GB by its estimate
            #expect(plan.stages[0].models.map(\.description) == ["ollama:tiny:latest"])
            #expect(
                plan.stages[0].modelChoice?.explanation
                    == "ghost skipped: not installed on ollama; took tiny:latest (2nd preference of role 'planner' of profile 'found')")
            #expect(offline.stages[0].models.map(\.description) == ["ollama:ghost", "ollama:tiny:latest"])
        }
    }

    @Test func aRuntimeThatNeverAnswersIsUnknownAfterTheTimeout() async throws {
        // Given a socket that accepts connections (the kernel's backlog) but never answers
        let listener = try SilentListener()
        defer { listener.close() }
        let profile = try Self.profile(ollama: "http://127.0.0.1:\(listener.port)")

        // When
        let inventory = await ModelDiscovery.discover(profile: profile, timeout: 0.5)

        // Then
        guard case .unknown(let reason) = inventory.runtimes["ollama"] else {
            Issue.record("ollama should be unknown: \(String(describing: inventory.runtimes["ollama"]))")
            return
        }
        #expect(reason.contains("did not answer"), "\(reason)")
    }

    @Test func registryFilesAndMeasurementsJoinTheInventory() async throws {
        // Given a registry entry whose GGUF file is on disk, and a footprint measured at an earlier load
        let path = NSTemporaryDirectory() + "baton-discovery-\(UUID().uuidString).gguf"
        try FootprintTests.gguf([
            ("general.architecture", 8, "llama"), ("general.size_label", 8, "1B"), ("general.file_type", 4, UInt32(15)),
            ("llama.context_length", 4, UInt32(4096)), ("llama.block_count", 4, UInt32(4)),
            ("llama.embedding_length", 4, UInt32(256)), ("llama.attention.head_count", 4, UInt32(4)),
            ("llama.attention.head_count_kv", 4, UInt32(2)),
        ]).write(to: URL(fileURLWithPath: path))
        defer { try? FileManager.default.removeItem(atPath: path) }
        let profile = try Self.profile(ollama: "http://127.0.0.1:1", extra: "  onfile: {runtime: local, file: \"\(path)\"}")
        let measured = [ModelKey(runtime: "ollama", name: "ghost"): Int64(700_000_000)]

        // When
        let inventory = await ModelDiscovery.discover(profile: profile, measured: measured, timeout: 2)

        // Then
        let file = try #require(inventory.files["onfile"])
        #expect(file.family == "llama" && file.parameterSize == "1B" && file.quantization == "Q4_K_M" && file.contextLength == 4096)
        let estimate = try GGUFInfo.read(path).estimatedFootprint(contextSize: 2048)
        #expect(file.footprint == FootprintEstimate(bytes: ByteCount(bytes: estimate), source: .gguf, contextSize: 2048))
        #expect(
            inventory.footprint(of: "ghost", runtime: "ollama", kind: .ollama, entry: profile.spec.model(named: "ghost"))
                == FootprintEstimate(bytes: ByteCount(bytes: 700_000_000), source: .measured))
        #expect(
            inventory.footprint(of: "onfile", runtime: "local", kind: .llamaServer, entry: profile.spec.model(named: "onfile"))?.source
                == .gguf)
    }

    @Test func theListingJoinsRegistryAndDiscoveredModelsWithTheirRoles() async throws {
        try await OllamaStandIn.with(models: Self.models) { standIn in
            let profile = try Self.profile(ollama: standIn.baseURL)
            let inventory = await ModelDiscovery.discover(profile: profile, timeout: Self.generous)

            let listing = ModelListing.make(profile: profile, inventory: inventory)

            try #require(
                listing.rows.map { "\($0.runtime ?? "-"):\($0.name)" } == ["ollama:coder:7b", "ollama:ghost", "ollama:tiny:latest"],
                "\(inventory)")
            let coder = listing.rows[0]
            // 4.7 GB on disk plus its KV cache and buffers is over the 4 GB budget
            #expect(!coder.inRegistry && coder.capabilities.isEmpty && coder.fits == false && coder.availability.installedText == "yes")
            let ghost = listing.rows[1]
            #expect(ghost.availability == .missing && ghost.listedBy == ["planner"] && ghost.chosenBy.isEmpty)
            let tiny = listing.rows[2]
            #expect(tiny.chosenBy == ["planner"] && tiny.listedBy == ["planner"] && tiny.footprint?.source == .metadata)
        }
    }
}

/// The real llama-server router (Gemma 3 270M): `GET /models` names each model's GGUF file, whose header
/// gives its facts and footprint. No model is loaded.
@Suite(.serialized, .enabled(if: !LlamaRouter.skipped, "BATON_SKIP_INTEGRATION=1"))
struct LlamaDiscoveryTests {
    static let generous = DiscoveryTests.generous
    @Test func routerModelsAreDescribedFromTheirGGUFFiles() async throws {
        try await LlamaRouter.with(names: ["planner", "critic"]) { router in
            let profile = try DiscoveryTests.profile(
                ollama: "http://127.0.0.1:1", llama: router.url,
                extra: "  ghost-local: {runtime: local, footprint: 300MB}\n  planner: {runtime: local, footprint: 430MB}")

            // When
            let inventory = await ModelDiscovery.discover(profile: profile, timeout: Self.generous)

            // Then both names are known, read from the file the router's arguments name
            guard case .known(let found) = inventory.runtimes["local"] else {
                Issue.record("local should be known: \(String(describing: inventory.runtimes["local"]))")
                return
            }
            #expect(found.map(\.name) == ["critic", "planner"])
            let planner = try #require(found.last)
            let path = try #require(planner.path)
            #expect(path.hasSuffix("/models/planner.gguf"))
            #expect(planner.family == "gemma3" && planner.quantization == "Q4_K_M" && planner.parameterSize == "270M")
            // Gemma 3 270M records no general.parameter_count: the tensors are counted (llama-server's n_params says the same)
            #expect(planner.parameterCount == 268_098_176)
            #expect(planner.contextLength == 32768 && planner.fileSize == 253_113_024)
            // The router runs it at --ctx-size 2048: the estimate is at that context
            let estimate = try GGUFInfo.read(path).estimatedFootprint(contextSize: 2048)
            #expect(planner.footprint == FootprintEstimate(bytes: ByteCount(bytes: estimate), source: .gguf, contextSize: 2048))

            // And role mapping skips what the router does not have
            let roles = ResolvedProfile(
                spec: {
                    var spec = profile.spec
                    spec.roles = [
                        RoleSpec(
                            name: "planner", models: [ModelReference("ghost-local"), ModelReference("planner")], settings: StageSettings())
                    ]
                    return spec
                }(), chain: profile.chain)
            let pipeline = SourceFile(path: "p.yaml", text: "version: 1\nstages:\n  plan: {role: planner, prompt: Plan}\n")
            let plan = try #require(PipelineCompiler(profile: roles, inventory: inventory).compile(pipeline).plan)
            #expect(plan.stages[0].models.map(\.description) == ["local:planner"])
            #expect(plan.stages[0].modelChoice?.skipped == [SkippedModel(model: "ghost-local", reason: "not installed on local")])
        }
    }
}

/// The silent listener could not listen.
struct ListenError: Error, CustomStringConvertible {
    var description: String { "cannot listen on 127.0.0.1" }
}

/// A TCP socket on 127.0.0.1 that listens but never accepts or answers.
final class SilentListener: @unchecked Sendable {
    let port: Int
    private let descriptor: Int32

    init() throws {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard fd >= 0, bound == 0, listen(fd, 16) == 0 else { throw ListenError() }
        var actual = sockaddr_in()
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &actual) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        descriptor = fd
        port = Int(UInt16(bigEndian: actual.sin_port))
    }

    func close() {
        #if canImport(Glibc)
            _ = Glibc.close(descriptor)
        #else
            _ = Darwin.close(descriptor)
        #endif
    }
}
