import BatonEngine
import BatonTestSupport
import Foundation
import Testing

/// `baton test` on real models (issue 14): a real llama-server router with Gemma 3 270M. Repeated runs record a pass
/// rate and the runtime's tokens per second, `--record` keeps the answers, and `--replay` passes again with the server
/// stopped, giving the recorded outputs; a server killed while a case runs makes the case an error, not a failure.
/// `scripts/test.sh` builds the server and fetches the model first; `BATON_SKIP_INTEGRATION=1` leaves these out.
@Suite(.serialized, .enabled(if: !LlamaRouter.skipped, "BATON_SKIP_INTEGRATION=1"))
struct RealModelTestingTests {
    /// A temporary folder with the profile `gemma` (local-gemma's models on the router at the url the runs are given),
    /// a pipeline and its test file.
    struct Folder {
        let path: String
        var database: String { path + "/runs.sqlite" }

        init(_ name: String) throws {
            path = NSTemporaryDirectory() + "baton-\(name)-\(UUID().uuidString.prefix(8))"
            try FileManager.default.createDirectory(atPath: path + "/profiles", withIntermediateDirectories: true)
            let gemma = try String(contentsOfFile: Fixtures.path("profiles/local-gemma.yaml"), encoding: .utf8)
            let profile = gemma.replacingOccurrences(of: "name: local-gemma", with: "name: gemma")
            precondition(profile.contains("name: gemma"), "local-gemma.yaml no longer says name: local-gemma")
            try profile.write(toFile: path + "/profiles/gemma.yaml", atomically: true, encoding: .utf8)
        }

        @discardableResult
        func write(_ name: String, _ text: String) throws -> String {
            let file = path + "/" + name
            try text.write(toFile: file, atomically: true, encoding: .utf8)
            return file
        }

        var environment: [String: String] {
            ["BATON_DB": database, "BATON_PROFILE_PATH": path + "/profiles", "BATON_PROGRESS_INTERVAL": "0"]
        }

        /// `baton arguments` in the folder; `url` is the router's (a closed port when it is stopped).
        func baton(_ arguments: [String], url: String) async throws -> BatonProcess.Result {
            try await BatonProcess.run(arguments, in: path, environment: environment.merging(["BATON_LLAMA_URL": url]) { $1 })
        }

        func store() throws -> RunStore { try RunStore(path: database) }

        /// The completed output of every stage of a run, by stage (the last completed attempt of each).
        func outputs(_ runID: String) throws -> [String: String] {
            var outputs: [String: String] = [:]
            for attempt in try store().attempts(runID) where attempt.status == .completed { outputs[attempt.stage] = attempt.output }
            return outputs
        }

        func remove() { try? FileManager.default.removeItem(atPath: path) }
    }

    /// One stage whose JSON the server constrains to the schema (a grammar), so the 270M model can pass; the strings'
    /// `maxLength` keeps the answer within max_tokens (unbounded, Gemma at temperature 0.8 sometimes rambled past 48
    /// tokens, the JSON was cut off, and one pass in three fell under the minimum pass rate).
    static let pipeline = """
        version: 1
        name: fruit
        inputs:
          fruit: {default: an apple}
        defaults: {num_ctx: 2048, max_tokens: 48, temperature: 0.8}
        stages:
          describe:
            role: planner
            prompt: "Describe {{inputs.fruit}} as JSON with its name and its colour."
            output:
              format: json
              schema:
                type: object
                properties: {name: {type: string, maxLength: 24}, colour: {type: string, maxLength: 24}}
                required: [name, colour]
                additionalProperties: false
        """

    static let tests = """
        version: 1
        profile: gemma
        cases:
          - name: describes the fruit as JSON
            assert:
              - is-json: {schema: {type: object, required: [name, colour], properties: {name: {type: string}, colour: {type: string}}}}
              - json-path: {path: "$.name", exists: true}
              - max-tokens: 48
        """

    static func report(_ result: BatonProcess.Result) throws -> TestReport {
        try JSONDecoder().decode(TestReport.self, from: Data(result.stdout.utf8))
    }

