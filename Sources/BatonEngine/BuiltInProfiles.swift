import BatonSpec
import Foundation

/// The profiles compiled into the binary: the default one, used when no profile file named `default` is on the
/// search path (so an installed `baton` works in any folder), and the echo layer of `baton run --runtime echo`.
public enum BuiltInProfiles {
    /// The name of the built-in default profile.
    public static let defaultName = "default"

    /// The path the built-in default profile is shown under in listings and diagnostics.
    public static let defaultPath = "(built in)/default.yaml"

    /// The built-in default profile's text, before `${VAR}` expansion and without the optional llama-server runtime.
    ///
    /// Ollama at `${BATON_OLLAMA_URL}` (``environment(for:)`` sets it from `OLLAMA_HOST` as Ollama reads it), the
    /// budget `auto`, a registry of common Ollama models with capability scores, and roles that list no models:
    /// each role takes the installed model with the best score for its capability that fits the budget.
    public static let defaultText = """
        # The built-in default profile: used when no profile file named 'default' is on the search path.
        # Footprints are for the default Ollama tags (Q4_K_M) at num_ctx 8192, as in the shipped profiles/default.yaml.
        version: 1
        name: default
        description: >-
          Built in; Ollama on this machine (and llama-server at $BATON_LLAMA_URL when set), roles mapped by
          capability, budget from the machine's memory.
        memory_budget: auto
        default_runtime: ollama
        thermal:
          pause_at: serious
          max_wait: 10m
          poll_interval: 15s
        models:
          qwen2.5:3b: {runtime: ollama, footprint: 2.5GB, context_length: 32768, capabilities: {reasoning: 4, coding: 4, creativity: 4}}
          qwen2.5:7b-instruct: {runtime: ollama, footprint: 5.5GB, context_length: 32768, capabilities: {reasoning: 6, coding: 6, creativity: 5}}
          qwen2.5:14b-instruct: {runtime: ollama, footprint: 10.9GB, context_length: 32768, capabilities: {reasoning: 7, coding: 7, creativity: 6}}
          qwen2.5:32b-instruct: {runtime: ollama, footprint: 22.3GB, context_length: 32768, capabilities: {reasoning: 8, coding: 8, creativity: 7}}
          qwen2.5-coder:7b: {runtime: ollama, footprint: 5.5GB, context_length: 32768, capabilities: {reasoning: 5, coding: 7, creativity: 3}}
          qwen2.5-coder:14b: {runtime: ollama, footprint: 10.9GB, context_length: 32768, capabilities: {reasoning: 6, coding: 8, creativity: 4}}
          mistral:7b-instruct: {runtime: ollama, footprint: 5.7GB, context_length: 32768, capabilities: {reasoning: 5, coding: 4, creativity: 6}}
          mistral-nemo:12b: {runtime: ollama, footprint: 9.1GB, context_length: 131072, capabilities: {reasoning: 6, coding: 5, creativity: 7}}
          llama3.2:3b: {runtime: ollama, footprint: 3.3GB, context_length: 131072, capabilities: {reasoning: 4, coding: 3, creativity: 5}}
          llama3.1:8b: {runtime: ollama, footprint: 6.3GB, context_length: 131072, capabilities: {reasoning: 5, coding: 5, creativity: 6}}
          gemma3:4b: {runtime: ollama, footprint: 3.9GB, context_length: 131072, capabilities: {reasoning: 5, coding: 4, creativity: 6}}
          gemma3:12b: {runtime: ollama, footprint: 9.3GB, context_length: 131072, capabilities: {reasoning: 7, coding: 6, creativity: 8}}
          gemma3:27b: {runtime: ollama, footprint: 18.4GB, context_length: 131072, capabilities: {reasoning: 8, coding: 7, creativity: 8}}
          phi4:14b: {runtime: ollama, footprint: 11.0GB, context_length: 16384, capabilities: {reasoning: 8, coding: 7, creativity: 5}}
          # The embedding model of indexes (docs/retrieval.md); no capability scores, so no role picks it for chat.
          all-minilm: {runtime: ollama, footprint: 150MB, context_length: 512}
        roles:
          planner: {capability: reasoning, temperature: 0.2, top_p: 0.9, max_tokens: 1024}
          critic: {capability: reasoning, temperature: 0.1, top_p: 0.9, max_tokens: 768}
          executor: {capability: coding, temperature: 0.3, top_p: 0.95, max_tokens: 2048}
          writer: {capability: creativity, temperature: 0.8, top_p: 0.95, max_tokens: 2048}
          researcher: {capability: reasoning, temperature: 0.2, top_p: 0.9, max_tokens: 1536}
        defaults:
          max_tokens: 1024
          num_ctx: 8192
          timeout: 10m
          retry: {max_attempts: 3, initial_backoff: 1s, max_backoff: 30s, multiplier: 2}
        runtimes:
          ollama:
            kind: ollama
            url: ${BATON_OLLAMA_URL}
          echo:
            kind: echo

        """

    /// The llama-server runtime the built-in default profile gains when `BATON_LLAMA_URL` is set (appended to
    /// the `runtimes` mapping that ends ``defaultText``).
    public static let llamaServerRuntime = """
          local:
            kind: llama-server
            url: ${BATON_LLAMA_URL}

        """

    /// The built-in default profile as a file: ``defaultText``, plus ``llamaServerRuntime`` when `BATON_LLAMA_URL` is set.
    public static func defaultSource(environment: [String: String]) -> SourceFile {
        let llama = environment["BATON_LLAMA_URL"].map { !$0.isEmpty } ?? false
        return SourceFile(path: defaultPath, text: defaultText + (llama ? llamaServerRuntime : ""))
    }

