import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// One HTTP request to a runtime.
public struct HTTPRequest: Sendable {
    /// `GET`, `POST`, ...
    public var method: String
    /// The full URL.
    public var url: String
    /// Header fields.
    public var headers: [(String, String)]
    /// The body, for POST.
    public var body: Data?

    /// Creates a request.
    public init(method: String, url: String, headers: [(String, String)] = [], body: Data? = nil) {
        self.method = method
        self.url = url
        self.headers = headers
        self.body = body
    }

    /// A POST of a JSON object.
    public static func json(_ url: String, _ object: [String: Any], headers: [(String, String)] = []) -> HTTPRequest {
        let body = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])) ?? Data()
        return HTTPRequest(method: "POST", url: url, headers: [("Content-Type", "application/json")] + headers, body: body)
    }
}

/// A runtime's answer: the status now, the body as it arrives.
public struct HTTPResponse: Sendable {
    /// The HTTP status.
    public var status: Int
    /// The body, chunk by chunk.
    public var body: AsyncThrowingStream<Data, any Error>
    /// The response headers, names as sent.
    public var headers: [(String, String)]

    /// Creates a response.
    public init(status: Int, body: AsyncThrowingStream<Data, any Error>, headers: [(String, String)] = []) {
        self.status = status
        self.body = body
        self.headers = headers
    }

    /// The value of header `name` (case-insensitive), if present.
    public func header(_ name: String) -> String? {
        headers.first { $0.0.caseInsensitiveCompare(name) == .orderedSame }?.1
    }

    /// Seconds the server asks to wait before retrying: `retry-after-ms` (milliseconds) when present, as the
    /// OpenAI and Anthropic SDKs prefer it (`oai-sdk:_base_client.py:762-768`, `ant-sdk:_base_client.py:793-799`),
    /// else `Retry-After` as seconds or as an HTTP date. Not capped: the caller decides how long it obeys.
    public func retryAfter(now: Date = Date()) -> Double? {
        if let text = header("retry-after-ms")?.trimmingCharacters(in: .whitespaces), let milliseconds = Double(text),
            milliseconds >= 0, milliseconds.isFinite
        {
            return milliseconds / 1000
        }
        guard let value = header("Retry-After")?.trimmingCharacters(in: .whitespaces) else { return nil }
        if let seconds = Double(value), seconds >= 0, seconds.isFinite { return seconds }
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "GMT")
        formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss zzz"
        guard let date = formatter.date(from: value) else { return nil }
        return max(0, date.timeIntervalSince(now))
    }

    /// The server's own verdict on retrying (`x-should-retry: true` or `false`), which both official SDKs
    /// obey before any rule on the status (`oai-sdk:_base_client.py:825-834`, `ant-sdk:_base_client.py:842-852`).
    public var shouldRetry: Bool? {
        switch header("x-should-retry")?.trimmingCharacters(in: .whitespaces).lowercased() {
        case "true": true
        case "false": false
        default: nil
        }
    }

    /// The whole body (for small, non-streamed answers), at most `limit` bytes.
    public func collect(limit: Int = 16 * 1024 * 1024) async throws -> Data {
        var data = Data()
        for try await chunk in body {
            data.append(chunk)
            if data.count > limit {
                throw RuntimeError(.badResponse, "the runtime's answer is larger than \(limit) bytes", isTransient: false)
            }
        }
        return data
    }

    /// The body split into lines (without line breaks), for NDJSON and server-sent events. A line ends at
    /// CR, LF or CRLF, as the SSE format allows (`oai-sdk:_streaming.py:284-321` splits on all three), also
    /// when a CRLF is split between two chunks.
    public var lines: AsyncThrowingStream<String, any Error> {
        let body = self.body
        return .producing { continuation in
            var buffer = Data()
            // A CR ended the last line: an LF that follows it belongs to the same line break.
            var afterCR = false
            for try await chunk in body {
                for byte in chunk {
                    if afterCR {
                        afterCR = false
                        if byte == 0x0A { continue }
                    }
                    if byte == 0x0A || byte == 0x0D {
                        continuation.yield(String(decoding: buffer, as: UTF8.self))
                        buffer.removeAll(keepingCapacity: true)
                        afterCR = byte == 0x0D
                    } else {
                        buffer.append(byte)
                    }
                }
            }
            if !buffer.isEmpty { continuation.yield(String(decoding: buffer, as: UTF8.self)) }
        }
    }
}

/// Sends HTTP requests. The one seam under every runtime client, so tests can see or fake the traffic.
public protocol HTTPTransport: Sendable {
    /// Sends `request`; the response arrives when its head does, the body streams after.
    ///
    /// - Throws: ``RuntimeError`` `.unreachable` (transient) when no connection could be made.
    func send(_ request: HTTPRequest, connectTimeout: Double) async throws -> HTTPResponse
}

