import Foundation

/// What the clients of the server-sent-event chat APIs (``OpenAICompatibleClient``, ``AnthropicClient``)
/// share: a generation streamed from one request, the model list, and the error mappings they agree on.
/// Every error they throw has the key scrubbed from it.
enum ServerSentEventAPI {
    /// A client's mapping of an HTTP error status and body from `url`, for `model` (empty for none), with the
    /// hint for a rejected key.
    typealias ErrorMapping = @Sendable (_ status: Int, _ body: Data?, _ url: String, _ model: String, _ keyHint: String?) -> RuntimeError

    /// The stream of the generation `request` asks for: sends `http`, maps a status other than 200 with `httpError`,
    /// then `read` turns the response into tokens and returns the usage; past the stage's timeout it fails.
    static func generate(
        _ http: HTTPRequest, for request: GenerationRequest, keyHint: String?, transport: any HTTPTransport, connectTimeout: Double,
        scrubber: SecretScrubber, httpError: @escaping ErrorMapping,
        read:
            @escaping @Sendable (HTTPResponse, AsyncThrowingStream<GenerationEvent, any Error>.Continuation) async throws -> GenerationUsage
    ) -> AsyncThrowingStream<GenerationEvent, any Error> {
        let model = request.model
        return .generation(request) { continuation in
            do {
                let response = try await transport.send(http, connectTimeout: connectTimeout)
                guard response.status == 200 else {
                    let error = httpError(response.status, try? await response.collect(limit: 65536), http.url, model, keyHint)
                    throw retryRules(error, response: response, url: http.url)
                }
                let usage = try await read(response, continuation)
                continuation.yield(.finished(usage))
            } catch {
                throw scrubber.scrub(error)
            }
        }
    }

    /// Seconds of `Retry-After` Baton obeys at most, as the Anthropic SDK does (`ant-sdk:_base_client.py:826-829`,
    /// 60 s; the OpenAI SDK stops at 120 s and then does not retry at all). A server that asks for longer (a
    /// daily limit) gets a permanent `.retryTooLate` error at once, instead of a stage parked for minutes.
    static let maxRetryAfter: Double = 60

    /// `error` (mapped from the status) under the official SDKs' retry rules: the server's `x-should-retry`
    /// overrides the status rule, the wait comes from `retry-after-ms` or `Retry-After`, and a wait above
    /// ``maxRetryAfter`` fails at once with the wait named.
    static func retryRules(_ error: RuntimeError, response: HTTPResponse, url: String) -> RuntimeError {
        var error = error
        if let verdict = response.shouldRetry { error.isTransient = verdict }
        guard error.isTransient, let wait = response.retryAfter() else { return error }
        guard wait <= maxRetryAfter else {
            let asked = wait >= 120 ? "\(Int((wait / 60).rounded())) minutes" : "\(Int(wait.rounded())) seconds"
            return RuntimeError(
                .retryTooLate,
                "\(error.message); it asks to wait \(asked) before a retry, longer than the \(Int(maxRetryAfter)) seconds Baton waits, so the stage fails now; run it again later or use another model",
                isTransient: false)
        }
        error.retryAfter = wait
        return error
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

    /// A 401 (the key was rejected) or a 403 (access refused, for the reason the API gives); `said` is the API's
    /// message as `": …"` (or empty).
    static func rejectedKey(_ status: Int, url: String, said: String, keyHint: String?) -> RuntimeError {
        let fix = keyHint.map { "; \($0)" } ?? "; check the runtime's API key"
        guard status == 401 else {
            // A 403 is not always the key: OpenAI also sends it for an unsupported region
            // (`unsupported_country_region_territory`), Anthropic for a resource the key may not use.
            return RuntimeError(
                .httpStatus,
                "\(url) refused access (403\(said)); the API's message says why: a region it does not serve, the account, or the key's permissions (\(keyHint ?? "check the runtime's API key"))",
                isTransient: false)
        }
        return RuntimeError(.httpStatus, "\(url) rejected the API key (\(status)\(said))\(fix)", isTransient: false)
    }

    /// A 404: a missing model when the answer is `aboutModel`, else a wrong URL (a wrong path is a 404 too).
    static func notFound(url: String, model: String, detail: String, aboutModel: Bool) -> RuntimeError {
        if model.isEmpty || !aboutModel {
            let said = detail.isEmpty ? "" : ": \(detail)"
            return RuntimeError(
                .httpStatus, "\(url) answered 404 (not found)\(said); check the runtime's url in the profile", isTransient: false)
        }
        return RuntimeError(.modelNotFound, "\(url) does not have the model '\(model)' (\(detail))", isTransient: false)
    }
}
