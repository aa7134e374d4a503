import Foundation

/// The engine level a run needs: raised when a Baton release executes runs in a way an older one cannot (a new stage
/// kind, a new snapshot field the executor acts on). A run records the level of the Baton that created it; a worker
/// claims only runs at or below its own level, so a cluster mid-upgrade never hands a run to a worker too old for it.
public enum EngineLevel {
    /// This Baton's level. `BATON_ENGINE_LEVEL` overrides it (tests of version skew only).
    public static let current: Int = 1

    /// The level in effect for a process with `environment`.
    public static func effective(environment: [String: String]) -> Int {
        environment["BATON_ENGINE_LEVEL"].flatMap(Int.init) ?? current
    }
}
