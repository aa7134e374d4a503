import Foundation
import HTTPTypes
import HummingbirdCore
import NIOCore

/// The checks in front of every route, and the headers on every response (docs/serve.md, "Security").
///
/// In order: the `Host` header when bound to loopback (403: a page on another site that resolves its own name to
/// 127.0.0.1 must not read the runs), the token when one is set (401), and for a POST `--allow-actions` and the header
/// `X-Baton-Request: 1` (403: a cross-site form cannot send a custom header).
struct DashboardGuard: Sendable {
    let options: ServeOptions
    /// The bound port, known once the server listens.
    let port: Locked<Int>

    static let cookieName = "baton_token"
    static let requestHeader = HTTPField.Name("X-Baton-Request")!
    static let contentSecurityPolicy =
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'"

    /// The response to `request`: a refusal, or what `next` answers (an error it throws as a 500), with the headers
    /// every response carries.
    func respond(to request: Request, next: (Request) async throws -> Response) async -> Response {
        let api = request.uri.path.hasPrefix("/api/")
        var response: Response
        if let refusal = refusal(request, api: api) {
            response = refusal
        } else {
            do {
                response = try await next(request)
            } catch {
                response = Reply.failure(.internalServerError, "internal error: \(error)", api: api, options: options)
            }
        }
        response.headers[.contentSecurityPolicy] = Self.contentSecurityPolicy
        response.headers[HTTPField.Name("X-Content-Type-Options")!] = "nosniff"
        response.headers[HTTPField.Name("Referrer-Policy")!] = "no-referrer"
        response.headers[HTTPField.Name("X-Frame-Options")!] = "DENY"
        if response.headers[.cacheControl] == nil { response.headers[.cacheControl] = "no-store" }
        return response
    }

    /// The response refusing `request`, nil when it may go on.
    func refusal(_ request: Request, api: Bool) -> Response? {
        if options.isLoopback, !hostAllowed(request.head.authority) {
            return Reply.failure(
                .forbidden,
                "the Host header '\(request.head.authority ?? "")' is not this server's; open \(options.host):\(port.current) directly",
                api: api, options: options)
        }
        if let token = options.token {
            // A page opened with ?token= gets the cookie, then the same address without the token in it (kept out of
            // the address bar and the history).
            if !api, request.method == .get, let query = request.uri.queryParameters["token"],
                Self.constantTimeEqual(String(query), token)
            {
                return Reply.redirect(to: Self.removingToken(request.uri), cookie: "\(Self.cookieName)=\(token)")
            }
            let offered = Self.bearer(request.headers[.authorization]) ?? Self.cookie(request.headers[.cookie])
            if offered.map({ Self.constantTimeEqual($0, token) }) != true {
                return Reply.unauthorized(api: api, options: options)
            }
        }
        if request.method == .post {
            guard options.allowActions else {
                return Reply.failure(.forbidden, "actions are off; restart baton serve with --allow-actions", api: true, options: options)
            }
            guard request.headers[Self.requestHeader] == "1" else {
                return Reply.failure(
                    .forbidden, "actions need the header X-Baton-Request: 1 (a cross-site form cannot send it)", api: true, options: options
                )
            }
        }
        return nil
    }

    /// Whether `authority` names this server: 127.0.0.1, localhost, [::1] or the bound host, at the bound port.
    func hostAllowed(_ authority: String?) -> Bool {
        guard let authority = authority?.lowercased() else { return false }
        let port = port.current
        let hosts = ["127.0.0.1", "localhost", "[::1]", options.host.lowercased(), "[\(options.host.lowercased())]"]
        return hosts.contains { authority == "\($0):\(port)" }
    }

    /// The token of an `Authorization: Bearer T` header.
    static func bearer(_ header: String?) -> String? {
        guard let header, header.count > 7, header.prefix(7).lowercased() == "bearer " else { return nil }
        return String(header.dropFirst(7)).trimmingCharacters(in: .whitespaces)
    }

