import BatonTestSupport
import Foundation
import Testing

@testable import BatonEngine

/// `baton keys set|list|remove` run as the real binary: what each prints and exits with, what the file holds, and
/// that a key never appears on standard output or standard error, error paths included.
@Suite struct KeysCommandTests {
    static let passphrase = "test passphrase 4e1b"

    /// A fresh, unique key value: a canary to look for everywhere a key must not be.
    static func canary(_ label: String) -> String { "sk-canary-\(label)-\(UUID().uuidString.prefix(12))" }

    /// A scratch folder whose key file is `config/baton/keys.json.enc` (given with `BATON_KEY_FILE`).
    final class KeySandbox: @unchecked Sendable {
        let folder: String
        var keyFile: String { folder + "/config/baton/keys.json.enc" }
        /// The key values used so far, none of which may ever be printed.
        var secrets: [String] = [KeysCommandTests.passphrase]

        init(_ name: String) throws {
            folder = NSTemporaryDirectory() + "baton-keys-\(name)-\(UUID().uuidString.prefix(8))"
            try FileManager.default.createDirectory(atPath: folder + "/work", withIntermediateDirectories: true)
        }

        deinit { try? FileManager.default.removeItem(atPath: folder) }

        /// Runs `baton arguments` with `stdin` as its standard input (a file, so never a terminal) and
        /// `BATON_KEY_PASSPHRASE` set to `passphrase` (unset when nil). Expects no secret in what it prints.
        func baton(
            _ arguments: [String], stdin: String = "", passphrase: String? = KeysCommandTests.passphrase,
            environment extra: [String: String] = [:], sourceLocation: Testing.SourceLocation = #_sourceLocation
        ) async throws -> BatonProcess.Result {
            let input = folder + "/stdin-\(UUID().uuidString.prefix(8))"
            try Data(stdin.utf8).write(to: URL(fileURLWithPath: input))
            defer { try? FileManager.default.removeItem(atPath: input) }
            var environment = [
                "BATON_KEY_FILE": keyFile, "XDG_CONFIG_HOME": folder + "/xdg", "HOME": folder, "BATON_TEST_STDIN": input,
            ]
            environment["BATON_KEY_PASSPHRASE"] = passphrase
            environment.merge(extra) { $1 }
            let result = try await BatonProcess.run(
                arguments, in: folder + "/work", environment: environment,
                launcher: ["/bin/sh", "-c", #"exec "$0" "$@" < "$BATON_TEST_STDIN""#])
            for secret in secrets + [stdin.trimmingCharacters(in: .whitespacesAndNewlines)] where secret.count >= 6 {
                #expect(!result.stdout.contains(secret), "a secret is on stdout: \(result.summary)", sourceLocation: sourceLocation)
                #expect(!result.stderr.contains(secret), "a secret is on stderr: \(result.summary)", sourceLocation: sourceLocation)
            }
            return result
        }

        /// `baton keys set NAME` with `key` on standard input.
        func set(_ name: String, _ key: String, passphrase: String? = KeysCommandTests.passphrase) async throws -> BatonProcess.Result {
            secrets.append(key)
            return try await baton(["keys", "set", name], stdin: key + "\n", passphrase: passphrase)
        }

        /// Writes the key file directly, with cheap scrypt parameters, for tests about reading it; each key bound to
        /// the hosts of `urls` (as 'baton keys set NAME --host' binds it), or to its default host when there are none.
        func seed(_ keys: [String: String], boundTo urls: [String] = []) throws {
            secrets += keys.values
            let hosts = urls.isEmpty ? nil : urls.compactMap { KeyEndpoint(url: $0)?.allowance }
            try KeyFile(path: keyFile, scrypt: ScryptParameters(n: 16, r: 8, p: 1))
                .write(entries: keys.mapValues { KeyFileEntry(key: $0, hosts: hosts) }, passphrase: KeysCommandTests.passphrase)
        }

        /// The file's content, read with the library.
        func stored() throws -> [String: String] {
            try KeyFile(path: keyFile).read(passphrase: KeysCommandTests.passphrase)
        }

        func mode(_ path: String) throws -> Int {
            (try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int) ?? -1
        }
    }

    // MARK: - The happy path

    @Test func setListRemoveWorkAndNeverPrintAKey() async throws {
        let sandbox = try KeySandbox("flow")
        let first = Self.canary("openai")
        let second = Self.canary("variable")

        var result = try await sandbox.set("openai", first)
        #expect(result.status == 0, "\(result.summary)")
        #expect(
            result.stdout
                == "stored the key 'openai' in \(sandbox.keyFile); it may be sent to the official host of the runtime's kind (default)\n")
        #expect(try sandbox.mode(sandbox.keyFile) == 0o600)
        #expect(try sandbox.mode(sandbox.folder + "/config/baton") == 0o700)
        assertNoCanary(in: sandbox.folder, canary: first)

        result = try await sandbox.baton(["keys", "list"])
        #expect(result.status == 0 && result.stdout == "openai  the official host of the runtime's kind (default)\n", "\(result.summary)")

        result = try await sandbox.set("OPENAI_API_KEY", second)
        #expect(result.status == 0, "\(result.summary)")
        result = try await sandbox.baton(["keys", "list", "--json"])
        #expect(result.status == 0, "\(result.summary)")
        let listing = try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any]
        #expect(listing?["file"] as? String == sandbox.keyFile)
        #expect(listing?["names"] as? [String] == ["OPENAI_API_KEY", "openai"])

