import BatonSpec
import Foundation

/// JSON text read into a ``JSONValue`` whose objects keep the order of the text's keys.
///
/// Foundation's `JSONDecoder` gives a keyed container its keys in hash order, and that order changes from one process
/// to the next: a value read with it and written out again (a fan-out item in a prompt, an MCP tool's schema sent to
/// the model, a stage's JSON in a test report) would differ between two runs of the same thing. The snapshot decoder
/// reads the text in order; what it refuses is read by `JSONDecoder` with every object's keys sorted, so the result is
/// still the same in every process.
enum OrderedJSON {
    /// The value of `text`, nil when it is not JSON.
    static func parse(_ text: String) -> JSONValue? {
        if let value = try? SnapshotJSONDecoder.decode(JSONValue.self, from: text) { return value }
        return (try? JSONDecoder().decode(JSONValue.self, from: Data(text.utf8))).map(sortingKeys)
    }

    /// The value of `data` (UTF-8 JSON), nil when it is not JSON.
    static func parse(_ data: Data) -> JSONValue? {
        parse(String(decoding: data, as: UTF8.self))
    }

    /// `value` with every object's keys in sorted order.
    static func sortingKeys(_ value: JSONValue) -> JSONValue {
        switch value {
        case .object(let pairs): .object(pairs.map { ($0.key, sortingKeys($0.value)) }.sorted { $0.key < $1.key })
        case .array(let items): .array(items.map(sortingKeys))
        default: value
        }
    }
}
