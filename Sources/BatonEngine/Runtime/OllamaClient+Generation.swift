import BatonSpec
import Foundation

// Generation: a chat streamed as NDJSON, the context checks before and after it, and why it stopped.
extension OllamaClient {
    /// Streams a chat (`POST /api/chat`, NDJSON): thinking and answer tokens as they arrive, then token
    /// counts, timings and why it stopped.
    ///
    /// - Throws: (through the stream) ``RuntimeError`` `.contextExceeded` before the call when the prompt
    ///   cannot fit the stage's `num_ctx` (``checkContext(_:)``).
    /// The stream fails by itself past the stage's timeout (``AsyncThrowingStream/generation(_:_:)``).
    public var enforcesTimeout: Bool { true }

    public func generate(_ request: GenerationRequest) -> AsyncThrowingStream<GenerationEvent, any Error> {
        book.remember(request.model)
        let http = HTTPRequest.json(baseURL + "/api/chat", chatBody(request))
        // The reply's head comes after a cold load and the prompt's evaluation; the stage timeout bounds the rest.
        let headDeadline = max(loadTimeout, request.settings.timeout ?? 0)
        return .generation(request) { continuation in
            try checkContext(request)
            let response = try await send(http, timeout: headDeadline, model: request.model, doing: "generating with")
            try await stream(response, request: request, into: continuation)
        }
    }

    /// The most bytes one token is assumed to cover when deciding, before the call, that a prompt cannot
    /// fit. Ollama has no tokenizer endpoint, so the count is estimated, and the estimate must never refuse
    /// a prompt that fits: English averages about 4 bytes per token and code or other scripts fewer, so
    /// `bytes / 8` undercounts the tokens of any ordinary text. A prompt refused by it is at least twice too
    /// long; one that passes but still overflows is caught after the call (``truncatedPrompt(_:request:)``).
    static let generousBytesPerToken = 8

    /// The context window a load with `numCtx` (nil: ``defaultNumCtx``) gives `model`: clamped to the
    /// trained context when that is known (`llm/server.go:111-116`), as `/api/ps` reports it.
    func contextWindow(_ model: String, numCtx: Int?) -> Int? {
        let numCtx = numCtx ?? Self.defaultNumCtx
        guard numCtx > 0 else { return nil }
        return book.trainedContext(of: model).map { min(numCtx, $0) } ?? numCtx
    }

    /// Refuses a prompt that cannot fit the context window with room for `max_tokens`, before Ollama would
    /// cut its middle out (`llm/llama_server.go:279-320`).
    func checkContext(_ request: GenerationRequest) throws {
        guard let window = contextWindow(request.model, numCtx: request.settings.numCtx) else { return }
        let bytes = request.prompt.utf8.count + (request.system?.utf8.count ?? 0)
        let atLeast = bytes / Self.generousBytesPerToken
        // Room for the answer, but never more than half the window: a max_tokens as large as num_ctx must not
        // refuse every prompt (Ollama itself only cuts a prompt of num_ctx tokens or more).
        let reserve = min(max(0, request.settings.maxTokens ?? 0), window / 2)
        let room = window - reserve
        guard atLeast > room else { return }
        throw RuntimeError(
            .contextExceeded,
            "the prompt for model '\(request.model)' is at least \(atLeast) tokens (estimated from its \(bytes) bytes), more than num_ctx \(window) leaves after \(reserve) tokens for the answer; raise num_ctx or shorten the inputs (Ollama would silently drop the middle of the prompt)",
            isTransient: false)
    }

    /// When Ollama cut the prompt to fit: `prompt_eval_count` equals the length its truncation keeps,
    /// `num_ctx - max((num_ctx - num_keep) / 2, 1)` with `num_keep` 4 (5 when the tokenizer adds a BOS)
    /// (`llm/llama_server.go:279-331`), for a prompt long enough to have been cut (truncation only starts
    /// at a prompt of `num_ctx` bytes, `:281`). Nil when the prompt arrived whole.
    func truncatedPrompt(_ promptTokens: Int?, request: GenerationRequest) -> String? {
        guard let promptTokens, let window = contextWindow(request.model, numCtx: request.settings.numCtx), window > 1 else { return nil }
        let bytes = request.prompt.utf8.count + (request.system?.utf8.count ?? 0)
        // Ollama's chat template adds its own bytes to the prompt; 256 is ample for a system and a user turn.
        guard bytes + 256 >= window else { return nil }
        let kept = [4, 5].map { keep -> Int in
            let numKeep = max(0, min(keep, window - 1))
            return window - max((window - numKeep) / 2, 1)
        }
        guard kept.contains(promptTokens) else { return nil }
        return "Ollama cut the prompt of model '\(request.model)' to \(promptTokens) tokens to fit num_ctx \(window), dropping its middle; "
            + "raise num_ctx or shorten the inputs"
    }

    /// One NDJSON line of a chat reply; every metric is optional (`omitempty`).
    private struct ChatLine: Decodable {
        struct Message: Decodable {
            var content: String?
            var thinking: String?
        }
        var message: Message?
        var done: Bool?
        var doneReason: String?
        var error: String?
        var totalDuration: Int64?
        var loadDuration: Int64?
        var promptEvalCount: Int?
        var promptEvalDuration: Int64?
        var evalCount: Int?
        var evalDuration: Int64?
    }

