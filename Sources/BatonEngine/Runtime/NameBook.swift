import Foundation

/// What a client learned about model names: the spelling Baton used for each model (so resident models
/// are reported under the pipeline's names whichever form the server lists), each model's weights digest
/// and trained context. Keyed by ``OllamaClient/normalizedName(_:)``.
final class NameBook: Sendable {
    private struct Entries {
        var spellingByName: [String: String] = [:]
        var digests: [String: String] = [:]
        var trained: [String: Int] = [:]
        var weightsFiles: [String: String] = [:]
        /// When a lookup (`what` and the name, joined by a NUL) last found nothing.
        var misses: [String: ContinuousClock.Instant] = [:]
    }

    private let entries = Locked(Entries())

    private static func key(_ name: String) -> String { OllamaClient.normalizedName(name) }

    func remember(_ name: String) { entries.withLock { $0.spellingByName[Self.key(name)] = name } }

    /// The spelling Baton used for the model `listed` names, if it used one.
    func spelling(of listed: String) -> String? { entries.withLock { $0.spellingByName[Self.key(listed)] } }

    /// Every spelling Baton used.
    var spellings: [String] { entries.withLock { $0.spellingByName.values.sorted() } }

    func digest(of name: String) -> String? { entries.withLock { $0.digests[Self.key(name)] } }

    func setDigest(_ digest: String, of name: String) { entries.withLock { $0.digests[Self.key(name)] = digest } }

    func trainedContext(of name: String) -> Int? { entries.withLock { $0.trained[Self.key(name)] } }

    func setTrainedContext(_ context: Int, of name: String) { entries.withLock { $0.trained[Self.key(name)] = context } }

    /// Records that looking up `what` of `name` found nothing.
    func missed(_ what: String, _ name: String) { entries.withLock { $0.misses[what + "\u{0}" + Self.key(name)] = .now } }

    /// Whether looking up `what` of `name` found nothing less than `seconds` ago.
    func missedRecently(_ what: String, _ name: String, within seconds: Double) -> Bool {
        entries.withLock { $0.misses[what + "\u{0}" + Self.key(name)].map { ContinuousClock.now - $0 < .seconds(seconds) } ?? false }
    }

    func weights(of name: String) -> String? { entries.withLock { $0.weightsFiles[Self.key(name)] } }

    func setWeights(_ weights: String, of name: String) { entries.withLock { $0.weightsFiles[Self.key(name)] = weights } }
}
