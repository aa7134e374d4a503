import BatonSpec
import Foundation

extension AnthropicClient {
    /// The reading of one Messages stream: the state carried from event to event (the tool block that holds a
    /// structured answer, the text of one, the stop reason) and one method per event type.
    struct MessageStream {
        typealias Continuation = AsyncThrowingStream<GenerationEvent, any Error>.Continuation

        let url: String
        let model: String
        /// Whether the stage wants JSON (a forced tool), so text is held back instead of streamed.
        let structured: Bool
        /// Whether the schema was wrapped in a `value` object, so the tool input is unwrapped at its block's end.
        let wrapped: Bool
        /// Whether the request offered tools: every `tool_use` block is then a call (`.toolCall`), not an answer.
        var offersTools = false
        /// Calls being streamed, by block index: the id and name from `content_block_start`, the input from its
        /// `input_json_delta` pieces (`ant-sdk:tests/lib/streaming/fixtures/tool_use_response.txt`, 0.121.0), whole at
        /// the block's `content_block_stop`.
        var calls: [Int: (id: String, name: String, json: String)] = [:]
        var usage = GenerationUsage()
        /// Whether `message_stop` came.
        var finished = false
        /// The first tool use block carries the answer; a second one (not expected with
        /// `disable_parallel_tool_use`) is ignored rather than glued to the first.
        var toolBlock: Int?
        var wrappedJSON = ""
        /// Text of a structured answer: a compatible server that ignores `tool_choice` answers in text.
        var text = ""
        var stopReason: String?
        var stopDetails: [String: Any]?

        /// Takes one event; returns whether the stream is complete.
        mutating func take(_ event: ServerSentEvent, into continuation: Continuation) throws -> Bool {
            let object = try ServerSentEventAPI.object(event.data, url: url)
            let type = (object["type"] as? String) ?? event.name ?? ""
            switch type {
            case "message_start":
                let counts = (object["message"] as? [String: Any])?["usage"] as? [String: Any]
                if let counts { usage.promptTokens = AnthropicClient.promptTokens(counts) }
            case "content_block_start": blockStart(object, into: continuation)
            case "content_block_delta": blockDelta(object, into: continuation)
            case "content_block_stop":
                if offersTools, let index = object["index"] as? Int, let call = calls.removeValue(forKey: index) {
                    // An empty input streams as no pieces at all (`input: {}` with one `""` delta).
                    let json = call.json.isEmpty ? "{}" : call.json
                    continuation.yield(.toolCall(ToolCall(id: call.id, name: call.name, argumentsJSON: json)))
                }
                if wrapped, let index = object["index"] as? Int, index == toolBlock, !wrappedJSON.isEmpty {
                    continuation.yield(.token(try AnthropicClient.unwrap(wrappedJSON, url: url)))
                    wrappedJSON = ""
                }
            case "message_delta": messageDelta(object)
            case "message_stop":
                finished = true
            case "error":
                throw AnthropicClient.streamError(object, url: url, model: model)
            default:
                break  // ping, and event types added later
            }
            return finished
        }

        private mutating func blockStart(_ object: [String: Any], into continuation: Continuation) {
            let index = object["index"] as? Int ?? 0
            let block = object["content_block"] as? [String: Any]
            switch block?["type"] as? String {
            case "tool_use":
                if offersTools {
                    calls[index] = ((block?["id"] as? String) ?? "", (block?["name"] as? String) ?? "", "")
                } else if toolBlock == nil {
                    toolBlock = index
                }
            case "text":
                if let piece = block?["text"] as? String, !piece.isEmpty {
                    if structured { text += piece } else { continuation.yield(.token(piece)) }
                }
            case "thinking":
                if let piece = block?["thinking"] as? String, !piece.isEmpty { continuation.yield(.thinking(piece)) }
            default:
                break  // redacted thinking, fallback blocks, and block types added later
            }
        }

        private mutating func blockDelta(_ object: [String: Any], into continuation: Continuation) {
            let index = object["index"] as? Int ?? 0
            let delta = object["delta"] as? [String: Any] ?? [:]
            switch delta["type"] as? String {
            case "text_delta":
                guard let piece = delta["text"] as? String, !piece.isEmpty else { break }
                if structured { text += piece } else { continuation.yield(.token(piece)) }
            case "input_json_delta":
                if offersTools {
                    if let json = delta["partial_json"] as? String { calls[index]?.json += json }
                    break
                }
                guard index == toolBlock, let json = delta["partial_json"] as? String, !json.isEmpty else { break }
                if wrapped { wrappedJSON += json } else { continuation.yield(.token(json)) }
            case "thinking_delta":
                if let piece = delta["thinking"] as? String, !piece.isEmpty { continuation.yield(.thinking(piece)) }
            default:
                break  // signature deltas are not output
            }
        }

        private mutating func messageDelta(_ object: [String: Any]) {
            if let delta = object["delta"] as? [String: Any] {
                if let reason = delta["stop_reason"] as? String { stopReason = reason }
                if let details = delta["stop_details"] as? [String: Any] { stopDetails = details }
            }
            if let counts = object["usage"] as? [String: Any] {
                if let output = counts["output_tokens"] as? Int { usage.outputTokens = output }
                if usage.promptTokens == nil, counts["input_tokens"] is Int { usage.promptTokens = AnthropicClient.promptTokens(counts) }
                let details = counts["output_tokens_details"] as? [String: Any]
                if let thinking = details?["thinking_tokens"] as? Int, thinking > 0 { usage.thinkingTokens = thinking }
            }
        }

        /// The usage once the stream ended, after passing on a structured answer that came as text.
        ///
        /// - Throws: ``RuntimeError`` when the stream ended before `message_stop`.
        mutating func end(into continuation: Continuation) throws -> GenerationUsage {
            guard finished else { throw ServerSentEventAPI.incomplete(url: url, model: model) }
            if structured, toolBlock == nil, !text.isEmpty {
                // The server ignored the forced tool and answered in text (llama-server's /v1/messages, proxies): the
                // stage parser takes JSON out of fences and prose; a wrapped answer loses its `value` wrapper.
                continuation.yield(.token(wrapped ? ((try? AnthropicClient.unwrap(text, url: url)) ?? text) : text))
            }
            usage.finish = AnthropicClient.finish(stopReason, details: stopDetails, text: text)
            return usage
        }
    }
}
