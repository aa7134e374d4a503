import Foundation

/// Appends call lines with O_APPEND, so lines from a killed process are never torn.
enum EchoCallLog {
    /// Appends `line` to the file at `path`, creating it; a file that cannot be opened is skipped, since the log
    /// is for tests and benchmarks and must not fail a call.
    static func append(_ line: String, to path: String) {
        let fd = open(path, O_WRONLY | O_CREAT | O_APPEND, 0o644)
        guard fd >= 0 else { return }
        defer { close(fd) }
        let bytes = Array(line.utf8)
        _ = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
    }
}
