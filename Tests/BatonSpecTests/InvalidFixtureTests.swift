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

    /// The corpus-relative path of the pipeline `reference` called from `caller`: `called/NAME.yaml` for a name, else
    /// the path joined to the caller's folder (`..` and `.` resolved, so a file reached two ways has one path).
    static func calledPath(_ reference: String, from caller: String) -> String {
        guard reference.hasSuffix(".yaml") || reference.hasSuffix(".yml") else { return "called/\(reference).yaml" }
        var parts = caller.split(separator: "/").dropLast().map(String.init)
        for part in reference.split(separator: "/").map(String.init) {
            if part == ".." { _ = parts.popLast() } else if part != "." { parts.append(part) }
        }
        return parts.joined(separator: "/")
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
        var compiler = PipelineCompiler(profile: Self.testProfile()) { path throws(SourceReadError) in
            guard let data = FileManager.default.contents(atPath: "\(folder)/\(path)") else { throw .notFound }
            if let violation = YAMLLimits.standard.check(byteCount: data.count) {
                throw .tooLarge(bytes: data.count, limit: violation.limit)
            }
            guard let text = String(data: data, encoding: .utf8) else { throw .notUTF8 }
            return SourceFile(path: path, text: text)
        }
        // Called pipelines (uses:): a name is a file in called/, a path is relative to the calling file's folder, as
        // Workspace.readCalledPipeline resolves them on the search path and beside the file.
        compiler.resolvePipeline = { reference, caller throws(SourceReadError) in
            let path = Self.calledPath(reference, from: caller)
            guard let data = FileManager.default.contents(atPath: "\(folder)/\(path)"), let text = String(data: data, encoding: .utf8)
            else { throw .notFound }
            return SourceFile(path: path, text: text)
        }
        compiler.pipelineNames = { Fixtures.yamlFiles("\(Self.folder)/called").map { SourceFile(path: $0, text: "").stem } }

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
