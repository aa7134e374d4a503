import ArgumentParser
import BatonEngine
import Foundation

extension BatonCommand {
    /// `baton trust`: record, list and revoke the project folders a run may send keys from (docs/trust.md).
    struct Trust: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Trust a project folder: its pipelines and profiles may then send API keys, reach remote runtimes and run tools.",
            discussion: """
                A project folder (pipelines or profiles found outside ~/.config/baton and the installed share folder) is \
                untrusted until trusted here. Untrusted, Baton still validates, plans, graphs and runs on runtimes on \
                this machine without keys; a run that would send a key, reach another host or run a tool is refused \
                (exit \(BatonExitCode.untrusted)). The record holds a hash of the folder's profiles/: an added, removed or \
                changed profile needs trusting again. Records live in $XDG_CONFIG_HOME/baton/trusted-folders.json. \
                'baton run --trust' trusts one invocation without recording anything (CI).
                """)

        @Argument(help: "The project folder (default: the current folder).")
        var directory: String?

        @Flag(help: "List the trusted folders: when, and whether their profiles still match.")
        var list = false

        @Flag(help: "Stop trusting the folder.")
        var revoke = false

        func validate() throws {
            if list && revoke { throw ValidationError("--list and --revoke cannot be used together") }
            if list && directory != nil { throw ValidationError("--list takes no folder") }
        }

        func run() throws {
            let workspace = Workspace.current()
            guard let store = ProjectTrust(workspace: workspace) else {
                Console.error("error: no user configuration folder; set XDG_CONFIG_HOME or HOME")
                throw ExitCode(BatonExitCode.usage)
            }
            do {
                if list {
                    try printList(store)
                } else if revoke {
                    let path = workspace.absolute(directory ?? ".")
                    if let removed = try store.revoke(path) {
                        Console.out("no longer trusted: \(removed.path)")
                    } else {
                        Console.error("\(Workspace.realPath(path)) was not trusted ('baton trust --list' shows the trusted folders)")
                    }
                } else {
                    let record = try store.trust(workspace.absolute(directory ?? "."), version: BatonVersion.current)
                    Console.out("trusted: \(record.path)")
                    if record.profiles.isEmpty {
                        Console.out("profiles hashed: none (no profiles/ folder with .yaml or .yml files)")
                    } else {
                        Console.out("profiles hashed (a change to any of these, or a new one, needs 'baton trust' again):")
                        for file in record.profiles { Console.out("  \(file)") }
                    }
                    Console.out("recorded in \(store.file)")
                }
            } catch let error as ProjectTrustError {
                Console.error("error: \(error)")
                if case .notAFolder = error { throw ExitCode(BatonExitCode.notFound) }
                throw ExitCode(BatonExitCode.untrusted)
            }
        }

        private func printList(_ store: ProjectTrust) throws {
            let records = try store.records()
            guard !records.isEmpty else {
                Console.error("no trusted folders (in \(store.file))")
                return
            }
            for record in records {
                let state: String
                switch try store.status(of: record.path) {
                case .trusted: state = "profiles match"
                case .changed: state = "profiles changed since: run 'baton trust' again"
                case .untrusted: state = "not trusted"
                }
                let exists = FileManager.default.fileExists(atPath: record.path) ? "" : " (folder gone)"
                Console.out("\(record.path)\(exists)  trusted \(record.trustedAt) by baton \(record.batonVersion)  \(state)")
            }
        }
    }
}
