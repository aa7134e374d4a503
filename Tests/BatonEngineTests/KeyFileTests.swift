import BatonSpec
import Foundation
import Testing

@testable import BatonEngine

/// The encrypted key file: round trips, fresh randomness, every kind of damage is an error (never a crash, never a
/// secret in a message), owner-only permissions, and the lookup order of ``KeyFileSource``.
@Suite struct KeyFileTests {
    /// scrypt parameters that make a derivation take microseconds; files record theirs, so reading is the same code.
    static let fast = ScryptParameters(n: 16, r: 8, p: 1)
    static let passphrase = "correct horse battery staple"
    static let keys = ["openai": "sk-canary-openai-5f1d", "ANTHROPIC_API_KEY": "sk-ant-canary-9c2e"]

    /// A temporary folder with a key file path two missing folders below it.
    final class Sandbox {
        let directory: String
        var path: String { directory + "/config/baton/keys.json.enc" }

        init() throws {
            directory = NSTemporaryDirectory() + "baton-keyfile-\(UUID().uuidString)"
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        }

        deinit { try? FileManager.default.removeItem(atPath: directory) }

        func file(_ cipher: KeyFileFormat.Cipher = .aesGCM256, at path: String? = nil) -> KeyFile {
            KeyFile(path: path ?? self.path, scrypt: KeyFileTests.fast, cipher: cipher)
        }

        func envelope() throws -> KeyFileFormat.Envelope {
            try JSONDecoder().decode(KeyFileFormat.Envelope.self, from: Data(contentsOf: URL(fileURLWithPath: path)))
        }
    }

    /// A runtime as a profile would declare it.
    static func runtime(_ name: String, apiKeyEnv: String?) throws -> RuntimeSpec {
        var object: [String: Any] = ["name": name, "kind": "openai", "url": "https://api.example.com", "options": [:]]
        object["api_key_env"] = apiKeyEnv
        return try JSONDecoder().decode(RuntimeSpec.self, from: JSONSerialization.data(withJSONObject: object))
    }

    /// The permission bits of `path`.
    static func mode(_ path: String) throws -> Int {
        (try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int) ?? -1
    }

    /// The error `body` throws (nil when it throws none), checking that its description names the file and holds
    /// no secret.
    static func keyFileError<T>(
        path: String, sourceLocation: Testing.SourceLocation = #_sourceLocation, _ body: () throws(KeyFileError) -> T
    ) -> KeyFileError? {
        do {
            _ = try body()
            return nil
        } catch {
            #expect(error.description.contains(path), "\(error)", sourceLocation: sourceLocation)
            for secret in [passphrase] + keys.values {
                #expect(!error.description.contains(secret), "a secret is in '\(error)'", sourceLocation: sourceLocation)
            }
            return error
        }
    }

    // MARK: - Round trip and randomness

    @Test(arguments: KeyFileFormat.Cipher.allCases)
    func aWrittenFileReadsBackTheSameKeys(_ cipher: KeyFileFormat.Cipher) throws {
        // Given
        let sandbox = try Sandbox()
        let file = sandbox.file(cipher)
        // When
        try file.write(Self.keys, passphrase: Self.passphrase)
        // Then
        #expect(try file.read(passphrase: Self.passphrase) == Self.keys)
        let envelope = try sandbox.envelope()
        #expect(envelope.version == KeyFileFormat.version && envelope.cipher == cipher.rawValue && envelope.kdf.name == "scrypt")
        #expect(envelope.kdf.n == 16 && envelope.kdf.r == 8 && envelope.kdf.p == 1)
        let raw = try String(contentsOfFile: sandbox.path, encoding: .utf8)
        for secret in [Self.passphrase] + Self.keys.values + Array(Self.keys.keys) {
            #expect(!raw.contains(secret), "the file shows '\(secret)' in clear")
        }
    }

