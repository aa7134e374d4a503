/// How a stage got its model, for `baton plan`.
public struct ModelChoice: Sendable, Hashable, Codable {
    /// Which rule chose the model.
    public enum Rule: String, Sendable, Hashable, Codable {
        /// The stage's own `model`.
        case stage
        /// The pipeline's `defaults.model`.
        case pipelineDefaults = "pipeline-defaults"
        /// The first available preference of the stage's role that fits the budget.
        case preference
        /// The best capability score for the role among the local models that fit.
        case capability
    }

    /// The rule.
    public var rule: Rule
    /// One sentence: what was taken and why.
    public var explanation: String
    /// Preferences passed over, each with its reason.
    public var skipped: [SkippedModel]

    /// Creates a choice.
    public init(rule: Rule, explanation: String, skipped: [SkippedModel] = []) {
        self.rule = rule
        self.explanation = explanation
        self.skipped = skipped
    }
}

/// A preference passed over when mapping a role to a model.
public struct SkippedModel: Sendable, Hashable, Codable, CustomStringConvertible {
    /// The model as the role lists it.
    public var model: String
    /// Why: `not installed on ollama`, `needs 22.3 GB (registry), more than the budget of 14 GB`.
    public var reason: String

    /// Creates an entry.
    public init(model: String, reason: String) {
        self.model = model
        self.reason = reason
    }

    public var description: String { "\(model) skipped: \(reason)" }
}

/// Maps a role to models: the role's preference list filtered to models that are available and fit the
/// budget, else the local model with the best score for the role's capability that fits.
///
/// Pure and deterministic: the same profile, inventory and budget give the same answer whatever the order
/// of the registry or of the inventory.
public enum RoleMapper {
    /// The budget models must fit, and how to name it in explanations.
    public struct Budget: Sendable, Hashable {
        /// The budget.
        public var bytes: ByteCount
        /// `14 GB`, or `auto (12 GB here)`.
        public var text: String

        /// Creates a budget.
        public init(bytes: ByteCount, text: String? = nil) {
            self.bytes = bytes
            self.text = text ?? bytes.description
        }
    }

    /// A model the mapping considered, with what it knows about it.
    public struct Candidate: Sendable, Hashable {
        /// The model as written (`phi4:14b`, `local:planner`).
        public var reference: ModelReference
        /// The model's name on its runtime.
        public var name: String
        /// The profile runtime that serves it.
        public var runtime: String?
        /// The best footprint known.
        public var footprint: FootprintEstimate?
        /// The role's capability score, for capability picks.
        public var score: Double?
    }

    /// What the mapping decided.
    public struct Outcome: Sendable, Hashable {
        /// The models to use, in order: the stage's model then its fallbacks. Empty when nothing fits.
        public var chain: [ModelReference]
        /// Why, when a model was found; nil when `chain` is empty.
        public var choice: ModelChoice?
        /// Preferences passed over.
        public var skipped: [SkippedModel]
        /// The capability the role ranks by, if any.
        public var capability: String?
        /// Whether the role lists preferences at all.
        public var hasPreferences: Bool
    }

    /// The built-in runtimes' kinds that the capability fallback may pick: local ones. Cloud models are
    /// used only when a stage, the pipeline's defaults or a role's preference list names them.
    static let localKinds: Set<RuntimeSpec.Kind> = [.ollama, .llamaServer, .echo]

    /// Maps role `roleName` of `profile` to models.
    ///
    /// - Parameters:
    ///   - fallbackRuntime: the runtime for models the registry does not place (the stage's or the
    ///     pipeline's `runtime`); the profile's `default_runtime` after it.
    ///   - budget: the budget models must fit; nil checks none.
    public static func map(
        role roleName: String, profile: ResolvedProfile, inventory: ModelInventory, budget: Budget?, fallbackRuntime: String? = nil
    ) -> Outcome {
        let spec = profile.spec
        let role = spec.role(named: roleName)
        let capability = role?.effectiveCapability ?? RoleSpec.defaultCapability(of: roleName)
        let preferences = role?.models ?? []
        let owner = "role '\(roleName)' of profile '\(spec.name)'"
        let screened = screen(preferences, profile: spec, inventory: inventory, budget: budget, fallbackRuntime: fallbackRuntime)
        let skipped = screened.skipped.map(\.model)
        let noModel = Outcome(chain: [], choice: nil, skipped: skipped, capability: capability, hasPreferences: !preferences.isEmpty)

        if let first = screened.kept.first {
            var outcome = noModel
            outcome.chain = screened.kept.map(\.candidate.reference)
            outcome.choice = ModelChoice(
                rule: .preference, explanation: preferenceExplanation(first, screened: screened, owner: owner, inventory: inventory),
                skipped: skipped)
            return outcome
        }
        guard let capability else { return noModel }
        let fitting = capabilityCandidates(
            capability, profile: profile, inventory: inventory, budget: budget, fallbackRuntime: fallbackRuntime)
        guard let best = fitting.first, let score = best.score else { return noModel }
        let why =
            preferences.isEmpty
            ? "\(owner) lists no models"
            : "no preference of \(owner) is available and fits (" + skipped.map(\.description).joined(separator: "; ") + ")"
        let pool = "\(fitting.count) local model\(fitting.count == 1 ? "" : "s")" + (budget.map { " that fit \($0.text)" } ?? "")
        let explanation = "\(why); took \(best.name), best \(capability) score \(format(score)) among \(pool)"
        var outcome = noModel
        outcome.chain = [best.reference]
        outcome.choice = ModelChoice(rule: .capability, explanation: explanation, skipped: skipped)
        return outcome
    }

