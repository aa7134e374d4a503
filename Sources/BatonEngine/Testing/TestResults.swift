import BatonSpec
import Foundation

/// How `baton test` runs cases.
public struct TestOptions: Sendable {
    /// Where the cases' models come from.
    public enum Mode: Sendable, Hashable {
        /// The built-in echo runtime for every stage (deterministic, for CI).
        case echo
        /// The real models of a profile: the one named, else the test file's `profile:`, else the default.
        case profile(String?)
        /// The answers recorded with ``TestOptions/record``, from the run database; nothing contacts a runtime.
        case replay
    }

    /// Where the models come from.
    public var mode: Mode = .echo
    /// The profile of echo and replay runs (default: the test file's for replay, else as `baton run` chooses).
    public var profileName: String? = nil
    /// Repetitions of each case (real-model and replay runs; echo runs once).
    public var repeatCount = 1
    /// A case passes when passes / repetitions is at least this.
    public var minPassRate = 1.0
    /// With ``Mode/profile(_:)``: keep every answer as a cassette for ``Mode/replay``.
    public var record = false
    /// With ``Mode/echo``: write each case's stage outputs as its snapshot instead of comparing them.
    public var updateSnapshots = false
    /// Bench: every stage of role R runs on model M (role → model).
    public var roleModels: [String: String] = [:]
    /// Only the cases whose name contains this (`--case`).
    public var caseFilter: String? = nil
    /// The run database (nil: the workspace default, as `baton run` opens it).
    public var database: String? = nil
    /// Trust the project folders for this invocation (`--trust`): discovery may ask every runtime.
    public var trusted = false
    /// What every run does with its models at its end, over the profile's `after_run` (nil: the profile's). The bench
    /// keeps them: its repetitions measure the model, not a reload each.
    public var afterRun: AfterRunPolicy? = nil

    /// Echo mode, one repetition, every case.
    public init() {}
}

/// A test file as loaded: the decoded suite, its pipeline, and every problem found in either.
public struct LoadedTestFile: Sendable {
    /// The test file's path as given or found.
    public var path: String
    /// The decoded suite (empty when the file could not be decoded).
    public var suite: TestSuiteSpec
    /// The pipeline file the cases run (absolute).
    public var pipelinePath: String
    /// The test file, its pipeline and prompt files, by displayed path, for printing diagnostics.
    public var sources: [String: SourceFile]
    /// Problems in the test file and in its pipeline; any error makes the file invalid (exit 65).
    public var diagnostics: [Diagnostic]

    /// Whether the file can run (no errors).
    public var isValid: Bool { !diagnostics.hasErrors }

    /// Creates a loaded file.
    public init(path: String, suite: TestSuiteSpec, pipelinePath: String, sources: [String: SourceFile], diagnostics: [Diagnostic]) {
        self.path = path
        self.suite = suite
        self.pipelinePath = pipelinePath
        self.sources = sources
        self.diagnostics = diagnostics
    }
}

/// How a case, a repetition or an assertion ended.
public enum TestStatus: String, Sendable, Codable, Hashable {
    /// Every expectation held.
    case passed
    /// An expectation did not hold.
    case failed
    /// The case could not be judged: a runtime was unavailable, the run could not start, a judge model was down.
    case error
    /// Not run or not evaluated (`skip:`, `judge` on the echo runtime).
    case skipped
}

/// One assertion's verdict on one repetition.
public struct AssertionResult: Sendable, Codable, Hashable {
    /// The assertion's key (`contains`, `json-path`, ...), `snapshot` for a snapshot comparison, `run` for the run's outcome.
    public var name: String
    /// The stage it looked at; nil for the whole run.
    public var stage: String?
    /// `error`: could not be evaluated (the judge's model is down); `skipped`: `judge` on the echo runtime.
    public var status: TestStatus
    /// What was found, as a sentence (`stage 'plan' does not contain 'handler'`).
    public var message: String
    /// A unified diff (`equals`, `snapshot`) or an expected/actual block.
    public var diff: String? = nil
    /// The similarity or the judge's score.
    public var score: Double? = nil
    /// Where the assertion is written (`pipelines/x.test.yaml:12:9`).
    public var location: String? = nil

    /// Creates a result.
    public init(
        name: String, stage: String?, status: TestStatus, message: String, diff: String? = nil, score: Double? = nil,
        location: String? = nil
    ) {
        self.name = name
        self.stage = stage
        self.status = status
        self.message = message
        self.diff = diff
        self.score = score
        self.location = location
    }
}

