import BatonEngine
import BatonTestSupport
import Foundation
import Testing

@testable import BatonCommands

#if canImport(FoundationXML)
    import FoundationXML
#endif

/// The JUnit XML of `baton test --junit` and the console lines, from reports built by hand: shape, counts, escaping.
@Suite struct JUnitWriterTests {
    static func repetition(
        _ status: TestStatus, run: String? = "20261207-120000-aaaa", error: String? = nil, assertions: [AssertionResult] = [],
        seconds: Double = 0.25
    ) -> TestRepetition {
        TestRepetition(
            runID: run, status: status, error: error, assertions: assertions, seconds: seconds, promptTokens: 120, outputTokens: 45,
            generationTokensPerSecond: 52.5, timeToFirstTokenMs: 80)
    }

    static let failedContains = AssertionResult(
        name: "contains", stage: "plan", status: .failed, message: "stage 'plan' does not contain 'handler'",
        diff: "--- expected\n+++ actual\n-handler\n+health\n", location: "pipelines/x.test.yaml:12:9")

    /// One file on echo (passed, failed, skipped, a judge skipped in a passing case) and one on a model (an error).
    static let report = TestReport(
        cases: [
            TestCaseResult(
                file: "pipelines/x.test.yaml", pipeline: "x", name: "passes", variant: "echo", status: .passed, passRate: 1,
                repetitions: [
                    repetition(
                        .passed,
                        assertions: [
                            AssertionResult(name: "judge", stage: "plan", status: .skipped, message: "judge needs a real model")
                        ])
                ]),
            TestCaseResult(
                file: "pipelines/x.test.yaml", pipeline: "x", name: "fails", variant: "echo", status: .failed, passRate: 0,
                repetitions: [repetition(.failed, assertions: [failedContains])]),
            TestCaseResult(
                file: "pipelines/x.test.yaml", pipeline: "x", name: "later", variant: "echo", status: .skipped, passRate: 0,
                repetitions: [], skipReason: "not written yet"),
            TestCaseResult(
                file: "pipelines/x.test.yaml", pipeline: "x", name: "down", variant: "gemma-3-270m", status: .error, passRate: 0,
                repetitions: [
                    repetition(.error, error: "runtime 'local' is not reachable: start llama-server"),
                    repetition(.error, run: nil, error: "runtime 'local' is not reachable: start llama-server"),
                ]),
        ], seconds: 1.5)

    /// The document parsed with Foundation's XML parser: elements with their attributes, and each element's text.
    final class Parsed: NSObject, XMLParserDelegate {
        var elements: [(name: String, attributes: [String: String])] = []
        var texts: [String: String] = [:]
        private var open: [String] = []

        static func parse(_ xml: String) throws -> Parsed {
            let parsed = Parsed()
            let parser = XMLParser(data: Data(xml.utf8))
            parser.delegate = parsed
            try #require(parser.parse(), "not well-formed XML: \(parser.parserError.map { "\($0)" } ?? "?")\n\(xml)")
            return parsed
        }

        func parser(
            _ parser: XMLParser, didStartElement elementName: String, namespaceURI: String?, qualifiedName: String?,
            attributes: [String: String] = [:]
        ) {
            elements.append((elementName, attributes))
            open.append(elementName)
        }

        func parser(_ parser: XMLParser, didEndElement elementName: String, namespaceURI: String?, qualifiedName: String?) {
            open.removeLast()
        }

        func parser(_ parser: XMLParser, foundCharacters string: String) {
            if let current = open.last { texts[current, default: ""] += string }
        }

        func all(_ name: String) -> [[String: String]] { elements.filter { $0.name == name }.map(\.attributes) }
    }

    @Test func oneSuitePerFileAndVariantWithTheConsoleCounts() throws {
        let parsed = try Parsed.parse(JUnitWriter.xml(Self.report))
        let root = try #require(parsed.all("testsuites").first)
        #expect(root["tests"] == "4")
        #expect(root["failures"] == "1")
        #expect(root["errors"] == "1")
        #expect(root["skipped"] == "1")
        #expect(root["time"] == "1.500")
        #expect(TestReportFormatter.summaryLine(Self.report) == "1 passed, 1 failed, 1 errors, 1 skipped")
        let suites = parsed.all("testsuite")
        #expect(suites.map { $0["name"] } == ["pipelines/x.test.yaml [echo]", "pipelines/x.test.yaml [gemma-3-270m]"])
        #expect(suites.map { $0["tests"] } == ["3", "1"])
        #expect(suites.map { $0["errors"] } == ["0", "1"])
        let cases = parsed.all("testcase")
        #expect(cases.map { $0["name"] } == ["passes [echo]", "fails [echo]", "later [echo]", "down [gemma-3-270m]"])
        #expect(cases.allSatisfy { $0["classname"] == "x" })
        #expect(cases.map { $0["time"] } == ["0.250", "0.250", "0.000", "0.500"])
    }

