import BatonSpec
import Foundation

/// One row of a bench: what one candidate model measured in one role over the test cases.
public struct BenchResult: Sendable, Codable, Hashable {
    /// Where a speed figure comes from.
    public enum SpeedSource: String, Sendable, Codable, Hashable {
        /// The runtime's own timings of each call (llama-server `timings`, Ollama `*_duration`).
        case runtime
        /// Wall times Baton recorded (start, first token, finish): the runtime gave no timings.
        case wall
        /// No attempt of the role produced tokens.
        case none
    }

    /// Where the peak memory figure comes from.
    public enum MemorySource: String, Sendable, Codable, Hashable {
        /// `VmHWM` of the llama-server process serving the model on this host, read from /proc after each case.
        case vmHWM = "vmhwm"
        /// The footprint the runtime reported at load (Ollama's /api/ps), as the run store keeps it.
        case footprint
    }

    /// The role benchmarked.
    public var role: String
    /// The candidate model, as given.
    public var model: String
    /// The profile runtime serving it (nil when unknown).
    public var runtime: String?
    /// Test cases run (skipped ones left out).
    public var cases: Int
    /// Cases that passed (their pass rate reached the minimum).
    public var passed: Int
    /// Repetitions run over all cases, and how many passed, failed and errored.
    public var repetitions: Int
    public var passedRepetitions: Int
    public var errors: Int
    /// Passing repetitions over repetitions; nil when none ran.
    public var passRate: Double?
    /// Mean of the `judge` assertions' scores; nil when no judge scored.
    public var judgeScore: Double?
    /// Median time to first token over the role's attempts, ms (first token minus attempt start: loads excluded).
    public var ttftMs: Double?
    /// Prompt tokens per second: the sum of prompt tokens over the sum of prompt processing time.
    public var promptTokensPerSecond: Double?
    /// Generated tokens per second: the sum of output tokens over the sum of generation time.
    public var generationTokensPerSecond: Double?
    /// Where the two speeds come from.
    public var speedSource: SpeedSource
    /// Mean load time of the candidate before the role's stages, ms (`model-loaded` events); nil: never loaded.
    public var loadMs: Double?
    /// How many loads that mean is over.
    public var loads: Int
    /// Peak resident memory of the process serving the model, bytes; nil when it cannot be measured here.
    public var peakRSSBytes: Int64?
    /// Where ``peakRSSBytes`` comes from.
    public var memorySource: MemorySource?
    /// Tokens over the role's attempts.
    public var promptTokens: Int
    public var outputTokens: Int
    /// The runs measured (`baton show ID`).
    public var runIDs: [String]
    /// Why repetitions errored (a runtime down, a pipeline that does not compile), each once, at most three.
    public var problems: [String] = []

    enum CodingKeys: String, CodingKey {
        case role, model, runtime, cases, passed, repetitions
        case passedRepetitions = "passed_repetitions"
        case errors
        case passRate = "pass_rate"
        case judgeScore = "judge_score"
        case ttftMs = "ttft_ms"
        case promptTokensPerSecond = "prompt_tps"
        case generationTokensPerSecond = "generation_tps"
        case speedSource = "speed_source"
        case loadMs = "load_ms"
        case loads
        case peakRSSBytes = "peak_rss_bytes"
        case memorySource = "memory_source"
        case promptTokens = "prompt_tokens"
        case outputTokens = "output_tokens"
        case runIDs = "run_ids"
        case problems
    }

    /// A result for `role` and `model` with nothing measured yet.
    public init(role: String, model: String, runtime: String?) {
        self.role = role
        self.model = model
        self.runtime = runtime
        cases = 0
        passed = 0
        repetitions = 0
        passedRepetitions = 0
        errors = 0
        speedSource = .none
        loads = 0
        promptTokens = 0
        outputTokens = 0
        runIDs = []
    }

    /// The quality figure a chart and the winner use: the judge's mean score when a judge scored, else the pass rate.
    public var quality: Double? { judgeScore ?? passRate }
}

