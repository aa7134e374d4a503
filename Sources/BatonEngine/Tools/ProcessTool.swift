import Foundation
import Subprocess

#if canImport(System)
    import System
#else
    import SystemPackage
#endif
#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// One command for the `run` runner: argv only (no shell), an exact environment, caps and a timeout.
public struct ProcessToolRequest: Sendable {
    /// A name looked up on this request's own `PATH` (never the parent's), or a path (relative to `workingDirectory`).
    public var executable: String
    /// The arguments after argv[0], passed as they are.
    public var arguments: [String]
    /// Text written to the child's standard input, then closed; nil closes it at once.
    public var stdin: String?
    /// The folder the child starts in; it must exist.
    public var workingDirectory: String
    /// The child's whole environment: nothing is inherited from Baton, so callers pass PATH, LANG and keys.
    public var environment: [String: String]
    /// Seconds before the process group gets SIGTERM, then SIGKILL after the grace period.
    public var timeout: Double
    /// Bytes of standard output kept; the rest is read and discarded.
    public var stdoutCap: Int
    /// Bytes of standard error kept; the rest is read and discarded.
    public var stderrCap: Int
    /// Seconds between SIGTERM and SIGKILL on timeout or cancellation.
    public var killGrace: Double

    /// A request with the default caps (1 MiB of stdout, 64 KiB of stderr) and a 2 s kill grace.
    public init(
        executable: String, arguments: [String] = [], stdin: String? = nil, workingDirectory: String,
        environment: [String: String], timeout: Double, stdoutCap: Int = 1 << 20, stderrCap: Int = 64 << 10,
        killGrace: Double = 2
    ) {
        self.executable = executable
        self.arguments = arguments
        self.stdin = stdin
        self.workingDirectory = workingDirectory
        self.environment = environment
        self.timeout = timeout
        self.stdoutCap = stdoutCap
        self.stderrCap = stderrCap
        self.killGrace = killGrace
    }
}

/// What a finished command produced.
public struct ProcessToolResult: Sendable, Equatable {
    /// How the child ended.
    public enum Termination: Sendable, Equatable {
        /// It exited with this code.
        case exited(Int32)
        /// A signal (such as SIGTERM or SIGKILL after a timeout) ended it.
        case signaled(Int32)
    }
    /// How the child ended.
    public var termination: Termination
    /// Standard output as UTF-8 (invalid bytes replaced), at most the cap.
    public var stdout: String
    /// Whether standard output went beyond its cap (the rest was discarded).
    public var stdoutTruncated: Bool
    /// Standard error as UTF-8 (invalid bytes replaced), at most the cap.
    public var stderr: String
    /// Whether standard error went beyond its cap.
    public var stderrTruncated: Bool
    /// Every byte the child wrote to standard output, kept or not.
    public var stdoutBytesSeen: Int
    /// Whether the timeout ended the command.
    public var timedOut: Bool
    /// Seconds from spawn to reaping.
    public var seconds: Double
    /// The child's process id (also its process group id).
    public var processID: Int32

    /// The exit code, or nil when a signal ended the child.
    public var exitCode: Int32? {
        if case .exited(let code) = termination { return code }
        return nil
    }
}

/// Why a command could not be started.
public struct ProcessToolError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The kind of failure.
    public enum Code: Sendable, Equatable {
        /// No file of that name on the request's PATH.
        case notFound
        /// The file exists but is not an executable regular file.
        case notExecutable
        /// The working directory does not exist or is not a folder.
        case workingDirectoryMissing
        /// The system refused to start the process.
        case spawnFailed
    }
    /// The kind of failure.
    public var code: Code
    /// A message naming the executable and the fix.
    public var message: String

    /// An error of `code` with `message`.
    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { message }
}

