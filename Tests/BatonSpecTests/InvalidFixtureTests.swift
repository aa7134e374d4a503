import BatonCommands
import BatonSpec
import BatonTestSupport
import Foundation
import Testing

/// Every file in `Fixtures/invalid` has a golden `.diagnostics.txt` with the exact printed output.
@Suite struct InvalidFixtureTests {
    static let folder = "Tests/BatonSpecTests/Fixtures/invalid"
    static let files = Fixtures.yamlFiles(folder).map { String($0.split(separator: "/").last!) }

    static func testProfile() -> ResolvedProfile {
        let path = Fixtures.path("Tests/BatonSpecTests/Fixtures/profiles/test.yaml")
        let text = (try? String(contentsOfFile: path, encoding: .utf8)) ?? ""
        let document = ProfileDecoder.decode(SourceFile(path: "test.yaml", text: text), environment: [:])
        let (profile, diagnostics) = ProfileResolver.resolve(document) { _ in nil }
        precondition(diagnostics.isEmpty, "the fixture profile must be valid: \(diagnostics)")
        return profile!
    }

    @Test func corpusIsLargeEnough() {
        #expect(Self.files.count >= 40)
    }

    @Test(arguments: files)
    func matchesGolden(_ name: String) throws {
        // Given
        let folder = Fixtures.path(Self.folder)
        let text = try String(contentsOfFile: "\(folder)/\(name)", encoding: .utf8)
        // Reads prompt files as Workspace.readPromptFile reports them: missing, too large, not UTF-8.
        let compiler = PipelineCompiler(profile: Self.testProfile()) { path throws(SourceReadError) in
            guard let data = FileManager.default.contents(atPath: "\(folder)/\(path)") else { throw .notFound }
            if let violation = YAMLLimits.standard.check(byteCount: data.count) {
                throw .tooLarge(bytes: data.count, limit: violation.limit)
            }
            guard let text = String(data: data, encoding: .utf8) else { throw .notUTF8 }
            return SourceFile(path: path, text: text)
        }

        // When
        let result = compiler.compile(SourceFile(path: name, text: text))
        let printed = DiagnosticFormatter.text(result.diagnostics, sources: result.sources, color: false)

        // Then
        #expect(!result.diagnostics.isEmpty, "an invalid fixture must produce diagnostics")
        #expect(result.diagnostics.allSatisfy { $0.location != nil }, "every diagnostic is located")
        let golden = "\(Self.folder)/\(name.replacingOccurrences(of: ".yaml", with: ".diagnostics.txt"))"
        if let difference = Fixtures.compareGolden(printed, at: golden) {
            Issue.record(Comment(rawValue: difference))
        }
    }
}
