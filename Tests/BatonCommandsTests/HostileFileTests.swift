import BatonTestSupport
import Foundation
import Testing

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Hostile YAML through the real binary: every place Baton reads YAML refuses a billion laughs, a nesting bomb
/// and a huge file with an error that says where, and the `baton` process stays under 100 MB while it does.
///
/// The memory is the child's own peak resident size from `wait4`, so no other test's process counts. The time is
/// printed, never asserted: the suite shares two cores.
@Suite struct HostileFileTests {
    /// One hostile case: the file `name` with `text`, the command that reads it, and what it must answer.
    struct Case: Sendable, CustomStringConvertible {
        var description: String
        var name: String
        /// The file's text as a prefix and a line repeated `count` times, so a huge file is written piece by piece and
        /// never held whole by the test process.
        var text: @Sendable () -> (prefix: String, line: String, count: Int)
        /// The arguments, with `FILE` standing for the hostile file's path.
        var arguments: [String]
        var environment: [String: String] = [:]
        var status: Int32
        /// What stderr must contain, with `FILE` standing for the path.
        var message: String
    }

    /// Nine levels of nine aliases: 9^9 nodes once expanded. `head` is the first line; the first alias of the
    /// fifth level (line 6, column 8) takes the nodes added through aliases past 10,000.
    static func laughs(head: String, tail: String = "") -> String {
        var lines = [head, "a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
        for (level, previous) in zip("bcdefghi", "abcdefgh") {
            lines.append("\(level): &\(level) [" + Array(repeating: "*\(previous)", count: 9).joined(separator: ", ") + "]")
        }
        return (lines + [tail]).joined(separator: "\n")
    }

    static let pipeline = Fixtures.path("Tests/BatonCommandsTests/Fixtures/crash.yaml")
    static let alias = "alias '*d' takes the nodes that aliases repeat past 10000"

    static let cases: [Case] = [
        Case(
            description: "a billion laughs in a pipeline", name: "laughs.yaml",
            text: { (laughs(head: "version: 1", tail: "stages:\n  x: {model: m, prompt: hi}\n"), "", 0) },
            arguments: ["run", "FILE", "--profile", "ci"], status: 65, message: "FILE:6:8: error: \(alias)"),
        Case(
            description: "a billion laughs in a profile", name: "profile.yaml",
            text: { (laughs(head: "version: 1"), "", 0) },
            arguments: ["run", pipeline, "--profile", "FILE", "--input", "task=x"], status: 65,
            message: "FILE:6:8: error: \(alias)"),
        Case(
            description: "a billion laughs in --input-file", name: "inputs.yaml",
            text: { (laughs(head: "task: a garden party"), "", 0) },
            arguments: ["run", pipeline, "--profile", "ci", "--input-file", "FILE"], status: 64,
            message: "the input file is refused: FILE:6:8: \(alias)"),
        Case(
            // The echo script is read before the run starts, so it is refused like the pipeline (65), with no run.
            description: "a billion laughs in an echo script", name: "script.yaml",
            text: { (laughs(head: "plan: {1: {output: x}}"), "", 0) },
            arguments: ["run", pipeline, "--profile", "ci", "--input", "task=x"], environment: ["BATON_ECHO_SCRIPT": "FILE"],
            status: 65, message: "echo script refused: FILE:6:8: \(alias)"),
        Case(
            description: "a block nesting bomb, 10,000 levels", name: "block.yaml",
            text: { ("version: 1\nstages:\n", "- ", 10_000) },
            arguments: ["validate", "FILE"], status: 65,
            message: "FILE:3:127: error: sequences and mappings nested more than 64 deep"),
        Case(
            // libyaml stops flow collections itself at 1,000 levels, while it looks ahead for a key.
            description: "a flow nesting bomb, 100,000 levels", name: "flow.yaml",
            text: { ("version: 1\nstages: " + String(repeating: "[", count: 100_000), "]", 100_000) },
            arguments: ["validate", "FILE"], status: 65, message: "FILE:2:10: error: invalid YAML: Maximum nesting level reached"),
        Case(
            description: "a flat file of 2 MB with more than 100,000 nodes", name: "many.yaml",
            text: { ("version: 1\nstages:\n  x: {model: m, prompt: hi}\nx-pad:\n", "  - l\n", 340_000) },
            arguments: ["run", "FILE", "--profile", "ci"], status: 65,
            message: "FILE:99992:5: error: the file holds more than 100000 YAML nodes"),
        Case(
            description: "a huge flat file of 50 MB", name: "huge.yaml",
            text: { ("version: 1\nstages:\n  x: {model: m, prompt: hi}\nx-pad:\n", "  - lol\n", 6_250_000) },
            arguments: ["run", "FILE", "--profile", "ci"], status: 65,
            message: "error: FILE: the file is 47.7 MB, over the 2 MB Baton reads from one YAML file"),
    ]

    @Test("Each hostile file is refused with its place, and the baton process stays under 100 MB", arguments: cases)
    func hostileFileIsRefusedInBoundedMemory(_ hostile: Case) async throws {
        // Given
        let folder = NSTemporaryDirectory() + "baton-hostile-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let file = folder + "/" + hostile.name
        try Self.write(hostile.text(), to: file)
        var environment = [
            "BATON_DB": folder + "/runs.sqlite", "BATON_PROFILE_PATH": Fixtures.path("profiles"),
            "BATON_ECHO_SCRIPT": Fixtures.path("Tests/BatonCommandsTests/Fixtures/crash-script.yaml"),
            "BATON_ECHO_CALL_LOG": folder + "/calls.tsv",
        ]
        environment.merge(hostile.environment.mapValues { $0.replacingOccurrences(of: "FILE", with: file) }) { $1 }

        // When
        let run = try await MeasuredProcess.run(
            hostile.arguments.map { $0 == "FILE" ? file : $0 }, environment: environment, folder: folder)

        // Then
        print("\(hostile): exit \(run.status), \(run.peakBytes / 1_048_576) MB peak, \(String(format: "%.2f", run.seconds)) s")
        #expect(run.signal == nil, "\(run.summary)")
        #expect(run.status == hostile.status, "\(run.summary)")
        let message = hostile.message.replacingOccurrences(of: "FILE", with: file)
        // validate prints its report on stdout, the other commands on stderr
        #expect((run.stdout + run.stderr).contains(message), "expected \(message)\n\(run.summary)")
        #expect(run.peakBytes < 100 * 1_048_576, "peak \(run.peakBytes / 1_048_576) MB")
    }
}

extension HostileFileTests {
    /// Writes `prefix` and then `line` `count` times, a megabyte at a time.
    static func write(_ text: (prefix: String, line: String, count: Int), to path: String) throws {
        guard FileManager.default.createFile(atPath: path, contents: Data(text.prefix.utf8)) else {
            throw CocoaError(.fileWriteUnknown)
        }
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        defer { try? handle.close() }
        try handle.seekToEnd()
        let perChunk = max(1, 1_048_576 / max(1, text.line.utf8.count))
        var left = text.count
        while left > 0 {
            let lines = min(left, perChunk)
            try handle.write(contentsOf: Data(String(repeating: text.line, count: lines).utf8))
            left -= lines
        }
    }
}

/// A `baton` process and its own peak resident size, as `wait4` reports it.
///
/// On Linux a process started from the test process cannot be measured by the test: `exec` records the peak of the
/// memory the new program replaces, and a `posix_spawn` (vfork) or `fork` child starts from the test process's
/// memory, so its `ru_maxrss` is at least the test process's own peak. GNU time (`/usr/bin/time`) is a small
/// process that forks `baton` from its own small memory and reads that child's `wait4` rusage, so on Linux it
/// stands between; on macOS `posix_spawn` starts a new task and `wait4` on `baton` itself is exact.
struct MeasuredProcess {
    var status: Int32
    var signal: Int32?
    var stdout: String
    var stderr: String
    /// The child's peak resident set size in bytes.
    var peakBytes: Int
    var seconds: Double

