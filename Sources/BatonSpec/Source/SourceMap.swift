/// Where the values of a decoded file came from, so that checks after decoding still point at the line.
///
/// Paths are dotted: `stages.plan.model`, `stages.plan.needs[1]`, `inputs.task`; `PATH#key` is the
/// location of the key itself.
public struct SourceMap: Sendable, Hashable {
    /// Value locations by path.
    public var values: [String: SourceLocation] = [:]
    /// How to map positions inside each template back into the file, by path.
    public var templates: [String: TemplatePlacement] = [:]

    /// Creates an empty map.
    public init() {}

    /// The location of the value at `path`, else of its nearest recorded parent.
    public func location(_ path: String) -> SourceLocation? {
        var current = path
        while true {
            if let location = values[current] { return location }
            guard let cut = current.lastIndex(where: { $0 == "." || $0 == "[" || $0 == "#" }) else { return nil }
            current = String(current[..<cut])
        }
    }

    /// The location of the key at `path` (falling back to its value).
    public func keyLocation(_ path: String) -> SourceLocation? {
        values[path + "#key"] ?? location(path)
    }
}