    @Test func failuresErrorsAndSkipsAreKeptApart() throws {
        let xml = JUnitWriter.xml(Self.report)
        let parsed = try Parsed.parse(xml)
        let failure = try #require(parsed.all("failure").first)
        #expect(parsed.all("failure").count == 1)
        #expect(failure["type"] == "assertion")
        #expect(failure["message"] == "contains [plan]: stage 'plan' does not contain 'handler'")
        // The body lists the assertion with its location and the diff.
        let body = parsed.texts["failure"] ?? ""
        #expect(body.contains("pipelines/x.test.yaml:12:9: contains [plan]: stage 'plan' does not contain 'handler'"))
        #expect(body.contains("    -handler\n    +health"))
        #expect(parsed.all("error").map { $0["message"] } == ["runtime 'local' is not reachable: start llama-server"])
        #expect(parsed.all("skipped").map { $0["message"] } == ["not written yet"])
    }

    @Test func systemOutHasPassRateRunsTokensAndSpeed() throws {
        let out = JUnitWriter.systemOut(Self.report.cases[3])
        #expect(
            out == """
                pass rate: 0/2 (0%)
                repetition 1: error, run 20261207-120000-aaaa, 0.250 s, tokens 120 prompt, 45 output, 52.5 tok/s, first token 80 ms
                repetition 2: error, 0.250 s, tokens 120 prompt, 45 output, 52.5 tok/s, first token 80 ms
                """)
        #expect(JUnitWriter.systemOut(Self.report.cases[0]).hasSuffix("\nskipped: judge [plan]: judge needs a real model"))
    }

    @Test func markupAndControlCharactersStayWellFormed() throws {
        let hostile = "a <b> & \"c\" 'd'\u{1B}]0;title\u{07} \r\n\u{0} end \u{9B}"
        var report = Self.report
        report.cases[1].name = hostile
        report.cases[1].repetitions[0].assertions[0].message = hostile
        report.cases[1].repetitions[0].assertions[0].diff = "+" + hostile
        let xml = JUnitWriter.xml(report)
        let parsed = try Parsed.parse(xml)
        let visible = "a <b> & \"c\" 'd'^[]0;title^G \r\n^@ end \\u{9B}"
        #expect(parsed.all("testcase").contains { $0["name"] == visible + " [echo]" })
        #expect(parsed.all("failure").first?["message"] == "contains [plan]: " + visible)
        #expect(!xml.unicodeScalars.contains { $0.value < 0x20 && ![0x09, 0x0A, 0x0D].contains($0.value) })
    }

    @Test func theSameReportGivesTheSameBytes() {
        #expect(JUnitWriter.xml(Self.report) == JUnitWriter.xml(Self.report))
    }

    // MARK: - Console lines

    @Test func consoleBlocksNameTheStageTheAssertionAndTheDiff() {
        #expect(
            TestReportFormatter.text(Self.report) == """
                PASS   pipelines/x.test.yaml › passes [echo]  (1/1 passed, 250 ms)
                    skipped: judge [plan]: judge needs a real model
                FAIL   pipelines/x.test.yaml › fails [echo]  (0/1 passed, 250 ms)
                    run 20261207-120000-aaaa
                    pipelines/x.test.yaml:12:9: contains [plan]: stage 'plan' does not contain 'handler'
                        --- expected
                        +++ actual
                        -handler
                        +health
                SKIP   pipelines/x.test.yaml › later [echo]  (not written yet)
                ERROR  pipelines/x.test.yaml › down [gemma-3-270m]  (0/2 passed, 500 ms)
                    repetition 1/2, run 20261207-120000-aaaa
                    error: runtime 'local' is not reachable: start llama-server
                    repetition 2/2
                    error: runtime 'local' is not reachable: start llama-server
                1 passed, 1 failed, 1 errors, 1 skipped

                """)
    }
}
