import Foundation

/// Why the encrypted key file could not be read, unlocked or written.
///
/// Every description names the file and says how to fix the problem. None contains a key or the passphrase:
/// no case carries either, and the reasons of ``corrupted(path:reason:)`` are fixed wordings.
public enum KeyFileError: Error, Sendable, Equatable, CustomStringConvertible {
    /// Authentication failed: the passphrase is wrong, or the file was changed after it was written.
    case wrongPassphrase(path: String)
    /// The file is not a key file Baton wrote: not JSON, a missing field, bad base64, cut short.
    case corrupted(path: String, reason: String)
    /// The file's format version is one this Baton does not read.
    case unsupportedVersion(path: String, version: Int)
    /// Users other than the owner may read or write the file (`mode` is its permission bits); it is not read.
    case permissionsTooOpen(path: String, mode: Int)
    /// No passphrase: `BATON_KEY_PASSPHRASE` is unset and standard input is not a terminal to ask on.
    case noPassphrase(path: String)
    /// The passphrase typed twice for a new file was not the same both times.
    case passphraseMismatch(path: String)
    /// An empty passphrase was typed for a new file.
    case emptyPassphrase(path: String)
    /// The prompt was cancelled with Ctrl-C or Ctrl-D.
    case cancelled(path: String)
    /// The file or its folder could not be read (`reason` is the system's, such as "Permission denied").
    case unreadable(path: String, reason: String)
    /// The file or its folder could not be written; the previous file, if any, is unchanged.
    case unwritable(path: String, reason: String)

    /// The key file the error is about.
    public var path: String {
        switch self {
        case .wrongPassphrase(let path), .corrupted(let path, _), .unsupportedVersion(let path, _),
            .permissionsTooOpen(let path, _), .noPassphrase(let path), .passphraseMismatch(let path),
            .emptyPassphrase(let path), .cancelled(let path), .unreadable(let path, _), .unwritable(let path, _):
            return path
        }
    }

    public var description: String {
        let file = "the key file \(path)"
        let startOver = "restore it from a backup, or delete it and add the keys again with 'baton keys set NAME'"
        switch self {
        case .wrongPassphrase:
            return "cannot unlock \(file): wrong passphrase, or the file was changed; check the passphrase "
                + "(BATON_KEY_PASSPHRASE when it is set), or \(startOver)"
        case .corrupted(_, let reason):
            return "\(file) is damaged (\(reason)); \(startOver)"
        case .unsupportedVersion(_, let version):
            return "\(file) has format version \(version), and this Baton reads only versions "
                + "\(KeyFileFormat.readableVersions.lowerBound) to \(KeyFileFormat.readableVersions.upperBound); use the Baton that "
                + "wrote it, or \(startOver)"
        case .permissionsTooOpen(_, let mode):
            return "\(file) may be read or changed by other users (mode \(String(format: "%04o", mode))), so it "
                + "is not used; run 'chmod 600 \(Self.shellQuoted(path))'"
        case .noPassphrase:
            return "\(file) needs its passphrase; set BATON_KEY_PASSPHRASE, or run Baton in a terminal to be asked for it"
        case .passphraseMismatch:
            return "the two passphrases were not the same; nothing was written to \(path), try again"
        case .emptyPassphrase:
            return "an empty passphrase would not protect \(file); nothing was written, choose a passphrase"
        case .cancelled:
            return "cancelled at the prompt for \(file); nothing was changed"
        case .unreadable(_, let reason):
            return "cannot read \(file): \(reason); check that it and its folder belong to you"
        case .unwritable(_, let reason):
            return "cannot write \(file): \(reason); the previous file, if any, is unchanged; check the disk and "
                + "that the folder belongs to you"
        }
    }

    /// `path` as one shell word: unchanged when it is plain, else in single quotes.
    static func shellQuoted(_ path: String) -> String {
        let plain = path.unicodeScalars.allSatisfy { scalar in
            scalar.isASCII && (CharacterSet.alphanumerics.contains(scalar) || "/._-+,:@%".unicodeScalars.contains(scalar))
        }
        if plain && !path.isEmpty { return path }
        return "'" + path.replacingOccurrences(of: "'", with: "'\\''") + "'"
    }
}