        let third = Self.canary("replacement")
        result = try await sandbox.set("openai", third)
        #expect(result.status == 0 && result.stdout.hasPrefix("replaced the key 'openai'"), "\(result.summary)")
        #expect(try sandbox.stored() == ["openai": third, "OPENAI_API_KEY": second])

        result = try await sandbox.baton(["keys", "remove", "openai"])
        #expect(result.status == 0 && result.stdout == "removed the key 'openai' from \(sandbox.keyFile)\n", "\(result.summary)")
        #expect(try sandbox.stored() == ["OPENAI_API_KEY": second])
        #expect(try sandbox.mode(sandbox.keyFile) == 0o600)

        result = try await sandbox.baton(["keys", "remove", "openai"])
        #expect(result.status == 66, "\(result.summary)")
        #expect(result.stderr.contains("no key 'openai' in \(sandbox.keyFile); 'baton keys list' shows the names"))
        for canary in [first, second, third] { assertNoCanary(in: sandbox.folder, canary: canary) }
    }

    @Test func listWithoutAFileSaysHowToStart() async throws {
        let sandbox = try KeySandbox("nofile")
        var result = try await sandbox.baton(["keys", "list"], passphrase: nil)
        #expect(result.status == 0 && result.stdout.isEmpty, "\(result.summary)")
        #expect(result.stderr.contains("no key file at \(sandbox.keyFile); add a key with 'baton keys set NAME'"))
        result = try await sandbox.baton(["keys", "list", "--json"], passphrase: nil)
        #expect(result.status == 0, "\(result.summary)")
        #expect(result.stdout.contains(#""names" : ["#) && !result.stdout.contains("openai"))
        result = try await sandbox.baton(["keys", "remove", "openai"], passphrase: nil)
        #expect(result.status == 66 && result.stderr.contains("no key file at \(sandbox.keyFile)"), "\(result.summary)")
        #expect(!FileManager.default.fileExists(atPath: sandbox.keyFile))
    }

    // MARK: - Errors

    @Test func aWrongPassphraseExits77AndChangesNothing() async throws {
        let sandbox = try KeySandbox("wrong")
        let key = Self.canary("wrong")
        try sandbox.seed(["openai": key])
        let commands: [([String], String)] = [
            (["keys", "list"], ""), (["keys", "remove", "openai"], ""), (["keys", "set", "other"], Self.canary("other")),
        ]
        for (arguments, stdin) in commands {
            sandbox.secrets.append(stdin)
            let result = try await sandbox.baton(arguments, stdin: stdin, passphrase: "not the passphrase")
            #expect(result.status == 77, "\(arguments): \(result.summary)")
            #expect(result.stderr.contains("cannot unlock the key file \(sandbox.keyFile): wrong passphrase, or the file was changed"))
            #expect(result.stdout.isEmpty)
            #expect(!result.stderr.contains("not the passphrase"))
        }
        #expect(try sandbox.stored() == ["openai": key])
    }

