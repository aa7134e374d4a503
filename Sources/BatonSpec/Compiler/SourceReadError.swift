/// Why a file that a pipeline names (its `prompt_file`) could not be read.
///
/// The compiler reports each reason at the `prompt_file` value: a missing file as `file-not-found`, the others as
/// `unreadable-file` with the reason, so a file that is there is never reported as missing.
public enum SourceReadError: Error, Sendable, Equatable {
    /// No file at the path (a folder there counts as none).
    case notFound
    /// The file is `bytes` long, over the `limit` in bytes that Baton reads from one file (``YAMLLimits/maxBytes``).
    case tooLarge(bytes: Int, limit: Int)
    /// The file is there but could not be read; `reason` says why when it is known (e.g. "permission denied").
    case unreadable(reason: String?)
    /// The file is not UTF-8 text.
    case notUTF8
}
