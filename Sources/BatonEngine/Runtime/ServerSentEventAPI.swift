import Foundation

/// What the clients of the server-sent-event chat APIs (``OpenAICompatibleClient``, ``AnthropicClient``)
/// share: a generation streamed from one request, the model list, and the error mappings they agree on.
/// Every error they throw has the key scrubbed from it.
enum ServerSentEventAPI {
    /// A client's mapping of an HTTP error status and body from `url`, for `model` (empty for none), with the
    /// hint for a rejected key.
    typealias ErrorMapping = @Sendable (_ status: Int, _ body: Data?, _ url: String, _ model: String, _ keyHint: String?) -> RuntimeError

    /// The stream of a generation of `model`: sends `http`, maps a status other than 200 with `httpError`,
    /// then `read` turns the response into tokens and returns the usage.
    static func generate(
        _ http: HTTPRequest, model: String, keyHint: String?, transport: any HTTPTransport, connectTimeout: Double,
        scrubber: SecretScrubber, httpError: @escaping ErrorMapping,
        read: @escaping @Sendable (HTTPResponse, AsyncThrowingStream<GenerationEvent, any Error>.Continuation) async throws -> GenerationUsage
    ) -> AsyncThrowingStream<GenerationEvent, any Error> {
        AsyncThrowingStream { continuation in
            let task = Task {
                do {
                    let response = try await transport.send(http, connectTimeout: connectTimeout)
                    guard response.status == 200 else {
                        var error = httpError(response.status, try? await response.collect(limit: 65536), http.url, model, keyHint)
                        if error.isTransient { error.retryAfter = response.retryAfter() }
                        throw error
                    }
                    let usage = try await read(response, continuation)
                    continuation.yield(.finished(usage))
                    continuation.finish()
                } catch {
                    continuation.finish(throwing: scrubber.scrub(error))
                }
            }
            continuation.onTermination = { _ in task.cancel() }
        }
    }

    /// The JSON object of a stream event's data.
    static func object(_ data: String, url: String) throws -> [String: Any] {
        guard let object = try? JSONSerialization.jsonObject(with: Data(data.utf8)) as? [String: Any] else {
            throw RuntimeError(.badResponse, "\(url) sent a stream event that is not JSON", isTransient: true)
        }
        return object
    }

    /// The error for a stream that ended before its closing event.
    static func incomplete(url: String, model: String) -> RuntimeError {
        RuntimeError(.badResponse, "\(url) ended the stream of '\(model)' before it was complete", isTransient: true)
    }

    /// The ids in the `data` list that `GET` `http` answers; `httpError` maps a status other than 200.
    static func modelIDs(
        _ http: HTTPRequest, keyHint: String?, transport: any HTTPTransport, scrubber: SecretScrubber, httpError: ErrorMapping
    ) async throws -> [String] {
        do {
            let response = try await transport.send(http, connectTimeout: 30)
            let data = try await response.collect()
            guard response.status == 200 else { throw httpError(response.status, data, http.url, "", keyHint) }
            let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any]
            guard let entries = object?["data"] as? [[String: Any]] else {
                throw RuntimeError(.badResponse, "\(http.url) answered without a 'data' list of models", isTransient: false)
            }
            return entries.compactMap { $0["id"] as? String }
        } catch {
            throw scrubber.scrub(error)
        }
    }

    /// A 401 or 403: the key was rejected; `said` is the API's message as `": …"` (or empty).
    static func rejectedKey(_ status: Int, url: String, said: String, keyHint: String?) -> RuntimeError {
        let fix = keyHint.map { "; \($0)" } ?? "; check the runtime's API key"
        let what = status == 401 ? "rejected the API key" : "refused access with this API key"
        return RuntimeError(.httpStatus, "\(url) \(what) (\(status)\(said))\(fix)", isTransient: false)
    }

    /// A 404: a missing model when the answer is `aboutModel`, else a wrong URL (a wrong path is a 404 too).
    static func notFound(url: String, model: String, detail: String, aboutModel: Bool) -> RuntimeError {
        if model.isEmpty || !aboutModel {
            let said = detail.isEmpty ? "" : ": \(detail)"
            return RuntimeError(.httpStatus, "\(url) answered 404 (not found)\(said); check the runtime's url in the profile", isTransient: false)
        }
        return RuntimeError(.modelNotFound, "\(url) does not have the model '\(model)' (\(detail))", isTransient: false)
    }
}