    @Test func withoutAPassphraseOrATerminalExits77() async throws {
        let sandbox = try KeySandbox("nopass")
        var result = try await sandbox.set("openai", Self.canary("nopass"), passphrase: nil)
        #expect(result.status == 77, "\(result.summary)")
        #expect(result.stderr.contains("needs its passphrase; set BATON_KEY_PASSPHRASE"), "\(result.stderr)")
        #expect(!FileManager.default.fileExists(atPath: sandbox.keyFile))
        try sandbox.seed(["openai": Self.canary("seeded")])
        result = try await sandbox.baton(["keys", "list"], passphrase: nil)
        #expect(result.status == 77 && result.stdout.isEmpty, "\(result.summary)")
    }

    @Test(arguments: [0o644, 0o640, 0o604])
    func aFileOthersMayReadExits77WithTheChmodFix(_ mode: Int) async throws {
        let sandbox = try KeySandbox("mode")
        try sandbox.seed(["openai": Self.canary("mode")])
        #expect(chmod(sandbox.keyFile, mode_t(mode)) == 0)
        for arguments in [["keys", "list"], ["keys", "remove", "openai"]] {
            let result = try await sandbox.baton(arguments)
            #expect(result.status == 77, "\(result.summary)")
            #expect(result.stderr.contains("run 'chmod 600 \(sandbox.keyFile)'"), "\(result.stderr)")
        }
        let result = try await sandbox.set("openai", Self.canary("mode-set"))
        #expect(result.status == 77, "\(result.summary)")
        #expect(try sandbox.mode(sandbox.keyFile) == mode, "a refused file was rewritten")
    }

