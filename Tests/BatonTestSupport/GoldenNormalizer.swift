import Foundation

/// Replaces what varies from one run of `baton` to the next in human-facing output, so a golden file changes only
/// when the output's shape or wording changes.
///
/// The replacements, in order:
/// 1. each path in `paths` (a temporary folder, the repository) becomes its placeholder, e.g. `<tmp>`, `<repo>`; the
///    `/private` form of the same path (macOS resolves `/var` and `/tmp` through it) too;
/// 2. `http://127.0.0.1:PORT` and `http://localhost:PORT` of a stand-in become `http://127.0.0.1:<port>` (the
///    system picks the port), unless the port is in `keepPorts` (a closed port a test chose on purpose);
/// 3. a token rate ` · 123.4 tokens/s` is removed: `show` prints it only when the clock moved between the first and
///    the last token, so its presence depends on the machine's speed;
/// 4. a run id `20261206-185113-330a` becomes `YYYYMMDD-hhmmss-xxxx`, a local time `2026-12-06 18:51:13` becomes
///    `YYYY-MM-DD hh:mm:ss` (same widths, so table columns stay aligned);
/// 5. a duration as `ProgressPrinter.duration` prints it (`8 ms`, `1.2 s`, `2m05s`) becomes `<dur>`; when it is
///    right-aligned in a column (two or more spaces before it) the column keeps its width;
/// 6. `doctor`'s machine figures: `25.3 GB in all, 24.1 GB available now; 'memory_budget: auto' gives 19 GB`
///    becomes `<total> in all[, <available> available now]; 'memory_budget: auto' gives <auto>` (the bracketed part
///    whether or not it was printed: only Linux knows the available memory), and the thermal state after
///    `thermal: ` becomes `<machine thermal state>` (the profile's own pause level is kept).
public struct GoldenNormalizer: Sendable {
    /// Paths and the placeholders they become, longest first so a folder inside another is replaced first.
    public var paths: [(path: String, placeholder: String)]
    /// Ports of `127.0.0.1` that stay as they are.
    public var keepPorts: Set<Int>

    /// A normaliser for `paths` (each with its placeholder) and the repository root as `<repo>`.
    public init(paths: [(path: String, placeholder: String)] = [], keepPorts: Set<Int> = []) {
        var all = paths
        all.append((Fixtures.repositoryRoot, "<repo>"))
        all.append((NSTemporaryDirectory(), "<tmp>/"))
        self.paths = all.filter { !$0.path.isEmpty }.sorted { $0.path.count > $1.path.count }
        self.keepPorts = keepPorts
    }

    /// `text` with every replacement above applied.
    public func normalize(_ text: String) -> String {
        var text = text
        for (path, placeholder) in paths {
            let trimmed = path.count > 1 && path.hasSuffix("/") && !placeholder.hasSuffix("/") ? String(path.dropLast()) : path
            text = text.replacingOccurrences(of: "/private" + trimmed, with: placeholder)
            text = text.replacingOccurrences(of: trimmed, with: placeholder)
        }
        text = Self.replace(#"http://(127\.0\.0\.1|localhost):(\d+)"#, in: text) { groups in
            keepPorts.contains(Int(groups[2]) ?? -1) ? groups[0] : "http://\(groups[1]):<port>"
        }
        text = Self.replace(#" · \d+(?:\.\d+)? tokens/s"#, in: text) { _ in "" }
        text = Self.replace(#"\b\d{8}-\d{6}-[0-9a-f]{4}\b"#, in: text) { _ in "YYYYMMDD-hhmmss-xxxx" }
        text = Self.replace(#"\b\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}\b"#, in: text) { _ in "YYYY-MM-DD hh:mm:ss" }
        text = Self.replace(#"(?<=^|[ (])( *)(\d+ ms|\d+\.\d s|\d+m\d{2}s)\b"#, in: text, options: [.anchorsMatchLines]) { groups in
            let spaces = groups[1]
            guard spaces.count >= 2 else { return spaces + "<dur>" }
            let width = spaces.count + groups[2].count
            return String(repeating: " ", count: max(1, width - 5)) + "<dur>"
        }
        text = Self.replace(
            #"[\d.]+ [KMGT]?B in all(, [\d.]+ [KMGT]?B available now)?; 'memory_budget: auto' gives [\d.]+ [KMGT]?B"#, in: text
        ) { _ in
            "<total> in all[, <available> available now]; 'memory_budget: auto' gives <auto>"
        }
        text = Self.replace(
            #"thermal: (unknown \(no thermal zone with trip points\), so runs never pause|nominal|fair|serious|critical)"#, in: text
        ) { _ in "thermal: <machine thermal state>" }
        return text
    }

    /// `text` with every match of `pattern` replaced by `replacement(groups)` (group 0 is the whole match; a group that
    /// did not take part is empty).
    static func replace(
        _ pattern: String, in text: String, options: NSRegularExpression.Options = [], _ replacement: ([String]) -> String
    ) -> String {
        guard let regex = try? NSRegularExpression(pattern: pattern, options: options) else {
            preconditionFailure("invalid normaliser pattern \(pattern)")
        }
        let source = text as NSString
        var result = ""
        var last = 0
        for match in regex.matches(in: text, range: NSRange(location: 0, length: source.length)) {
            result += source.substring(with: NSRange(location: last, length: match.range.location - last))
            let groups = (0..<match.numberOfRanges).map { index in
                let range = match.range(at: index)
                return range.location == NSNotFound ? "" : source.substring(with: range)
            }
            result += replacement(groups)
            last = match.range.location + match.range.length
        }
        result += source.substring(from: last)
        return result
    }
}
