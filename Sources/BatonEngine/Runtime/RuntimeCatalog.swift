import BatonSpec
import Foundation

/// The runtimes a run uses, made from its snapshot's profile (or `--runtime echo`) once and reused.
public final class RuntimeCatalog: RuntimeProvider, @unchecked Sendable {
    private let environment: [String: String]
    private let lock = NSLock()
    private var made: [String: any LLMRuntime] = [:]

    /// Creates a catalog; `environment` supplies echo options such as `BATON_ECHO_CALL_DELAY`.
    public init(environment: [String: String]) {
        self.environment = environment
    }

    public func runtime(for model: ResolvedModel, snapshot: RunSnapshot) throws -> any LLMRuntime {
        let name = snapshot.forcedRuntime ?? model.runtime ?? "echo"
        lock.lock()
        defer { lock.unlock() }
        if let runtime = made[name] { return runtime }
        let runtime = try make(name, snapshot: snapshot)
        made[name] = runtime
        return runtime
    }

    private func url(of spec: RuntimeSpec?, _ name: String) throws -> String {
        guard let url = spec?.url, !url.isEmpty else {
            throw RuntimeError(.unreachable, "runtime '\(name)' has no url; set it in the profile", isTransient: false)
        }
        return url
    }

    private func make(_ name: String, snapshot: RunSnapshot) throws -> any LLMRuntime {
        let spec = snapshot.profile?.spec.runtime(named: name)
        let kind = spec?.kind ?? (name == "echo" ? .echo : nil)
        switch kind {
        case .echo:
            return EchoRuntime(options: try EchoRuntime.options(from: spec?.options ?? [:], environment: environment))
        case .llamaServer:
            return LlamaServerClient(baseURL: try url(of: spec, name))
        case .ollama:
            return OllamaClient(baseURL: try url(of: spec, name))
        case .openai:
            // An OpenAI-compatible endpoint; the key comes from the environment variable the profile names.
            var base = try url(of: spec, name)
            while base.hasSuffix("/") { base.removeLast() }
            let key = spec?.apiKeyEnv.flatMap { environment[$0] }.flatMap { $0.isEmpty ? nil : $0 }
            return OpenAICompatibleClient(chatURL: base + "/chat/completions", headers: key.map { [("Authorization", "Bearer \($0)")] } ?? [])
        case .some(let kind):
            throw RuntimeError(
                .unreachable,
                "runtime '\(name)' is of kind '\(kind.rawValue)', which this build of baton cannot talk to yet; run with --runtime echo or a profile whose runtimes are echo",
                isTransient: false)
        case nil:
            throw RuntimeError(.unreachable, "runtime '\(name)' is not declared in the run's profile", isTransient: false)
        }
    }
}
