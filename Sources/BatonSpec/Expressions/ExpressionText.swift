/// The characters of an expression's text, with line and column lookup for its error positions.
struct ExpressionText: Sendable {
    /// The text as characters, so offsets and columns count characters.
    let characters: [Character]

    init(_ text: String) {
        characters = Array(text)
    }

    /// The 1-based line and column of character offset `offset`.
    func lineAndColumn(of offset: Int) -> (line: Int, column: Int) {
        var line = 1
        var column = 1
        for character in characters.prefix(max(0, offset)) {
            if character.isNewline {
                line += 1
                column = 1
            } else {
                column += 1
            }
        }
        return (line, column)
    }

    /// The source text of `start..<end`, as written.
    func slice(_ start: Int, _ end: Int) -> String {
        let lower = min(max(0, start), characters.count)
        return String(characters[lower..<min(max(lower, end), characters.count)])
    }
}
