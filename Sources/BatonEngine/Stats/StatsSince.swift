import Foundation

/// `baton stats --since`: a date, a time, or a duration back from now.
public enum StatsSince {
    /// Seconds since 1970 for `text`: `2026-12-01` (midnight UTC), an RFC 3339 time (`2026-12-01T08:00:00Z`), or a
    /// duration before `now` (`7d`, `24h`, `30m`, `2w`); nil when it is none of them.
    public static func parse(_ text: String, now: Double) -> Double? {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        if let unit = trimmed.last, let factor = ["m": 60.0, "h": 3600, "d": 86_400, "w": 604_800][String(unit)] {
            let number = trimmed.dropLast()
            if !number.isEmpty, number.allSatisfy({ $0.isASCII && ($0.isNumber || $0 == ".") }), number.first != ".", number.last != ".",
                let value = Double(number), value.isFinite
            {
                return now - value * factor
            }
        }
        let day = ISO8601DateFormatter()
        day.formatOptions = [.withFullDate]
        day.timeZone = TimeZone(identifier: "UTC")
        if trimmed.count == 10, let date = day.date(from: trimmed) { return date.timeIntervalSince1970 }
        for options: ISO8601DateFormatter.Options in [[.withInternetDateTime], [.withInternetDateTime, .withFractionalSeconds]] {
            let time = ISO8601DateFormatter()
            time.formatOptions = options
            if let date = time.date(from: trimmed) { return date.timeIntervalSince1970 }
        }
        return nil
    }
}
