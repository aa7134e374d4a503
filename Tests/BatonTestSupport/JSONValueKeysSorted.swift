import BatonSpec

extension JSONValue {
    /// The value with every object's keys sorted, so values that differ only in key order compare equal.
    public var keysSorted: JSONValue {
        switch self {
        case .object(let pairs): .object(pairs.sorted { $0.key < $1.key }.map { ($0.key, $0.value.keysSorted) })
        case .array(let values): .array(values.map(\.keysSorted))
        default: self
        }
    }
}
