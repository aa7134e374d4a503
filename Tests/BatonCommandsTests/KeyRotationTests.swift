import BatonTestSupport
import Foundation
import Testing

@testable import BatonEngine

/// Key rotation (`baton keys set` over a stored name) and `baton keys passphrase` on the real binary, with failures
/// injected into the write (`BATON_TEST_KEY_FILE_FAULT`): whatever happens before the rename, the old file stays whole
/// and opens with the old passphrase.
@Suite struct KeyRotationTests {
    typealias Sandbox = KeysCommandTests.KeySandbox
    static let newPassphrase = "new passphrase 93ad"

    /// The files in the key file's folder other than the key file (a temporary file left by a kill shows here).
    static func others(_ sandbox: Sandbox) throws -> [String] {
        let folder = (sandbox.keyFile as NSString).deletingLastPathComponent
        return try FileManager.default.contentsOfDirectory(atPath: folder).filter { $0 != "keys.json.enc" }
    }

    // MARK: - Rotation

    @Test(arguments: KeyFileFault.allCases)
    func aFailedOrKilledRotationKeepsTheOldKey(_ fault: KeyFileFault) async throws {
        let sandbox = try Sandbox("rotate-\(fault.rawValue)")
        let old = KeysCommandTests.canary("old")
        try sandbox.seed(["openai": old, "other": KeysCommandTests.canary("other")])
        let before = try sandbox.stored()
        let new = KeysCommandTests.canary("new")
        sandbox.secrets.append(new)

        let result = try await sandbox.baton(
            ["keys", "set", "openai"], stdin: new + "\n", environment: [KeyFileFault.variable: fault.rawValue])
        switch fault {
        case .failMidWrite:
            #expect(result.status == 74, "\(result.summary)")
            #expect(result.stderr.contains("cannot write the key file \(sandbox.keyFile): a failure injected by"), "\(result.stderr)")
            #expect(result.stderr.contains("the previous file, if any, is unchanged"))
            #expect(try Self.others(sandbox).isEmpty, "the failed write left its temporary file")
        case .killMidWrite, .killBeforeRename:
            #expect(result.signal == SIGKILL, "\(result.summary)")
            // The kill leaves the temporary file; a write a minute or more later deletes it.
            let left = try Self.others(sandbox)
            #expect(left.count == 1 && left.allSatisfy { $0.hasPrefix(".keys.json.enc.") && $0.hasSuffix(".tmp") }, "\(left)")
            let folder = (sandbox.keyFile as NSString).deletingLastPathComponent
            for name in left {
                try FileManager.default.setAttributes(
                    [.modificationDate: Date(timeIntervalSinceNow: -3600)], ofItemAtPath: folder + "/" + name)
            }
        }
        #expect(try sandbox.stored() == before, "the old key is not readable after a \(fault.rawValue)")
        #expect(try sandbox.mode(sandbox.keyFile) == 0o600)

        // The next rotation, without a fault, replaces the key.
        let retried = try await sandbox.set("openai", new)
        #expect(retried.status == 0 && retried.stdout.hasPrefix("replaced the key 'openai'"), "\(retried.summary)")
        var after = before
        after["openai"] = new
        #expect(try sandbox.stored() == after)
        #expect(try Self.others(sandbox).isEmpty, "a stale temporary file was not deleted")
    }

    // MARK: - Passphrase

    @Test func passphraseReEncryptsEveryKeyUnderTheNewOne() async throws {
        let sandbox = try Sandbox("passphrase")
        sandbox.secrets.append(Self.newPassphrase)
        let keys = ["openai": KeysCommandTests.canary("p1"), "ANTHROPIC_API_KEY": KeysCommandTests.canary("p2")]
        // The key "openai" is bound to a host of its own, which the new file must keep (it is sealed with the key).
        try KeyFile(path: sandbox.keyFile, scrypt: ScryptParameters(n: 16, r: 8, p: 1)).write(
            entries: [
                "openai": KeyFileEntry(key: keys["openai"]!, hosts: [KeyHost(parsing: "llm.example.com:8443")!]),
                "ANTHROPIC_API_KEY": KeyFileEntry(key: keys["ANTHROPIC_API_KEY"]!),
            ],
            passphrase: KeysCommandTests.passphrase)
        sandbox.secrets += keys.values
        let result = try await sandbox.baton(["keys", "passphrase"], environment: [KeyPassphrase.newVariable: Self.newPassphrase])
        #expect(result.status == 0, "\(result.summary)")
        #expect(
            result.stdout
                == "re-encrypted \(sandbox.keyFile) (2 keys) under the new passphrase; update BATON_KEY_PASSPHRASE wherever it is set\n")
        #expect(try KeyFile(path: sandbox.keyFile).read(passphrase: Self.newPassphrase) == keys)
        #expect(throws: KeyFileError.wrongPassphrase(path: sandbox.keyFile)) { try sandbox.stored() }
        #expect(try sandbox.mode(sandbox.keyFile) == 0o600)
        #expect(try Self.others(sandbox).isEmpty)
        for key in keys.values { assertNoCanary(in: sandbox.folder, canary: key) }

