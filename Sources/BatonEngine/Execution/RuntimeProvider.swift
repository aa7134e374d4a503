import BatonSpec
import Foundation

/// Provides the runtime for a model of a stage.
public protocol RuntimeProvider: Sendable {
    /// The runtime serving `model`.
    ///
    /// - Throws: ``RuntimeError`` when the runtime is not usable (unknown kind, bad options).
    func runtime(for model: ResolvedModel, snapshot: RunSnapshot) throws -> any LLMRuntime
}