/// The `run` runner: starts one command in its own session and process group through swift-subprocess,
/// feeds stdin while reading both outputs (so a child that writes while reading never deadlocks), keeps
/// output up to its caps, and on timeout or cancellation kills the whole group (SIGTERM, grace, SIGKILL).
/// It returns only once the child is reaped.
public enum ProcessTool {
    /// Runs `request`; a non-zero exit or a timeout is a result, not an error.
    ///
    /// - Throws: ``ProcessToolError`` when the command cannot start; `CancellationError` when the calling task
    ///   was cancelled (the process group is gone by then).
    public static func run(_ request: ProcessToolRequest) async throws -> ProcessToolResult {
        let workingDirectory = try checkWorkingDirectory(request)
        let path = try resolveExecutable(request, workingDirectory: workingDirectory)

        var options = PlatformOptions()
        // A new session makes the child the leader of its own process group, so the group signals below reach
        // every process it starts and never Baton itself.
        options.createSession = true
        let grace = Duration.milliseconds(Int64(max(0, request.killGrace) * 1000))
        // Used by swift-subprocess when the task is cancelled; the implicit last SIGKILL goes to the group too.
        options.teardownSequence = [.send(signal: .terminate, toProcessGroup: true, allowedDurationToNextStep: grace)]
        let configuration = Configuration(
            executable: .path(FilePath(path)),
            arguments: Arguments(request.arguments),
            // Raw entries go to strdup as they are (swift-subprocess 1.0.2 `Subprocess+Unix.swift` `createEnv`), so each
            // carries its own NUL; without it the child saw bytes past the end of the array.
            environment: .custom(request.environment.map { Array("\($0.key)=\($0.value)\0".utf8) }),
            workingDirectory: FilePath(workingDirectory),
            platformOptions: options)

        let stdout = ProcessToolCappedBuffer(cap: request.stdoutCap)
        let stderr = ProcessToolCappedBuffer(cap: request.stderrCap)
        let timedOut = ProcessToolFlag()
        let stdinBytes = request.stdin.map { Array($0.utf8) }
        let timeout = Duration.milliseconds(Int64(max(0, request.timeout) * 1000))
        let clock = ContinuousClock()
        let start = clock.now
        let pid = ProcessToolFlag.PID()

        let outcome: ExecutionResult<Void, SequenceOutput, SequenceOutput>
        do {
            outcome = try await Subprocess.run(configuration, input: .inputWriter, output: .sequence, error: .sequence) {
                execution in
                let processID = execution.processIdentifier.value
                pid.set(processID)
                try await withThrowingTaskGroup(of: Bool.self) { group in
                    group.addTask {
                        try await withThrowingTaskGroup(of: Void.self) { io in
                            io.addTask {
                                // A child that exits without reading its input closes the pipe: not an error.
                                if let stdinBytes, !stdinBytes.isEmpty {
                                    _ = try? await execution.standardInputWriter.write(stdinBytes)
                                }
                                try? await execution.standardInputWriter.finish()
                            }
                            io.addTask { try await drain(execution.standardOutput, into: stdout) }
                            io.addTask { try await drain(execution.standardError, into: stderr) }
                            try await io.waitForAll()
                        }
                        return true
                    }
                    group.addTask {
                        try await Task.sleep(for: timeout)
                        timedOut.set()
                        // Signals go to the group (negative pid) so children that detached from the shell die too.
                        kill(-processID, SIGTERM)
                        try await Task.sleep(for: grace)
                        kill(-processID, SIGKILL)
                        return false
                    }
                    // Outputs close when every process of the group has exited; the timer only signals.
                    while let finished = try await group.next() {
                        if finished {
                            group.cancelAll()
                            break
                        }
                    }
                }
            }
        } catch {
            if let processID = pid.get() { await sweep(group: processID, grace: grace) }
            if Task.isCancelled || error is CancellationError { throw CancellationError() }
            throw ProcessToolError(
                .spawnFailed, "could not run \(request.executable) (\(path)): \(error); check that it can be started by hand")
        }
        let processID = outcome.processIdentifier.value
        if timedOut.get() || Task.isCancelled { await sweep(group: processID, grace: grace) }
        if Task.isCancelled { throw CancellationError() }
        let termination: ProcessToolResult.Termination
        switch outcome.terminationStatus {
        case .exited(let code): termination = .exited(code)
        case .signaled(let signal): termination = .signaled(signal)
        }
        return ProcessToolResult(
            termination: termination,
            stdout: stdout.text, stdoutTruncated: stdout.truncated,
            stderr: stderr.text, stderrTruncated: stderr.truncated,
            stdoutBytesSeen: stdout.seen,
            timedOut: timedOut.get(),
            seconds: ProcessTool.seconds(clock.now - start),
            processID: processID)
    }

    /// Kills what is left of a group whose leader is already reaped (a grandchild that ignores SIGTERM): a
    /// process group id is not reused while any member lives, so `-pid` still names only that group.
    static func sweep(group processID: Int32, grace: Duration) async {
        guard groupHasLiveMembers(processID) else { return }
        kill(-processID, SIGTERM)
        let deadline = ContinuousClock.now + grace
        while ContinuousClock.now < deadline {
            if !groupHasLiveMembers(processID) { return }
            try? await Task.sleep(for: .milliseconds(20))
        }
        kill(-processID, SIGKILL)
    }

