import ArgumentParser
import BatonEngine
import BatonSpec
import Foundation

extension BatonCommand {
    /// `baton keys`: the API keys of cloud runtimes, in the encrypted key file.
    struct Keys: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Store the API keys of cloud runtimes in an encrypted file.",
            discussion: """
                The file is $BATON_KEY_FILE, else $XDG_CONFIG_HOME/baton/keys.json.enc \
                (~/.config/baton/keys.json.enc), mode 0600, encrypted with AES-GCM under a key scrypt derives from \
                a passphrase: $BATON_KEY_PASSPHRASE, else typed on the terminal. A runtime's key comes from the \
                variable its api_key_env names, else from the entry named after the runtime, else from the entry \
                named like that variable. Exits \(BatonExitCode.keyFileDenied) for a wrong or missing passphrase or a file others \
                may read, \(BatonExitCode.keyFileUnusable) for a damaged file. 'baton keys test NAME' asks the provider whether it \
                accepts the key: \(BatonExitCode.ok) valid, \(BatonExitCode.keyFileDenied) rejected (or no key), \
                \(BatonExitCode.runtimeUnavailable) unreachable.
                """,
            subcommands: [SetKey.self, ListKeys.self, RemoveKey.self, TestKey.self, ChangePassphrase.self])

        /// Runs `body` with the key file and the environment it was found from; a key file error is printed
        /// and becomes its exit status.
        static func withKeyFile(_ body: (_ file: KeyFile, _ environment: [String: String]) throws -> Void) throws {
            do {
                let environment = ProcessInfo.processInfo.environment
                try body(KeyFile.current(environment: environment), environment)
            } catch let error as KeyFileError {
                Console.error("error: \(error)")
                throw ExitCode(BatonExitCode.code(for: error))
            }
        }

        /// Prints `message` as an error and returns the exit status `code` to throw.
        static func failure(_ message: String, _ code: Int32) -> ExitCode {
            Console.error("error: \(message)")
            return ExitCode(code)
        }

        /// Checks a key's NAME: a runtime or variable name, never something that looks like the key itself. The
        /// messages do not repeat the name, in case it is a key.
        static func validate(name: String) throws {
            if name.count > 64 || name.hasPrefix("sk-") || name.hasPrefix("sk_") {
                throw ValidationError(
                    "NAME looks like an API key, not a name; give the runtime's name (for example 'openai') and the key "
                        + "on standard input, and remove the key from your shell history")
            }
            let allowed = CharacterSet(charactersIn: "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-")
            guard let first = name.unicodeScalars.first, first != "-", first != ".",
                name.unicodeScalars.allSatisfy(allowed.contains)
            else {
                throw ValidationError(
                    "NAME must be letters, digits, '_', '-' and '.', such as a runtime's name ('openai') or the "
                        + "variable its api_key_env names ('OPENAI_API_KEY')")
            }
        }
    }
}

