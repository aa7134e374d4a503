import BatonSpec
import Foundation
import Testing

/// How the compiler reports each reason its `readFile` closure gives for a `prompt_file` it cannot read: only a
/// missing file is `file-not-found`; a file that is there but too large, unreadable or not UTF-8 is `unreadable-file`
/// with that reason, located at the `prompt_file` value.
@Suite struct PromptFileDiagnosticTests {
    static let pipeline = SourceFile(
        path: "p.yaml",
        text: """
            version: 1
            stages:
              plan:
                model: small
                prompt_file: prompts/plan.md
            """)

    /// The diagnostics of `pipeline` when every prompt file read fails with `error`.
    static func diagnostics(readFailingWith error: SourceReadError) -> [Diagnostic] {
        PipelineCompiler(profile: nil) { _ throws(SourceReadError) in throw error }.compile(pipeline).diagnostics
    }

    static let promptFileValue = SourceLocation(file: "p.yaml", line: 5, column: 18)

    @Test func aMissingPromptFileIsFileNotFound() {
        let diagnostics = Self.diagnostics(readFailingWith: .notFound)
        #expect(diagnostics.map(\.code) == ["file-not-found"])
        #expect(diagnostics.first?.location == Self.promptFileValue)
    }

    @Test func aPromptFileOverTheSizeLimitSaysHowLargeItIsAndTheLimitNotThatItIsMissing() {
        let limit = YAMLLimits.standard.maxBytes
        let diagnostics = Self.diagnostics(readFailingWith: .tooLarge(bytes: 5 * 1024 * 1024, limit: limit))
        #expect(diagnostics.map(\.code) == ["unreadable-file"])
        #expect(diagnostics.first?.severity == .error)
        #expect(diagnostics.first?.location == Self.promptFileValue)
        #expect(
            diagnostics.first?.message
                == "prompt file 'prompts/plan.md' is 5 MB, over the 2 MB Baton reads from one file; make it smaller")
    }

    @Test func aPromptFileJustOverTheLimitGivesItsSizeInBytes() {
        let limit = YAMLLimits.standard.maxBytes
        let diagnostics = Self.diagnostics(readFailingWith: .tooLarge(bytes: limit + 1, limit: limit))
        #expect(diagnostics.first?.message.hasPrefix("prompt file 'prompts/plan.md' is \(limit + 1) bytes, over the 2 MB") == true)
    }

    @Test func aPromptFileThatCannotBeReadSaysItIsThereAndWhy() {
        let denied = Self.diagnostics(readFailingWith: .unreadable(reason: "permission denied"))
        #expect(denied.map(\.code) == ["unreadable-file"])
        #expect(denied.first?.location == Self.promptFileValue)
        #expect(
            denied.first?.message
                == "prompt file 'prompts/plan.md' is there but could not be read (permission denied); check its permissions (chmod u+r)")
        let unknown = Self.diagnostics(readFailingWith: .unreadable(reason: nil))
        #expect(
            unknown.first?.message == "prompt file 'prompts/plan.md' is there but could not be read; check its permissions (chmod u+r)")
    }

    @Test func aPromptFileThatIsNotUTF8SaysSo() {
        let diagnostics = Self.diagnostics(readFailingWith: .notUTF8)
        #expect(diagnostics.map(\.code) == ["unreadable-file"])
        #expect(diagnostics.first?.message == "prompt file 'prompts/plan.md' is not UTF-8 text; save it as UTF-8")
    }

    /// The reader that only says found or not (nil) still reports a missing file, and a file it finds is compiled in.
    @Test func anOptionalReaderMeansFoundOrNotFound() {
        let missing = PipelineCompiler(profile: nil) { _ in nil }.compile(Self.pipeline)
        #expect(missing.diagnostics.map(\.code) == ["file-not-found"])
        let found = PipelineCompiler(profile: nil) { path in SourceFile(path: path, text: "Plan it.") }.compile(Self.pipeline)
        #expect(found.diagnostics.isEmpty)
        #expect(found.spec?.stages.first?.prompt == "Plan it.")
    }
}