    @Test func anEmptyMapAndUnicodeSurviveTheRoundTrip() throws {
        let sandbox = try Sandbox()
        let file = sandbox.file()
        try file.write([:], passphrase: "pässwörd")
        #expect(try file.read(passphrase: "pässwörd") == [:])
        // The passphrase is normalized: the decomposed spelling of the same text opens the file.
        let decomposed = "pa\u{0308}sswo\u{0308}rd"
        #expect(Array(decomposed.utf8) != Array("pässwörd".utf8))
        #expect(try file.read(passphrase: decomposed) == [:])
    }

    @Test func everyWriteUsesAFreshSaltAndNonce() throws {
        let sandbox = try Sandbox()
        let file = sandbox.file()
        var salts = Set<String>()
        var nonces = Set<Data>()
        var sealed = Set<String>()
        for _ in 0..<5 {
            try file.write(Self.keys, passphrase: Self.passphrase)
            let envelope = try sandbox.envelope()
            salts.insert(envelope.kdf.salt)
            sealed.insert(envelope.sealed)
            nonces.insert(try #require(Data(base64Encoded: envelope.sealed)).prefix(12))
        }
        #expect(salts.count == 5 && nonces.count == 5 && sealed.count == 5)
    }

    @Test func theFileRecordsItsParametersSoAnyNDecodes() throws {
        let sandbox = try Sandbox()
        try KeyFile(path: sandbox.path, scrypt: ScryptParameters(n: 64, r: 4, p: 2)).write(Self.keys, passphrase: Self.passphrase)
        // A reader configured with the standard parameters uses the file's.
        let sealed = try #require(try KeyFile(path: sandbox.path).load())
        #expect(sealed.scrypt == ScryptParameters(n: 64, r: 4, p: 2))
        #expect(try sealed.unlock(passphrase: Self.passphrase) == Self.keys)
        #expect(ScryptParameters.standard.isAcceptable && ScryptParameters.standard.n >= 1 << 15)
    }

    // MARK: - Damage

    @Test func aWrongPassphraseIsAnAuthenticationFailure() throws {
        let sandbox = try Sandbox()
        let file = sandbox.file()
        try file.write(Self.keys, passphrase: Self.passphrase)
        let error = Self.keyFileError(path: sandbox.path) { () throws(KeyFileError) in
            try file.read(passphrase: Self.passphrase + "!")
        }
        #expect(error == .wrongPassphrase(path: sandbox.path))
        #expect(error?.description.contains("wrong passphrase, or the file was changed") == true)
    }

    @Test func everyChangedByteIsAnErrorNotACrash() throws {
        let sandbox = try Sandbox()
        try sandbox.file().write(Self.keys, passphrase: Self.passphrase)
        let original = try Data(contentsOf: URL(fileURLWithPath: sandbox.path))
        for index in original.indices {
            for flip: UInt8 in [0x01, 0x80, 0xFF] {
                var damaged = original
                damaged[index] ^= flip
                let error = Self.keyFileError(path: sandbox.path) { () throws(KeyFileError) in
                    try SealedKeyFile(path: sandbox.path, parsed: KeyFileFormat.parse(damaged, path: sandbox.path))
                        .unlock(passphrase: Self.passphrase)
                }
                #expect(error != nil, "flipping \(flip) at byte \(index) went unnoticed")
            }
        }
    }

    @Test func everyTruncationIsAnError() throws {
        let sandbox = try Sandbox()
        try sandbox.file().write(Self.keys, passphrase: Self.passphrase)
        let original = try Data(contentsOf: URL(fileURLWithPath: sandbox.path))
        #expect(original.last == UInt8(ascii: "\n"))
        for length in 0..<(original.count - 1) {
            let error = Self.keyFileError(path: sandbox.path) { () throws(KeyFileError) in
                try KeyFileFormat.parse(original.prefix(length), path: sandbox.path)
            }
            guard case .corrupted = error else {
                Issue.record("a file cut to \(length) bytes gave \(String(describing: error))")
                continue
            }
        }
        // Cut on disk: the same through `load()`.
        try original.prefix(original.count / 2).write(to: URL(fileURLWithPath: sandbox.path))
        guard case .corrupted = Self.keyFileError(path: sandbox.path, { () throws(KeyFileError) in try sandbox.file().load() }) else {
            Issue.record("a truncated file on disk was not reported as damaged")
            return
        }
    }

    /// Header changes that keep the file well formed: each must fail authentication, not open with other keys.
    static let headerTampers: [(String, @Sendable (inout KeyFileFormat.Envelope) -> Void)] = [
        ("n", { $0.kdf.n = 32 }),
        ("r", { $0.kdf.r = 4 }),
        ("p", { $0.kdf.p = 2 }),
        ("salt", { $0.kdf.salt = Data(repeating: 7, count: 16).base64EncodedString() }),
        ("cipher", { $0.cipher = $0.cipher == "ChaChaPoly" ? "AES-GCM-256" : "ChaChaPoly" }),
    ]

    @Test(arguments: headerTampers.indices)
    func aTamperedHeaderFailsAuthentication(_ index: Int) throws {
        let (field, tamper) = Self.headerTampers[index]
        let sandbox = try Sandbox()
        try sandbox.file().write(Self.keys, passphrase: Self.passphrase)
        var envelope = try sandbox.envelope()
        tamper(&envelope)
        let data = try JSONEncoder().encode(envelope)
        let error = Self.keyFileError(path: sandbox.path) { () throws(KeyFileError) in
            try SealedKeyFile(path: sandbox.path, parsed: KeyFileFormat.parse(data, path: sandbox.path))
                .unlock(passphrase: Self.passphrase)
        }
        #expect(error == .wrongPassphrase(path: sandbox.path), "changing \(field)")
    }

    @Test func theHeaderIsTheAssociatedData() {
        let base = (version: 1, salt: "c2FsdHNhbHRzYWx0c2FsdA==", scrypt: Self.fast, cipher: KeyFileFormat.Cipher.aesGCM256)
        let reference = KeyFileFormat.associatedData(version: base.version, saltText: base.salt, scrypt: base.scrypt, cipher: base.cipher)
        let variants = [
            KeyFileFormat.associatedData(version: 2, saltText: base.salt, scrypt: base.scrypt, cipher: base.cipher),
            KeyFileFormat.associatedData(version: 1, saltText: "b3RoZXJzYWx0b3RoZXJzYQ==", scrypt: base.scrypt, cipher: base.cipher),
            KeyFileFormat.associatedData(version: 1, saltText: base.salt, scrypt: .init(n: 32, r: 8, p: 1), cipher: base.cipher),
            KeyFileFormat.associatedData(version: 1, saltText: base.salt, scrypt: .init(n: 16, r: 9, p: 1), cipher: base.cipher),
            KeyFileFormat.associatedData(version: 1, saltText: base.salt, scrypt: .init(n: 16, r: 8, p: 2), cipher: base.cipher),
            KeyFileFormat.associatedData(version: 1, saltText: base.salt, scrypt: base.scrypt, cipher: .chaChaPoly),
        ]
        #expect(Set(variants + [reference]).count == variants.count + 1)
    }

    @Test func anotherVersionIsNamedAndNeedsNoPassphrase() throws {
        let sandbox = try Sandbox()
        let data = Data(#"{"version": 3, "whatever": "a future layout"}"#.utf8)
        let error = Self.keyFileError(path: sandbox.path) { () throws(KeyFileError) in try KeyFileFormat.parse(data, path: sandbox.path) }
        #expect(error == .unsupportedVersion(path: sandbox.path, version: 3))
        #expect(error?.description.contains("format version 3") == true)
    }

    @Test(arguments: [
        (1 << 30, 8, 1),  // 128 GiB
        (1 << 20, 16, 1),  // 2 GiB
        (1000, 8, 1),  // not a power of two
        (16, 0, 1),
        (16, 8, 0),
        (1, 8, 1),
    ])
    func hostileParametersAreRefusedBeforeAnyDerivation(_ n: Int, _ r: Int, _ p: Int) throws {
        let sandbox = try Sandbox()
        try sandbox.file().write(Self.keys, passphrase: Self.passphrase)
        var envelope = try sandbox.envelope()
        (envelope.kdf.n, envelope.kdf.r, envelope.kdf.p) = (n, r, p)
        let data = try JSONEncoder().encode(envelope)
        let error = Self.keyFileError(path: sandbox.path) { () throws(KeyFileError) in try KeyFileFormat.parse(data, path: sandbox.path) }
        guard case .corrupted(_, let reason) = error else {
            Issue.record("n=\(n) r=\(r) p=\(p) gave \(String(describing: error))")
            return
        }
        #expect(reason.contains("scrypt parameters are out of range"))
    }

    @Test func somethingElseInThePlaceOfTheFileIsAnError() throws {
        let sandbox = try Sandbox()
        try FileManager.default.createDirectory(atPath: sandbox.path, withIntermediateDirectories: true)
        #expect(Self.keyFileError(path: sandbox.path) { () throws(KeyFileError) in try sandbox.file().load() } != nil)
        try FileManager.default.removeItem(atPath: sandbox.path)
        #expect(mkfifo(sandbox.path, 0o600) == 0)
        // A FIFO must neither hang the reader nor be taken for a key file.
        #expect(Self.keyFileError(path: sandbox.path) { () throws(KeyFileError) in try sandbox.file().load() } != nil)
    }

    // MARK: - Permissions

    @Test func aNewFileIsOwnerOnlyAndSoAreTheFoldersCreatedForIt() throws {
        let sandbox = try Sandbox()
        let previous = umask(0)
        defer { umask(previous) }
        try sandbox.file().write(Self.keys, passphrase: Self.passphrase)
        #expect(try Self.mode(sandbox.path) == 0o600)
        #expect(try Self.mode(sandbox.directory + "/config/baton") == 0o700)
        #expect(try Self.mode(sandbox.directory + "/config") == 0o700)
    }

    @Test func aRewriteReplacesTheFileAtomicallyAndKeepsMode0600() throws {
        let sandbox = try Sandbox()
        let file = sandbox.file()
        try file.write(Self.keys, passphrase: Self.passphrase)
        let before = try #require(FileManager.default.attributesOfItem(atPath: sandbox.path)[.systemFileNumber] as? Int)
        try file.write(["openai": "sk-canary-other-77aa"], passphrase: Self.passphrase)
        let after = try #require(FileManager.default.attributesOfItem(atPath: sandbox.path)[.systemFileNumber] as? Int)
        #expect(before != after, "the file was rewritten in place instead of replaced")
        #expect(try Self.mode(sandbox.path) == 0o600)
        #expect(try file.read(passphrase: Self.passphrase) == ["openai": "sk-canary-other-77aa"])
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: sandbox.directory + "/config/baton")
        #expect(leftovers == ["keys.json.enc"], "temporary files were left: \(leftovers)")
    }

    @Test(arguments: [0o644, 0o640, 0o604, 0o660, 0o606, 0o700, 0o610])
    func aFileOthersMayUseIsRefusedLikeSSHDoes(_ mode: Int) throws {
        let sandbox = try Sandbox()
        let file = sandbox.file()
        try file.write(Self.keys, passphrase: Self.passphrase)
        #expect(chmod(sandbox.path, mode_t(mode)) == 0)
        let error = Self.keyFileError(path: sandbox.path) { () throws(KeyFileError) in try file.load() }
        if mode & 0o077 == 0 {
            #expect(error == nil, "mode \(String(mode, radix: 8)) is owner-only and must be accepted")
        } else {
            #expect(error == .permissionsTooOpen(path: sandbox.path, mode: mode))
            #expect(error?.description.contains("chmod 600 \(sandbox.path)") == true, "\(String(describing: error))")
        }
    }

    @Test func aPathWithSpacesIsQuotedInTheChmodAdvice() {
        let error = KeyFileError.permissionsTooOpen(path: "/tmp/my keys/it's.enc", mode: 0o644)
        #expect(error.description.contains(#"run 'chmod 600 '/tmp/my keys/it'\''s.enc''"#), "\(error)")
        #expect(error.description.contains("mode 0644"))
    }

    @Test func aMissingFileIsNoFileNotAnError() throws {
        let sandbox = try Sandbox()
        #expect(try sandbox.file().load() == nil)
        #expect(try sandbox.file().read(passphrase: "anything") == [:])
    }

    @Test func aSymbolicLinkIsKeptAndItsTargetReplaced() throws {
        let sandbox = try Sandbox()
        let target = sandbox.directory + "/elsewhere/keys.enc"
        let link = sandbox.directory + "/link.enc"
        try sandbox.file(at: target).write(Self.keys, passphrase: Self.passphrase)
        try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: target)
        try sandbox.file(at: link).write(["openai": "sk-canary-linked-31f0"], passphrase: Self.passphrase)
        #expect(try FileManager.default.destinationOfSymbolicLink(atPath: link) == target)
        #expect(try sandbox.file(at: target).read(passphrase: Self.passphrase) == ["openai": "sk-canary-linked-31f0"])
        #expect(try Self.mode(target) == 0o600)
    }

