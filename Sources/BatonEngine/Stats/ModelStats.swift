import Foundation

/// Which past runs `baton stats` reads.
public struct StatsQuery: Sendable, Hashable {
    /// Only attempts started and events recorded at or after this time (seconds since 1970); nil: all.
    public var since: Double?
    /// Only runs whose resolved profile chain starts with this profile; nil: every run.
    public var profile: String?
    /// Whether attempts on the echo runtime count: they say nothing about the machine, so they are left out unless asked.
    public var includeEcho: Bool

    /// Creates a query.
    public init(since: Double? = nil, profile: String? = nil, includeEcho: Bool = false) {
        self.since = since
        self.profile = profile
        self.includeEcho = includeEcho
    }
}

/// What past runs say about one model in one role (`baton stats`).
public struct ModelRoleStats: Sendable, Hashable, Codable {
    /// The model as `runtime:name` (the runtime the attempts ran on).
    public var model: String
    /// The stage role; nil for stages without one.
    public var role: String?
    /// Runs that made at least one call.
    public var runs: Int
    /// Attempts (every try of every round, fan-out item and tool-loop turn).
    public var calls: Int
    /// Attempts that failed.
    public var failures: Int
    /// Times a stage left this model for its next fallback.
    public var fallbacks: Int
    /// Tokens over all calls that reported them.
    public var promptTokens: Int
    public var outputTokens: Int
    /// Output tokens per second of generation: from the runtime's own timings, else (``generationRateFromWallTime``)
    /// from first token to finish.
    public var generationTokensPerSecond: Double?
    /// Whether ``generationTokensPerSecond`` was measured from wall times because no call had runtime timings.
    public var generationRateFromWallTime: Bool
    /// Prompt tokens per second of prompt processing, from the runtime's own timings only.
    public var promptTokensPerSecond: Double?
    /// Median milliseconds from an attempt's start to its first token.
    public var medianTimeToFirstTokenMs: Double?
    /// Loads recorded for this model by stages of this role, and their mean seconds.
    public var loads: Int
    public var meanLoadSeconds: Double?
    /// The largest footprint a runtime measured for the model (its `model_footprints` row), in bytes.
    public var peakMemoryBytes: Int64?

    enum CodingKeys: String, CodingKey {
        case model, role, runs, calls, failures, fallbacks, loads
        case promptTokens = "prompt_tokens"
        case outputTokens = "output_tokens"
        case generationTokensPerSecond = "generation_tokens_per_second"
        case generationRateFromWallTime = "generation_rate_from_wall_time"
        case promptTokensPerSecond = "prompt_tokens_per_second"
        case medianTimeToFirstTokenMs = "median_ttft_ms"
        case meanLoadSeconds = "mean_load_seconds"
        case peakMemoryBytes = "peak_memory_bytes"
    }
}

/// `baton stats`: one row per (model, role), sorted by model then role (no role last).
public struct StatsReport: Sendable, Hashable, Codable {
    /// The rows.
    public var rows: [ModelRoleStats]
    /// Runs read (those with at least one counted call).
    public var runs: Int
}

/// One attempt as stats reads it (a row of `attempts` with its run's role for the stage).
struct StatsAttempt: Sendable, Hashable {
    var runID: String
    var key: String
    var role: String?
    var status: String
    var promptTokens: Int?
    var outputTokens: Int?
    var startedAt: Double
    var firstTokenAt: Double?
    var finishedAt: Double?
    /// The runtime's timings (`prompt`, `generation` in ms), when it gave them.
    var promptMs: Double?
    var generationMs: Double?
}

/// A load or a fallback, attributed to a model key and role.
struct StatsEvent: Sendable, Hashable {
    enum Kind: Sendable, Hashable {
        case load(seconds: Double?)
        case fallback
    }
    var key: String
    var role: String?
    var kind: Kind
}

/// The arithmetic of `baton stats`, apart from the database so it can be tested on its own.
enum StatsAggregation {
    private struct Group: Hashable {
        var key: String
        var role: String?
    }

