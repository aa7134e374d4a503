import Foundation

/// Where each value of a resolved profile came from: which profile of the `extends` chain set it, and
/// at which line of which file. What `baton profiles show` prints.
///
/// A value comes from the first profile of the chain (the requested one first) that sets it. That
/// rule matches ``ProfileResolver``'s merge for every key: entries merged whole (`runtimes`, `models`)
/// only keep the values their winning entry has, and keys merged one by one (`roles`, `defaults`)
/// keep the nearest profile's value.
public enum ProfileProvenance {
    /// One value of the resolved profile.
    public struct Entry: Sendable, Hashable {
        /// The dotted path of the value, as in the file: `roles.planner.temperature`.
        public var path: String
        /// The value as text (sizes as `14GB`, durations as `10m`, lists as `[a, b]`).
        public var value: String
        /// The profile that set it.
        public var profile: String
        /// Where in that profile's file.
        public var location: SourceLocation?
    }

    /// Every value of `merged`, in file order, with its origin among `documents` (the chain, requested
    /// profile first).
    public static func entries(of merged: ProfileSpec, documents: [ProfileDocument]) -> [Entry] {
        let resolved = flatten(merged)
        let layers = documents.compactMap { document in
            document.spec.map { (document, Dictionary(flatten($0), uniquingKeysWith: { a, _ in a })) }
        }
        return resolved.compactMap { path, value in
            guard path != "name", path != "version", path != "extends" else { return nil }
            guard let (document, _) = layers.first(where: { $0.1[path] != nil }) else {
                return Entry(path: path, value: value, profile: merged.name, location: nil)
            }
            return Entry(
                path: path, value: value, profile: document.spec?.name ?? document.file.stem,
                location: document.sourceMap.location(path))
        }
    }

    /// The leaves of `spec` as (path, text) pairs, in declaration order.
    static func flatten(_ spec: ProfileSpec) -> [(String, String)] {
        var result: [(String, String)] = []
        func add(_ path: String, _ value: String?) {
            if let value { result.append((path, value)) }
        }
        add("description", spec.description)
        add("memory_budget", spec.memoryBudget?.description)
        add("default_runtime", spec.defaultRuntime)
        for runtime in spec.runtimes {
            let path = "runtimes.\(runtime.name)"
            add("\(path).kind", runtime.kind.rawValue)
            add("\(path).url", runtime.url)
            add("\(path).api_key_env", runtime.apiKeyEnv)
            for (key, value) in runtime.options.sorted(by: { $0.key < $1.key }) { add("\(path).options.\(key)", value) }
        }
        for model in spec.models {
            let path = "models.\(model.name)"
            add("\(path).runtime", model.runtime)
            add("\(path).footprint", model.footprint?.description)
            add("\(path).context_length", model.contextLength.map(String.init))
            for (key, value) in model.capabilities.sorted(by: { $0.key < $1.key }) { add("\(path).capabilities.\(key)", number(value)) }
            add("\(path).file", model.file)
        }
        for role in spec.roles {
            let path = "roles.\(role.name)"
            add("\(path).models", role.models.map { "[" + $0.map(\.text).joined(separator: ", ") + "]" })
            if let object = jsonObject(role) {
                for (key, value) in object where !["name", "models", "settings"].contains(key) {
                    leaves(value, path: "\(path).\(key)", into: &result)
                }
            }
            settings(role.settings, path: path, into: &result)
        }
        settings(spec.defaults, path: "defaults", into: &result)
        // Sections added since (thermal policy, ...) are listed by their encoded keys.
        if let object = jsonObject(spec) {
            let known: Set<String> = [
                "version", "name", "description", "extends", "memory_budget", "default_runtime", "runtimes", "models", "roles",
                "defaults",
            ]
            for (key, value) in object where !known.contains(key) { leaves(value, path: key, into: &result) }
        }
        return result
    }

    private static func settings(_ settings: StageSettings, path: String, into result: inout [(String, String)]) {
        guard let object = jsonObject(settings) else { return }
        let order = StageSettings.CodingKeys.allCases.map(\.stringValue)
        for key in order {
            guard let value = object.first(where: { $0.0 == key })?.1 else { continue }
            leaves(value, path: "\(path).\(key)", into: &result)
        }
    }

    /// Encodes `value` to a JSON object's (key, value) pairs, keys sorted.
    private static func jsonObject(_ value: some Encodable) -> [(String, JSONValue)]? {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        guard let data = try? encoder.encode(value), case .object(let pairs) = try? JSONDecoder().decode(JSONValue.self, from: data)
        else { return nil }
        return pairs.map { ($0.key, $0.value) }.sorted { $0.0 < $1.0 }
    }

    private static let durationKeys: Set<String> = ["timeout", "initial_backoff", "max_backoff", "max_wait", "poll_interval"]

    private static func leaves(_ value: JSONValue, path: String, into result: inout [(String, String)]) {
        let key = String(path.split(separator: ".").last ?? "")
        switch value {
        case .object(let pairs):
            if pairs.count == 1, pairs[0].key == "bytes", case .number(let bytes) = pairs[0].value {
                result.append((path, ByteCount(bytes: Int64(bytes)).description))
                return
            }
            for pair in pairs.sorted(by: { $0.key < $1.key }) { leaves(pair.value, path: "\(path).\(pair.key)", into: &result) }
        case .array(let items):
            result.append((path, "[" + items.map(text).joined(separator: ", ") + "]"))
        case .number(let number):
            result.append((path, durationKeys.contains(key) ? duration(number) : self.number(number)))
        case .null:
            return
        default:
            result.append((path, text(value)))
        }
    }

    private static func text(_ value: JSONValue) -> String {
        switch value {
        case .null: "null"
        case .bool(let flag): flag ? "true" : "false"
        case .number(let number): self.number(number)
        case .string(let string): string
        case .array(let items): "[" + items.map(text).joined(separator: ", ") + "]"
        case .object(let pairs): "{" + pairs.map { "\($0.key): \(text($0.value))" }.joined(separator: ", ") + "}"
        }
    }

    private static func number(_ value: Double) -> String {
        value == value.rounded() && abs(value) < 1e15 ? String(Int64(value)) : String(value)
    }

    /// Seconds as a duration a file could hold: `10m`, `1.5s`, `250ms`.
    static func duration(_ seconds: Double) -> String {
        if seconds < 1 { return "\(Int((seconds * 1000).rounded()))ms" }
        let whole = Int(seconds.rounded())
        guard Double(whole) == seconds else { return "\(seconds)s" }
        if whole % 3600 == 0 { return "\(whole / 3600)h" }
        if whole % 60 == 0 { return "\(whole / 60)m" }
        return "\(whole)s"
    }
}
