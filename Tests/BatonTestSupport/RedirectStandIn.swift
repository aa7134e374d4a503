import Foundation
import HTTPTypes
import Hummingbird

/// A server that answers every request with a redirect (`307 Temporary Redirect` by default) to `target` plus the
/// request's path, and records what it received: the one half of the check that a key never follows a redirect to
/// another host. Real providers do not redirect API calls; a hostile or misconfigured server, or a proxy in front
/// of a runtime, can.
public final class RedirectStandIn: StoppableStandIn, @unchecked Sendable {
    private let core = CloudStandInCore()
    /// Where requests are sent on, such as `http://127.0.0.1:PORT`.
    public let target: String
    /// The status of the redirect.
    public let status: Int

    /// The base URL of the redirecting server.
    public var baseURL: String { "http://127.0.0.1:\(core.port)" }
    /// Every request it received.
    public var requests: [CloudRequest] { core.requests }

    private init(target: String, status: Int) {
        self.target = target
        self.status = status
    }

    /// Starts a server that redirects every request to `target` with `status`.
    public static func start(target: String, status: Int = 307) async throws -> RedirectStandIn {
        let standIn = RedirectStandIn(target: target, status: status)
        let router = Router()
        for method in [HTTPTypes.HTTPRequest.Method.get, .post] {
            for path in ["/v1/messages", "/v1/models", "/v1/chat/completions"] {
                standIn.core.route(router, RouterPath(path), method: method) { request, _ in
                    Response(
                        status: .init(code: status),
                        headers: [.location: standIn.target + request.path, .contentLength: "0"])
                }
            }
        }
        try await standIn.core.start(router, label: "redirect stand-in")
        return standIn
    }

    /// Runs `body` with a started redirecting server and stops it afterwards.
    public static func with<T>(target: String, status: Int = 307, _ body: (RedirectStandIn) async throws -> T) async throws -> T {
        try await start(target: target, status: status).serving(body)
    }

    public func stop() async { await core.stop() }
}
