import BatonSpec
import Foundation

/// A profile written for this machine, as `baton init` writes it: the local runtimes found running, the models
/// they have, and the machine's measured memory as the budget.
public struct MachineProfile: Sendable {
    /// A local runtime that answered, with its models.
    public struct Runtime: Sendable, Hashable {
        /// The profile name (`ollama`, `local`).
        public var name: String
        /// `ollama` or `llama-server`.
        public var kind: RuntimeSpec.Kind
        /// Where it answered.
        public var url: String
        /// Its models, sorted by name.
        public var models: [DiscoveredModel]

        /// Creates a found runtime.
        public init(name: String, kind: RuntimeSpec.Kind, url: String, models: [DiscoveredModel]) {
            self.name = name
            self.kind = kind
            self.url = url
            self.models = models
        }
    }

    /// The runtimes that answered.
    public var runtimes: [Runtime]
    /// The runtimes asked that did not answer, each with why.
    public var unreachable: [(name: String, url: String, reason: String)]
    /// The budget: what `memory_budget: auto` gives on this machine (its memory minus a reserve).
    public var budget: ByteCount
    /// The machine's name, for the file's comment and description.
    public var host: String

    /// Creates a machine profile from what was found.
    public init(runtimes: [Runtime], unreachable: [(name: String, url: String, reason: String)] = [], budget: ByteCount, host: String) {
        self.runtimes = runtimes
        self.unreachable = unreachable
        self.budget = budget
        self.host = host
    }

    /// Asks the local runtimes a default setup would use what they have, as `baton doctor` and discovery do:
    /// Ollama where `OLLAMA_HOST` (else 127.0.0.1:11434) points, and a llama-server router at `BATON_LLAMA_URL`
    /// (else 127.0.0.1:8080). Each gets ``ModelDiscovery/defaultTimeout`` seconds.
    public static func detect(
        environment: [String: String], machine: MachineMemory = .current(), timeout: Double = ModelDiscovery.defaultTimeout,
        transport: any HTTPTransport = AsyncHTTPTransport()
    ) async -> MachineProfile {
        var probing = environment
        if (probing["BATON_LLAMA_URL"] ?? "").isEmpty { probing["BATON_LLAMA_URL"] = "http://127.0.0.1:8080" }
        var found: [Runtime] = []
        var unreachable: [(name: String, url: String, reason: String)] = []
        if let probe = ProfileResolver.resolve(BuiltInProfiles.defaultDocument(environment: probing), parent: { _ in nil }).profile {
            let inventory = await ModelDiscovery.discover(profile: probe, timeout: timeout, transport: transport)
            for runtime in probe.spec.runtimes where runtime.kind == .ollama || runtime.kind == .llamaServer {
                guard let url = runtime.url else { continue }
                switch inventory.runtimes[runtime.name] {
                case .known(let models): found.append(Runtime(name: runtime.name, kind: runtime.kind, url: url, models: models))
                case .unknown(let reason): unreachable.append((runtime.name, url, reason))
                case nil: break
                }
            }
        }
        let host = ProcessInfo.processInfo.hostName.split(separator: ".").first.map(String.init) ?? "this machine"
        return MachineProfile(runtimes: found, unreachable: unreachable, budget: ByteCount(bytes: machine.autoBudget), host: host)
    }

    /// The roles the profile maps, with the capability each ranks its models by and its sampling settings.
    static let roles: [(name: String, capability: String, settings: String)] = [
        ("planner", "reasoning", "temperature: 0.2, max_tokens: 1024"),
        ("critic", "reasoning", "temperature: 0.1, max_tokens: 768"),
        ("executor", "coding", "temperature: 0.3, max_tokens: 2048"),
        ("writer", "creativity", "temperature: 0.8, max_tokens: 2048"),
        ("researcher", "reasoning", "temperature: 0.2, max_tokens: 1536"),
    ]

    /// The models that fit the budget, with the capability scores the built-in registry gives the same model.
    var models: [(model: DiscoveredModel, runtime: Runtime, scores: [String: Double])] {
        let registry = BuiltInProfiles.defaultDocument(environment: [:]).spec?.models ?? []
        return runtimes.flatMap { runtime in
            runtime.models.compactMap { model in
                if let footprint = model.footprint?.bytes, footprint > budget { return nil }
                let known = registry.first { ModelInventory.sameModel($0.name, model.name, kind: runtime.kind) }
                return (model, runtime, known?.capabilities ?? [:])
            }
        }
    }

