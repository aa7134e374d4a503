import ArgumentParser
import BatonEngine
import BatonSpec
import Foundation

/// Writes to standard output and standard error, and knows whether they are terminals.
enum Console {
    /// Writes `text` and a newline to standard output.
    static func out(_ text: String, terminator: String = "\n") {
        FileHandle.standardOutput.write(Data((text + terminator).utf8))
    }

    /// Writes `text` and a newline to standard error.
    static func error(_ text: String, terminator: String = "\n") {
        FileHandle.standardError.write(Data((text + terminator).utf8))
    }

    /// Writes located diagnostics (errors and warnings) to standard error, nothing when there are none.
    static func diagnostics(_ diagnostics: [Diagnostic], sources: [String: SourceFile]) {
        guard !diagnostics.isEmpty else { return }
        error(DiagnosticFormatter.text(diagnostics, sources: sources, color: false), terminator: "")
    }

    /// Runs an engine call that may find a pipeline or profile invalid: its diagnostics go to standard error and
    /// the command exits 65.
    static func reportingInvalid<T>(_ body: () async throws -> T) async throws -> T {
        do {
            return try await body()
        } catch let invalid as PipelineInvalid {
            diagnostics(invalid.diagnostics, sources: invalid.sources)
            throw ExitCode.invalidPipeline
        }
    }

    /// Whether colors may be used on standard output: a terminal, and `NO_COLOR` unset.
    static var colorsOnStandardOutput: Bool {
        isatty(STDOUT_FILENO) == 1 && ProcessInfo.processInfo.environment["NO_COLOR"] == nil
            && ProcessInfo.processInfo.environment["TERM"] != "dumb"
    }
}

extension PlanLoader {
    /// ``load(_:profileName:discover:database:echo:)`` for a command: warnings go to standard error; errors too,
    /// and the command exits 65.
    func loadReporting(_ pipeline: String, profileName: String?, discover: Bool, database: String?, echo: Bool = false) async throws
        -> Loaded
    {
        let loaded = try await Console.reportingInvalid {
            try await load(pipeline, profileName: profileName, discover: discover, database: database, echo: echo)
        }
        Console.diagnostics(loaded.diagnostics, sources: loaded.diagnosticSources)
        return loaded
    }
}
