import BatonSpec

/// What `baton models` lists: the profile's registry joined with the models discovery found, each with
/// its footprint and where it comes from, context length, capability scores, whether it fits the budget,
/// whether it is installed, and the roles it would serve.
public struct ModelListing: Sendable, Hashable {
    /// One model.
    public struct Row: Sendable, Hashable {
        /// The model's name on its runtime.
        public var name: String
        /// The profile runtime that serves it.
        public var runtime: String?
        /// Whether the profile's registry lists it (else only discovery found it).
        public var inRegistry: Bool
        /// Whether its runtime has it.
        public var availability: ModelAvailability
        /// The best footprint known, with its source.
        public var footprint: FootprintEstimate?
        /// The context length: the registry's, else what the runtime or file says.
        public var contextLength: Int?
        /// Capability scores from the registry; empty for a model only discovery found (no scores are invented).
        public var capabilities: [String: Double]
        /// Whether the footprint fits the budget; nil when the footprint is unknown.
        public var fits: Bool?
        /// Roles whose mapping picks it as their model.
        public var chosenBy: [String]
        /// Roles whose preference list names it.
        public var listedBy: [String]
        /// What the runtime or the GGUF file says about it.
        public var details: DiscoveredModel?
    }

    /// A runtime of the profile and what discovery got from it.
    public struct RuntimeStatus: Sendable, Hashable {
        /// The runtime's name.
        public var name: String
        /// Its kind.
        public var kind: RuntimeSpec.Kind
        /// What discovery found, nil for runtimes it does not ask (cloud, echo) or when it did not run.
        public var models: RuntimeModels?
    }

    /// The profile's name.
    public var profile: String
    /// The budget models are checked against, nil when none can be known (`auto` offline).
    public var budget: RoleMapper.Budget?
    /// Every runtime of the profile.
    public var runtimes: [RuntimeStatus]
    /// Every model, sorted by runtime then name.
    public var rows: [Row]

    /// Joins `profile`'s registry with `inventory`. `budget` is the profile's fixed budget, else what
    /// `auto` gives (``ModelInventory/autoBudget``).
    public static func make(profile: ResolvedProfile, inventory: ModelInventory) -> ModelListing {
        let spec = profile.spec
        let budget: RoleMapper.Budget? =
            spec.memoryBudget?.fixedSize.map { RoleMapper.Budget(bytes: $0) }
            ?? inventory.autoBudget.map { RoleMapper.Budget(bytes: $0, text: "\($0) ('auto' on this machine)") }
        let runtimeNames = Set(spec.runtimes.map(\.name))
        func kind(_ runtime: String?) -> RuntimeSpec.Kind? { runtime.flatMap { spec.runtime(named: $0)?.kind } }

        var rows: [Row] = []
        for entry in spec.models {
            let runtime = entry.runtime ?? spec.defaultRuntime
            let availability = inventory.availability(of: entry.name, on: runtime.flatMap { spec.runtime(named: $0) })
            var details: DiscoveredModel?
            if case .installed(let found) = availability { details = found }
            details = details ?? inventory.files[entry.name]
            rows.append(
                Row(
                    name: entry.name, runtime: runtime, inRegistry: true, availability: availability,
                    footprint: inventory.footprint(of: entry.name, runtime: runtime, kind: kind(runtime), entry: entry),
                    contextLength: entry.contextLength ?? details?.contextLength, capabilities: entry.capabilities, fits: nil,
                    chosenBy: [], listedBy: [], details: details))
        }
        for runtime in spec.runtimes {
            guard case .known(let models) = inventory.runtimes[runtime.name] else { continue }
            for model in models
            where !rows.contains(where: { $0.runtime == runtime.name && ModelInventory.sameModel($0.name, model.name, kind: runtime.kind) })
            {
                rows.append(
                    Row(
                        name: model.name, runtime: runtime.name, inRegistry: false, availability: .installed(model),
                        footprint: inventory.footprint(of: model.name, runtime: runtime.name, kind: runtime.kind, entry: nil),
                        contextLength: model.contextLength, capabilities: [:], fits: nil, chosenBy: [], listedBy: [], details: model))
            }
        }
        for index in rows.indices {
            if let budget, let footprint = rows[index].footprint { rows[index].fits = footprint.bytes <= budget.bytes }
        }

        func rowIndex(name: String, runtime: String?) -> Int? {
            rows.firstIndex { $0.runtime == runtime && ModelInventory.sameModel($0.name, name, kind: kind(runtime)) }
        }
        for role in spec.roles {
            for reference in role.models ?? [] {
                let (pinned, name) = reference.split(knownRuntimes: runtimeNames)
                let runtime = pinned ?? spec.model(named: name)?.runtime ?? spec.defaultRuntime
                if let index = rowIndex(name: name, runtime: runtime), !rows[index].listedBy.contains(role.name) {
                    rows[index].listedBy.append(role.name)
                }
            }
            let outcome = RoleMapper.map(role: role.name, profile: profile, inventory: inventory, budget: budget)
            if let first = outcome.chain.first {
                let (pinned, name) = first.split(knownRuntimes: runtimeNames)
                let runtime = pinned ?? spec.model(named: name)?.runtime ?? spec.defaultRuntime
                if let index = rowIndex(name: name, runtime: runtime) { rows[index].chosenBy.append(role.name) }
            }
        }
        rows.sort { ($0.runtime ?? "", $0.name) < ($1.runtime ?? "", $1.name) }
        let statuses = spec.runtimes.map { RuntimeStatus(name: $0.name, kind: $0.kind, models: inventory.runtimes[$0.name]) }
        return ModelListing(profile: spec.name, budget: budget, runtimes: statuses, rows: rows)
    }
}
