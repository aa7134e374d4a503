import Foundation

/// Removes an API key from error messages: the whole key, and the masked echoes some APIs print
/// (`sk-proj-****abcd`), become `[redacted]`.
struct SecretScrubber: Sendable {
    /// What replaces the key.
    static let replacement = "[redacted]"
    let secret: String?

    init(_ secret: String?) {
        self.secret = secret.flatMap { $0.isEmpty ? nil : $0 }
    }

    /// `text` without the key.
    func scrub(_ text: String) -> String {
        guard let secret else { return text }
        var text = text.replacingOccurrences(of: secret, with: Self.replacement)
        // Masked echoes: a word that starts like the key, ends like it, and hides the middle.
        guard secret.count >= 12 else { return text }
        let words = text.split(whereSeparator: { $0.isWhitespace || "\"'`,;()".contains($0) }).map(String.init)
        for word in Set(words) where word.count >= 6 && (word.contains("*") || word.contains("...") || word.contains("…")) {
            let trimmed = word.hasSuffix(".") && !word.hasSuffix("...") ? String(word.dropLast()) : word
            let head = trimmed.prefix { $0 != "*" && $0 != "." && $0 != "…" }
            let tail = String(trimmed.reversed().prefix { $0 != "*" && $0 != "." && $0 != "…" }.reversed())
            if (head.count >= 3 && secret.hasPrefix(head)) || (tail.count >= 4 && secret.hasSuffix(tail)) {
                text = text.replacingOccurrences(of: trimmed, with: Self.replacement)
            }
        }
        return text
    }

    /// `error` with the key scrubbed from its message; errors that are not ``RuntimeError`` and mention
    /// the key become one.
    func scrub(_ error: any Error) -> any Error {
        guard secret != nil else { return error }
        if var runtime = error as? RuntimeError {
            runtime.message = scrub(runtime.message)
            return runtime
        }
        if error is CancellationError { return error }
        let text = "\(error)"
        let clean = scrub(text)
        return clean == text ? error : RuntimeError(.badResponse, clean, isTransient: true)
    }
}
