import BatonSpec
import Crypto
import Foundation

/// What a run pins when it starts: the compiled plan, the resolved profile and the source files, so
/// `resume` continues exactly the pipeline that started, whatever happened to the files since.
public struct RunSnapshot: Sendable, Hashable, Codable {
    /// The compiled plan.
    public var plan: ExecutionPlan
    /// The resolved profile, if the run used one.
    public var profile: ResolvedProfile?
    /// The pipeline file and its prompt files, by path, as they were.
    public var sources: [String: String]
    /// The pipeline file's path.
    public var pipelinePath: String?
    /// `--runtime echo`: every stage ran on the echo runtime.
    public var forcedRuntime: String?
    /// Each stage's fingerprint for the run's inputs, computed once when the run starts.
    public var fingerprints: [String: String]?
    /// The project folders its pipeline and profile files came from when it started, so `resume` and `rerun` check
    /// the same folders' trust (docs/trust.md); nil in runs recorded before it existed.
    public var projectFolders: [String]?

    /// Creates a snapshot.
    public init(plan: ExecutionPlan, profile: ResolvedProfile?, sources: [String: String], pipelinePath: String?, forcedRuntime: String?) {
        self.plan = plan
        self.profile = profile
        self.sources = sources
        self.pipelinePath = pipelinePath
        self.forcedRuntime = forcedRuntime
    }

    private enum CodingKeys: String, CodingKey {
        case plan, profile, sources, pipelinePath, forcedRuntime, fingerprints, projectFolders
        /// True when each stage's settings are stored without the values they took from the profile's `defaults`.
        case settingsOmitProfileDefaults
    }

    /// Decodes a snapshot, giving each model stage back the settings it took from the profile's `defaults` when they were
    /// stored once (snapshots written by Baton 0.1.0 repeat them in every stage, and are read as they are).
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        plan = try container.decode(ExecutionPlan.self, forKey: .plan)
        profile = try container.decodeIfPresent(ResolvedProfile.self, forKey: .profile)
        sources = try container.decode([String: String].self, forKey: .sources)
        pipelinePath = try container.decodeIfPresent(String.self, forKey: .pipelinePath)
        forcedRuntime = try container.decodeIfPresent(String.self, forKey: .forcedRuntime)
        fingerprints = try container.decodeIfPresent([String: String].self, forKey: .fingerprints)
        projectFolders = try container.decodeIfPresent([String].self, forKey: .projectFolders)
        if try container.decodeIfPresent(Bool.self, forKey: .settingsOmitProfileDefaults) == true, let defaults = profile?.spec.defaults {
            for index in plan.stages.indices where !plan.stages[index].isTool {
                plan.stages[index].settings = plan.stages[index].settings.overriding(defaults)
            }
        }
    }

    /// Encodes the snapshot with the profile's `defaults` stored once: every stage inherits them, and repeating
    /// them made a 1,000-stage snapshot 45% larger and its resume slower (Benchmarks/README.md).
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        var stored = plan
        if let defaults = profile?.spec.defaults {
            // A tool stage takes no defaults (docs/tools.md: its own `timeout`, else 300 s): its settings are stored
            // whole and read back as they are, so a resume runs it with the timeout and retries the run had.
            for index in stored.stages.indices where !stored.stages[index].isTool {
                stored.stages[index].settings = stored.stages[index].settings.removing(defaults)
            }
            try container.encode(true, forKey: .settingsOmitProfileDefaults)
        }
        try container.encode(stored, forKey: .plan)
        try container.encodeIfPresent(profile, forKey: .profile)
        try container.encode(sources, forKey: .sources)
        try container.encodeIfPresent(pipelinePath, forKey: .pipelinePath)
        try container.encodeIfPresent(forcedRuntime, forKey: .forcedRuntime)
        try container.encodeIfPresent(fingerprints, forKey: .fingerprints)
        try container.encodeIfPresent(projectFolders, forKey: .projectFolders)
    }

    /// SHA-256 of the source files, to notice an edited pipeline.
    public var sourceHash: String { Self.hash(sources) }

    /// SHA-256 of the texts of `sources` (not their paths, which depend on the working directory).
    public static func hash(_ sources: [String: String]) -> String {
        var hasher = SHA256()
        for text in sources.values.sorted() {
            hasher.update(data: Data("\(text)\u{0}".utf8))
        }
        return Fingerprints.hex(hasher.finalize())
    }

    /// The snapshot as stored in the run database.
    public func encoded() throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return String(decoding: try encoder.encode(self), as: UTF8.self)
    }

    /// Decodes a stored snapshot.
    ///
    /// The text is JSON, as ``encoded()`` writes it (and as every Baton so far has). It is read with
    /// ``SnapshotJSONDecoder``, which is several times faster than `JSONDecoder` on a large plan, and with
    /// `JSONDecoder` when that one gives up. The last snapshot decoded is kept, so the commands that read
    /// the same run's snapshot several times (resume: the command, the executor, the final summary) pay
    /// for it once.
    public static func decode(_ text: String) throws -> RunSnapshot {
        if let known = LastDecoded.shared.snapshot(for: text) { return known }
        let snapshot: RunSnapshot
        do {
            snapshot = try SnapshotJSONDecoder.decode(RunSnapshot.self, from: text)
        } catch {
            snapshot = try JSONDecoder().decode(RunSnapshot.self, from: Data(text.utf8))
        }
        LastDecoded.shared.remember(text, snapshot)
        return snapshot
    }

    /// The last snapshot decoded and its text.
    private final class LastDecoded: Sendable {
        static let shared = LastDecoded()
        private let last = Locked<(text: String, snapshot: RunSnapshot)?>(nil)

        func snapshot(for text: String) -> RunSnapshot? {
            last.withLock { $0?.text == text ? $0?.snapshot : nil }
        }

        func remember(_ text: String, _ snapshot: RunSnapshot) {
            last.withLock { $0 = (text, snapshot) }
        }
    }
}