/// The figures of §6 computed from what the run store holds: pure arithmetic over attempts and events, so tests
/// can give it known rows.
public enum BenchMetrics {
    /// The speed, latency and load figures of `role`'s attempts in the runs given: `attempts` and `loadEvents` of
    /// every run, `roleStages` the stages of that role (their names in the runs' plans).
    public struct Figures: Sendable, Hashable {
        public var ttftMs: Double?
        public var promptTokensPerSecond: Double?
        public var generationTokensPerSecond: Double?
        public var speedSource: BenchResult.SpeedSource = .none
        public var loadMs: Double?
        public var loads = 0
        public var promptTokens = 0
        public var outputTokens = 0
    }

    /// Measures the completed attempts of `roleStages`: TTFT median; tok/s from the runtime's `timings` (`prompt` and
    /// `generation` ms) summed over the attempts that have them, else from wall times; mean load from the
    /// `model-loaded` events of those stages (payload `seconds`).
    public static func figures(attempts: [AttemptRecord], loadEvents: [EventRecord], roleStages: Set<String>) -> Figures {
        var figures = Figures()
        let measured = attempts.filter { roleStages.contains($0.stage) && $0.status == .completed }
        figures.promptTokens = measured.reduce(0) { $0 + ($1.promptTokens ?? 0) }
        figures.outputTokens = measured.reduce(0) { $0 + ($1.outputTokens ?? 0) }
        figures.ttftMs = median(
            measured.compactMap { attempt in attempt.firstTokenAt.map { max(0, $0 - attempt.startedAt) * 1000 } })
        var runtime = (promptTokens: 0, promptMs: 0.0, outputTokens: 0, generationMs: 0.0)
        var wall = runtime
        for attempt in measured {
            let timings = attempt.timingValues
            if let ms = timings["prompt"], ms > 0, let tokens = attempt.promptTokens {
                runtime.promptTokens += tokens
                runtime.promptMs += ms
            }
            if let ms = timings["generation"], ms > 0, let tokens = attempt.outputTokens {
                runtime.outputTokens += tokens
                runtime.generationMs += ms
            }
            // Wall times: the prompt is processed before the first token, the rest is generation.
            if let first = attempt.firstTokenAt, let finished = attempt.finishedAt {
                if let tokens = attempt.promptTokens, first > attempt.startedAt {
                    wall.promptTokens += tokens
                    wall.promptMs += (first - attempt.startedAt) * 1000
                }
                if let tokens = attempt.outputTokens, finished > first {
                    wall.outputTokens += tokens
                    wall.generationMs += (finished - first) * 1000
                }
            }
        }
        if runtime.generationMs > 0 || runtime.promptMs > 0 {
            figures.speedSource = .runtime
            figures.promptTokensPerSecond = rate(runtime.promptTokens, runtime.promptMs)
            figures.generationTokensPerSecond = rate(runtime.outputTokens, runtime.generationMs)
        } else if wall.generationMs > 0 || wall.promptMs > 0 {
            figures.speedSource = .wall
            figures.promptTokensPerSecond = rate(wall.promptTokens, wall.promptMs)
            figures.generationTokensPerSecond = rate(wall.outputTokens, wall.generationMs)
        }
        let loads = loadEvents.filter { $0.kind == .modelLoaded && $0.stage.map(roleStages.contains) == true }
            .compactMap { event -> Double? in
                guard let data = event.payload?.data(using: .utf8),
                    let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any]
                else { return nil }
                if let text = object["seconds"] as? String { return Double(text) }
                return (object["seconds"] as? NSNumber)?.doubleValue
            }
        figures.loads = loads.count
        figures.loadMs = loads.isEmpty ? nil : loads.reduce(0, +) / Double(loads.count) * 1000
        return figures
    }

    /// Tokens per second, nil without time or tokens.
    static func rate(_ tokens: Int, _ milliseconds: Double) -> Double? {
        guard milliseconds > 0, tokens > 0 else { return nil }
        return Double(tokens) / milliseconds * 1000
    }

    /// The median, nil for none; the mean of the two middle values for an even count.
    public static func median(_ values: [Double]) -> Double? {
        guard !values.isEmpty else { return nil }
        let sorted = values.sorted()
        let middle = sorted.count / 2
        return sorted.count % 2 == 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2
    }
}
