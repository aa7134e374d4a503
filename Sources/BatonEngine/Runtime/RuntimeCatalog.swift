import BatonSpec
import Foundation

/// The runtimes a run uses, made from its snapshot's profile (or `--runtime echo`) once and reused.
public final class RuntimeCatalog: RuntimeProvider, Sendable {
    private let environment: [String: String]
    private let keys: any APIKeySource
    private let keyHosts: KeyHostPolicy
    private let transport: any HTTPTransport
    /// The script every echo runtime answers from instead of its profile option or `BATON_ECHO_SCRIPT` (`baton test`'s
    /// per-case scripts); nil: as the options say.
    private let echoScript: EchoScript?
    /// The runtimes made so far, by name; the lock is held while one is made, so each is made once.
    private let made = Locked<[String: any LLMRuntime]>([:])

    /// Creates a catalog.
    ///
    /// - Parameters:
    ///   - environment: echo options such as `BATON_ECHO_CALL_DELAY`, and the API keys when `keys` is nil.
    ///   - keys: where cloud runtimes' API keys come from; nil reads the variables profiles name in
    ///     `api_key_env` from `environment`.
    ///   - keyHosts: which hosts each key may be sent to; nil is the policy of the user of `environment`
    ///     (``KeyHostPolicy/user(environment:)``, with `$XDG_CONFIG_HOME/baton/key-hosts.yaml`).
    ///   - transport: the HTTP transport of every client made.
    ///   - echoScript: the script of every echo runtime, over the profile's `script` option and `BATON_ECHO_SCRIPT`.
    public init(
        environment: [String: String], keys: (any APIKeySource)? = nil, keyHosts: KeyHostPolicy? = nil,
        transport: any HTTPTransport = AsyncHTTPTransport(), echoScript: EchoScript? = nil
    ) {
        self.echoScript = echoScript
        self.environment = environment
        self.keys = keys ?? EnvironmentKeySource(environment: environment)
        self.keyHosts = keyHosts ?? KeyHostPolicy.user(environment: environment)
        self.transport = transport
    }

    public func runtime(for model: ResolvedModel, snapshot: RunSnapshot) throws -> any LLMRuntime {
        try runtime(named: Self.runtimeName(of: model, snapshot: snapshot), snapshot: snapshot)
    }

    /// Makes now every echo runtime `snapshot`'s stages can call, reading its options and script (`script`,
    /// `BATON_ECHO_SCRIPT`), so a malformed or over-limit script refuses the run before it starts instead of
    /// failing it at the first stage. The runtimes made are the ones the run then uses.
    ///
    /// - Throws: ``RuntimeError`` (permanent) naming the option, or the script's file, line and key.
    public func prepareEchoRuntimes(for snapshot: RunSnapshot) throws {
        let names = Set(snapshot.plan.stages.flatMap(\.models).map { Self.runtimeName(of: $0, snapshot: snapshot) })
        for name in names.sorted() where Self.kind(of: name, snapshot: snapshot) == .echo {
            _ = try runtime(named: name, snapshot: snapshot)
        }
    }

    /// Checks, before the run starts, that every cloud runtime `snapshot`'s stages can call would send its key only to
    /// a host the key is bound to, so a refusal stops the run before anything is recorded or sent. A runtime without a
    /// key, or whose key cannot be read, is left to fail at its stage as before.
    ///
    /// - Throws: ``KeyHostRefusal`` for the first runtime (by name) whose key would go elsewhere;
    ///   ``KeyHostAllowances/FileError`` when the user's allowances had to be read and cannot be used.
    public func checkKeyHosts(for snapshot: RunSnapshot) throws {
        let names = Set(snapshot.plan.stages.flatMap(\.models).map { Self.runtimeName(of: $0, snapshot: snapshot) })
        for name in names.sorted() {
            guard let spec = snapshot.profile?.spec.runtime(named: name), spec.kind == .openai || spec.kind == .anthropic,
                let url = Self.requestURL(of: spec), let key = try? keys.apiKey(for: spec)
            else { continue }
            try keyHosts.check(key, runtime: name, kind: spec.kind, url: url)
        }
    }

    /// The base URL a cloud runtime's requests go to: its `url`, else Anthropic's official one for `anthropic`.
    private static func requestURL(of spec: RuntimeSpec) -> String? {
        RunReach.url(of: spec, kind: spec.kind)
    }

    /// The runtime that serves `model` in `snapshot`: the forced one (`--runtime echo`), else the model's, else echo.
    private static func runtimeName(of model: ResolvedModel, snapshot: RunSnapshot) -> String {
        snapshot.forcedRuntime ?? model.runtime ?? "echo"
    }

    /// The kind of the runtime `name`: as the profile declares it, and echo for an undeclared `echo`.
    private static func kind(of name: String, snapshot: RunSnapshot) -> RuntimeSpec.Kind? {
        snapshot.profile?.spec.runtime(named: name)?.kind ?? (name == "echo" ? .echo : nil)
    }

    private func runtime(named name: String, snapshot: RunSnapshot) throws -> any LLMRuntime {
        try made.withLock { made in
            if let runtime = made[name] { return runtime }
            let runtime = try make(name, snapshot: snapshot)
            made[name] = runtime
            return runtime
        }
    }

    private func url(of spec: RuntimeSpec?, _ name: String) throws -> String {
        guard let url = spec?.url, !url.isEmpty else {
            throw RuntimeError(.unreachable, "runtime '\(name)' has no url; set it in the profile", isTransient: false)
        }
        return url
    }

