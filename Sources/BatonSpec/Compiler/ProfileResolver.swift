/// A profile with its `extends` chain merged in: what a run actually uses.
public struct ResolvedProfile: Sendable, Hashable, Codable {
    /// The merged values.
    public var spec: ProfileSpec
    /// The profiles merged, the requested one first, then what it extends, and so on.
    public var chain: [String]

    /// Creates a resolved profile.
    public init(spec: ProfileSpec, chain: [String]) {
        self.spec = spec
        self.chain = chain
    }
}

/// Merges a profile with the profiles it extends and checks the names it uses.
///
/// Merge rules, the extending profile winning each time: `description`, `memory_budget` and
/// `default_runtime` are replaced; `runtimes` and `models` are merged by name, an entry replacing the
/// parent's entry of that name whole; `roles` are merged by name and then key by key; `defaults` are
/// merged key by key; `thermal` is replaced whole (keys the child leaves out take the policy's defaults,
/// not the parent's values); `tools` is replaced whole; `mcp_servers` and `indexes` are merged by name like `runtimes`
/// (an index keeps the folder of the file that declares it).
public enum ProfileResolver {
    /// Resolves `document`, asking `parent` for each profile named by `extends`.
    ///
    /// - Returns: the resolved profile (nil when `document` could not be decoded) and every diagnostic of
    ///   the files in the chain plus the reference checks.
    public static func resolve(
        _ document: ProfileDocument, parent: (String) -> ProfileDocument?
    ) -> (profile: ResolvedProfile?, diagnostics: [Diagnostic]) {
        var diagnostics = document.diagnostics
        guard let spec = document.spec else { return (nil, diagnostics) }
        var documents = [document]
        var chain = [spec.name]
        var current = document
        while let parentName = current.spec?.extends {
            let location = current.sourceMap.location("extends")
            if chain.contains(parentName) {
                diagnostics.append(Diagnostic(.extendsCycle(chain + [parentName]), at: location))
                break
            }
            guard let parentDocument = parent(parentName), parentDocument.spec != nil else {
                diagnostics.append(Diagnostic(.unknownProfile(parentName, suggestion: nil), at: location))
                break
            }
            diagnostics += parentDocument.diagnostics
            documents.append(parentDocument)
            chain.append(parentName)
            current = parentDocument
        }
        var merged = documents.last!.spec!
        for document in documents.dropLast().reversed() {
            merged = merge(document.spec!, over: merged)
        }
        merged.extends = spec.extends
        for document in documents {
            diagnostics += checkReferences(of: document, against: merged)
        }
        return (ResolvedProfile(spec: merged, chain: chain), diagnostics)
    }

    /// `child` over `base`, by the rules in the type's documentation.
    static func merge(_ child: ProfileSpec, over base: ProfileSpec) -> ProfileSpec {
        var result = child
        result.description = child.description ?? base.description
        result.memoryBudget = child.memoryBudget ?? base.memoryBudget
        result.defaultRuntime = child.defaultRuntime ?? base.defaultRuntime
        result.runtimes = mergeByName(child.runtimes, over: base.runtimes, name: \.name) { new, _ in new }
        result.models = mergeByName(child.models, over: base.models, name: \.name) { new, _ in new }
        result.roles = mergeByName(child.roles, over: base.roles, name: \.name) { new, old in
            RoleSpec(
                name: new.name, models: new.models ?? old.models, capability: new.capability ?? old.capability,
                settings: new.settings.overriding(old.settings))
        }
        result.defaults = child.defaults.overriding(base.defaults)
        result.thermal = child.thermal ?? base.thermal
        result.tools = child.tools ?? base.tools
        result.preload = child.preload ?? base.preload
        result.afterRun = child.afterRun ?? base.afterRun
        if child.mcpServers != nil || base.mcpServers != nil {
            result.mcpServers = mergeByName(child.mcpServers ?? [], over: base.mcpServers ?? [], name: \.name) { new, _ in new }
        }
        if child.indexes != nil || base.indexes != nil {
            result.indexes = mergeByName(child.indexes ?? [], over: base.indexes ?? [], name: \.name) { new, _ in new }
        }
        return result
    }

    private static func mergeByName<T>(_ child: [T], over base: [T], name: (T) -> String, combine: (T, T) -> T) -> [T] {
        var result = base
        for entry in child {
            if let index = result.firstIndex(where: { name($0) == name(entry) }) {
                result[index] = combine(entry, result[index])
            } else {
                result.append(entry)
            }
        }
        return result
    }

    /// Runtimes and models that `document` names must exist in the merged profile.
    private static func checkReferences(of document: ProfileDocument, against merged: ProfileSpec) -> [Diagnostic] {
        guard let spec = document.spec else { return [] }
        var diagnostics: [Diagnostic] = []
        let runtimeNames = merged.runtimes.map(\.name)
        let map = document.sourceMap

        func checkRuntime(_ runtime: String, usedBy subject: String, path: String) {
            guard !runtimeNames.contains(runtime) else { return }
            diagnostics.append(
                Diagnostic(
                    .unknownRuntime(runtime, usedBy: subject, suggestion: Suggestion.closest(to: runtime, in: runtimeNames)),
                    at: map.location(path)))
        }

        if let runtime = spec.defaultRuntime {
            checkRuntime(runtime, usedBy: "'default_runtime' names", path: "default_runtime")
        }
        for model in spec.models {
            if let runtime = model.runtime {
                checkRuntime(runtime, usedBy: "model '\(model.name)' uses", path: "models.\(model.name).runtime")
            }
        }
        let registry = merged.models.map(\.name)
        let scored = Set(merged.models.flatMap(\.capabilities.keys))
        for role in spec.roles {
            if let capability = role.capability, !scored.isEmpty, !scored.contains(capability) {
                diagnostics.append(
                    Diagnostic(
                        .unscoredCapability(
                            capability, role: role.name, suggestion: Suggestion.closest(to: capability, in: scored.sorted())),
                        at: map.location("roles.\(role.name).capability")))
            }
            for (index, reference) in (role.models ?? []).enumerated() {
                let path = "roles.\(role.name).models[\(index)]"
                let (runtime, model) = reference.split(knownRuntimes: Set(runtimeNames))
                if runtime == nil, !registry.contains(model) {
                    diagnostics.append(
                        Diagnostic(
                            .unknownModel(
                                model, usedBy: "role '\(role.name)' prefers", suggestion: Suggestion.closest(to: model, in: registry)),
                            at: map.location(path)))
                }
            }
        }
        for index in spec.indexes ?? [] {
            let (runtime, model) = ModelReference(index.model).split(knownRuntimes: Set(runtimeNames))
            if runtime == nil, !registry.contains(model) {
                diagnostics.append(
                    Diagnostic(
                        .unknownModel(
                            model, usedBy: "index '\(index.name)' embeds with", suggestion: Suggestion.closest(to: model, in: registry)),
                        at: map.location("indexes.\(index.name).embed.model")))
            }
        }
        return diagnostics
    }
}
