import Foundation
import Yams

/// A decoded profile file: the spec, where its values are, and what was wrong with it.
public struct ProfileDocument: Sendable {
    /// The file it came from.
    public var file: SourceFile
    /// The decoded spec; nil when the file is too broken to decode.
    public var spec: ProfileSpec?
    /// Where each value is.
    public var sourceMap: SourceMap
    /// Problems found while decoding.
    public var diagnostics: [Diagnostic]
}

/// Decodes a profile file's YAML into a ``ProfileSpec``.
public enum ProfileDecoder {
    /// Decodes `file`, replacing `${VAR}` and `${VAR:-fallback}` in string values from `environment`.
    ///
    /// The environment is a parameter, never read from the process, so results are reproducible.
    public static func decode(_ file: SourceFile, environment: [String: String]) -> ProfileDocument {
        let reader = SpecReader(file: file, environment: environment)
        var spec: ProfileSpec?
        if let root = YAMLLoader.compose(file, kind: "profile", into: reader) {
            spec = decodeRoot(root, reader: reader)
        }
        return ProfileDocument(file: file, spec: spec, sourceMap: reader.sourceMap, diagnostics: reader.diagnostics)
    }

    private static func decodeRoot(_ root: Node, reader: SpecReader) -> ProfileSpec? {
        let keys = AllowedKeys.profile
        guard let map = reader.mapping(root, context: "the profile", subject: "the profile file", path: "", allowedKeys: keys)
        else { return nil }

        let version = VersionCheck.read(map, reader: reader)
        var name = reader.file.stem
        if let node = map.value("name"), let value = reader.nonEmptyString(node, subject: "'name'") {
            if PipelineDecoder.isValidPipelineName(value) {
                name = value
            } else {
                reader.emit(.invalidName(value, kind: "profile", rule: "use lower-case letters, digits, '.', '_' and '-'"), at: node)
            }
        }
        let description = map.value("description").flatMap { reader.string($0, subject: "'description'") }
        let extends = map.value("extends").flatMap { reader.nonEmptyString($0, subject: "'extends'") }
        let budget = map.value("memory_budget").flatMap { reader.budget($0, subject: "'memory_budget'") }
        let defaultRuntime = map.value("default_runtime").flatMap { reader.nonEmptyString($0, subject: "'default_runtime'") }
        let runtimes = map.value("runtimes").map { decodeRuntimes($0, reader: reader) } ?? []
        let models = map.value("models").map { decodeModels($0, reader: reader) } ?? []
        let roles = map.value("roles").map { decodeRoles($0, reader: reader) } ?? []
        let defaults = SettingsDecoder.decodeDefaults(map, allowedKeys: AllowedKeys.profileDefaults, reader: reader)
        let thermal = map.value("thermal").flatMap { decodeThermal($0, reader: reader) }
        let tools = map.value("tools").flatMap { decodeTools($0, reader: reader) }
        let servers = map.value("mcp_servers").flatMap { ToolDecoder.decodeServers($0, reader: reader) }
        let indexes = map.value("indexes").flatMap { IndexDecoder.decodeIndexes($0, reader: reader) }
        let preload = map.value("preload").flatMap { reader.bool($0, subject: "'preload'") }
        let afterRun = map.value("after_run").flatMap { reader.enumValue($0, subject: "'after_run'", as: AfterRunPolicy.self) }

        return ProfileSpec(
            version: version ?? PipelineDecoder.supportedVersion, name: name, description: description, extends: extends,
            memoryBudget: budget, defaultRuntime: defaultRuntime, runtimes: runtimes, models: models, roles: roles,
            defaults: defaults, thermal: thermal, tools: tools, mcpServers: servers, indexes: indexes, preload: preload,
            afterRun: afterRun)
    }

    /// The `tools` section: `allow`, the executables `run` stages may start.
    private static func decodeTools(_ node: Node, reader: SpecReader) -> ToolPolicy? {
        guard let map = reader.mapping(node, context: "'tools'", subject: "'tools'", path: "tools", allowedKeys: AllowedKeys.toolPolicy)
        else { return nil }
        guard let allowNode = map.value("allow") else {
            if !map.suggested.contains("allow") {
                reader.emit(.missingKey("allow", in: "'tools'", hint: "add 'allow: [EXECUTABLE, ...]'"), at: node)
            }
            return nil
        }
        guard let items = reader.stringList(allowNode, subject: map.subject("allow"), allowSingle: true) else { return nil }
        for (index, item) in items.enumerated() { reader.record("tools.allow[\(index)]", item.1) }
        return ToolPolicy(allow: items.map(\.0))
    }

