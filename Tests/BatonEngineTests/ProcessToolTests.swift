import BatonEngine
import Foundation
import Subprocess
import Testing

#if canImport(System)
    import System
#else
    import SystemPackage
#endif
#if canImport(Glibc)
    import Glibc
#endif

/// The `run` runner (issue 12): argv, exact environment, caps, process-group kill on timeout and cancellation.
@Suite("ProcessTool")
struct ProcessToolTests {
    static let path = "/usr/bin:/bin"
    static let baseEnvironment = ["PATH": path, "LANG": "C.UTF-8"]

    /// A fresh folder under the system's temporary folder, symlinks resolved.
    static func scratch() throws -> String {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("baton-tool-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url.resolvingSymlinksInPath().path
    }

    static func request(
        _ executable: String, _ arguments: [String] = [], stdin: String? = nil, cwd: String? = nil,
        environment: [String: String] = baseEnvironment, timeout: Double = 30
    ) -> ProcessToolRequest {
        ProcessToolRequest(
            executable: executable, arguments: arguments, stdin: stdin, workingDirectory: cwd ?? NSTemporaryDirectory(),
            environment: environment, timeout: timeout)
    }

    /// Whether `pid` is gone: no /proc entry, or a zombie waiting for a parent that is not ours to reap.
    static func isGone(_ pid: Int32) -> Bool {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8) else { return true }
        // The state letter follows the command name in parentheses.
        guard let close = stat.lastIndex(of: ")") else { return true }
        let state = stat[stat.index(after: close)...].trimmingCharacters(in: .whitespaces).prefix(1)
        return state == "Z" || state == "X"
    }

    /// Polls briefly (up to 5 s) until every pid is gone; returns those still alive.
    static func survivors(_ pids: [Int32]) async -> [Int32] {
        for _ in 0..<250 {
            if pids.allSatisfy(isGone) { return [] }
            try? await Task.sleep(for: .milliseconds(20))
        }
        return pids.filter { !isGone($0) }
    }

    /// The pids a script wrote to `file`, one a line, once there are `count` of them.
    static func pids(in file: String, count: Int) async throws -> [Int32] {
        for _ in 0..<500 {
            let lines = (try? String(contentsOfFile: file, encoding: .utf8))?.split(separator: "\n").compactMap { Int32($0) } ?? []
            if lines.count >= count { return lines }
            try await Task.sleep(for: .milliseconds(20))
        }
        throw ProcessToolError(.spawnFailed, "the script never wrote \(count) pids to \(file)")
    }

    /// Two sleeps in the background of a shell that waits for both, their pids written to `pids` first.
    static let twoSleeps = "sleep 60 & echo $! >> pids; sleep 60 & echo $! >> pids; echo $$ >> pids; wait"

    @Test("wc -w counts the words given on stdin")
    func wordCount() async throws {
        let result = try await ProcessTool.run(Self.request("wc", ["-w"], stdin: "one two three four\nfive\n"))
        #expect(result.termination == .exited(0))
        #expect(result.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "5")
        #expect(!result.timedOut && !result.stdoutTruncated)
    }

    @Test("a non-zero exit is a result with its code and stderr")
    func nonZeroExit() async throws {
        let result = try await ProcessTool.run(Self.request("sh", ["-c", "echo partial; echo 'no such thing' >&2; exit 3"]))
        #expect(result.exitCode == 3)
        #expect(result.stdout == "partial\n")
        #expect(result.stderr == "no such thing\n")
        #expect(!result.timedOut)
    }

    @Test("a timeout kills the whole process group: both background sleeps are gone after the call")
    func timeoutKillsGroup() async throws {
        let folder = try Self.scratch()
        var request = Self.request("sh", ["-c", Self.twoSleeps], cwd: folder, timeout: 1)
        request.killGrace = 2
        let result = try await ProcessTool.run(request)
        #expect(result.timedOut)
        #expect(result.termination == .signaled(SIGTERM) || result.termination == .signaled(SIGKILL))
        let pids = try await Self.pids(in: folder + "/pids", count: 3)
        #expect(pids.contains(result.processID))
        #expect(await Self.survivors(pids) == [])
    }

