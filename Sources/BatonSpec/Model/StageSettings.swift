/// Model and sampling settings that a stage, a pipeline's `defaults`, a profile role or a profile's
/// `defaults` can set. Unset values are nil and fall through to the next layer.
public struct StageSettings: Sendable, Hashable, Codable {
    /// The model, or a fallback chain tried in order.
    public var model: [ModelReference]?
    /// The runtime for models the registry does not place.
    public var runtime: String?
    /// Sampling temperature, 0 to 2.
    public var temperature: Double?
    /// Nucleus sampling, greater than 0 and at most 1.
    public var topP: Double?
    /// Top-k sampling, at least 1.
    public var topK: Int?
    /// Output tokens at most.
    public var maxTokens: Int?
    /// Sampling seed.
    public var seed: Int?
    /// Stop sequences.
    public var stop: [String]?
    /// Context window in tokens (a load-time setting).
    public var numCtx: Int?
    /// Seconds one attempt may take.
    public var timeout: Double?
    /// Retries of transient runtime errors.
    public var retry: RetryPolicy?
    /// Whether a thinking model thinks before it answers (Ollama `think`); unset means off, sent explicitly.
    public var think: ThinkSetting?

    /// The keys as written in files, in file order.
    public enum CodingKeys: String, CodingKey, CaseIterable {
        case model, runtime, temperature
        case topP = "top_p"
        case topK = "top_k"
        case maxTokens = "max_tokens"
        case seed, stop
        case numCtx = "num_ctx"
        case timeout, retry, think
    }

    /// Creates settings; every value defaults to unset.
    public init(
        model: [ModelReference]? = nil, runtime: String? = nil, temperature: Double? = nil, topP: Double? = nil,
        topK: Int? = nil, maxTokens: Int? = nil, seed: Int? = nil, stop: [String]? = nil, numCtx: Int? = nil,
        timeout: Double? = nil, retry: RetryPolicy? = nil, think: ThinkSetting? = nil
    ) {
        self.model = model
        self.runtime = runtime
        self.temperature = temperature
        self.topP = topP
        self.topK = topK
        self.maxTokens = maxTokens
        self.seed = seed
        self.stop = stop
        self.numCtx = numCtx
        self.timeout = timeout
        self.retry = retry
        self.think = think
    }

    /// These settings, with every unset value taken from `lower`.
    public func overriding(_ lower: StageSettings) -> StageSettings {
        StageSettings(
            model: model ?? lower.model, runtime: runtime ?? lower.runtime,
            temperature: temperature ?? lower.temperature, topP: topP ?? lower.topP, topK: topK ?? lower.topK,
            maxTokens: maxTokens ?? lower.maxTokens, seed: seed ?? lower.seed, stop: stop ?? lower.stop,
            numCtx: numCtx ?? lower.numCtx, timeout: timeout ?? lower.timeout, retry: retry ?? lower.retry,
            think: think ?? lower.think
        )
    }

    /// These settings without the values they share with `inherited`: `removing(inherited).overriding(inherited)`
    /// gives them back whenever they were made by `overriding(inherited)`.
    public func removing(_ inherited: StageSettings) -> StageSettings {
        func unless<Value: Equatable>(_ value: Value?, _ base: Value?) -> Value? { value == base ? nil : value }
        return StageSettings(
            model: unless(model, inherited.model), runtime: unless(runtime, inherited.runtime),
            temperature: unless(temperature, inherited.temperature), topP: unless(topP, inherited.topP),
            topK: unless(topK, inherited.topK), maxTokens: unless(maxTokens, inherited.maxTokens), seed: unless(seed, inherited.seed),
            stop: unless(stop, inherited.stop), numCtx: unless(numCtx, inherited.numCtx), timeout: unless(timeout, inherited.timeout),
            retry: unless(retry, inherited.retry), think: unless(think, inherited.think)
        )
    }

}

/// Whether a thinking model (qwen3, deepseek-r1, gpt-oss) thinks before it answers: `false` / `true`, or an
/// effort for models that take one (`low`, `medium`, `high`: gpt-oss).
public enum ThinkSetting: String, Sendable, Hashable, Codable, CaseIterable {
    case off, on, low, medium, high

    /// Whether thinking is on at all.
    public var isOn: Bool { self != .off }

    /// Reads the written form: a YAML boolean or one of the names.
    public init?(written text: String) {
        switch text.lowercased() {
        case "false", "off", "no": self = .off
        case "true", "on", "yes": self = .on
        default:
            guard let value = ThinkSetting(rawValue: text.lowercased()) else { return nil }
            self = value
        }
    }
}

/// A model named by a stage: the model's name, optionally pinned to a runtime (`openai:gpt-4o-mini`).
public struct ModelReference: Sendable, Hashable, Codable, CustomStringConvertible {
    /// The text as written in the file.
    public var text: String

    /// Creates a reference from its written form.
    public init(_ text: String) { self.text = text }

    public var description: String { text }

    /// Splits `RUNTIME:MODEL` when RUNTIME is one of `runtimes`; otherwise the whole text is the model name.
    public func split(knownRuntimes runtimes: Set<String>) -> (runtime: String?, model: String) {
        if let colon = text.firstIndex(of: ":") {
            let prefix = String(text[..<colon])
            if runtimes.contains(prefix) {
                return (prefix, String(text[text.index(after: colon)...]))
            }
        }
        return (nil, text)
    }

    public init(from decoder: any Decoder) throws {
        text = try decoder.singleValueContainer().decode(String.self)
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(text)
    }
}

/// How transient runtime errors are retried: exponential backoff with jitter.
public struct RetryPolicy: Sendable, Hashable, Codable {
    /// Attempts in all, including the first (1 means no retry).
    public var maxAttempts: Int
    /// Seconds before the first retry.
    public var initialBackoff: Double
    /// Seconds between retries at most.
    public var maxBackoff: Double
    /// Growth of the delay from one retry to the next.
    public var multiplier: Double

    /// The defaults used for keys a file leaves out.
    public static let `default` = RetryPolicy(maxAttempts: 3, initialBackoff: 1, maxBackoff: 30, multiplier: 2)

    /// The keys as written in files.
    public enum CodingKeys: String, CodingKey, CaseIterable {
        case maxAttempts = "max_attempts"
        case initialBackoff = "initial_backoff"
        case maxBackoff = "max_backoff"
        case multiplier
    }

    /// Creates a policy.
    public init(maxAttempts: Int, initialBackoff: Double, maxBackoff: Double, multiplier: Double) {
        self.maxAttempts = maxAttempts
        self.initialBackoff = initialBackoff
        self.maxBackoff = maxBackoff
        self.multiplier = multiplier
    }
}