    @Test func aDamagedFileExits74() async throws {
        let sandbox = try KeySandbox("damaged")
        try sandbox.seed(["openai": Self.canary("damaged")])
        let original = try Data(contentsOf: URL(fileURLWithPath: sandbox.keyFile))
        try original.prefix(original.count / 2).write(to: URL(fileURLWithPath: sandbox.keyFile))
        var result = try await sandbox.baton(["keys", "list"])
        #expect(result.status == 74, "\(result.summary)")
        #expect(result.stderr.contains("the key file \(sandbox.keyFile) is damaged ("), "\(result.stderr)")

        try Data(#"{"version": 9}"#.utf8).write(to: URL(fileURLWithPath: sandbox.keyFile))
        result = try await sandbox.baton(["keys", "list"])
        #expect(result.status == 74 && result.stderr.contains("has format version 9"), "\(result.summary)")
    }

    @Test(arguments: [
        ("", "no key on standard input"),
        ("  \n\n", "no key on standard input"),
        ("sk-one\nsk-two\n", "standard input has 2 lines; give only the key, on one line"),
        ("sk-\u{7}bell\n", "the key contains control characters"),
    ])
    func badKeyInputExits64AndStoresNothing(_ stdin: String, _ message: String) async throws {
        let sandbox = try KeySandbox("input")
        sandbox.secrets += stdin.split(whereSeparator: \.isNewline).map(String.init).filter { $0.count > 3 }
        let result = try await sandbox.baton(["keys", "set", "openai"], stdin: stdin)
        #expect(result.status == 64, "\(result.summary)")
        #expect(result.stderr.contains(message), "\(result.stderr)")
        #expect(!FileManager.default.fileExists(atPath: sandbox.keyFile))
    }

    @Test func aNameThatLooksLikeAKeyIsRefusedWithoutRepeatingIt() async throws {
        let sandbox = try KeySandbox("name")
        let key = Self.canary("as-name")
        sandbox.secrets.append(key)
        var result = try await sandbox.baton(["keys", "set", key], stdin: "x\n")
        #expect(result.status == 64, "\(result.summary)")
        #expect(result.stderr.contains("NAME looks like an API key, not a name"), "\(result.stderr)")
        result = try await sandbox.baton(["keys", "set", "open ai/x"], stdin: "x\n")
        #expect(result.status == 64 && result.stderr.contains("NAME must be letters, digits"), "\(result.summary)")
        #expect(!FileManager.default.fileExists(atPath: sandbox.keyFile))
    }

    @Test func theKeysHelpShowsTheSubcommands() async throws {
        let sandbox = try KeySandbox("help")
        let result = try await sandbox.baton(["keys", "--help"], passphrase: nil)
        #expect(result.status == 0, "\(result.summary)")
        for word in ["set", "list", "remove", "BATON_KEY_FILE", "BATON_KEY_PASSPHRASE"] {
            #expect(result.stdout.contains(word), "\(word) missing from: \(result.stdout)")
        }
    }

    // MARK: - On a terminal

    @Test func onATerminalANewPassphraseIsAskedTwiceAndNothingTypedIsEchoed() async throws {
        let sandbox = try KeySandbox("tty")
        let key = Self.canary("tty")
        let passphrase = "tty passphrase 71c0"
        let environment = ["BATON_KEY_FILE": sandbox.keyFile, "HOME": sandbox.folder, "PATH": "/usr/bin:/bin"]
        let session = try TerminalSession(["keys", "set", "openai"], environment: environment, in: sandbox.folder + "/work")
        for (prompt, answer) in [
            ("New passphrase for the key file \(sandbox.keyFile): ", passphrase), ("Type the passphrase again: ", passphrase),
            ("API key 'openai' (not shown): ", key),
        ] {
            guard try await session.waitForStandardError(prompt) else {
                let result = await session.finish()
                Issue.record("no prompt '\(prompt)': \(result.summary)")
                return
            }
            session.type(answer + "\r")
        }
        let result = await session.finish()
        #expect(result.status == 0 && result.stdout.hasPrefix("stored the key 'openai'"), "\(result.summary)")
        for secret in [key, passphrase] {
            #expect(!result.echoed.contains(secret), "the terminal echoed a secret: \(result.summary)")
            #expect(!result.stdout.contains(secret) && !result.stderr.contains(secret), "\(result.summary)")
        }
        #expect(try KeyFile(path: sandbox.keyFile).read(passphrase: passphrase) == ["openai": key])
        assertNoCanary(in: sandbox.folder, canary: key)
    }

    @Test func ctrlCAtThePromptExits130AndGivesTheTerminalBackWithEcho() async throws {
        let sandbox = try KeySandbox("ctrlc")
        try sandbox.seed(["openai": Self.canary("ctrlc")])
        let environment = ["BATON_KEY_FILE": sandbox.keyFile, "HOME": sandbox.folder, "PATH": "/usr/bin:/bin"]
        let session = try TerminalSession(["keys", "list"], environment: environment, in: sandbox.folder + "/work")
        guard try await session.waitForStandardError("Passphrase for the key file \(sandbox.keyFile): ") else {
            let result = await session.finish()
            Issue.record("no passphrase prompt: \(result.summary)")
            return
        }
        #expect(!session.echoIsOn, "echo is on while the passphrase is typed")
        session.type("half\u{03}")
        let result = await session.finish()
        #expect(result.status == 130, "\(result.summary)")
        #expect(result.stderr.contains("cancelled at the prompt for the key file \(sandbox.keyFile); nothing was changed"))
        #expect(session.echoIsOn, "the terminal was left without echo")
        #expect(!result.echoed.contains("half"))
    }

    // MARK: - The canary helper itself

    @Test func theCanaryScanFindsAKeyInAnyFileAndEncoding() throws {
        let sandbox = try KeySandbox("scan")
        let canary = Self.canary("scan")
        let nested = sandbox.folder + "/db/.hidden"
        try FileManager.default.createDirectory(atPath: nested, withIntermediateDirectories: true)
        try Data("nothing to see".utf8).write(to: URL(fileURLWithPath: sandbox.folder + "/db/runs.sqlite"))
        #expect(assertNoCanary(in: sandbox.folder, canary: canary) >= 1)
        let placements: [(String, Data)] = [
            ("/db/runs.sqlite-wal", Data([0, 1, 2]) + Data(canary.utf8) + Data([9])),
            ("/db/.hidden/log.txt", Data(("x" + canary).utf16.flatMap { [UInt8($0 & 0xFF), UInt8($0 >> 8)] })),
            ("/db/events.jsonl", Data(("{\"h\":\"" + Data(("ab" + canary + "z").utf8).base64EncodedString() + "\"}").utf8)),
        ]
        for (relative, bytes) in placements {
            let path = sandbox.folder + relative
            try bytes.write(to: URL(fileURLWithPath: path))
            withKnownIssue("the canary is planted in \(relative)") {
                _ = assertNoCanary(in: sandbox.folder, canary: canary)
            }
            try FileManager.default.removeItem(atPath: path)
        }
    }
}

/// Fails the current test when any file under `directory` holds `canary`: every regular file, hidden ones and
/// SQLite `-wal`, `-shm` and `-journal` files included, searched as bytes for the canary in UTF-8, in UTF-16 (little
/// and big endian) and inside base64 at any alignment. Symbolic links are not followed.
///
/// - Returns: how many files were searched, so a caller can check the folder was not empty.
@discardableResult
func assertNoCanary(in directory: String, canary: String, sourceLocation: Testing.SourceLocation = #_sourceLocation) -> Int {
    let needles = canaryEncodings(canary)
    let root = URL(fileURLWithPath: directory)
    guard let enumerator = FileManager.default.enumerator(at: root, includingPropertiesForKeys: [.isRegularFileKey]) else {
        Issue.record("cannot list \(directory)", sourceLocation: sourceLocation)
        return 0
    }
    var searched = 0
    for case let url as URL in enumerator {
        guard (try? url.resourceValues(forKeys: [.isRegularFileKey]))?.isRegularFile == true else { continue }
        guard let data = try? Data(contentsOf: url) else {
            Issue.record("cannot read \(url.path) to look for the canary", sourceLocation: sourceLocation)
            continue
        }
        searched += 1
        for (encoding, needle) in needles where data.range(of: needle) != nil {
            Issue.record("the canary is in \(url.path) (\(encoding))", sourceLocation: sourceLocation)
        }
    }
    return searched
}

/// `canary` as bytes in each form a leak could take.
private func canaryEncodings(_ canary: String) -> [(String, Data)] {
    let utf8 = Data(canary.utf8)
    var forms: [(String, Data)] = [
        ("UTF-8", utf8),
        ("UTF-16LE", Data(canary.utf16.flatMap { [UInt8($0 & 0xFF), UInt8($0 >> 8)] })),
        ("UTF-16BE", Data(canary.utf16.flatMap { [UInt8($0 >> 8), UInt8($0 & 0xFF)] })),
    ]
    // In base64 the canary's characters depend on its offset modulo 3; for each offset keep the whole 4-character
    // groups that hold canary bytes only.
    for shift in 0..<3 {
        let encoded = Array((Data(repeating: 0, count: shift) + utf8).base64EncodedString().utf8)
        let firstGroup = shift == 0 ? 0 : 1
        let wholeGroups = (shift + utf8.count) / 3
        guard wholeGroups - firstGroup >= 2 else { continue }
        forms.append(("base64", Data(encoded[(firstGroup * 4)..<(wholeGroups * 4)])))
    }
    return forms
}

/// `baton` with a pseudo-terminal as its standard input, to answer its prompts the way a person would.
///
/// Threads of its own read the output; waiting suspends (or blocks only a thread of its own), so no cooperative thread
/// is held while `baton` runs.
final class TerminalSession: @unchecked Sendable {
    /// How it ended.
    struct Result {
        var status: Int32
        var stdout: String
        var stderr: String
        /// What the terminal echoed back while the answers were typed.
        var echoed: String

