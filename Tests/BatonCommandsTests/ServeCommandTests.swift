import AsyncHTTPClient
import BatonEngine
import BatonTestSupport
import Foundation
import NIOCore
import NIOHTTP1
import Testing

/// `baton serve` started as a process: reads its address from the first line of its output, talks to it, stops it.
final class ServeUnderTest: @unchecked Sendable {
    private let process = Process()
    private let state = Locked((out: "", err: "", exited: false))

    /// Starts `baton serve ARGUMENTS` in `sandbox` (its environment, plus a cache folder inside it for the action logs).
    init(_ sandbox: RunSandbox, _ arguments: [String]) throws {
        process.executableURL = URL(fileURLWithPath: BatonProcess.binary)
        process.arguments = ["serve"] + arguments
        process.currentDirectoryURL = URL(fileURLWithPath: sandbox.folder)
        var environment = [
            "PATH": "/usr/bin:/bin", "HOME": NSTemporaryDirectory(), "XDG_CONFIG_HOME": NSTemporaryDirectory() + "/baton-tests-config",
            "XDG_CACHE_HOME": sandbox.folder + "/cache",
        ]
        environment.merge(sandbox.environment) { $1 }
        process.environment = environment
        let out = Pipe()
        let err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        for (pipe, isOut) in [(out, true), (err, false)] {
            Thread { [state] in
                while true {
                    let data = pipe.fileHandleForReading.availableData
                    if data.isEmpty { break }
                    let text = String(decoding: data, as: UTF8.self)
                    state.withLock { if isOut { $0.out += text } else { $0.err += text } }
                }
            }.start()
        }
        Thread { [process, state] in
            process.waitUntilExit()
            state.withLock { $0.exited = true }
        }.start()
    }

    var stdout: String { state.current.out }
    var stderr: String { state.current.err }
    var pid: Int32 { process.processIdentifier }

    /// The address on the first line of standard output (without its final slash), once printed.
    func address(timeout: Duration = .seconds(60)) async throws -> String {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            let current = state.current
            if let line = current.out.split(separator: "\n", omittingEmptySubsequences: false).first, current.out.contains("\n") {
                return String(line.dropLast(line.hasSuffix("/") ? 1 : 0))
            }
            if current.exited { break }
            try await Task.sleep(for: .milliseconds(20))
        }
        throw ServeProcessFailure(description: "baton serve printed no address; stdout: \(stdout) stderr: \(stderr)")
    }

    /// Waits for the process to end (sending `signal` first, when given) and returns its exit status, or nil after 60 s.
    func stop(_ signal: Int32? = SIGTERM) async throws -> Int32? {
        if let signal { kill(process.processIdentifier, signal) }
        let deadline = ContinuousClock.now + .seconds(60)
        while !state.current.exited, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(20)) }
        guard state.current.exited else {
            process.terminate()
            return nil
        }
        // The readers may still be draining the pipes.
        try await Task.sleep(for: .milliseconds(50))
        return process.terminationStatus
    }
}

/// `baton serve` did not come up.
struct ServeProcessFailure: Error, CustomStringConvertible {
    var description: String
}

/// Requests to a served dashboard.
enum ServeRequests {
    static let client: HTTPClient = {
        var configuration = HTTPClient.Configuration()
        configuration.redirectConfiguration = .disallow
        // Event streams hold their connection: the default 8 per host would queue the rest.
        configuration.connectionPool = .init(idleTimeout: .seconds(60), concurrentHTTP1ConnectionsPerHostSoftLimit: 100)
        return HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    }()

    /// Status and body parsed as JSON (an empty object when it is not).
    static func send(_ method: HTTPMethod, _ url: String, body: String? = nil) async throws -> (Int, [String: Any]) {
        var request = HTTPClientRequest(url: url)
        request.method = method
        if method == .POST { request.headers.add(name: "X-Baton-Request", value: "1") }
        if let body { request.body = .bytes(ByteBuffer(string: body)) }
        let response = try await client.execute(request, timeout: .seconds(60))
        let bytes = try await response.body.collect(upTo: 64 << 20)
        let object = (try? JSONSerialization.jsonObject(with: Data(bytes.readableBytesView)) as? [String: Any]) ?? [:]
        return (Int(response.status.code), object)
    }

    /// Asks for run `id` until `condition` holds for its document (at most `timeout`).
    static func waitForRun(
        _ base: String, _ id: String, timeout: Duration = .seconds(120), until condition: ([String: Any]) -> Bool
    ) async throws -> [String: Any] {
        let deadline = ContinuousClock.now + timeout
        var last: [String: Any] = [:]
        while ContinuousClock.now < deadline {
            last = try await send(.GET, base + "/api/runs/\(id)").1
            if condition(last) { return last }
            try await Task.sleep(for: .milliseconds(100))
        }
        Issue.record("run \(id) never reached the state waited for: \(String(describing: last["run"]).prefix(300))")
        return last
    }

    static func status(_ document: [String: Any]) -> String? { (document["run"] as? [String: Any])?["status"] as? String }
}

