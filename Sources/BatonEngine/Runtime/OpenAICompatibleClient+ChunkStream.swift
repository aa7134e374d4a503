import BatonSpec
import Foundation

extension OpenAICompatibleClient {
    /// The reading of one Chat Completions stream: the state carried from chunk to chunk (the finish reason, a
    /// refusal's text, a wrapped structured answer) and the usage, from `usage` or llama-server's `timings`.
    struct ChunkStream {
        typealias Continuation = AsyncThrowingStream<GenerationEvent, any Error>.Continuation

        let url: String
        let model: String
        /// Whether the schema was wrapped in a `value` object, so the answer is held back and unwrapped at the end.
        let wrapped: Bool
        /// Whether `[DONE]` came.
        var finished = false
        var usage = GenerationUsage()
        var finishReason: String?
        var refusal = ""
        var wrappedText = ""
        /// Calls being streamed, by their `index`: the id, type and name come in a call's first fragment, its
        /// `arguments` in string pieces to concatenate, as the SDK accumulates them (`accumulate_delta`,
        /// `oai-sdk:src/openai/lib/streaming/_deltas.py:6-64`, 3.3.1; the recorded stream
        /// `.inline-snapshot/external/c6aa7e397b71….bin`).
        var calls: [Int: (id: String, name: String, arguments: String)] = [:]

        /// Takes one event; returns whether the stream is complete (`[DONE]`).
        mutating func take(_ event: ServerSentEvent, into continuation: Continuation) throws -> Bool {
            let payload = event.data.trimmingCharacters(in: .whitespaces)
            if payload == "[DONE]" {
                finished = true
                return true
            }
            let object = try ServerSentEventAPI.object(payload, url: url)
            // Only a present, non-null error fails the stream, as the SDK checks (`oai-sdk:_streaming.py:88`).
            if let error = object["error"], !(error is NSNull) {
                throw OpenAICompatibleClient.streamError(error, url: url, model: model)
            }
            // Compatible servers may send `choices: null` on the usage chunk: read leniently.
            for choice in object["choices"] as? [[String: Any]] ?? [] {
                if let delta = choice["delta"] as? [String: Any] {
                    if let text = delta["content"] as? String, !text.isEmpty {
                        if wrapped { wrappedText += text } else { continuation.yield(.token(text)) }
                    }
                    // A refusal streams in `delta.refusal`, not `content` (`spec:31857-31861`).
                    if let text = delta["refusal"] as? String { refusal += text }
                    if let text = delta["reasoning_content"] as? String, !text.isEmpty { continuation.yield(.thinking(text)) }
                    for fragment in delta["tool_calls"] as? [[String: Any]] ?? [] { take(call: fragment) }
                }
                if let reason = choice["finish_reason"] as? String { finishReason = reason }
            }
            count(object)
            return false
        }

        /// One fragment of `delta.tool_calls` (`ChoiceDeltaToolCall`, `oai-sdk:src/openai/types/chat/chat_completion_chunk.py:62-72`):
        /// strings are appended to what the call at that index has so far, as the SDK does.
        private mutating func take(call fragment: [String: Any]) {
            let index = fragment["index"] as? Int ?? calls.count
            var call = calls[index] ?? ("", "", "")
            if let id = fragment["id"] as? String { call.id += id }
            if let function = fragment["function"] as? [String: Any] {
                if let name = function["name"] as? String { call.name += name }
                if let arguments = function["arguments"] as? String { call.arguments += arguments }
            }
            calls[index] = call
        }

        /// Token counts and timings of a chunk: OpenAI's `usage`, else llama-server's `timings`.
        private mutating func count(_ object: [String: Any]) {
            if let counts = object["usage"] as? [String: Any] {
                usage.promptTokens = counts["prompt_tokens"] as? Int
                usage.outputTokens = counts["completion_tokens"] as? Int
                if let reasoning = (counts["completion_tokens_details"] as? [String: Any])?["reasoning_tokens"] as? Int, reasoning > 0 {
                    usage.thinkingTokens = reasoning
                }
            }
            if let timings = object["timings"] as? [String: Any] {
                if let value = timings["prompt_ms"] as? Double { usage.runtimeTimings["prompt"] = value }
                if let value = timings["predicted_ms"] as? Double { usage.runtimeTimings["generation"] = value }
                if usage.outputTokens == nil { usage.outputTokens = timings["predicted_n"] as? Int }
                if usage.promptTokens == nil, let n = timings["prompt_n"] as? Int {
                    usage.promptTokens = n + ((timings["cache_n"] as? Int) ?? 0)
                }
            }
        }

        /// The usage once the stream ended, after passing on a wrapped answer.
        ///
        /// - Throws: ``RuntimeError`` when the stream ended with neither `[DONE]` nor a finish reason.
        mutating func end(into continuation: Continuation) throws -> GenerationUsage {
            // llama-server ends a stream that failed midway without [DONE]; a cut connection does too. A cut after
            // the finish chunk only loses the usage chunk (`spec:31773-31790`): the answer is whole.
            guard finished || finishReason != nil else { throw ServerSentEventAPI.incomplete(url: url, model: model) }
            if wrapped, !wrappedText.isEmpty {
                // A cut or refused answer is not JSON: pass it on as it came, the finish reason says why.
                let value = (try? AnthropicClient.unwrap(wrappedText, url: url)) ?? wrappedText
                continuation.yield(.token(value))
            }
            // A call is complete only once the stream is: its arguments may come in any number of pieces.
            for index in calls.keys.sorted() {
                guard let call = calls[index], !call.name.isEmpty else { continue }
                continuation.yield(
                    .toolCall(ToolCall(id: call.id.isEmpty ? nil : call.id, name: call.name, argumentsJSON: call.arguments)))
            }
            usage.finish = OpenAICompatibleClient.finish(finishReason, refusal: refusal)
            return usage
        }
    }
}