    @Test("a child that ignores SIGTERM is killed with SIGKILL after the grace period")
    func ignoresTerm() async throws {
        let folder = try Self.scratch()
        var request = Self.request(
            "sh", ["-c", "trap '' TERM; sleep 60 & echo $! >> pids; echo $$ >> pids; wait; wait"],
            cwd: folder, timeout: 0.5)
        request.killGrace = 0.5
        let result = try await ProcessTool.run(request)
        #expect(result.timedOut)
        #expect(result.termination == .signaled(SIGKILL))
        let pids = try await Self.pids(in: folder + "/pids", count: 2)
        #expect(await Self.survivors(pids) == [])
    }

    @Test("cancelling the calling task kills the whole process group before the call returns")
    func cancellationKillsGroup() async throws {
        let folder = try Self.scratch()
        let request = Self.request("sh", ["-c", Self.twoSleeps], cwd: folder, timeout: 60)
        let task = Task { try await ProcessTool.run(request) }
        let pids = try await Self.pids(in: folder + "/pids", count: 3)
        task.cancel()
        let outcome = await task.result
        #expect(throws: CancellationError.self) { try outcome.get() }
        #expect(await Self.survivors(pids) == [])
    }

    @Test("20 MB of output is read to the end but only the 1 MiB cap is kept, flagged truncated")
    func outputCap() async throws {
        let result = try await ProcessTool.run(Self.request("head", ["-c", "20000000", "/dev/zero"]))
        #expect(result.termination == .exited(0))
        #expect(result.stdoutTruncated)
        #expect(result.stdout.utf8.count == 1 << 20)
        #expect(result.stdoutBytesSeen == 20_000_000)
        // What is stored is the cap: the other 19 MB were read and dropped. (The test process's resident size is
        // no measure here: other suites allocate in parallel.)
    }

    @Test("stderr beyond its 64 KiB cap is cut and flagged")
    func stderrCap() async throws {
        let result = try await ProcessTool.run(Self.request("sh", ["-c", "head -c 200000 /dev/zero >&2"]))
        #expect(result.stderrTruncated)
        #expect(result.stderr.utf8.count == 64 << 10)
        #expect(!result.stdoutTruncated)
    }

    @Test("env prints exactly the variables given: a canary in Baton's own environment is absent")
    func exactEnvironment() async throws {
        let canary = "sk-canary-tool-\(UUID().uuidString.prefix(12))"
        setenv("BATON_TOOL_TEST_CANARY", canary, 1)
        defer { unsetenv("BATON_TOOL_TEST_CANARY") }
        var environment = Self.baseEnvironment
        environment["BATON_IDEMPOTENCY_KEY"] = "0123abcd"
        let result = try await ProcessTool.run(Self.request("env", environment: environment))
        let lines = Set(result.stdout.split(separator: "\n").map(String.init))
        #expect(lines == ["PATH=/usr/bin:/bin", "LANG=C.UTF-8", "BATON_IDEMPOTENCY_KEY=0123abcd"])
        #expect(!result.stdout.contains(canary))
    }

    @Test("the working directory is used")
    func workingDirectory() async throws {
        let folder = try Self.scratch()
        let result = try await ProcessTool.run(Self.request("pwd", ["-P"], cwd: folder))
        #expect(result.stdout == folder + "\n")
    }

