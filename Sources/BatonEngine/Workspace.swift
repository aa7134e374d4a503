import BatonSpec
import Foundation

/// Where pipelines and profiles are found, and how their files are read and compiled.
///
/// The search path for pipelines is `BATON_PIPELINE_PATH` (folders separated by `:`) when set, else
/// `./pipelines` then `$XDG_CONFIG_HOME/baton/pipelines` (`~/.config/baton/pipelines`). Profiles work the
/// same way with `BATON_PROFILE_PATH`, `./profiles` and `$XDG_CONFIG_HOME/baton/profiles`. A name found in
/// an earlier folder hides the same name in a later one.
public struct Workspace: Sendable {
    /// Folders searched for pipelines, in order.
    public var pipelineDirectories: [String]
    /// Folders searched for profiles, in order.
    public var profileDirectories: [String]
    /// The environment used for `${VAR}` in profiles.
    public var environment: [String: String]
    /// The folder paths are shown relative to.
    public var currentDirectory: String

    /// A pipeline or profile file found on a search path.
    public struct Entry: Sendable, Hashable {
        /// The file name without extension.
        public var name: String
        /// The path, relative to the current directory when it is below it.
        public var path: String
    }

    /// Creates a workspace with explicit search paths.
    public init(
        pipelineDirectories: [String], profileDirectories: [String], environment: [String: String],
        currentDirectory: String
    ) {
        self.pipelineDirectories = pipelineDirectories
        self.profileDirectories = profileDirectories
        self.environment = environment
        self.currentDirectory = currentDirectory
    }

    /// The workspace of this process: search paths from the environment and the current directory.
    public static func current(environment: [String: String] = ProcessInfo.processInfo.environment) -> Workspace {
        let cwd = FileManager.default.currentDirectoryPath
        let config = environment["XDG_CONFIG_HOME"].flatMap { $0.isEmpty ? nil : $0 }
            ?? ((environment["HOME"] ?? NSHomeDirectory()) + "/.config")
        func path(_ variable: String, _ folder: String) -> [String] {
            if let value = environment[variable], !value.isEmpty {
                return value.split(separator: ":").map(String.init)
            }
            return [folder, "\(config)/baton/\(folder)"]
        }
        return Workspace(
            pipelineDirectories: path("BATON_PIPELINE_PATH", "pipelines"),
            profileDirectories: path("BATON_PROFILE_PATH", "profiles"), environment: environment,
            currentDirectory: cwd)
    }

    // MARK: - Finding files

    /// Every pipeline on the search path, sorted by name; an earlier folder hides the same name later.
    public func pipelines() -> [Entry] { entries(in: pipelineDirectories) }

    /// Every profile on the search path, sorted by name.
    public func profiles() -> [Entry] { entries(in: profileDirectories) }

    private func entries(in directories: [String]) -> [Entry] {
        var seen: [String: Entry] = [:]
        for directory in directories {
            for path in Self.yamlFiles(in: absolute(directory)) {
                let name = SourceFile(path: path, text: "").stem
                if seen[name] == nil { seen[name] = Entry(name: name, path: display(path)) }
            }
        }
        return seen.values.sorted { $0.name < $1.name }
    }

    /// `.yaml` and `.yml` files directly in `directory`, sorted.
    public static func yamlFiles(in directory: String) -> [String] {
        let contents = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        return contents.filter { $0.hasSuffix(".yaml") || $0.hasSuffix(".yml") }.sorted()
            .map { directory.hasSuffix("/") ? directory + $0 : "\(directory)/\($0)" }
    }

    /// The path of the pipeline `nameOrPath`: an existing file path as is, else a name on the search path.
    public func pipelinePath(_ nameOrPath: String) throws(WorkspaceError) -> String {
        if nameOrPath.contains("/") || nameOrPath.hasSuffix(".yaml") || nameOrPath.hasSuffix(".yml") {
            guard FileManager.default.fileExists(atPath: absolute(nameOrPath)) else {
                throw .fileNotFound(nameOrPath)
            }
            return nameOrPath
        }
        let all = pipelines()
        guard let entry = all.first(where: { $0.name == nameOrPath }) else {
            throw .pipelineNotFound(nameOrPath, searched: pipelineDirectories, known: all.map(\.name))
        }
        return entry.path
    }

    // MARK: - Reading