extension BatonCommand.Keys {
    /// `baton keys set NAME`: stores a key read from standard input.
    struct SetKey: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "set",
            abstract: "Store the key NAME, read from standard input (or typed without echo on a terminal).",
            discussion: """
                The key is never taken from the command line, so it stays out of your shell history: \
                'baton keys set openai' asks for it on a terminal, 'pbpaste | baton keys set openai' reads one line. \
                Creating the file on a terminal asks for a new passphrase twice.
                """)

        @Argument(help: "The key's name: the runtime's name ('openai') or its api_key_env variable ('OPENAI_API_KEY').")
        var name: String

        func validate() throws {
            try BatonCommand.Keys.validate(name: name)
        }

        func run() throws {
            try BatonCommand.Keys.withKeyFile { file, environment in
                let sealed = try file.load()
                let passphrase = try KeyPassphrase.obtain(for: file.path, environment: environment, creating: sealed == nil)
                var keys = try sealed?.unlock(passphrase: passphrase) ?? [:]
                let key = try readKey(path: file.path)
                let replaced = keys[name] != nil
                keys[name] = key
                try file.write(keys, passphrase: passphrase)
                Console.out("\(replaced ? "replaced" : "stored") the key '\(name)' in \(file.path)")
            }
        }

        /// The key: typed without echo on a terminal, else the one line on standard input.
        private func readKey(path: String) throws -> String {
            let text: String
            if SecretPrompt.isAvailable {
                text = try SecretPrompt.read("API key '\(name)' (not shown): ", for: path)
            } else {
                let data = FileHandle.standardInput.readDataToEndOfFile()
                guard data.count <= 16 * 1024 else {
                    throw BatonCommand.Keys.failure(
                        "standard input is longer than 16 KiB; give only the key, on one line", BatonExitCode.usage)
                }
                text = String(decoding: data, as: UTF8.self)
            }
            let lines = text.split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }
                .filter { !$0.isEmpty }
            guard let key = lines.first else {
                throw BatonCommand.Keys.failure(
                    "no key on standard input; pipe it in (for example 'pbpaste | baton keys set \(name)') or run the "
                        + "command in a terminal to type it", BatonExitCode.usage)
            }
            guard lines.count == 1 else {
                throw BatonCommand.Keys.failure(
                    "standard input has \(lines.count) lines; give only the key, on one line; nothing was stored",
                    BatonExitCode.usage)
            }
            guard !key.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) else {
                throw BatonCommand.Keys.failure(
                    "the key contains control characters; give only the key; nothing was stored", BatonExitCode.usage)
            }
            return key
        }
    }

    /// `baton keys list`: the names of the stored keys.
    struct ListKeys: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "list", abstract: "List the names of the stored keys (never the keys).")

        @Flag(help: "Print JSON: {file, names}.")
        var json = false

        /// What `--json` prints.
        private struct Listing: Encodable {
            var file: String
            var names: [String]
        }

        func run() throws {
            try BatonCommand.Keys.withKeyFile { file, environment in
                var names: [String] = []
                if let sealed = try file.load() {
                    let passphrase = try KeyPassphrase.obtain(for: file.path, environment: environment, creating: false)
                    names = try sealed.unlock(passphrase: passphrase).keys.sorted()
                } else if !json {
                    Console.error("no key file at \(file.path); add a key with 'baton keys set NAME'")
                    return
                }
                if json {
                    try Console.json(Listing(file: file.path, names: names))
                } else if names.isEmpty {
                    Console.error("the key file \(file.path) holds no keys; add one with 'baton keys set NAME'")
                } else {
                    for name in names { Console.out(name) }
                }
            }
        }
    }

    /// `baton keys remove NAME`: deletes a stored key.
    struct RemoveKey: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "remove", abstract: "Remove the key NAME.")

        @Argument(help: "The key's name, as 'baton keys list' shows it.")
        var name: String

        func validate() throws {
            try BatonCommand.Keys.validate(name: name)
        }

        func run() throws {
            try BatonCommand.Keys.withKeyFile { file, environment in
                guard let sealed = try file.load() else {
                    throw BatonCommand.Keys.failure(
                        "no key file at \(file.path), so no key '\(name)'; set BATON_KEY_FILE if it is elsewhere",
                        BatonExitCode.notFound)
                }
                let passphrase = try KeyPassphrase.obtain(for: file.path, environment: environment, creating: false)
                var keys = try sealed.unlock(passphrase: passphrase)
                guard keys.removeValue(forKey: name) != nil else {
                    throw BatonCommand.Keys.failure(
                        "no key '\(name)' in \(file.path); 'baton keys list' shows the names", BatonExitCode.notFound)
                }
                try file.write(keys, passphrase: passphrase)
                Console.out("removed the key '\(name)' from \(file.path)")
            }
        }
    }
}

