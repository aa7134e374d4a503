import Foundation
import Testing

@testable import BatonCommands

/// ``TerminalText``: model output shown on a terminal has its control characters made visible (issue 18, item 4).
@Suite struct TerminalTextTests {
    @Test func escIsShownInCaretNotation() {
        // OSC 0 (set the title), OSC 52 (write the clipboard), CSI 2J (clear the screen).
        #expect(TerminalText.visible("\u{1B}]0;pwned\u{07}") == "^[]0;pwned^G")
        #expect(TerminalText.visible("\u{1B}]52;c;aGk=\u{1B}\\") == "^[]52;c;aGk=^[\\")
        #expect(TerminalText.visible("\u{1B}[2J\u{1B}[H") == "^[[2J^[[H")
    }

    @Test func everyOtherC0ControlIsCaretNotationButLineFeedAndTab() {
        for value in UInt32(0)...0x1F {
            let scalar = Unicode.Scalar(value)!
            let shown = TerminalText.visible(String(Character(scalar)))
            if value == 0x0A || value == 0x09 {
                #expect(shown == String(Character(scalar)))
            } else {
                #expect(shown == "^" + String(Character(Unicode.Scalar(value + 0x40)!)), "U+\(String(value, radix: 16))")
            }
        }
        // A carriage return would let what follows overwrite the line: it is shown too, also inside CRLF.
        #expect(TerminalText.visible("safe\rrm -rf") == "safe^Mrm -rf")
        #expect(TerminalText.visible("one\r\ntwo") == "one^M\ntwo")
        #expect(TerminalText.visible("\u{0}\u{8}\u{1F}") == "^@^H^_")
    }

    @Test func delIsCaretQuestionMark() {
        #expect(TerminalText.visible("a\u{7F}b") == "a^?b")
    }

    @Test func c1ControlsAreShownAsUnicodeEscapes() {
        for value in UInt32(0x80)...0x9F {
            let shown = TerminalText.visible(String(Character(Unicode.Scalar(value)!)))
            #expect(shown == "\\u{\(String(value, radix: 16, uppercase: true))}")
        }
        // The 8-bit CSI and OSC, which some terminals obey without an ESC.
        #expect(TerminalText.visible("\u{9B}2J") == "\\u{9B}2J")
        #expect(TerminalText.visible("\u{9D}0;title\u{9C}") == "\\u{9D}0;title\\u{9C}")
    }

    @Test func printableUnicodeIsUnchanged() {
        let text = "Grüße, 世界! 👩‍👩‍👧 naïve café — «quotes» ½ \u{A0}nbsp é\te\n~ ^[ is already text\n"
        #expect(TerminalText.visible(text) == text)
        #expect(TerminalText.visible("") == "")
        // U+00A0, just past the C1 range, and U+007E, just before DEL, stay.
        #expect(TerminalText.visible("\u{7E}\u{A0}") == "\u{7E}\u{A0}")
    }

    @Test func aSequenceSplitAcrossTokensIsNeutralisedAsWhole() {
        let tokens = ["Hello ", "\u{1B}", "]0;pw", "ned\u{07}", " and \u{1B}[", "2J done"]
        let streamed = tokens.map(TerminalText.visible).joined()
        #expect(streamed == TerminalText.visible(tokens.joined()))
        #expect(streamed == "Hello ^[]0;pwned^G and ^[[2J done")
        #expect(!streamed.unicodeScalars.contains { $0.value == 0x1B || $0.value == 0x07 })
    }

    @Test func aPipeIsNeverEscaped() throws {
        var descriptors: [Int32] = [0, 0]
        try #require(pipe(&descriptors) == 0)
        defer {
            close(descriptors[0])
            close(descriptors[1])
        }
        #expect(!TerminalText.escapes(descriptors[1], raw: false))
        #expect(TerminalText.forStream("\u{1B}[2J", descriptors[1], raw: false) == "\u{1B}[2J")
        // --raw changes nothing where nothing is escaped; on a terminal it opts out (TerminalOutputTests, in tmux).
        #expect(TerminalText.forStream("\u{1B}[2J", descriptors[1], raw: true) == "\u{1B}[2J")
    }
}
