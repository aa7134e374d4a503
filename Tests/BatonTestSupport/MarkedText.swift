/// Text with emoji markers (1️⃣, 2️⃣, ...) that name positions; the markers are removed and their
/// line and column recorded, so a test can say "the diagnostic is here" inside the input itself.
public struct MarkedText {
    /// The markers this helper understands, in order.
    public static let markers = ["1️⃣", "2️⃣", "3️⃣", "4️⃣", "5️⃣", "6️⃣", "7️⃣", "8️⃣", "9️⃣", "🔟"]

    /// The text without markers.
    public let text: String
    /// 1-based line and column (in Unicode scalars) of each marker.
    public let positions: [String: (line: Int, column: Int)]

    /// Strips the markers from `marked`.
    public init(_ marked: String) {
        var text = ""
        var positions: [String: (Int, Int)] = [:]
        var line = 1
        var column = 1
        var rest = Substring(marked)
        outer: while !rest.isEmpty {
            for marker in Self.markers where rest.hasPrefix(marker) {
                positions[marker] = (line, column)
                rest = rest.dropFirst(marker.count)
                continue outer
            }
            let character = rest.removeFirst()
            text.append(character)
            if character == "\n" {
                line += 1
                column = 1
            } else {
                column += character.unicodeScalars.count
            }
        }
        self.text = text
        self.positions = positions
    }
}