    /// The `runtimes` section, in file order; a runtime with a bad name or no usable `kind` is left out.
    private static func decodeRuntimes(_ node: Node, reader: SpecReader) -> [RuntimeSpec] {
        guard let map = reader.mapping(node, context: "'runtimes'", subject: "'runtimes'", path: "runtimes", allowedKeys: nil)
        else { return [] }
        var runtimes: [RuntimeSpec] = []
        for (name, keyNode, value) in map.pairs {
            guard PipelineDecoder.isValidName(name) else {
                reader.emit(.invalidName(name, kind: "runtime", rule: PipelineDecoder.namePattern), at: keyNode)
                continue
            }
            if let runtime = decodeRuntime(name: name, keyNode: keyNode, node: value, reader: reader) {
                runtimes.append(runtime)
            }
        }
        return runtimes
    }

    private static func decodeRuntime(name: String, keyNode: Node, node: Node, reader: SpecReader) -> RuntimeSpec? {
        let context = "runtime '\(name)'"
        let path = "runtimes.\(name)"
        guard let map = reader.mapping(node, context: context, subject: context, path: path, allowedKeys: AllowedKeys.runtime)
        else { return nil }
        guard let kindNode = map.value("kind") else {
            reader.emit(
                .missingKey("kind", in: context, hint: "use 'ollama', 'llama-server', 'openai', 'anthropic' or 'echo'"), at: keyNode)
            return nil
        }
        guard let kind = reader.enumValue(kindNode, subject: map.subject("kind"), as: RuntimeSpec.Kind.self) else {
            return nil
        }
        let url = map.value("url").flatMap { reader.nonEmptyString($0, subject: map.subject("url")) }
        let hosts = map.value("hosts").flatMap {
            PoolDecoder.decodeHosts($0, runtime: name, kind: kind, kindNode: kindNode, path: "\(path).hosts", reader: reader)
        }
        if url == nil, kind != .echo, !map.has("url"), !map.has("hosts") {
            reader.emit(.missingURL(name, kind: kind.rawValue), at: keyNode)
        }
        let apiKeyEnv = map.value("api_key_env").flatMap { reader.nonEmptyString($0, subject: map.subject("api_key_env")) }
        var options: [String: String] = [:]
        if let optionsNode = map.value("options"),
            let optionsMap = reader.mapping(
                optionsNode, context: map.subject("options"), subject: map.subject("options"), path: "\(path).options",
                allowedKeys: nil)
        {
            for (key, _, valueNode) in optionsMap.pairs {
                options[key] = reader.string(valueNode, subject: "option '\(key)' of \(context)")
            }
        }
        let parallel = map.value("parallel").flatMap {
            reader.int($0, subject: map.subject("parallel"), range: 1...FlowDecoder.concurrencyRange.upperBound, rangeText: "1 to 64")
        }
        return RuntimeSpec(
            name: name, kind: kind, url: url, apiKeyEnv: apiKeyEnv, options: options, parallel: parallel, hosts: hosts)
    }

    /// The `models` registry, in file order.
    private static func decodeModels(_ node: Node, reader: SpecReader) -> [ModelEntry] {
        guard let map = reader.mapping(node, context: "'models'", subject: "'models'", path: "models", allowedKeys: nil)
        else { return [] }
        return map.pairs.compactMap { name, _, value in decodeModel(name: name, node: value, reader: reader) }
    }

