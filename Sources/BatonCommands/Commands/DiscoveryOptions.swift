import ArgumentParser

/// `--offline`, for the commands that ask the profile's runtimes which models they have (`graph`, `plan`, `models`).
/// Each command says in its help what going without discovery means for it, so the help text is `Help`'s.
struct DiscoveryOptions<Help: DiscoveryHelp>: ParsableArguments {
    @Flag(help: ArgumentHelp(Help.offline))
    var offline = false

    /// Whether to ask the runtimes: not with `--offline` (`BATON_DISCOVERY=off` is the engine's to read).
    var discover: Bool { !offline }
}

/// What `--offline` means for one command.
protocol DiscoveryHelp {
    /// The help text of `--offline`.
    static var offline: String { get }
}

/// `graph --offline`.
enum GraphDiscoveryHelp: DiscoveryHelp {
    static let offline = "Do not ask the profile's runtimes which models they have (as 'baton plan --offline')."
}

/// `plan --offline`.
enum PlanDiscoveryHelp: DiscoveryHelp {
    static let offline =
        "Do not ask the profile's runtimes which models they have; stages that name no model take their role's first preference that fits."
}

/// `models --offline`.
enum ModelsDiscoveryHelp: DiscoveryHelp {
    static let offline = "Do not ask the runtimes; list the registry only."
}
