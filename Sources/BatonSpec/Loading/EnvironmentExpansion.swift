import Foundation

/// `${VAR}` and `${VAR:-fallback}` in profile values, replaced from an environment passed in.
enum EnvironmentExpansion {
    /// Replaces `${VAR}` and `${VAR:-fallback}`; an unset variable without a fallback becomes empty text.
    static func expand(_ text: String, environment: [String: String]) -> String {
        guard text.contains("${") else { return text }
        var result = ""
        var rest = Substring(text)
        while let start = rest.range(of: "${") {
            result += rest[..<start.lowerBound]
            guard let end = rest[start.upperBound...].firstIndex(of: "}") else {
                result += rest[start.lowerBound...]
                return result
            }
            let body = rest[start.upperBound..<end]
            if let separator = body.range(of: ":-") {
                let name = String(body[..<separator.lowerBound])
                let value = environment[name].flatMap { $0.isEmpty ? nil : $0 }
                result += value ?? String(body[separator.upperBound...])
            } else {
                result += environment[String(body)] ?? ""
            }
            rest = rest[rest.index(after: end)...]
        }
        return result + rest
    }
}
