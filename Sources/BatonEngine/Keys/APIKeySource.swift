import BatonSpec

/// Where the API key of a cloud runtime comes from.
///
/// Implementations must never put a key into an error message: errors name the runtime, the variable
/// or the key file, and say how to fix it.
public protocol APIKeySource: Sendable {
    /// The key for `runtime`, or nil when none is configured.
    ///
    /// - Throws: when a key store exists but cannot be opened (wrong passphrase, corrupted file).
    func apiKey(for runtime: RuntimeSpec) throws -> String?
}

/// Keys from environment variables only: the variable the runtime's `api_key_env` names.
public struct EnvironmentKeySource: APIKeySource {
    /// The environment read.
    public var environment: [String: String]

    /// Creates a source over `environment`.
    public init(environment: [String: String]) {
        self.environment = environment
    }

    public func apiKey(for runtime: RuntimeSpec) throws -> String? {
        guard let variable = runtime.apiKeyEnv, let value = environment[variable], !value.isEmpty else { return nil }
        return value
    }
}
