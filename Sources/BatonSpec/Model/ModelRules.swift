import Foundation

/// What current cloud model families accept of a stage's sampling settings, so that a setting a model
/// refuses is left out of the request (with a warning) instead of failing every run with HTTP 400.
/// `validate` reports the same refusals as `runtime-limit` warnings; the OpenAI and Anthropic clients
/// apply them and say so with a `setting-dropped` notice.
///
/// The table, with its evidence (the cloud fidelity study of issue 9, findings A1, A2, A12):
///
/// | Family | Runtime kinds | Rule | Evidence |
/// |---|---|---|---|
/// | Claude 4 and later (`claude-opus-4*`, `claude-sonnet-4*`, `claude-haiku-4*`, later majors) | anthropic, openai | `temperature` or `top_p`, not both: `top_p` is dropped | 400 "`temperature` and `top_p` cannot both be specified for this model" (BerriAI/litellm#15097) |
/// | any model on Anthropic | anthropic | `temperature` 0 to 1: a higher one is dropped (the default, 1, applies) | Messages API reference, "temperature: range 0..1" |
/// | OpenAI reasoning models (`o1*`, `o3*`, `o4*`, `gpt-5*` except `gpt-5*-chat*`) | openai | only the default `temperature` and `top_p` (1): others are dropped | 400 "Only the default (1) value is supported" (tmc/langchaingo#1355) |
/// | OpenAI reasoning models | openai | no `stop`: dropped | openai-openapi `spec:63253-63256` names o3 and o4-mini; applied to the family |
/// | OpenAI reasoning models | openai | `max_completion_tokens`, never `max_tokens` (``usesMaxCompletionTokens(_:)``) | `spec:33146-33150`, `spec:33373-33390` |
/// | OpenAI models (`gpt-*` but `gpt-oss*`, `chatgpt-*`, `o<digit>*`) | openai | at most 4 `stop` sequences: the first 4 are sent | `StopConfiguration` `maxItems: 4` (`spec:63268-63270`) |
///
/// Model names are matched after any `provider/` prefix, case-insensitively. The table is as of the
/// fidelity study (OpenAI spec at f85dbe22, Anthropic SDK 0.121.0); a model family not listed is sent
/// every setting as before.
public enum ModelRules {
    /// The families the table distinguishes.
    public enum Family: String, Sendable, Hashable {
        /// Claude 4 and later: `temperature` or `top_p`, not both.
        case claude
        /// Claude 3.x and older.
        case claudeLegacy
        /// OpenAI's reasoning models: o1, o3, o4-mini, the GPT-5 family.
        case openAIReasoning
        /// Other OpenAI chat models (gpt-4.1, gpt-4o, ...).
        case openAIChat
        /// Anything else: no rules beyond the runtime's own.
        case other
    }

    /// One setting a model does not accept, and what is sent instead.
    public struct Refusal: Sendable, Hashable {
        /// The setting's key as written in files (`temperature`, `top_p`, `stop`).
        public var setting: String
        /// The value the stage resolved, as text.
        public var value: String
        /// What the model accepts, as a phrase after the model's name ("takes temperature or top_p, not both").
        public var rule: String
        /// What Baton sends instead, as a phrase ("leaves top_p out of the request").
        public var action: String

        /// The sentence for `validate` and for the client's notice: names the stage, the model, the setting and
        /// the value, and says what to change.
        public func message(stage: String, model: String) -> String {
            "stage '\(stage)' sets \(setting) \(value), but model '\(model)' \(rule); Baton \(action), so remove or change \(setting) for this stage"
        }
    }

    /// The family of `model`, by name.
    public static func family(of model: String) -> Family {
        let name = baseName(model)
        if let major = claudeMajor(name) { return major >= 4 ? .claude : .claudeLegacy }
        if isOpenAIReasoning(name) { return .openAIReasoning }
        if name.hasPrefix("gpt-oss") { return .other }
        if name.hasPrefix("gpt-") || name.hasPrefix("chatgpt-") { return .openAIChat }
        return .other
    }

    /// Whether `model` takes its output limit as `max_completion_tokens` only (OpenAI reasoning models),
    /// whatever the endpoint.
    public static func usesMaxCompletionTokens(_ model: String) -> Bool {
        family(of: model) == .openAIReasoning
    }

