import Foundation

/// Durations in files: a number of seconds, or a number with `ms`, `s`, `m` or `h`.
package enum DurationParsing {
    /// Seconds for `30s`, `2m`, `1.5`, `500ms`; nil when the text is not a duration.
    package static func seconds(from text: String) -> Double? {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        let units: [(String, Double)] = [("ms", 0.001), ("s", 1), ("m", 60), ("h", 3600)]
        var number = Substring(trimmed)
        var factor = 1.0
        for (suffix, unitFactor) in units where trimmed.hasSuffix(suffix) {
            number = trimmed.dropLast(suffix.count)
            factor = unitFactor
            break
        }
        number = Substring(number.trimmingCharacters(in: .whitespaces))
        guard !number.isEmpty, number.allSatisfy({ $0.isASCII && ($0.isNumber || $0 == ".") }),
            number.first != ".", number.last != ".", let value = Double(number), value.isFinite
        else { return nil }
        return value * factor
    }
}
