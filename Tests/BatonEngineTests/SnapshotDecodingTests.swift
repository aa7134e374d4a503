import BatonSpec
import BatonTestSupport
import Foundation
import GRDB
import Testing

@testable import BatonEngine

/// The pinned snapshot: its fast decoder gives what Foundation's JSONDecoder gives (or refuses), and runs
/// recorded before migration v3 (snapshot inside the runs row) keep their snapshot.
@Suite struct SnapshotDecodingTests {
    /// Every shipped pipeline with no profile and with each shipped profile, pinned as `baton run` pins it.
    static func shippedSnapshots() throws -> [(name: String, snapshot: RunSnapshot)] {
        let workspace = Fixtures.repositoryWorkspace()
        var result: [(name: String, snapshot: RunSnapshot)] = []
        let profiles: [String?] = [nil] + workspace.profiles().map(\.name)
        for profileName in profiles {
            let profile = try profileName.flatMap { try workspace.loadProfile($0).profile }
            for pipeline in workspace.pipelines() {
                let compiled = try workspace.compile(path: pipeline.path, profile: profile)
                guard let plan = compiled.plan else { continue }
                var snapshot = RunSnapshot(
                    plan: plan, profile: profile,
                    sources: Dictionary(compiled.sources.map { (workspace.absolute($0.key), $0.value.text) }) { first, _ in first },
                    pipelinePath: workspace.absolute(pipeline.path), forcedRuntime: nil)
                snapshot.fingerprints = Fingerprints.compute(plan, inputs: ["task": "a \"quoted\" task / with a slash"])
                result.append(("\(pipeline.name) with \(profileName ?? "no profile")", snapshot))
            }
        }
        return result
    }

    /// A pipeline with the awkward parts: text that needs escapes, a JSON schema with every kind of value,
    /// a critic loop, retries, stop sequences, a fallback chain.
    static let awkward = """
        version: 1
        name: awkward
        description: "Quotes \\" backslashes \\\\ slashes / tabs\\t, é, 漢字 and 🎻"
        inputs:
          task: {description: "The task: \\u0001 control"}
        memory_budget: 12GB
        defaults: {max_tokens: 512, temperature: 0.35, top_p: 0.9, stop: ["</s>", "\\n\\n"], seed: 7}
        stages:
          facts:
            model: [m1, m2]
            system: "You are \\"careful\\"."
            prompt: "Facts about {{inputs.task}} in JSON"
            retry: {max_attempts: 4, initial_backoff: 250ms, multiplier: 1.5}
            output:
              format: json
              schema:
                type: object
                properties:
                  facts: {type: array, items: {type: string}, maxItems: 12}
                  score: {type: number, minimum: -1.5, maximum: 1e3}
                  flag: {type: boolean, default: false}
                  nothing: {type: "null"}
                required: [facts]
          review:
            model: m1
            reviews: facts
            max_rounds: 4
            on_exhausted: accept
            prompt: "Review {{stages.facts.output}}"
        """

    static func awkwardSnapshot() throws -> RunSnapshot {
        let source = SourceFile(path: "/tmp/awkward.yaml", text: awkward)
        let compiled = PipelineCompiler(profile: nil) { _ in nil }.compile(source)
        let plan = try #require(compiled.plan, "\(compiled.diagnostics)")
        var snapshot = RunSnapshot(
            plan: plan, profile: nil, sources: [source.path: source.text, "/tmp/prompt \"two\".md": "line\r\nnext\u{7F}"],
            pipelinePath: source.path, forcedRuntime: "echo")
        snapshot.fingerprints = Fingerprints.compute(plan, inputs: ["task": "漢字 🎻 \\ \""])
        return snapshot
    }

    @Test func theFastDecoderReadsWhatJSONDecoderReads() throws {
        var snapshots = try Self.shippedSnapshots()
        #expect(snapshots.count >= 20, "\(snapshots.map(\.name))")
        snapshots.append(("awkward", try Self.awkwardSnapshot()))
        for (name, snapshot) in snapshots {
            let text = try snapshot.encoded()
            let fast = try SnapshotJSONDecoder.decode(RunSnapshot.self, from: text)
            let foundation = try JSONDecoder().decode(RunSnapshot.self, from: Data(text.utf8))
            // Encoded again (sorted keys), both give the stored text back: every field, every value.
            #expect(try fast.encoded() == text, "\(name)")
            #expect(try foundation.encoded() == text, "\(name)")
            #expect(fast.plan.stages.map(\.name) == snapshot.plan.stages.map(\.name), "\(name)")
            #expect(fast.fingerprints == snapshot.fingerprints, "\(name)")
            #expect(fast.sources == snapshot.sources, "\(name)")
            #expect(try RunSnapshot.decode(text).encoded() == text, "\(name)")
        }
    }