    @Test("--repeat 3 --record on Gemma gives a pass rate and tokens per second; --replay with the server stopped gives the same outputs")
    func recordThenReplayWithTheServerStopped() async throws {
        let folder = try Folder("real-test")
        defer { folder.remove() }
        try folder.write("fruit.yaml", Self.pipeline)
        let testFile = try folder.write("fruit.test.yaml", Self.tests)

        // Given three recorded repetitions on the real model
        let recorded = try await LlamaRouter.with { router in
            try await folder.baton(
                ["test", testFile, "--profile", "gemma", "--repeat", "3", "--min-pass-rate", "0.3", "--record", "--json"], url: router.url)
        }
        // A real model's answers vary: one pass in three passes the case, none fails it; either way the report agrees
        // with itself and the replay below gives the same.
        let real = try #require(try Self.report(recorded).cases.first, "\(recorded.summary)")
        #expect(real.repetitions.count == 3)
        let passes = real.repetitions.filter { $0.status == .passed }.count
        #expect(real.passRate == Double(passes) / 3, "\(real.passRate) for \(passes) of 3")
        #expect(real.status == (passes >= 1 ? .passed : .failed), "\(real.repetitions.map(\.assertions))")
        #expect(recorded.status == (real.status == .passed ? 0 : 1), "\(recorded.summary)")
        #expect(real.variant != "echo" && real.variant != "replay" && real.variant.contains("planner"), "\(real.variant)")
        for repetition in real.repetitions {
            #expect(repetition.outputTokens > 0 && repetition.promptTokens > 0, "\(repetition)")
            #expect((repetition.generationTokensPerSecond ?? 0) > 0, "the runtime's timings give a rate: \(repetition)")
            #expect(repetition.timeToFirstTokenMs != nil)
        }
        let runIDs = real.repetitions.compactMap(\.runID)
        #expect(runIDs.count == 3 && Set(runIDs).count == 3)
        // The cassettes: one generation per repetition, under the test file's absolute path and the real variant.
        let store = try folder.store()
        // (On macOS the temporary folder is reached through a symbolic link: either spelling may be the one stored.)
        let spellings = [
            URL(fileURLWithPath: testFile).standardizedFileURL.path, URL(fileURLWithPath: testFile).resolvingSymlinksInPath().path,
        ]
        let suite = try spellings.first { try !store.cassetteVariants(suite: $0, caseName: real.name).isEmpty } ?? spellings[0]
        #expect(try store.cassetteVariants(suite: suite, caseName: real.name) == [real.variant: [1, 2, 3]])
        for repetition in 1...3 {
            let key = CassetteKey(suite: suite, caseName: real.name, variant: real.variant, repetition: repetition)
            let records = try store.cassettes(key)
            #expect(records.map(\.stage) == ["describe"] && records.allSatisfy { $0.kind == .generation }, "\(records)")
        }

        // When they are replayed with the server stopped (a closed port: any call would fail)
        let replayed = try await folder.baton(
            ["test", testFile, "--replay", "--repeat", "3", "--min-pass-rate", "0.3", "--json"], url: "http://127.0.0.1:9")

        // Then the replay passes as the recording did, each repetition with the recorded outputs
        #expect(replayed.status == (real.status == .passed ? 0 : 1), "\(replayed.summary)")
        let replay = try #require(try Self.report(replayed).cases.first, "\(replayed.summary)")
        #expect(replay.variant == "replay")
        #expect(replay.repetitions.map(\.status) == real.repetitions.map(\.status), "\(replay.repetitions.map(\.assertions))")
        #expect(replay.passRate == real.passRate)
        for (index, (original, again)) in zip(real.repetitions, replay.repetitions).enumerated() {
            let before = try folder.outputs(try #require(original.runID))
            let after = try folder.outputs(try #require(again.runID))
            // A repetition whose answer was refused (a failed run) has no completed output, and neither has its replay.
            #expect((!before.isEmpty || original.status != .passed) && before == after, "repetition \(index + 1): \(before) then \(after)")
        }
        // Every repetition is a normal run: `show` reads it.
        let show = try await folder.baton(["show", runIDs[0]], url: "http://127.0.0.1:9")
        #expect(show.status == 0, "\(show.summary)")
    }

    /// A short first stage, then one that writes for a long time: the server is killed while the second streams.
    static let longPipeline = """
        version: 1
        name: long
        defaults: {num_ctx: 2048, seed: 3, temperature: 0, retry: {max_attempts: 2, initial_backoff: 200ms, max_backoff: 1s}}
        stages:
          plan: {role: planner, max_tokens: 8, prompt: "Say hello."}
          write: {role: executor, max_tokens: 400, prompt: "Write a long story about {{stages.plan.output}}"}
        """

    static let longTests = """
        version: 1
        profile: gemma
        cases:
          - name: writes a story
            assert:
              - contains: "the"
              - stages-run: [plan, write]
        """

    @Test("a server killed while a case runs makes the case an ERROR, not a FAIL, in the report and the JUnit file")
    func aRuntimeKilledMidCaseIsAnError() async throws {
        let folder = try Folder("real-test-kill")
        defer { folder.remove() }
        try folder.write("long.yaml", Self.longPipeline)
        let testFile = try folder.write("long.test.yaml", Self.longTests)
        let junit = folder.path + "/junit.xml"

        let result = try await LlamaRouter.with { router in
            // Given the case running, its second stage streaming
            let running = try BatonProcess.start(
                ["test", testFile, "--profile", "gemma", "--json", "--junit", junit], in: folder.path,
                environment: folder.environment.merging(["BATON_LLAMA_URL": router.url]) { $1 })
            var streaming = false
            for _ in 0..<3000 where !streaming && running.isRunning {
                try await Task.sleep(for: .milliseconds(20))
                if let store = try? folder.store(), let run = try? store.runs().first, let attempts = try? store.attempts(run.id) {
                    streaming = attempts.contains { $0.stage == "write" && $0.status == .running && !$0.output.isEmpty }
                }
            }
            #expect(streaming, "the 'write' stage never streamed")
            // When the server dies
            await router.kill()
            return await running.wait()
        }

        // Then the case is an error (the runtime went away), not a failure of its assertions
        #expect(result.status == 1, "\(result.summary)")
        let report = try Self.report(result)
        #expect(report.errors == 1 && report.failed == 0 && report.passed == 0, "\(result.summary)")
        let repetition = try #require(report.cases.first?.repetitions.first)
        #expect(repetition.status == .error && repetition.error?.isEmpty == false, "\(repetition)")
        #expect(result.stderr.split(separator: "\n").last == "0 passed, 0 failed, 1 errors, 0 skipped", "\(result.stderr)")
        let xml = try String(contentsOfFile: junit, encoding: .utf8)
        #expect(xml.contains("<error") && !xml.contains("<failure"), "\(xml)")
        if await ShippedPipelineTestsTests.JUnitCounts.isAvailable() {
            let counts = try await ShippedPipelineTestsTests.JUnitCounts.read(junit)
            #expect(counts.errors == 1 && counts.failures == 0 && counts.caseErrors == 1, "\(counts)")
        }
    }
}