    /// `environment` with `BATON_OLLAMA_URL` set, when it is not already, to the URL Ollama's own client would use.
    public static func environment(for environment: [String: String]) -> [String: String] {
        var result = environment
        if (environment["BATON_OLLAMA_URL"] ?? "").isEmpty {
            result["BATON_OLLAMA_URL"] = ollamaURL(host: environment["OLLAMA_HOST"])
        }
        return result
    }

    /// The built-in default profile decoded (with ``environment(for:)``).
    public static func defaultDocument(environment: [String: String]) -> ProfileDocument {
        ProfileDecoder.decode(defaultSource(environment: environment), environment: Self.environment(for: environment))
    }

    /// The URL of the Ollama server that `OLLAMA_HOST` names, read as Ollama reads it
    /// (ollama/ollama envconfig/config.go, `getOllamaHost`, at 000ce02): quotes and spaces trimmed; no scheme
    /// means `http` and port 11434, `http://` without a port means 80 and `https://` 443; a trailing `/` dropped;
    /// a bare host or IP keeps the default port; an empty value is 127.0.0.1; a port that is not a number in
    /// 0...65535 takes the default; an empty host (`:11434`) is this machine.
    public static func ollamaURL(host value: String?) -> String {
        let trimmed = (value ?? "").trimmingCharacters(in: .whitespaces).trimmingCharacters(in: CharacterSet(charactersIn: "\"'"))
            .trimmingCharacters(in: .whitespaces)
        var scheme = "http"
        var defaultPort = "11434"
        var hostPort = trimmed
        if let range = trimmed.range(of: "://") {
            scheme = String(trimmed[..<range.lowerBound])
            hostPort = String(trimmed[range.upperBound...])
            if scheme == "http" { defaultPort = "80" } else if scheme == "https" { defaultPort = "443" }
        }
        while hostPort.hasSuffix("/") { hostPort.removeLast() }
        var host: String
        var port: String
        if let split = splitHostPort(hostPort) {
            (host, port) = split
        } else {
            host = "127.0.0.1"
            port = defaultPort
            let bare = hostPort.trimmingCharacters(in: CharacterSet(charactersIn: "[]"))
            if !hostPort.isEmpty { host = bare.contains(":") ? bare : hostPort }
        }
        if let number = Int(port), (0...65535).contains(number) {} else { port = defaultPort }
        // `:11434` leaves the host empty, which Go's dialer takes as this machine; a URL needs it spelled out.
        if host.isEmpty { host = "127.0.0.1" }
        let shownHost = host.contains(":") ? "[\(host)]" : host
        return "\(scheme)://\(shownHost):\(port)"
    }

    /// Go's `net.SplitHostPort` for the forms Ollama accepts: `host:port`, `[v6]:port`, `:port`; nil when there
    /// is no port (`host`, a bare IPv6 address, `[v6]`).
    private static func splitHostPort(_ text: String) -> (String, String)? {
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]") else { return nil }
            let after = text[text.index(after: close)...]
            guard after.hasPrefix(":"), after.dropFirst().contains(":") == false else { return nil }
            return (String(text[text.index(after: text.startIndex)..<close]), String(after.dropFirst()))
        }
        let colons = text.filter { $0 == ":" }.count
        guard colons == 1, let colon = text.firstIndex(of: ":") else { return nil }
        return (String(text[..<colon]), String(text[text.index(after: colon)...]))
    }

    // MARK: - The echo layer

    /// The name of the echo layer's runtime and model.
    public static let echoName = "echo"

    /// The profile `baton run --runtime echo` layers over the profile in use, so that every stage of a valid
    /// pipeline has a model with no model installed: the built-in echo runtime and a model `echo` on it that
    /// fits any budget. ``echoLayer(over:roles:)`` adds it last to every role's preferences.
    public static let echoText = """
        version: 1
        name: echo
        description: Every stage on the built-in echo runtime (baton run --runtime echo).
        runtimes:
          echo: {kind: echo}
        models:
          echo: {runtime: echo, footprint: 0, context_length: 1048576}

        """

    /// `base` with the echo layer over it: the echo runtime and model added, `echo` appended to the preferences
    /// of every role `base` declares and of every role in `roles` (those `base` does not declare get `[echo]`),
    /// and `default_runtime: echo` when `base` sets none.
    ///
    /// A role keeps its own preferences first, so `--runtime echo` runs the models the profile would choose
    /// (on the echo runtime); `echo` is taken only where nothing else is available or fits.
    public static func echoLayer(over base: ResolvedProfile, roles: [String]) -> ResolvedProfile {
        let document = ProfileDecoder.decode(SourceFile(path: "(built in)/echo.yaml", text: echoText), environment: [:])
        guard let layer = document.spec else { return base }
        var spec = base.spec
        let echoRuntime = layer.runtimes.first { $0.name == echoName }
        if let echoRuntime, spec.runtime(named: echoName)?.kind != .echo {
            spec.runtimes.removeAll { $0.name == echoName }
            spec.runtimes.append(echoRuntime)
        }
        spec.models.removeAll { $0.name == echoName }
        spec.models.append(contentsOf: layer.models)
        if spec.defaultRuntime == nil { spec.defaultRuntime = echoName }
        let echo = ModelReference(echoName)
        for index in spec.roles.indices where !(spec.roles[index].models ?? []).contains(echo) {
            spec.roles[index].models = (spec.roles[index].models ?? []) + [echo]
        }
        for role in Set(roles) where spec.role(named: role) == nil {
            spec.roles.append(RoleSpec(name: role, models: [echo], settings: StageSettings()))
        }
        return ResolvedProfile(spec: spec, chain: [layer.name] + base.chain)
    }
}