    /// A role's preferences sorted into those kept (available and fitting the budget) and those skipped, each
    /// with its position in the preference list.
    struct Screened {
        typealias Kept = (position: Int, candidate: Candidate, availability: ModelAvailability)
        var kept: [Kept] = []
        var skipped: [(position: Int, model: SkippedModel)] = []
    }

    /// Places each preferred model on its runtime and keeps it when it is available and fits `budget`.
    static func screen(
        _ preferences: [ModelReference], profile spec: ProfileSpec, inventory: ModelInventory, budget: Budget?,
        fallbackRuntime: String?
    ) -> Screened {
        let runtimeNames = Set(spec.runtimes.map(\.name))
        var screened = Screened()
        for (position, reference) in preferences.enumerated() {
            let (pinned, name) = reference.split(knownRuntimes: runtimeNames)
            let entry = spec.model(named: name)
            let runtime = pinned ?? entry?.runtime ?? fallbackRuntime ?? spec.defaultRuntime
            let runtimeSpec = runtime.flatMap { spec.runtime(named: $0) }
            let footprint = inventory.footprint(of: name, runtime: runtime, kind: runtimeSpec?.kind, entry: entry)
            let availability = inventory.availability(of: name, on: runtimeSpec)
            if let budget, let footprint, footprint.bytes > budget.bytes {
                let reason = "needs \(footprint.bytes) (\(footprint.source.label)), more than the budget of \(budget.text)"
                screened.skipped.append((position, SkippedModel(model: reference.text, reason: reason)))
            } else if !availability.isAvailable {
                let reason = "not installed on \(runtime ?? "its runtime")"
                screened.skipped.append((position, SkippedModel(model: reference.text, reason: reason)))
            } else {
                let candidate = Candidate(reference: reference, name: name, runtime: runtime, footprint: footprint)
                screened.kept.append((position, candidate, availability))
            }
        }
        return screened
    }

    /// Why the first kept preference was taken: it is the first, or the ones before it were skipped (and why).
    static func preferenceExplanation(
        _ first: Screened.Kept, screened: Screened, owner: String, inventory: ModelInventory
    ) -> String {
        var explanation: String
        if first.position == 0 {
            explanation = "\(owner) prefers \(first.candidate.reference.text)"
        } else {
            // Only the models passed over before the one taken; later ones are pruned fallbacks.
            explanation =
                screened.skipped.filter { $0.position < first.position }.map(\.model.description).joined(separator: "; ")
                + "; took \(first.candidate.reference.text) (\(ordinal(first.position + 1)) preference of \(owner))"
        }
        if case .unknown = first.availability, let runtime = first.candidate.runtime, inventory.runtimes[runtime] != nil {
            explanation += " (\(runtime) was not reached, so whether it is installed is unknown)"
        }
        return explanation
    }

    /// The registry's local models with a `capability` score that are available and fit `budget`, best
    /// first: highest score, then smaller footprint (unknown last), then name, then runtime.
    ///
    /// With a budget, a model must have a known footprint to count as fitting.
    public static func capabilityCandidates(
        _ capability: String, profile: ResolvedProfile, inventory: ModelInventory, budget: Budget?, fallbackRuntime: String? = nil
    ) -> [Candidate] {
        let spec = profile.spec
        var candidates: [Candidate] = []
        for entry in spec.models {
            guard let score = entry.capabilities[capability] else { continue }
            let runtime = entry.runtime ?? fallbackRuntime ?? spec.defaultRuntime
            guard let runtimeSpec = runtime.flatMap({ spec.runtime(named: $0) }), localKinds.contains(runtimeSpec.kind) else { continue }
            guard inventory.availability(of: entry.name, on: runtimeSpec).isAvailable else { continue }
            let footprint = inventory.footprint(of: entry.name, runtime: runtime, kind: runtimeSpec.kind, entry: entry)
            if let budget {
                guard let footprint, footprint.bytes <= budget.bytes else { continue }
            }
            candidates.append(
                Candidate(reference: ModelReference(entry.name), name: entry.name, runtime: runtime, footprint: footprint, score: score))
        }
        return candidates.sorted { a, b in
            if a.score != b.score { return (a.score ?? 0) > (b.score ?? 0) }
            switch (a.footprint?.bytes, b.footprint?.bytes) {
            case (let x?, let y?) where x != y: return x < y
            case (.some, nil): return true
            case (nil, .some): return false
            default: break
            }
            if a.name != b.name { return a.name < b.name }
            return (a.runtime ?? "") < (b.runtime ?? "")
        }
    }

    /// `1st`, `2nd`, `3rd`, `4th`, `11th`, `22nd`.
    static func ordinal(_ number: Int) -> String {
        let suffix: String
        switch (number % 10, number % 100) {
        case (_, 11...13): suffix = "th"
        case (1, _): suffix = "st"
        case (2, _): suffix = "nd"
        case (3, _): suffix = "rd"
        default: suffix = "th"
        }
        return "\(number)\(suffix)"
    }

    /// `7`, `7.5`.
    static func format(_ score: Double) -> String {
        score == score.rounded() ? String(Int(score)) : String(score)
    }
}
