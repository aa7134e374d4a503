import BatonTestSupport
import Foundation
import Testing

/// Baton outside its clone: `scripts/install.sh` into a temporary prefix, then a new user's first steps from an
/// empty folder (`init`, `validate --strict`, `run --runtime echo`, `list`, `profiles list`, `doctor`), and
/// `--uninstall` leaving the prefix as it was.
@Suite struct InstallTests {
    /// A scratch root with a prefix, a home, a config folder and a project folder, all outside the clone.
    final class Scratch: @unchecked Sendable {
        let root = NSTemporaryDirectory() + "baton-install-\(UUID().uuidString.prefix(8))"
        var prefix: String { root + "/prefix" }
        var project: String { root + "/project" }

        init() throws {
            for folder in [prefix, project, root + "/home", root + "/config", root + "/state"] {
                try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
            }
        }

        deinit { try? FileManager.default.removeItem(atPath: root) }

        /// A minimal environment: no runtime reachable (port 9 is discard, closed here), run database under the scratch root.
        var environment: [String: String] {
            [
                "PATH": "/usr/bin:/bin", "HOME": root + "/home", "XDG_CONFIG_HOME": root + "/config", "XDG_STATE_HOME": root + "/state",
                "OLLAMA_HOST": "127.0.0.1:9", "BATON_LLAMA_URL": "http://127.0.0.1:9", "BATON_PROGRESS_INTERVAL": "0",
            ]
        }

        /// Every path below the prefix, sorted.
        func prefixListing() -> [String] {
            ((FileManager.default.enumerator(atPath: prefix)?.allObjects as? [String]) ?? []).sorted()
        }
    }

    /// What a process printed.
    struct Output: Sendable {
        var status: Int32
        var stdout: String
        var stderr: String
        var summary: String { "exit \(status)\n--- stdout\n\(stdout)\n--- stderr\n\(stderr)" }
    }

