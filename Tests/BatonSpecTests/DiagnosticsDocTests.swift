import BatonSpec
import BatonTestSupport
import Foundation
import Testing

/// docs/diagnostics.md against the message catalog: every code the catalog can produce is documented with
/// its severity, no documented code is stale, and every example named in the table shows its code.
@Suite struct DiagnosticsDocTests {
    /// One row of the doc's code table.
    struct Row: Equatable {
        var code: String
        var severity: String
        var example: String
    }

    static let docPath = "docs/diagnostics.md"
    static let catalogPath = "Sources/BatonSpec/Diagnostics/Diagnostic.Message+Catalog.swift"

    /// The rows of the table under `## Codes`, in order.
    static func documentedRows() throws -> [Row] {
        let text = try String(contentsOfFile: Fixtures.path(docPath), encoding: .utf8)
        var rows: [Row] = []
        var inCodes = false
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            if line.hasPrefix("## ") { inCodes = line == "## Codes" }
            guard inCodes, line.hasPrefix("| `") else { continue }
            let cells = line.split(separator: "|", omittingEmptySubsequences: false)
                .map { $0.trimmingCharacters(in: .whitespaces) }
            // "", code, severity, meaning, example, ""
            guard cells.count == 6 else {
                Issue.record("a row of the code table does not have 4 cells: \(line)")
                continue
            }
            rows.append(Row(code: cells[1].trimmingCharacters(in: ["`"]), severity: cells[2], example: cells[4]))
        }
        return rows
    }

    /// Every code the catalog creates, with its severity: the first argument of each `.init(` in the catalog
    /// file, and of any `Diagnostic.Message(` elsewhere in BatonSpec (a message built beside its check).
    static func catalogCodes() throws -> [String: String] {
        var sources = [try String(contentsOfFile: Fixtures.path(catalogPath), encoding: .utf8)]
        let spec = Fixtures.path("Sources/BatonSpec")
        for case let file as String in FileManager.default.enumerator(atPath: spec) ?? .init()
        where file.hasSuffix(".swift") && !catalogPath.hasSuffix(file) {
            let text = try String(contentsOfFile: spec + "/" + file, encoding: .utf8)
            if text.contains("Diagnostic.Message(") { sources.append(text) }
        }
        let pattern = try Regex(#"(?:\.init|Diagnostic\.Message)\(\s*"([a-z]+(?:-[a-z]+)*)"\s*,\s*(\.warning\s*,)?"#)
        var codes: [String: String] = [:]
        for text in sources {
            for match in text.matches(of: pattern) {
                guard let code = match.output[1].substring.map(String.init) else { continue }
                let severity = match.output[2].substring == nil ? "error" : "warning"
                if let known = codes[code], known != severity {
                    Issue.record("code '\(code)' is created both as \(known) and as \(severity)")
                }
                codes[code] = severity
            }
        }
        return codes
    }

    @Test func everyCatalogCodeIsDocumentedAndNoDocumentedCodeIsStale() throws {
        let catalog = try Self.catalogCodes()
        let rows = try Self.documentedRows()
        // The parser must see the catalog: a pattern that matched nothing would make this test pass vacuously.
        #expect(catalog.count >= 40, "only \(catalog.count) codes found in \(Self.catalogPath); is the pattern stale?")
        let documented = rows.map(\.code)
        let undocumented = Set(catalog.keys).subtracting(documented).sorted()
        let stale = Set(documented).subtracting(catalog.keys).sorted()
        #expect(undocumented.isEmpty, "codes of the catalog missing from \(Self.docPath): \(undocumented)")
        #expect(stale.isEmpty, "codes in \(Self.docPath) that the catalog no longer has: \(stale)")
        let repeated = Dictionary(grouping: documented, by: { $0 }).filter { $0.value.count > 1 }.keys.sorted()
        #expect(repeated.isEmpty, "codes listed twice in \(Self.docPath): \(repeated)")
    }

    @Test func documentedSeveritiesMatchTheCatalog() throws {
        let catalog = try Self.catalogCodes()
        for row in try Self.documentedRows() {
            guard let severity = catalog[row.code] else { continue }
            #expect(row.severity == severity, "\(Self.docPath) says '\(row.code)' is \(row.severity); the catalog makes it \(severity)")
        }
    }

    /// An example cell is `` `folder/name` `` (a fixture below Tests/BatonSpecTests/Fixtures whose golden shows the
    /// code), or `none: SuiteName, ...` (test files that check the code).
    @Test func everyExampleShowsItsCode() throws {
        for row in try Self.documentedRows() {
            if row.example.hasPrefix("`") {
                let fixture = row.example.trimmingCharacters(in: ["`"])
                let golden = Fixtures.path("Tests/BatonSpecTests/Fixtures/\(fixture).diagnostics.txt")
                let text = try? String(contentsOfFile: golden, encoding: .utf8)
                #expect(
                    text?.contains("[\(row.code)]") == true, "example \(fixture) of '\(row.code)' does not show [\(row.code)] in \(golden)")
            } else {
                #expect(row.example.hasPrefix("none"), "example of '\(row.code)' is neither a fixture nor 'none': \(row.example)")
                let suites = row.example.matches(of: try Regex(#"[A-Z][A-Za-z]+Tests"#)).map { String($0.output[0].substring ?? "") }
                for suite in suites {
                    let text = Self.testFile(named: suite)
                    #expect(text != nil, "\(Self.docPath) names \(suite) for '\(row.code)', which does not exist")
                    #expect(
                        text.map { $0.contains("\"\(row.code)\"") || $0.contains("[\(row.code)]") } != false,
                        "\(suite) does not check '\(row.code)', as \(Self.docPath) says it does")
                }
            }
        }
    }

    /// The text of `Tests/*/NAME.swift`, if there is one.
    static func testFile(named name: String) -> String? {
        for target in ["BatonSpecTests", "BatonEngineTests", "BatonCommandsTests"] {
            if let text = try? String(contentsOfFile: Fixtures.path("Tests/\(target)/\(name).swift"), encoding: .utf8) {
                return text
            }
        }
        return nil
    }

    /// `unknown-model` has no fixture file (it is a profile's problem, found when the profile is resolved): what
    /// the doc says of it is checked here.
    @Test func aRolePreferringAModelTheRegistryDoesNotListIsUnknownModel() {
        let text = """
            version: 1
            runtimes:
              ollama: {kind: ollama, url: "http://127.0.0.1:11434"}
            models:
              mistral:7b-instruct: {runtime: ollama, footprint: 5GB}
            roles:
              planner: {models: [mistral:7b-instrukt, "ollama:qwen3:8b"]}
            """
        let document = ProfileDecoder.decode(SourceFile(path: "p.yaml", text: text), environment: [:])
        let (_, diagnostics) = ProfileResolver.resolve(document) { _ in nil }
        // The pinned model (RUNTIME:MODEL) needs no registry entry; the misspelt one is reported at its place.
        #expect(diagnostics.map(\.code) == ["unknown-model"])
        #expect(diagnostics.first?.severity == .error)
        #expect(diagnostics.first?.location == SourceLocation(file: "p.yaml", line: 7, column: 22))
        #expect(diagnostics.first?.message.contains("did you mean 'mistral:7b-instruct'") == true)
    }
}
