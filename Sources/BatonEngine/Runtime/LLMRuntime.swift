import BatonSpec

/// One generation asked of a runtime: the model, the rendered messages and the sampling settings.
public struct GenerationRequest: Sendable, Hashable {
    /// The model's name as its runtime knows it.
    public var model: String
    /// The rendered system message, if any.
    public var system: String?
    /// The rendered prompt.
    public var prompt: String
    /// Sampling and load-time settings (temperature, top_p, top_k, max_tokens, seed, stop, num_ctx).
    public var settings: StageSettings
    /// When set, the output must be JSON matching this schema (critic verdicts, JSON stages).
    public var responseSchema: JSONValue?
    /// The stage asking, for runtimes that script answers per stage (the echo runtime).
    public var stage: String
    /// The round of the stage within its critic loop, from 1.
    public var round: Int
    /// The fan-out item (from 0) of the stage asking, for the echo runtime's script and call log; nil outside fan-out.
    public var item: Int? = nil
    /// Tools offered to the model natively (Ollama/OpenAI/Anthropic `tools`); nil offers none.
    public var tools: [ToolDefinition]? = nil
    /// The turns after the prompt in a tool loop: the model's calls and the tools' results, in order.
    public var history: [ChatTurn] = []

    /// Creates a request.
    public init(
        model: String, system: String?, prompt: String, settings: StageSettings, responseSchema: JSONValue?,
        stage: String, round: Int
    ) {
        self.model = model
        self.system = system
        self.prompt = prompt
        self.settings = settings
        self.responseSchema = responseSchema
        self.stage = stage
        self.round = round
    }
}

/// What a runtime streams back: text as it arrives, then the usage once.
public enum GenerationEvent: Sendable, Hashable {
    /// A piece of output text.
    case token(String)
    /// A piece of the model's thinking (Ollama `message.thinking`, Anthropic thinking blocks): recorded
    /// apart from the answer, never part of the stage's output.
    case thinking(String)
    /// Something the client changed or noticed about this request that the user should see (a setting the
    /// model does not accept was dropped); recorded as a `runtime-notice` event.
    case notice(RuntimeNotice)
    /// The model asked for one tool call; sent once per complete call, before `finished`.
    case toolCall(ToolCall)
    /// The generation ended; what it used, and why it stopped.
    case finished(GenerationUsage)
}

/// A tool the model may call: its name, what it does, and the JSON Schema of its arguments.
public struct ToolDefinition: Sendable, Hashable {
    /// The name the model calls it by.
    public var name: String
    /// What the tool does, for the model.
    public var description: String
    /// The JSON Schema (an object schema) of its arguments.
    public var parameters: JSONValue

    /// Creates a tool definition.
    public init(name: String, description: String, parameters: JSONValue) {
        self.name = name
        self.description = description
        self.parameters = parameters
    }
}

/// One call a model asked for.
public struct ToolCall: Sendable, Hashable {
    /// The runtime's id for the call (OpenAI `call_...`, Anthropic `toolu_...`); nil where the runtime gives none (Ollama).
    public var id: String?
    /// The tool's name, as the model wrote it (it may name no offered tool).
    public var name: String
    /// The arguments as JSON text, as the model wrote them (they may not be valid JSON).
    public var argumentsJSON: String

    /// Creates a tool call.
    public init(id: String?, name: String, argumentsJSON: String) {
        self.id = id
        self.name = name
        self.argumentsJSON = argumentsJSON
    }
}

/// A turn after the prompt in a tool loop.
public enum ChatTurn: Sendable, Hashable {
    /// What the model answered: its text and the calls it asked for.
    case assistant(text: String, calls: [ToolCall])
    /// A tool's result for one call (`callID` echoes ``ToolCall/id``), or the error it met.
    case toolResult(callID: String?, name: String, content: String, isError: Bool)
    /// A plain user message: how `tool_mode: json` feeds results back, since a chat template without tool
    /// support (Gemma's) knows only user and model turns.
    case user(String)
}

/// A warning from a runtime client about one request: what happened and to which setting.
public struct RuntimeNotice: Sendable, Hashable, Codable {
    /// A stable kebab-case code (`setting-dropped`, `thinking-used-budget`).
    public var code: String
    /// A full sentence for the user that names the model, the setting and what to change.
    public var message: String

    /// Creates a notice.
    public init(code: String, message: String) {
        self.code = code
        self.message = message
    }
}

/// Why a generation stopped, as the runtime said it, sorted into what Baton does about it.
public struct FinishReason: Sendable, Hashable, Codable {
    /// What the stop means for the stage.
    public enum Kind: String, Sendable, Hashable, Codable {
        /// The model ended its answer (`stop`, `end_turn`, `stop_sequence`, a tool call for structured output).
        case complete
        /// The answer was cut at the token limit (`length`, `max_tokens`): for critics and JSON stages an error.
        case truncated
        /// The model refused to answer (OpenAI `refusal`, Anthropic `stop_reason: refusal`): a permanent error.
        case refused
        /// The provider's content filter stopped the answer (OpenAI `content_filter`): a permanent error.
        case filtered
        /// The context window filled up (Anthropic `model_context_window_exceeded`).
        case contextExceeded = "context-exceeded"
    }

