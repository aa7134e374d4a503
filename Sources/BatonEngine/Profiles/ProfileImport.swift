import BatonSpec
import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// `baton profiles import`: a profile file, validated, copied into the user's profile folder
/// (`$XDG_CONFIG_HOME/baton/profiles`, else `~/.config/baton/profiles`).
public enum ProfileImport {
    /// What an import did.
    public struct Outcome: Sendable {
        /// The profile's name (the file's stem).
        public var name: String
        /// Where the copy is.
        public var destination: String
        /// Whether an existing file of that name was replaced (`--force`).
        public var replaced: Bool
        /// A file of the same name in an earlier folder of the search path, which hides the imported one.
        public var hiddenBy: String?
        /// Whether the user's profile folder is on the search path (`BATON_PROFILE_PATH` may leave it out).
        public var onSearchPath: Bool
    }

    /// Why the file was not copied.
    public enum Problem: Error, Sendable, CustomStringConvertible {
        /// The profile has errors; `diagnostics` locate them, `sources` are the files read.
        case invalid(diagnostics: [Diagnostic], sources: [String: SourceFile])
        /// A profile of that name is already in the folder and `--force` was not given.
        case exists(path: String)
        /// The copy could not be written (`reason` is the system's).
        case unwritable(path: String, reason: String)

        public var description: String {
            switch self {
            case .invalid(let diagnostics, _):
                let count = diagnostics.filter { $0.severity == .error }.count
                return "the profile has \(count) error\(count == 1 ? "" : "s"); nothing was copied"
            case .exists(let path):
                return "\(path) exists; nothing was copied. Give --force to replace it, or rename the file to import it "
                    + "under another name"
            case .unwritable(let path, let reason):
                return "cannot write \(path): \(reason); check that the folder belongs to you"
            }
        }
    }

    /// The user's profile folder: `$XDG_CONFIG_HOME/baton/profiles`, else `$HOME/.config/baton/profiles`.
    public static func userFolder(environment: [String: String]) -> String {
        let config =
            environment["XDG_CONFIG_HOME"].flatMap { $0.isEmpty ? nil : $0 }
            ?? ((environment["HOME"].flatMap { $0.isEmpty ? nil : $0 } ?? NSHomeDirectory()) + "/.config")
        return config + "/baton/profiles"
    }

    /// Validates the profile file at `path` (with what it extends, found on `workspace`'s search path) and copies it,
    /// byte for byte, into the user's profile folder under its own file name.
    ///
    /// - Parameter force: replace a profile of the same name in that folder.
    /// - Throws: ``Problem``, or ``WorkspaceError`` when the file cannot be read.
    public static func run(_ path: String, workspace: Workspace, force: Bool) throws -> Outcome {
        let source = try workspace.read(path)
        let loaded = try workspace.loadProfile(path.contains("/") ? path : "./" + path)
        if loaded.profile == nil || loaded.diagnostics.hasErrors {
            throw Problem.invalid(diagnostics: loaded.diagnostics, sources: loaded.sources)
        }
        let folder = userFolder(environment: workspace.environment)
        let fileName = (path as NSString).lastPathComponent
        let destination = folder + "/" + fileName
        // Both extensions name the same profile: a `top.yml` would be hidden by, or hide, a `top.yaml` beside it.
        let stem = source.stem
        let existing = ["yaml", "yml"].map { "\(folder)/\(stem).\($0)" }.filter { FileManager.default.fileExists(atPath: $0) }
        if let first = existing.first, !force { throw Problem.exists(path: first) }
        if workspace.absolute(path) == destination || existing.contains(workspace.absolute(path)) {
            return outcome(stem, destination, replaced: false, workspace)
        }
        do {
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        } catch {
            throw Problem.unwritable(path: folder, reason: (error as NSError).localizedDescription)
        }
        try write(Data(source.text.utf8), to: destination)
        for other in existing where other != destination { unlink(other) }
        return outcome(stem, destination, replaced: !existing.isEmpty, workspace)
    }

    /// Writes `data` to a temporary file in the same folder and renames it over `destination`, so a reader never sees
    /// half a profile.
    private static func write(_ data: Data, to destination: String) throws {
        let temporary =
            (destination as NSString).deletingLastPathComponent
            + "/.\((destination as NSString).lastPathComponent).\(UUID().uuidString.prefix(8)).tmp"
        do {
            try data.write(to: URL(fileURLWithPath: temporary), options: .withoutOverwriting)
        } catch {
            throw Problem.unwritable(path: destination, reason: (error as NSError).localizedDescription)
        }
        guard rename(temporary, destination) == 0 else {
            let reason = String(cString: strerror(errno))
            unlink(temporary)
            throw Problem.unwritable(path: destination, reason: reason)
        }
    }

    /// The outcome of a copy to `destination`: whether its folder is searched, and what hides it there.
    private static func outcome(_ name: String, _ destination: String, replaced: Bool, _ workspace: Workspace) -> Outcome {
        func standard(_ path: String) -> String { (workspace.absolute(path) as NSString).standardizingPath }
        let folder = standard((destination as NSString).deletingLastPathComponent)
        let searched = workspace.profileSearchPath.contains { standard($0) == folder }
        var hiddenBy: String?
        // The first file of that name on the path is the one used; when it is not the copy, it hides the copy.
        if searched, let entry = workspace.profiles().first(where: { $0.name == name }), standard(entry.path) != standard(destination) {
            hiddenBy = entry.path
        }
        return Outcome(name: name, destination: destination, replaced: replaced, hiddenBy: hiddenBy, onSearchPath: searched)
    }
}