extension BatonCommand.Keys {
    /// `baton keys test NAME`: asks the provider of a cloud runtime whether it accepts the key Baton would send.
    struct TestKey: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "test",
            abstract: "Check the key of the cloud runtime NAME with one cheap authenticated request (GET /v1/models).",
            discussion: """
                The key is found as a run finds it (the variable api_key_env names, else the key file). Prints valid, \
                rejected (with the API's message, the key left out) or unreachable. Exits \(BatonExitCode.ok) when valid, \
                \(BatonExitCode.keyFileDenied) when the key is rejected (401 or 403) or there is none, \
                \(BatonExitCode.runtimeUnavailable) when the provider cannot be reached or answers with another error.
                """)

        @Argument(help: "A runtime of the profile, of kind openai or anthropic ('openai', 'claude').")
        var name: String

        @OptionGroup var profileOption: ProfileOption

        @Flag(help: "Print JSON: {runtime, url, verdict, status, key_source, detail}.")
        var json = false

        func run() async throws {
            let workspace = Workspace.current()
            let requested = profileOption.resolvedName(environment: workspace.environment) ?? BuiltInProfiles.defaultName
            let loaded = try workspace.loadProfile(requested)
            guard let profile = loaded.profile, !loaded.diagnostics.hasErrors else {
                Console.error(DiagnosticFormatter.text(loaded.diagnostics, sources: loaded.sources, color: false), terminator: "")
                throw ExitCode.invalidPipeline
            }
            guard let runtime = profile.spec.runtime(named: name) else {
                let names = profile.spec.runtimes.map(\.name)
                let hint =
                    Suggestion.closest(to: name, in: names).map { "; did you mean '\($0)'?" }
                    ?? "; its runtimes: \(names.joined(separator: ", "))"
                throw BatonCommand.Keys.failure(
                    "the profile '\(profile.spec.name)' has no runtime '\(name)'\(hint)", BatonExitCode.notFound)
            }
            let environment = workspace.environment
            let outcome: KeyCheck.Outcome
            do {
                outcome = try await KeyCheck.check(runtime, keys: KeyFileSource(environment: environment), environment: environment)
            } catch let error as KeyFileError {
                throw BatonCommand.Keys.failure("\(error)", BatonExitCode.code(for: error))
            } catch let problem as KeyCheck.Problem {
                switch problem {
                case .noKey: throw BatonCommand.Keys.failure("\(problem)", BatonExitCode.keyFileDenied)
                case .notACloudRuntime, .noURL: throw BatonCommand.Keys.failure("\(problem)", BatonExitCode.usage)
                }
            }
            if json {
                try Console.json(outcome)
            } else {
                Console.out("\(outcome.verdict.rawValue): \(outcome.detail)")
            }
            switch outcome.verdict {
            case .valid: return
            case .rejected: throw ExitCode(BatonExitCode.keyFileDenied)
            case .unreachable: throw ExitCode(BatonExitCode.runtimeUnavailable)
            }
        }
    }

    /// `baton keys passphrase`: re-encrypts the key file under a new passphrase.
    struct ChangePassphrase: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "passphrase",
            abstract: "Re-encrypt the key file under a new passphrase.",
            discussion: """
                The current passphrase comes from $BATON_KEY_PASSPHRASE, else the terminal; the new one from \
                $BATON_KEY_NEW_PASSPHRASE, else typed twice on the terminal without echo. The new file is written \
                beside the old one (mode 0600) and renamed over it, so a failure or a kill leaves the old file, \
                readable with the old passphrase.
                """)

        func run() throws {
            try BatonCommand.Keys.withKeyFile { file, environment in
                guard let sealed = try file.load() else {
                    throw BatonCommand.Keys.failure(
                        "no key file at \(file.path), so no passphrase to change; set BATON_KEY_FILE if it is elsewhere, or "
                            + "add a key with 'baton keys set NAME'", BatonExitCode.notFound)
                }
                let current = try KeyPassphrase.obtain(for: file.path, environment: environment, creating: false)
                let keys = try sealed.unlock(passphrase: current)
                guard let new = try KeyPassphrase.obtainNew(for: file.path, environment: environment) else {
                    throw BatonCommand.Keys.failure(
                        "the key file \(file.path) needs a new passphrase; set \(KeyPassphrase.newVariable), or run Baton in a "
                            + "terminal to type it; nothing was changed", BatonExitCode.keyFileDenied)
                }
                try file.write(keys, passphrase: new)
                Console.out(
                    "re-encrypted \(file.path) (\(keys.count) key\(keys.count == 1 ? "" : "s")) under the new passphrase; "
                        + "update \(KeyPassphrase.variable) wherever it is set")
            }
        }
    }
}
