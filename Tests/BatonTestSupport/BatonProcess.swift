import Foundation

/// Runs the built `baton` executable and captures what it prints, for end-to-end command tests.
public enum BatonProcess {
    /// The result of one run.
    public struct Result: Sendable {
        /// The exit status (for a process killed by a signal: the signal's number; see `signal`).
        public var status: Int32
        /// Standard output.
        public var stdout: String
        /// Standard error.
        public var stderr: String
        /// The signal that killed the process, nil when it exited.
        public var signal: Int32? = nil

        /// Status, signal and both streams, for failure messages.
        public var summary: String {
            "\(signal.map { "killed by signal \($0)" } ?? "exit \(status)")\n--- stdout\n\(stdout)\n--- stderr\n\(stderr)"
        }
    }

    /// A `baton` process that was started and not yet waited for, so a test can signal it.
    ///
    /// Waiting never blocks a cooperative thread: a thread of the process's own reads its output and reaps it, and
    /// ``wait()`` suspends until that thread is done. (swift-testing runs tests on the cooperative pool, which has
    /// one thread per core; a test blocked in `waitUntilExit` would starve the in-process stand-ins other tests serve.)
    public final class Running: @unchecked Sendable {
        private let process: Process
        private let lock = NSLock()
        private var result: Result?
        private var waiters: [CheckedContinuation<Result, Never>] = []

        /// The process id.
        public var pid: Int32 { process.processIdentifier }
        /// Whether it has not exited yet.
        public var isRunning: Bool { process.isRunning }

        /// Starts `process` with `out` and `err` as its standard output and error.
        init(process: Process, out: Pipe, err: Pipe) throws {
            self.process = process
            process.standardOutput = out
            process.standardError = err
            try process.run()
            Thread { [self] in
                // Read both pipes concurrently so neither fills up and blocks the child, then reap it.
                let errors = ThreadResult<Data>()
                Thread { errors.set(err.fileHandleForReading.readDataToEndOfFile()) }.start()
                let outData = out.fileHandleForReading.readDataToEndOfFile()
                let errData = errors.get()
                process.waitUntilExit()
                let killed = process.terminationReason == .uncaughtSignal
                finish(
                    Result(
                        status: process.terminationStatus, stdout: String(decoding: outData, as: UTF8.self),
                        stderr: String(decoding: errData, as: UTF8.self), signal: killed ? process.terminationStatus : nil))
            }.start()
        }

        private func finish(_ result: Result) {
            let waiting = lock.withLock {
                self.result = result
                defer { waiters = [] }
                return waiters
            }
            for waiter in waiting { waiter.resume(returning: result) }
        }

        /// Sends `signal` (SIGINT, SIGTERM, SIGKILL, ...) to the process.
        public func send(_ signal: Int32) {
            kill(process.processIdentifier, signal)
        }

        /// Waits for the process to end (it is reaped whether or not anyone waits) and returns what it printed.
        public func wait() async -> Result {
            await withCheckedContinuation { continuation in
                let done = lock.withLock {
                    if result == nil { waiters.append(continuation) }
                    return result
                }
                if let done { continuation.resume(returning: done) }
            }
        }
    }

    /// The `baton` binary: `$BATON_BINARY`, else beside the test bundle in the build folder.
    public static var binary: String {
        if let path = ProcessInfo.processInfo.environment["BATON_BINARY"] { return path }
        var url = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
        while url.path != "/" {
            url.deleteLastPathComponent()
            let candidate = url.appendingPathComponent("baton").path
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        return Fixtures.path(".build/debug/baton")
    }

    /// Runs `baton arguments` in `directory` with `environment` added to a minimal environment (`launcher`: as for
    /// ``start(_:in:environment:launcher:)``).
    ///
    /// At most ``concurrency`` such runs go at once; the others wait their turn without holding a thread. A test that
    /// keeps a started process running while it runs others (which must happen while that one still runs) passes
    /// `limited: false` so as not to wait behind the rest of the suite.
    public static func run(
        _ arguments: [String], in directory: String = Fixtures.repositoryRoot, environment: [String: String] = [:],
        launcher: [String] = [], limited: Bool = true
    ) async throws -> Result {
        guard limited else { return try await start(arguments, in: directory, environment: environment, launcher: launcher).wait() }
        await slots.acquire()
        do {
            let result = try await start(arguments, in: directory, environment: environment, launcher: launcher).wait()
            await slots.release()
            return result
        } catch {
            await slots.release()
            throw error
        }
    }

    /// How many ``run(_:in:environment:launcher:limited:)`` processes run at once: half the cores, at least one, or
    /// `BATON_TEST_PROCESSES`.
    ///
    /// Waiting for a process holds no thread, so without a limit every command test of the suite would start its
    /// `baton` at once: a hundred processes on two cores, which starve the in-process tests and stand-ins of CPU until
    /// their timeouts fire. The other cores stay for those and for the llama-server of the integration tests.
    /// Processes from ``start(_:in:environment:launcher:)`` do not count.
    public static let concurrency: Int = {
        if let text = ProcessInfo.processInfo.environment["BATON_TEST_PROCESSES"], let count = Int(text), count > 0 { return count }
        return max(1, ProcessInfo.processInfo.activeProcessorCount / 2)
    }()

    private static let slots = Slots(concurrency)

    /// A counting semaphore whose waiters suspend instead of blocking.
    private actor Slots {
        private var free: Int
        private var waiting: [CheckedContinuation<Void, Never>] = []

        init(_ count: Int) { free = count }

        func acquire() async {
            if free > 0 {
                free -= 1
                return
            }
            await withCheckedContinuation { waiting.append($0) }
        }

        func release() {
            if waiting.isEmpty { free += 1 } else { waiting.removeFirst().resume() }
        }
    }

    /// Starts `baton arguments` like ``run(_:in:environment:)`` without waiting for it.
    ///
    /// `launcher` goes before the binary (for example `["setpriv", "--reuid=65534", "--"]`).
    public static func start(
        _ arguments: [String], in directory: String = Fixtures.repositoryRoot, environment: [String: String] = [:],
        launcher: [String] = []
    ) throws -> Running {
        let process = Process()
        if let tool = launcher.first {
            process.executableURL = URL(fileURLWithPath: tool)
            process.arguments = Array(launcher.dropFirst()) + [binary] + arguments
        } else {
            process.executableURL = URL(fileURLWithPath: binary)
            process.arguments = arguments
        }
        process.currentDirectoryURL = URL(fileURLWithPath: directory)
        var env = [
            "PATH": "/usr/bin:/bin", "HOME": NSTemporaryDirectory(), "XDG_CONFIG_HOME": NSTemporaryDirectory() + "/baton-tests-config",
        ]
        env.merge(environment) { _, new in new }
        process.environment = env
        return try Running(process: process, out: Pipe(), err: Pipe())
    }
}