/// One run of a case.
public struct TestRepetition: Sendable, Codable, Hashable {
    /// The run in the store (`baton show ID`); nil when no run was created.
    public var runID: String?
    /// Passed when every assertion passed or was skipped; error when the run could not be judged.
    public var status: TestStatus
    /// Why the repetition is an error.
    public var error: String?
    /// Every assertion's result, in the file's order, then `snapshot`s, then `run`.
    public var assertions: [AssertionResult]
    /// Wall time of the run.
    public var seconds: Double
    /// Tokens over every attempt of the run.
    public var promptTokens: Int
    public var outputTokens: Int
    /// The runtimes' own speed: output tokens over generation milliseconds, summed over the attempts that report both.
    public var generationTokensPerSecond: Double?
    /// Median time to first token over the run's model attempts, in milliseconds.
    public var timeToFirstTokenMs: Double?

    /// Creates a repetition.
    public init(
        runID: String?, status: TestStatus, error: String? = nil, assertions: [AssertionResult], seconds: Double, promptTokens: Int = 0,
        outputTokens: Int = 0, generationTokensPerSecond: Double? = nil, timeToFirstTokenMs: Double? = nil
    ) {
        self.runID = runID
        self.status = status
        self.error = error
        self.assertions = assertions
        self.seconds = seconds
        self.promptTokens = promptTokens
        self.outputTokens = outputTokens
        self.generationTokensPerSecond = generationTokensPerSecond
        self.timeToFirstTokenMs = timeToFirstTokenMs
    }
}

/// One case of one test file on one variant, over its repetitions.
public struct TestCaseResult: Sendable, Codable, Hashable {
    /// The test file (as loaded).
    public var file: String
    /// The pipeline's name.
    public var pipeline: String
    /// The case's name.
    public var name: String
    /// `echo`, `replay`, or the models used, sorted (`gemma-3-270m`; with role models `executor=b planner=a`).
    public var variant: String
    /// Passed iff passRate >= the minimum; error when every repetition errored; skipped for `skip:`, or when every
    /// assertion but the run's outcome was skipped in every repetition (a `judge` on echo).
    public var status: TestStatus
    /// Passed repetitions over all repetitions (0 for a skipped case).
    public var passRate: Double
    /// Every repetition, in order.
    public var repetitions: [TestRepetition]
    /// The case's `skip:` reason, or the skipped assertion that made it skipped.
    public var skipReason: String?

    /// Creates a case result.
    public init(
        file: String, pipeline: String, name: String, variant: String, status: TestStatus, passRate: Double,
        repetitions: [TestRepetition], skipReason: String? = nil
    ) {
        self.file = file
        self.pipeline = pipeline
        self.name = name
        self.variant = variant
        self.status = status
        self.passRate = passRate
        self.repetitions = repetitions
        self.skipReason = skipReason
    }
}

/// Every case's result and the counts the console's last line prints.
public struct TestReport: Sendable, Codable {
    /// Every case, in file order then case order.
    public var cases: [TestCaseResult]
    /// Cases by status.
    public var passed: Int
    public var failed: Int
    public var errors: Int
    public var skipped: Int
    /// Wall time of the whole test run.
    public var seconds: Double

    /// A report over `cases`, counting them.
    public init(cases: [TestCaseResult], seconds: Double) {
        self.cases = cases
        self.seconds = seconds
        passed = cases.count { $0.status == .passed }
        failed = cases.count { $0.status == .failed }
        errors = cases.count { $0.status == .error }
        skipped = cases.count { $0.status == .skipped }
    }

    /// Whether every case passed or was skipped.
    public var allPassed: Bool { failed == 0 && errors == 0 }

    /// The report as JSON with sorted keys (stable across runs but for times and run ids).
    public func jsonData(pretty: Bool = true) throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting =
            pretty ? [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes] : [.sortedKeys, .withoutEscapingSlashes]
        return try encoder.encode(self)
    }
}

/// Progress as cases run, for the console.
public enum TestEvent: Sendable {
    /// A repetition of a case is about to run (repetition from 1).
    case caseStarted(file: String, name: String, repetition: Int, of: Int)
    /// A case finished every repetition (or was skipped).
    case caseFinished(TestCaseResult)
}
