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
    public final class Running: @unchecked Sendable {
        private let process: Process
        private let lock = NSLock()
        private var outData = Data()
        private var errData = Data()
        private let readers = DispatchGroup()

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
            // Read both pipes concurrently so neither fills up and blocks the child.
            for (pipe, isOut) in [(out, true), (err, false)] {
                readers.enter()
                Thread { [self] in
                    let data = pipe.fileHandleForReading.readDataToEndOfFile()
                    lock.lock()
                    if isOut { outData = data } else { errData = data }
                    lock.unlock()
                    readers.leave()
                }.start()
            }
        }

        /// Sends `signal` (SIGINT, SIGTERM, SIGKILL, ...) to the process.
        public func send(_ signal: Int32) {
            kill(process.processIdentifier, signal)
        }

        /// Waits for the process to end (and reaps it) and returns what it printed.
        public func wait() -> Result {
            process.waitUntilExit()
            readers.wait()
            lock.lock()
            defer { lock.unlock() }
            let killed = process.terminationReason == .uncaughtSignal
            return Result(
                status: process.terminationStatus, stdout: String(decoding: outData, as: UTF8.self),
                stderr: String(decoding: errData, as: UTF8.self), signal: killed ? process.terminationStatus : nil)
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

    /// Runs `baton arguments` in `directory` with `environment` added to a minimal environment.
    public static func run(
        _ arguments: [String], in directory: String = Fixtures.repositoryRoot, environment: [String: String] = [:]
    ) throws -> Result {
        try start(arguments, in: directory, environment: environment).wait()
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
        var env = ["PATH": "/usr/bin:/bin", "HOME": NSTemporaryDirectory(), "XDG_CONFIG_HOME": NSTemporaryDirectory() + "/baton-tests-config"]
        env.merge(environment) { _, new in new }
        process.environment = env
        return try Running(process: process, out: Pipe(), err: Pipe())
    }
}
