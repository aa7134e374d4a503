import ArgumentParser
import BatonEngine
import BatonSpec
import Foundation

/// The `baton` command: its subcommands, and the one place errors become exit codes.
public struct BatonCommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "baton",
        abstract: "Run multi-model LLM pipelines on local hardware.",
        version: BatonVersion.current,
        subcommands: [
            Run.self, Resume.self, Rerun.self, Runs.self, Show.self, Validate.self, Plan.self, Graph.self, List.self, Doctor.self,
            Models.self,
            Keys.self, Profiles.self, Init.self, Trust.self, Tools.self, Index.self, Search.self, Indexes.self, Test.self, Stats.self,
            Bench.self, Serve.self, Submit.self, Worker.self, Workers.self,
        ]
    )

    public init() {}

    /// Parses `arguments`, runs the command, and returns the exit status.
    ///
    /// Errors from ArgumentParser keep its codes (64 for a bad command line); workspace errors exit 66 (65 for a file
    /// over the YAML size limit); any other error is a bug and exits 70.
    public static func run(arguments: [String]) async -> Int32 {
        if let unknown = unknownHelpTopic(arguments) {
            Console.error("error: \(unknown)")
            return BatonExitCode.usage
        }
        do {
            var command = try parseAsRoot(arguments)
            if var asyncCommand = command as? any AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
            return BatonExitCode.ok
        } catch let error as WorkspaceError {
            Console.error("error: \(error)")
            // A file refused by the YAML limits is invalid data, not a missing file.
            if case .tooLarge = error { return BatonExitCode.invalidPipeline }
            return BatonExitCode.notFound
        } catch let error as ExitCode {
            return error.rawValue
        } catch {
            let code = exitCode(for: error).rawValue
            if code == EXIT_FAILURE {
                Console.error("error: internal error: \(error)")
                return BatonExitCode.internalError
            }
            let message = fullMessage(for: error)
            if !message.isEmpty {
                if code == BatonExitCode.ok { Console.out(message) } else { Console.error(message) }
            }
            return code
        }
    }
}

extension BatonCommand {
    /// The complaint about help asked for a command that does not exist (`baton help NAME`, `baton NAME --help`),
    /// naming the nearest command; nil when the help asked for is real. ArgumentParser prints the overview and
    /// exits 0 for these, which hides the typo.
    static func unknownHelpTopic(_ arguments: [String]) -> String? {
        var words: [String]
        if arguments.first == "help" {
            words = Array(arguments.dropFirst())
        } else if let end = arguments.firstIndex(where: { $0 == "--help" || $0 == "-h" || $0 == "--" }), arguments[end] != "--" {
            words = Array(arguments[..<end])
        } else {
            return nil
        }
        words = Array(words.prefix { !$0.hasPrefix("-") })
        var command: any ParsableCommand.Type = BatonCommand.self
        var path = ["baton"]
        for word in words {
            let configuration = command.configuration
            // A command without subcommands takes the rest as its arguments; one with a default subcommand
            // may be given that subcommand's arguments.
            guard !configuration.subcommands.isEmpty, configuration.defaultSubcommand == nil, word != "help" else { return nil }
            let names = configuration.subcommands.flatMap { [$0._commandName] + $0.configuration.aliases }
            guard let next = configuration.subcommands.first(where: { $0._commandName == word || $0.configuration.aliases.contains(word) })
            else {
                let parent = path.joined(separator: " ")
                let hint = Suggestion.closest(to: word, in: names).map { "; did you mean '\(parent) \($0)'?" } ?? ""
                return "unknown command '\(parent) \(word)'\(hint) ('\(parent) --help' lists the commands)"
            }
            command = next
            path.append(next._commandName)
        }
        return nil
    }
}

/// The version printed by `baton --version`.
public enum BatonVersion {
    /// The current version.
    public static let current = "0.1.0"
}

/// Shared option: the profile to compile with.
struct ProfileOption: ParsableArguments {
    @Option(
        name: .long,
        help: """
            The profile to use (a name on the profile search path, or a file). Default: $BATON_PROFILE, else 'default' \
            (a file of that name, else the built-in one).
            """)
    var profile: String?

    func resolvedName(environment: [String: String]) -> String? {
        profile ?? Self.fromEnvironment(environment)
    }

    /// The profile `BATON_PROFILE` names, if set.
    static func fromEnvironment(_ environment: [String: String]) -> String? {
        environment["BATON_PROFILE"].flatMap { $0.isEmpty ? nil : $0 }
    }
}