    @Test("an executable on Baton's PATH but not on the request's PATH is not found")
    func requestPathOnly() async throws {
        let empty = try Self.scratch()
        #expect(ProcessInfo.processInfo.environment["PATH"]?.isEmpty == false)
        let error = await #expect(throws: ProcessToolError.self) {
            try await ProcessTool.run(Self.request("env", environment: ["PATH": empty]))
        }
        #expect(error?.code == .notFound)
        #expect(error?.message.contains("env was not found on the tool's PATH") == true)
        let noPath = await #expect(throws: ProcessToolError.self) {
            try await ProcessTool.run(Self.request("env", environment: [:]))
        }
        #expect(noPath?.code == .notFound)
    }

    @Test("a file without the execute bit and a missing working directory are typed errors naming the fix")
    func startErrors() async throws {
        let folder = try Self.scratch()
        _ = FileManager.default.createFile(atPath: folder + "/tool", contents: Data("#!/bin/sh\necho hi\n".utf8))
        let notExecutable = await #expect(throws: ProcessToolError.self) {
            try await ProcessTool.run(Self.request("tool", environment: ["PATH": folder]))
        }
        #expect(notExecutable?.code == .notExecutable)
        #expect(notExecutable?.message.contains("chmod +x") == true)
        let missing = await #expect(throws: ProcessToolError.self) {
            try await ProcessTool.run(Self.request("true", cwd: folder + "/nowhere"))
        }
        #expect(missing?.code == .workingDirectoryMissing)
        #expect(missing?.message.contains(folder + "/nowhere") == true)
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: folder + "/tool")
        let result = try await ProcessTool.run(Self.request("tool", environment: ["PATH": folder]))
        #expect(result.stdout == "hi\n")
    }

    @Test("1 MB of stdin through cat comes back whole (cat writes while it reads)")
    func largeStdin() async throws {
        let line = String(repeating: "abcdefghij", count: 9) + "0123456789\n"
        let input = String(repeating: line, count: 1_000_000 / line.utf8.count + 1)
        let result = try await ProcessTool.run(Self.request("cat", stdin: input))
        #expect(result.termination == .exited(0))
        #expect(result.stdout.utf8.count == input.utf8.count)
        #expect(result.stdout == input)
    }

    @Test("a child that exits without reading a large stdin is a result, not a broken pipe for Baton")
    func unreadStdin() async throws {
        let input = String(repeating: "y\n", count: 1_000_000)
        let result = try await ProcessTool.run(Self.request("head", ["-c", "4"], stdin: input))
        #expect(result.termination == .exited(0))
        #expect(result.stdout == "y\ny\n")
    }

    @Test("invalid UTF-8 in the output is replaced, not an error")
    func invalidUTF8() async throws {
        let result = try await ProcessTool.run(Self.request("printf", ["a\\377b"]))
        #expect(result.stdout == "a\u{FFFD}b")
    }

    /// Benchmarks/tools.py runs this with BATON_BENCH_TOOLS=N: N spawns of `true` through ProcessTool and N made
    /// directly with swift-subprocess (same environment, outputs discarded), interleaved, and prints the figures.
    @Test(
        "benchmark: spawn-to-result of true, ProcessTool vs a direct swift-subprocess run",
        .enabled(if: ProcessInfo.processInfo.environment["BATON_BENCH_TOOLS"] != nil))
    func benchmarkSpawn() async throws {
        let count = Int(ProcessInfo.processInfo.environment["BATON_BENCH_TOOLS"] ?? "") ?? 200
        let clock = ContinuousClock()
        var tool: [Double] = []
        var direct: [Double] = []
        let request = Self.request("true", environment: Self.baseEnvironment, timeout: 30)
        let environment = Environment.custom(["PATH": Self.path, "LANG": "C.UTF-8"])
        for index in 0..<(count + 10) {
            let toolStart = clock.now
            let result = try await ProcessTool.run(request)
            let toolSeconds = ProcessTool.benchmarkSeconds(clock.now - toolStart)
            #expect(result.termination == .exited(0))
            let directStart = clock.now
            let outcome = try await Subprocess.run(.path("/usr/bin/true"), environment: environment, output: .discarded)
            let directSeconds = ProcessTool.benchmarkSeconds(clock.now - directStart)
            #expect(outcome.terminationStatus.isSuccess)
            // The first runs warm up caches and the I/O thread.
            if index >= 10 {
                tool.append(toolSeconds * 1000)
                direct.append(directSeconds * 1000)
            }
        }
        func quantile(_ values: [Double], _ q: Double) -> Double {
            let sorted = values.sorted()
            return sorted[min(sorted.count - 1, Int(Double(sorted.count - 1) * q))]
        }
        let line = { (name: String, values: [Double]) in
            String(
                format: "BENCH %@ n=%d median_ms=%.3f p90_ms=%.3f min_ms=%.3f", name, values.count,
                quantile(values, 0.5), quantile(values, 0.9), values.min() ?? 0)
        }
        print(line("process-tool-true", tool))
        print(line("direct-subprocess-true", direct))
        let paired = zip(tool, direct).map { $0 - $1 }
        print(String(format: "BENCH overhead-per-run median_ms=%.3f p90_ms=%.3f", quantile(paired, 0.5), quantile(paired, 0.9)))
    }
}
