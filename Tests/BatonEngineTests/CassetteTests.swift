import BatonSpec
import BatonTestSupport
import Foundation
import Testing

@testable import BatonEngine

/// `--record` keeps what real runtimes answered in the run store's `cassettes`; `--replay` answers every call from
/// them with no runtime at all, and a call that was never recorded (a changed prompt) makes the repetition an error
/// that names the stage.
@Suite struct CassetteTests {
    static let file = """
        version: 1
        cases:
          - name: recorded
            inputs: {task: health}
            assert:
              - contains: "implemented health"
              - similar: {to: "implemented health", threshold: 0.5, model: all-minilm}

        """

    /// A stand-in real model (and embedder) that answers each stage and counts its calls.
    final class StandIn: RuntimeProvider, LLMRuntime, EmbeddingRuntime, @unchecked Sendable {
        let calls = Locked(0)
        func runtime(for model: ResolvedModel, snapshot: RunSnapshot) throws -> any LLMRuntime { self }
        func generate(_ request: GenerationRequest) -> AsyncThrowingStream<GenerationEvent, any Error> {
            calls.withLock { $0 += 1 }
            let text =
                switch request.stage {
                case "review": #"{"verdict": "approve", "feedback": "ok"}"#
                case "facts": #"{"n": 1}"#
                case "implement": "implemented \(request.prompt.contains("health") ? "health" : "?")"
                default: "plan for \(request.prompt)"
                }
            return AsyncThrowingStream { continuation in
                continuation.yield(.thinking("hmm"))
                continuation.yield(.token(text))
                continuation.yield(
                    .finished(GenerationUsage(promptTokens: 5, outputTokens: 3, runtimeTimings: ["generation": 30, "prompt": 10])))
                continuation.finish()
            }
        }
        func embed(_ texts: [String], model: String) async throws -> EmbeddingBatch {
            EmbeddingBatch(vectors: texts.map { EchoRuntime.hashedVector(of: $0, dimensions: 16) }, promptTokens: texts.count)
        }
        func embeddingModelDigest(_ model: String) async -> String? { "stand-in" }
    }

    /// A provider whose runtimes are gone.
    struct Gone: RuntimeProvider {
        func runtime(for model: ResolvedModel, snapshot: RunSnapshot) throws -> any LLMRuntime {
            throw RuntimeError(.unreachable, "the runtime is stopped", isTransient: false)
        }
    }

