import ArgumentParser
import BatonEngine

/// Baton's exit codes, decided here once and documented in the README. They are stable.
public enum BatonExitCode {
    /// Everything worked.
    public static let ok: Int32 = 0
    /// A run failed: a stage exhausted its retries or its critic rounds.
    public static let runFailed: Int32 = 1
    /// The command line is wrong (sysexits `EX_USAGE`).
    public static let usage: Int32 = 64
    /// A pipeline or profile is invalid (sysexits `EX_DATAERR`).
    public static let invalidPipeline: Int32 = 65
    /// A named file, pipeline, profile or run does not exist (sysexits `EX_NOINPUT`).
    public static let notFound: Int32 = 66
    /// A runtime is unreachable (sysexits `EX_UNAVAILABLE`).
    public static let runtimeUnavailable: Int32 = 69
    /// The run database cannot be read or written: full or read-only disk, damaged file, newer schema
    /// (sysexits `EX_IOERR`).
    public static let storeFailure: Int32 = 74
    /// Another process is executing the run (sysexits `EX_TEMPFAIL`).
    public static let runLocked: Int32 = 75
    /// The key file cannot be used: damaged, cut short, of an unknown version, or not readable or writable
    /// (sysexits `EX_IOERR`, like the run database).
    public static let keyFileUnusable: Int32 = 74
    /// The key file may not be unlocked: wrong passphrase (or a changed file), no passphrase available, or the file
    /// is readable by other users (sysexits `EX_NOPERM`).
    public static let keyFileDenied: Int32 = 77
    /// A file cannot be written (`init`, `profiles import`, `profiles export -o`), or `profiles import`/`export -o` would
    /// replace one without `--force` (sysexits `EX_CANTCREAT`).
    public static let cannotCreate: Int32 = 73
    /// Refused by trust: an untrusted project folder, or a key bound to other hosts (sysexits `EX_CONFIG`: the
    /// user's configuration does not allow it; `baton trust DIR` or `baton keys allow` does). Nothing is recorded.
    public static let untrusted: Int32 = 78
    /// `baton serve` cannot listen: the port is in use, or binding it needs privileges (sysexits `EX_OSERR`).
    public static let cannotListen: Int32 = 71
    /// A bug in Baton (sysexits `EX_SOFTWARE`).
    public static let internalError: Int32 = 70
    /// A resume stopped at an external tool call whose intent was recorded but not its result: Baton will not repeat
    /// it on its own; `baton resume RUN --retry-call STAGE` or `--skip-call STAGE` decides (docs/tools.md).
    public static let ambiguousCall: Int32 = 79
    /// The run was interrupted after its checkpoint was written.
    public static let interrupted: Int32 = 130
}

extension ExitCode {
    static let invalidPipeline = ExitCode(BatonExitCode.invalidPipeline)
    static let notFound = ExitCode(BatonExitCode.notFound)
}

extension BatonExitCode {
    /// The exit status for a key file error: 77 when the file may not be unlocked, 74 when it cannot be used, 64 for
    /// a passphrase typed wrong at the prompt (empty, or not the same twice), 130 for a prompt cancelled with Ctrl-C.
    public static func code(for error: KeyFileError) -> Int32 {
        switch error {
        case .wrongPassphrase, .noPassphrase, .permissionsTooOpen: return keyFileDenied
        case .corrupted, .unsupportedVersion, .unreadable, .unwritable: return keyFileUnusable
        case .passphraseMismatch, .emptyPassphrase: return usage
        case .cancelled: return interrupted
        }
    }
}
