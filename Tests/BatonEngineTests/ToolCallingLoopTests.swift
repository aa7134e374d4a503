import BatonSpec
import BatonTestSupport
import Foundation
import Testing

@testable import BatonEngine

/// A model stage with `tools:` in the executor (Executor+ToolLoop): calls run through the tool stages, results go back,
/// the loop ends at the final answer, at `max_tool_calls` (then one final turn without tools) or at a repeated call, and
/// unknown tools and bad arguments go back to the model as errors.
@Suite struct ToolCallingLoopTests {
    typealias Folder = ToolsExecutionTests.Folder

    static func stages(mode: String, max: Int = 3, output: String = "") -> String {
        """
          count:
            description: Counts the words of a text.
            run: [wc, -w]
            stdin: "{{args.text}}"
            parameters:
              type: object
              properties: {text: {type: string}}
              required: [text]
          ask:
            model: m
            prompt: How many words in 'a b c'?
            tools: [count]
            max_tool_calls: \(max)
            tool_mode: \(mode)\(output)

        """
    }

    static func executor(_ store: RunStore, _ runtime: ScriptedRuntime) -> Executor {
        Executor(store: store, runtimes: runtime, observer: { _ in }, sleep: { _ in }, random: { 0.5 })
    }

    static func call(_ name: String, _ arguments: String, id: String? = nil) -> ScriptedRuntime.Reply {
        .events([
            .toolCall(ToolCall(id: id, name: name, argumentsJSON: arguments)), .finished(GenerationUsage(promptTokens: 5, outputTokens: 3)),
        ])
    }

    static func output(_ store: RunStore, _ runID: String, stage: String) throws -> String? {
        try store.attempts(runID).last { $0.stage == stage && $0.status == .completed && $0.calls == nil }?.output
    }

