import Foundation

/// The few parts of a pinned snapshot `baton stats` needs, read the same way by both stores: decoding only these skips
/// the plan's templates and settings.
struct StatsSnapshotOutline: Decodable {
    struct Plan: Decodable {
        var stages: [Stage]
    }
    struct Stage: Decodable {
        var name: String
        var role: String?
        var models: [Model]?
    }
    struct Model: Decodable {
        var name: String
        var runtime: String?
    }
    struct Profile: Decodable {
        var chain: [String]
    }
    var plan: Plan
    var profile: Profile?
    var forcedRuntime: String?

    func role(of stage: String) -> String? {
        plan.stages.first { $0.name == stage }?.role
    }

    /// The `runtime:name` key of the model a fallback event names as `description` (`runtime:name`, or `name` when the
    /// plan was compiled without a profile), with the runtime the run really used.
    func key(of description: String, stage: String) -> String? {
        let models = plan.stages.first { $0.name == stage }?.models ?? []
        guard let model = models.first(where: { ($0.runtime.map { "\($0):" } ?? "") + $0.name == description }) else { return nil }
        return "\(forcedRuntime ?? model.runtime ?? "?"):\(model.name)"
    }
}
