import BatonSpec
import Foundation
import Hummingbird
import Logging
import ServiceLifecycle

/// The server under every stand-in (``OllamaStandIn``, ``OpenAIStandIn``, ``AnthropicStandIn``): Hummingbird
/// on 127.0.0.1 at a port the system picks, stopped by a graceful shutdown.
final class StandInServer: @unchecked Sendable {
    private let lock = NSLock()
    private var serverTask: Task<Void, Never>?
    private var services: ServiceGroup?
    private(set) var port = 0

    /// Starts serving `router`; `name` (such as "the Ollama stand-in") is for the error when it cannot bind.
    func start(_ router: Router<BasicRequestContext>, name: String, logLabel: String) async throws {
        let (ports, portContinuation) = AsyncStream<Int>.makeStream()
        var logger = Logger(label: logLabel)
        logger.logLevel = .critical
        let app = Application(
            router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)),
            onServerRunning: { channel in
                portContinuation.yield(channel.localAddress?.port ?? 0)
                portContinuation.finish()
            }, logger: logger)
        // Stopped by a graceful shutdown, not by cancelling: cancelling can leave an accepted connection
        // unserved, and NIO traps on it ("Deinited NIOAsyncWriter without calling finish()", swift-nio#3481).
        let group = ServiceGroup(services: [app], logger: logger)
        let server = Task {
            try? await group.run()
            portContinuation.finish()
        }
        lock.withLock {
            serverTask = server
            services = group
        }
        var iterator = ports.makeAsyncIterator()
        guard let port = await iterator.next(), port > 0 else {
            await stop()
            throw StandInError(message: "\(name) could not bind 127.0.0.1")
        }
        self.port = port
    }

    /// A graceful shutdown, then cancellation after 5 s.
    func stop() async {
        let (group, task) = lock.withLock { (services, serverTask) }
        await group?.triggerGracefulShutdown()
        let watchdog = Task {
            try await Task.sleep(for: .seconds(5))
            task?.cancel()
        }
        await task?.value
        watchdog.cancel()
    }
}

/// A started stand-in that a test stops when it is done with it.
protocol StoppableStandIn: AnyObject {
    /// Stops the server; its port then refuses connections.
    func stop() async
}

extension StoppableStandIn {
    /// Runs `body` with this stand-in and stops it afterwards, even when `body` throws.
    func serving<T>(_ body: (Self) async throws -> T) async throws -> T {
        do {
            let result = try await body(self)
            await stop()
            return result
        } catch {
            await stop()
            throw error
        }
    }
}

/// The answers every stand-in makes up when none is scripted, and their tokens.
enum StandInReply {
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

    /// Whitespace-separated words, the stand-ins' token count.
    static func wordCount(_ text: String) -> Int { text.split(whereSeparator: \.isWhitespace).count }

    /// The answer when none is scripted: a verdict for verdict schemas, `{}` for other schemas (or
    /// structured output without one), else the prompt's first words.
    static func answer(prompt: String, schema: JSONValue?) -> String {
        if let schema {
            if schema["properties"]?["verdict"] != nil { return #"{"verdict":"approve","feedback":"Looks good."}"# }
            return "{}"
        }
        return "You said: " + prompt.split(whereSeparator: \.isWhitespace).prefix(8).joined(separator: " ")
    }

    /// `object` as JSON with sorted keys, `{}` when it cannot be encoded.
    static func encode(_ object: [String: Any]) -> Data {
        (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])) ?? Data("{}".utf8)
    }
}
