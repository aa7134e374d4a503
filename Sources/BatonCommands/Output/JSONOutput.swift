import Foundation

/// Every JSON document and line Baton prints goes through here, so they share one set of encoder options.
enum JSONOutput {
    /// The options of every JSON output: sorted keys (stable for diffs and goldens), `/` unescaped (paths, model
    /// names); documents are pretty-printed, the one-event-per-line stream of `run --json` is not.
    static func encoder(pretty: Bool = true) -> JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting =
            pretty ? [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes] : [.sortedKeys, .withoutEscapingSlashes]
        return encoder
    }

    /// The same options for the one document that is re-serialized after its times are converted (`show --format json`).
    static let serializationOptions: JSONSerialization.WritingOptions = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]

    /// `value` as JSON text.
    static func text(_ value: some Encodable, pretty: Bool = true) throws -> String {
        String(decoding: try encoder(pretty: pretty).encode(value), as: UTF8.self)
    }
}

extension Console {
    /// Writes `value` to standard output as a pretty-printed JSON document and a newline.
    static func json(_ value: some Encodable) throws {
        out(try JSONOutput.text(value))
    }
}

/// A value that is written as JSON `null` when absent, where the output has always had the key (an optional
/// property alone is left out when nil).
struct OrNull<Wrapped: Encodable>: Encodable {
    /// The value, nil for `null`.
    var value: Wrapped?

    /// `value`, or `null`.
    init(_ value: Wrapped?) { self.value = value }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        if let value { try container.encode(value) } else { try container.encodeNil() }
    }
}