    @Test func theProfilesDefaultsAreStoredOnceAndComeBackInEveryStage() throws {
        let snapshots = try Self.shippedSnapshots().filter { $0.snapshot.profile != nil }
        try #require(!snapshots.isEmpty)
        var shrunk = 0
        for (name, snapshot) in snapshots {
            let text = try snapshot.encoded()
            let settings = snapshot.plan.stages.map(\.settings)
            // Every stage gets back exactly the settings it was planned with, through either decoder.
            #expect(try SnapshotJSONDecoder.decode(RunSnapshot.self, from: text).plan.stages.map(\.settings) == settings, "\(name)")
            #expect(try JSONDecoder().decode(RunSnapshot.self, from: Data(text.utf8)).plan.stages.map(\.settings) == settings, "\(name)")
            #expect(try RunSnapshot.decode(text).plan.stages.map(\.settings) == settings, "\(name)")
            // The form Baton 0.1.0 wrote, every stage with all its settings and no marker, reads the same.
            let old = try Self.repeatingDefaults(snapshot)
            #expect(!old.contains("settingsOmitProfileDefaults") && text.contains("settingsOmitProfileDefaults"))
            #expect(try SnapshotJSONDecoder.decode(RunSnapshot.self, from: old).plan.stages.map(\.settings) == settings, "\(name)")
            #expect(try JSONDecoder().decode(RunSnapshot.self, from: Data(old.utf8)).plan.stages.map(\.settings) == settings, "\(name)")
            #expect(try RunSnapshot.decode(old).encoded() == text, "\(name)")
            if text.utf8.count < old.utf8.count { shrunk += 1 }
        }
        #expect(shrunk > 0)  // profiles with defaults; the others have nothing to share
    }