    /// Whether a process other than a zombie is in group `processID`. Killed grandchildren stay zombies until
    /// their new parent (init, or a container's first process) reaps them, which can take a while, so on Linux
    /// /proc is read to ignore them; elsewhere any member counts.
    static func groupHasLiveMembers(_ processID: Int32) -> Bool {
        guard kill(-processID, 0) == 0 else { return false }
        #if os(Linux)
            guard let entries = try? FileManager.default.contentsOfDirectory(atPath: "/proc") else { return true }
            for entry in entries where entry.first?.isNumber == true {
                guard let stat = try? String(contentsOfFile: "/proc/\(entry)/stat", encoding: .utf8),
                    let close = stat.lastIndex(of: ")")
                else { continue }
                // After the command name: state, ppid, pgrp.
                let fields = stat[stat.index(after: close)...].split(separator: " ")
                guard fields.count > 2, Int32(fields[2]) == processID else { continue }
                if fields[0] != "Z" && fields[0] != "X" { return true }
            }
            return false
        #else
            return true
        #endif
    }

    /// `duration` in seconds, for benchmarks.
    public static func benchmarkSeconds(_ duration: Duration) -> Double { seconds(duration) }

    static func seconds(_ duration: Duration) -> Double {
        let parts = duration.components
        return Double(parts.seconds) + Double(parts.attoseconds) / 1e18
    }

    private static func drain(_ sequence: SubprocessOutputSequence, into buffer: ProcessToolCappedBuffer) async throws {
        for try await chunk in sequence {
            chunk.withUnsafeBytes { buffer.append($0) }
        }
    }

    private static func checkWorkingDirectory(_ request: ProcessToolRequest) throws -> String {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: request.workingDirectory, isDirectory: &isDirectory), isDirectory.boolValue
        else {
            throw ProcessToolError(
                .workingDirectoryMissing,
                "the working directory \(request.workingDirectory) of \(request.executable) does not exist; create it or pass another")
        }
        return request.workingDirectory
    }

    /// Resolves a name against the request's PATH only: Baton's own PATH must not decide what runs.
    static func resolveExecutable(_ request: ProcessToolRequest, workingDirectory: String) throws -> String {
        let name = request.executable
        if name.contains("/") {
            let path = name.hasPrefix("/") ? name : URL(fileURLWithPath: workingDirectory).appendingPathComponent(name).path
            guard FileManager.default.fileExists(atPath: path) else {
                throw ProcessToolError(.notFound, "\(name) does not exist (looked for \(path)); check the path")
            }
            guard isExecutableFile(path) else {
                throw ProcessToolError(.notExecutable, "\(path) is not an executable file; chmod +x it or name another")
            }
            return path
        }
        let searchPath = request.environment["PATH"] ?? ""
        let folders = searchPath.split(separator: ":", omittingEmptySubsequences: true).map(String.init)
        guard !folders.isEmpty else {
            throw ProcessToolError(
                .notFound, "\(name) cannot be looked up: the tool's environment has no PATH; set PATH in its env or give an absolute path")
        }
        var notExecutable: String?
        for folder in folders {
            let candidate = folder.hasSuffix("/") ? folder + name : folder + "/" + name
            guard FileManager.default.fileExists(atPath: candidate) else { continue }
            if isExecutableFile(candidate) { return candidate }
            notExecutable = notExecutable ?? candidate
        }
        if let notExecutable {
            throw ProcessToolError(
                .notExecutable, "\(name) was found at \(notExecutable) but is not an executable file; chmod +x it or fix PATH")
        }
        throw ProcessToolError(
            .notFound,
            "\(name) was not found on the tool's PATH (\(searchPath)); add its folder to PATH in the tool's env or give an absolute path")
    }

    private static func isExecutableFile(_ path: String) -> Bool {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), !isDirectory.boolValue else { return false }
        return access(path, X_OK) == 0
    }
}

/// Output kept up to a cap; later bytes are counted and dropped, so memory stays bounded by the cap.
final class ProcessToolCappedBuffer: @unchecked Sendable {
    private let lock = NSLock()
    private var bytes: [UInt8] = []
    private var total = 0
    let cap: Int

    init(cap: Int) {
        self.cap = max(0, cap)
        bytes.reserveCapacity(min(self.cap, 64 << 10))
    }

    func append(_ chunk: UnsafeRawBufferPointer) {
        lock.withLock {
            total += chunk.count
            let room = cap - bytes.count
            if room > 0 { bytes.append(contentsOf: chunk.prefix(room)) }
        }
    }

    var truncated: Bool { lock.withLock { total > cap } }
    var seen: Int { lock.withLock { total } }
    /// UTF-8 with invalid bytes (including a character cut at the cap) replaced.
    var text: String { lock.withLock { String(decoding: bytes, as: UTF8.self) } }
}

/// A flag and a pid shared between the runner's tasks.
final class ProcessToolFlag: @unchecked Sendable {
    private let lock = NSLock()
    private var value = false
    func set() { lock.withLock { value = true } }
    func get() -> Bool { lock.withLock { value } }

    /// The child's pid once it is known.
    final class PID: @unchecked Sendable {
        private let lock = NSLock()
        private var value: Int32?
        func set(_ pid: Int32) { lock.withLock { value = pid } }
        func get() -> Int32? { lock.withLock { value } }
    }
}