    /// The file at `path` as a ``SourceFile`` whose path is shown relative to the current directory.
    public func read(_ path: String) throws(WorkspaceError) -> SourceFile {
        let full = absolute(path)
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: full, isDirectory: &isDirectory), !isDirectory.boolValue else {
            throw .fileNotFound(path)
        }
        guard let data = FileManager.default.contents(atPath: full) else { throw .unreadable(path) }
        guard let text = String(data: data, encoding: .utf8) else { throw .notUTF8(path) }
        return SourceFile(path: display(full), text: text)
    }

    /// Compiles the pipeline file at `path` with `profile`.
    public func compile(path: String, profile: ResolvedProfile?) throws(WorkspaceError) -> CompileResult {
        let source = try read(path)
        let compiler = PipelineCompiler(profile: profile) { [self] promptPath in try? self.read(promptPath) }
        return compiler.compile(source)
    }

    // MARK: - Profiles

    /// The profile to use: `requested` when given, else `default` when the profile search path has one.
    public func profileName(requested: String?) -> String? {
        requested ?? (profiles().contains { $0.name == "default" } ? "default" : nil)
    }

    /// A profile loaded with its `extends` chain, its diagnostics and the files it read.
    public struct LoadedProfile: Sendable {
        /// The resolved profile, nil when it could not be decoded.
        public var profile: ResolvedProfile?
        /// Problems in the profile files.
        public var diagnostics: [Diagnostic]
        /// The files read, by displayed path.
        public var sources: [String: SourceFile]
        /// The decoded files of the chain, the requested profile first.
        public var documents: [ProfileDocument] = []
    }

    /// Loads the profile `nameOrPath` (a name on the profile search path or a file path) and what it extends.
    public func loadProfile(_ nameOrPath: String) throws(WorkspaceError) -> LoadedProfile {
        let path: String
        if nameOrPath.contains("/") || nameOrPath.hasSuffix(".yaml") || nameOrPath.hasSuffix(".yml") {
            path = nameOrPath
        } else {
            let known = profiles()
            guard let entry = known.first(where: { $0.name == nameOrPath }) else {
                throw .profileNotFound(nameOrPath, searched: profileDirectories, known: known.map(\.name))
            }
            path = entry.path
        }
        let source = try read(path)
        var sources = [source.path: source]
        let document = ProfileDecoder.decode(source, environment: environment)
        let known = profiles()
        var documents = [document]
        let (profile, diagnostics) = ProfileResolver.resolve(document) { parentName in
            guard let entry = known.first(where: { $0.name == parentName }), let parent = try? read(entry.path) else {
                return nil
            }
            sources[parent.path] = parent
            let decoded = ProfileDecoder.decode(parent, environment: environment)
            documents.append(decoded)
            return decoded
        }
        return LoadedProfile(profile: profile, diagnostics: diagnostics.sortedByLocation(), sources: sources, documents: documents)
    }

    // MARK: - Paths

    /// `path` made absolute against the current directory.
    public func absolute(_ path: String) -> String {
        path.hasPrefix("/") ? path : (currentDirectory.hasSuffix("/") ? currentDirectory + path : "\(currentDirectory)/\(path)")
    }

    /// `path` relative to the current directory when it is below it.
    public func display(_ path: String) -> String {
        let full = absolute(path)
        let prefix = currentDirectory.hasSuffix("/") ? currentDirectory : currentDirectory + "/"
        var relative = full.hasPrefix(prefix) ? String(full.dropFirst(prefix.count)) : full
        while relative.hasPrefix("./") { relative.removeFirst(2) }
        return relative.replacingOccurrences(of: "/./", with: "/")
    }
}

/// A file or name that the workspace could not find or read.
public enum WorkspaceError: Error, Sendable, Equatable, CustomStringConvertible {
    /// No file at the path.
    case fileNotFound(String)
    /// The file exists but could not be read.
    case unreadable(String)
    /// The file is not UTF-8 text.
    case notUTF8(String)
    /// No pipeline of that name on the search path.
    case pipelineNotFound(String, searched: [String], known: [String])
    /// No profile of that name on the search path.
    case profileNotFound(String, searched: [String], known: [String])

    public var description: String {
        switch self {
        case .fileNotFound(let path):
            return "no file at '\(path)'"
        case .unreadable(let path):
            return "'\(path)' could not be read; check its permissions"
        case .notUTF8(let path):
            return "'\(path)' is not UTF-8 text"
        case .pipelineNotFound(let name, let searched, let known):
            return "no pipeline named '\(name)' in \(searched.joined(separator: ", "))" + Self.hint(name, known, "baton list")
        case .profileNotFound(let name, let searched, let known):
            return "no profile named '\(name)' in \(searched.joined(separator: ", "))" + Self.hint(name, known, nil)
        }
    }

    private static func hint(_ name: String, _ known: [String], _ command: String?) -> String {
        if let close = Suggestion.closest(to: name, in: known) { return "; did you mean '\(close)'?" }
        if let command { return "; '\(command)' shows the pipelines there" }
        return known.isEmpty ? "" : "; known: \(known.joined(separator: ", "))"
    }
}
