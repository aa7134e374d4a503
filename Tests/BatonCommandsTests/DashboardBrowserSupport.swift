import BatonEngine
import BatonTestSupport
import Foundation
import Testing

/// A child process whose standard output is read line by line while it runs, with its standard input open for the
/// test to write to: `baton serve` (whose first line is its URL) and the browser drivers (which report the steps they
/// reach, then their result).
///
/// Two threads of its own read the pipes; waiting polls, so no cooperative thread blocks.
final class LineProcess: @unchecked Sendable {
    private let process = Process()
    private let input = Pipe()
    private let lock = NSLock()
    private var outLines: [String] = []
    private var errText = ""
    private var open = 2
    let name: String

    /// Starts `executable arguments` in `directory` with exactly `environment`.
    init(_ name: String, _ executable: String, _ arguments: [String], environment: [String: String], directory: String) throws {
        self.name = name
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        process.environment = environment
        process.currentDirectoryURL = URL(fileURLWithPath: directory)
        let out = Pipe()
        let err = Pipe()
        process.standardInput = input
        process.standardOutput = out
        process.standardError = err
        try process.run()
        Thread { [self] in read(out.fileHandleForReading, lines: true) }.start()
        Thread { [self] in read(err.fileHandleForReading, lines: false) }.start()
    }

    deinit {
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
    }

    private func read(_ handle: FileHandle, lines: Bool) {
        var pending = Data()
        while true {
            let data = handle.availableData
            if data.isEmpty { break }
            if !lines {
                lock.withLock { errText += String(decoding: data, as: UTF8.self) }
                continue
            }
            pending.append(data)
            while let end = pending.firstIndex(of: UInt8(ascii: "\n")) {
                let line = String(decoding: pending[pending.startIndex..<end], as: UTF8.self)
                pending = Data(pending[pending.index(after: end)...])
                lock.withLock { outLines.append(line) }
            }
        }
        lock.withLock {
            if lines, !pending.isEmpty { outLines.append(String(decoding: pending, as: UTF8.self)) }
            open -= 1
        }
    }

    var pid: Int32 { process.processIdentifier }
    var isRunning: Bool { process.isRunning }
    var lines: [String] { lock.withLock { outLines } }
    var stderr: String { lock.withLock { errText } }
    /// The exit status once both pipes are closed and the process is reaped; nil while it runs.
    var status: Int32? {
        guard lock.withLock({ open == 0 }), !process.isRunning else { return nil }
        return process.terminationStatus
    }
    /// Status and output, for failure messages.
    var summary: String {
        "\(name): \(status.map { "exit \($0)" } ?? "running")\n--- stdout\n\(lines.joined(separator: "\n"))\n--- stderr\n\(stderr)"
    }

    /// Writes `line` and a line break to the process's standard input.
    func send(_ line: String) {
        input.fileHandleForWriting.write(Data((line + "\n").utf8))
    }

    func signal(_ signal: Int32) { kill(process.processIdentifier, signal) }

    /// Kills the process if it still runs: the cleanup of a test that stopped early. (Its reader threads keep this
    /// object alive while the process runs, so `deinit` cannot be relied on for it; and a child may ignore SIGTERM,
    /// which it inherits ignored from the test runner.)
    func stopIfRunning() {
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
    }

    /// The first output line that `matches`, waiting at most `timeout` seconds (nil when none came or the process
    /// ended without one).
    func line(timeout: Double, where matches: (String) -> Bool) async throws -> String? {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if let line = lines.first(where: matches) { return line }
            if status != nil { return lines.first(where: matches) }
            try await Task.sleep(for: .milliseconds(50))
        }
        return nil
    }

    /// Waits for the process to exit (at most `timeout` seconds; then kills it and returns nil).
    func exit(timeout: Double) async throws -> Int32? {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if let status { return status }
            try await Task.sleep(for: .milliseconds(50))
        }
        signal(SIGKILL)
        return nil
    }
}

/// `baton serve` on a run database, started like a user would and read from its first line.
final class ServeProcess: @unchecked Sendable {
    let process: LineProcess
    /// `http://127.0.0.1:PORT/`, as the server printed it.
    let url: String
    var port: Int { Int(url.split(separator: ":").last?.filter(\.isNumber) ?? "") ?? 0 }

    /// Starts `baton serve --port PORT --db DB` plus `extra` with the sandbox's environment and waits for its URL.
    init(_ sandbox: RunSandbox, port: Int = 0, extra: [String] = []) async throws {
        process = try LineProcess(
            "baton serve", BatonProcess.binary, ["serve", "--port", "\(port)", "--db", sandbox.db] + extra,
            environment: DashboardBrowser.batonEnvironment(sandbox), directory: sandbox.folder)
        let first = try await process.line(timeout: 60) { !$0.isEmpty }
        guard let first, first.hasPrefix("http://") else {
            throw DashboardBrowser.Failure("baton serve printed no URL as its first line\n\(process.summary)")
        }
        url = first
    }

    /// SIGTERM, then the exit status (nil when it had to be killed after 20 s).
    func stop() async throws -> Int32? {
        process.signal(SIGTERM)
        return try await process.exit(timeout: 20)
    }
}

/// Running the Python drivers of `Fixtures/browser` with the Playwright environment of scripts/setup-browser.sh.
enum DashboardBrowser {
    /// The environment's python (`BATON_BROWSER_PYTHON`), nil when the browser tests are not set up.
    static let python: String? = ProcessInfo.processInfo.environment["BATON_BROWSER_PYTHON"].flatMap { $0.isEmpty ? nil : $0 }
    static let drivers = RunSandbox.fixtures + "/browser"

    struct Failure: Error, CustomStringConvertible {
        var description: String
        init(_ description: String) { self.description = description }
    }

