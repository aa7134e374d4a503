import BatonEngine
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import ServiceLifecycle
import Testing

/// The `http` runner (issue 12) against a local Hummingbird server.
@Suite("HTTPTool")
struct HTTPToolTests {
    /// A Hummingbird server on 127.0.0.1 at a free port that counts the requests it received.
    final class Server: @unchecked Sendable {
        private let lock = NSLock()
        private var received: [String] = []
        private var task: Task<Void, Never>?
        private var group: ServiceGroup?
        private(set) var port = 0

        /// Paths of the requests received, in order.
        var requests: [String] { lock.withLock { received } }
        var base: String { "http://127.0.0.1:\(port)" }

        func record(_ request: Request) { lock.withLock { received.append(request.uri.path) } }

        static func start(_ routes: (Router<BasicRequestContext>, Server) -> Void) async throws -> Server {
            let server = Server()
            let router = Router()
            routes(router, server)
            let (ports, continuation) = AsyncStream<Int>.makeStream()
            var logger = Logger(label: "http-tool-test")
            logger.logLevel = .critical
            let app = Application(
                router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)),
                onServerRunning: { channel in
                    continuation.yield(channel.localAddress?.port ?? 0)
                    continuation.finish()
                }, logger: logger)
            let group = ServiceGroup(services: [app], logger: logger)
            server.group = group
            server.task = Task {
                try? await group.run()
                continuation.finish()
            }
            var iterator = ports.makeAsyncIterator()
            server.port = await iterator.next() ?? 0
            guard server.port > 0 else {
                await server.stop()
                throw HTTPToolError(.connectionFailed, "the test server could not bind 127.0.0.1")
            }
            return server
        }

        func stop() async {
            await group?.triggerGracefulShutdown()
            await task?.value
        }
    }

    static func text(_ string: String, status: HTTPResponse.Status = .ok, headers: HTTPFields = [:]) -> Response {
        Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(string: string)))
    }

    /// A server with the routes every test uses; `other` is where the cross-host redirect points.
    static func withServer(other: String = "http://127.0.0.1:9", _ body: (Server) async throws -> Void) async throws {
        let server = try await Server.start { router, server in
            router.get("/hello") { request, _ in
                server.record(request)
                return text("hello \(request.headers[HTTPField.Name("X-Name")!] ?? "nobody")", headers: [HTTPField.Name("X-Reply")!: "yes"])
            }
            router.post("/echo") { request, _ in
                server.record(request)
                let body = try await request.body.collect(upTo: 1 << 20)
                return text("\(request.headers[.contentType] ?? "-"):\(String(buffer: body))", status: .created)
            }
            router.get("/missing") { request, _ in
                server.record(request)
                return text("no such page", status: .notFound)
            }
            router.get("/broken") { request, _ in
                server.record(request)
                return text("it broke", status: .internalServerError)
            }
            router.get("/hop") { request, _ in
                server.record(request)
                return text("", status: .temporaryRedirect, headers: [.location: "/hello"])
            }
            router.get("/loop") { request, _ in
                server.record(request)
                return text("", status: .found, headers: [.location: "/loop"])
            }
            router.get("/away") { request, _ in
                server.record(request)
                return text("", status: .temporaryRedirect, headers: [.location: other + "/hello"])
            }
            router.get("/slow") { request, _ in
                server.record(request)
                try? await Task.sleep(for: .seconds(3))
                return text("late")
            }
            router.get("/big") { request, _ in
                server.record(request)
                return text(String(repeating: "x", count: 3_000_000))
            }
        }
        do {
            try await body(server)
            await server.stop()
        } catch {
            await server.stop()
            throw error
        }
    }

    @Test("GET sends headers and returns status, headers and body")
    func get() async throws {
        try await Self.withServer { server in
            let result = try await HTTPTool.run(
                HTTPToolRequest(url: server.base + "/hello", headers: [HTTPToolHeader("X-Name", "baton")], timeout: 10))
            #expect(result.status == 200)
            #expect(result.body == "hello baton")
            #expect(result.header("x-reply") == "yes")
            #expect(!result.truncated && result.redirects == 0)
        }
    }

    @Test("POST sends its body and headers")
    func post() async throws {
        try await Self.withServer { server in
            let result = try await HTTPTool.run(
                HTTPToolRequest(
                    method: "POST", url: server.base + "/echo", headers: [HTTPToolHeader("Content-Type", "application/json")],
                    body: #"{"a":1}"#, timeout: 10))
            #expect(result.status == 201)
            #expect(result.body == #"application/json:{"a":1}"#)
        }
    }

    @Test("404 and 500 are results with their status and body, not errors")
    func errorStatuses() async throws {
        try await Self.withServer { server in
            let missing = try await HTTPTool.run(HTTPToolRequest(url: server.base + "/missing", timeout: 10))
            #expect(missing.status == 404)
            #expect(missing.body == "no such page")
            let broken = try await HTTPTool.run(HTTPToolRequest(url: server.base + "/broken", timeout: 10))
            #expect(broken.status == 500)
            #expect(broken.body == "it broke")
        }
    }

    @Test("a redirect to the same host is followed; an endless one stops after 5")
    func sameHostRedirect() async throws {
        try await Self.withServer { server in
            let result = try await HTTPTool.run(HTTPToolRequest(url: server.base + "/hop", timeout: 10))
            #expect(result.status == 200)
            #expect(result.body == "hello nobody")
            #expect(result.redirects == 1)
            #expect(result.finalURL == server.base + "/hello")
            let error = await #expect(throws: HTTPToolError.self) {
                try await HTTPTool.run(HTTPToolRequest(url: server.base + "/loop", timeout: 10))
            }
            #expect(error?.code == .tooManyRedirects)
            #expect(server.requests.filter { $0 == "/loop" }.count == 6)
        }
    }

    @Test("a redirect to another host or port is refused, naming both, and the other server gets nothing")
    func crossHostRedirect() async throws {
        try await Self.withServer { other in
            try await Self.withServer(other: other.base) { server in
                let error = await #expect(throws: HTTPToolError.self) {
                    try await HTTPTool.run(HTTPToolRequest(url: server.base + "/away", timeout: 10))
                }
                #expect(error?.code == .crossHostRedirect)
                #expect(error?.message.contains("http://127.0.0.1:\(other.port)") == true)
                #expect(error?.message.contains("http://127.0.0.1:\(server.port)") == true)
                #expect(other.requests.isEmpty)
            }
        }
        try await Self.withServer(other: "http://localhost:1") { server in
            let error = await #expect(throws: HTTPToolError.self) {
                try await HTTPTool.run(HTTPToolRequest(url: server.base + "/away", timeout: 10))
            }
            #expect(error?.code == .crossHostRedirect)
            #expect(error?.message.contains("localhost") == true)
        }
    }

    @Test("a host not on the allow-list is refused before any connection")
    func hostNotAllowed() async throws {
        try await Self.withServer { server in
            let error = await #expect(throws: HTTPToolError.self) {
                try await HTTPTool.run(HTTPToolRequest(url: server.base + "/hello", allowedHosts: ["example.org"], timeout: 10))
            }
            #expect(error?.code == .hostNotAllowed)
            #expect(error?.message.contains("allow_hosts") == true)
            #expect(server.requests.isEmpty)
            // The default list is loopback only.
            let outside = await #expect(throws: HTTPToolError.self) {
                try await HTTPTool.run(HTTPToolRequest(url: "http://10.11.12.13:\(server.port)/hello", timeout: 10))
            }
            #expect(outside?.code == .hostNotAllowed)
            let allowed = try await HTTPTool.run(HTTPToolRequest(url: server.base + "/hello", allowedHosts: ["127.0.0.1"], timeout: 10))
            #expect(allowed.status == 200)
        }
    }

    @Test("the allow-list matches names, IPv4 blocks and IPv6 addresses")
    func allowList() {
        let loopback = HTTPToolRequest.loopbackHosts
        #expect(HTTPTool.isAllowed(host: "127.0.0.1", by: loopback))
        #expect(HTTPTool.isAllowed(host: "127.200.3.4", by: loopback))
        #expect(HTTPTool.isAllowed(host: "LOCALHOST", by: loopback))
        #expect(HTTPTool.isAllowed(host: "::1", by: loopback))
        #expect(HTTPTool.isAllowed(host: "0:0:0:0:0:0:0:1", by: loopback))
        #expect(!HTTPTool.isAllowed(host: "128.0.0.1", by: loopback))
        #expect(!HTTPTool.isAllowed(host: "localhost.example.org", by: loopback))
        #expect(!HTTPTool.isAllowed(host: "::2", by: loopback))
        #expect(HTTPTool.isAllowed(host: "10.1.2.3", by: ["10.0.0.0/8"]))
        #expect(!HTTPTool.isAllowed(host: "11.1.2.3", by: ["10.0.0.0/8"]))
    }

    @Test("a slow server hits the timeout")
    func timeout() async throws {
        try await Self.withServer { server in
            let error = await #expect(throws: HTTPToolError.self) {
                try await HTTPTool.run(HTTPToolRequest(url: server.base + "/slow", timeout: 0.5))
            }
            #expect(error?.code == .timedOut)
            #expect(error?.message.contains("timeout") == true)
        }
    }

    @Test("a body beyond the cap is cut at the cap and flagged")
    func bodyCap() async throws {
        try await Self.withServer { server in
            let result = try await HTTPTool.run(HTTPToolRequest(url: server.base + "/big", timeout: 10))
            #expect(result.status == 200)
            #expect(result.truncated)
            #expect(result.body.utf8.count == 1 << 20)
            let small = try await HTTPTool.run(HTTPToolRequest(url: server.base + "/big", timeout: 10, responseCap: 10))
            #expect(small.body == String(repeating: "x", count: 10))
        }
    }

    @Test("a URL that is not absolute http(s) is refused")
    func invalidURL() async throws {
        let error = await #expect(throws: HTTPToolError.self) {
            try await HTTPTool.run(HTTPToolRequest(url: "file:///etc/passwd", timeout: 1))
        }
        #expect(error?.code == .invalidURL)
    }
}