        // The old passphrase no longer opens it; the new one does.
        let old = try await sandbox.baton(["keys", "list"])
        #expect(old.status == 77, "\(old.summary)")
        let new = try await sandbox.baton(["keys", "list"], passphrase: Self.newPassphrase)
        #expect(
            new.status == 0
                && new.stdout == "ANTHROPIC_API_KEY  api.anthropic.com (default)\nopenai             llm.example.com:8443\n",
            "\(new.summary)")
    }

    @Test(arguments: KeyFileFault.allCases)
    func aFailedOrKilledPassphraseChangeLeavesTheOldFileValid(_ fault: KeyFileFault) async throws {
        let sandbox = try Sandbox("passphrase-\(fault.rawValue)")
        sandbox.secrets.append(Self.newPassphrase)
        try sandbox.seed(["openai": KeysCommandTests.canary("pf")])
        let before = try Data(contentsOf: URL(fileURLWithPath: sandbox.keyFile))
        let keys = try sandbox.stored()
        let result = try await sandbox.baton(
            ["keys", "passphrase"], environment: [KeyPassphrase.newVariable: Self.newPassphrase, KeyFileFault.variable: fault.rawValue])
        if fault == .failMidWrite {
            #expect(result.status == 74, "\(result.summary)")
        } else {
            #expect(result.signal == SIGKILL, "\(result.summary)")
        }
        #expect(try Data(contentsOf: URL(fileURLWithPath: sandbox.keyFile)) == before, "the key file changed")
        #expect(try sandbox.stored() == keys)
    }

    @Test func passphraseRefusesWithoutTheOldOrTheNewPassphraseAndChangesNothing() async throws {
        let sandbox = try Sandbox("passphrase-refused")
        sandbox.secrets.append(Self.newPassphrase)
        try sandbox.seed(["openai": KeysCommandTests.canary("pr")])
        let before = try Data(contentsOf: URL(fileURLWithPath: sandbox.keyFile))

        let noNew = try await sandbox.baton(["keys", "passphrase"])
        #expect(noNew.status == 77, "\(noNew.summary)")
        #expect(
            noNew.stderr.contains("needs a new passphrase; set BATON_KEY_NEW_PASSPHRASE, or run Baton in a terminal"), "\(noNew.stderr)")

        let wrongOld = try await sandbox.baton(
            ["keys", "passphrase"], passphrase: "not the passphrase", environment: [KeyPassphrase.newVariable: Self.newPassphrase])
        #expect(wrongOld.status == 77 && wrongOld.stderr.contains("wrong passphrase"), "\(wrongOld.summary)")
        #expect(try Data(contentsOf: URL(fileURLWithPath: sandbox.keyFile)) == before)

        let empty = try Sandbox("passphrase-nofile")
        let noFile = try await empty.baton(["keys", "passphrase"], environment: [KeyPassphrase.newVariable: Self.newPassphrase])
        #expect(noFile.status == 66 && noFile.stderr.contains("no key file at \(empty.keyFile)"), "\(noFile.summary)")
        #expect(!FileManager.default.fileExists(atPath: empty.keyFile))
    }

    @Test func onATerminalTheNewPassphraseIsAskedTwiceWithoutEcho() async throws {
        let sandbox = try Sandbox("passphrase-tty")
        let key = KeysCommandTests.canary("ptty")
        try sandbox.seed(["openai": key])
        let environment = [
            "BATON_KEY_FILE": sandbox.keyFile, "HOME": sandbox.folder, "PATH": "/usr/bin:/bin",
            "BATON_KEY_PASSPHRASE": KeysCommandTests.passphrase,
        ]
        let session = try TerminalSession(["keys", "passphrase"], environment: environment, in: sandbox.folder + "/work")
        for prompt in ["New passphrase for the key file \(sandbox.keyFile): ", "Type the new passphrase again: "] {
            guard try await session.waitForStandardError(prompt) else {
                let result = await session.finish()
                Issue.record("no prompt '\(prompt)': \(result.summary)")
                return
            }
            #expect(!session.echoIsOn, "echo is on while the new passphrase is typed")
            session.type(Self.newPassphrase + "\r")
        }
        let result = await session.finish()
        #expect(result.status == 0 && result.stdout.hasPrefix("re-encrypted \(sandbox.keyFile) (1 key)"), "\(result.summary)")
        #expect(!result.echoed.contains(Self.newPassphrase), "the terminal echoed the passphrase: \(result.summary)")
        #expect(try KeyFile(path: sandbox.keyFile).read(passphrase: Self.newPassphrase) == ["openai": key])
    }
}
