import ArgumentParser
import BatonEngine
import BatonSpec
import Foundation

extension BatonCommand {
    /// `baton profiles list|show`: the profiles on the search path, and one profile fully resolved.
    struct Profiles: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List the profiles on the profile search path, show one fully resolved, export or import one.",
            subcommands: [ListProfiles.self, ShowProfile.self, ExportProfile.self, ImportProfile.self], defaultSubcommand: ListProfiles.self
        )
    }

    /// `baton profiles list`.
    struct ListProfiles: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "list",
            abstract: "List the profiles on the search path, the one in use marked; a name hidden by an earlier folder is shown as such.",
            discussion: """
                The path: $BATON_PROFILE_PATH, else ./profiles, ~/.config/baton/profiles, then the installed \
                share/baton/profiles. The built-in 'default' profile is listed last; it is used when no file named \
                'default' is on the path.
                """)

        @Flag(help: "Print JSON: an array of {name, path, description, extends, in_use, hidden_by, built_in}.")
        var json = false

        func run() throws {
            let workspace = Workspace.current()
            let inUse = workspace.profileName(requested: ProfileOption.fromEnvironment(workspace.environment))
            let rows = try ProfileCatalog(workspace: workspace).entries(inUse: inUse)
            if json {
                try Console.json(rows)
                return
            }
            let width = rows.map(\.name.count).max() ?? 0
            for row in rows {
                var notes = [row.builtIn == true ? "built in" : row.path]
                if let parent = row.extends { notes.append("extends \(parent)") }
                if row.inUse == true { notes.append("in use") }
                if let earlier = row.hiddenBy { notes.append("hidden by \(earlier)") }
                if row.valid == false { notes.append("invalid: run 'baton profiles show \(row.path)'") }
                let name = row.name.padding(toLength: width, withPad: " ", startingAt: 0)
                Console.out("\(row.inUse == true ? "*" : " ") \(name)  \(row.description ?? "")  (\(notes.joined(separator: ", ")))")
            }
        }
    }

    /// `baton profiles show NAME`.
    struct ShowProfile: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "show",
            abstract: "Show a profile with its extends chain merged, and where each value came from.")

        @Argument(
            help: "A profile name on the search path, or a file. Default: $BATON_PROFILE, else 'default' (a file, else the built-in one).")
        var name: String?

        @Flag(help: "Print JSON: {name, chain, values: [{path, value, profile, file, line}]}.")
        var json = false

        func run() throws {
            let workspace = Workspace.current()
            let requested = name ?? ProfileOption.fromEnvironment(workspace.environment) ?? BuiltInProfiles.defaultName
            let loaded = try workspace.loadProfile(requested)
            let errors = loaded.diagnostics.filter { $0.severity == .error }
            if !errors.isEmpty || loaded.profile == nil {
                Console.error(DiagnosticFormatter.text(loaded.diagnostics, sources: loaded.sources, color: false), terminator: "")
                throw ExitCode(BatonExitCode.invalidPipeline)
            }
            let profile = loaded.profile!
            let entries = ProfileProvenance.entries(of: profile.spec, documents: loaded.documents)
            // The built-in profile has no file: it shows as 'built in' (JSON keeps its path, "(built in)/default.yaml").
            let files = Dictionary(loaded.documents.compactMap { document in document.spec.map { ($0.name, document.file.path) } }) {
                a, _ in a
            }
            let shown = files.mapValues { $0 == BuiltInProfiles.defaultPath ? "built in" : $0 }
            if json {
                /// One resolved value and where it came from.
                struct Value: Encodable {
                    var path: String
                    var value: String
                    var profile: String
                    var file: String?
                    var line: Int?
                }
                struct Document: Encodable {
                    var name: String
                    var chain: [String]
                    var values: [Value]
                }
                try Console.json(
                    Document(
                        name: profile.spec.name, chain: profile.chain,
                        values: entries.map { entry in
                            Value(
                                path: entry.path, value: entry.value, profile: entry.profile, file: files[entry.profile],
                                line: entry.location?.line)
                        }))
                return
            }
            Console.out(
                "profile \(profile.spec.name): " + profile.chain.map { "\($0) (\(shown[$0] ?? "?"))" }.joined(separator: " extends "))
            Console.out("a value comes from the first profile in this chain that sets it")
            Console.out("")
            let cells = entries.map { entry -> (String, String) in
                let origin = [entry.profile, entry.location.map { "\(shown[entry.profile] ?? "?"):\($0.line)" }].compactMap { $0 }.joined(
                    separator: "  ")
                return ("\(entry.path): \(entry.value)", origin)
            }
            let width = min(72, cells.map(\.0.count).max() ?? 0)
            for (value, origin) in cells {
                let padded = value.count < width ? value.padding(toLength: width, withPad: " ", startingAt: 0) : value
                Console.out("\(padded)  # \(origin)")
            }
        }
    }
}

