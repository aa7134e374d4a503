/// The characters of an expression's text, with line and column lookup for its error positions.
struct ExpressionText: Sendable {
    /// The text as characters, so offsets and columns count characters.
    let characters: [Character]

    init(_ text: String) {
        characters = Array(text)
    }

    /// The 1-based line and column of character offset `offset`, the column both in characters and in Unicode
    /// scalars (as Yams counts a YAML file's columns: `é` written as `e` and a combining accent is one character,
    /// two scalars).
    func position(of offset: Int) -> (line: Int, column: Int, scalarColumn: Int) {
        var line = 1
        var column = 1
        var scalarColumn = 1
        for character in characters.prefix(max(0, offset)) {
            if character.isNewline {
                line += 1
                column = 1
                scalarColumn = 1
            } else {
                column += 1
                scalarColumn += character.unicodeScalars.count
            }
        }
        return (line, column, scalarColumn)
    }

    /// The source text of `start..<end`, as written.
    func slice(_ start: Int, _ end: Int) -> String {
        let lower = min(max(0, start), characters.count)
        return String(characters[lower..<min(max(lower, end), characters.count)])
    }
}
