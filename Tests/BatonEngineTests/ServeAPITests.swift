import AsyncHTTPClient
import BatonEngine
import BatonSpec
import BatonTestSupport
import Foundation
import NIOCore
import NIOHTTP1
import Testing

@testable import BatonEngine

/// A run database on disk with runs made by the executor, and a `baton serve` on it at a port the system picks.
final class ServeFixture: @unchecked Sendable {
    static let pipeline = """
        version: 1
        name: serve-test
        inputs:
          task: {}
        stages:
          plan:
            model: m
            prompt: "Plan {{inputs.task}}"
          build:
            model: m
            prompt: "Build from: {{stages.plan.output}}"
        """

    let folder: String
    let db: String
    let store: RunStore
    private(set) var server: DashboardServer?

    init(_ name: String) throws {
        folder = NSTemporaryDirectory() + "baton-serve-\(name)-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        db = folder + "/runs.sqlite"
        store = try RunStore(path: db)
    }

    deinit {
        try? FileManager.default.removeItem(atPath: folder)
    }

    /// A completed run of ``pipeline`` whose stages answer `answer(stage)`.
    func completedRun(task: String = "a parser", answer: @escaping @Sendable (String) -> String = { "\($0) done" }) async throws -> String {
        let runtime = ScriptedRuntime { request, _ in .text(answer(request.stage)) }
        let snapshot = try snapshot(Self.pipeline)
        let inputs = try RunInputs.resolve(snapshot.plan.inputs, given: ["task": task])
        let executor = Executor(store: store, runtimes: runtime, sleep: { _ in }, random: { 0.5 })
        let outcome = try await executor.start(snapshot, inputs: inputs, claim: .current())
        guard case .completed(let id) = outcome else { throw ServeTestFailure(description: "the run did not complete: \(outcome)") }
        return id
    }

    /// A run recorded as running that no process holds: its events come from ``writer()``, as from another process.
    func runningRun(id: String = "20261207-120000-beef") throws -> String {
        let snapshot = try snapshot(Self.pipeline)
        let text = String(decoding: try JSONEncoder().encode(snapshot), as: UTF8.self)
        let now = RunStore.now()
        let run = RunRecord(
            id: id, pipeline: "serve-test", pipelinePath: nil, pipelineHash: snapshot.sourceHash, snapshot: text,
            inputs: #"{"task":"x"}"#, status: .running, createdAt: now, updatedAt: now)
        return try store.createRun(run)
    }

    /// Another connection to the same file, as `baton run` in another process would have.
    func writer() throws -> RunStore { try RunStore(path: db) }

    /// Starts the server (port 0) and returns its address, `http://127.0.0.1:PORT`.
    @discardableResult
    func start(
        token: String? = nil, allowActions: Bool = false, host: String = "127.0.0.1", batonExecutable: String = "/bin/false"
    ) async throws -> String {
        let options = ServeOptions(
            host: host, port: 0, databasePath: db, token: token, allowActions: allowActions, pollInterval: .milliseconds(20),
            batonExecutable: batonExecutable, logFolder: folder + "/logs")
        let server = try DashboardServer(options: options)
        try await server.start()
        self.server = server
        return "http://127.0.0.1:\(server.port)"
    }

    func stop() async {
        await server?.stop()
    }
}

/// A test's setup that went wrong.
struct ServeTestFailure: Error, CustomStringConvertible {
    var description: String
}

/// A small HTTP client for the tests: no redirects followed, any header (Host too) sent as given.
enum ServeHTTP {
    static let client: HTTPClient = {
        var configuration = HTTPClient.Configuration()
        configuration.redirectConfiguration = .disallow
        // Event streams hold their connection: the default 8 per host would queue the rest.
        configuration.connectionPool = .init(idleTimeout: .seconds(60), concurrentHTTP1ConnectionsPerHostSoftLimit: 100)
        return HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    }()

    struct Reply: Sendable {
        var status: Int
        var headers: HTTPHeaders
        var body: String

