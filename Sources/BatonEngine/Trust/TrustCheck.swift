import BatonSpec
import Foundation

/// The check before a run starts (and before `resume` or `rerun` continues one): a run whose pipeline or profile
/// came from a project folder the user has not trusted may not send an API key, reach a runtime off this machine,
/// or start a command (docs/trust.md). Validate, plan and graph never ask it.
///
/// It reads only the run's ``RunReach`` (no runtime is contacted, no key is read) and the user's trust records.
public struct TrustCheck: Sendable {
    /// The user's trust records.
    public var store: ProjectTrust?
    /// Whether the key file exists. It is not opened (that would ask for its passphrase): when it exists, any runtime
    /// that looks a key up may find one there, so it counts as sending one.
    public var keyFileExists: Bool
    /// The environment: a runtime whose `api_key_env` variable is set sends that key.
    public var environment: [String: String]

    /// A check against `store`.
    public init(store: ProjectTrust?, keyFileExists: Bool, environment: [String: String] = [:]) {
        self.store = store
        self.keyFileExists = keyFileExists
        self.environment = environment
    }

    /// The check of `workspace`'s environment: its trust records, key file and variables.
    public init(workspace: Workspace) {
        self.init(
            store: ProjectTrust(workspace: workspace),
            keyFileExists: FileManager.default.fileExists(atPath: KeyFile.defaultPath(environment: workspace.environment)),
            environment: workspace.environment)
    }

    /// One thing an untrusted folder may not do.
    public enum Refused: Sendable, Hashable {
        /// Send the API key of `runtime` (from the environment variable, else the key file's entries) to `destination`.
        case key(runtime: String, variable: String?, keyFileEntries: [String], destination: String?)
        /// Reach `runtime` at `host` (host:port), not on this machine.
        case host(runtime: String, host: String)
        /// Start a command or MCP server.
        case command(RunReach.Command)
    }

    /// A run refused because project folders it came from are not trusted.
    public struct Refusal: Error, Sendable, Hashable, CustomStringConvertible {
        /// The folders not trusted (or whose profiles changed since), by real path.
        public var folders: [String]
        /// The folders among them that were trusted but whose profiles changed since.
        public var changed: [String]
        /// What the run would have done.
        public var refused: [Refused]

        /// One message per refused thing, each naming the folder, what was refused and the fix.
        public var messages: [String] {
            let fix = folders.map { "'baton trust \(Self.quoted($0))'" }.joined(separator: " and ")
            let whose = folders.map { folder in
                changed.contains(folder) ? "\(folder) (its profiles changed since it was trusted)" : folder
            }.joined(separator: " and ")
            let folderWord = folders.count == 1 ? "project folder" : "project folders"
            return refused.map { item in
                let what: String
                switch item {
                case .key(let runtime, let variable, let entries, let destination):
                    let file = entries.map { "'\($0)'" }.joined(separator: " or ")
                    let source = variable.map { "\($0) (or the key file's \(file))" } ?? "the key file's \(file)"
                    what = "send the API key \(source) of runtime '\(runtime)'" + (destination.map { " to \($0)" } ?? "")
                case .host(let runtime, let host):
                    what = "reach runtime '\(runtime)' at \(host), which is not on this machine"
                case .command(let command):
                    what = "start the \(command.kind == .command ? "command" : "MCP server") '\(command.launch.joined(separator: " "))'"
                }
                return "refused to \(what): the pipeline or profile comes from the untrusted \(folderWord) \(whose); "
                    + "read it ('baton plan' lists what a run reaches), then run \(fix) to trust it, or pass --trust for this run only"
            }
        }

        public var description: String { messages.joined(separator: "\n") }

        static func quoted(_ path: String) -> String {
            path.allSatisfy { $0.isLetter || $0.isNumber || "/._-+@%:,".contains($0) }
                ? path : "'\(path.replacingOccurrences(of: "'", with: "'\\''"))'"
        }
    }

    /// What `reach` does that an untrusted folder may not: every key it would send (one its variable holds, or any it
    /// looks up while a key file exists; a runtime with no key anywhere fails unused, sending nothing), every runtime
    /// off this machine, every command.
    public func untrustedActions(_ reach: RunReach) -> [Refused] {
        var refused: [Refused] = []
        for key in reach.keys where keyFileExists || key.environmentVariable.map({ !(environment[$0] ?? "").isEmpty }) == true {
            refused.append(
                .key(
                    runtime: key.runtime, variable: key.environmentVariable, keyFileEntries: key.keyFileEntries,
                    destination: key.destination))
        }
        for runtime in reach.remoteRuntimes {
            refused.append(.host(runtime: runtime.name, host: runtime.hostAndPort ?? runtime.url ?? "an unknown host"))
        }
        refused += reach.commands.map(Refused.command)
        return refused
    }

    /// Checks a run of `snapshot` whose files came from `folders`.
    ///
    /// - Parameter trusted: `--trust`: this invocation is trusted, nothing is checked or recorded.
    /// - Throws: ``Refusal`` when a folder is untrusted (or its profiles changed) and the run would do something it
    ///   may not; ``ProjectTrustError`` when the trust records cannot be read (never "trust all").
    public func check(_ snapshot: RunSnapshot, folders: [String], trusted: Bool = false) throws {
        guard !trusted, !folders.isEmpty else { return }
        let refused = untrustedActions(RunReach(plan: snapshot.plan, profile: snapshot.profile, forcedRuntime: snapshot.forcedRuntime))
        guard !refused.isEmpty else { return }
        var untrusted: [String] = []
        var changed: [String] = []
        for folder in folders {
            switch try store?.status(of: folder) ?? .untrusted {
            case .trusted: continue
            case .changed:
                untrusted.append(folder)
                changed.append(folder)
            case .untrusted:
                untrusted.append(folder)
            }
        }
        guard untrusted.isEmpty else { throw Refusal(folders: untrusted, changed: changed, refused: refused) }
    }

    /// The project folders of a recorded run: those it recorded when it started, else (a run recorded before they were)
    /// the project folder of its pipeline file.
    public static func folders(of snapshot: RunSnapshot, workspace: Workspace) -> [String] {
        if let folders = snapshot.projectFolders { return folders }
        return workspace.projectFolders(of: [snapshot.pipelinePath].compactMap { $0 })
    }
}