    /// `settings` without what `model` on a runtime of `kind` refuses, and the refusals, in the order
    /// temperature, top_p, stop.
    public static func apply(model: String, kind: RuntimeSpec.Kind?, settings: StageSettings) -> (
        settings: StageSettings, refusals: [Refusal]
    ) {
        guard let kind, kind == .anthropic || kind == .openai else { return (settings, []) }
        var sent = settings
        var refusals: [Refusal] = []
        let family = family(of: model)
        let reasoning = kind == .openai && family == .openAIReasoning

        if kind == .anthropic, let temperature = sent.temperature, temperature > 1 {
            refusals.append(
                Refusal(
                    setting: "temperature", value: "\(temperature)", rule: "runs on Anthropic, which accepts 0 to 1",
                    action: "leaves temperature out of the request (the model's default, 1, applies)"))
            sent.temperature = nil
        }
        if reasoning, let temperature = sent.temperature, temperature != 1 {
            refusals.append(
                Refusal(
                    setting: "temperature", value: "\(temperature)",
                    rule: "is an OpenAI reasoning model, which takes only the default temperature (1)",
                    action: "leaves temperature out of the request"))
            sent.temperature = nil
        }
        if reasoning, let topP = sent.topP, topP != 1 {
            refusals.append(
                Refusal(
                    setting: "top_p", value: "\(topP)", rule: "is an OpenAI reasoning model, which takes only the default top_p (1)",
                    action: "leaves top_p out of the request"))
            sent.topP = nil
        }
        if family == .claude, sent.temperature != nil, let topP = sent.topP {
            refusals.append(
                Refusal(
                    setting: "top_p", value: "\(topP)", rule: "takes temperature or top_p, not both (Claude 4 and later)",
                    action: "sends the temperature and leaves top_p out of the request"))
            sent.topP = nil
        }
        if reasoning, let stop = sent.stop, !stop.isEmpty {
            refusals.append(
                Refusal(
                    setting: "stop", value: list(stop), rule: "is an OpenAI reasoning model, which takes no stop sequences",
                    action: "leaves stop out of the request"))
            sent.stop = nil
        }
        if kind == .openai, family == .openAIChat || family == .openAIReasoning, let stop = sent.stop, stop.count > maxStopSequences {
            refusals.append(
                Refusal(
                    setting: "stop", value: list(stop), rule: "runs on OpenAI, which takes at most \(maxStopSequences) stop sequences",
                    action: "sends the first \(maxStopSequences)"))
            sent.stop = Array(stop.prefix(maxStopSequences))
        }
        return (sent, refusals)
    }

    /// OpenAI's `stop` takes at most this many sequences.
    public static let maxStopSequences = 4

    // MARK: - Names

    /// The lower-cased name after any `provider/` prefix.
    static func baseName(_ model: String) -> String {
        let lower = model.lowercased()
        return lower.split(separator: "/").last.map(String.init) ?? lower
    }

    /// The major version of a Claude model name: `claude-sonnet-4-5` and `claude-opus-4-1-20250805` are 4,
    /// `claude-3-5-haiku-latest` is 3; nil for names that are not Claude's.
    static func claudeMajor(_ name: String) -> Int? {
        guard let range = name.range(of: "claude-") else { return nil }
        let parts = name[range.upperBound...].split(whereSeparator: { "-.@:_".contains($0) }).map(String.init)
        guard let first = parts.first else { return nil }
        if let major = Int(first) { return major }
        if ["opus", "sonnet", "haiku"].contains(first), parts.count > 1, parts[1].count <= 2, let major = Int(parts[1]) { return major }
        return nil
    }

    /// o1, o3, o4-mini and their variants; gpt-5, gpt-5-mini, gpt-5.1 and so on, but not the chat models
    /// (`gpt-5-chat-latest`), which take sampling settings.
    static func isOpenAIReasoning(_ name: String) -> Bool {
        let characters = Array(name)
        if characters.count >= 2, characters[0] == "o", characters[1].isNumber {
            let rest = name.dropFirst(2)
            return rest.isEmpty || rest.first == "-"
        }
        if name.hasPrefix("gpt-5") {
            let rest = name.dropFirst(5)
            guard rest.isEmpty || rest.first == "-" || rest.first == "." else { return false }
            return !name.contains("-chat")
        }
        return false
    }

    static func list(_ values: [String]) -> String {
        "[" + values.map { "\"\($0)\"" }.joined(separator: ", ") + "]"
    }
}