        /// The body parsed as a JSON object.
        func json(sourceLocation: Testing.SourceLocation = #_sourceLocation) throws -> [String: Any] {
            try #require(
                try JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: Any], "not a JSON object: \(body.prefix(300))",
                sourceLocation: sourceLocation)
        }
    }

    static func request(_ method: HTTPMethod, _ url: String, headers: [(String, String)] = [], body: String? = nil) async throws -> Reply {
        var request = HTTPClientRequest(url: url)
        request.method = method
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        if let body { request.body = .bytes(ByteBuffer(string: body)) }
        let response = try await client.execute(request, timeout: .seconds(60))
        let bytes = try await response.body.collect(upTo: 64 << 20)
        return Reply(status: Int(response.status.code), headers: response.headers, body: String(buffer: bytes))
    }

    static func get(_ url: String, headers: [(String, String)] = []) async throws -> Reply {
        try await request(.GET, url, headers: headers)
    }

    static func post(_ url: String, headers: [(String, String)] = [("X-Baton-Request", "1")], body: String? = nil) async throws -> Reply {
        try await request(.POST, url, headers: headers, body: body)
    }
}

/// One server-sent event as the tests read it.
struct SSEFrame: Sendable, Equatable {
    var id: Int64?
    var event: String?
    var data: String

    /// `data` parsed as a JSON object.
    var object: [String: Any]? { try? JSONSerialization.jsonObject(with: Data(data.utf8)) as? [String: Any] }
}

/// An event stream being read in the background; the test waits for what it expects.
final class SSEStream: @unchecked Sendable {
    private let state = Locked((status: 0, frames: [SSEFrame](), ended: false, error: String?.none))
    private var task: Task<Void, Never>?

    init(_ url: String, headers: [(String, String)] = []) {
        task = Task { [state] in
            do {
                var request = HTTPClientRequest(url: url)
                for (name, value) in headers { request.headers.add(name: name, value: value) }
                let response = try await ServeHTTP.client.execute(request, timeout: .seconds(600))
                state.withLock { $0.status = Int(response.status.code) }
                var pending = ""
                for try await buffer in response.body {
                    pending += String(buffer: buffer)
                    while let end = pending.range(of: "\n\n") {
                        let block = String(pending[..<end.lowerBound])
                        pending = String(pending[end.upperBound...])
                        if let frame = Self.parse(block) { state.withLock { $0.frames.append(frame) } }
                    }
                }
                state.withLock { $0.ended = true }
            } catch {
                state.withLock {
                    $0.ended = true
                    $0.error = "\(error)"
                }
            }
        }
    }

    /// A block of `field: value` lines; nil for a comment alone (a keep-alive).
    static func parse(_ block: String) -> SSEFrame? {
        var frame = SSEFrame(id: nil, event: nil, data: "")
        var any = false
        for line in block.split(separator: "\n", omittingEmptySubsequences: false) where !line.hasPrefix(":") {
            guard let colon = line.firstIndex(of: ":") else { continue }
            let value = line[line.index(after: colon)...].drop { $0 == " " }
            any = true
            switch line[..<colon] {
            case "id": frame.id = Int64(value)
            case "event": frame.event = String(value)
            case "data": frame.data += frame.data.isEmpty ? String(value) : "\n" + value
            default: break
            }
        }
        return any ? frame : nil
    }

    var status: Int { state.current.status }
    var frames: [SSEFrame] { state.current.frames }
    var ended: Bool { state.current.ended }

    /// Waits (polling every 20 ms, at most `timeout`) until `condition` holds for the frames read, or the stream ends.
    @discardableResult
    func wait(
        timeout: Duration = .seconds(60), sourceLocation: Testing.SourceLocation = #_sourceLocation,
        until condition: ([SSEFrame]) -> Bool
    ) async throws -> [SSEFrame] {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            let current = state.current
            if condition(current.frames) || current.ended { return current.frames }
            try await Task.sleep(for: .milliseconds(20))
        }
        Issue.record("timed out waiting on the event stream; read \(frames.count) frames", sourceLocation: sourceLocation)
        return frames
    }

    /// Waits until the server closes the stream.
    func waitForEnd(timeout: Duration = .seconds(60), sourceLocation: Testing.SourceLocation = #_sourceLocation) async throws {
        try await wait(timeout: timeout, sourceLocation: sourceLocation) { _ in false }
    }

    func close() { task?.cancel() }
}

/// The JSON API against a run database the executor wrote.
@Suite struct ServeAPITests {
    static func isRFC3339(_ value: Any?) -> Bool {
        guard let text = value as? String else { return false }
        return text.wholeMatch(of: /\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z/) != nil
    }

