import BatonSpec

/// How hot the machine is, in the four levels macOS reports, coolest first.
public enum ThermalState: Int, Sendable, Hashable, CaseIterable, Comparable, CustomStringConvertible {
    /// Normal temperature.
    case nominal
    /// Warm: passive cooling (throttling) has started.
    case fair
    /// Hot: performance is reduced.
    case serious
    /// About to throttle hard or shut down.
    case critical

    /// The state a policy's `pause_at` names.
    public init(_ level: ThermalPolicy.Level) {
        switch level {
        case .fair: self = .fair
        case .serious: self = .serious
        case .critical: self = .critical
        }
    }

    public static func < (lhs: ThermalState, rhs: ThermalState) -> Bool { lhs.rawValue < rhs.rawValue }

    /// The lower-case name (`serious`), as events and progress lines show it.
    public var description: String {
        switch self {
        case .nominal: "nominal"
        case .fair: "fair"
        case .serious: "serious"
        case .critical: "critical"
        }
    }
}
