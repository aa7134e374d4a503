import Foundation

/// One Mustache tag of a prompt template, with its position inside the template text.
struct TemplateTag: Sendable, Hashable {
    /// What the tag does.
    enum Kind: Sendable, Hashable {
        /// `{{name}}`, `{{{name}}}` or `{{& name}}`.
        case variable
        /// `{{#name}}`.
        case section
        /// `{{^name}}`.
        case invertedSection
        /// `{{/name}}`.
        case sectionEnd
        /// `{{> name}}`, `{{< name}}`, `{{$ name}}`: partials and inheritance.
        case partial
        /// `{{! ...}}`, `{{= ... =}}`, `{{% ...}}`.
        case other
    }

    var kind: Kind
    /// The name inside the tag, with any transform call removed (`uppercased(x)` gives `x`).
    var name: String
    /// The whole tag as written (`{{inputs.task}}`).
    var text: String
    /// 1-based line within the template.
    var line: Int
    /// 1-based column within the template.
    var column: Int
}

/// Finds the tags of a template that swift-mustache already parsed successfully.
///
/// swift-mustache keeps its token list internal, so the variable names a template uses are read
/// here, honouring `{{=<% %>=}}` delimiter changes, to check them against the pipeline.
enum TemplateScanner {
    /// The tags of `template`, in order.
    static func tags(in template: String) -> [TemplateTag] {
        scan(template).tags
    }

    /// The tags of `template`, and the tag left open at the end of the text, if any.
    static func scan(_ template: String) -> (tags: [TemplateTag], unterminated: TemplateTag?) {
        let scalars = Array(template.unicodeScalars)
        var open = Array("{{".unicodeScalars)
        var close = Array("}}".unicodeScalars)
        var tags: [TemplateTag] = []
        var index = 0
        var line = 1
        var column = 1

        func matches(_ pattern: [Unicode.Scalar], at position: Int) -> Bool {
            guard position + pattern.count <= scalars.count else { return false }
            for offset in 0..<pattern.count where scalars[position + offset] != pattern[offset] { return false }
            return true
        }
        func advance(past scalar: Unicode.Scalar) {
            if scalar == "\n" {
                line += 1
                column = 1
            } else {
                column += 1
            }
        }

        while index < scalars.count {
            guard matches(open, at: index) else {
                advance(past: scalars[index])
                index += 1
                continue
            }
            let tagLine = line
            let tagColumn = column
            let start = index
            var contentStart = index + open.count
            var closing = close
            var isTriple = false
            if open == Array("{{".unicodeScalars), contentStart < scalars.count, scalars[contentStart] == "{" {
                isTriple = true
                contentStart += 1
                closing = Array("}".unicodeScalars) + close
            }
            var end = contentStart
            while end < scalars.count, !matches(closing, at: end) { end += 1 }
            guard end < scalars.count else {
                // Only the tag's first line: enough to find it again in the file.
                let rest = String(String.UnicodeScalarView(scalars[start...]))
                let firstLine = String(rest.prefix { $0 != "\n" })
                return (tags, TemplateTag(kind: .variable, name: "", text: firstLine, line: tagLine, column: tagColumn))
            }
            let content = String(String.UnicodeScalarView(scalars[contentStart..<end]))
            let afterEnd = end + closing.count
            let text = String(String.UnicodeScalarView(scalars[start..<afterEnd]))
            for scalar in scalars[start..<afterEnd] { advance(past: scalar) }
            index = afterEnd

            let tag = classify(content, isTriple: isTriple)
            if let delimiters = tag.delimiters {
                (open, close) = delimiters
            }
            tags.append(TemplateTag(kind: tag.kind, name: tag.name, text: text, line: tagLine, column: tagColumn))
        }
        return (tags, nil)
    }

    /// What a tag's content (between its delimiters) says: its kind, the name it uses, and for a `{{=<% %>=}}` tag
    /// the delimiters from there on.
    private static func classify(
        _ content: String, isTriple: Bool
    ) -> (kind: TemplateTag.Kind, name: String, delimiters: (open: [Unicode.Scalar], close: [Unicode.Scalar])?) {
        let trimmed = content.trimmingCharacters(in: .whitespaces)
        let sigil = isTriple ? nil : trimmed.unicodeScalars.first
        var kind = TemplateTag.Kind.variable
        var delimiters: (open: [Unicode.Scalar], close: [Unicode.Scalar])?
        switch sigil {
        case "#": kind = .section
        case "^": kind = .invertedSection
        case "/": kind = .sectionEnd
        case "&": kind = .variable
        case ">", "<", "$": kind = .partial
        case "!", "%": kind = .other
        case "=":
            kind = .other
            let inner = trimmed.dropFirst().dropLast().trimmingCharacters(in: .whitespaces)
            let parts = inner.split(separator: " ", omittingEmptySubsequences: true)
            if parts.count == 2 {
                delimiters = (Array(parts[0].unicodeScalars), Array(parts[1].unicodeScalars))
            }
        default: break
        }
        let body = kind != .variable || sigil == "&" ? String(trimmed.unicodeScalars.dropFirst()) : trimmed
        return (kind, stripTransforms(body.trimmingCharacters(in: .whitespaces)), delimiters)
    }

    /// `uppercased(name)` and `first(reversed(list))` name `name` and `list`.
    private static func stripTransforms(_ name: String) -> String {
        var current = Substring(name)
        while let open = current.firstIndex(of: "("), current.hasSuffix(")") {
            current = current[current.index(after: open)..<current.index(before: current.endIndex)]
        }
        return String(current).trimmingCharacters(in: .whitespaces)
    }
}