        var summary: String { "exit \(status)\n--- stdout\n\(stdout)\n--- stderr\n\(stderr)\n--- echoed\n\(echoed)" }
    }

    private let process = Process()
    private let master: Int32
    private let terminal: Int32
    private let lock = NSLock()
    private var output = Data()
    private var errors = Data()
    private let readers = DispatchGroup()

    /// Starts `baton arguments` with a new pseudo-terminal as standard input and pipes for its output.
    init(_ arguments: [String], environment: [String: String], in directory: String) throws {
        master = posix_openpt(O_RDWR | O_NOCTTY)
        guard master >= 0, grantpt(master) == 0, unlockpt(master) == 0, let name = ptsname(master) else {
            throw CocoaError(.fileReadUnknown, userInfo: [NSLocalizedDescriptionKey: "no pseudo-terminal"])
        }
        terminal = open(String(cString: name), O_RDWR | O_NOCTTY)
        guard terminal >= 0 else { throw CocoaError(.fileReadUnknown) }
        process.executableURL = URL(fileURLWithPath: BatonProcess.binary)
        process.arguments = arguments
        process.environment = environment
        process.currentDirectoryURL = URL(fileURLWithPath: directory)
        process.standardInput = FileHandle(fileDescriptor: terminal, closeOnDealloc: false)
        let out = Pipe()
        let err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        for (pipe, isOutput) in [(out, true), (err, false)] {
            readers.enter()
            Thread { [self] in
                while true {
                    let chunk = pipe.fileHandleForReading.availableData
                    if chunk.isEmpty { break }
                    lock.withLock { if isOutput { output.append(chunk) } else { errors.append(chunk) } }
                }
                readers.leave()
            }.start()
        }
    }