    /// The rows for `attempts` and `events`, with peak memory from `footprints` (`runtime:name` → bytes).
    static func report(attempts: [StatsAttempt], events: [StatsEvent], footprints: [String: Int64]) -> StatsReport {
        var grouped: [Group: [StatsAttempt]] = [:]
        for attempt in attempts { grouped[Group(key: attempt.key, role: attempt.role), default: []].append(attempt) }
        var loads: [Group: [Double?]] = [:]
        var fallbacks: [Group: Int] = [:]
        for event in events {
            let group = Group(key: event.key, role: event.role)
            switch event.kind {
            case .load(let seconds): loads[group, default: []].append(seconds)
            case .fallback: fallbacks[group, default: 0] += 1
            }
        }
        // A model that only ever failed to load still had a fallback: it gets a row too.
        let groups = Set(grouped.keys).union(loads.keys).union(fallbacks.keys)
        let rows = groups.map { group in
            row(
                group.key, role: group.role, attempts: grouped[group] ?? [], loads: loads[group] ?? [],
                fallbacks: fallbacks[group] ?? 0, peak: footprints[group.key])
        }
        .sorted { ($0.model, $0.role ?? "\u{10FFFF}") < ($1.model, $1.role ?? "\u{10FFFF}") }
        return StatsReport(rows: rows, runs: Set(attempts.map(\.runID)).count)
    }

    private static func row(
        _ key: String, role: String?, attempts: [StatsAttempt], loads: [Double?], fallbacks: Int, peak: Int64?
    ) -> ModelRoleStats {
        let timed = attempts.filter { ($0.generationMs ?? 0) > 0 && $0.outputTokens != nil }
        var generationRate = rate(tokens: timed.compactMap(\.outputTokens), milliseconds: timed.compactMap(\.generationMs))
        var fromWall = false
        if generationRate == nil {
            // No runtime timings (an OpenAI-compatible cloud API): first token to finish, which also counts the network.
            let walled = attempts.filter {
                $0.status == "completed" && $0.outputTokens != nil && $0.firstTokenAt != nil && $0.finishedAt != nil
            }
            generationRate = rate(
                tokens: walled.compactMap(\.outputTokens),
                milliseconds: walled.map { (($0.finishedAt ?? 0) - ($0.firstTokenAt ?? 0)) * 1000 })
            fromWall = generationRate != nil
        }
        let prompted = attempts.filter { ($0.promptMs ?? 0) > 0 && $0.promptTokens != nil }
        let loadSeconds = loads.compactMap { $0 }
        return ModelRoleStats(
            model: key, role: role, runs: Set(attempts.map(\.runID)).count, calls: attempts.count,
            failures: attempts.filter { $0.status == "failed" }.count, fallbacks: fallbacks,
            promptTokens: attempts.compactMap(\.promptTokens).reduce(0, +), outputTokens: attempts.compactMap(\.outputTokens).reduce(0, +),
            generationTokensPerSecond: generationRate, generationRateFromWallTime: fromWall,
            promptTokensPerSecond: rate(tokens: prompted.compactMap(\.promptTokens), milliseconds: prompted.compactMap(\.promptMs)),
            medianTimeToFirstTokenMs: median(
                attempts.compactMap { attempt in attempt.firstTokenAt.map { ($0 - attempt.startedAt) * 1000 } }),
            loads: loads.count, meanLoadSeconds: loadSeconds.isEmpty ? nil : loadSeconds.reduce(0, +) / Double(loadSeconds.count),
            peakMemoryBytes: peak)
    }

    /// Sum of tokens over sum of time, per second; nil when there is no time.
    static func rate(tokens: [Int], milliseconds: [Double]) -> Double? {
        let time = milliseconds.reduce(0, +)
        guard time > 0 else { return nil }
        return Double(tokens.reduce(0, +)) / (time / 1000)
    }

    /// The median, nil for no values.
    static func median(_ values: [Double]) -> Double? {
        guard !values.isEmpty else { return nil }
        let sorted = values.sorted()
        let middle = sorted.count / 2
        return sorted.count % 2 == 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2
    }
}
