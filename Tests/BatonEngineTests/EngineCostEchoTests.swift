import BatonSpec
import Foundation
import Mustache
import Testing

@testable import BatonEngine

/// Issue 15 part 3, continued: the echo runtime answers a call without delays with no task of its own (and must give
/// the same events as with them), counts and encodes without Foundation's slow paths, and a prompt's inline sections
/// render without swift-mustache.
@Suite struct EngineCostEchoTests {
    static let script = """
        plan:
          "*": {thinking: "Hmm.", output: "1. Write the code\\n2. Test it"}
        review:
          "*": {verdict: revise, feedback: "Say \\"why\\"."}
        flaky:
          1: {fail: transient, times: 2}
        cut:
          1: {output: "The answer is", finish: length}
        """

    static func request(_ stage: String, prompt: String = "Do the thing.\nThen stop.", schema: JSONValue? = nil) -> GenerationRequest {
        GenerationRequest(
            model: "m", system: nil, prompt: prompt, settings: StageSettings(), responseSchema: schema, stage: stage, round: 1)
    }

    static func runtime(tokenDelay: Double) throws -> EchoRuntime {
        var options = EchoRuntime.Options()
        options.tokenDelay = tokenDelay
        options.script = try EchoScript(yaml: script, file: "script.yaml")
        return EchoRuntime(options: options)
    }

    /// Every event of a call, and the error it ended with.
    static func events(_ runtime: EchoRuntime, _ request: GenerationRequest) async -> ([GenerationEvent], String?) {
        var events: [GenerationEvent] = []
        do {
            for try await event in runtime.generate(request) { events.append(event) }
            return (events, nil)
        } catch {
            return (events, "\(error)")
        }
    }

