/// A profile's `thermal` section: pause between stages while the machine is hot, up to a maximum wait.
///
/// Before each stage that will run (and each round of a critic loop), the executor reads the machine's
/// thermal state; at `pause_at` or hotter it waits, reading again every `poll_interval`, until the state
/// falls below `pause_at` or `max_wait` has passed, and then runs the stage either way.
public struct ThermalPolicy: Sendable, Hashable, Codable {
    /// The thermal states a policy can pause at, coolest first.
    public enum Level: String, Sendable, Hashable, Codable, CaseIterable, Comparable {
        /// Warm: the system has started throttling passively.
        case fair
        /// Hot: performance is reduced (the default).
        case serious
        /// About to shut down or throttle hard.
        case critical

        public static func < (lhs: Level, rhs: Level) -> Bool {
            allCases.firstIndex(of: lhs)! < allCases.firstIndex(of: rhs)!
        }
    }

    /// Whether the policy applies (`enabled: false` turns it off, for example in a profile that extends one with a policy).
    public var enabled: Bool
    /// The state at which to pause.
    public var pauseAt: Level
    /// Seconds one pause may last at most; then the stage runs anyway.
    public var maxWait: Double
    /// Seconds between readings of the thermal state during a pause.
    public var pollInterval: Double

    /// The defaults used for keys a file leaves out: pause at serious, wait up to 10 minutes, read every 15 seconds.
    public static let `default` = ThermalPolicy(enabled: true, pauseAt: .serious, maxWait: 600, pollInterval: 15)

    /// The keys as written in files.
    public enum CodingKeys: String, CodingKey, CaseIterable {
        case enabled
        case pauseAt = "pause_at"
        case maxWait = "max_wait"
        case pollInterval = "poll_interval"
    }

    /// Creates a policy.
    public init(enabled: Bool, pauseAt: Level, maxWait: Double, pollInterval: Double) {
        self.enabled = enabled
        self.pauseAt = pauseAt
        self.maxWait = maxWait
        self.pollInterval = pollInterval
    }
}
