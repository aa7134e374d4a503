import BatonSpec
import Foundation

/// API keys from the environment first, then from the encrypted key file, which is opened at most once, and only
/// when a key is not in the environment.
///
/// For a runtime, the lookup order is: the environment variable its `api_key_env` names; the key file's entry named
/// after the runtime (`openai`); the key file's entry named like that variable (`OPENAI_API_KEY`).
public final class KeyFileSource: APIKeySource, Sendable {
    private let environment: EnvironmentKeySource
    private let keyFile: KeyFile
    private let passphrase: @Sendable (_ path: String) throws(KeyFileError) -> String
    /// The file's keys once read (empty when there is no file), or why they could not be.
    private let loaded = Locked<Result<[String: KeyFileEntry], KeyFileError>?>(nil)

    /// A source over `environment` and the key file it names (``KeyFile/defaultPath(environment:)``), asking for
    /// the passphrase as ``KeyPassphrase/obtain(for:environment:creating:)`` does.
    public convenience init(environment: [String: String]) {
        self.init(environment: environment, keyFile: KeyFile(path: KeyFile.defaultPath(environment: environment))) {
            path throws(KeyFileError) in
            try KeyPassphrase.obtain(for: path, environment: environment, creating: false)
        }
    }

    /// A source over `environment` and `keyFile`, calling `passphrase` (with the file's path) when it must unlock it.
    public init(
        environment: [String: String], keyFile: KeyFile,
        passphrase: @escaping @Sendable (_ path: String) throws(KeyFileError) -> String
    ) {
        self.environment = EnvironmentKeySource(environment: environment)
        self.keyFile = keyFile
        self.passphrase = passphrase
    }

    /// The key for `runtime` and where it came from (a key-file entry carries the hosts it records), or nil when
    /// neither the environment nor the key file has one.
    ///
    /// - Throws: ``KeyFileError`` when the key is not in the environment and the key file exists but cannot be
    ///   unlocked; the same error again on later calls, without asking again.
    public func apiKey(for runtime: RuntimeSpec) throws -> APIKey? {
        if let key = try environment.apiKey(for: runtime) { return key }
        let stored = try storedKeys()
        for name in [runtime.name, runtime.apiKeyEnv].compactMap({ $0 }) {
            if let entry = stored[name], !entry.key.isEmpty {
                return APIKey(value: entry.key, origin: .keyFile(entry: name, hosts: entry.hosts))
            }
        }
        return nil
    }

    /// The key file's map, read and unlocked on the first call only.
    private func storedKeys() throws(KeyFileError) -> [String: KeyFileEntry] {
        // Held while the file is unlocked, so that two stages asking at once prompt for the passphrase once.
        let result = loaded.withLock { loaded in
            if let loaded { return loaded }
            let result = Result { () throws(KeyFileError) -> [String: KeyFileEntry] in
                guard let sealed = try keyFile.load() else { return [:] }
                return try sealed.unlockEntries(passphrase: passphrase(sealed.path))
            }
            loaded = result
            return result
        }
        return try result.get()
    }
}