    @Test func theRunsListGivesEachRunWithItsTotals() async throws {
        // Given two completed runs
        let fixture = try ServeFixture("runs")
        let first = try await fixture.completedRun()
        let second = try await fixture.completedRun(task: "a lexer")
        let base = try await fixture.start()

        // When the list is asked for
        let reply = try await ServeHTTP.get(base + "/api/runs")
        await fixture.stop()

        // Then it holds both, newest first, with their totals
        #expect(reply.status == 200)
        #expect(reply.headers["Content-Type"].first?.hasPrefix("application/json") == true)
        let object = try reply.json()
        #expect(object["format_version"] as? Int == 2)
        #expect((object["last_event_id"] as? NSNumber)?.int64Value == (try fixture.store.lastEventID()))
        let rows = try #require(object["runs"] as? [[String: Any]])
        #expect(rows.compactMap { $0["id"] as? String } == [second, first])
        let row = try #require(rows.first { $0["id"] as? String == first })
        #expect(row["pipeline"] as? String == "serve-test")
        #expect(row["status"] as? String == "completed")
        #expect(row["stages_total"] as? Int == 2)
        #expect(row["stages_done"] as? Int == 2)
        #expect(row["current_stage"] is NSNull)
        #expect(row["profile"] is NSNull)
        #expect(row["parent_run_id"] is NSNull)
        #expect((row["output_tokens"] as? Int ?? 0) > 0)
        #expect(Self.isRFC3339(row["created_at"]) && Self.isRFC3339(row["finished_at"]))
        #expect((row["duration_seconds"] as? Double ?? -1) >= 0)
        for key in [
            "id", "pipeline", "status", "profile", "created_at", "updated_at", "finished_at", "duration_seconds",
            "prompt_tokens", "output_tokens", "stages_total", "stages_done", "current_stage", "error", "parent_run_id", "lease_host",
        ] {
            #expect(row[key] != nil, "no \(key) in a row")
        }
    }

    @Test func theRunsListFiltersAndRefusesNonsense() async throws {
        let fixture = try ServeFixture("filters")
        let done = try await fixture.completedRun()
        let running = try fixture.runningRun()
        _ = try fixture.writer().startAttempt(
            AttemptRecord(
                id: nil, runID: running, stage: "plan", round: 1, tryNumber: 1, status: .running, model: "m", runtime: "echo",
                system: nil, prompt: "Plan x", output: "", verdict: nil, feedback: nil, promptTokens: nil, outputTokens: nil,
                startedAt: RunStore.now(), firstTokenAt: nil, finishedAt: nil, timings: nil, error: nil, fingerprint: "f"))
        let base = try await fixture.start()
        defer { Task { await fixture.stop() } }

        let onlyRunning = try await ServeHTTP.get(base + "/api/runs?status=running").json()
        #expect((onlyRunning["runs"] as? [[String: Any]])?.compactMap { $0["id"] as? String } == [running])
        #expect((onlyRunning["runs"] as? [[String: Any]])?.first?["current_stage"] as? String == "plan")
        #expect((onlyRunning["runs"] as? [[String: Any]])?.first?["finished_at"] is NSNull)
        let onlyDone = try await ServeHTTP.get(base + "/api/runs?status=completed&limit=5").json()
        #expect((onlyDone["runs"] as? [[String: Any]])?.compactMap { $0["id"] as? String } == [done])
        let none = try await ServeHTTP.get(base + "/api/runs?pipeline=nosuch").json()
        #expect((none["runs"] as? [Any])?.isEmpty == true)
        let badStatus = try await ServeHTTP.get(base + "/api/runs?status=sleeping")
        #expect(badStatus.status == 400)
        #expect(try badStatus.json()["error"] as? String == "unknown status 'sleeping'; use running, completed, failed or interrupted")
        #expect(try await ServeHTTP.get(base + "/api/runs?limit=-3").status == 400)
        await fixture.stop()
    }

