import Foundation
import Testing

@testable import BatonEngine
@testable import BatonSpec

/// ``KeyCheck`` on scripted answers: which statuses mean a rejected key, and that the key is scrubbed from what is
/// reported. The real binary against the stand-ins is in `KeysTestCommandTests`.
@Suite struct KeyCheckTests {
    /// Answers every request with `status` and `body`, and records the requests.
    final class ScriptedTransport: HTTPTransport, @unchecked Sendable {
        let status: Int
        let body: String
        private let lock = NSLock()
        private var sent: [HTTPRequest] = []

        init(_ status: Int, _ body: String) {
            self.status = status
            self.body = body
        }

        var requests: [HTTPRequest] { lock.withLock { sent } }

        func send(_ request: HTTPRequest, connectTimeout: Double) async throws -> HTTPResponse {
            lock.withLock { sent.append(request) }
            let data = Data(body.utf8)
            return HTTPResponse(
                status: status,
                body: AsyncThrowingStream {
                    $0.yield(data)
                    $0.finish()
                })
        }
    }

    static let key = "sk-check-canary-0c4f9a11b2"
    static let openAI = RuntimeSpec(name: "cloud", kind: .openai, url: "https://api.example.test/v1", apiKeyEnv: "CLOUD_KEY", options: [:])
    static let anthropic = RuntimeSpec(
        name: "claude", kind: .anthropic, url: "https://anthropic.example.test", apiKeyEnv: "CLAUDE_KEY", options: [:])

    static func check(_ runtime: RuntimeSpec, _ transport: ScriptedTransport) async throws -> KeyCheck.Outcome {
        let environment = ["CLOUD_KEY": key, "CLAUDE_KEY": key]
        // The scripted transport stands in for the runtimes' own hosts, which the user allows for these variables.
        let allowed = KeyHostAllowances([
            "CLOUD_KEY": [KeyHost(host: "api.example.test")!], "CLAUDE_KEY": [KeyHost(host: "anthropic.example.test")!],
        ])
        return try await KeyCheck.check(
            runtime, keys: EnvironmentKeySource(environment: environment), keyHosts: KeyHostPolicy(allowances: allowed),
            transport: transport)
    }

    @Test func a403IsARejectionWithTheAPIsReason() async throws {
        let openAI = try await Self.check(
            Self.openAI,
            ScriptedTransport(
                403,
                #"{"error":{"message":"Country, region, or territory not supported","type":"request_forbidden","code":"unsupported_country_region_territory"}}"#
            ))
        #expect(openAI.verdict == .rejected && openAI.status == 403)
        #expect(openAI.detail.contains("Country, region, or territory not supported"), "\(openAI.detail)")
        let anthropic = try await Self.check(
            Self.anthropic,
            ScriptedTransport(
                403, #"{"type":"error","error":{"type":"permission_error","message":"Your API key does not have permission"}}"#))
        #expect(anthropic.verdict == .rejected && anthropic.status == 403)
        #expect(anthropic.keySource == "the environment variable CLAUDE_KEY")
    }

    @Test func aMaskedEchoOfTheKeyIsScrubbed() async throws {
        let masked = "sk-che" + String(repeating: "*", count: 10) + "b2"
        let outcome = try await Self.check(
            Self.openAI,
            ScriptedTransport(401, #"{"error":{"message":"Incorrect API key provided: \#(masked).","code":"invalid_api_key"}}"#))
        #expect(outcome.verdict == .rejected)
        #expect(!outcome.detail.contains(masked) && !outcome.detail.contains(Self.key), "\(outcome.detail)")
    }

    @Test(arguments: [429, 500, 404])
    func anotherErrorStatusIsUnreachableNotRejected(_ status: Int) async throws {
        let outcome = try await Self.check(Self.openAI, ScriptedTransport(status, #"{"error":{"message":"try later"}}"#))
        #expect(outcome.verdict == .unreachable && outcome.status == status, "\(outcome)")
    }

    @Test func aValidKeyIsOneGETOfTheModelList() async throws {
        let transport = ScriptedTransport(200, #"{"object":"list","data":[{"id":"gpt-a"}]}"#)
        let outcome = try await Self.check(Self.openAI, transport)
        #expect(outcome.verdict == .valid && outcome.status == 200)
        #expect(transport.requests.map { "\($0.method) \($0.url)" } == ["GET https://api.example.test/v1/models"])
    }
}
