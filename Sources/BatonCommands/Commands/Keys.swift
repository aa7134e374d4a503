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
                named like that variable. A key is sent only to the hosts it is bound to: its provider's official host, \
                the hosts 'baton keys set NAME --host HOST' records with a stored key, or for a key from an environment \
                variable the hosts 'baton keys allow VARIABLE HOST' adds; any other host is refused before the request \
                (exit \(BatonExitCode.untrusted)). Exits \(BatonExitCode.keyFileDenied) for a wrong or missing passphrase or a file others \
                may read, \(BatonExitCode.keyFileUnusable) for a damaged file. 'baton keys test NAME' asks the provider whether it \
                accepts the key: \(BatonExitCode.ok) valid, \(BatonExitCode.keyFileDenied) rejected (or no key), \
                \(BatonExitCode.runtimeUnavailable) unreachable.
                """,
            subcommands: [
                SetKey.self, ListKeys.self, RemoveKey.self, TestKey.self, ChangePassphrase.self, AllowHost.self, ListHosts.self,
            ])

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

        /// `api.openai.com, 127.0.0.1:8080` for recorded hosts; for none, the default host of the key `name` and
        /// `(default)`, or the runtime's provider when the name is not a known provider variable.
        static func hostsText(name: String, _ hosts: [KeyHost]?) -> String {
            if let hosts { return hosts.map(\.description).joined(separator: ", ") }
            if let official = KeyHosts.official(variable: name) { return "\(official) (default)" }
            return "the official host of the runtime's kind (default)"
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
                Creating the file on a terminal asks for a new passphrase twice. The key is sent only to the hosts \
                given with --host (each host or host:port), recorded inside the encrypted file; without --host, a new \
                key goes to its provider's official host and a replaced key keeps the hosts it had.
                """)

        @Argument(help: "The key's name: the runtime's name ('openai') or its api_key_env variable ('OPENAI_API_KEY').")
        var name: String

        @Option(
            name: .customLong("host"),
            help: ArgumentHelp("A host (or host:port) the key may be sent to; repeat for several.", valueName: "host"))
        var hosts: [String] = []

        func validate() throws {
            try BatonCommand.Keys.validate(name: name)
            _ = try parsedHosts()
        }

        /// The --host values, parsed; nil when none were given.
        private func parsedHosts() throws -> [KeyHost]? {
            guard !hosts.isEmpty else { return nil }
            return try hosts.map { text in
                guard let host = KeyHost(parsing: text) else {
                    throw ValidationError("--host '\(text)' is not a host or host:port (for example llm.example.com or 127.0.0.1:8080)")
                }
                return host
            }
        }

        func run() throws {
            let bound = try parsedHosts()
            try BatonCommand.Keys.withKeyFile { file, environment in
                let sealed = try file.load()
                let passphrase = try KeyPassphrase.obtain(for: file.path, environment: environment, creating: sealed == nil)
                var entries = try sealed?.unlockEntries(passphrase: passphrase) ?? [:]
                let key = try readKey(path: file.path)
                let previous = entries[name]
                // Rotating a key without --host keeps the hosts it was bound to.
                entries[name] = KeyFileEntry(key: key, hosts: bound ?? previous?.hosts)
                try file.write(entries: entries, passphrase: passphrase)
                let hosts = BatonCommand.Keys.hostsText(name: name, entries[name]?.hosts)
                Console.out("\(previous != nil ? "replaced" : "stored") the key '\(name)' in \(file.path); it may be sent to \(hosts)")
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

        @Flag(help: "Print JSON: {file, names, keys: [{name, hosts, default}]}.")
        var json = false

        /// What `--json` prints.
        private struct Listing: Encodable {
            /// One key: its name and the hosts it may be sent to (never the key).
            struct Key: Encodable {
                var name: String
                var hosts: [String]
                /// Whether no hosts are recorded, so the provider's official host applies.
                var `default`: Bool
            }

            var file: String
            var names: [String]
            var keys: [Key]
        }

        func run() throws {
            try BatonCommand.Keys.withKeyFile { file, environment in
                var entries: [String: KeyFileEntry] = [:]
                if let sealed = try file.load() {
                    let passphrase = try KeyPassphrase.obtain(for: file.path, environment: environment, creating: false)
                    entries = try sealed.unlockEntries(passphrase: passphrase)
                } else if !json {
                    Console.error("no key file at \(file.path); add a key with 'baton keys set NAME'")
                    return
                }
                let names = entries.keys.sorted()
                if json {
                    let keys = names.map { name in
                        let recorded = entries[name]?.hosts
                        let hosts = recorded ?? [KeyHosts.official(variable: name)].compactMap { $0 }
                        return Listing.Key(name: name, hosts: hosts.map(\.description), default: recorded == nil)
                    }
                    try Console.json(Listing(file: file.path, names: names, keys: keys))
                } else if names.isEmpty {
                    Console.error("the key file \(file.path) holds no keys; add one with 'baton keys set NAME'")
                } else {
                    let width = names.map(\.count).max() ?? 0
                    for name in names {
                        let padded = name.padding(toLength: width, withPad: " ", startingAt: 0)
                        Console.out("\(padded)  \(BatonCommand.Keys.hostsText(name: name, entries[name]?.hosts))")
                    }
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
                var entries = try sealed.unlockEntries(passphrase: passphrase)
                guard entries.removeValue(forKey: name) != nil else {
                    throw BatonCommand.Keys.failure(
                        "no key '\(name)' in \(file.path); 'baton keys list' shows the names", BatonExitCode.notFound)
                }
                try file.write(entries: entries, passphrase: passphrase)
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
                The key is found as a run finds it (the variable api_key_env names, else the key file), and is sent only \
                to a host it is bound to, as in a run (else exit \(BatonExitCode.untrusted), nothing sent). Prints valid, \
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
                outcome = try await KeyCheck.check(
                    runtime, keys: KeyFileSource(environment: environment), keyHosts: KeyHostPolicy.user(environment: environment))
            } catch let refusal as KeyHostRefusal {
                throw BatonCommand.Keys.failure("\(refusal)", BatonExitCode.untrusted)
            } catch let error as KeyHostAllowances.FileError {
                throw BatonCommand.Keys.failure("\(error)", BatonExitCode.untrusted)
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
                // The entries, hosts included: a new passphrase never loses what a key is bound to.
                let keys = try sealed.unlockEntries(passphrase: current)
                guard let new = try KeyPassphrase.obtainNew(for: file.path, environment: environment) else {
                    throw BatonCommand.Keys.failure(
                        "the key file \(file.path) needs a new passphrase; set \(KeyPassphrase.newVariable), or run Baton in a "
                            + "terminal to type it; nothing was changed", BatonExitCode.keyFileDenied)
                }
                try file.write(entries: keys, passphrase: new)
                Console.out(
                    "re-encrypted \(file.path) (\(keys.count) key\(keys.count == 1 ? "" : "s")) under the new passphrase; "
                        + "update \(KeyPassphrase.variable) wherever it is set")
            }
        }
    }
}

extension BatonCommand.Keys {
    /// `baton keys allow VARIABLE HOST [--revoke]`: lets the key of an environment variable go to another host.
    struct AllowHost: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "allow",
            abstract: "Allow the key in the environment variable NAME to be sent to HOST (or host:port).",
            discussion: """
                A key from an environment variable goes only to its provider's official host (OPENAI_API_KEY to \
                api.openai.com, ANTHROPIC_API_KEY to api.anthropic.com, any other variable to the official host of the \
                runtime's kind). This records another host in $XDG_CONFIG_HOME/baton/key-hosts.yaml (never a project \
                folder); --revoke removes it. HOST without a port means the scheme's default port (443 for https, 80 \
                for http). Keys in the key file record their hosts themselves: 'baton keys set NAME --host HOST'.
                """)

        @Argument(help: "The environment variable whose key it is ('OPENAI_API_KEY').")
        var name: String

        @Argument(help: "The host, or host:port ('llm.example.com', '127.0.0.1:8080').")
        var host: String

        @Flag(help: "Remove HOST instead of adding it.")
        var revoke = false

        func validate() throws {
            try BatonCommand.Keys.validate(name: name)
            // Only a variable's name: so a key pasted in NAME's place is never written to the file.
            guard name.first.map({ $0.isLetter || $0 == "_" }) == true,
                name.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_") })
            else {
                throw ValidationError("NAME must be an environment variable's name, such as OPENAI_API_KEY (letters, digits and '_')")
            }
            guard KeyHost(parsing: host) != nil else {
                throw ValidationError("'\(host)' is not a host or host:port (for example llm.example.com or 127.0.0.1:8080)")
            }
        }

        func run() throws {
            let environment = ProcessInfo.processInfo.environment
            let path = KeyHostAllowances.path(environment: environment)
            guard let parsed = KeyHost(parsing: host) else { return }
            do {
                var allowances = try KeyHostAllowances.load(path: path)
                if revoke {
                    guard allowances.revoke(parsed, for: name) else {
                        throw BatonCommand.Keys.failure(
                            "\(parsed) is not allowed for \(name) in \(path); 'baton keys hosts' lists the allowed hosts",
                            BatonExitCode.notFound)
                    }
                    try allowances.save(to: path)
                    Console.out("the key in \(name) may no longer be sent to \(parsed) (\(path))")
                } else {
                    let added = allowances.allow(parsed, for: name)
                    if added { try allowances.save(to: path) }
                    Console.out("the key in \(name) may be sent to \(parsed)\(added ? "" : " (already allowed)") (\(path))")
                }
            } catch let error as KeyHostAllowances.FileError {
                throw BatonCommand.Keys.failure("\(error)", BatonExitCode.untrusted)
            }
        }
    }

    /// `baton keys hosts`: where keys from environment variables may go.
    struct ListHosts: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "hosts",
            abstract: "List the hosts keys from environment variables may be sent to: official hosts and your allowances.")

        @Flag(help: "Print JSON: {file, official: {VARIABLE: host}, allowed: {VARIABLE: [host]}}.")
        var json = false

        /// What `--json` prints.
        private struct Listing: Encodable {
            var file: String
            var official: [String: String]
            var allowed: [String: [String]]
        }

        func run() throws {
            let path = KeyHostAllowances.path(environment: ProcessInfo.processInfo.environment)
            let allowances: KeyHostAllowances
            do {
                allowances = try KeyHostAllowances.load(path: path)
            } catch {
                throw BatonCommand.Keys.failure("\(error)", BatonExitCode.untrusted)
            }
            if json {
                try Console.json(
                    Listing(file: path, official: KeyHosts.officialByVariable, allowed: allowances.keys.mapValues { $0.map(\.description) })
                )
                return
            }
            Console.out("official hosts (https, port 443):")
            for variable in KeyHosts.officialByVariable.keys.sorted() {
                Console.out("  \(variable)  \(KeyHosts.officialByVariable[variable] ?? "")")
            }
            Console.out("  any other variable  the official host of the runtime's kind (api.openai.com or api.anthropic.com)")
            if allowances.keys.isEmpty {
                Console.out("allowed by you (\(path)): none; add one with 'baton keys allow VARIABLE HOST'")
            } else {
                Console.out("allowed by you (\(path)):")
                for name in allowances.keys.keys.sorted() {
                    Console.out("  \(name)  \(allowances.hosts(for: name).map(\.description).joined(separator: ", "))")
                }
            }
        }
    }
}