    @Test func theRunDocumentIsShowsDocumentWithTheDashboardsKeys() async throws {
        let fixture = try ServeFixture("document")
        let id = try await fixture.completedRun()
        let base = try await fixture.start(allowActions: true)

        let reply = try await ServeHTTP.get(base + "/api/runs/\(id)")
        let attemptID = try fixture.store.attempts(id).first?.id ?? 0
        let attempt = try await ServeHTTP.get(base + "/api/runs/\(id)/attempts/\(attemptID)")
        let missingAttempt = try await ServeHTTP.get(base + "/api/runs/\(id)/attempts/999999")
        let missingRun = try await ServeHTTP.get(base + "/api/runs/20200101-000000-0000")
        await fixture.stop()

        #expect(reply.status == 200)
        let document = try reply.json()
        #expect(document["format_version"] as? Int == 2)
        #expect((document["run"] as? [String: Any])?["id"] as? String == id)
        #expect((document["plan"] as? [String: Any])?["pipeline"] as? String == "serve-test")
        let attempts = try #require(document["attempts"] as? [[String: Any]])
        #expect(attempts.compactMap { $0["output"] as? String } == ["plan done", "build done"])
        #expect(attempts.first?["prompt"] as? String == "Plan a parser")
        let events = try #require(document["events"] as? [[String: Any]])
        #expect((document["last_event_id"] as? NSNumber)?.int64Value == (events.last?["id"] as? NSNumber)?.int64Value)
        #expect((document["last_event_id"] as? NSNumber)?.int64Value == (try fixture.store.lastEventID(runID: id)))
        #expect(document["profile"] is NSNull)
        #expect((document["budget_bytes"] as? NSNumber)?.int64Value ?? 0 > 0)
        #expect(document["actions_allowed"] as? Bool == true)
        #expect((document["inputs"] as? [String: String]) == ["task": "a parser"])

        #expect(attempt.status == 200)
        let record = try #require(try attempt.json()["attempt"] as? [String: Any])
        #expect(record["prompt"] as? String == "Plan a parser")
        #expect(record["output"] as? String == "plan done")
        #expect(Self.isRFC3339(record["started_at"]))
        #expect(missingAttempt.status == 404)
        #expect(try missingAttempt.json()["error"] as? String == "run \(id) has no attempt 999999")
        #expect(missingRun.status == 404)
        #expect((try missingRun.json()["error"] as? String)?.contains("no run '20200101-000000-0000'") == true)
        // The database's path stays on the machine.
        #expect(!missingRun.body.contains("runs.sqlite"), "\(missingRun.body)")
    }

    @Test func theCompareRouteComparesTwoRuns() async throws {
        let fixture = try ServeFixture("compare")
        let a = try await fixture.completedRun()
        let b = try await fixture.completedRun(answer: { $0 == "build" ? "built otherwise" : "\($0) done" })
        let base = try await fixture.start()

        let reply = try await ServeHTTP.get(base + "/api/compare?a=\(a)&b=\(b)")
        let half = try await ServeHTTP.get(base + "/api/compare?a=\(a)")
        let unknown = try await ServeHTTP.get(base + "/api/compare?a=\(a)&b=20200101-000000-0000")
        await fixture.stop()

        #expect(reply.status == 200, "\(reply.body.prefix(300))")
        let object = try reply.json()
        #expect(object["format_version"] as? Int == 2)
        #expect((object["a"] as? [String: Any])?["id"] as? String == a)
        #expect(((object["stages"] as? [[String: Any]]) ?? []).compactMap { $0["stage"] as? String } == ["plan", "build"])
        #expect(half.status == 400)
        #expect(unknown.status == 404)
    }

    @Test func pagesAndAssetsAreServedWithTheirHeaders() async throws {
        let fixture = try ServeFixture("pages")
        let id = try await fixture.completedRun()
        let base = try await fixture.start()

        let list = try await ServeHTTP.get(base + "/")
        let run = try await ServeHTTP.get(base + "/runs/\(id)")
        let missing = try await ServeHTTP.get(base + "/runs/20200101-000000-0000")
        let script = try await ServeHTTP.get(base + "/assets/dashboard.js")
        let style = try await ServeHTTP.get(base + "/assets/dashboard.css")
        let compare = try await ServeHTTP.get(base + "/compare")
        let nowhere = try await ServeHTTP.get(base + "/nowhere")
        await fixture.stop()

        for reply in [list, run, compare] {
            #expect(reply.status == 200)
            #expect(reply.headers["Content-Type"].first == "text/html; charset=utf-8")
            #expect(reply.headers["Content-Security-Policy"].first?.contains("script-src 'self'") == true)
            #expect(reply.headers["X-Content-Type-Options"].first == "nosniff")
            #expect(reply.headers["Referrer-Policy"].first == "no-referrer")
            #expect(reply.headers["Cache-Control"].first == "no-store")
        }
        #expect(run.body.contains("data-run-id=\"\(id)\""))
        #expect(missing.status == 404)
        #expect(missing.body.contains("20200101-000000-0000"))
        #expect(!missing.body.contains("runs.sqlite"), "\(missing.body)")
        #expect(missing.body.contains("href=\"/\""))
        #expect(script.status == 200 && script.headers["Content-Type"].first?.hasPrefix("text/javascript") == true)
        #expect(style.status == 200 && style.headers["Content-Type"].first?.hasPrefix("text/css") == true)
        #expect(nowhere.status == 404)
    }