    /// The profile file's text, named `name`.
    ///
    /// Each role prefers the models found that fit the budget: those the built-in registry scores for the role's
    /// capability first (best score first), then the others, largest first. With no model found, the roles use
    /// the built-in echo runtime so the project's pipelines still validate and dry-run; the file says so.
    public func text(name: String = "default") -> String {
        let models = self.models
        var lines = [
            "# Written by 'baton init' for \(host): the local runtimes that answered, their models, and this machine's",
            "# memory as the budget. Edit it freely; 'baton init' never overwrites it. 'baton profiles show' prints it resolved.",
        ]
        for missing in unreachable {
            lines.append("# \(missing.name) (\(missing.url)) did not answer when this was written: \(Self.oneLine(missing.reason))")
        }
        if models.isEmpty {
            lines.append("# No model was found, so every role uses the built-in echo runtime (deterministic, for dry runs):")
            lines.append("# install a model (e.g. 'ollama pull qwen2.5:7b-instruct') and name it in the roles below.")
        }
        let summary =
            runtimes.isEmpty
            ? "no local runtime was running; echo only"
            : runtimes.map { "\($0.kind.rawValue) with \($0.models.count) model\($0.models.count == 1 ? "" : "s")" }.joined(separator: ", ")
        lines += [
            "version: 1",
            "name: \(Self.quote(name))",
            "description: \(Self.quote("\(host): \(summary); budget \(budget)."))",
            "memory_budget: \(budget)",
            "default_runtime: \(runtimes.first?.name ?? BuiltInProfiles.echoName)",
            "",
            "runtimes:",
        ]
        for runtime in runtimes {
            lines += ["  \(runtime.name):", "    kind: \(runtime.kind.rawValue)", "    url: \(Self.quote(runtime.url))"]
        }
        lines += ["  echo:", "    kind: echo", "", "models:"]
        for (model, runtime, scores) in models {
            var fields = ["runtime: \(runtime.name)"]
            if let footprint = model.footprint?.bytes { fields.append("footprint: \(footprint)") }
            if let context = model.contextLength { fields.append("context_length: \(context)") }
            if !scores.isEmpty {
                let pairs = scores.sorted { $0.key < $1.key }.map { "\($0.key): \(Self.number($0.value))" }
                fields.append("capabilities: {\(pairs.joined(separator: ", "))}")
            }
            lines.append("  \(Self.quote(model.name)): {\(fields.joined(separator: ", "))}")
        }
        if models.isEmpty {
            lines.append("  echo: {runtime: echo, footprint: 0}")
        }
        lines += ["", "roles:"]
        for role in Self.roles {
            let preferred = models.isEmpty ? [BuiltInProfiles.echoName] : Self.ranked(models, by: role.capability).map(\.model.name)
            lines.append("  \(role.name):")
            lines.append("    models: [\(preferred.map(Self.quote).joined(separator: ", "))]")
            lines.append("    \(role.settings.replacingOccurrences(of: ", ", with: "\n    "))")
        }
        lines += [
            "", "defaults:", "  max_tokens: 1024", "  num_ctx: 8192", "  timeout: 10m",
            "  retry: {max_attempts: 3, initial_backoff: 1s, max_backoff: 30s, multiplier: 2}", "",
        ]
        return lines.joined(separator: "\n")
    }

    /// Scored models best first (ties: smaller first), then unscored ones largest first, then by name.
    static func ranked(
        _ models: [(model: DiscoveredModel, runtime: Runtime, scores: [String: Double])], by capability: String
    ) -> [(model: DiscoveredModel, runtime: Runtime, scores: [String: Double])] {
        models.sorted { a, b in
            switch (a.scores[capability], b.scores[capability]) {
            case (let x?, let y?) where x != y: return x > y
            case (.some, nil): return true
            case (nil, .some): return false
            default: break
            }
            let (x, y) = (a.model.footprint?.bytes.bytes ?? 0, b.model.footprint?.bytes.bytes ?? 0)
            if x != y { return a.scores[capability] != nil ? x < y : x > y }
            return a.model.name < b.model.name
        }
    }

    /// `7`, `7.5`.
    static func number(_ value: Double) -> String {
        value == value.rounded() ? String(Int(value)) : String(value)
    }

    /// `text` as a double-quoted YAML scalar.
    static func quote(_ text: String) -> String {
        "\"" + text.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"") + "\""
    }

    private static func oneLine(_ text: String) -> String {
        text.split(whereSeparator: \.isNewline).joined(separator: " ")
    }
}