    @Test(.enabled(if: geteuid() != 0, "root may write into any folder"))
    func anUnwritableFolderLeavesTheOldFileAndSaysSo() throws {
        let sandbox = try Sandbox()
        let file = sandbox.file()
        try file.write(Self.keys, passphrase: Self.passphrase)
        let folder = sandbox.directory + "/config/baton"
        #expect(chmod(folder, 0o500) == 0)
        defer { chmod(folder, 0o700) }
        let error = Self.keyFileError(path: sandbox.path) { () throws(KeyFileError) in try file.write([:], passphrase: Self.passphrase) }
        guard case .unwritable = error else {
            Issue.record("writing into a read-only folder gave \(String(describing: error))")
            return
        }
        #expect(chmod(folder, 0o700) == 0)
        #expect(try file.read(passphrase: Self.passphrase) == Self.keys)
    }

    @Test func aWriteThatCannotHappenSaysSoAndLeavesNoTemporaryFile() throws {
        let sandbox = try Sandbox()
        // A file where the folder should be.
        try Data("not a folder".utf8).write(to: URL(fileURLWithPath: sandbox.directory + "/config"))
        var error = Self.keyFileError(path: sandbox.path) { () throws(KeyFileError) in
            try sandbox.file().write(Self.keys, passphrase: Self.passphrase)
        }
        #expect(error == .unwritable(path: sandbox.path, reason: "\(sandbox.directory)/config is not a folder"))
        // A folder where the file should be: the rename fails, and the temporary file is removed.
        let folder = sandbox.directory + "/other"
        try FileManager.default.createDirectory(atPath: folder + "/keys.enc", withIntermediateDirectories: true)
        error = Self.keyFileError(path: folder + "/keys.enc") { () throws(KeyFileError) in
            try sandbox.file(at: folder + "/keys.enc").write(Self.keys, passphrase: Self.passphrase)
        }
        guard case .unwritable = error else {
            Issue.record("renaming over a folder gave \(String(describing: error))")
            return
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: folder) == ["keys.enc"])
    }

    // MARK: - Location and passphrase

    @Test func anInjectedFailureMidWriteLeavesTheOldFileAndNoTemporaryFile() throws {
        let sandbox = try Sandbox()
        try sandbox.file().write(Self.keys, passphrase: Self.passphrase)
        let before = try Data(contentsOf: URL(fileURLWithPath: sandbox.path))
        var failing = sandbox.file()
        failing.fault = .failMidWrite
        #expect(throws: KeyFileError.unwritable(path: sandbox.path, reason: "a failure injected by BATON_TEST_KEY_FILE_FAULT")) {
            try failing.write(["openai": "sk-canary-rotated-77aa"], passphrase: "another passphrase")
        }
        #expect(try Data(contentsOf: URL(fileURLWithPath: sandbox.path)) == before)
        #expect(try sandbox.file().read(passphrase: Self.passphrase) == Self.keys)
        let folder = (sandbox.path as NSString).deletingLastPathComponent
        #expect(try FileManager.default.contentsOfDirectory(atPath: folder) == ["keys.json.enc"])
    }

    @Test func theFaultComesFromTheEnvironmentOnlyWhenItNamesOne() {
        let environment = ["BATON_KEY_FILE": "/tmp/k.enc"]
        #expect(KeyFile.current(environment: environment).fault == nil)
        #expect(KeyFile.current(environment: environment.merging([KeyFileFault.variable: "kill-mid-write"]) { $1 }).fault == .killMidWrite)
        #expect(KeyFile.current(environment: environment.merging([KeyFileFault.variable: "typo"]) { $1 }).fault == nil)
    }

    @Test func theNewPassphraseComesFromItsOwnVariable() throws {
        #expect(try KeyPassphrase.obtainNew(for: "/k", environment: [KeyPassphrase.newVariable: "next one"]) == "next one")
        if !SecretPrompt.isAvailable {
            // The current passphrase's variable is not the new one.
            #expect(try KeyPassphrase.obtainNew(for: "/k", environment: [KeyPassphrase.variable: "current"]) == nil)
        }
    }

    @Test func theDefaultPathFollowsTheEnvironment() {
        #expect(KeyFile.defaultPath(environment: ["BATON_KEY_FILE": "/k/f.enc", "XDG_CONFIG_HOME": "/x"]) == "/k/f.enc")
        #expect(KeyFile.defaultPath(environment: ["XDG_CONFIG_HOME": "/x", "HOME": "/h"]) == "/x/baton/keys.json.enc")
        #expect(KeyFile.defaultPath(environment: ["XDG_CONFIG_HOME": "", "HOME": "/h"]) == "/h/.config/baton/keys.json.enc")
        #expect(KeyFile.defaultPath(environment: ["BATON_KEY_FILE": "", "HOME": "/h"]) == "/h/.config/baton/keys.json.enc")
    }

    @Test func thePassphraseComesFromTheEnvironmentWithoutATerminal() throws {
        #expect(try KeyPassphrase.obtain(for: "/k", environment: ["BATON_KEY_PASSPHRASE": "from env"], creating: true) == "from env")
    }

    @Test(.enabled(if: !SecretPrompt.isAvailable, "standard input is a terminal here"))
    func withoutAPassphraseOrATerminalTheErrorSaysWhatToSet() {
        let error = Self.keyFileError(path: "/k/keys.enc") { () throws(KeyFileError) in
            try KeyPassphrase.obtain(for: "/k/keys.enc", environment: ["BATON_KEY_PASSPHRASE": ""], creating: false)
        }
        #expect(error == .noPassphrase(path: "/k/keys.enc"))
        #expect(error?.description.contains("set BATON_KEY_PASSPHRASE") == true)
    }

    @Test func thePromptsLineEditorErasesKillsAndCancels() {
        func type(_ bytes: [UInt8]) -> (String, SecretLineEditor.Step) {
            var editor = SecretLineEditor()
            for byte in bytes {
                let step = editor.feed(byte)
                if step != .reading { return (editor.text, step) }
            }
            return (editor.text, .reading)
        }
        #expect(type(Array("secret\n".utf8)) == ("secret", .finished))
        #expect(type(Array("secret\r".utf8)) == ("secret", .finished))
        #expect(type(Array("secrex".utf8) + [0x7F] + Array("t\n".utf8)) == ("secret", .finished))
        #expect(type(Array("pä".utf8) + [0x08] + Array("a\n".utf8)) == ("pa", .finished))
        #expect(type(Array("wrong".utf8) + [0x15] + Array("right\n".utf8)) == ("right", .finished))
        #expect(type(Array("abc".utf8) + [0x03]).1 == .cancelled)
        #expect(type([0x04]).1 == .cancelled)
        #expect(type(Array("abc".utf8) + [0x04]) == ("abc", .finished))
        #expect(type([0x1B] + Array("ok\n".utf8)) == ("ok", .finished))
    }

    // MARK: - Lookup order

    /// Counts how often the passphrase is asked for.
    final class Asked: @unchecked Sendable {
        private let lock = NSLock()
        private var value = 0
        var count: Int { lock.withLock { value } }
        func increment() { lock.withLock { value += 1 } }
    }

    static func source(
        _ sandbox: Sandbox, environment: [String: String], passphrase: String = passphrase, asked: Asked
    ) -> KeyFileSource {
        KeyFileSource(environment: environment, keyFile: sandbox.file()) { _ throws(KeyFileError) in
            asked.increment()
            return passphrase
        }
    }

    @Test func theEnvironmentComesFirstAndTheFileIsThenNotOpened() throws {
        let sandbox = try Sandbox()
        try sandbox.file().write(["openai": "sk-from-file"], passphrase: Self.passphrase)
        let asked = Asked()
        let source = Self.source(sandbox, environment: ["OPENAI_API_KEY": "sk-from-env"], asked: asked)
        let found = try source.apiKey(for: Self.runtime("openai", apiKeyEnv: "OPENAI_API_KEY"))
        #expect(found?.value == "sk-from-env")
        #expect(found?.origin == .environment(variable: "OPENAI_API_KEY"))
        #expect(asked.count == 0)
    }

    @Test func theFileIsSearchedByRuntimeNameThenByVariableNameAndUnlockedOnce() throws {
        let sandbox = try Sandbox()
        try sandbox.file().write(
            ["openai": "sk-by-name", "OPENAI_API_KEY": "sk-by-variable", "GROQ_API_KEY": "gsk-by-variable"],
            passphrase: Self.passphrase)
        let asked = Asked()
        let source = Self.source(sandbox, environment: ["OPENAI_API_KEY": ""], asked: asked)
        #expect(asked.count == 0, "the file was opened before a key was needed")
        let byName = try source.apiKey(for: Self.runtime("openai", apiKeyEnv: "OPENAI_API_KEY"))
        #expect(byName?.value == "sk-by-name")
        #expect(byName?.origin == .keyFile(entry: "openai", hosts: nil))
        let byVariable = try source.apiKey(for: Self.runtime("groq", apiKeyEnv: "GROQ_API_KEY"))
        #expect(byVariable?.value == "gsk-by-variable")
        #expect(byVariable?.origin == .keyFile(entry: "GROQ_API_KEY", hosts: nil))
        #expect(try source.apiKey(for: Self.runtime("mistral", apiKeyEnv: "MISTRAL_API_KEY")) == nil)
        #expect(try source.apiKey(for: Self.runtime("local", apiKeyEnv: nil)) == nil)
        #expect(asked.count == 1)
    }

    @Test func aMissingFileNeedsNoPassphrase() throws {
        let sandbox = try Sandbox()
        let asked = Asked()
        let source = Self.source(sandbox, environment: [:], asked: asked)
        #expect(try source.apiKey(for: Self.runtime("openai", apiKeyEnv: "OPENAI_API_KEY")) == nil)
        #expect(asked.count == 0)
    }

    @Test func aFailedUnlockIsReportedAgainWithoutAskingAgain() throws {
        let sandbox = try Sandbox()
        try sandbox.file().write(Self.keys, passphrase: Self.passphrase)
        let asked = Asked()
        let source = Self.source(sandbox, environment: [:], passphrase: "wrong", asked: asked)
        let runtime = try Self.runtime("openai", apiKeyEnv: "OPENAI_API_KEY")
        for _ in 0..<3 {
            #expect(throws: KeyFileError.wrongPassphrase(path: sandbox.path)) { try source.apiKey(for: runtime) }
        }
        #expect(asked.count == 1)
    }

    @Test func theConvenienceSourceReadsTheFileAndPassphraseTheEnvironmentNames() throws {
        let sandbox = try Sandbox()
        try sandbox.file().write(["openai": "sk-via-env-config"], passphrase: Self.passphrase)
        let source = KeyFileSource(environment: ["BATON_KEY_FILE": sandbox.path, "BATON_KEY_PASSPHRASE": Self.passphrase])
        #expect(try source.apiKey(for: Self.runtime("openai", apiKeyEnv: "OPENAI_API_KEY"))?.value == "sk-via-env-config")
    }
}