    @Test(arguments: ["plan", "review", "flaky", "cut", "other"])
    func aCallWithoutDelaysGivesTheEventsOfOneWithThem(_ stage: String) async throws {
        let schema = stage == "review" ? StageResult.verdictSchema : nil
        let immediate = try Self.runtime(tokenDelay: 0)
        let delayed = try Self.runtime(tokenDelay: 0.001)
        // Three calls each, so a failure's `times` is counted the same way on both.
        for _ in 1...3 {
            let now = await Self.events(immediate, Self.request(stage, schema: schema))
            let later = await Self.events(delayed, Self.request(stage, schema: schema))
            #expect(now.0 == later.0)
            #expect(now.1 == later.1)
        }
        let (events, _) = await Self.events(immediate, Self.request(stage, schema: schema))
        if stage == "plan" {
            #expect(events.first == .thinking("Hmm."))
            #expect(
                events.dropFirst().dropLast() == [
                    .token("1. "), .token("Write "), .token("the "), .token("code\n"), .token("2. "), .token("Test "), .token("it"),
                ])
        }
    }

    @Test func aCallWithoutDelaysWritesTheCallLogOncePerCall() async throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("echo-log-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        var options = EchoRuntime.Options()
        options.callLog = folder.appendingPathComponent("calls.log").path
        let runtime = EchoRuntime(options: options)
        _ = await Self.events(runtime, Self.request("a"))
        var item = Self.request("b")
        item.item = 3
        _ = await Self.events(runtime, item)
        #expect(try String(contentsOfFile: options.callLog!, encoding: .utf8) == "a\t1\tm\nb\t1\tm\t3\n")
    }

    /// The tokenization as it was, character by character.
    static func referenceTokens(_ text: String) -> [String] {
        var tokens: [String] = []
        var current = ""
        for character in text {
            current.append(character)
            if character == " " || character == "\n" {
                tokens.append(current)
                current = ""
            }
        }
        if !current.isEmpty { tokens.append(current) }
        return tokens
    }

    @Test(arguments: [
        "", " ", "a", "a b", "a  b ", "one\ntwo\n", "\n\n", "crlf\r\nline", "Café ☕ déjà vu", "e\u{301} x", " \u{301}a", "tab\tsep",
        "a … b (12 characters)", "…x …", "a\u{200D} b", "a \u{200D}b", "\r\n\r\n", "\r \n", "\u{600} 1", "é \u{301}", "\u{2026} \u{20DD}",
        "x\u{2026} y\u{A0} \u{2FF} z", "\u{1F600} a", "a \u{1F3FB}",
    ])
    func tokensAndTheirCountAreTheCharacterByCharacterOnes(_ text: String) {
        #expect(EchoRuntime.tokens(of: text) == Self.referenceTokens(text))
        #expect(EchoRuntime.tokenCount(of: text) == Self.referenceTokens(text).count)
    }

    @Test(arguments: [
        "", "Plan the task.", "\n\nTwo\n\nlines\n", String(repeating: "long words ", count: 9), String(repeating: "x", count: 80),
        String(repeating: "x", count: 80) + "\n\n", String(repeating: "x", count: 80) + "\ny",
        "Step 3 after: [m] s round 1: … (95 characters)",
        String(repeating: "Café … ", count: 20), "one\u{2028}two\u{85}three", "crlf\r\nline\r\n",
        "e\u{301}" + String(repeating: "é", count: 85),
    ])
    func theAnswersHeadIsTheLinesJoinedAndCut(_ prompt: String) {
        let flat = prompt.split(whereSeparator: \.isNewline).joined(separator: " ")
        let (head, count) = EchoRuntime.head(of: prompt)
        #expect(head == (flat.count > 80 ? String(flat.prefix(80)) + "…" : flat))
        #expect(count == prompt.count)
    }

    @Test(arguments: [
        ("approve", "Looks good."), ("revise", "Say \"why\" \\ here."), ("revise", "line\nbreak\ttab"), ("revise", "a/b </c>"),
        ("revise", "Café ☕"), ("approve", ""),
    ])
    func aVerdictIsEncodedAsJSONEncoderEncodesIt(_ verdict: String, _ feedback: String) {
        let encoded = EchoRuntime.json(.object([("verdict", .string(verdict)), ("feedback", .string(feedback))]))
        #expect(EchoRuntime.verdictJSON(verdict: verdict, feedback: feedback) == encoded)
    }

    // MARK: - Sections in plain templates

    static var contexts: [[String: Any]] {
        let full = EngineCostTests.context
        var without = full
        without["feedback"] = nil
        var off = full
        off["flag"] = false
        return [full, without, off]
    }

    @Test(arguments: [
        "Carry out {{stages.plan.output}}{{#feedback}} Reviewer said: {{feedback}}{{/feedback}}",
        "x {{^feedback}}none{{/feedback}}.", "x {{#missing}}shown{{/missing}}.", "x {{^missing}}not given{{/missing}}",
        "x {{#flag}}on {{inputs.task}}{{/flag}}", "x {{^flag}}off{{/flag}} y", "a {{#inputs.empty}}E{{/inputs.empty}}",
        "a {{# feedback }}b {{#flag}}c {{feedback}}{{/flag}} d{{/ feedback }}", "a {{#stages.nope.output}}n{{/stages.nope.output}}",
        "a {{#feedback}}\nF: {{feedback}}\nmore {{/feedback}} end\n",
    ])
    func anInlineSectionRendersAsMustacheDoes(_ text: String) throws {
        #expect(PlainTemplate(text) != nil)
        for context in Self.contexts {
            #expect(PlainTemplate(text)?.render(context) != nil)
            var template = try StageTemplate(text)
            #expect(try template.render(context) == EngineCostTests.mustache(text, context))
        }
    }

    @Test(arguments: [
        "{{#feedback}}x{{/feedback}}", "a\n  {{#feedback}}\nx\n  {{/feedback}}\n", "a {{#feedback}}\nx\n{{/feedback}}\n",
        "a {{#feedback}}x{{/other}}", "a {{#feedback}}x", "a {{/feedback}}", "a {{ #feedback}}x{{/feedback}}",
        "Café {{#feedback}}x{{/feedback}}", "a {{#feedback}}{{.}}{{/feedback}}",
    ])
    func aStandaloneOrMalformedSectionIsNotAPlainTemplate(_ text: String) throws {
        #expect(PlainTemplate(text) == nil)
        for context in Self.contexts {
            var template: StageTemplate
            do { template = try StageTemplate(text) } catch { continue }  // Mustache refuses it too
            #expect(try template.render(context) == EngineCostTests.mustache(text, context))
        }
    }

    @Test(arguments: ["a {{#round}}r{{/round}}", "a {{#stages.plan}}p{{/stages.plan}}", "a {{^stages.plan.json}}j{{/stages.plan.json}}"])
    func aSectionOverSomethingElseIsLeftToMustache(_ text: String) throws {
        #expect(PlainTemplate(text) != nil)
        #expect(PlainTemplate(text)?.render(EngineCostTests.context) == nil)
        var template = try StageTemplate(text)
        #expect(try template.render(EngineCostTests.context) == EngineCostTests.mustache(text, EngineCostTests.context))
    }
}
