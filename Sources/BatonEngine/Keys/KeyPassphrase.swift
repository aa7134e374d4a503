import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Where the key file's passphrase comes from: `BATON_KEY_PASSPHRASE`, else a prompt on the terminal.
public enum KeyPassphrase {
    /// The environment variable that holds the passphrase.
    public static let variable = "BATON_KEY_PASSPHRASE"

    /// The passphrase for the key file at `path`: `BATON_KEY_PASSPHRASE` when set and not empty, else typed on the
    /// terminal without echo when standard input is one.
    ///
    /// - Parameter creating: the file does not exist yet, so a typed passphrase is asked twice and may not be empty.
    /// - Throws: ``KeyFileError/noPassphrase(path:)`` when there is neither the variable nor a terminal;
    ///   ``KeyFileError/passphraseMismatch(path:)``, ``KeyFileError/emptyPassphrase(path:)`` or
    ///   ``KeyFileError/cancelled(path:)`` from the prompt.
    public static func obtain(for path: String, environment: [String: String], creating: Bool) throws(KeyFileError) -> String {
        if let value = environment[variable], !value.isEmpty { return value }
        guard SecretPrompt.isAvailable else { throw .noPassphrase(path: path) }
        guard creating else { return try SecretPrompt.read("Passphrase for the key file \(path): ", for: path) }
        let first = try SecretPrompt.read("New passphrase for the key file \(path): ", for: path)
        guard !first.isEmpty else { throw .emptyPassphrase(path: path) }
        let second = try SecretPrompt.read("Type the passphrase again: ", for: path)
        guard first == second else { throw .passphraseMismatch(path: path) }
        return first
    }

    /// The environment variable that holds the new passphrase for `baton keys passphrase`.
    public static let newVariable = "BATON_KEY_NEW_PASSPHRASE"

    /// The new passphrase for re-encrypting the key file at `path`: `BATON_KEY_NEW_PASSPHRASE` when set and not empty,
    /// else typed twice on the terminal without echo, the way a new file's passphrase is.
    ///
    /// - Returns: nil when there is neither the variable nor a terminal (the caller says which variable to set).
    /// - Throws: ``KeyFileError/passphraseMismatch(path:)``, ``KeyFileError/emptyPassphrase(path:)`` or
    ///   ``KeyFileError/cancelled(path:)`` from the prompt.
    public static func obtainNew(for path: String, environment: [String: String]) throws(KeyFileError) -> String? {
        if let value = environment[newVariable], !value.isEmpty { return value }
        guard SecretPrompt.isAvailable else { return nil }
        let first = try SecretPrompt.read("New passphrase for the key file \(path): ", for: path)
        guard !first.isEmpty else { throw .emptyPassphrase(path: path) }
        let second = try SecretPrompt.read("Type the new passphrase again: ", for: path)
        guard first == second else { throw .passphraseMismatch(path: path) }
        return first
    }
}

/// Reads a secret (a passphrase, an API key) from the terminal on standard input without echoing it.
public enum SecretPrompt {
    /// Whether standard input is a terminal to ask on.
    public static var isAvailable: Bool { isatty(STDIN_FILENO) == 1 }

    /// Writes `prompt` to standard error and reads one line from standard input with echo off.
    ///
    /// The terminal is put in non-canonical mode without signals, so Ctrl-C ends the prompt here (and the terminal
    /// is restored) instead of killing the process with echo still off. Backspace, Ctrl-U and Ctrl-D work as usual.
    ///
    /// - Parameter path: the key file the secret is for, named in errors.
    /// - Throws: ``KeyFileError/cancelled(path:)`` on Ctrl-C, or Ctrl-D on an empty line;
    ///   ``KeyFileError/noPassphrase(path:)`` when standard input is not a terminal.
    public static func read(_ prompt: String, for path: String) throws(KeyFileError) -> String {
        let fd = STDIN_FILENO
        var saved = termios()
        guard tcgetattr(fd, &saved) == 0 else { throw .noPassphrase(path: path) }
        var raw = saved
        raw.c_lflag &= ~tcflag_t(ECHO | ECHONL | ICANON | ISIG | IEXTEN)
        withUnsafeMutableBytes(of: &raw.c_cc) { cc in
            cc[Int(VMIN)] = 1
            cc[Int(VTIME)] = 0
        }
        let controls = withUnsafeBytes(of: saved.c_cc) { cc in
            SecretLineEditor.Controls(
                interrupt: cc[Int(VINTR)], erase: cc[Int(VERASE)], kill: cc[Int(VKILL)], endOfFile: cc[Int(VEOF)])
        }
        // Echo goes off before the prompt appears, so nothing typed after the prompt can be echoed; what was typed
        // ahead is discarded.
        guard tcsetattr(fd, TCSAFLUSH, &raw) == 0 else { throw .noPassphrase(path: path) }
        defer {
            _ = tcsetattr(fd, TCSANOW, &saved)
            FileHandle.standardError.write(Data("\n".utf8))
        }
        FileHandle.standardError.write(Data(prompt.utf8))
        var editor = SecretLineEditor(controls: controls)
        var byte: UInt8 = 0
        while true {
            let count = readByte(fd, &byte)
            if count < 0, errno == EINTR { continue }
            if count <= 0 { return editor.text }
            switch editor.feed(byte) {
            case .reading: continue
            case .finished: return editor.text
            case .cancelled: throw .cancelled(path: path)
            }
        }
    }

    private static func readByte(_ fd: Int32, _ byte: inout UInt8) -> Int {
        #if canImport(Glibc)
            Glibc.read(fd, &byte, 1)
        #else
            Darwin.read(fd, &byte, 1)
        #endif
    }
}

/// Line editing for a prompt whose terminal does not echo or edit: the bytes typed so far, and what each new
/// byte does.
struct SecretLineEditor {
    /// The terminal's control characters (0 disables one).
    struct Controls: Sendable {
        var interrupt: UInt8 = 0x03
        var erase: UInt8 = 0x7F
        var kill: UInt8 = 0x15
        var endOfFile: UInt8 = 0x04
    }

    /// What the line does after a byte.
    enum Step: Equatable {
        /// Keep reading.
        case reading
        /// Enter: the line is complete.
        case finished
        /// Ctrl-C, or Ctrl-D on an empty line.
        case cancelled
    }

    let controls: Controls
    /// The line's bytes so far (UTF-8).
    private(set) var bytes: [UInt8] = []

    init(controls: Controls = Controls()) {
        self.controls = controls
    }

    /// The line as text.
    var text: String { String(decoding: bytes, as: UTF8.self) }

    /// Applies one typed byte.
    mutating func feed(_ byte: UInt8) -> Step {
        func matches(_ control: UInt8) -> Bool { control != 0 && byte == control }
        if byte == 0x0A || byte == 0x0D { return .finished }
        if matches(controls.interrupt) { return .cancelled }
        if matches(controls.endOfFile) { return bytes.isEmpty ? .cancelled : .finished }
        if matches(controls.erase) || byte == 0x7F || byte == 0x08 {
            // Remove one whole character: its continuation bytes, then its first byte.
            while let last = bytes.last, last & 0xC0 == 0x80 { bytes.removeLast() }
            if !bytes.isEmpty { bytes.removeLast() }
            return .reading
        }
        if matches(controls.kill) {
            bytes.removeAll()
            return .reading
        }
        if byte >= 0x20 || byte == 0x09 { bytes.append(byte) }
        return .reading
    }
}
