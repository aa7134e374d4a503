import ArgumentParser

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
    /// A bug in Baton (sysexits `EX_SOFTWARE`).
    public static let internalError: Int32 = 70
    /// The run was interrupted after its checkpoint was written.
    public static let interrupted: Int32 = 130
}

extension ExitCode {
    static let invalidPipeline = ExitCode(BatonExitCode.invalidPipeline)
    static let notFound = ExitCode(BatonExitCode.notFound)
}
