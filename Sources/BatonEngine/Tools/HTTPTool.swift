import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1

/// One header of an `http` tool request or response.
public struct HTTPToolHeader: Sendable, Equatable {
    /// The field name as sent or received.
    public var name: String
    /// The field value.
    public var value: String

    /// A header `name: value`.
    public init(_ name: String, _ value: String) {
        self.name = name
        self.value = value
    }
}

/// One call for the `http` runner: a request, the hosts it may reach, and its caps.
public struct HTTPToolRequest: Sendable {
    /// The loopback hosts allowed when a stage lists none.
    public static let loopbackHosts = ["localhost", "127.0.0.0/8", "::1"]

    /// The method, such as GET or POST.
    public var method: String
    /// An absolute http or https URL.
    public var url: String
    /// Headers sent as they are (an `Idempotency-Key` among them when the caller passes one).
    public var headers: [HTTPToolHeader]
    /// The request body, sent as UTF-8.
    public var body: String?
    /// Host names (case-insensitive, exact), IPv4 addresses or CIDR blocks, and IPv6 addresses the call may reach.
    public var allowedHosts: [String]
    /// Seconds for the whole call, redirects and body included.
    public var timeout: Double
    /// Bytes of response body kept; a longer body is cut there and flagged.
    public var responseCap: Int
    /// Redirects followed (to the same scheme, host and port only) before the call fails.
    public var maxRedirects: Int

    /// A request with the defaults: loopback hosts only, a 1 MiB body cap, at most 5 redirects.
    public init(
        method: String = "GET", url: String, headers: [HTTPToolHeader] = [], body: String? = nil,
        allowedHosts: [String] = HTTPToolRequest.loopbackHosts, timeout: Double, responseCap: Int = 1 << 20,
        maxRedirects: Int = 5
    ) {
        self.method = method
        self.url = url
        self.headers = headers
        self.body = body
        self.allowedHosts = allowedHosts
        self.timeout = timeout
        self.responseCap = responseCap
        self.maxRedirects = maxRedirects
    }
}

/// The answer to an `http` tool call; any status, 4xx and 5xx included, is a result (the executor decides).
public struct HTTPToolResult: Sendable, Equatable {
    /// The final response's status code.
    public var status: Int
    /// The final response's headers, in order.
    public var headers: [HTTPToolHeader]
    /// The body as UTF-8 (invalid bytes replaced), at most the cap.
    public var body: String
    /// Whether the body went beyond the cap; the rest was not read (the connection is dropped).
    public var truncated: Bool
    /// The URL that answered, after redirects.
    public var finalURL: String
    /// Redirects followed.
    public var redirects: Int
    /// Seconds from the first request to the end of the body.
    public var seconds: Double

    /// The first value of header `name` (case-insensitive).
    public func header(_ name: String) -> String? {
        headers.first { $0.name.lowercased() == name.lowercased() }?.value
    }
}

/// Why an `http` tool call failed.
public struct HTTPToolError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The kind of failure.
    public enum Code: Sendable, Equatable {
        /// The URL is not an absolute http(s) URL.
        case invalidURL
        /// The URL's host is not on the allow-list; nothing was sent.
        case hostNotAllowed
        /// A redirect pointed to another scheme, host or port; it was not followed.
        case crossHostRedirect
        /// More redirects than allowed.
        case tooManyRedirects
        /// The call took longer than its timeout.
        case timedOut
        /// No connection, or it broke.
        case connectionFailed
    }
    /// The kind of failure.
    public var code: Code
    /// A message naming the URL or hosts and the fix.
    public var message: String

    /// An error of `code` with `message`.
    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { message }
}

/// The `http` runner, on the engine's one AsyncHTTPClient (``AsyncHTTPTransport/defaultClient``, which never follows
/// redirects itself): the host is checked against the allow-list before any connection, redirects are followed here
/// only within the same origin, and the body is cut at its cap.
///
/// A body beyond the cap is cut, not an error: like `run`'s stdout, a stage gets what fits, marked truncated, and
/// the executor decides (a JSON stage fails on the cut text; a text stage keeps it). Reading stops at the cap, so a
/// huge or endless body costs neither memory nor time.
public enum HTTPTool {
    /// Sends `request`, following same-origin redirects.
    ///
    /// - Throws: ``HTTPToolError``; `CancellationError` when the calling task was cancelled.
    public static func run(_ request: HTTPToolRequest, client: HTTPClient = AsyncHTTPTransport.defaultClient) async throws
        -> HTTPToolResult
    {
        let origin = try Origin(request.url)
        guard isAllowed(host: origin.host, by: request.allowedHosts) else {
            throw HTTPToolError(
                .hostNotAllowed,
                "\(origin.host) (in \(request.url)) is not an allowed host (allowed: \(request.allowedHosts.joined(separator: ", "))); "
                    + "add it to the stage's allow_hosts")
        }
        let clock = ContinuousClock()
        let start = clock.now
        let timeout = Duration.milliseconds(Int64(max(0, request.timeout) * 1000))
        return try await withThrowingTaskGroup(of: HTTPToolResult?.self) { group in
            group.addTask { try await follow(request, origin: origin, client: client, start: start, clock: clock) }
            group.addTask {
                try await Task.sleep(for: timeout)
                return nil
            }
            defer { group.cancelAll() }
            guard let first = try await group.next(), let result = first else { throw timedOut(request) }
            return result
        }
    }

    private static func timedOut(_ request: HTTPToolRequest) -> HTTPToolError {
        HTTPToolError(.timedOut, "\(request.method) \(request.url) took longer than \(request.timeout) s; raise the stage's timeout")
    }

