import BatonEngine
import BatonSpec
import BatonTestSupport
import Foundation
import Testing

/// Footprints: measured (and remembered), from the registry, estimated from a GGUF header; and loads the
/// machine cannot hold.
@Suite struct FootprintTests {
    /// A GGUF header with the given metadata (no tensors).
    static func gguf(_ metadata: [(String, UInt32, Any)]) -> Data {
        var data = Data("GGUF".utf8)
        func u32(_ value: UInt32) { withUnsafeBytes(of: value.littleEndian) { data.append(contentsOf: $0) } }
        func u64(_ value: UInt64) { withUnsafeBytes(of: value.littleEndian) { data.append(contentsOf: $0) } }
        func string(_ text: String) {
            u64(UInt64(text.utf8.count))
            data.append(contentsOf: Array(text.utf8))
        }
        u32(3)
        u64(0)
        u64(UInt64(metadata.count))
        for (key, type, value) in metadata {
            string(key)
            u32(type)
            switch value {
            case let text as String: string(text)
            case let number as UInt32: u32(number)
            case let number as UInt64: u64(number)
            default: break
            }
        }
        return data
    }

    @Test func aGGUFHeaderGivesTheKVCacheAndAFootprint() throws {
        let path = NSTemporaryDirectory() + "baton-\(UUID().uuidString).gguf"
        defer { try? FileManager.default.removeItem(atPath: path) }
        var file = Self.gguf([
            ("general.architecture", 8, "llama"), ("llama.block_count", 4, UInt32(32)),
            ("llama.context_length", 4, UInt32(8192)), ("llama.embedding_length", 4, UInt32(4096)),
            ("llama.attention.head_count", 4, UInt32(32)), ("llama.attention.head_count_kv", 4, UInt32(8)),
            ("general.parameter_count", 10, UInt64(8_030_000_000)),
        ])
        file.append(Data(count: 1_000_000))  // stands for the weights
        try file.write(to: URL(fileURLWithPath: path))

        let info = try GGUFInfo.read(path)

        #expect(info.architecture == "llama")
        #expect(info.blockCount == 32 && info.headCountKV == 8 && info.contextLength == 8192)
        #expect(info.parameterCount == 8_030_000_000)
        // 32 layers x 8192 tokens x 8 KV heads x (128 + 128) dims x 2 bytes = 1 GiB, as for Llama 3 8B.
        #expect(info.kvCacheBytes(contextSize: 8192) == 1_073_741_824)
        #expect(info.estimatedFootprint(contextSize: 8192) == info.fileSize + 1_073_741_824 + (info.fileSize + 1_073_741_824) * 15 / 100)
        #expect(throws: GGUFError.self) { try GGUFInfo.read("/etc/hostname") }
    }

    @Test(.enabled(if: ProcessInfo.processInfo.environment["BATON_GEMMA_GGUF"] != nil, "scripts/test.sh sets BATON_GEMMA_GGUF"))
    func theRealGemmaFileIsEstimatedCloseToWhatLlamaServerUses() throws {
        let info = try GGUFInfo.read(ProcessInfo.processInfo.environment["BATON_GEMMA_GGUF"]!)
        #expect(info.architecture == "gemma3")
        #expect(info.blockCount == 18 && info.contextLength == 32768)
        let estimate = info.estimatedFootprint(contextSize: 2048)
        #expect(estimate > 380_000_000 && estimate < 480_000_000, "about 430 MB resident was seen: \(estimate)")
    }

    /// A runtime whose models the executor loads; loads report a measured size.
    final class ManagedRuntime: LLMRuntime, ModelManaging, RuntimeProvider, @unchecked Sendable {
        let measured: Int64
        private let lock = NSLock()
        private var loaded: Set<String> = []
        private(set) var loads = 0

        init(measured: Int64) { self.measured = measured }

        func runtime(for model: ResolvedModel, snapshot: RunSnapshot) throws -> any LLMRuntime { self }
        func residentModels() async throws -> [ResidentModel] {
            lock.withLock { loaded.map { ResidentModel(name: $0, bytes: measured) } }
        }
        func load(_ model: String, settings: StageSettings) async throws -> LoadReport {
            lock.withLock {
                loaded.insert(model)
                loads += 1
            }
            return LoadReport(seconds: 0.01, measuredBytes: measured)
        }
        func unload(_ model: String) async throws { _ = lock.withLock { loaded.remove(model) } }
        func generate(_ request: GenerationRequest) -> AsyncThrowingStream<GenerationEvent, any Error> {
            AsyncThrowingStream { continuation in
                continuation.yield(.token("ok"))
                continuation.yield(.finished(GenerationUsage(promptTokens: 1, outputTokens: 1)))
                continuation.finish()
            }
        }
    }

    static let pipeline = """
        version: 1
        memory_budget: 4GB
        stages:
          a: {model: m, prompt: A}
        """

    @Test func measuredFootprintsAreRememberedForLaterRunsAndPlans() async throws {
        let store = try RunStore.inMemory()
        let runtime = ManagedRuntime(measured: 1_500_000_000)
        let plan = try snapshot(Self.pipeline)
        let outcome = try await Executor(store: store, runtimes: runtime).start(plan, inputs: [:], claim: .current())
        guard case .completed = outcome else {
            Issue.record("\(outcome)")
            return
        }

        let measured = try store.measuredFootprints()
        let key = ModelKey(runtime: "?", name: "m")
        #expect(measured == [key: 1_500_000_000])
        let schedule = try LoadSchedule.make(plan.plan, measured: measured)
        #expect(schedule.rows.first?.footprint == 1_500_000_000)
        #expect(schedule.unknownFootprints.isEmpty)
    }

    @Test func aLoadTheMachineCannotHoldIsRefusedBeforeTheRuntimeTries() async throws {
        let store = try RunStore.inMemory()
        try store.saveFootprint(runtime: "?", model: "m", bytes: 3_000_000_000)
        let runtime = ManagedRuntime(measured: 3_000_000_000)
        var executor = Executor(store: store, runtimes: runtime)
        executor.machine = { MachineMemory(total: 16_000_000_000, available: 1_000_000_000) }

        let outcome = try await executor.start(try snapshot(Self.pipeline), inputs: [:], claim: .current())

        guard case .failed(_, let reason, _) = outcome else {
            Issue.record("\(outcome)")
            return
        }
        #expect(
            reason
                == "stage 'a' failed to load its model: model '?:m' needs 3 GB but the machine has 1 GB available; close other programs or choose a smaller model"
        )
        #expect(runtime.loads == 0)
    }
}