    private func stream(
        _ response: HTTPResponse, request: GenerationRequest,
        into continuation: AsyncThrowingStream<GenerationEvent, any Error>.Continuation
    ) async throws {
        let model = request.model
        guard response.status == 200 else {
            throw failure(status: response.status, body: try? await response.collect(limit: 65536), model: model, doing: "generating with")
        }
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        var lines = response.lines.makeAsyncIterator()
        var thinkingLines = 0
        var answered = false
        while true {
            let next: String?
            do {
                next = try await lines.next()
            } catch let error as RuntimeError {
                throw RuntimeError(
                    error.code, "Ollama at \(baseURL) broke off the reply of model '\(model)': \(error.message)",
                    isTransient: error.isTransient)
            }
            guard let line = next else { break }
            if line.allSatisfy(\.isWhitespace) { continue }
            guard let chunk = try? decoder.decode(ChatLine.self, from: Data(line.utf8)) else {
                throw RuntimeError(
                    .badResponse, "Ollama at \(baseURL) sent a line that is not JSON while generating with model '\(model)'",
                    isTransient: true)
            }
            if let error = chunk.error {
                throw streamFailure(error, model: model)
            }
            // Thinking streams in `message.thinking` (`api/types.go:202`), apart from the answer.
            if let text = chunk.message?.thinking, !text.isEmpty {
                thinkingLines += 1
                continuation.yield(.thinking(text))
            }
            if let text = chunk.message?.content, !text.isEmpty {
                answered = answered || !text.allSatisfy(\.isWhitespace)
                continuation.yield(.token(text))
            }
            for call in line.contains("\"tool_calls\"") ? Self.toolCalls(line) : [] {
                answered = true
                continuation.yield(.toolCall(call))
            }
            if chunk.done == true {
                var usage = Self.usage(chunk)
                usage.finish = finish(chunk.doneReason, thought: thinkingLines, answered: answered, request: request)
                if let truncated = truncatedPrompt(chunk.promptEvalCount, request: request) {
                    usage.finish = FinishReason(.contextExceeded, raw: chunk.doneReason ?? "", detail: truncated)
                }
                if thinkingLines > 0, usage.finish?.kind == .truncated || !answered {
                    continuation.yield(
                        .notice(RuntimeNotice(code: "thinking-used-budget", message: usage.finish?.detail ?? "")))
                }
                continuation.yield(.finished(usage))
                return
            }
        }
        try Task.checkCancellation()
        throw RuntimeError(
            .badResponse, "Ollama at \(baseURL) ended the reply of model '\(model)' before its final message (no \"done\": true)",
            isTransient: true)
    }

    /// The calls of a chat line's `message.tool_calls`: whole calls, parsed from the model's output by the server
    /// (`server/routes.go:2860-2870`, v0.33.0-rc2), each `api.ToolCall` (`api/types.go:209-218`) with an id from
    /// v0.12 on (`toolCallId`, `routes.go:2305-2312`) and `arguments` an object. Read apart from ``ChatLine``, whose
    /// snake-case key conversion would rename the arguments' own keys.
    static func toolCalls(_ line: String) -> [ToolCall] {
        guard let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
            let calls = (object["message"] as? [String: Any])?["tool_calls"] as? [[String: Any]]
        else { return [] }
        return calls.compactMap { call in
            guard let function = call["function"] as? [String: Any], let name = function["name"] as? String else { return nil }
            let arguments = function["arguments"].flatMap {
                try? JSONSerialization.data(withJSONObject: $0, options: [.fragmentsAllowed, .sortedKeys, .withoutEscapingSlashes])
            }
            return ToolCall(
                id: (call["id"] as? String).flatMap { $0.isEmpty ? nil : $0 }, name: name,
                argumentsJSON: arguments.map { String(decoding: $0, as: UTF8.self) } ?? "{}")
        }
    }

    /// Why the reply ended, from `done_reason` (`"stop"`, `"length"`, `llm/server.go:249-267`); when the
    /// model thought and its answer is cut or empty, the detail says that thinking used the budget.
    func finish(_ reason: String?, thought thinkingLines: Int, answered: Bool, request: GenerationRequest) -> FinishReason? {
        guard let reason else { return nil }
        let kind: FinishReason.Kind = reason == "length" ? .truncated : .complete
        var detail: String?
        if thinkingLines > 0, kind == .truncated {
            let limit = request.settings.maxTokens.map { "max_tokens (\($0))" } ?? "its token limit"
            detail =
                "model '\(request.model)' used \(limit) thinking (\(thinkingLines) thinking pieces) and "
                + (answered ? "its answer was cut" : "gave no answer") + "; raise max_tokens or set think: false for this stage"
        } else if thinkingLines > 0, !answered {
            detail =
                "model '\(request.model)' thought (\(thinkingLines) thinking pieces) but gave no answer; set think: false or raise max_tokens for this stage"
        }
        return FinishReason(kind, raw: reason, detail: detail)
    }

    /// Token counts and timings (nanoseconds to milliseconds) of a final chat line; absent metrics stay absent.
    /// `load_duration` comes on every reply, loaded or not (`routes.go:2804, 3021`), so it is kept as
    /// `runtime_load`, never as a load: whether Baton loaded the model is the executor's own record.
    private static func usage(_ line: ChatLine) -> GenerationUsage {
        var timings: [String: Double] = [:]
        for (name, nanoseconds) in [
            ("runtime_load", line.loadDuration), ("prompt", line.promptEvalDuration), ("generation", line.evalDuration),
            ("total", line.totalDuration),
        ] {
            if let nanoseconds { timings[name] = Double(nanoseconds) / 1_000_000 }
        }
        return GenerationUsage(promptTokens: line.promptEvalCount, outputTokens: line.evalCount, runtimeTimings: timings)
    }
}
