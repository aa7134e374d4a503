import BatonSpec
import Foundation

/// Finds the models a profile can use: asks each Ollama and llama-server runtime what it has, reads the
/// GGUF header of each registry entry with a `file:`, and gathers footprints measured at earlier loads.
///
/// Runtimes are asked concurrently, each within a short timeout. A runtime that does not answer is not an
/// error: its models are ``RuntimeModels/unknown(_:)`` with the reason, and role mapping then treats its
/// models as available.
public enum ModelDiscovery {
    /// Seconds each runtime gets to answer everything discovery asks it.
    public static let defaultTimeout = 3.0

    /// What the runtimes and files of `profile` say, for the compiler and `baton models`.
    ///
    /// - Parameters:
    ///   - measured: footprints from the run database (``RunStore/measuredFootprints()``).
    ///   - machine: the machine's memory, for what `memory_budget: auto` gives; nil leaves `auto` unchecked.
    ///   - timeout: seconds each runtime gets.
    public static func discover(
        profile: ResolvedProfile, measured: [ModelKey: Int64] = [:], machine: MachineMemory? = nil, timeout: Double = defaultTimeout,
        transport: any HTTPTransport = AsyncHTTPTransport()
    ) async -> ModelInventory {
        let spec = profile.spec
        let contextSize = spec.defaults.numCtx
        var inventory = ModelInventory()
        inventory.autoBudget = machine.map { ByteCount(bytes: $0.autoBudget) }
        for (key, bytes) in measured {
            inventory.measured[ModelInventory.key(runtime: key.runtime, name: key.name)] = ByteCount(bytes: bytes)
        }

        let runtimes = spec.runtimes.filter { $0.kind == .ollama || $0.kind == .llamaServer }
        inventory.runtimes = await withTaskGroup(of: (String, RuntimeModels).self) { group in
            for runtime in runtimes {
                group.addTask {
                    guard let url = runtime.url, !url.isEmpty else {
                        return (runtime.name, .unknown("\(runtime.name) has no url in the profile"))
                    }
                    do {
                        let models = try await withTimeout(timeout, url: url) {
                            switch runtime.kind {
                            case .ollama:
                                try await ollama(runtime.name, url: url, contextSize: contextSize, timeout: timeout, transport: transport)
                            default:
                                try await llamaServer(runtime.name, url: url, transport: transport)
                            }
                        }
                        return (runtime.name, .known(models))
                    } catch {
                        return (runtime.name, .unknown("\(error)"))
                    }
                }
            }
            var result: [String: RuntimeModels] = [:]
            for await (name, models) in group { result[name] = models }
            return result
        }

        for entry in spec.models {
            guard let file = entry.file, let info = try? GGUFInfo.read(file) else { continue }
            inventory.files[entry.name] = describe(
                info, name: entry.name, runtime: entry.runtime ?? spec.defaultRuntime, path: file, contextSize: contextSize)
        }
        return inventory
    }

    /// The model a GGUF header describes, with its footprint estimated at `contextSize` (else its trained
    /// context, else 2048 tokens, as ``FootprintSource`` does).
    static func describe(_ info: GGUFInfo, name: String, runtime: String?, path: String?, contextSize: Int?) -> DiscoveredModel {
        let context = contextSize ?? info.contextLength ?? 2048
        return DiscoveredModel(
            name: name, runtime: runtime, family: info.architecture, parameterCount: info.parameterCount,
            parameterSize: info.sizeLabel ?? info.parameterCount.map(parameterLabel), quantization: info.quantization,
            contextLength: info.contextLength, fileSize: info.fileSize, path: path,
            footprint: FootprintEstimate(
                bytes: ByteCount(bytes: info.estimatedFootprint(contextSize: context)), source: .gguf, contextSize: context))
    }

