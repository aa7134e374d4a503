import BatonSpec
import Foundation

// HTTP and errors: sending requests, and turning Ollama's statuses and error texts into RuntimeErrors.
extension OllamaClient {
    /// Sends `request`, naming the server and the model when it cannot be reached.
    func send(_ request: HTTPRequest, timeout: Double, model: String?, doing action: String) async throws -> HTTPResponse {
        do {
            return try await transport.send(request, connectTimeout: timeout)
        } catch let error as RuntimeError {
            let what = model.map { "\(action) model '\($0)'" } ?? action
            throw RuntimeError(error.code, "Ollama at \(baseURL) failed while \(what): \(error.message)", isTransient: error.isTransient)
        }
    }

    /// `GET path`, decoded (snake_case keys).
    func getJSON<Reply: Decodable>(_ path: String, doing action: String) async throws -> Reply {
        let response = try await send(HTTPRequest(method: "GET", url: baseURL + path), timeout: connectTimeout, model: nil, doing: action)
        let data = try await response.collect()
        guard response.status == 200 else { throw failure(status: response.status, body: data, model: nil, doing: action) }
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        guard let reply = try? decoder.decode(Reply.self, from: data) else {
            throw RuntimeError(
                .badResponse, "Ollama at \(baseURL) answered \(path) with something that is not its JSON", isTransient: false)
        }
        return reply
    }

    /// The `error` text of an Ollama error body, if it is one.
    static func errorText(_ body: Data?) -> String? {
        guard let body, let object = try? JSONSerialization.jsonObject(with: body) as? [String: Any] else { return nil }
        return object["error"] as? String
    }

    /// Substrings of Ollama's out-of-memory errors, lower-cased: v0.33's own list (`llm/status.go:85-96`),
    /// the hyphenated `out-of-memory` of "llama-server reported out-of-memory during startup: ..."
    /// (`llm/llama_server.go:1371-1376`), and "unable to load full model on gpu". The pre-v0.30 "model
    /// requires more system memory" text has no producer left (removed in `9db4bdbad`) and is not listed.
    static let memoryErrors = [
        "out of memory", "out-of-memory", "out of device memory", "cudamalloc failed", "hipmalloc failed", "failed to allocate",
        "allocation failed", "not enough memory", "insufficient memory", "vk_error_out_of_device_memory", "erroroutofmemory",
        "unable to load full model on gpu",
    ]

    /// Whether an error text means the model did not fit in memory.
    static func isOutOfMemory(_ text: String) -> Bool {
        let lowered = text.lowercased()
        return memoryErrors.contains { lowered.contains($0) }
    }

    /// The error for an HTTP error status; the server's own `error` text is quoted, never the request.
    func failure(status: Int, body: Data?, model: String?, doing action: String) -> RuntimeError {
        let text = Self.errorText(body) ?? body.map { String(decoding: $0.prefix(300), as: UTF8.self) } ?? ""
        let said = text.isEmpty ? "it answered HTTP \(status)" : "it answered HTTP \(status): \(text.prefix(300))"
        let what = model.map { "\(action) model '\($0)'" } ?? action
        switch status {
        case 404 where model != nil:
            let name = model ?? ""
            return RuntimeError(
                .modelNotFound,
                "Ollama at \(baseURL) does not have model '\(name)' (\(said)); run `ollama pull \(name)` on that machine or fix the model name",
                isTransient: false)
        case 500 where Self.isOutOfMemory(text):
            return RuntimeError(
                .outOfMemory,
                "Ollama at \(baseURL) could not load model '\(model ?? "?")' because it does not fit in memory (\(said)); choose a smaller model or num_ctx, or lower what else is loaded",
                isTransient: false)
        case 408, 429, 500...599:
            return RuntimeError(.httpStatus, "Ollama at \(baseURL) failed while \(what) (\(said))", isTransient: true)
        case 400 where ToolWire.refusesTools(text):
            // "registry.ollama.ai/library/gemma3:latest does not support tools" (`server/routes.go:211-213, 3109-3110`).
            return ToolWire.unsupported(model: model ?? "?", server: "Ollama at \(baseURL)", said: said)
        case 400 where text.contains("does not support thinking"):
            return RuntimeError(
                .httpStatus, "Ollama at \(baseURL) refused \(what) (\(said)); remove 'think' from the stage or choose a thinking model",
                isTransient: false)
        default:
            return RuntimeError(.httpStatus, "Ollama at \(baseURL) refused \(what) (\(said))", isTransient: false)
        }
    }

    /// The `done_reason` of a one-object reply (a load answers `"load"`).
    static func doneReason(_ body: Data?) -> String? {
        guard let body, let object = try? JSONSerialization.jsonObject(with: body) as? [String: Any] else { return nil }
        return object["done_reason"] as? String
    }

    /// The error for an `{"error": ...}` line after the reply started (status 200).
    func streamFailure(_ text: String, model: String) -> RuntimeError {
        if Self.isOutOfMemory(text) {
            return RuntimeError(
                .outOfMemory, "Ollama at \(baseURL) ran out of memory with model '\(model)': \(text.prefix(300))", isTransient: false)
        }
        return RuntimeError(
            .badResponse, "Ollama at \(baseURL) reported an error with model '\(model)' after it started answering: \(text.prefix(300))",
            isTransient: true)
    }

    static func duration(_ seconds: Double) -> String {
        seconds == seconds.rounded() ? "\(Int(seconds))s" : String(format: "%.2fs", seconds)
    }
}