    var summary: String {
        "\(signal.map { "killed by signal \($0)" } ?? "exit \(status)"), \(peakBytes / 1_048_576) MB\n--- stdout\n"
            + "\(stdout.prefix(2000))\n--- stderr\n\(stderr.prefix(2000))"
    }

    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    /// Runs `baton arguments` with a minimal environment plus `environment`, its output in files in `folder`.
    ///
    /// A process that passes 1 GB or 60 seconds is killed, so a regression fails the test instead of the machine.
    static func run(_ arguments: [String], environment: [String: String], folder: String) async throws -> MeasuredProcess {
        let env = ["PATH": "/usr/bin:/bin", "HOME": folder, "XDG_CONFIG_HOME": folder + "/config"].merging(environment) { $1 }
        let out = folder + "/stdout.txt"
        let err = folder + "/stderr.txt"
        #if os(Linux)
            let time = "/usr/bin/time"
            guard FileManager.default.isExecutableFile(atPath: time) else {
                throw Failure(description: "GNU time (\(time), the package 'time') is needed to measure baton's own peak memory")
            }
            let peakFile = folder + "/peak.txt"
            let command = [time, "-f", "%M", "-o", peakFile, BatonProcess.binary] + arguments
        #else
            let command = [BatonProcess.binary] + arguments
        #endif
        let started = Date()
        let (status, usage) = try await withCheckedThrowingContinuation {
            (continuation: CheckedContinuation<(Int32, rusage), any Error>) in
            // The wait polls on a thread of its own, never on the cooperative pool the other tests use.
            Thread {
                continuation.resume(with: Result(catching: { try spawnAndWait(command, env, out: out, err: err) }))
            }.start()
        }
        let seconds = Date().timeIntervalSince(started)
        #if os(Linux)
            // GNU time writes "Command exited with non-zero status N" first when it is not 0, the kilobytes last.
            let lines = ((try? String(contentsOfFile: peakFile, encoding: .utf8)) ?? "").split(separator: "\n")
            guard let kilobytes = lines.last.flatMap({ Int($0) }) else {
                throw Failure(description: "GNU time wrote no peak: \(lines)")
            }
            let peak = kilobytes * 1024
            // GNU time exits with baton's status, or 128 + the signal that killed it.
            let exited = (status >> 8) & 0xff
            let signal: Int32? = status & 0x7f != 0 ? status & 0x7f : (exited > 128 ? exited - 128 : nil)
            _ = usage
        #else
            let peak = Int(usage.ru_maxrss)  // bytes on macOS
            let exited = (status >> 8) & 0xff
            let signal: Int32? = status & 0x7f != 0 ? status & 0x7f : nil
        #endif
        return MeasuredProcess(
            status: signal ?? exited, signal: signal, stdout: (try? String(contentsOfFile: out, encoding: .utf8)) ?? "",
            stderr: (try? String(contentsOfFile: err, encoding: .utf8)) ?? "", peakBytes: peak, seconds: seconds)
    }