    /// Ollama: `/api/tags` for what is installed, `/api/ps` for what is loaded (its size is the runtime's
    /// own report), `/api/show` of each model for its context length and the layer shape that sizes its KV
    /// cache. The estimate for a model not loaded: size on disk plus an f16 KV cache at the profile's
    /// `num_ctx` (else ``OllamaClient/defaultNumCtx``, which the client sends when nothing is set, rather
    /// than Ollama's VRAM-dependent default), clamped to the trained context, plus buffers. A loaded
    /// model's footprint is what `/api/ps` reports, with its `context_length`. Cloud models (`remote_host`)
    /// take no memory here: they have no footprint.
    static func ollama(_ runtime: String, url: String, contextSize: Int?, timeout: Double, transport: any HTTPTransport) async throws
        -> [DiscoveredModel]
    {
        let client = OllamaClient(baseURL: url, transport: transport, connectTimeout: timeout)
        let installed = try await client.installedModels()
        let loaded = (try? await client.loadedModels()) ?? []
        let shown = await withTaskGroup(of: (String, OllamaClient.ModelInfo?).self) { group in
            for model in installed {
                group.addTask { (model.name, try? await client.show(model.name)) }
            }
            var result: [String: OllamaClient.ModelInfo] = [:]
            for await (name, info) in group { result[name] = info }
            return result
        }
        return installed.map { model in
            let info = shown[model.name]
            var footprint: FootprintEstimate?
            if let running = loaded.first(where: { OllamaClient.sameModel($0.name, model.name) }), let size = running.size {
                footprint = FootprintEstimate(bytes: ByteCount(bytes: size), source: .runtime, contextSize: running.contextLength)
            } else if model.remoteHost == nil, !OllamaClient.isCloudModel(model.name), let disk = model.sizeOnDisk {
                let context = min(contextSize ?? OllamaClient.defaultNumCtx, info?.contextLength ?? Int.max)
                let shape = GGUFInfo(
                    architecture: info?.architecture, parameterCount: info?.parameterCount, contextLength: info?.contextLength,
                    blockCount: info?.blockCount, embeddingLength: info?.embeddingLength, headCount: info?.headCount,
                    headCountKV: info?.headCountKV, keyLength: info?.keyLength, valueLength: info?.valueLength, fileSize: disk)
                footprint = FootprintEstimate(
                    bytes: ByteCount(bytes: shape.estimatedFootprint(contextSize: context)), source: .metadata, contextSize: context)
            }
            return DiscoveredModel(
                name: model.name, runtime: runtime, family: model.family ?? info?.family, parameterCount: info?.parameterCount,
                parameterSize: model.parameterSize ?? info?.parameterSize, quantization: model.quantization ?? info?.quantization,
                contextLength: info?.contextLength, fileSize: model.sizeOnDisk, footprint: footprint)
        }.sorted { $0.name < $1.name }
    }

    /// llama-server: `GET /models` for the router's models, each with the GGUF file its arguments name; the
    /// file's header (when the file is on this machine) gives parameters, context length and size, and the
    /// footprint is estimated at the context the router gives the model.
    static func llamaServer(_ runtime: String, url: String, transport: any HTTPTransport) async throws -> [DiscoveredModel] {
        let client = LlamaServerClient(baseURL: url, transport: transport)
        return try await client.models().map { model in
            let context = model.contextArgument.flatMap { $0 > 0 ? $0 : nil } ?? model.contextSize
            if let path = model.path, let info = try? GGUFInfo.read(path) {
                var found = describe(info, name: model.id, runtime: runtime, path: path, contextSize: context)
                found.parameterCount = found.parameterCount ?? model.parameterCount
                return found
            }
            return DiscoveredModel(
                name: model.id, runtime: runtime, parameterCount: model.parameterCount,
                parameterSize: model.parameterCount.map(parameterLabel),
                quantization: model.fileType, contextLength: model.trainedContext, fileSize: model.size, path: model.path)
        }.sorted { $0.name < $1.name }
    }

    /// `270M`, `8.2B`: a parameter count as Ollama labels it.
    static func parameterLabel(_ count: Int64) -> String {
        let value = Double(count)
        for (suffix, factor) in [("T", 1e12), ("B", 1e9), ("M", 1e6), ("K", 1e3)] where value >= factor {
            let scaled = (value / factor * 10).rounded() / 10
            return scaled >= 100 || scaled == scaled.rounded() ? "\(Int(scaled.rounded()))\(suffix)" : "\(scaled)\(suffix)"
        }
        return String(count)
    }

    /// Runs `body`, giving up after `seconds` with an `.unreachable` error naming `url`.
    static func withTimeout<T: Sendable>(_ seconds: Double, url: String, _ body: @escaping @Sendable () async throws -> T) async throws -> T
    {
        try await withThrowingTaskGroup(of: T.self) { group in
            group.addTask { try await body() }
            group.addTask {
                try await Task.sleep(for: .seconds(seconds))
                let limit = seconds == seconds.rounded() ? "\(Int(seconds))s" : "\(seconds)s"
                throw RuntimeError(.unreachable, "\(url) did not answer within \(limit)", isTransient: true)
            }
            defer { group.cancelAll() }
            return try await group.next()!
        }
    }
}