    private static func follow(
        _ request: HTTPToolRequest, origin: Origin, client: HTTPClient, start: ContinuousClock.Instant, clock: ContinuousClock
    ) async throws -> HTTPToolResult {
        var url = request.url
        var method = request.method.uppercased()
        var body = request.body
        var redirects = 0
        while true {
            var outgoing = HTTPClientRequest(url: url)
            outgoing.method = HTTPMethod(rawValue: method)
            for header in request.headers { outgoing.headers.add(name: header.name, value: header.value) }
            if let body { outgoing.body = .bytes(ByteBuffer(string: body)) }
            let response: HTTPClientResponse
            do {
                response = try await client.execute(outgoing, timeout: .milliseconds(Int64(max(0, request.timeout) * 1000)))
            } catch {
                if Task.isCancelled { throw CancellationError() }
                if let clientError = error as? HTTPClientError, clientError == .deadlineExceeded || clientError == .readTimeout {
                    throw timedOut(request)
                }
                throw HTTPToolError(.connectionFailed, "\(method) \(url) failed: \(error); check that the server is up")
            }
            let status = Int(response.status.code)
            if [301, 302, 303, 307, 308].contains(status), let location = response.headers.first(name: "location") {
                guard let target = URL(string: location, relativeTo: URL(string: url))?.absoluteURL.absoluteString,
                    let targetOrigin = try? Origin(target)
                else {
                    throw HTTPToolError(.invalidURL, "\(url) redirected to \(location), which is not an http(s) URL")
                }
                guard targetOrigin == origin else {
                    throw HTTPToolError(
                        .crossHostRedirect,
                        "\(url) redirected to \(target): \(targetOrigin.display) is not \(origin.display), and redirects are "
                            + "followed only to the same host; call \(targetOrigin.display) directly if it is meant")
                }
                redirects += 1
                guard redirects <= request.maxRedirects else {
                    throw HTTPToolError(
                        .tooManyRedirects, "\(request.url) redirected more than \(request.maxRedirects) times; last to \(target)")
                }
                // As browsers and curl do: 303 (and 301/302 after a POST) continue as a GET without the body;
                // 307/308 repeat the request as it was.
                if status == 303 || ((status == 301 || status == 302) && method == "POST") {
                    method = "GET"
                    body = nil
                }
                url = target
                continue
            }
            var kept: [UInt8] = []
            var truncated = false
            do {
                for try await chunk in response.body {
                    let room = request.responseCap - kept.count
                    if chunk.readableBytes > room {
                        kept.append(contentsOf: chunk.readableBytesView.prefix(max(0, room)))
                        truncated = true
                        break
                    }
                    kept.append(contentsOf: chunk.readableBytesView)
                }
            } catch {
                if Task.isCancelled { throw CancellationError() }
                throw HTTPToolError(.connectionFailed, "\(method) \(url): the body broke off: \(error)")
            }
            return HTTPToolResult(
                status: status,
                headers: response.headers.map { HTTPToolHeader($0.name, $0.value) },
                body: String(decoding: kept, as: UTF8.self),
                truncated: truncated,
                finalURL: url,
                redirects: redirects,
                seconds: ProcessTool.seconds(clock.now - start))
        }
    }

    /// Whether `host` (a name, or an IP literal without brackets) is on `allowed`.
    public static func isAllowed(host: String, by allowed: [String]) -> Bool {
        let host = host.lowercased()
        let hostV4 = ipv4(host)
        let hostV6 = ipv6(host)
        for entry in allowed.map({ $0.lowercased().trimmingCharacters(in: CharacterSet(charactersIn: "[]")) }) {
            if entry == host { return true }
            if let hostV4 {
                let parts = entry.split(separator: "/", maxSplits: 1)
                if let base = ipv4(String(parts[0])) {
                    let bits = parts.count == 2 ? Int(parts[1]) ?? -1 : 32
                    guard (0...32).contains(bits) else { continue }
                    let mask: UInt32 = bits == 0 ? 0 : ~UInt32(0) << (32 - bits)
                    if hostV4 & mask == base & mask { return true }
                }
            }
            if let hostV6, let entryV6 = ipv6(entry), hostV6 == entryV6 { return true }
        }
        return false
    }

    private static func ipv4(_ text: String) -> UInt32? {
        var address = in_addr()
        guard inet_pton(AF_INET, text, &address) == 1 else { return nil }
        return UInt32(bigEndian: address.s_addr)
    }

    private static func ipv6(_ text: String) -> [UInt8]? {
        var address = in6_addr()
        guard inet_pton(AF_INET6, text, &address) == 1 else { return nil }
        return withUnsafeBytes(of: &address) { Array($0) }
    }

    /// Scheme, host and port with the scheme's default port filled in: what "the same host" means for redirects.
    struct Origin: Equatable {
        var scheme: String
        var host: String
        var port: Int

        init(_ url: String) throws {
            guard let components = URLComponents(string: url), let scheme = components.scheme?.lowercased(),
                scheme == "http" || scheme == "https", let host = components.host, !host.isEmpty
            else {
                throw HTTPToolError(.invalidURL, "\(url) is not an absolute http or https URL; write it as http://HOST[:PORT]/PATH")
            }
            self.scheme = scheme
            self.host = host.lowercased().trimmingCharacters(in: CharacterSet(charactersIn: "[]"))
            self.port = components.port ?? (scheme == "https" ? 443 : 80)
        }

        var display: String {
            let host = self.host.contains(":") ? "[\(self.host)]" : self.host
            return "\(scheme)://\(host):\(port)"
        }
    }
}