    deinit {
        if process.isRunning { process.terminate() }
        close(master)
        close(terminal)
    }

    /// Waits until standard error contains `text`; false after a minute (a prompt that never comes) or when the
    /// process ended first.
    func waitForStandardError(_ text: String) async throws -> Bool {
        for _ in 0..<1200 {
            if lock.withLock({ String(decoding: errors, as: UTF8.self).contains(text) }) { return true }
            if !process.isRunning { return lock.withLock { String(decoding: errors, as: UTF8.self).contains(text) } }
            try await Task.sleep(for: .milliseconds(50))
        }
        return false
    }

    /// Types `text` on the terminal.
    func type(_ text: String) {
        let bytes = Array(text.utf8)
        _ = bytes.withUnsafeBytes { write(master, $0.baseAddress, $0.count) }
    }

    /// Whether the terminal echoes input now.
    var echoIsOn: Bool {
        var settings = termios()
        return tcgetattr(terminal, &settings) == 0 && settings.c_lflag & tcflag_t(ECHO) != 0
    }

    /// Waits for the process to end and collects what it printed and what the terminal echoed.
    func finish() async -> Result {
        if process.isRunning, await !waitForExit() { process.terminate() }
        await offThePool { [self] in
            process.waitUntilExit()
            readers.wait()
        }
        var echoed = Data()
        let flags = fcntl(master, F_GETFL)
        _ = fcntl(master, F_SETFL, flags | O_NONBLOCK)
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = buffer.withUnsafeMutableBytes { read(master, $0.baseAddress, $0.count) }
            if count <= 0 { break }
            echoed.append(contentsOf: buffer[0..<count])
        }
        return lock.withLock {
            Result(
                status: process.terminationStatus, stdout: String(decoding: output, as: UTF8.self),
                stderr: String(decoding: errors, as: UTF8.self), echoed: String(decoding: echoed, as: UTF8.self))
        }
    }

    /// Waits up to a minute for the process to exit by itself.
    private func waitForExit() async -> Bool {
        for _ in 0..<1200 where process.isRunning { try? await Task.sleep(for: .milliseconds(50)) }
        return !process.isRunning
    }
}

#if canImport(Glibc)
    // Glibc declares these only under _XOPEN_SOURCE, which Swift's Glibc module does not define; they are plain libc
    // functions of ints and a pointer, so declaring them by symbol name is safe.
    @_silgen_name("posix_openpt") private func posix_openpt(_ flags: Int32) -> Int32
    @_silgen_name("grantpt") private func grantpt(_ fd: Int32) -> Int32
    @_silgen_name("unlockpt") private func unlockpt(_ fd: Int32) -> Int32
    @_silgen_name("ptsname") private func ptsname(_ fd: Int32) -> UnsafeMutablePointer<CChar>?
#endif
