import ArgumentParser
import Foundation

/// Model output made harmless for a terminal: control characters become visible text, so a title (OSC 0), clipboard
/// (OSC 52) or clear-screen (CSI 2J) sequence in an answer is shown, never executed.
///
/// The notation, one rule per class, everything else (all printable Unicode) unchanged:
/// - C0 controls (U+0000–U+001F) in caret notation: ESC as `^[`, BEL as `^G`, NUL as `^@`; line feed and tab stay, as
///   text needs them; carriage return shows as `^M`, since it returns to the line's start and lets what follows
///   overwrite what came before.
/// - DEL (U+007F) as `^?`.
/// - C1 controls (U+0080–U+009F, among them the 8-bit CSI U+009B and OSC U+009D) as `\u{9B}`, since caret notation has
///   no form for them.
///
/// Each character is replaced on its own, so text escaped in pieces (streamed tokens) reads the same as escaped whole,
/// and a sequence split across tokens is neutralised wherever its ESC lands.
enum TerminalText {
    /// `text` with every control character but line feed and tab made visible.
    static func visible(_ text: String) -> String {
        // Most text has none: return it as it is, without copying.
        guard text.unicodeScalars.contains(where: needsEscape) else { return text }
        var result = String.UnicodeScalarView()
        for scalar in text.unicodeScalars {
            let value = scalar.value
            switch value {
            case 0x0A, 0x09:
                result.append(scalar)
            case 0x00...0x1F:
                result.append("^")
                result.append(Unicode.Scalar(UInt8(value + 0x40)))
            case 0x7F:
                result.append(contentsOf: "^?".unicodeScalars)
            case 0x80...0x9F:
                result.append(contentsOf: "\\u{\(String(value, radix: 16, uppercase: true))}".unicodeScalars)
            default:
                result.append(scalar)
            }
        }
        return String(result)
    }

    /// Whether `scalar` is one ``visible(_:)`` replaces.
    static func needsEscape(_ scalar: Unicode.Scalar) -> Bool {
        let value = scalar.value
        return (value < 0x20 && value != 0x0A && value != 0x09) || (0x7F...0x9F).contains(value)
    }

    /// Whether text written to `descriptor` must be escaped: it is a terminal and `--raw` was not given. Output to a
    /// pipe or a file stays byte-exact.
    static func escapes(_ descriptor: Int32, raw: Bool) -> Bool {
        !raw && isatty(descriptor) == 1
    }

    /// `text` as it may be written to `descriptor`: escaped when ``escapes(_:raw:)`` says so, else unchanged.
    static func forStream(_ text: String, _ descriptor: Int32, raw: Bool) -> String {
        escapes(descriptor, raw: raw) ? visible(text) : text
    }
}

/// `--raw`, for the commands that print model output: write it to a terminal unescaped.
struct RawOutputOption: ParsableArguments {
    @Flag(
        help: """
            Write model output to the terminal as it is, control characters and all (by default they are shown as \
            visible text, such as ^[ for ESC, so an answer cannot retitle or clear the terminal; output to a pipe or a \
            file is never changed).
            """)
    var raw = false
}