extension BatonCommand {
    /// `baton profiles export NAME [-o FILE]`.
    struct ExportProfile: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "export",
            abstract: "Write a profile with its extends chain merged as one standalone profile file.",
            discussion: """
                The file extends nothing and resolves on its own to the same profile; saved as NAME.yaml it keeps the \
                name. Values are written as they were loaded: a ${VAR} appears with its value, and comments are not \
                kept. Exits \(BatonExitCode.invalidPipeline) when the profile has errors, \(BatonExitCode.cannotCreate) when \
                FILE exists (without --force) or cannot be written.
                """)

        @Argument(help: "A profile name on the search path, or a file. Default: $BATON_PROFILE, else 'default'.")
        var name: String?

        @Option(
            name: .short,
            help: ArgumentHelp("Write to FILE instead of standard output (never over an existing file without --force).", valueName: "file")
        )
        var output: String?

        @Flag(help: "Replace FILE when it exists.")
        var force = false

        func run() throws {
            let workspace = Workspace.current()
            let requested = name ?? ProfileOption.fromEnvironment(workspace.environment) ?? BuiltInProfiles.defaultName
            let loaded = try workspace.loadProfile(requested)
            guard let profile = loaded.profile, !loaded.diagnostics.hasErrors else {
                Console.error(DiagnosticFormatter.text(loaded.diagnostics, sources: loaded.sources, color: false), terminator: "")
                throw ExitCode(BatonExitCode.invalidPipeline)
            }
            let text: String
            do {
                text = try ProfileExport.yaml(of: profile)
            } catch let problem as ProfileExport.Problem {
                Console.error("error: \(problem)")
                throw ExitCode(BatonExitCode.invalidPipeline)
            }
            guard let output else {
                Console.out(text, terminator: "")
                return
            }
            if FileManager.default.fileExists(atPath: output), !force {
                Console.error("error: \(output) exists; nothing was written. Give --force to replace it, or choose another file")
                throw ExitCode(BatonExitCode.cannotCreate)
            }
            do {
                try Data(text.utf8).write(to: URL(fileURLWithPath: workspace.absolute(output)), options: .atomic)
            } catch {
                Console.error("error: cannot write \(output): \((error as NSError).localizedDescription)")
                throw ExitCode(BatonExitCode.cannotCreate)
            }
            Console.error("wrote the profile '\(profile.spec.name)' (\(profile.chain.joined(separator: " extends "))) to \(output)")
        }
    }

    /// `baton profiles import FILE [--force]`.
    struct ImportProfile: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "import",
            abstract: "Validate a profile file and copy it into your profile folder ($XDG_CONFIG_HOME/baton/profiles).",
            discussion: """
                The file is checked first, with what it extends; a profile with errors is not copied (exit \
                \(BatonExitCode.invalidPipeline), the errors located). The copy keeps the file's name, so its profile name; \
                an existing profile of that name in the folder is replaced only with --force (exit \
                \(BatonExitCode.cannotCreate) otherwise, as when the copy cannot be written).
                """)

        @Argument(help: "The profile file to import.")
        var file: String

        @Flag(help: "Replace a profile of the same name in your profile folder.")
        var force = false

        func run() throws {
            let workspace = Workspace.current()
            let outcome: ProfileImport.Outcome
            do {
                outcome = try ProfileImport.run(file, workspace: workspace, force: force)
            } catch let problem as ProfileImport.Problem {
                switch problem {
                case .invalid(let diagnostics, let sources):
                    Console.error(DiagnosticFormatter.text(diagnostics, sources: sources, color: false), terminator: "")
                    Console.error("error: \(problem)")
                    throw ExitCode(BatonExitCode.invalidPipeline)
                case .exists, .unwritable:
                    Console.error("error: \(problem)")
                    throw ExitCode(BatonExitCode.cannotCreate)
                }
            }
            Console.out("\(outcome.replaced ? "replaced" : "imported") the profile '\(outcome.name)' as \(outcome.destination)")
            if let earlier = outcome.hiddenBy {
                Console.error("note: \(earlier) comes first on the profile search path and hides it; rename one of them")
            }
            if !outcome.onSearchPath {
                Console.error(
                    "note: BATON_PROFILE_PATH leaves out \((outcome.destination as NSString).deletingLastPathComponent), so "
                        + "Baton does not find the profile there; add that folder to it, or unset it")
            }
        }
    }
}
