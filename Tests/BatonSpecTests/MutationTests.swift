import BatonSpec
import BatonTestSupport
import Foundation
import Testing

/// A seeded mutation test: mutated and truncated copies of every shipped and fixture file must never
/// crash the compiler, and every rejection must carry a located error inside the file.
/// (scripts/fuzz.sh runs the same promises under libFuzzer for as long as you like.)
@Suite struct MutationTests {
    static let tokens = [
        "{{", "}}", "{{#", "{{/", "{{^", "{{>", "{{=<% %>=}}", ": ", "- ", "\n", "\r", "\t", "  ", "|\n", ">\n", "&a ",
        "*a", "stages:", "reviews: ", "needs: [", "]", "{", "}", "\"", "'", "#", "${X}", "version: 2", "prompt: ",
        "stages.plan.output", "inputs.", "feedback", "history", "\u{2028}", "🎉", "\0",
        "when: ", "route: {on: ", "cases: ", "default: ", " && ", " == ", "has(", ".skipped", ".branch", "('",
        "for_each: ", "as: ", "max_items: ", "concurrency: ", "repeat: ", "vote: ", ".items", ".vote.value", "{{item}}",
        "{{item_index}}", "[0]", "parallel: ", "uses: ", "with: ", "uses: summarize", "uses: ./called/section-review.yaml",
        ".outputs.", "/", "retrieve: {index: ", "query: ", "top_k: ", "cite: ", ".chunks", "indexes:", "sources: ", "**/",
    ]

    static func mutate(_ text: String, using generator: inout SeededGenerator) -> String {
        var scalars = Array(text.unicodeScalars)
        for _ in 0..<Int.random(in: 1...4, using: &generator) {
            let position = scalars.isEmpty ? 0 : Int.random(in: 0..<scalars.count, using: &generator)
            switch Int.random(in: 0..<5, using: &generator) {
            case 0:  // truncate
                scalars = Array(scalars.prefix(position))
            case 1:  // delete a range
                let end = min(scalars.count, position + Int.random(in: 1...20, using: &generator))
                scalars.removeSubrange(position..<end)
            case 2:  // insert a token
                scalars.insert(contentsOf: tokens.randomElement(using: &generator)!.unicodeScalars, at: position)
            case 3:  // duplicate a slice somewhere else
                let end = min(scalars.count, position + Int.random(in: 1...40, using: &generator))
                let slice = scalars[position..<end]
                scalars.insert(contentsOf: slice, at: Int.random(in: 0...scalars.count, using: &generator))
            default:  // replace a character
                if !scalars.isEmpty {
                    scalars[position] = Unicode.Scalar(UInt8.random(in: 32...126, using: &generator))
                }
            }
        }
        return String(String.UnicodeScalarView(scalars))
    }

    static let seeds: [String] = {
        let folders = [
            "pipelines", "profiles", "Tests/BatonSpecTests/Fixtures/invalid", "Tests/BatonSpecTests/Fixtures/profiles",
            "Tests/BatonSpecTests/Fixtures/valid",
        ]
        return folders.flatMap { Fixtures.yamlFiles($0) }.compactMap {
            try? String(contentsOfFile: Fixtures.path($0), encoding: .utf8)
        }
    }()

    @Test(arguments: 0..<8)
    func mutatedFilesAreRejectedWithLocatedErrors(_ batch: UInt64) throws {
        try #require(Self.seeds.count > 50)
        var generator = SeededGenerator(seed: 0xBA70_0000 + batch)
        for index in 0..<400 {
            let seed = Self.seeds[Int.random(in: 0..<Self.seeds.count, using: &generator)]
            let text = Self.mutate(seed, using: &generator)
            let file = SourceFile(path: "m.yaml", text: text)
            // Called pipelines resolve as in CallCompileTests' valid fixture (the mutated file sits in its folder), so
            // mutations of a uses: stage reach the inlining too.
            var compiler = CallCompileTests.diskCompiler()
            compiler.profile = nil
            let result = compiler.compile(SourceFile(path: "Tests/BatonSpecTests/Fixtures/valid/m.yaml", text: text))
            let profile = ProfileResolver.resolve(ProfileDecoder.decode(file, environment: [:])) { _ in nil }
            for (diagnostics, rejected) in [(result.diagnostics, result.plan == nil), (profile.diagnostics, profile.profile == nil)] {
                if rejected {
                    #expect(diagnostics.hasErrors, "batch \(batch) input \(index) rejected without an error:\n\(text)")
                }
                for diagnostic in diagnostics {
                    let location = try #require(diagnostic.location, "batch \(batch) input \(index): unlocated \(diagnostic)")
                    // A diagnostic in a called file is located in that file.
                    let lines = result.sources[location.file]?.lineCount ?? file.lineCount
                    #expect(
                        location.line >= 1 && location.column >= 1 && location.line <= lines + 1,
                        "batch \(batch) input \(index): \(location) outside the file:\n\(text)")
                }
            }
        }
    }
}
