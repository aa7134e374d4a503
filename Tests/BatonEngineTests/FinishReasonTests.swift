import BatonEngine
import BatonSpec
import BatonTestSupport
import Foundation
import Testing

/// How the executor treats the way a generation stopped (finish reasons), a model's thinking and the
/// clients' notices: the runtime-independent half of the fidelity findings O-A6, O-A7, C-A3 and C-A4.
@Suite struct FinishReasonTests {
    static let pipeline = """
        version: 1
        stages:
          draft:
            model: m
            max_tokens: 64
            prompt: "Write"
          facts:
            model: m
            max_tokens: 32
            output: {format: json}
            prompt: "Facts of {{stages.draft.output}}"
          review:
            model: m
            reviews: draft
            max_tokens: 48
            prompt: "Review {{stages.draft.output}}"
        """

    static func executor(_ runtime: ScriptedRuntime, store: RunStore, events: EventBox = EventBox()) -> Executor {
        Executor(store: store, runtimes: runtime, observer: { events.append($0) }, sleep: { _ in }, random: { 0.5 })
    }

    static func finished(_ kind: FinishReason.Kind, raw: String, detail: String? = nil, thinkingTokens: Int? = nil) -> GenerationEvent {
        .finished(
            GenerationUsage(
                promptTokens: 3, outputTokens: 5, finish: FinishReason(kind, raw: raw, detail: detail), thinkingTokens: thinkingTokens))
    }

