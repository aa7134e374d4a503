import BatonSpec
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

/// One request a cloud stand-in (``OpenAIStandIn``, ``AnthropicStandIn``) received, headers included, so
/// tests can assert what a client sent.
public struct CloudRequest: Sendable {
    /// `GET` or `POST`.
    public var method: String
    /// The path, such as `/v1/messages`.
    public var path: String
    /// The header fields, names in lower case.
    public var headers: [String: String]
    /// The JSON body, when there was one that parsed.
    public var body: JSONValue?

    /// The header `name` (any case).
    public func header(_ name: String) -> String? { headers[name.lowercased()] }
    /// The `model` field of the body.
    public var model: String? { body?["model"]?.stringValue }
}

/// A failure scripted into a cloud stand-in's next generation requests (after the key check).
public enum CloudFault: Sendable {
    /// Answer the next `count` generation requests with HTTP `status` and the API's own error body
    /// (its usual message for that status when `message` is nil; `code` replaces OpenAI's `code` or
    /// Anthropic's error `type`).
    case status(Int, count: Int = 1, message: String? = nil, code: String? = nil)
    /// Answer the next `count` generation requests with HTTP `status`, the API's usual error body for it, and
    /// exactly `headers` instead of the usual ones: `[:]` is a 429 without `retry-after` (OpenAI may omit it,
    /// `spec:86354-86363`; a real one in openai/openai-node#1477), `x-should-retry` and `retry-after-ms` as both
    /// APIs send them (anthropics/anthropic-sdk-typescript#357).
    case response(Int, headers: [String: String], count: Int = 1)
    /// Close the connection after this many tokens of the next stream.
    case cutStream(afterTokens: Int)
    /// Send the API's mid-stream error after this many tokens of the next stream (the status stays 200),
    /// then end the body.
    case errorEvent(afterTokens: Int, type: String, message: String)
    /// End the next stream's body cleanly after this many tokens, without its closing events.
    case endEarly(afterTokens: Int)
    /// End the next OpenAI stream right after its finish chunk, without the usage chunk and `[DONE]`: "If the
    /// stream is interrupted, you may not receive the final usage chunk" (`spec:31773-31790`).
    case endAfterFinish
}

/// The parts both cloud stand-ins share: the server (``StandInServer``), the request log and the fault
/// queue.
final class CloudStandInCore: @unchecked Sendable {
    private let lock = NSLock()
    private var recorded: [CloudRequest] = []
    private var faults: [CloudFault] = []
    private var counter = 0
    private let server = StandInServer()

    /// The port the server listens on, once started.
    var port: Int { server.port }

    func locked<T>(_ body: () throws -> T) rethrows -> T {
        lock.lock()
        defer { lock.unlock() }
        return try body()
    }

    /// Starts serving `router`.
    func start(_ router: Router<BasicRequestContext>, label: String) async throws {
        try await server.start(router, name: "the \(label)", logLabel: label)
    }

    /// A graceful shutdown, then cancellation after 5 s.
    func stop() async { await server.stop() }

    var requests: [CloudRequest] { locked { recorded } }

    func inject(_ fault: CloudFault) { locked { faults.append(fault) } }

    /// The fault for this generation request, if one is queued (a status fault stays for `count` requests).
    func nextFault() -> CloudFault? {
        locked {
            guard let first = faults.first else { return nil }
            if case .status(let status, let count, let message, let code) = first, count > 1 {
                faults[0] = .status(status, count: count - 1, message: message, code: code)
            } else if case .response(let status, let headers, let count) = first, count > 1 {
                faults[0] = .response(status, headers: headers, count: count - 1)
            } else {
                faults.removeFirst()
            }
            return first
        }
    }

    /// A number for ids, new each time.
    func nextID() -> Int {
        locked {
            counter += 1
            return counter
        }
    }

    /// Adds a route that records each request (see ``record(_:)``) and answers it with `answer`, given the
    /// recorded request and its raw body.
    func route(
        _ router: Router<BasicRequestContext>, _ path: RouterPath, method: HTTPTypes.HTTPRequest.Method,
        _ answer: @escaping @Sendable (CloudRequest, Data) async -> Response
    ) {
        router.on(path, method: method) { [self] request, _ in
            var request = request
            let (recorded, raw) = await record(&request)
            return await answer(recorded, raw)
        }
    }

    /// Reads the body (JSON or nothing) and records the request.
    private func record(_ request: inout Request) async -> (CloudRequest, raw: Data) {
        let buffer = try? await request.collectBody(upTo: 16 * 1024 * 1024)
        let raw = buffer.map { Data($0.readableBytesView) } ?? Data()
        var headers: [String: String] = [:]
        for field in request.headers {
            let name = field.name.canonicalName
            headers[name] = headers[name].map { $0 + ", " + field.value } ?? field.value
        }
        let body = raw.isEmpty ? nil : try? JSONDecoder().decode(JSONValue.self, from: raw)
        let entry = CloudRequest(method: request.method.rawValue, path: request.uri.path, headers: headers, body: body)
        locked { recorded.append(entry) }
        return (entry, raw)
    }

    // MARK: - Shared helpers

    /// The text of a message's `content`: a string, or the `text` of its blocks.
    static func text(of content: JSONValue?) -> String {
        switch content {
        case .string(let text)?: return text
        case .array(let blocks)?: return blocks.compactMap { $0["text"]?.stringValue }.joined(separator: " ")
        default: return ""
        }
    }

    /// One server-sent event: `event:` when named, `data:`, a blank line.
    static func event(_ name: String?, _ object: [String: Any], lineBreak: String = "\n") -> ByteBuffer {
        var text = name.map { "event: \($0)\(lineBreak)" } ?? ""
        text += "data: " + String(decoding: StandInReply.encode(object), as: UTF8.self) + lineBreak + lineBreak
        return ByteBuffer(string: text)
    }

    /// `headers` as HTTP fields (names the API sends in lower case).
    static func fields(_ headers: [String: String]) -> HTTPFields {
        var fields = HTTPFields()
        for (name, value) in headers.sorted(by: { $0.key < $1.key }) {
            if let field = HTTPField.Name(name) { fields[field] = value }
        }
        return fields
    }

    static func json(_ object: [String: Any], status: Int = 200, headers: HTTPFields = [:]) -> Response {
        var fields = headers
        fields[.contentType] = "application/json"
        return Response(
            status: .init(code: status), headers: fields, body: .init(byteBuffer: ByteBuffer(bytes: StandInReply.encode(object))))
    }

    static let eventStreamHeaders: HTTPFields = [.contentType: "text/event-stream; charset=utf-8", .cacheControl: "no-cache"]
}