    /// What `baton` gets: the sandbox's variables on a minimal environment, as ``BatonProcess`` gives.
    static func batonEnvironment(_ sandbox: RunSandbox, _ extra: [String: String] = [:]) -> [String: String] {
        var environment = [
            "PATH": "/usr/bin:/bin", "HOME": sandbox.folder, "XDG_CONFIG_HOME": sandbox.folder + "/config",
            "XDG_CACHE_HOME": sandbox.folder + "/cache",
        ]
        environment.merge(sandbox.environment) { $1 }
        environment.merge(extra) { $1 }
        return environment
    }

    /// Starts driver `script` (a file of `Fixtures/browser`) with `arguments`.
    static func start(_ script: String, _ arguments: [String]) throws -> LineProcess {
        guard let python else { throw Failure("BATON_BROWSER_PYTHON is unset") }
        var environment = ProcessInfo.processInfo.environment
        environment["PYTHONDONTWRITEBYTECODE"] = "1"
        return try LineProcess(script, python, [drivers + "/" + script] + arguments, environment: environment, directory: drivers)
    }

    /// Waits for `driver` to print `{"step": step}`.
    static func reach(_ driver: LineProcess, _ step: String, timeout: Double = 90) async throws {
        guard try await driver.line(timeout: timeout, where: { $0.contains("\"step\": \"\(step)\"") }) != nil else {
            throw Failure("the driver did not reach '\(step)' within \(Int(timeout)) s\n\(driver.summary)")
        }
    }

    /// Waits for `driver` to end and returns its last line, parsed; fails with its output when it did not succeed.
    static func result(_ driver: LineProcess, timeout: Double = 240) async throws -> [String: Any] {
        let status = try await driver.exit(timeout: timeout)
        guard status == 0, let last = driver.lines.last(where: { $0.hasPrefix("{") && !$0.contains("\"step\"") }),
            let object = try JSONSerialization.jsonObject(with: Data(last.utf8)) as? [String: Any]
        else { throw Failure(driver.summary) }
        return object
    }

    /// Runs driver `script` to the end.
    static func run(_ script: String, _ arguments: [String], timeout: Double = 240) async throws -> [String: Any] {
        try await result(try start(script, arguments), timeout: timeout)
    }

    /// The id of the newest run other than `known`, waiting up to `timeout` seconds for one to appear.
    static func newRun(_ sandbox: RunSandbox, besides known: Set<String>, timeout: Double = 60) async throws -> String {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if let run = try? RunStore(path: sandbox.db).runs().first(where: { !known.contains($0.id) }) { return run.id }
            try await Task.sleep(for: .milliseconds(100))
        }
        throw Failure("no new run appeared in \(sandbox.db) within \(Int(timeout)) s")
    }

    /// The ids of run `runID`'s events in the database, in order.
    static func eventIDs(_ sandbox: RunSandbox, _ runID: String) throws -> [Int] {
        try RunStore(path: sandbox.db).events(runID).compactMap { $0.id.map(Int.init) }
    }

    /// Each stage of `stages` (dictionaries from a driver) by name → status.
    static func statuses(_ stages: Any?) -> [String: String] {
        var result: [String: String] = [:]
        for stage in stages as? [[String: Any]] ?? [] {
            if let name = stage["stage"] as? String { result[name] = stage["status"] as? String ?? "" }
        }
        return result
    }

    /// The event ids a page's EventSources received (the hook of common.py), as numbers.
    static func streamedIDs(_ hook: Any?) -> [Int] {
        ((hook as? [String: Any])?["ids"] as? [Any] ?? []).compactMap { ($0 as? String).flatMap(Int.init) ?? $0 as? Int }
    }

    /// Console errors a page logged, without those a stopped server causes while it is down (D3) and the favicon.
    static func pageErrors(_ errors: Any?, serverWasDown: Bool = false) -> [String] {
        (errors as? [String] ?? []).filter { error in
            if error.contains("favicon") { return false }
            if serverWasDown && (error.contains("ERR_CONNECTION_REFUSED") || error.contains("Failed to load resource")) { return false }
            return true
        }
    }

    /// Content-Security-Policy violations the hook recorded.
    static func violations(_ hook: Any?) -> [String] {
        (hook as? [String: Any])?["csp"] as? [String] ?? []
    }
}

// The pipelines and the profile of the D6 and security tests.
extension DashboardBrowserTests {
    static let big = """
        version: 1
        name: big-output
        description: One long streamed answer between two short ones.
        outputs: [outro]
        stages:
          intro:
            model: echo-small
            prompt: "Introduce the long answer."
          long:
            model: big
            max_tokens: 20000
            prompt: "Write at length after {{stages.intro.output}}"
          outro:
            model: echo-small
            needs: [long]
            prompt: "Sum up {{stages.intro.output}}"
        """

    static func bigProfile(_ url: String) -> String {
        """
        version: 1
        name: big
        description: Echo, and a stand-in that streams 10,000 tokens of 500 characters.
        memory_budget: 8GB
        default_runtime: echo
        runtimes:
          echo: {kind: echo}
          stand-in: {kind: openai, url: "\(url)"}
        models:
          echo-small: {runtime: echo, footprint: 256MB, context_length: 32768}
          big: {runtime: stand-in, footprint: 0, context_length: 32768}
        """
    }

    static let hostile = """
        version: 1
        name: hostile
        description: An output and an input holding markup.
        inputs:
          note: {description: Free text}
        outputs: [say]
        stages:
          say:
            role: writer
            prompt: "Repeat {{inputs.note}}"
        """
    static let payload = #"<script>window.pwned=1</script><img src=x onerror="window.pwned=2"> & "quotes""#
}
