import Foundation

/// Times in Baton's JSON output: RFC 3339 in UTC with milliseconds (`2026-12-06T18:50:16.123Z`), where the run
/// database keeps epoch seconds. Documents whose time fields changed from numbers to such strings carry
/// `"format_version": 2` (docs/runs-and-resume.md, "Times in JSON output"). `baton show --json` and `baton serve`'s
/// API share it.
public enum JSONTime {
    /// The version of the JSON documents whose times are RFC 3339 strings (1 had epoch seconds).
    public static let formatVersion = 2

    /// The fields that hold a time, in every JSON document Baton prints.
    public static let fields: Set<String> = [
        "at", "created_at", "updated_at", "finished_at", "started_at", "first_token_at", "lease_heartbeat", "measured_at",
    ]

    /// The options of every JSON document Baton prints: sorted keys (stable for diffs and goldens), `/` unescaped.
    public static let writingOptions: JSONSerialization.WritingOptions = [.sortedKeys, .withoutEscapingSlashes]

    /// `seconds` since 1970 as RFC 3339 with milliseconds, in UTC.
    ///
    /// Formatted by hand: `ISO8601DateFormatter` took about 80 µs a call, and `baton serve` formats every event of a
    /// run as it streams. The milliseconds are rounded as that formatter rounds them (the same text for 400,000
    /// random times, ties included, 2026-12-07).
    public static func string(_ seconds: Double) -> String {
        let total = (seconds * 1000).rounded()
        let whole = (total / 1000).rounded(.down)
        var time = time_t(whole)
        var parts = tm()
        gmtime_r(&time, &parts)
        func padded(_ value: some BinaryInteger, _ width: Int) -> String {
            let digits = String(value)
            return String(repeating: "0", count: max(0, width - digits.count)) + digits
        }
        return padded(parts.tm_year + 1900, 4) + "-" + padded(parts.tm_mon + 1, 2) + "-" + padded(parts.tm_mday, 2) + "T"
            + padded(parts.tm_hour, 2) + ":" + padded(parts.tm_min, 2) + ":" + padded(parts.tm_sec, 2) + "."
            + padded(Int(total - whole * 1000), 3) + "Z"
    }

    /// `value` with every number under a time field (``fields``) replaced by its RFC 3339 string.
    public static func converted(_ value: Any) -> Any {
        if let object = value as? [String: Any] {
            var result = object
            for (key, inner) in object {
                if fields.contains(key), let number = inner as? NSNumber, !(inner is Bool) {
                    result[key] = string(number.doubleValue)
                } else {
                    result[key] = converted(inner)
                }
            }
            return result
        }
        if let array = value as? [Any] { return array.map(converted) }
        return value
    }

    /// `object` (decoded from the records' JSON, times converted) as JSON text with ``writingOptions``, pretty-printed
    /// unless `pretty` is false.
    public static func text(_ object: Any, pretty: Bool = true) throws -> String {
        let options = pretty ? writingOptions.union(.prettyPrinted) : writingOptions
        let data = try JSONSerialization.data(withJSONObject: object, options: options)
        return String(decoding: data, as: UTF8.self)
    }
}
