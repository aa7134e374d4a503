import Foundation
import Mustache

/// A stage's template, parsed once: as a ``PlainTemplate`` when it is only text and `{{name}}` tags (most prompts),
/// else as a Mustache template.
///
/// Parsing a prompt with swift-mustache and rendering it through its context stack was about a sixth of the engine's
/// time per stage on a chain whose every prompt differs (perf, Benchmarks/README.md); a plain template is read in
/// one pass and rendered by looking its names up. Whatever a plain template cannot render exactly as Mustache would
/// (a name that stands for a number, a list or an object) is rendered by Mustache.
struct StageTemplate {
    private let text: String
    private let plain: PlainTemplate?
    private var mustache: MustacheTemplate?

    /// Parses `text`.
    ///
    /// - Throws: swift-mustache's error when the text is not a valid template.
    init(_ text: String) throws {
        self.text = text
        plain = PlainTemplate(text)
        if plain == nil { mustache = try Self.parse(text) }
    }

    /// The text with `context`'s values.
    mutating func render(_ context: [String: Any]) throws -> String {
        if let rendered = plain?.render(context) { return rendered }
        if mustache == nil { mustache = try Self.parse(text) }
        return mustache!.render(context)
    }

    /// Prompts are text, not HTML: the pragma turns escaping off.
    private static func parse(_ text: String) throws -> MustacheTemplate {
        try MustacheTemplate(string: "{{% CONTENT_TYPE: TEXT}}" + text)
    }
}

/// A template of text, `{{name}}` / `{{a.b.c}}` tags and `{{#name}}…{{/name}}` / `{{^name}}…{{/name}}` sections on a line
/// with other text: no comments, partials, set delimiters, triple mustaches or pragmas, and no section tag alone on
/// its line (Mustache drops such a line, which a plain template does not; a text with any of them, or an unclosed tag
/// or section, is not one).
struct PlainTemplate {
    private indirect enum Piece {
        case text(String)
        case name([String])
        case section([String], inverted: Bool, [Piece])
    }

    /// A section being read: its name as written, and the pieces before it.
    private struct Open {
        var name: ArraySlice<UInt8>
        var path: [String]
        var inverted: Bool
        var outer: [Piece]
    }

    private let pieces: [Piece]

    /// The pieces of `text`, or nil when it is not a plain template. Read as UTF-8 bytes: Foundation's
    /// `range(of:)` and `trimmingCharacters(in:)` cost more than the rest of the render.
    init?(_ text: String) {
        let bytes = Array(text.utf8)
        let (open, close, space, tab): (UInt8, UInt8, UInt8, UInt8) = (0x7B, 0x7D, 0x20, 0x09)
        var pieces: [Piece] = []
        var sections: [Open] = []
        var index = 0
        var textStart = 0
        while index + 1 < bytes.count {
            guard bytes[index] == open, bytes[index + 1] == open else {
                index += 1
                continue
            }
            // The tag ends at the first `}}` after it, as Mustache reads it.
            var end = index + 2
            while end + 1 < bytes.count, !(bytes[end] == close && bytes[end + 1] == close) { end += 1 }
            guard end + 1 < bytes.count else { return nil }
            if index > textStart { pieces.append(.text(String(decoding: bytes[textStart..<index], as: UTF8.self))) }
            var first = index + 2
            var last = end
            while first < last, bytes[first] == space || bytes[first] == tab { first += 1 }
            while last > first, bytes[last - 1] == space || bytes[last - 1] == tab { last -= 1 }
            // Mustache reads a sigil only right after the braces.
            let sigil = first == index + 2 && first < last ? bytes[first] : 0
            if sigil == UInt8(ascii: "#") || sigil == UInt8(ascii: "^") || sigil == UInt8(ascii: "/") {
                guard Self.followsText(bytes, before: index) else { return nil }
                first += 1
                while first < last, bytes[first] == space || bytes[first] == tab { first += 1 }
                let name = bytes[first..<last]
                guard let path = Self.path(name) else { return nil }
                if sigil == UInt8(ascii: "/") {
                    guard let section = sections.popLast(), section.name.elementsEqual(name) else { return nil }
                    let inner = pieces
                    pieces = section.outer
                    pieces.append(.section(section.path, inverted: section.inverted, inner))
                } else {
                    sections.append(Open(name: name, path: path, inverted: sigil == UInt8(ascii: "^"), outer: pieces))
                    pieces = []
                }
            } else {
                guard let path = Self.path(bytes[first..<last]) else { return nil }
                pieces.append(.name(path))
            }
            index = end + 2
            textStart = index
        }
        guard sections.isEmpty else { return nil }
        if textStart < bytes.count { pieces.append(.text(String(decoding: bytes[textStart...], as: UTF8.self))) }
        self.pieces = pieces
    }