    /// A tool stage takes no defaults (docs/tools.md): pinned and read back, it has the settings it was planned with,
    /// not the profile's `defaults` (which a resume used to give it: another timeout than the run had).
    @Test func aToolStageKeepsItsOwnSettingsThroughTheSnapshot() throws {
        let profileText = """
            version: 1
            name: tooling
            runtimes: {echo: {kind: echo}}
            models: {tiny: {runtime: echo, footprint: 0}}
            defaults: {timeout: 7m, temperature: 0.3, retry: {max_attempts: 5}}
            tools: {allow: [ls, date]}
            """
        let document = ProfileDecoder.decode(SourceFile(path: "tooling.yaml", text: profileText), environment: [:])
        let profile = try #require(ProfileResolver.resolve(document) { _ in nil }.0)
        let pipeline = """
            version: 1
            stages:
              list: {run: [ls, "-1"]}
              timed: {run: [date], timeout: 30s}
              sum: {model: tiny, prompt: "Sum {{stages.list.output}} {{stages.timed.output}}"}
            """
        let compiled = PipelineCompiler(profile: profile).compile(SourceFile(path: "/tmp/tooling.yaml", text: pipeline))
        let plan = try #require(compiled.plan, "\(compiled.diagnostics.map(\.message))")
        #expect(plan.stages.first { $0.name == "list" }?.settings.timeout == nil)
        #expect(plan.stages.first { $0.name == "timed" }?.settings.timeout == 30)
        #expect(plan.stages.first { $0.name == "sum" }?.settings.timeout == 420)
        let snapshot = RunSnapshot(plan: plan, profile: profile, sources: [:], pipelinePath: "/tmp/tooling.yaml", forcedRuntime: nil)
        let text = try snapshot.encoded()
        #expect(try RunSnapshot.decode(text).plan.stages.map(\.settings) == plan.stages.map(\.settings))
        #expect(
            try JSONDecoder().decode(RunSnapshot.self, from: Data(text.utf8)).plan.stages.map(\.settings) == plan.stages.map(\.settings))
    }

    /// `snapshot` as Baton 0.1.0 stored it: the plan's stages with every setting, no marker.
    static func repeatingDefaults(_ snapshot: RunSnapshot) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        var object = try #require(JSONSerialization.jsonObject(with: encoder.encode(snapshot)) as? [String: Any])
        object["settingsOmitProfileDefaults"] = nil
        object["plan"] = try JSONSerialization.jsonObject(with: encoder.encode(snapshot.plan))
        return String(decoding: try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]), as: UTF8.self)
    }

    @Test func whatTheFastDecoderDoesNotHandleItRefuses() throws {
        // A fraction where a whole number is expected, a Date, malformed text: errors, never a guess.
        struct Counted: Decodable, Equatable { var count: Int }
        #expect(throws: (any Error).self) { try SnapshotJSONDecoder.decode(Counted.self, from: #"{"count": 2.5}"#) }
        #expect(throws: (any Error).self) { try SnapshotJSONDecoder.decode([Date].self, from: "[0]") }
        #expect(throws: (any Error).self) { try SnapshotJSONDecoder.decode(Counted.self, from: #"{"count": 2"#) }
        #expect(throws: (any Error).self) { try SnapshotJSONDecoder.decode(Counted.self, from: #"{"count": 2} x"#) }
        #expect(throws: (any Error).self) { try SnapshotJSONDecoder.decode(Counted.self, from: #"{"total": 2}"#) }
        #expect(try SnapshotJSONDecoder.decode(Counted.self, from: #" {"other": [1, {"a": null}], "count": -12} "#) == Counted(count: -12))
        // Of two equal keys the first one wins, as with JSONDecoder, in small objects and in large ones.
        let twice = #"{"count": 1, "count": 2}"#
        #expect(try SnapshotJSONDecoder.decode(Counted.self, from: twice) == JSONDecoder().decode(Counted.self, from: Data(twice.utf8)))
        #expect(try SnapshotJSONDecoder.decode(Counted.self, from: twice) == Counted(count: 1))
        // Many members, looked up by key through an index.
        let many = "{" + (0..<100).map { "\"k\($0)\": \"v\($0)\"" }.joined(separator: ", ") + "}"
        let decoded = try SnapshotJSONDecoder.decode([String: String].self, from: many)
        #expect(decoded.count == 100 && decoded["k42"] == "v42")
        struct Wide: Decodable {
            var k7: String
            var k93: String
        }
        let wide = try SnapshotJSONDecoder.decode(Wide.self, from: many)
        #expect(wide.k7 == "v7" && wide.k93 == "v93")
        let manyTwice = String(many.dropLast()) + #", "k7": "again"}"#
        #expect(
            try SnapshotJSONDecoder.decode(Wide.self, from: manyTwice).k7 == JSONDecoder().decode(Wide.self, from: Data(manyTwice.utf8)).k7)
        #expect(try SnapshotJSONDecoder.decode(Wide.self, from: manyTwice).k7 == "v7")
        #expect(
            try SnapshotJSONDecoder.decode([String: String].self, from: manyTwice)
                == JSONDecoder().decode([String: String].self, from: Data(manyTwice.utf8)))
        // A snapshot text JSONDecoder accepts and the fast decoder does not still decodes.
        let text = try Self.awkwardSnapshot().encoded()
        let withFraction = text.replacingOccurrences(of: "\"maxRounds\":4", with: "\"maxRounds\":4.0")
        try #require(withFraction != text)
        #expect(throws: (any Error).self) { try SnapshotJSONDecoder.decode(RunSnapshot.self, from: withFraction) }
        let foundation = try? JSONDecoder().decode(RunSnapshot.self, from: Data(withFraction.utf8))
        if let foundation {
            // Compared encoded: JSONDecoder's objects come back in dictionary order.
            #expect(try RunSnapshot.decode(withFraction).encoded() == foundation.encoded())
        }
    }

    @Test func aRunRecordedBeforeMigrationV3KeepsItsSnapshot() throws {
        let path = NSTemporaryDirectory() + "baton-snapshot-\(UUID().uuidString)/runs.sqlite"
        let folder = (path as NSString).deletingLastPathComponent
        defer { try? FileManager.default.removeItem(atPath: folder) }
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        let text = try Self.awkwardSnapshot().encoded()
        // The database as Baton left it before v3: the snapshot inside the runs row.
        let queue = try DatabaseQueue(path: path)
        try Migrations.migrator.migrate(queue, upTo: "v2")
        try queue.write { db in
            try db.execute(
                sql: """
                    INSERT INTO runs (id, pipeline, pipeline_hash, snapshot, inputs, status, created_at, updated_at)
                    VALUES ('old', 'awkward', 'h', ?, '{}', 'interrupted', 1, 1)
                    """, arguments: [text])
        }
        try queue.close()

        let store = try RunStore(path: path)
        #expect(try store.run("old").snapshot == text)
        #expect(try store.runs().map(\.snapshot) == [text])
        #expect(try RunSnapshot.decode(store.run("old").snapshot).encoded() == text)
        // Status and lease changes no longer rewrite it; a replacement replaces it.
        try store.setStatus("old", .failed, event: .runFailed)
        #expect(try store.run("old").snapshot == text)
        try store.replaceSnapshot("old", snapshot: "{}", pipelineHash: "h2", supersede: [])
        #expect(try store.run("old").snapshot == "{}")
        let inRow = try DatabaseQueue(path: path).read { try String.fetchOne($0, sql: "SELECT snapshot FROM runs WHERE id = 'old'") }
        #expect(inRow == "")
    }
}
