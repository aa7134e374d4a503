import BatonSpec

/// Where an API key came from, by name only: the check of its hosts and every message use this, never the key.
public enum KeyOrigin: Sendable, Hashable, CustomStringConvertible {
    /// The environment variable `variable` (the runtime's `api_key_env`).
    case environment(variable: String)
    /// The key file's entry `entry`, with the hosts it records (nil: none recorded, so its default host).
    case keyFile(entry: String, hosts: [KeyHost]?)

    /// The key's name: the variable or the entry.
    public var name: String {
        switch self {
        case .environment(let variable): variable
        case .keyFile(let entry, _): entry
        }
    }

    /// `the environment variable OPENAI_API_KEY`, `the key file entry 'openai'`.
    public var description: String {
        switch self {
        case .environment(let variable): "the environment variable \(variable)"
        case .keyFile(let entry, _): "the key file entry '\(entry)'"
        }
    }
}

/// An API key and where it came from. Printing it shows the origin, never the value.
public struct APIKey: Sendable, CustomStringConvertible {
    /// The key itself: only for the request's header.
    public var value: String
    /// Where it came from.
    public var origin: KeyOrigin

    /// A key from `origin`.
    public init(value: String, origin: KeyOrigin) {
        self.value = value
        self.origin = origin
    }

    /// The origin only, so that a key interpolated into a message by mistake does not leak.
    public var description: String { "the API key from \(origin)" }
}

/// Where the API key of a cloud runtime comes from.
///
/// Implementations must never put a key into an error message: errors name the runtime, the variable
/// or the key file, and say how to fix it.
public protocol APIKeySource: Sendable {
    /// The key for `runtime` and where it came from, or nil when none is configured.
    ///
    /// - Throws: when a key store exists but cannot be opened (wrong passphrase, corrupted file).
    func apiKey(for runtime: RuntimeSpec) throws -> APIKey?
}

/// Keys from environment variables only: the variable the runtime's `api_key_env` names.
public struct EnvironmentKeySource: APIKeySource {
    /// The environment read.
    public var environment: [String: String]

    /// Creates a source over `environment`.
    public init(environment: [String: String]) {
        self.environment = environment
    }

    public func apiKey(for runtime: RuntimeSpec) throws -> APIKey? {
        guard let variable = runtime.apiKeyEnv, let value = environment[variable], !value.isEmpty else { return nil }
        return APIKey(value: value, origin: .environment(variable: variable))
    }
}