    @Test func markupInARunIsEscapedInTheAPIAndThePages() async throws {
        // Given a run whose input and outputs hold a script
        let hostile = "<script>alert(1)</script>"
        let fixture = try ServeFixture("escape")
        let id = try await fixture.completedRun(task: hostile, answer: { _ in hostile })
        let base = try await fixture.start()

        // When its document, an attempt, its events and the pages are read
        let document = try await ServeHTTP.get(base + "/api/runs/\(id)")
        let attemptID = try fixture.store.attempts(id).first?.id ?? 0
        let attempt = try await ServeHTTP.get(base + "/api/runs/\(id)/attempts/\(attemptID)")
        let page = try await ServeHTTP.get(base + "/runs/\(id)")
        let missing = try await ServeHTTP.get(base + "/runs/%3Cscript%3Ealert(1)%3C%2Fscript%3E")
        let stream = SSEStream(base + "/api/runs/\(id)/events")
        let frames = try await stream.wait { $0.contains { $0.event == "end" } }
        stream.close()
        await fixture.stop()

        // Then the JSON carries the text escaped, and decodes back to it
        for reply in [document, attempt] {
            #expect(!reply.body.contains("<script>"), "\(reply.body.prefix(400))")
            #expect(reply.body.contains("\\u003cscript\\u003e"))
        }
        #expect((try document.json()["attempts"] as? [[String: Any]])?.first?["output"] as? String == hostile)
        #expect((try attempt.json()["attempt"] as? [String: Any])?["prompt"] as? String == "Plan " + hostile)
        #expect(frames.allSatisfy { !$0.data.contains("<") })
        // And no page holds it as markup
        #expect(!page.body.contains(hostile))
        #expect(missing.status == 404)
        #expect(!missing.body.contains(hostile))
        #expect(missing.body.contains("&lt;script&gt;alert(1)&lt;/script&gt;"), "\(missing.body)")
    }

    @Test func theJSONWriterParsesBackToWhatFoundationWouldWrite() throws {
        // Every kind of value the API writes, and payload values as JSONSerialization parses them (NSNumber, booleans).
        let payload = try JSONSerialization.jsonObject(with: Data(#"{"n":3,"x":1.5,"t":true,"f":false,"s":"a\"b","l":[1,null]}"#.utf8))
        let value: [String: Any] = [
            "text": "quote \" backslash \\ newline \n tab \t bell \u{07} <script>&</script> é 🙂", "int": 42, "int64": Int64(-7),
            "double": 0.25, "whole": 3.0, "small": 1e-7, "bool": true, "null": NSNull(), "nested": ["b": [1, "two", false], "a": [:]],
            "payload": payload, "empty": [Any](),
        ]
        let text = ServeJSON.text(value)
        // No markup and no raw control character survives, and keys come out in byte order.
        #expect(!text.contains("<") && !text.contains(">") && !text.contains("&"))
        #expect(!text.unicodeScalars.contains { $0.value < 0x20 })
        #expect(text.hasPrefix(#"{"bool":true,"double":0.25,"empty":[],"int":42,"int64":-7,"nested":{"a":{},"b":[1,"two",false]}"#))
        let back = try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? NSDictionary)
        let expected = try #require(
            try JSONSerialization.jsonObject(with: JSONSerialization.data(withJSONObject: value, options: [.sortedKeys])) as? NSDictionary)
        #expect(back == expected)
    }

    @Test func timesAreWrittenAsFoundationsFormatterWritesThem() {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        formatter.timeZone = TimeZone(identifier: "UTC")
        // Random times, times on a millisecond, ties at half a millisecond, and times that round up to the next second.
        var times = (0..<500).map { _ in Double.random(in: 1.7e9...1.9e9) }
        times += (0..<500).map { _ in Double(Int64.random(in: 1_700_000_000_000...1_900_000_000_000)) / 1000 }
        times += (0..<500).map { _ in Double(Int64.random(in: 17_000_000_000_000...19_000_000_000_000)) / 10000 }
        times += (0..<500).map { _ in Double(Int.random(in: 1_700_000_000...1_900_000_000)) + Double.random(in: 0.9990...0.99999) }
        times += [0, 1_765_045_816.123, 1_765_045_816.9995, 1_765_045_816.0005]
        for time in times {
            #expect(JSONTime.string(time) == formatter.string(from: Date(timeIntervalSince1970: time)), "\(time)")
        }
    }
}