    @Test("native: the model's call runs the tool stage with its arguments, the result goes back, and its answer is the output")
    func nativeLoop() async throws {
        let folder = try Folder()
        let store = try folder.store()
        let runtime = ScriptedRuntime { request, index in
            request.history.isEmpty ? Self.call("count", #"{"text":"a b c"}"#, id: "call_1") : .text("There are 3 words.")
        }
        let plan = try ToolsExecutionTests.plan(Self.stages(mode: "native"))

        let outcome = try await ToolsExecutionTests.start(plan, Self.executor(store, runtime))

        guard case .completed(let runID) = outcome else {
            Issue.record("the run should complete: \(outcome)")
            return
        }
        #expect(try Self.output(store, runID, stage: "ask") == "There are 3 words.")
        let requests = runtime.requests.filter { $0.stage == "ask" }
        #expect(requests.count == 2)
        #expect(requests[0].tools?.map(\.name) == ["count"] && requests[0].tools?.first?.description == "Counts the words of a text.")
        guard requests.count == 2, case .toolResult(let id, let name, let content, let isError)? = requests[1].history.last else {
            Issue.record("the second turn should carry the tool's result: \(requests.map(\.history))")
            return
        }
        #expect(id == "call_1" && name == "count" && !isError)
        #expect(content.trimmingCharacters(in: .whitespacesAndNewlines) == "3")
        // The call is recorded at its place: turn 1, call 0
        let row = try #require(try store.toolCall(runID, stage: "ask", item: nil, round: 1, turn: 1, callIndex: 0))
        #expect(row.status == .done && row.tool == "count")
    }

    @Test("json mode: the turn's schema offers the tools, a {\"call\"} answer runs, and the {\"final\"} answer is the output")
    func jsonLoop() async throws {
        let folder = try Folder()
        let store = try folder.store()
        let runtime = ScriptedRuntime { request, _ in
            request.history.isEmpty ? .text(#"{"call":{"name":"count","arguments":{"text":"a b c"}}}"#) : .text(#"{"final":"3 words"}"#)
        }
        let plan = try ToolsExecutionTests.plan(Self.stages(mode: "json"))

        let outcome = try await ToolsExecutionTests.start(plan, Self.executor(store, runtime))

        guard case .completed(let runID) = outcome else {
            Issue.record("the run should complete: \(outcome)")
            return
        }
        #expect(try Self.output(store, runID, stage: "ask") == "3 words")
        let requests = runtime.requests.filter { $0.stage == "ask" }
        #expect(requests.count == 2 && requests.allSatisfy { $0.tools == nil })
        #expect(requests.first?.responseSchema == ToolChoice.schema(tools: [NativeToolCallingTests.countTool], final: nil))
        #expect(requests.first?.prompt.contains("- count: Counts the words of a text.") == true)
        guard case .user(let text)? = requests.last?.history.last else {
            Issue.record("the result should go back as a user turn: \(String(describing: requests.last?.history))")
            return
        }
        #expect(text.hasPrefix("Result of tool count:\n"))
    }

    @Test(
        "Each turn is an attempt; a retried try goes on from the first unanswered turn: turn 1 is not asked again, its call not run again")
    func retriedTryContinuesTheConversation() async throws {
        let folder = try Folder()
        let store = try folder.store()
        // Turn 1 calls count; the first ask of turn 2 fails (transient), the retry answers it.
        let runtime = ScriptedRuntime { request, index in
            if request.history.isEmpty { return Self.call("count", #"{"text":"a b c"}"#, id: "c1") }
            return index == 1 ? .error(RuntimeError(.unreachable, "connection reset", isTransient: true)) : .text("3 words")
        }
        let plan = try ToolsExecutionTests.plan(Self.stages(mode: "native"))

        let outcome = try await ToolsExecutionTests.start(plan, Self.executor(store, runtime))

        guard case .completed(let runID) = outcome else {
            Issue.record("the run should complete: \(outcome)")
            return
        }
        #expect(try Self.output(store, runID, stage: "ask") == "3 words")
        let requests = runtime.requests.filter { $0.stage == "ask" }
        #expect(requests.map(\.history.isEmpty) == [true, false, false], "turn 1 was asked again")
        // The retry's history is turn 1 as recorded: the call (with its id) and its recorded result.
        guard case .toolResult(let callID, _, let content, false)? = requests.last?.history.last else {
            Issue.record("the retry should carry turn 1's result: \(String(describing: requests.last?.history))")
            return
        }
        #expect(callID == "c1" && content.trimmingCharacters(in: .whitespacesAndNewlines) == "3")
        #expect(try store.toolCalls(runID).filter { $0.stage == "ask" }.count == 1)
        let attempts = try store.attempts(runID).filter { $0.stage == "ask" }
        let summary = attempts.map {
            "\($0.tryNumber)/\($0.turn.map(String.init) ?? "-")/\($0.status.rawValue)/\($0.calls == nil ? "final" : "calls")"
        }
        #expect(summary == ["1/-/failed/final", "1/1/completed/calls", "2/2/completed/final"], "\(summary)")
        #expect(attempts[1].turnCalls.first?.result?.trimmingCharacters(in: .whitespacesAndNewlines) == "3")
        #expect(attempts[1].turnCalls.first?.replayed == true, "the retry replayed the recorded result")
    }

    @Test("max_tool_calls: after the bound the model gets one final turn without tools, and a notice says why")
    func boundThenFinalTurn() async throws {
        let folder = try Folder()
        let store = try folder.store()
        let runtime = ScriptedRuntime { request, _ in
            request.tools == nil ? .text("Done counting.") : Self.call("count", #"{"text":"x \#(request.history.count)"}"#)
        }
        let plan = try ToolsExecutionTests.plan(Self.stages(mode: "native", max: 2))

        let outcome = try await ToolsExecutionTests.start(plan, Self.executor(store, runtime))

        guard case .completed(let runID) = outcome else {
            Issue.record("the run should complete: \(outcome)")
            return
        }
        #expect(try Self.output(store, runID, stage: "ask") == "Done counting.")
        let requests = runtime.requests.filter { $0.stage == "ask" }
        #expect(requests.map { $0.tools == nil } == [false, false, true])
        let notices = try store.events(runID, kind: .runtimeNotice).compactMap(\.payload)
        #expect(notices.contains { $0.contains("max_tool_calls (2) reached") })
    }

    @Test("The same call twice in a row stops the loop: the repeat does not run, and the model is asked for its answer")
    func repeatedCallStops() async throws {
        let folder = try Folder()
        let store = try folder.store()
        let runtime = ScriptedRuntime { request, _ in
            request.tools == nil ? .text("Stopped.") : Self.call("count", #"{"text":"a b c"}"#)
        }
        let plan = try ToolsExecutionTests.plan(Self.stages(mode: "native", max: 5))

        let outcome = try await ToolsExecutionTests.start(plan, Self.executor(store, runtime))

        guard case .completed(let runID) = outcome else {
            Issue.record("the run should complete: \(outcome)")
            return
        }
        #expect(try Self.output(store, runID, stage: "ask") == "Stopped.")
        #expect(runtime.requests.filter { $0.stage == "ask" }.map { $0.tools == nil } == [false, false, true])
        #expect(try store.toolCall(runID, stage: "ask", item: nil, round: 1, turn: 2, callIndex: 0) == nil)
        let notices = try store.events(runID, kind: .runtimeNotice).compactMap(\.payload)
        #expect(notices.contains { $0.contains("the same call twice in a row") })
    }

    @Test("An unknown tool and arguments that break the schema go back to the model as errors; nothing runs for them")
    func errorsGoBackToTheModel() async throws {
        let folder = try Folder()
        let store = try folder.store()
        let runtime = ScriptedRuntime { request, _ in
            switch request.history.count {
            case 0: return Self.call("rm", #"{"path":"/"}"#, id: "c1")
            case 2: return Self.call("count", #"{"text": 3}"#, id: "c2")
            default: return .text("Gave up.")
            }
        }
        let plan = try ToolsExecutionTests.plan(Self.stages(mode: "native", max: 5))

        let outcome = try await ToolsExecutionTests.start(plan, Self.executor(store, runtime))

        guard case .completed(let runID) = outcome else {
            Issue.record("the run should complete: \(outcome)")
            return
        }
        let results = (runtime.requests.last?.history ?? []).compactMap { turn -> (String, Bool)? in
            if case .toolResult(_, _, let content, let isError) = turn { return (content, isError) }
            return nil
        }
        #expect(results.count == 2 && results.allSatisfy(\.1))
        #expect(results.first?.0 == "unknown tool 'rm'; the tools are: count")
        #expect(results.last?.0 == "invalid arguments for count: 'text' should be of type string")
        #expect(try store.toolCall(runID, stage: "ask", item: nil, round: 1, turn: 1, callIndex: 0) == nil)
    }
}

extension NativeToolCallingTests {
    /// The `count` tool stage of ``ToolCallingLoopTests`` as the model is offered it.
    static let countTool = ToolDefinition(
        name: "count", description: "Counts the words of a text.",
        parameters: .object([
            ("type", .string("object")), ("properties", .object([("text", .object([("type", .string("string"))]))])),
            ("required", .array([.string("text")])),
        ]))
}
