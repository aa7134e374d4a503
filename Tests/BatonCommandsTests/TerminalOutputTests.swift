import BatonTestSupport
import Foundation
import Testing

/// Where the tests look for tmux (Debian's package puts it here).
private let tmuxPath = "/usr/bin/tmux"

/// Model output cannot drive the terminal (issue 18, item 4), on a real terminal emulator: tmux, whose pane, title and
/// paste buffers are read back. An echo script answers with OSC 0 (set the title), OSC 52 (set the clipboard) and
/// CSI 2J (clear the screen); tmux obeys all three when they are written raw (``showRawChangesTheTerminal()`` proves
/// it), so the test would see them work if Baton let them through.
@Suite(.enabled(if: FileManager.default.isExecutableFile(atPath: tmuxPath), "needs tmux at /usr/bin/tmux (scripts/test.sh installs it)"))
struct TerminalOutputTests {
    static let tmux = tmuxPath

    /// The answer: text around the three sequences, as the YAML of an echo script writes them (`\e` is ESC, `\a` BEL).
    static let script = #"""
        say:
          "*": {output: "before \e]0;pwned-title\a middle \e]52;c;cHduZWQ=\a after \e[2J\e[H end"}
        """#
    static let answer = "before \u{1B}]0;pwned-title\u{07} middle \u{1B}]52;c;cHduZWQ=\u{07} after \u{1B}[2J\u{1B}[H end"
    static let shown = "before ^[]0;pwned-title^G middle ^[]52;c;cHduZWQ=^G after ^[[2J^[[H end"

    static let pipeline = """
        version: 1
        stages:
          say:
            model: tiny
            prompt: Say it.
        """

    /// A tmux server of its own (its socket in the sandbox, no configuration file), killed at the end.
    struct Terminal {
        let folder: String
        var socket: String { folder + "/tmux.sock" }

        /// Runs tmux with `arguments`, returning what it printed. Its output goes to a file, not a pipe: the server
        /// that `new-session` starts keeps the descriptors it inherited, so a pipe would never reach its end.
        func tmux(_ arguments: [String], check: Bool = true) async throws -> String {
            let output = folder + "/tmux-\(UUID().uuidString.prefix(8)).out"
            let arguments = ["-S", socket, "-f", "/dev/null"] + arguments
            let (status, text) = try await offThePool { () throws -> (Int32, String) in
                FileManager.default.createFile(atPath: output, contents: nil)
                let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: output))
                defer { try? handle.close() }
                let process = Process()
                // Through Python's subprocess: a tmux server started straight from Foundation's Process is gone by
                // the next call ("no server running"), even with its signals reset by `env --default-signal`, while
                // one started by Python's subprocess (which restores signal dispositions and closes descriptors)
                // stays (checked with a 10-line Swift program; the cause inside Process is not pinned down).
                process.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
                process.arguments =
                    ["-c", "import subprocess, sys; sys.exit(subprocess.call(sys.argv[1:]))", TerminalOutputTests.tmux] + arguments
                process.standardInput = FileHandle.nullDevice
                process.currentDirectoryURL = URL(fileURLWithPath: folder)
                process.standardOutput = handle
                process.standardError = handle
                try process.run()
                process.waitUntilExit()
                return (process.terminationStatus, try String(contentsOfFile: output, encoding: .utf8))
            }
            if check { #expect(status == 0, "tmux \(arguments): \(text)") }
            return text
        }

        /// Runs the shell `script` in a new 150×100 pane once its title is set and OSC 52 may set tmux's buffers;
        /// returns when the pane shows `EXIT-MARK`: the pane's visible text, its title and the paste buffers.
        func run(_ script: String) async throws -> (pane: String, title: String, buffers: String) {
            let go = folder + "/go"
            let file = folder + "/pane.sh"
            try """
            i=0; while [ ! -f '\(go)' ] && [ $i -lt 600 ]; do sleep 0.05; i=$((i + 1)); done
            echo EARLIER-MARK
            \(script)
            echo "EXIT-MARK $?"
            exec sleep 60
            """.write(toFile: file, atomically: true, encoding: .utf8)
            _ = try await tmux(["new-session", "-d", "-s", "t", "-x", "150", "-y", "100", "sh '\(file)'"])
            // An application's OSC 52 then creates a paste buffer (the default, external, would drop it silently).
            _ = try await tmux(["set-option", "-g", "set-clipboard", "on"])
            _ = try await tmux(["select-pane", "-t", "t", "-T", "before-title"])
            FileManager.default.createFile(atPath: go, contents: nil)
            var pane = ""
            for _ in 0..<600 where !pane.contains("EXIT-MARK") {
                try await Task.sleep(for: .milliseconds(50))
                pane = try await tmux(["capture-pane", "-p", "-t", "t"])
            }
            let title = try await tmux(["display-message", "-p", "-t", "t", "#{pane_title}"])
            let buffers = try await tmux(["list-buffers"])
            return (pane, title.trimmingCharacters(in: .whitespacesAndNewlines), buffers)
        }

        /// ``run(_:)``, then the server killed, whether the run succeeded or not.
        func runThenKill(_ script: String) async throws -> (pane: String, title: String, buffers: String) {
            do {
                let result = try await run(script)
                await kill()
                return result
            } catch {
                await kill()
                throw error
            }
        }

        func kill() async {
            _ = try? await tmux(["kill-server"], check: false)
        }
    }

    /// A sandbox with the pipeline and the script, and the shell line that exports its environment.
    static func sandbox(_ name: String) throws -> (RunSandbox, pipeline: String, exports: String) {
        let sandbox = try RunSandbox(name)
        let pipeline = sandbox.folder + "/say.yaml"
        try Self.pipeline.write(toFile: pipeline, atomically: true, encoding: .utf8)
        try Self.script.write(toFile: sandbox.folder + "/script.yaml", atomically: true, encoding: .utf8)
        sandbox.environment["BATON_ECHO_SCRIPT"] = sandbox.folder + "/script.yaml"
        let exports = sandbox.environment.sorted { $0.key < $1.key }.map { "export \($0.key)=\(quoted($0.value))" }
            .joined(separator: "; ")
        return (sandbox, pipeline, exports)
    }

    static func quoted(_ text: String) -> String { "'" + text.replacingOccurrences(of: "'", with: "'\\''") + "'" }

    @Test
    func onATerminalTheSequencesAreShownAndNotObeyedInRunAndShow() async throws {
        let (sandbox, pipeline, exports) = try Self.sandbox("terminal")
        let baton = Self.quoted(BatonProcess.binary)
        let terminal = Terminal(folder: sandbox.folder)
        // The pane's script and the server's socket are in the sandbox's folder, removed when the sandbox goes.
        defer { withExtendedLifetime(sandbox) {} }

        // When baton runs the pipeline in the pane, then shows the run (text and Markdown)
        let (pane, title, buffers) = try await terminal.runThenKill(
            """
            cd \(Self.quoted(sandbox.folder)); \(exports)
            \(baton) run \(Self.quoted(pipeline)) --runtime echo || exit 1
            id=$(\(baton) runs | awk 'NR == 2 { print $1 }')
            \(baton) show "$id" --stage say && \(baton) show "$id" --format markdown
            """)

        // Then the answer shows as text: streamed (standard error), as the output (standard output), and in show's
        // text and Markdown, and the terminal did none of it
        #expect(pane.contains("EXIT-MARK 0"), "\(pane)")
        // Five times: streamed, run's output, show's text, and the Markdown's Output and Result sections.
        #expect(pane.components(separatedBy: Self.shown).count - 1 == 5, "\(pane)")
        #expect(title == "before-title")
        #expect(buffers.isEmpty, "OSC 52 set a paste buffer: \(buffers)")
        // CSI 2J would have cleared the screen: what came before is still on it.
        #expect(pane.contains("EARLIER-MARK"), "\(pane)")
    }

    @Test
    func showRawChangesTheTerminal() async throws {
        // The check above can fail: written raw (`--raw`), the same answer sets the title and a buffer and clears the pane.
        let (sandbox, pipeline, exports) = try Self.sandbox("terminal-raw")
        let run = try await sandbox.baton(["run", pipeline, "--runtime", "echo"])
        try #require(run.status == 0, "\(run.summary)")
        let id = try await sandbox.onlyRunID()
        let terminal = Terminal(folder: sandbox.folder)
        // The pane's script and the server's socket are in the sandbox's folder, removed when the sandbox goes.
        defer { withExtendedLifetime(sandbox) {} }

        let (pane, title, buffers) = try await terminal.runThenKill(
            "cd \(Self.quoted(sandbox.folder)); \(exports)\n\(Self.quoted(BatonProcess.binary)) show \(id) --stage say --raw")

        #expect(title == "pwned-title")
        #expect(buffers.contains("pwned"))
        #expect(!pane.contains("EARLIER-MARK"), "\(pane)")
        #expect(!pane.contains("^["))
    }

    @Test func pipedTheOutputIsByteExact() async throws {
        let (sandbox, pipeline, _) = try Self.sandbox("terminal-pipe")

        let run = try await sandbox.baton(["run", pipeline, "--runtime", "echo"])

        #expect(run.status == 0, "\(run.summary)")
        #expect(run.stdout == Self.answer + "\n")
        let id = try await sandbox.onlyRunID()
        let show = try await sandbox.baton(["show", id, "--stage", "say"])
        #expect(show.stdout.contains("\n" + Self.answer + "\n"))
        #expect(!show.stdout.contains("^["))
    }
}
