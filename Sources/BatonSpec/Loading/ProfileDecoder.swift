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
        let keys = FileKeys.profile
        guard let map = reader.mapping(root, context: "the profile", subject: "the profile file", path: "", allowedKeys: keys)
        else { return nil }
        func text(_ node: Node, _ subject: String) -> String? {
            reader.nonEmptyString(node, subject: subject)
        }

        let version = VersionCheck.read(map, reader: reader)
        var name = reader.file.stem
        if let node = map.value("name"), let value = text(node, "'name'") {
            if PipelineDecoder.isValidPipelineName(value) {
                name = value
            } else {
                reader.emit(.invalidName(value, kind: "profile", rule: "use lower-case letters, digits, '.', '_' and '-'"), at: node)
            }
        }
        let description = map.value("description").flatMap { reader.string($0, subject: "'description'") }
        let extends = map.value("extends").flatMap { text($0, "'extends'") }
        let budget = map.value("memory_budget").flatMap { reader.budget($0, subject: "'memory_budget'") }
        let defaultRuntime = map.value("default_runtime").flatMap { text($0, "'default_runtime'") }

        var runtimes: [RuntimeSpec] = []
        if let node = map.value("runtimes"),
            let runtimesMap = reader.mapping(node, context: "'runtimes'", subject: "'runtimes'", path: "runtimes", allowedKeys: nil)
        {
            let runtimeKeys = FileKeys.runtime
            for (runtimeName, keyNode, value) in runtimesMap.pairs {
                guard PipelineDecoder.isValidName(runtimeName) else {
                    reader.emit(.invalidName(runtimeName, kind: "runtime", rule: PipelineDecoder.namePattern), at: keyNode)
                    continue
                }
                let context = "runtime '\(runtimeName)'"
                guard
                    let runtimeMap = reader.mapping(
                        value, context: context, subject: context, path: "runtimes.\(runtimeName)", allowedKeys: runtimeKeys)
                else { continue }
                guard let kindNode = runtimeMap.value("kind") else {
                    reader.emit(
                        .missingKey("kind", in: context, hint: "use 'ollama', 'llama-server', 'openai', 'anthropic' or 'echo'"), at: keyNode
                    )
                    continue
                }
                guard let kind = reader.enumValue(kindNode, subject: runtimeMap.subject("kind"), as: RuntimeSpec.Kind.self) else {
                    continue
                }
                let url = runtimeMap.value("url").flatMap { text($0, runtimeMap.subject("url")) }
                if url == nil, kind != .echo, !runtimeMap.has("url") {
                    reader.emit(.missingURL(runtimeName, kind: kind.rawValue), at: keyNode)
                }
                let apiKeyEnv = runtimeMap.value("api_key_env").flatMap { text($0, runtimeMap.subject("api_key_env")) }
                var options: [String: String] = [:]
                if let optionsNode = runtimeMap.value("options"),
                    let optionsMap = reader.mapping(
                        optionsNode, context: runtimeMap.subject("options"), subject: runtimeMap.subject("options"),
                        path: "runtimes.\(runtimeName).options", allowedKeys: nil)
                {
                    for (key, _, valueNode) in optionsMap.pairs {
                        options[key] = reader.string(valueNode, subject: "option '\(key)' of \(context)")
                    }
                }
                runtimes.append(RuntimeSpec(name: runtimeName, kind: kind, url: url, apiKeyEnv: apiKeyEnv, options: options))
            }
        }

        var models: [ModelEntry] = []
        if let node = map.value("models"),
            let modelsMap = reader.mapping(node, context: "'models'", subject: "'models'", path: "models", allowedKeys: nil)
        {
            let modelKeys = FileKeys.model
            for (modelName, _, value) in modelsMap.pairs {
                let context = "model '\(modelName)'"
                let path = "models.\(modelName)"
                guard let modelMap = reader.mapping(value, context: context, subject: context, path: path, allowedKeys: modelKeys)
                else { continue }
                let runtime = modelMap.value("runtime").flatMap { text($0, modelMap.subject("runtime")) }
                let footprint = modelMap.value("footprint").flatMap { reader.size($0, subject: modelMap.subject("footprint")) }
                let contextLength = modelMap.value("context_length").flatMap {
                    reader.int($0, subject: modelMap.subject("context_length"), range: 1...100_000_000, rangeText: "1 or more")
                }
                var capabilities: [String: Double] = [:]
                if let capNode = modelMap.value("capabilities"),
                    let capMap = reader.mapping(
                        capNode, context: modelMap.subject("capabilities"), subject: modelMap.subject("capabilities"),
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
                let file = modelMap.value("file").flatMap { text($0, modelMap.subject("file")) }
                models.append(
                    ModelEntry(
                        name: modelName, runtime: runtime, footprint: footprint, contextLength: contextLength,
                        capabilities: capabilities, file: file))
            }
        }

        var roles: [RoleSpec] = []
        if let node = map.value("roles"),
            let rolesMap = reader.mapping(node, context: "'roles'", subject: "'roles'", path: "roles", allowedKeys: nil)
        {
            for (roleName, keyNode, value) in rolesMap.pairs {
                guard PipelineDecoder.isValidName(roleName) else {
                    reader.emit(.invalidName(roleName, kind: "role", rule: PipelineDecoder.namePattern), at: keyNode)
                    continue
                }
                let context = "role '\(roleName)'"
                let path = "roles.\(roleName)"
                guard let roleMap = reader.mapping(value, context: context, subject: context, path: path, allowedKeys: FileKeys.role)
                else { continue }
                var preferred: [ModelReference]?
                if let modelsNode = roleMap.value("models"),
                    let items = reader.stringList(modelsNode, subject: roleMap.subject("models"), allowSingle: true)
                {
                    for (index, item) in items.enumerated() { reader.record("\(path).models[\(index)]", item.1) }
                    preferred = items.map { ModelReference($0.0) }
                }
                let capability = roleMap.value("capability").flatMap { text($0, roleMap.subject("capability")) }
                roles.append(
                    RoleSpec(
                        name: roleName, models: preferred, capability: capability,
                        settings: SettingsDecoder.decode(roleMap, reader: reader)))
            }
        }

        var defaults = StageSettings()
        if let node = map.value("defaults"),
            let defaultsMap = reader.mapping(
                node, context: "'defaults'", subject: "'defaults'", path: "defaults",
                allowedKeys: FileKeys.profileDefaults)
        {
            defaults = SettingsDecoder.decode(defaultsMap, reader: reader)
        }
        let thermal = map.value("thermal").flatMap { decodeThermal($0, reader: reader) }

        return ProfileSpec(
            version: version ?? PipelineDecoder.supportedVersion, name: name, description: description, extends: extends,
            memoryBudget: budget, defaultRuntime: defaultRuntime, runtimes: runtimes, models: models, roles: roles,
            defaults: defaults, thermal: thermal)
    }

    /// The `thermal` section; keys left out take ``ThermalPolicy/default``'s values.
    private static func decodeThermal(_ node: Node, reader: SpecReader) -> ThermalPolicy? {
        guard
            let map = reader.mapping(
                node, context: "'thermal'", subject: "'thermal'", path: "thermal", allowedKeys: FileKeys.thermal)
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
