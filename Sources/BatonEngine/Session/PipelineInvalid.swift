import BatonSpec

/// A pipeline or profile with errors: the located diagnostics (warnings too) and the files they point into, for the
/// command to print (the engine prints nothing).
public struct PipelineInvalid: Error, Sendable {
    /// Every problem found, errors and warnings.
    public var diagnostics: [Diagnostic]
    /// The files the diagnostics point into, by displayed path.
    public var sources: [String: SourceFile]

    /// The problems `diagnostics` in `sources`.
    public init(diagnostics: [Diagnostic], sources: [String: SourceFile]) {
        self.diagnostics = diagnostics
        self.sources = sources
    }
}