/// The transport on AsyncHTTPClient.
public struct AsyncHTTPTransport: HTTPTransport {
    private let client: HTTPClient

    /// One client for the process. AsyncHTTPClient normally retries a refused connection until the
    /// request's deadline (minutes for a chat request, since a cold load can come first); here a refused
    /// connection fails at once, so a runtime that is down is reported in milliseconds.
    ///
    /// Redirects are never followed: AsyncHTTPClient follows up to 5 by default and, on a redirect to another
    /// origin, drops only `Authorization`, `Cookie`, `Origin` and `Proxy-Authorization`
    /// (async-http-client 1.37.0 `RedirectState.swift` `transformRequestForRedirect`), so Anthropic's `x-api-key`
    /// would follow a 307 to any host. A key is checked against the runtime's URL only, so the answer to a
    /// redirect is returned as it is (an error status for the client) instead.
    public static let defaultClient: HTTPClient = {
        var configuration = HTTPClient.Configuration()
        configuration.redirectConfiguration = .disallow
        configuration.connectionPool.retryConnectionEstablishment = false
        configuration.timeout.connect = .seconds(5)
        return HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    }()

    /// Uses the process's client.
    public init(client: HTTPClient = AsyncHTTPTransport.defaultClient) {
        self.client = client
    }

    public func send(_ request: HTTPRequest, connectTimeout: Double) async throws -> HTTPResponse {
        var outgoing = HTTPClientRequest(url: request.url)
        outgoing.method = HTTPMethod(rawValue: request.method)
        for (name, value) in request.headers { outgoing.headers.add(name: name, value: value) }
        if let body = request.body { outgoing.body = .bytes(ByteBuffer(bytes: body)) }
        let response: HTTPClientResponse
        do {
            // The deadline covers connecting and the response head; a slow body is bounded by stage timeouts.
            response = try await client.execute(outgoing, timeout: .milliseconds(Int64(connectTimeout * 1000)))
        } catch {
            throw Self.map(error, url: request.url)
        }
        let body = response.body
        let stream = AsyncThrowingStream<Data, any Error>.producing { continuation in
            do {
                for try await buffer in body {
                    continuation.yield(Data(buffer.readableBytesView))
                }
            } catch {
                throw Self.map(error, url: request.url)
            }
        }
        return HTTPResponse(status: Int(response.status.code), body: stream, headers: response.headers.map { ($0.name, $0.value) })
    }

    /// Throws `.unreachable` when nothing accepts TCP connections at the URL's host and port (2 s at most),
    /// for `baton doctor`'s check of cloud endpoints.
    static func checkReachable(_ url: String) throws {
        guard let components = URLComponents(string: url), let host = components.host else { return }
        let port = components.port ?? (components.scheme == "https" ? 443 : 80)
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var result: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(host, String(port), &hints, &result) == 0, let first = result else {
            throw RuntimeError(.unreachable, "cannot resolve the host of \(url)", isTransient: true)
        }
        defer { freeaddrinfo(result) }
        var address: UnsafeMutablePointer<addrinfo>? = first
        while let candidate = address {
            defer { address = candidate.pointee.ai_next }
            let fd = socket(candidate.pointee.ai_family, candidate.pointee.ai_socktype, candidate.pointee.ai_protocol)
            guard fd >= 0 else { continue }
            defer { close(fd) }
            _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
            if connect(fd, candidate.pointee.ai_addr, candidate.pointee.ai_addrlen) == 0 { return }
            guard errno == EINPROGRESS else { continue }
            var poller = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
            guard poll(&poller, 1, 2000) == 1 else { continue }
            var error: Int32 = 0
            var length = socklen_t(MemoryLayout<Int32>.size)
            getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &length)
            if error == 0 { return }
        }
        throw RuntimeError(.unreachable, "cannot connect to \(url): is the runtime running?", isTransient: true)
    }

    /// Connection failures are transient; so is a connection that breaks mid-answer.
    static func map(_ error: any Error, url: String) -> any Error {
        if error is CancellationError || error is RuntimeError { return error }
        if let error = error as? HTTPClientError {
            switch error {
            case .cancelled: return CancellationError()
            case .connectTimeout, .deadlineExceeded, .readTimeout:
                return RuntimeError(.unreachable, "\(url) did not answer in time", isTransient: true)
            case .remoteConnectionClosed:
                return RuntimeError(.badResponse, "\(url) closed the connection before the answer was complete", isTransient: true)
            default:
                break
            }
        }
        let text = "\(error)"
        if text.contains("connectionRefused") || text.contains("Connection refused") || text.contains("NIOConnectionError")
            || text.contains("connectTimeout")
        {
            return RuntimeError(.unreachable, "cannot connect to \(url): is the runtime running?", isTransient: true)
        }
        return RuntimeError(.badResponse, "the request to \(url) failed: \(text)", isTransient: true)
    }
}