/// `baton serve` on the real binary: the address line, the refusals and their exit codes, the actions.
@Suite struct ServeCommandTests {
    @Test(arguments: [SIGTERM, SIGINT])
    func itPrintsItsAddressServesTheDatabaseAndStopsOnASignal(_ signal: Int32) async throws {
        let sandbox = try RunSandbox("serve")
        #expect(try await sandbox.runPipeline().status == 0)
        let id = try await sandbox.onlyRunID()

        let serve = try ServeUnderTest(sandbox, ["--port", "0"])
        let base = try await serve.address()
        let (status, runs) = try await ServeRequests.send(.GET, base + "/api/runs")
        let stopped = try await serve.stop(signal)

        #expect(base.wholeMatch(of: /http:\/\/127\.0\.0\.1:\d+/) != nil, "\(base)")
        #expect(serve.stdout == base + "/\n")
        #expect(
            serve.stderr
                == "baton serve: run database \(sandbox.db); read-only (--allow-actions enables resume, rerun and interrupt)\n")
        #expect(status == 200)
        let rows = runs["runs"] as? [[String: Any]] ?? []
        #expect(rows.compactMap { $0["id"] as? String } == [id])
        #expect(rows.first?["profile"] as? String == "ci")
        #expect(rows.first?["stages_total"] as? Int == 4)
        #expect(rows.first?["stages_done"] as? Int == 4)
        #expect(stopped == 0, "\(serve.stderr)")
    }

    struct Refusal: Sendable, CustomTestStringConvertible {
        var name: String
        var arguments: [String]
        var status: Int32
        var message: String
        var testDescription: String { name }
    }

    static let refusals = [
        Refusal(
            name: "another host without a token", arguments: ["--host", "0.0.0.0"], status: 64,
            message:
                "error: --host 0.0.0.0 exposes runs (prompts, outputs) to the network; pass --token or --token-file, or serve on 127.0.0.1"),
        Refusal(
            name: "a short token", arguments: ["--token", "tiny"], status: 64,
            message: "error: the token has 4 characters; pass at least 16 (for example: openssl rand -hex 16)"),
        Refusal(
            name: "two tokens", arguments: ["--token", "0123456789abcdef", "--token-file", "<sandbox>/token"], status: 64,
            message: "error: --token and --token-file both give the token; pass one"),
        Refusal(
            name: "a missing token file", arguments: ["--token-file", "<sandbox>/none"], status: 66,
            message: "error: the token file '<sandbox>/none' cannot be read (No such file or directory); check --token-file"),
        Refusal(
            name: "a token file others can read", arguments: ["--token-file", "<sandbox>/open-token"], status: 77,
            message:
                "error: the token file '<sandbox>/open-token' may be read or changed by other users (mode 0644), so it is not used; run 'chmod 600 <sandbox>/open-token'"
        ),
        Refusal(
            name: "no run database", arguments: ["--db", "<sandbox>/none.sqlite"], status: 66,
            message: "error: no run database at <sandbox>/none.sqlite; run a pipeline first, or pass --db"),
    ]

    @Test(arguments: refusals)
    func refusalsExitWithTheirCodeAndSayWhy(_ refusal: Refusal) async throws {
        let sandbox = try RunSandbox("serve-refusal")
        #expect(try await sandbox.runPipeline().status == 0)
        for (name, mode) in [("token", 0o600), ("open-token", 0o644)] {
            try "0123456789abcdef0123\n".write(toFile: sandbox.folder + "/" + name, atomically: true, encoding: .utf8)
            try FileManager.default.setAttributes([.posixPermissions: mode], ofItemAtPath: sandbox.folder + "/" + name)
        }
        let arguments = ["serve", "--port", "0"] + refusal.arguments.map { $0.replacingOccurrences(of: "<sandbox>", with: sandbox.folder) }
        let result = try await sandbox.baton(arguments)
        #expect(result.status == refusal.status, "\(result.summary)")
        #expect(result.stdout.isEmpty)
        #expect(result.stderr == refusal.message.replacingOccurrences(of: "<sandbox>", with: sandbox.folder) + "\n")
    }

    @Test func aDamagedDatabaseExits74AndABusyPort71() async throws {
        let sandbox = try RunSandbox("serve-damaged")
        try String(repeating: "not a database ", count: 100).write(
            toFile: sandbox.folder + "/bad.sqlite", atomically: true, encoding: .utf8)
        let damaged = try await sandbox.baton(["serve", "--port", "0", "--db", sandbox.folder + "/bad.sqlite"])
        #expect(damaged.status == 74, "\(damaged.summary)")
        #expect(damaged.stderr.hasPrefix("error: "))

        #expect(try await sandbox.runPipeline().status == 0)
        let first = try ServeUnderTest(sandbox, ["--port", "0"])
        let base = try await first.address()
        let port = try #require(base.split(separator: ":").last.map(String.init))
        let busy = try await sandbox.baton(["serve", "--port", port])
        #expect(try await first.stop() == 0)
        #expect(busy.status == 71, "\(busy.summary)")
        #expect(busy.stderr == "error: cannot listen on 127.0.0.1:\(port): address in use; pass --port\n")
    }

    @Test func resumeFromTheDashboardCompletesAnInterruptedRun() async throws {
        // Given a run interrupted mid-stream
        let sandbox = try RunSandbox("serve-resume")
        // Each call waits 2 s for its first token, so the signal finds the run mid-call however loaded the machine is.
        let running = try sandbox.start(RunSandbox.runArguments, ["BATON_ECHO_TOKEN_DELAY": "60ms", "BATON_ECHO_CALL_DELAY": "2s"])
        try #require(try await sandbox.waitForCall(StageRound(stage: "plan", round: 2)))
        // SIGTERM, which baton handles exactly as SIGINT: in two local runs of the whole suite started in the background
        // (2026-12-07) the SIGINT did not stop the run (it completed, exit 0); the cause is not found yet.
        running.send(SIGTERM)
        let interrupted = await running.wait()
        #expect(interrupted.status == 130, "\(interrupted.summary)")
        let id = try await sandbox.onlyRunID()

        // When the dashboard resumes it
        let serve = try ServeUnderTest(sandbox, ["--port", "0", "--allow-actions"])
        let base = try await serve.address()
        let (status, reply) = try await ServeRequests.send(.POST, base + "/api/runs/\(id)/resume")
        let document = try await ServeRequests.waitForRun(base, id) { ServeRequests.status($0) == "completed" }
        #expect(try await serve.stop() == 0)

        // Then `baton resume` ran and completed it
        #expect(status == 202, "\(reply)")
        #expect(reply["command"] as? String == "baton resume \(id)")
        #expect((reply["pid"] as? Int ?? 0) > 0)
        #expect(ServeRequests.status(document) == "completed")
        #expect(serve.stderr.hasSuffix("; actions allowed\n"))
        let log = try String(contentsOfFile: sandbox.folder + "/cache/baton/serve-logs/\(id).log", encoding: .utf8)
        #expect(log.contains(id), "\(log)")
    }

    @Test func interruptFromTheDashboardStopsARunInAnotherProcess() async throws {
        let sandbox = try RunSandbox("serve-interrupt")
        // The server is up before the run starts, and every later call waits 2 s for its first token, so the run is
        // still executing when the request arrives however loaded the machine is (it once finished first under CI).
        _ = try sandbox.store()  // creates the database, which baton serve needs before it starts
        let serve = try ServeUnderTest(sandbox, ["--port", "0", "--allow-actions"])
        let base = try await serve.address()
        let running = try sandbox.start(RunSandbox.runArguments, ["BATON_ECHO_TOKEN_DELAY": "60ms", "BATON_ECHO_CALL_DELAY": "2s"])
        try #require(try await sandbox.waitForCall(StageRound(stage: "plan", round: 2)))
        let id = try await sandbox.onlyRunID()

        let (status, reply) = try await ServeRequests.send(.POST, base + "/api/runs/\(id)/interrupt")
        let stopped = await running.wait()
        let again = try await ServeRequests.send(.POST, base + "/api/runs/\(id)/interrupt")
        #expect(try await serve.stop() == 0)

        #expect(status == 202, "\(reply)")
        #expect(reply["pid"] as? Int == Int(running.pid))
        #expect(reply["command"] as? String == "kill -INT \(running.pid)")
        #expect(stopped.status == 130, "\(stopped.summary)")
        let store = try sandbox.store()
        #expect(try store.run(id).status == .interrupted)
        #expect(try store.attempts(id).contains { $0.status == .interrupted })
        #expect(again.0 == 409)
    }

    @Test func rerunFromTheDashboardStartsANewRun() async throws {
        let sandbox = try RunSandbox("serve-rerun")
        #expect(try await sandbox.runPipeline().status == 0)
        let id = try await sandbox.onlyRunID()

        let serve = try ServeUnderTest(sandbox, ["--port", "0", "--allow-actions"])
        let base = try await serve.address()
        let (status, reply) = try await ServeRequests.send(.POST, base + "/api/runs/\(id)/rerun", body: #"{"from":"report"}"#)
        var rerun: [String: Any] = [:]
        let deadline = ContinuousClock.now + .seconds(120)
        while ContinuousClock.now < deadline {
            let rows = (try await ServeRequests.send(.GET, base + "/api/runs").1["runs"] as? [[String: Any]]) ?? []
            if let row = rows.first(where: { $0["parent_run_id"] as? String == id && $0["status"] as? String == "completed" }) {
                rerun = row
                break
            }
            try await Task.sleep(for: .milliseconds(100))
        }
        #expect(try await serve.stop() == 0)

        #expect(status == 202, "\(reply)")
        #expect(reply["command"] as? String == "baton rerun \(id) --from report")
        #expect(rerun["status"] as? String == "completed", "no completed rerun of \(id)")
        #expect(rerun["id"] as? String != id)
    }
}