    private static func decodeModel(name: String, node: Node, reader: SpecReader) -> ModelEntry? {
        let context = "model '\(name)'"
        let path = "models.\(name)"
        guard let map = reader.mapping(node, context: context, subject: context, path: path, allowedKeys: AllowedKeys.model)
        else { return nil }
        let runtime = map.value("runtime").flatMap { reader.nonEmptyString($0, subject: map.subject("runtime")) }
        let footprint = map.value("footprint").flatMap { reader.size($0, subject: map.subject("footprint")) }
        let contextLength = map.value("context_length").flatMap {
            reader.int($0, subject: map.subject("context_length"), range: 1...100_000_000, rangeText: "1 or more")
        }
        var capabilities: [String: Double] = [:]
        if let capNode = map.value("capabilities"),
            let capMap = reader.mapping(
                capNode, context: map.subject("capabilities"), subject: map.subject("capabilities"),
                path: "\(path).capabilities", allowedKeys: nil)
        {
            for (capability, _, scoreNode) in capMap.pairs {
                if let score = reader.number(
                    scoreNode, subject: "capability '\(capability)' of \(context)", isValid: { (0...10).contains($0) },
                    rangeText: "0 to 10")
                {
                    capabilities[capability] = score
                }
            }
        }
        let file = map.value("file").flatMap { reader.nonEmptyString($0, subject: map.subject("file")) }
        return ModelEntry(
            name: name, runtime: runtime, footprint: footprint, contextLength: contextLength, capabilities: capabilities,
            file: file)
    }

    /// The `roles` section, in file order; a role with a bad name is left out.
    private static func decodeRoles(_ node: Node, reader: SpecReader) -> [RoleSpec] {
        guard let map = reader.mapping(node, context: "'roles'", subject: "'roles'", path: "roles", allowedKeys: nil)
        else { return [] }
        var roles: [RoleSpec] = []
        for (name, keyNode, value) in map.pairs {
            guard PipelineDecoder.isValidName(name) else {
                reader.emit(.invalidName(name, kind: "role", rule: PipelineDecoder.namePattern), at: keyNode)
                continue
            }
            if let role = decodeRole(name: name, node: value, reader: reader) {
                roles.append(role)
            }
        }
        return roles
    }

    private static func decodeRole(name: String, node: Node, reader: SpecReader) -> RoleSpec? {
        let context = "role '\(name)'"
        let path = "roles.\(name)"
        guard let map = reader.mapping(node, context: context, subject: context, path: path, allowedKeys: AllowedKeys.role)
        else { return nil }
        var preferred: [ModelReference]?
        if let modelsNode = map.value("models"),
            let items = reader.stringList(modelsNode, subject: map.subject("models"), allowSingle: true)
        {
            for (index, item) in items.enumerated() { reader.record("\(path).models[\(index)]", item.1) }
            preferred = items.map { ModelReference($0.0) }
        }
        let capability = map.value("capability").flatMap { reader.nonEmptyString($0, subject: map.subject("capability")) }
        return RoleSpec(
            name: name, models: preferred, capability: capability, settings: SettingsDecoder.decode(map, reader: reader))
    }

    /// The `thermal` section; keys left out take ``ThermalPolicy/default``'s values.
    private static func decodeThermal(_ node: Node, reader: SpecReader) -> ThermalPolicy? {
        guard
            let map = reader.mapping(
                node, context: "'thermal'", subject: "'thermal'", path: "thermal", allowedKeys: AllowedKeys.thermal)
        else { return nil }
        var policy = ThermalPolicy.default
        if let node = map.value("enabled"), let value = reader.bool(node, subject: map.subject("enabled")) {
            policy.enabled = value
        }
        if let node = map.value("pause_at"),
            let value = reader.enumValue(node, subject: map.subject("pause_at"), as: ThermalPolicy.Level.self)
        {
            policy.pauseAt = value
        }
        if let node = map.value("max_wait"), let value = reader.duration(node, subject: map.subject("max_wait")) {
            policy.maxWait = value
        }
        if let node = map.value("poll_interval"), let value = reader.duration(node, subject: map.subject("poll_interval")) {
            policy.pollInterval = value
        }
        if policy.pollInterval > policy.maxWait, let node = map.value("poll_interval") ?? map.value("max_wait") {
            reader.emit(
                .outOfRange(
                    reader.describe(node), for: map.subject(map.has("poll_interval") ? "poll_interval" : "max_wait"),
                    range: map.has("poll_interval")
                        ? "a duration no longer than 'max_wait'\(map.has("max_wait") ? "" : " (10m when left out)")"
                        : "a duration no shorter than 'poll_interval' (15s when left out)"),
                at: node)
        }
        return policy
    }
}
