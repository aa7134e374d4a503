import Foundation

/// Writes to standard output and standard error, and knows whether they are terminals.
enum Console {
    /// Writes `text` and a newline to standard output.
    static func out(_ text: String, terminator: String = "\n") {
        FileHandle.standardOutput.write(Data((text + terminator).utf8))
    }

    /// Writes `text` and a newline to standard error.
    static func error(_ text: String, terminator: String = "\n") {
        FileHandle.standardError.write(Data((text + terminator).utf8))
    }

    /// Whether colors may be used on standard output: a terminal, and `NO_COLOR` unset.
    static var colorsOnStandardOutput: Bool {
        isatty(STDOUT_FILENO) == 1 && ProcessInfo.processInfo.environment["NO_COLOR"] == nil
            && ProcessInfo.processInfo.environment["TERM"] != "dumb"
    }
}