    static func verdict() -> [GenerationEvent] {
        [.token(#"{"verdict": "approve", "feedback": ""}"#), finished(.complete, raw: "stop")]
    }

    /// A runtime answering the pipeline's three stages with these events; a stage left out answers normally
    /// (text, a JSON object, an approving verdict).
    static func answering(
        draft: [GenerationEvent] = [.token("text"), finished(.complete, raw: "stop")],
        facts: [GenerationEvent] = [.token(#"{"a": 1}"#), finished(.complete, raw: "stop")],
        review: [GenerationEvent] = verdict()
    ) -> ScriptedRuntime {
        ScriptedRuntime { request, _ in
            switch request.stage {
            case "draft": return .events(draft)
            case "facts": return .events(facts)
            default: return .events(review)
            }
        }
    }

    @Test("O-A7 / C-A3 / C-A4: a text answer cut at max_tokens is kept, marked truncated, and shown")
    func truncatedTextIsKeptAndMarked() async throws {
        // Given
        let store = try RunStore.inMemory()
        let runtime = Self.answering(draft: [.token("The answer is"), Self.finished(.truncated, raw: "length")])
        let events = EventBox()

        // When
        let outcome = try await Self.executor(runtime, store: store, events: events).start(
            try snapshot(Self.pipeline), inputs: [:], claim: .current())

        // Then
        guard case .completed(let id) = outcome else {
            Issue.record("\(outcome)")
            return
        }
        let draft = try #require(try store.attempts(id).first { $0.stage == "draft" })
        #expect(draft.status == .completed)
        #expect(draft.output == "The answer is")
        #expect(draft.finishReason == "truncated")
        #expect(try store.attempts(id).filter { $0.stage != "draft" }.allSatisfy { $0.finishReason == "complete" })
        let truncated = try store.events(id, kind: .outputTruncated)
        #expect(truncated.map(\.stage) == ["draft"])
        #expect(truncated.first?.payload?.contains(#""max_tokens":"64""#) == true)
        #expect(events.truncations == ["draft"])
        #expect(runtime.calls("draft") == 1)
    }

    @Test("O-A7 / C-A4: a JSON answer cut at max_tokens fails the stage at once, saying to raise max_tokens")
    func truncatedJSONIsPermanent() async throws {
        // Given
        let store = try RunStore.inMemory()
        let runtime = Self.answering(facts: [.token(#"{"a": 1, "b": "#), Self.finished(.truncated, raw: "length")])

        // When
        let outcome = try await Self.executor(runtime, store: store).start(try snapshot(Self.pipeline), inputs: [:], claim: .current())

        // Then: one request only (the same request would be cut again, and paid again)
        guard case .failed(let id, let reason, _) = outcome else {
            Issue.record("\(outcome)")
            return
        }
        #expect(runtime.calls("facts") == 1)
        #expect(reason.contains("the JSON answer of stage 'facts' was cut off at max_tokens: 32 (length)"))
        #expect(reason.contains("raise max_tokens for this stage"))
        let facts = try #require(try store.attempts(id).first { $0.stage == "facts" })
        #expect(facts.status == .failed)
        #expect(facts.finishReason == "truncated")
    }

    @Test("A JSON answer that reads whole although the runtime cut it (padding after the object) is kept, marked truncated")
    func truncatedButReadableJSONIsKept() async throws {
        // Given: a grammar-bound model that closed its object and padded until max_tokens, as Gemma does on llama-server
        let store = try RunStore.inMemory()
        let runtime = Self.answering(
            facts: [.token(#"{"a": 1}"#), .token("\n\n\n\n"), Self.finished(.truncated, raw: "length")],
            review: [.token(#"{"verdict": "approve", "feedback": ""}"#), Self.finished(.truncated, raw: "max_tokens")])

        // When
        let outcome = try await Self.executor(runtime, store: store).start(try snapshot(Self.pipeline), inputs: [:], claim: .current())

        // Then
        guard case .completed(let id) = outcome else {
            Issue.record("\(outcome)")
            return
        }
        #expect(runtime.calls("facts") == 1)
        let attempts = try store.attempts(id)
        #expect(attempts.first { $0.stage == "facts" }?.finishReason == "truncated")
        #expect(attempts.first { $0.stage == "review" }?.verdict == "approve")
        #expect(try store.events(id, kind: .outputTruncated).compactMap(\.stage).sorted() == ["facts", "review"])
    }

    @Test("C-A3: a critic verdict cut at max_tokens is not retried with the same request")
    func truncatedVerdictIsPermanent() async throws {
        // Given
        let store = try RunStore.inMemory()
        let runtime = Self.answering(
            draft: [.token("text"), Self.finished(.complete, raw: "end_turn")],
            facts: [.token(#"{"a": 1}"#), Self.finished(.complete, raw: "end_turn")],
            review: [.token(#"{"verdict": "appr"#), Self.finished(.truncated, raw: "max_tokens")])

        // When
        let outcome = try await Self.executor(runtime, store: store).start(try snapshot(Self.pipeline), inputs: [:], claim: .current())

        // Then
        guard case .failed(_, let reason, _) = outcome else {
            Issue.record("\(outcome)")
            return
        }
        #expect(runtime.calls("review") == 1)
        #expect(reason.contains("critic 'review''s verdict was cut off at max_tokens: 48 (max_tokens)"))
    }

    @Test("O-A6: when thinking used the budget of a JSON stage, the error says so and how to fix it")
    func thinkingThatEatsTheBudgetIsNamed() async throws {
        // Given
        let store = try RunStore.inMemory()
        let runtime = Self.answering(
            facts: [.thinking("Let me think about the facts"), Self.finished(.truncated, raw: "length", thinkingTokens: 32)])

        // When
        let outcome = try await Self.executor(runtime, store: store).start(try snapshot(Self.pipeline), inputs: [:], claim: .current())

        // Then
        guard case .failed(let id, let reason, _) = outcome else {
            Issue.record("\(outcome)")
            return
        }
        #expect(reason.contains("32 of those tokens were thinking (set think: false, or raise max_tokens)"))
        let facts = try #require(try store.attempts(id).first { $0.stage == "facts" })
        #expect(facts.thinking == "Let me think about the facts")
        #expect(facts.output.isEmpty)
    }

    @Test("O-A6: thinking is recorded apart from the answer and never reaches the next stage's prompt")
    func thinkingIsRecordedApart() async throws {
        // Given
        let store = try RunStore.inMemory()
        let runtime = Self.answering(
            draft: [.thinking("hmm, "), .thinking("tea?"), .token("Tea."), Self.finished(.complete, raw: "stop")])

        // When
        let outcome = try await Self.executor(runtime, store: store).start(try snapshot(Self.pipeline), inputs: [:], claim: .current())

        // Then
        guard case .completed(let id) = outcome else {
            Issue.record("\(outcome)")
            return
        }
        let draft = try #require(try store.attempts(id).first { $0.stage == "draft" })
        #expect(draft.output == "Tea.")
        #expect(draft.thinking == "hmm, tea?")
        #expect(runtime.requests.first { $0.stage == "facts" }?.prompt == "Facts of Tea.")
    }

    @Test("C-A3 / C-A4: a refusal fails the stage at once and quotes the refusal")
    func refusalIsPermanentAndQuoted() async throws {
        // Given
        let store = try RunStore.inMemory()
        let runtime = ScriptedRuntime { _, _ in
            .events([Self.finished(.refused, raw: "refusal", detail: "I can't help with that.")])
        }

        // When
        let outcome = try await Self.executor(runtime, store: store).start(try snapshot(Self.pipeline), inputs: [:], claim: .current())

        // Then
        guard case .failed(let id, let reason, _) = outcome else {
            Issue.record("\(outcome)")
            return
        }
        #expect(runtime.requests.count == 1)
        #expect(reason.contains("model 'm' refused to answer stage 'draft' (refusal): \"I can't help with that.\""))
        #expect(try store.attempts(id).map(\.finishReason) == ["refused"])
    }

    @Test("C-A4: a content filter stop fails the stage at once")
    func contentFilterIsPermanent() async throws {
        // Given
        let store = try RunStore.inMemory()
        let runtime = ScriptedRuntime { _, _ in .events([.token("Once upon"), Self.finished(.filtered, raw: "content_filter")]) }

        // When
        let outcome = try await Self.executor(runtime, store: store).start(try snapshot(Self.pipeline), inputs: [:], claim: .current())

        // Then
        guard case .failed(_, let reason, _) = outcome else {
            Issue.record("\(outcome)")
            return
        }
        #expect(runtime.requests.count == 1)
        #expect(reason.contains("content filter stopped the answer of model 'm' to stage 'draft' (content_filter)"))
    }

    @Test("C-A1 / C-A2: a client's notice (a setting the model refuses, dropped) is recorded as an event and reported")
    func noticesAreRecorded() async throws {
        // Given
        let store = try RunStore.inMemory()
        let notice = RuntimeNotice(
            code: "setting-dropped", message: "model 'm' takes temperature or top_p, not both: top_p 0.9 was not sent")
        let runtime = Self.answering(draft: [.notice(notice), .token("text"), Self.finished(.complete, raw: "stop")])
        let events = EventBox()

        // When
        let outcome = try await Self.executor(runtime, store: store, events: events).start(
            try snapshot(Self.pipeline), inputs: [:], claim: .current())

        // Then
        guard case .completed(let id) = outcome else {
            Issue.record("\(outcome)")
            return
        }
        let recorded = try store.events(id, kind: .runtimeNotice)
        #expect(recorded.count == 1)
        #expect(recorded.first?.stage == "draft")
        #expect(recorded.first?.attemptID != nil)
        #expect(recorded.first?.payload?.contains("setting-dropped") == true)
        #expect(events.notices == [notice])
    }

    @Test("A runtime that says nothing about how it stopped is taken as complete (echo, older servers)")
    func noFinishReasonIsComplete() async throws {
        // Given
        let store = try RunStore.inMemory()
        let runtime = ScriptedRuntime { request, _ in
            request.stage == "review" ? .text(#"{"verdict": "approve", "feedback": ""}"#) : .text(request.stage == "facts" ? "{}" : "x")
        }

        // When
        let outcome = try await Self.executor(runtime, store: store).start(try snapshot(Self.pipeline), inputs: [:], claim: .current())

        // Then
        guard case .completed(let id) = outcome else {
            Issue.record("\(outcome)")
            return
        }
        #expect(try store.attempts(id).allSatisfy { $0.finishReason == nil && $0.status == .completed })
    }
}

/// Collects what the executor reports about truncations and notices.
final class EventBox: @unchecked Sendable {
    private let lock = NSLock()
    private var truncated: [String] = []
    private var received: [RuntimeNotice] = []

    func append(_ event: RunEvent) {
        lock.lock()
        defer { lock.unlock() }
        switch event {
        case .outputTruncated(let stage, _, _): truncated.append(stage)
        case .runtimeNotice(_, let notice): received.append(notice)
        default: break
        }
    }

    var truncations: [String] {
        lock.lock()
        defer { lock.unlock() }
        return truncated
    }

    var notices: [RuntimeNotice] {
        lock.lock()
        defer { lock.unlock() }
        return received
    }
}
