/// A pipeline test file as decoded (`NAME.test.yaml`, docs/test-format.md).
public struct TestSuiteSpec: Sendable, Hashable {
    /// The pipeline as written, relative to the test file's folder; nil: `NAME.yaml` beside the test file.
    public var pipeline: String?
    /// Where `pipeline:` is written, for a pipeline that cannot be found.
    public var pipelineLocation: SourceLocation?
    /// The profile real-model runs use when `--profile` is not given.
    public var profile: String?
    /// The cases, in file order.
    public var cases: [TestCaseSpec]

    /// Creates a suite.
    public init(pipeline: String? = nil, pipelineLocation: SourceLocation? = nil, profile: String? = nil, cases: [TestCaseSpec]) {
        self.pipeline = pipeline
        self.pipelineLocation = pipelineLocation
        self.profile = profile
        self.cases = cases
    }
}

/// One case of a test file: inputs, an optional echo script, assertions.
public struct TestCaseSpec: Sendable, Hashable {
    /// The case's name, unique in its file.
    public var name: String
    /// `expect: failed`: the run is expected to fail.
    public var expectFailure: Bool
    /// What the case is for.
    public var description: String?
    /// Where the case's `name` value is.
    public var location: SourceLocation?
    /// Input values as text, as `--input k=v` gives them.
    public var inputs: [String: String]
    /// Where each input's key is written.
    public var inputLocations: [String: SourceLocation]
    /// The case's inline echo script; nil when absent.
    public var echo: EchoScriptSpec?
    /// The assertions, in file order.
    public var assertions: [TestAssertion]
    /// Why the case is skipped; nil when it runs.
    public var skip: String?

    /// Creates a case.
    public init(
        name: String, expectFailure: Bool = false, description: String? = nil, location: SourceLocation? = nil,
        inputs: [String: String] = [:], inputLocations: [String: SourceLocation] = [:], echo: EchoScriptSpec? = nil,
        assertions: [TestAssertion] = [], skip: String? = nil
    ) {
        self.name = name
        self.expectFailure = expectFailure
        self.description = description
        self.location = location
        self.inputs = inputs
        self.inputLocations = inputLocations
        self.echo = echo
        self.assertions = assertions
        self.skip = skip
    }
}

/// One assertion of a case: a kind with its expectation, and the stage it looks at.
public struct TestAssertion: Sendable, Hashable {
    /// The stage (or critic) it looks at; nil: the pipeline's output stage, or the whole run.
    public var stage: String?
    /// Where the `stage` value is written.
    public var stageLocation: SourceLocation?
    /// What the assertion is for, printed with its result.
    public var description: String?
    /// Where the assertion key is written.
    public var location: SourceLocation?
    /// Where each name of a `stages-run` or `stages-skipped` list is written, in list order.
    public var itemLocations: [SourceLocation] = []
    /// What is asserted.
    public var kind: Kind
    /// The YAML key: `contains`, `json-path`, ...
    public var name: String

    /// What an assertion checks (docs/test-format.md, "Assertions").
    public enum Kind: Sendable, Hashable {
        /// The output equals the value (text: the text; JSON: compared as JSON).
        case equals(JSONValue)
        /// The output contains every string.
        case contains([String])
        /// The output contains every string, ignoring case.
        case icontains([String])
        /// The output contains none of the strings.
        case notContains([String])
        /// The pattern (NSRegularExpression) matches somewhere in the output.
        case regex(String)
        /// The output parses as JSON, valid against the schema when one is given.
        case isJSON(schema: JSONValue?)
        /// The values the path selects meet the expectation.
        case jsonPath(JSONPath, JSONPathExpectation)
        /// Output tokens of the stage (all its attempts), else of the whole run, at most this.
        case maxTokens(Int)
        /// Wall time of the stage, else of the run, at most this.
        case maxLatency(seconds: Double)
        /// The critic loop's rounds are within these bounds.
        case criticRounds(min: Int?, max: Int?)
        /// Exactly these stages completed, in order of first completion.
        case stagesRun([String])
        /// These stages were skipped.
        case stagesSkipped([String])
        /// Cosine similarity of the output's and `to`'s embeddings is at least `threshold`.
        case similar(to: String, threshold: Double, model: String?)
        /// A model scores the output against the rubric at least `minScore` (0 to 1).
        case judge(rubric: String, minScore: Double, model: String?)

        /// The YAML key of the kind.
        public var key: String {
            switch self {
            case .equals: "equals"
            case .contains: "contains"
            case .icontains: "icontains"
            case .notContains: "not-contains"
            case .regex: "regex"
            case .isJSON: "is-json"
            case .jsonPath: "json-path"
            case .maxTokens: "max-tokens"
            case .maxLatency: "max-latency"
            case .criticRounds: "critic-rounds"
            case .stagesRun: "stages-run"
            case .stagesSkipped: "stages-skipped"
            case .similar: "similar"
            case .judge: "judge"
            }
        }

        /// Whether it looks at a stage's output (and so needs one output stage when `stage` is not given).
        public var isOutputAssertion: Bool {
            switch self {
            case .equals, .contains, .icontains, .notContains, .regex, .isJSON, .jsonPath, .similar, .judge: true
            case .maxTokens, .maxLatency, .criticRounds, .stagesRun, .stagesSkipped: false
            }
        }
    }

    /// Every assertion key, in the order the docs list them.
    public static let keys = [
        "equals", "contains", "icontains", "not-contains", "regex", "is-json", "json-path", "max-tokens", "max-latency",
        "critic-rounds", "stages-run", "stages-skipped", "similar", "judge",
    ]

    /// Creates an assertion; `name` is the kind's key.
    public init(
        _ kind: Kind, stage: String? = nil, stageLocation: SourceLocation? = nil, description: String? = nil,
        location: SourceLocation? = nil
    ) {
        self.kind = kind
        self.stage = stage
        self.stageLocation = stageLocation
        self.description = description
        self.location = location
        self.name = kind.key
    }
}

/// A decoded test file: the suite, and what was wrong with the file.
public struct TestDocument: Sendable {
    /// The file it came from.
    public var file: SourceFile
    /// The decoded suite; nil when the file is too broken to decode (not YAML, not a mapping).
    public var spec: TestSuiteSpec?
    /// Problems found while decoding.
    public var diagnostics: [Diagnostic]

    /// Creates a document.
    public init(file: SourceFile, spec: TestSuiteSpec?, diagnostics: [Diagnostic]) {
        self.file = file
        self.spec = spec
        self.diagnostics = diagnostics
    }
}