    /// The value of the `baton_token` cookie in a `Cookie` header.
    static func cookie(_ header: String?) -> String? {
        guard let header else { return nil }
        for pair in header.split(separator: ";") {
            let parts = pair.split(separator: "=", maxSplits: 1)
            if parts.count == 2, parts[0].trimmingCharacters(in: .whitespaces) == cookieName {
                return parts[1].trimmingCharacters(in: .whitespaces)
            }
        }
        return nil
    }

    /// Compares without stopping at the first difference, so the time taken says nothing about the token.
    static func constantTimeEqual(_ a: String, _ b: String) -> Bool {
        let left = Array(a.utf8)
        let right = Array(b.utf8)
        var difference = UInt8(left.count == right.count ? 0 : 1)
        for index in 0..<max(left.count, right.count) {
            difference |= (index < left.count ? left[index] : 0) ^ (index < right.count ? right[index] : 0)
        }
        return difference == 0
    }

    /// `uri`'s path and query without its `token` parameter.
    static func removingToken(_ uri: URI) -> String {
        let kept = (uri.query ?? "").split(separator: "&").filter { !$0.hasPrefix("token=") && $0 != "token" }
        // One leading slash: `//host` would send the browser to another site.
        let path = "/" + uri.path.drop { $0 == "/" }
        return path + (kept.isEmpty ? "" : "?" + kept.joined(separator: "&"))
    }
}

/// An HTTP status (BatonEngine's own `HTTPResponse`, of the runtime clients, hides HTTPTypes' name).
typealias HTTPStatus = HTTPTypes.HTTPResponse.Status

/// The responses the server builds.
enum Reply {
    /// JSON text.
    static func json(_ text: String, status: HTTPStatus = .ok) -> Response {
        Response(
            status: status, headers: [.contentType: "application/json; charset=utf-8"], body: .init(byteBuffer: ByteBuffer(string: text)))
    }

    /// An HTML page.
    static func html(_ text: String, status: HTTPStatus = .ok) -> Response {
        Response(status: status, headers: [.contentType: "text/html; charset=utf-8"], body: .init(byteBuffer: ByteBuffer(string: text)))
    }

    /// `{"error": message}` for the API; for a page, the not-found page holding the message (404), else a short page.
    static func failure(_ status: HTTPStatus, _ message: String, api: Bool, options: ServeOptions) -> Response {
        if api { return json(ServeJSON.error(message), status: status) }
        if status == .notFound {
            return html(DashboardPages.notFoundPage(message, context: PageContext(actionsAllowed: options.allowActions)), status: status)
        }
        let title = DashboardPages.html(status.reasonPhrase)
        let page = """
            <!DOCTYPE html>
            <html lang="en"><head><meta charset="utf-8"><title>\(title) · baton</title></head>
            <body data-page="error"><h1>\(title)</h1>
            <p>\(DashboardPages.html(message))</p>
            </body></html>
            """
        return html(page, status: status)
    }

    /// 401: JSON for the API, for a page a short page saying how to open it.
    static func unauthorized(api: Bool, options: ServeOptions) -> Response {
        let message = "this baton serve needs its token: open the address with ?token=TOKEN once (or send Authorization: Bearer TOKEN)"
        if api { return json(ServeJSON.error(message), status: .unauthorized) }
        let page = """
            <!DOCTYPE html>
            <html lang="en"><head><meta charset="utf-8"><title>Token needed · baton</title></head>
            <body data-page="unauthorized"><h1>Token needed</h1>
            <p>This dashboard needs its token. Open the address with <code>?token=TOKEN</code> added once; a cookie keeps it.</p>
            </body></html>
            """
        return html(page, status: .unauthorized)
    }

    /// 303 to `location`, setting the token cookie.
    static func redirect(to location: String, cookie: String) -> Response {
        Response(
            status: .seeOther,
            headers: [.location: location, .setCookie: "\(cookie); HttpOnly; SameSite=Strict; Path=/"])
    }
}
