import BatonSpec
import Foundation

/// Answers every model call and embedding request of one repetition from its recording; contacts nothing and loads
/// nothing (it is not ``ModelManaging``). A call the recording does not have is refused and remembered, so the runner
/// reports the repetition as an error ("re-record with --record") rather than as a failure of the pipeline.
final class ReplayProvider: RuntimeProvider, LLMRuntime, EmbeddingRuntime, Sendable {
    private struct State {
        var used: Set<Int> = []
        var misses: [String] = []
    }

    private let records: [CassetteRecord]
    private let state = Locked(State())

    /// A provider over one repetition's records.
    init(records: [CassetteRecord]) { self.records = records }

    /// Why calls were refused, in order (empty when every call had its answer).
    var misses: [String] { state.withLock { $0.misses } }

    func runtime(for model: ResolvedModel, snapshot: RunSnapshot) throws -> any LLMRuntime { self }

    func generate(_ request: GenerationRequest) -> AsyncThrowingStream<GenerationEvent, any Error> {
        let found = answer(for: request)
        return AsyncThrowingStream { continuation in
            switch found {
            case .failure(let error):
                continuation.finish(throwing: error)
            case .success(let answer):
                if let thinking = answer.thinking { continuation.yield(.thinking(thinking)) }
                for notice in answer.notices { continuation.yield(.notice(notice)) }
                if !answer.output.isEmpty { continuation.yield(.token(answer.output)) }
                for call in answer.calls {
                    continuation.yield(.toolCall(ToolCall(id: call.id, name: call.name, argumentsJSON: call.arguments)))
                }
                continuation.yield(.finished(answer.usage))
                continuation.finish()
            }
        }
    }

    func embed(_ texts: [String], model: String) async throws -> EmbeddingBatch {
        let hash = CassetteRequest.embeddingHash(texts, model: model)
        // Embeddings depend on their texts alone: any recorded answer to the same request will do.
        guard let record = records.first(where: { $0.kind == .embedding && $0.requestHash == hash }),
            let batch = try? JSONDecoder().decode(CassetteEmbedding.self, from: Data(record.response.utf8))
        else {
            throw miss("an embedding of \(texts.count) text\(texts.count == 1 ? "" : "s") with model '\(model)' was not recorded")
        }
        return EmbeddingBatch(vectors: batch.vectors, promptTokens: batch.promptTokens)
    }

    /// The digest the runtime gave when recording (an index compares it with the one it was built with), else nil.
    func embeddingModelDigest(_ model: String) async -> String? {
        let hash = CassetteRequest.digestHash(model: model)
        guard let record = records.last(where: { $0.kind == .embedding && $0.requestHash == hash }),
            let answer = try? JSONDecoder().decode([String: String].self, from: Data(record.response.utf8))
        else { return nil }
        return answer["digest"]
    }

    /// The next unused recorded answer to this stage, item, round and turn with the same request; the last one again when
    /// every one was used (a call repeated more often than when recording).
    private func answer(for request: GenerationRequest) -> Result<CassetteAnswer, RuntimeError> {
        let turn = CassetteRequest.turn(of: request)
        let place = records.indices.filter {
            let record = records[$0]
            return record.kind == .generation && record.stage == request.stage && record.item == request.item
                && record.round == request.round && record.turn == turn
        }
        let what = "stage '\(request.stage)'" + (request.item.map { " item \($0)" } ?? "") + " round \(request.round)"
        guard !place.isEmpty else { return .failure(miss("\(what) has no recorded answer")) }
        let hash = CassetteRequest(request).hash
        let matching = place.filter { records[$0].requestHash == hash }
        guard let last = matching.last else {
            return .failure(miss("\(what) asks something else than when it was recorded (its prompt or model changed)"))
        }
        let index = state.withLock { state in
            let next = matching.first { !state.used.contains($0) } ?? last
            state.used.insert(next)
            return next
        }
        guard let answer = try? JSONDecoder().decode(CassetteAnswer.self, from: Data(records[index].response.utf8)) else {
            return .failure(miss("\(what): its recorded answer cannot be read"))
        }
        return .success(answer)
    }

    private func miss(_ problem: String) -> RuntimeError {
        let message = "replay: \(problem); re-record with --record"
        state.withLock { $0.misses.append(message) }
        return RuntimeError(.badResponse, message, isTransient: false)
    }
}