/// Stage fingerprints: a stage's resolved definition, its model, the run's inputs, and its upstream
/// stages' fingerprints. A stage whose fingerprint did not change can reuse its completed attempts.
public enum Fingerprints {
    /// Lower-case hexadecimal of a digest.
    static func hex(_ digest: some Sequence<UInt8>) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var bytes: [UInt8] = []
        for byte in digest {
            bytes.append(digits[Int(byte >> 4)])
            bytes.append(digits[Int(byte & 0x0F)])
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// The fingerprint of every stage of `plan` for `inputs`.
    public static func compute(_ plan: ExecutionPlan, inputs: [String: String]) -> [String: String] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let inputText = (try? encoder.encode(inputs)).map { String(decoding: $0, as: UTF8.self) } ?? ""
        var result: [String: String] = [:]
        var definitions: [String: String] = [:]
        for stage in plan.stages {
            definitions[stage.name] = (try? encoder.encode(stage)).map { String(decoding: $0, as: UTF8.self) } ?? stage.name
        }
        for stage in plan.stages {  // execution order: dependencies come first
            var hasher = SHA256()
            hasher.update(data: Data(definitions[stage.name]!.utf8))
            hasher.update(data: Data(inputText.utf8))
            // A critic loop is one unit: the reviewed stage's rounds depend on the critic's feedback.
            let loopPartner = stage.reviewedBy ?? stage.critic?.reviews
            if let partner = loopPartner, let definition = definitions[partner] {
                hasher.update(data: Data(definition.utf8))
            }
            for dependency in stage.dependencies.sorted() {
                hasher.update(data: Data((result[dependency] ?? definitions[dependency] ?? dependency).utf8))
            }
            result[stage.name] = hex(hasher.finalize())
        }
        return result
    }
}