    /// The key of a cloud runtime, once it is known that `url` is a host the key may go to.
    ///
    /// - Parameter required: whether a missing key is an error (an OpenAI-compatible server on this
    ///   machine may need none, unless the profile names a variable for it).
    /// - Throws: ``RuntimeError`` `.unreachable` (permanent) naming the variable to set or the command to run;
    ///   ``KeyHostRefusal`` when the key is bound to other hosts (nothing is made or sent).
    private func apiKey(of spec: RuntimeSpec?, _ name: String, url: String, required: Bool) throws -> String? {
        guard let spec else { return nil }
        let key: APIKey?
        do {
            key = try keys.apiKey(for: spec)
        } catch let error as RuntimeError {
            throw error
        } catch {
            throw RuntimeError(.unreachable, "cannot read the API key of runtime '\(name)': \(error)", isTransient: false)
        }
        if let key, !key.value.isEmpty {
            try keyHosts.check(key, runtime: name, kind: spec.kind, url: url)
            return key.value
        }
        guard required || spec.apiKeyEnv != nil else { return nil }
        let fix =
            spec.apiKeyEnv.map { "set the environment variable \($0) or run 'baton keys set \(name)'" }
            ?? "run 'baton keys set \(name)', or name an environment variable in the runtime's 'api_key_env' in the profile and set it"
        throw RuntimeError(.unreachable, "runtime '\(name)' has no API key; \(fix)", isTransient: false)
    }

    /// What a rejected key's message tells the user to do.
    private static func keyHint(_ spec: RuntimeSpec?, _ name: String) -> String {
        let variable = spec?.apiKeyEnv.map { "the environment variable \($0) or " } ?? ""
        return "check the key in \(variable)the key store ('baton keys set \(name)' replaces it)"
    }

    /// Whether `url` points at this machine (a local OpenAI-compatible server may have no key).
    static func isLoopback(_ url: String) -> Bool {
        guard let host = URLComponents(string: url)?.host?.lowercased() else { return false }
        if host == "localhost" || host == "::1" || host == "[::1]" { return true }
        // 127.0.0.0/8 as an address, never a name that merely starts with "127." (127.example.com is anywhere).
        let octets = host.split(separator: ".", omittingEmptySubsequences: false)
        return octets.count == 4 && octets[0] == "127" && octets.allSatisfy { UInt8($0) != nil }
    }

    /// Which fields a `kind: openai` runtime is sent: the runtime's `options.api` when set (`openai` or
    /// `compatible`), else OpenAI's own dialect for `api.openai.com` and the generic one for any other host,
    /// since compatible servers may reject OpenAI-only fields such as `max_completion_tokens` (voideditor/void#128).
    ///
    /// - Throws: ``RuntimeError`` (permanent) for another `api` value, naming the ones allowed.
    public static func openAIDialect(url: String, options: [String: String], runtime: String) throws -> OpenAICompatibleClient.Dialect {
        if let api = options["api"] {
            switch api.lowercased() {
            case "openai": return .openAI
            case "compatible": return .compatible
            default:
                throw RuntimeError(
                    .unreachable,
                    "runtime '\(runtime)' has options.api '\(api)'; use 'openai' (OpenAI's own API) or 'compatible' (any other server)",
                    isTransient: false)
            }
        }
        let host = URLComponents(string: url)?.host?.lowercased() ?? ""
        return host == "api.openai.com" ? .openAI : .compatible
    }

    private func make(_ name: String, snapshot: RunSnapshot) throws -> any LLMRuntime {
        let spec = snapshot.profile?.spec.runtime(named: name)
        switch Self.kind(of: name, snapshot: snapshot) {
        case .echo:
            var options = try EchoRuntime.options(from: spec?.options ?? [:], environment: environment)
            if let echoScript { options.script = echoScript }
            return EchoRuntime(options: options)
        case .llamaServer:
            return LlamaServerClient(baseURL: try url(of: spec, name), transport: transport)
        case .ollama:
            // `load_timeout` is a stall timeout: how long a load may go without the server answering.
            let loadTimeout = try OllamaClient.loadTimeout(options: spec?.options ?? [:], runtime: name) ?? OllamaClient.defaultLoadTimeout
            return OllamaClient(baseURL: try url(of: spec, name), transport: transport, loadTimeout: loadTimeout)
        case .openai:
            // OpenAI or a compatible cloud: `{url}/chat/completions`, the url ending in `/v1`.
            var base = try url(of: spec, name)
            while base.hasSuffix("/") { base.removeLast() }
            let key = try apiKey(of: spec, name, url: base, required: !Self.isLoopback(base))
            return OpenAICompatibleClient(
                chatURL: base + "/chat/completions", apiKey: key, keyHint: Self.keyHint(spec, name),
                dialect: try Self.openAIDialect(url: base, options: spec?.options ?? [:], runtime: name), connectTimeout: 120,
                transport: transport)
        case .anthropic:
            let base = spec.flatMap(Self.requestURL(of:)) ?? RunReach.defaultAnthropicURL
            let key = try apiKey(of: spec, name, url: base, required: true)
            return AnthropicClient(baseURL: base, apiKey: key ?? "", keyHint: Self.keyHint(spec, name), transport: transport)
        case nil:
            throw RuntimeError(.unreachable, "runtime '\(name)' is not declared in the run's profile", isTransient: false)
        }
    }
}