    @Test func aRecordingReplaysWithTheRuntimeGoneAndAChangedPromptIsAnError() async throws {
        // Given a case recorded on a stand-in model, twice
        let sandbox = try TestRunnerSandbox()
        try sandbox.write("pipelines/task.test.yaml", Self.file)
        let model = StandIn()
        var recording = sandbox.runner(.profile("real")) {
            $0.record = true
            $0.repeatCount = 2
        }
        recording.runtimes = { _ in model }
        let recorded = try await sandbox.run(recording)
        #expect(recorded.allPassed, "\(recorded.cases)")
        let calls = model.calls.withLock { $0 }
        #expect(calls == 2 * 4)
        #expect(recorded.cases[0].repetitions[0].generationTokensPerSecond == 100)

        let store = try RunStore(path: sandbox.database)
        let suite = sandbox.root + "/pipelines/task.test.yaml"
        #expect(try store.cassetteVariants(suite: suite, caseName: "recorded") == ["real": [1, 2]])
        let rows = try store.cassettes(CassetteKey(suite: suite, caseName: "recorded", variant: "real", repetition: 1))
        #expect(rows.map(\.stage) == ["plan", "review", "facts", "implement", ""])
        #expect(rows.map(\.kind) == [.generation, .generation, .generation, .generation, .embedding])

        // When it is replayed with every runtime gone
        // (as recorded: the profile `real`; the sandbox's runners default to `t`)
        var replay = sandbox.runner(.replay) {
            $0.repeatCount = 2
            $0.profileName = "real"
        }
        replay.runtimes = { _ in Gone() }
        let replayed = try await sandbox.run(replay)

        // Then it passes, answered from the recording, under the variant "replay"
        let result = try #require(replayed.cases.first)
        #expect(result.status == .passed, "\(result.repetitions)")
        #expect(result.variant == "replay" && result.repetitions.count == 2)
        #expect(model.calls.withLock { $0 } == calls)
        let replayRun = try #require(result.repetitions[0].runID)
        let thinking = try store.attempts(replayRun).first { $0.stage == "plan" }?.thinking
        #expect(thinking == "hmm")
        #expect(try store.eventCounts(replayRun, kinds: [.modelLoaded])[.modelLoaded] == 0)

        // When the implement prompt changes and the case is replayed again
        try sandbox.write(
            "pipelines/task.yaml",
            TestRunnerSandbox.pipeline.replacingOccurrences(of: "Implement {{inputs.task}}", with: "Build {{inputs.task}}"))
        let changed = try await sandbox.run(replay)

        // Then the repetition is an error naming the stage and the fix, not a failure
        let error = try #require(changed.cases.first)
        #expect(error.status == .error)
        let message = try #require(error.repetitions.first?.error)
        #expect(
            message
                == "replay: stage 'implement' round 1 asks something else than when it was recorded (its prompt or model changed); re-record with --record"
        )
    }

    @Test func aRetrieveStageReplaysItsQueryAgainstTheIndexBuiltWhenRecording() async throws {
        // Given a pipeline that queries an index of two notes, recorded on a stand-in model and embedder
        let sandbox = try TestRunnerSandbox()
        try sandbox.write("docs/resume.md", "# Resume\n\nRun baton resume with the run id to continue an interrupted run.\n")
        try sandbox.write("docs/tea.md", "# Tea\n\nBoil water and steep the leaves for three minutes.\n")
        try sandbox.write(
            "pipelines/ask.yaml",
            """
            version: 1
            name: ask
            inputs:
              question: {default: "How do I continue an interrupted run?"}
            indexes:
              notes:
                sources: ["../docs/*.md"]
                embed: {model: all-minilm}
            outputs: [answer]
            stages:
              facts:
                retrieve: {index: notes, query: "{{inputs.question}}", top_k: 1}
              answer:
                role: executor
                prompt: "{{#stages.facts.chunks}}{{text}}{{/stages.facts.chunks}} Question: {{inputs.question}}"

            """)
        try sandbox.write(
            "pipelines/ask.test.yaml",
            "version: 1\ncases:\n  - name: finds the note\n    assert:\n      - stage: facts\n        contains: baton resume\n")
        let model = StandIn()
        var recording = sandbox.runner(.profile("real")) { $0.record = true }
        recording.runtimes = { _ in model }
        let recorded = try await sandbox.run(recording, ["pipelines/ask.test.yaml"])
        #expect(recorded.allPassed, "\(recorded.cases)")

        // When it is replayed with every runtime gone
        var replay = sandbox.runner(.replay) { $0.profileName = "real" }
        replay.runtimes = { _ in Gone() }
        let replayed = try await sandbox.run(replay, ["pipelines/ask.test.yaml"])

        // Then the query is embedded from the recording and the index (with the recorded model digest) answers it
        #expect(replayed.allPassed, "\(replayed.cases)")
    }

    @Test func aReplayWithoutARecordingSaysHowToMakeOne() async throws {
        let sandbox = try TestRunnerSandbox()
        try sandbox.write("pipelines/task.test.yaml", Self.file)
        var replay = sandbox.runner(.replay)
        replay.runtimes = { _ in Gone() }
        let report = try await sandbox.run(replay)
        #expect(report.cases.first?.status == .error)
        #expect(
            report.cases.first?.repetitions.first?.error
                == "case 'recorded' has no recording; record it with --record and a real profile first")
    }

    /// A runtime that manages its models, to check that recording keeps that visible to the executor.
    struct Managed: LLMRuntime, ModelManaging, EmbeddingRuntime {
        func generate(_ request: GenerationRequest) -> AsyncThrowingStream<GenerationEvent, any Error> {
            AsyncThrowingStream { $0.finish() }
        }
        func residentModels() async throws -> [ResidentModel] { [ResidentModel(name: "m", bytes: 7)] }
        func load(_ model: String, settings: StageSettings) async throws -> LoadReport { LoadReport(seconds: 1, measuredBytes: 9) }
        func unload(_ model: String) async throws {}
        func manages(_ model: String) -> Bool { model == "m" }
        func embed(_ texts: [String], model: String) async throws -> EmbeddingBatch { EmbeddingBatch(vectors: [[1]], promptTokens: 1) }
        func embeddingModelDigest(_ model: String) async -> String? { "d" }
    }

    @Test func recordingKeepsWhatTheRuntimeCanDo() async throws {
        let recorder = CassetteRecorder()
        let managed = RecordingProvider.wrap(Managed(), recorder: recorder)
        let manager = try #require(managed as? any ModelManaging)
        #expect(manager.manages("m") && !manager.manages("x"))
        #expect(try await manager.load("m", settings: StageSettings()).measuredBytes == 9)
        #expect(try await manager.residentModels().map(\.name) == ["m"])
        let embedder = try #require(managed as? any EmbeddingRuntime)
        #expect(await embedder.embeddingModelDigest("m") == "d")
        _ = try await embedder.embed(["a"], model: "m")
        // The digest and the vectors are kept, so a replay can query an index built with this model.
        let replay = ReplayProvider(records: recorder.recorded)
        #expect(await replay.embeddingModelDigest("m") == "d")
        #expect(await replay.embeddingModelDigest("other") == nil)
        #expect(try await replay.embed(["a"], model: "m").vectors == [[1]])
        await #expect(throws: RuntimeError.self) { try await replay.embed(["b"], model: "m") }
        #expect(replay.misses == ["replay: an embedding of 1 text with model 'm' was not recorded; re-record with --record"])
        let plain = RecordingProvider.wrap(EchoRuntime(), recorder: recorder)
        #expect(!(plain is any ModelManaging) && plain is any EmbeddingRuntime)
        #expect(!(RecordingProvider.wrap(ScriptedRuntime { _, _ in .text("") }, recorder: recorder) is any EmbeddingRuntime))
    }
}
