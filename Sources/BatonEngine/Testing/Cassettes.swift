import BatonSpec
import Crypto
import Foundation

/// What a cassette keeps of a request to match it on replay: everything the model reads, none of the sampling settings
/// (so a changed prompt, system message, schema, tool list or tool history is noticed; a changed temperature is not).
struct CassetteRequest: Encodable {
    var model: String
    var system: String?
    var prompt: String
    var schema: JSONValue?
    var tools: [String]
    var history: [String]

    init(_ request: GenerationRequest) {
        model = request.model
        system = request.system
        prompt = request.prompt
        schema = request.responseSchema
        tools = (request.tools ?? []).map { "\($0.name)\u{0}\($0.description)\u{0}\(CassetteRequest.json($0.parameters))" }
        history = request.history.map { String(describing: $0) }
    }

    /// The request's SHA-256, hex.
    var hash: String { Self.sha256(Self.json(self)) }

    /// The tool-loop turn of a request: the model turns before it plus one, nil outside a tool loop.
    static func turn(of request: GenerationRequest) -> Int? {
        guard request.tools != nil || !request.history.isEmpty else { return nil }
        return request.history.count { if case .assistant = $0 { true } else { false } } + 1
    }

    static func embeddingHash(_ texts: [String], model: String) -> String {
        sha256(json(["model": [model], "texts": texts]))
    }

    /// The hash under which the identity of an embedding model's weights is kept (an index checks it before a query).
    static func digestHash(model: String) -> String {
        sha256(json(["digest-of": model]))
    }

    static func sha256(_ text: String) -> String {
        Fingerprints.hex(SHA256.hash(data: Data(text.utf8)))
    }

    static func json(_ value: some Encodable) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return (try? encoder.encode(value)).map { String(decoding: $0, as: UTF8.self) } ?? ""
    }
}

/// A generation's answer as a cassette keeps it.
struct CassetteAnswer: Codable {
    struct Call: Codable {
        var id: String?
        var name: String
        var arguments: String
    }

    var output: String
    var thinking: String?
    var calls: [Call]
    var notices: [RuntimeNotice]
    var usage: GenerationUsage
}

/// An embedding request's answer as a cassette keeps it.
struct CassetteEmbedding: Codable {
    var vectors: [[Float]]
    var promptTokens: Int?
}

/// Collects the answers real runtimes give during one repetition, in order.
final class CassetteRecorder: Sendable {
    private let records = Locked<[CassetteRecord]>([])

    /// Every answer so far.
    var recorded: [CassetteRecord] { records.withLock { $0 } }

    func add(_ record: CassetteRecord) { records.withLock { $0.append(record) } }
}

/// Wraps a provider so every runtime it makes records its answers.
struct RecordingProvider: RuntimeProvider {
    var base: any RuntimeProvider
    var recorder: CassetteRecorder

    func runtime(for model: ResolvedModel, snapshot: RunSnapshot) throws -> any LLMRuntime {
        Self.wrap(try base.runtime(for: model, snapshot: snapshot), recorder: recorder)
    }

    /// `inner` wrapped, with its capabilities.
    static func wrap(_ inner: any LLMRuntime, recorder: CassetteRecorder) -> any LLMRuntime {
        switch (inner is any ModelManaging, inner is any EmbeddingRuntime) {
        case (true, true): RecordingManagedEmbedder(inner: inner, recorder: recorder)
        case (true, false): RecordingManaged(inner: inner, recorder: recorder)
        case (false, true): RecordingEmbedder(inner: inner, recorder: recorder)
        case (false, false): RecordingPlain(inner: inner, recorder: recorder)
        }
    }
}

/// The recording wrapper of one runtime. It keeps the capabilities of the runtime it wraps: a ``ModelManaging`` one
/// (llama-server, Ollama) stays one, so the executor still loads and unloads its models, and an embedding one stays one.
protocol RecordingRuntime: LLMRuntime {
    var inner: any LLMRuntime { get }
    var recorder: CassetteRecorder { get }
}

