import BatonSpec
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import ServiceLifecycle

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
    /// Close the connection after this many tokens of the next stream.
    case cutStream(afterTokens: Int)
    /// Send the API's mid-stream error after this many tokens of the next stream (the status stays 200),
    /// then end the body.
    case errorEvent(afterTokens: Int, type: String, message: String)
    /// End the next stream's body cleanly after this many tokens, without its closing events.
    case endEarly(afterTokens: Int)
}

/// The parts both cloud stand-ins share: a Hummingbird server on 127.0.0.1 at a port the system picks,
/// the request log and the fault queue.
final class CloudStandInCore: @unchecked Sendable {
    private let lock = NSLock()
    private var recorded: [CloudRequest] = []
    private var faults: [CloudFault] = []
    private var counter = 0
    private var serverTask: Task<Void, Never>?
    private var services: ServiceGroup?
    private(set) var port = 0

    func locked<T>(_ body: () throws -> T) rethrows -> T {
        lock.lock()
        defer { lock.unlock() }
        return try body()
    }

    /// Starts serving `router`.
    func start(_ router: Router<BasicRequestContext>, label: String) async throws {
        let (ports, portContinuation) = AsyncStream<Int>.makeStream()
        var logger = Logger(label: label)
        logger.logLevel = .critical
        let app = Application(
            router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)),
            onServerRunning: { channel in
                portContinuation.yield(channel.localAddress?.port ?? 0)
                portContinuation.finish()
            }, logger: logger)
        // Stopped by a graceful shutdown, not by cancelling (see OllamaStandIn.start).
        let group = ServiceGroup(services: [app], logger: logger)
        let server = Task {
            try? await group.run()
            portContinuation.finish()
        }
        locked {
            serverTask = server
            services = group
        }
        var iterator = ports.makeAsyncIterator()
        guard let port = await iterator.next(), port > 0 else {
            await stop()
            throw StandInError(message: "the \(label) could not bind 127.0.0.1")
        }
        self.port = port
    }

    /// A graceful shutdown, then cancellation after 5 s.
    func stop() async {
        let (group, task) = locked { (services, serverTask) }
        await group?.triggerGracefulShutdown()
        let watchdog = Task {
            try await Task.sleep(for: .seconds(5))
            task?.cancel()
        }
        await task?.value
        watchdog.cancel()
    }

    var requests: [CloudRequest] { locked { recorded } }

    func inject(_ fault: CloudFault) { locked { faults.append(fault) } }

    /// The fault for this generation request, if one is queued (a status fault stays for `count` requests).
    func nextFault() -> CloudFault? {
        locked {
            guard let first = faults.first else { return nil }
            if case .status(let status, let count, let message, let code) = first, count > 1 {
                faults[0] = .status(status, count: count - 1, message: message, code: code)
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

    /// Reads the body (JSON or nothing) and records the request.
    func record(_ request: inout Request) async -> (CloudRequest, raw: Data) {
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

    /// Words with their following space, or JSON in pieces of 8 characters.
    static func tokens(_ text: String, json: Bool) -> [String] {
        var pieces: [String] = []
        if json {
            var rest = Substring(text)
            while !rest.isEmpty {
                pieces.append(String(rest.prefix(8)))
                rest = rest.dropFirst(8)
            }
            return pieces
        }
        var current = ""
        for character in text {
            current.append(character)
            if character == " " {
                pieces.append(current)
                current = ""
            }
        }
        if !current.isEmpty { pieces.append(current) }
        return pieces
    }

    /// The text of a message's `content`: a string, or the `text` of its blocks.
    static func text(of content: JSONValue?) -> String {
        switch content {
        case .string(let text)?: return text
        case .array(let blocks)?: return blocks.compactMap { $0["text"]?.stringValue }.joined(separator: " ")
        default: return ""
        }
    }

    /// Whitespace-separated words, the stand-ins' token count.
    static func wordCount(_ text: String) -> Int { text.split(whereSeparator: \.isWhitespace).count }

    /// The answer when none is scripted: a verdict for verdict schemas, `{}` for other schemas, else the
    /// prompt's first words.
    static func answer(prompt: String, schema: JSONValue?) -> String {
        if let schema {
            if schema["properties"]?["verdict"] != nil { return #"{"verdict":"approve","feedback":"Looks good."}"# }
            return "{}"
        }
        return "You said: " + prompt.split(whereSeparator: \.isWhitespace).prefix(8).joined(separator: " ")
    }

    static func encode(_ object: [String: Any]) -> Data {
        (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])) ?? Data("{}".utf8)
    }

    /// One server-sent event: `event:` when named, `data:`, a blank line.
    static func event(_ name: String?, _ object: [String: Any]) -> ByteBuffer {
        var text = name.map { "event: \($0)\n" } ?? ""
        text += "data: " + String(decoding: encode(object), as: UTF8.self) + "\n\n"
        return ByteBuffer(string: text)
    }

    static func json(_ object: [String: Any], status: Int = 200, headers: HTTPFields = [:]) -> Response {
        var fields = headers
        fields[.contentType] = "application/json"
        return Response(status: .init(code: status), headers: fields, body: .init(byteBuffer: ByteBuffer(bytes: encode(object))))
    }

    static let eventStreamHeaders: HTTPFields = [.contentType: "text/event-stream; charset=utf-8", .cacheControl: "no-cache"]
}
