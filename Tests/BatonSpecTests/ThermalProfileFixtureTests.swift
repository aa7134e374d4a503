import BatonCommands
import BatonSpec
import BatonTestSupport
import Foundation
import Testing

/// Every profile in `Fixtures/invalid-profiles` (bad `thermal` sections, unscored capabilities) has a golden `.diagnostics.txt`
/// with the exact printed output, and the profile schema's `thermal` object lists the Swift keys.
@Suite struct ThermalProfileFixtureTests {
    static let folder = "Tests/BatonSpecTests/Fixtures/invalid-profiles"
    static let files = Fixtures.yamlFiles(folder).map { String($0.split(separator: "/").last!) }

    @Test func corpusIsThere() {
        #expect(Self.files.count >= 3)
    }

    @Test(arguments: files)
    func matchesGolden(_ name: String) throws {
        // Given
        let text = try String(contentsOfFile: Fixtures.path("\(Self.folder)/\(name)"), encoding: .utf8)
        let file = SourceFile(path: name, text: text)

        // When
        let (profile, diagnostics) = ProfileResolver.resolve(ProfileDecoder.decode(file, environment: [:])) { _ in nil }
        let printed = DiagnosticFormatter.text(diagnostics, sources: [name: file], color: false)

        // Then
        #expect(profile != nil, "a bad value must not stop the rest of the profile from decoding")
        #expect(!diagnostics.isEmpty, "an invalid fixture must produce diagnostics")
        #expect(diagnostics.allSatisfy { $0.location != nil }, "every diagnostic is located")
        let golden = "\(Self.folder)/\(name.replacingOccurrences(of: ".yaml", with: ".diagnostics.txt"))"
        if let difference = Fixtures.compareGolden(printed, at: golden) {
            Issue.record(Comment(rawValue: difference))
        }
    }

    /// `scripts/check-schemas.py` compares only the objects it lists; this keeps `$defs/thermal` honest.
    @Test func theSchemaThermalObjectListsTheSwiftKeys() throws {
        let data = try Data(contentsOf: URL(fileURLWithPath: Fixtures.path("schemas/profile.schema.json")))
        let schema = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        let definitions = try #require(schema["$defs"] as? [String: Any])
        let thermal = try #require(definitions["thermal"] as? [String: Any])
        let properties = try #require(thermal["properties"] as? [String: Any])
        #expect(properties.keys.sorted() == AllowedKeys.thermal.sorted())
        #expect(thermal["additionalProperties"] as? Bool == false)
        let levels = (properties["pause_at"] as? [String: Any])?["enum"] as? [String]
        #expect(levels == ThermalPolicy.Level.allCases.map(\.rawValue))
    }
}