    private static func spawnAndWait(
        _ command: [String], _ environment: [String: String], out: String, err: String
    ) throws -> (Int32, rusage) {
        #if os(Linux)
            var actions = posix_spawn_file_actions_t()
        #else
            var actions: posix_spawn_file_actions_t? = nil
        #endif
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, out, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        posix_spawn_file_actions_addopen(&actions, 2, err, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        let argv = command.map { strdup($0) } + [nil]
        let envp = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { (argv + envp).forEach { free($0) } }
        var pid: pid_t = 0
        let code = posix_spawn(&pid, command[0], &actions, nil, argv, envp)
        guard code == 0 else { throw Failure(description: "posix_spawn \(command[0]): \(String(cString: strerror(code)))") }

        var status: Int32 = 0
        var usage = rusage()
        let deadline = Date().addingTimeInterval(60)
        // Polling with WNOHANG keeps the pid ours until it is reaped, so the kill below cannot hit another process.
        while wait4(pid, &status, WNOHANG, &usage) == 0 {
            if Date() > deadline || residentBytes(pid) > 1 << 30 {
                for child in children(pid) { kill(child, SIGKILL) }
                kill(pid, SIGKILL)
            }
            usleep(20_000)
        }
        return (status, usage)
    }

    /// The children of `pid` (Linux; none elsewhere).
    private static func children(_ pid: pid_t) -> [pid_t] {
        let text = (try? String(contentsOfFile: "/proc/\(pid)/task/\(pid)/children", encoding: .utf8)) ?? ""
        return text.split(separator: " ").compactMap { pid_t($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
    }

    /// The resident size of `pid` and its children now (Linux; 0 elsewhere, where only the deadline guards).
    private static func residentBytes(_ pid: pid_t) -> Int {
        ([pid] + children(pid)).reduce(0) { total, process in
            let statm = (try? String(contentsOfFile: "/proc/\(process)/statm", encoding: .utf8)) ?? ""
            let pages = statm.split(separator: " ").dropFirst().first.flatMap { Int($0) } ?? 0
            return total + pages * Int(getpagesize())
        }
    }
}
