import BatonSpec
import Foundation

/// `baton keys test`: one cheap authenticated request (`GET /v1/models`) that says whether a cloud runtime accepts
/// the key Baton would send it.
///
/// The request is the clients' own ``OpenAICompatibleClient/models()`` and ``AnthropicClient/models()``, so the
/// check sends exactly the headers a run sends, and every message it returns has the key scrubbed.
public enum KeyCheck {
    /// What the provider said about the key.
    public enum Verdict: String, Sendable, Encodable {
        /// The provider answered the authenticated request.
        case valid
        /// The provider refused the key (401) or access with it (403).
        case rejected
        /// No answer about the key: no connection, a timeout, or an error status that is not about the key.
        case unreachable
    }

    /// The result of one check.
    public struct Outcome: Sendable, Encodable {
        /// The runtime checked.
        public var runtime: String
        /// The URL asked.
        public var url: String
        /// What the answer means for the key.
        public var verdict: Verdict
        /// The HTTP status, when an answer came.
        public var status: Int?
        /// Where the key came from (`the environment variable OPENAI_API_KEY`, `the key file entry 'openai'`).
        public var keySource: String
        /// A sentence for the user: the model count, or the API's message (key scrubbed) and the fix.
        public var detail: String

        enum CodingKeys: String, CodingKey {
            case runtime, url, verdict, status, detail
            case keySource = "key_source"
        }
    }

    /// Why no request could be made.
    public enum Problem: Error, Sendable, Equatable, CustomStringConvertible {
        /// The runtime is not a cloud runtime, so it has no key to test.
        case notACloudRuntime(runtime: String, kind: String)
        /// Neither the environment nor the key file has a key for the runtime; `fix` says how to add one.
        case noKey(runtime: String, fix: String)
        /// The runtime has no url (an `openai` runtime needs one).
        case noURL(runtime: String)

        public var description: String {
            switch self {
            case .notACloudRuntime(let runtime, let kind):
                return "runtime '\(runtime)' has kind \(kind), which takes no API key; 'baton keys test' checks openai and "
                    + "anthropic runtimes"
            case .noKey(let runtime, let fix):
                return "runtime '\(runtime)' has no API key to test; \(fix)"
            case .noURL(let runtime):
                return "runtime '\(runtime)' has no url; set it in the profile (for OpenAI, https://api.openai.com/v1)"
            }
        }
    }

    /// Checks the key of `runtime` with one `GET /v1/models`.
    ///
    /// - Parameters:
    ///   - keys: where the key comes from, as for a run (``KeyFileSource``).
    ///   - keyHosts: the hosts each key may go to, as for a run (``KeyHostPolicy/user(environment:)``).
    /// - Throws: ``Problem`` when no request can be made; ``KeyFileError`` when the key file cannot be unlocked;
    ///   ``KeyHostRefusal`` (before anything is sent) when the runtime's host is not one the key may go to.
    public static func check(
        _ runtime: RuntimeSpec, keys: any APIKeySource, keyHosts: KeyHostPolicy,
        transport: any HTTPTransport = AsyncHTTPTransport()
    ) async throws -> Outcome {
        guard runtime.kind == .openai || runtime.kind == .anthropic else {
            throw Problem.notACloudRuntime(runtime: runtime.name, kind: runtime.kind.rawValue)
        }
        guard let found = try keys.apiKey(for: runtime), !found.value.isEmpty else {
            let fix =
                runtime.apiKeyEnv.map { "set the environment variable \($0) or run 'baton keys set \(runtime.name)'" }
                ?? "run 'baton keys set \(runtime.name)'"
            throw Problem.noKey(runtime: runtime.name, fix: fix)
        }
        let key = found.value
        let source = found.origin.description
        let hint = "check the key in \(source) ('baton keys set \(runtime.name)' replaces the stored one)"
        let recorder = StatusRecorder(transport)
        let url: String
        let request: () async throws -> [String]
        if runtime.kind == .anthropic {
            let base = runtime.url.flatMap { $0.isEmpty ? nil : $0 } ?? "https://api.anthropic.com"
            try keyHosts.check(found, runtime: runtime.name, kind: runtime.kind, url: base)
            let client = AnthropicClient(baseURL: base, apiKey: key, keyHint: hint, transport: recorder)
            url = client.baseURL + "/v1/models"
            request = client.models
        } else {
            guard var base = runtime.url, !base.isEmpty else { throw Problem.noURL(runtime: runtime.name) }
            while base.hasSuffix("/") { base.removeLast() }
            try keyHosts.check(found, runtime: runtime.name, kind: runtime.kind, url: base)
            let client = OpenAICompatibleClient(chatURL: base + "/chat/completions", apiKey: key, keyHint: hint, transport: recorder)
            url = client.modelsURL
            request = client.models
        }
        var outcome = Outcome(runtime: runtime.name, url: url, verdict: .valid, status: nil, keySource: source, detail: "")
        do {
            let models = try await request()
            outcome.status = recorder.status
            outcome.detail = "\(url) accepted the key from \(source) (\(models.count) model\(models.count == 1 ? "" : "s") listed)"
        } catch {
            // The clients scrub their errors already; scrubbing again costs nothing and guards any other path.
            let message = SecretScrubber(key).scrub("\(error)")
            outcome.status = recorder.status
            outcome.detail = message
            switch recorder.status {
            case 401?, 403?: outcome.verdict = .rejected
            case let status? where (200..<300).contains(status):
                // An answer other than the list still means the provider took the key.
                outcome.detail = "\(url) accepted the key from \(source), but its answer was not a model list: \(message)"
            default: outcome.verdict = .unreachable
            }
        }
        return outcome
    }
}

/// A transport that remembers the status of the last answer, so a check can tell a refused key (401/403) from any
/// other failure without parsing the clients' messages.
private final class StatusRecorder: HTTPTransport, Sendable {
    private let base: any HTTPTransport
    private let recorded = Locked<Int?>(nil)

    init(_ base: any HTTPTransport) {
        self.base = base
    }

    /// The status of the last answer, nil when none came.
    var status: Int? { recorded.current }

    func send(_ request: HTTPRequest, connectTimeout: Double) async throws -> HTTPResponse {
        let response = try await base.send(request, connectTimeout: connectTimeout)
        recorded.withLock { $0 = response.status }
        return response
    }
}