    /// Whether the tag at `index` has something other than spaces and tabs before it on its line, so that Mustache
    /// does not read it as standalone. Only in ASCII text, where every line break is a byte from `\n` to `\r`
    /// (Mustache also breaks lines at some other characters).
    private static func followsText(_ bytes: [UInt8], before index: Int) -> Bool {
        guard bytes.allSatisfy({ $0 < 0x80 }) else { return false }
        var position = index - 1
        while position >= 0, !(0x0A...0x0D).contains(bytes[position]) {
            if bytes[position] != 0x20, bytes[position] != 0x09 { return true }
            position -= 1
        }
        return false
    }

    /// A tag's dotted name split at its dots, or nil for anything else (a sigil, `.`, an empty part, other characters).
    private static func path(_ tag: ArraySlice<UInt8>) -> [String]? {
        guard !tag.isEmpty else { return nil }
        for byte in tag {
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
                UInt8(ascii: "_"), UInt8(ascii: "-"), UInt8(ascii: "."):
                continue
            default: return nil
            }
        }
        let parts = tag.split(separator: UInt8(ascii: "."), omittingEmptySubsequences: false)
        guard !parts.contains(where: \.isEmpty) else { return nil }
        return parts.map { String(decoding: $0, as: UTF8.self) }
    }

    /// The text with each name's value, as Mustache renders it: a missing name is empty. Nil when a name stands for
    /// something other than text, or passes through something other than an object, or a section's name stands for
    /// something other than text or a boolean: Mustache renders those.
    func render(_ context: [String: Any]) -> String? {
        var result = ""
        return Self.render(pieces, context, into: &result) ? result : nil
    }

    /// Appends `pieces` rendered; false when Mustache must render the template.
    ///
    /// A section over text renders its inside once, over `true` once, over a missing name or `false` not at all (an
    /// inverted one the other way round). Mustache renders a text section's inside with the text on its context
    /// stack, where no name is found, so the inside's names are looked up as outside.
    private static func render(_ pieces: [Piece], _ context: [String: Any], into result: inout String) -> Bool {
        for piece in pieces {
            switch piece {
            case .text(let text):
                result += text
            case .name(let path):
                guard let found = value(path, in: context) else { return false }
                guard let value = found else { continue }
                guard let text = value as? String else { return false }
                result += text
            case .section(let path, let inverted, let inner):
                guard let found = value(path, in: context) else { return false }
                let shown: Bool
                switch found {
                case nil: shown = inverted
                case let flag as Bool: shown = flag != inverted
                case is String: shown = !inverted
                default: return false
                }
                if shown, !render(inner, context, into: &result) { return false }
            }
        }
        return true
    }

    /// The value at `path`: `.some(nil)` when it is missing, nil when the path passes through something other than
    /// an object.
    private static func value(_ path: [String], in context: [String: Any]) -> Any?? {
        var value: Any? = context[path[0]]
        for part in path.dropFirst() {
            guard let current = value else { break }
            guard let object = current as? [String: Any] else { return nil }
            value = object[part]
        }
        return .some(value)
    }
}