extension RecordingRuntime {
    var enforcesTimeout: Bool { inner.enforcesTimeout }

    func generate(_ request: GenerationRequest) -> AsyncThrowingStream<GenerationEvent, any Error> {
        let stream = inner.generate(request)
        let recorder = recorder
        return AsyncThrowingStream { continuation in
            let task = Task {
                var answer = CassetteAnswer(output: "", thinking: nil, calls: [], notices: [], usage: GenerationUsage())
                do {
                    for try await event in stream {
                        switch event {
                        case .token(let text): answer.output += text
                        case .thinking(let text): answer.thinking = (answer.thinking ?? "") + text
                        case .notice(let notice): answer.notices.append(notice)
                        case .toolCall(let call): answer.calls.append(.init(id: call.id, name: call.name, arguments: call.argumentsJSON))
                        case .finished(let usage):
                            // Only whole answers are kept: a failed or cut-off call is not what a replay should give.
                            answer.usage = usage
                            recorder.add(
                                CassetteRecord(
                                    kind: .generation, stage: request.stage, item: request.item, round: request.round,
                                    turn: CassetteRequest.turn(of: request), requestHash: CassetteRequest(request).hash,
                                    response: CassetteRequest.json(answer)))
                        }
                        continuation.yield(event)
                    }
                    continuation.finish()
                } catch {
                    continuation.finish(throwing: error)
                }
            }
            continuation.onTermination = { _ in task.cancel() }
        }
    }
}

extension RecordingRuntime where Self: EmbeddingRuntime {
    func embed(_ texts: [String], model: String) async throws -> EmbeddingBatch {
        guard let embedding = inner as? any EmbeddingRuntime else { return EmbeddingBatch(vectors: [], promptTokens: nil) }
        let batch = try await embedding.embed(texts, model: model)
        recorder.add(
            CassetteRecord(
                kind: .embedding, stage: "", item: nil, round: 0, turn: nil,
                requestHash: CassetteRequest.embeddingHash(texts, model: model),
                response: CassetteRequest.json(CassetteEmbedding(vectors: batch.vectors, promptTokens: batch.promptTokens))))
        return batch
    }

    func embeddingModelDigest(_ model: String) async -> String? {
        let digest = await (inner as? any EmbeddingRuntime)?.embeddingModelDigest(model)
        if let digest {
            recorder.add(
                CassetteRecord(
                    kind: .embedding, stage: "", item: nil, round: 0, turn: nil, requestHash: CassetteRequest.digestHash(model: model),
                    response: CassetteRequest.json(["digest": digest])))
        }
        return digest
    }
}

extension RecordingRuntime where Self: ModelManaging {
    private var manager: any ModelManaging { inner as! any ModelManaging }
    func residentModels() async throws -> [ResidentModel] { try await manager.residentModels() }
    func load(_ model: String, settings: StageSettings) async throws -> LoadReport { try await manager.load(model, settings: settings) }
    func unload(_ model: String) async throws { try await manager.unload(model) }
    func manages(_ model: String) -> Bool { manager.manages(model) }
    func residentModels(naming planned: [String]) async throws -> [ResidentModel] { try await manager.residentModels(naming: planned) }
    func contextLength(of model: String, settings: StageSettings) async -> Int? {
        await manager.contextLength(of: model, settings: settings)
    }
}

private struct RecordingPlain: RecordingRuntime {
    let inner: any LLMRuntime
    let recorder: CassetteRecorder
}

private struct RecordingManaged: RecordingRuntime, ModelManaging {
    let inner: any LLMRuntime
    let recorder: CassetteRecorder
}

private struct RecordingEmbedder: RecordingRuntime, EmbeddingRuntime {
    let inner: any LLMRuntime
    let recorder: CassetteRecorder
}

private struct RecordingManagedEmbedder: RecordingRuntime, ModelManaging, EmbeddingRuntime {
    let inner: any LLMRuntime
    let recorder: CassetteRecorder
}