    /// Runs `executable arguments` in `directory` with exactly `environment`, off the cooperative pool (an installed
    /// binary, or the script: `BatonProcess` runs the build's binary).
    static func run(_ executable: String, _ arguments: [String], in directory: String, environment: [String: String]) async throws
        -> Output
    {
        try await offThePool {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: executable)
            process.arguments = arguments
            process.currentDirectoryURL = URL(fileURLWithPath: directory)
            process.environment = environment
            let out = FileManager.default.temporaryDirectory.appendingPathComponent("baton-install-out-\(UUID().uuidString)")
            let err = FileManager.default.temporaryDirectory.appendingPathComponent("baton-install-err-\(UUID().uuidString)")
            _ = FileManager.default.createFile(atPath: out.path, contents: nil)
            _ = FileManager.default.createFile(atPath: err.path, contents: nil)
            defer {
                try? FileManager.default.removeItem(at: out)
                try? FileManager.default.removeItem(at: err)
            }
            process.standardOutput = try FileHandle(forWritingTo: out)
            process.standardError = try FileHandle(forWritingTo: err)
            try process.run()
            process.waitUntilExit()
            return Output(
                status: process.terminationStatus, stdout: (try? String(contentsOf: out, encoding: .utf8)) ?? "",
                stderr: (try? String(contentsOf: err, encoding: .utf8)) ?? "")
        }
    }

    static let script = Fixtures.path("scripts/install.sh")

    @Test func installFirstStepsOutsideTheCloneAndUninstall() async throws {
        let scratch = try Scratch()
        let before = scratch.prefixListing()
        let env = scratch.environment
        let install = try await Self.run(
            "/bin/bash", [Self.script, "--prefix", scratch.prefix, "--binary", BatonProcess.binary], in: scratch.root, environment: env)
        #expect(install.status == 0, "\(install.summary)")
        let installed = scratch.prefix + "/bin/baton"
        func baton(_ arguments: [String]) async throws -> Output {
            try await Self.run(installed, arguments, in: scratch.project, environment: env)
        }

        // The shipped files are found from any folder, after the user's own.
        let list = try await baton(["list"])
        #expect(list.status == 0, "\(list.summary)")
        #expect(list.stdout.contains("hello "), "\(list.summary)")
        let profiles = try await baton(["profiles", "list"])
        #expect(profiles.stdout.contains("\(scratch.prefix)/share/baton/profiles/ci.yaml"), "\(profiles.summary)")

        let initialized = try await baton(["init"])
        #expect(initialized.status == 0, "\(initialized.summary)")
        for file in [
            "pipelines/starter.yaml", "pipelines/starter.test.yaml", "profiles/default.yaml", ".gitignore", ".github/workflows/baton.yml",
        ] {
            #expect(initialized.stdout.contains("wrote \(file)"), "\(initialized.summary)")
            #expect(FileManager.default.fileExists(atPath: scratch.project + "/" + file), "\(file)")
        }
        let validate = try await baton(["validate", "--strict"])
        #expect(validate.status == 0, "\(validate.summary)")
        #expect(validate.stdout.contains("2 files checked: 0 invalid files, 0 errors, 0 warnings"), "\(validate.summary)")
        // The starter's tests pass on the echo runtime, as the workflow `init` wrote runs them; the judge is skipped.
        let tests = try await baton(["test", "--junit", "baton-junit.xml"])
        #expect(tests.status == 0, "\(tests.summary)")
        #expect(tests.stdout.hasSuffix("2 passed, 0 failed, 0 errors, 0 skipped\n"), "\(tests.summary)")
        #expect(FileManager.default.fileExists(atPath: scratch.project + "/baton-junit.xml"))
        let run = try await baton(["run", "starter", "--runtime", "echo", "--quiet"])
        #expect(run.status == 0, "\(run.summary)")
        #expect(run.stdout.contains("[echo] write round 1"), "\(run.summary)")
        // The project's own profile now comes before the shipped default.
        let inUse = try await baton(["profiles", "list"])
        #expect(inUse.stdout.contains("* default") && inUse.stdout.contains("(profiles/default.yaml, in use)"), "\(inUse.summary)")

        // Completions and the man page.
        for file in [
            "share/bash-completion/completions/baton", "share/zsh/site-functions/_baton", "share/fish/vendor_completions.d/baton.fish",
        ] {
            let text = (try? String(contentsOfFile: scratch.prefix + "/" + file, encoding: .utf8)) ?? ""
            #expect(text.contains("baton"), "\(file) is missing or empty")
        }
        let manual = (try? String(contentsOfFile: scratch.prefix + "/share/man/man1/baton.1", encoding: .utf8)) ?? ""
        #expect(manual.contains(".TH") || manual.contains(".Dd"), "the man page is missing or not roff")
        #expect(manual.contains("validate"))

        let uninstall = try await Self.run(
            "/bin/bash", [Self.script, "--prefix", scratch.prefix, "--uninstall"], in: scratch.root, environment: env)
        #expect(uninstall.status == 0, "\(uninstall.summary)")
        #expect(scratch.prefixListing() == before, "left behind: \(scratch.prefixListing())")
        #expect(FileManager.default.fileExists(atPath: scratch.project + "/profiles/default.yaml"), "the project is not the installer's")
    }

    @Test func installRefusesABadCommandLineAndUninstallWithoutAManifest() async throws {
        let scratch = try Scratch()
        let unknown = try await Self.run("/bin/bash", [Self.script, "--frobnicate"], in: scratch.root, environment: scratch.environment)
        #expect(unknown.status == 64, "\(unknown.summary)")
        let nothing = try await Self.run(
            "/bin/bash", [Self.script, "--prefix", scratch.prefix, "--uninstall"], in: scratch.root, environment: scratch.environment)
        #expect(nothing.status == 66, "\(nothing.summary)")
        #expect(nothing.stderr.contains("install-manifest.txt"))
        let help = try await Self.run("/bin/bash", [Self.script, "--help"], in: scratch.root, environment: scratch.environment)
        #expect(help.status == 0 && help.stdout.contains("--uninstall") && help.stdout.contains("Exit codes"), "\(help.summary)")
    }

    @Test func runWithTheEchoRuntimeNeedsNoProfileAndNoModel() async throws {
        let scratch = try Scratch()
        try """
        version: 1
        stages:
          draft: {role: writer, prompt: "Write about tea."}
          verse: {role: poet, needs: [draft], prompt: "{{stages.draft.output}}"}
          named: {model: some-model:7b, needs: [verse], prompt: "{{stages.verse.output}}"}
        """.write(toFile: scratch.project + "/my.yaml", atomically: true, encoding: .utf8)
        let run = try await BatonProcess.run(
            ["run", "my.yaml", "--runtime", "echo", "--quiet"], in: scratch.project, environment: scratch.environment)
        #expect(run.status == 0, "\(run.summary)")
        #expect(!run.stderr.contains("missing-model"), "\(run.summary)")
        #expect(run.stdout.contains("[some-model:7b] named round 1: [echo] verse round 1: [echo] draft round 1"), "\(run.summary)")
    }

    @Test func doctorSaysNoProfileFileWasFoundWhereItLookedAndThatTheBuiltInOneIsUsed() async throws {
        let scratch = try Scratch()
        let doctor = try await BatonProcess.run(["doctor"], in: scratch.project, environment: scratch.environment)
        #expect(doctor.stdout.hasPrefix("profile default (built in)"), "\(doctor.summary)")
        #expect(
            doctor.stdout.contains("no profile file named 'default' in profiles, \(scratch.root)/config/baton/profiles"),
            "\(doctor.summary)")
        #expect(doctor.stdout.contains("using the built-in default profile (Ollama at http://127.0.0.1:9"), "\(doctor.summary)")
        #expect(doctor.stdout.contains("runtime ollama (ollama)"), "\(doctor.summary)")

        try FileManager.default.createDirectory(atPath: scratch.project + "/profiles", withIntermediateDirectories: true)
        try "version: 1\nruntimes:\n  echo: {kind: echo}\n".write(
            toFile: scratch.project + "/profiles/default.yaml", atomically: true, encoding: .utf8)
        let found = try await BatonProcess.run(["doctor"], in: scratch.project, environment: scratch.environment)
        #expect(found.status == 0, "\(found.summary)")
        #expect(found.stdout.hasPrefix("profile default\n"), "\(found.summary)")
        #expect(!found.stdout.contains("no profile file named"), "\(found.summary)")
    }

    @Test func initNeverOverwritesAndSaysWhatItSkipped() async throws {
        let scratch = try Scratch()
        try FileManager.default.createDirectory(atPath: scratch.project + "/pipelines", withIntermediateDirectories: true)
        try "mine\n".write(toFile: scratch.project + "/pipelines/starter.yaml", atomically: true, encoding: .utf8)
        let first = try await BatonProcess.run(["init", "."], in: scratch.project, environment: scratch.environment)
        #expect(first.status == 0, "\(first.summary)")
        #expect(first.stdout.contains("skipped pipelines/starter.yaml: it exists"), "\(first.summary)")
        #expect(first.stdout.contains("wrote profiles/default.yaml"), "\(first.summary)")
        #expect(try String(contentsOfFile: scratch.project + "/pipelines/starter.yaml", encoding: .utf8) == "mine\n")

        let profile = try String(contentsOfFile: scratch.project + "/profiles/default.yaml", encoding: .utf8)
        let again = try await BatonProcess.run(["init", scratch.project], in: scratch.root, environment: scratch.environment)
        #expect(again.status == 0, "\(again.summary)")
        #expect(again.stdout.components(separatedBy: "skipped ").count == 6, "\(again.summary)")
        #expect(try String(contentsOfFile: scratch.project + "/profiles/default.yaml", encoding: .utf8) == profile)
    }

    @Test func profilesListShowsTheBuiltInProfile() async throws {
        let scratch = try Scratch()
        let list = try await BatonProcess.run(["profiles", "list", "--json"], in: scratch.project, environment: scratch.environment)
        #expect(list.status == 0, "\(list.summary)")
        let rows = try #require(try JSONSerialization.jsonObject(with: Data(list.stdout.utf8)) as? [[String: Any]])
        #expect(rows.count == 1)
        #expect(rows.first?["built_in"] as? Bool == true)
        #expect(rows.first?["in_use"] as? Bool == true)
        let text = try await BatonProcess.run(["profiles", "show"], in: scratch.project, environment: scratch.environment)
        #expect(text.stdout.hasPrefix("profile default: default (built in)"), "\(text.summary)")
    }
}