    /// What the stop means.
    public var kind: Kind
    /// The runtime's own word for it (`stop`, `length`, `max_tokens`, `refusal`, ...).
    public var raw: String
    /// The refusal's text, or other detail the runtime gave.
    public var detail: String?

    /// Creates a finish reason.
    public init(_ kind: Kind, raw: String, detail: String? = nil) {
        self.kind = kind
        self.raw = raw
        self.detail = detail
    }
}

/// Token counts and the runtime's own timings for one generation.
public struct GenerationUsage: Sendable, Hashable, Codable {
    /// Tokens in the prompt, as the runtime counted them.
    public var promptTokens: Int?
    /// Tokens generated.
    public var outputTokens: Int?
    /// The runtime's own timings in milliseconds, by name (`load`, `prompt`, `generation`).
    public var runtimeTimings: [String: Double]
    /// Why the generation stopped, when the runtime said (nil: it did not say, treated as complete).
    public var finish: FinishReason?
    /// Of `outputTokens`, how many were thinking, when the runtime says.
    public var thinkingTokens: Int?

    /// Creates a usage record.
    public init(
        promptTokens: Int? = nil, outputTokens: Int? = nil, runtimeTimings: [String: Double] = [:], finish: FinishReason? = nil,
        thinkingTokens: Int? = nil
    ) {
        self.promptTokens = promptTokens
        self.outputTokens = outputTokens
        self.runtimeTimings = runtimeTimings
        self.finish = finish
        self.thinkingTokens = thinkingTokens
    }
}

/// A model server Baton can generate with.
public protocol LLMRuntime: Sendable {
    /// Streams one generation. Cancelling the consuming task cancels the request (the connection closes).
    ///
    /// - Throws: (through the stream) ``RuntimeError``; `isTransient` says whether a retry may succeed.
    func generate(_ request: GenerationRequest) -> AsyncThrowingStream<GenerationEvent, any Error>

    /// Whether `generate`'s stream fails by itself with a transient `.timeout` error once the stage's timeout
    /// (`request.settings.timeout`) has passed. When it does not, the executor races the stream against a clock.
    var enforcesTimeout: Bool { get }

    /// The whole answer at once, when the runtime knows it without waiting (the echo runtime without delays), so the
    /// executor takes its events without a stream and a producer task; nil: read ``generate(_:)``'s stream.
    func immediateEvents(_ request: GenerationRequest) -> Result<[GenerationEvent], any Error>?
}

extension LLMRuntime {
    /// A runtime does not enforce the stage timeout unless it says so.
    public var enforcesTimeout: Bool { false }
    /// Answers come through the stream.
    public func immediateEvents(_ request: GenerationRequest) -> Result<[GenerationEvent], any Error>? { nil }
}

/// A runtime failure, with a code that says whether retrying makes sense.
public struct RuntimeError: Error, Sendable, Hashable, CustomStringConvertible {
    /// What went wrong; codes are static members so new ones can be added without breaking callers.
    public struct Code: Sendable, Hashable, CustomStringConvertible {
        private let name: String
        private init(_ name: String) { self.name = name }
        public var description: String { name }

        /// The runtime could not be reached (connection refused, DNS, reset before a reply).
        public static let unreachable = Code("unreachable")
        /// The attempt took longer than its timeout.
        public static let timeout = Code("timeout")
        /// The runtime answered with an HTTP error status.
        public static let httpStatus = Code("http-status")
        /// The runtime's answer could not be understood, or broke off mid-stream.
        public static let badResponse = Code("bad-response")
        /// The runtime does not have the model.
        public static let modelNotFound = Code("model-not-found")
        /// The model did not fit in memory.
        public static let outOfMemory = Code("out-of-memory")
        /// The model's output was not what the stage asked for (malformed JSON, a verdict that is neither approve nor revise).
        public static let invalidOutput = Code("invalid-output")
        /// A failure injected on purpose (echo runtime scripts).
        public static let injected = Code("injected")
        /// The answer was cut at `max_tokens` where a cut answer is useless (critics, JSON stages).
        public static let truncated = Code("truncated")
        /// The model refused, or the provider's content filter stopped the answer.
        public static let refused = Code("refused")
        /// The prompt does not fit the stage's context window (`num_ctx`).
        public static let contextExceeded = Code("context-exceeded")
        /// The runtime asked to wait longer before a retry than Baton obeys (`Retry-After` above the cap).
        public static let retryTooLate = Code("retry-too-late")
    }

    /// What went wrong.
    public var code: Code
    /// A full sentence for the user.
    public var message: String
    /// Whether a retry may succeed (connection refused, 503, a reset mid-stream, a timeout).
    public var isTransient: Bool
    /// Seconds the runtime asked to wait before a retry (HTTP `Retry-After`), if it said.
    public var retryAfter: Double?

    /// Creates an error.
    public init(_ code: Code, _ message: String, isTransient: Bool) {
        self.code = code
        self.message = message
        self.isTransient = isTransient
    }

    public var description: String { message }
}
