import BatonSpec
import Foundation

/// Where pipelines and profiles are found, and how their files are read and compiled.
///
/// The search path for pipelines is `BATON_PIPELINE_PATH` (folders separated by `:`) when set, else
/// `./pipelines`, then `$XDG_CONFIG_HOME/baton/pipelines` (`~/.config/baton/pipelines`), then (when the
/// variable is not set) the installed `share/baton/pipelines` beside the binary (`<bin>/../share/baton`, when it
/// exists). Profiles work the same way with `BATON_PROFILE_PATH`, `./profiles`, `$XDG_CONFIG_HOME/baton/profiles`
/// and `share/baton/profiles`.
/// A name found in an earlier folder hides the same name in a later one. When no file named `default` is on
/// the profile path, the profile `default` is the one compiled in (``BuiltInProfiles``).
public struct Workspace: Sendable {
    /// Folders searched for pipelines, in order.
    public var pipelineDirectories: [String]
    /// Folders searched for profiles, in order.
    public var profileDirectories: [String]
    /// The installed `share/baton` folder, whose `pipelines` and `profiles` are searched after the folders above
    /// (see ``pipelineSearchPath``); nil when the binary is not installed beside one.
    public var installedDirectory: String?
    /// The environment used for `${VAR}` in profiles.
    public var environment: [String: String]
    /// The folder paths are shown relative to.
    public var currentDirectory: String
    /// The user's own configuration folder, `$XDG_CONFIG_HOME/baton` (`~/.config/baton`): its files are the user's, never
    /// a project's, and it holds the user's trust records; nil for a workspace made with explicit paths and no such folder.
    public var configDirectory: String?

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
        currentDirectory: String, installedDirectory: String? = nil, configDirectory: String? = nil
    ) {
        self.configDirectory = configDirectory
        self.pipelineDirectories = pipelineDirectories
        self.profileDirectories = profileDirectories
        self.installedDirectory = installedDirectory
        self.environment = environment
        self.currentDirectory = currentDirectory
    }

    /// The workspace of this process: search paths from the environment, the current directory and the
    /// folder `executable` (the running binary, symlinks resolved) is installed in.
    public static func current(
        environment: [String: String] = ProcessInfo.processInfo.environment, executable: String? = Bundle.main.executablePath
    ) -> Workspace {
        let cwd = FileManager.default.currentDirectoryPath
        let config = configHome(environment: environment)
        func path(_ variable: String, _ folder: String) -> [String] {
            if let value = environment[variable], !value.isEmpty {
                return value.split(separator: ":").map(String.init)
            }
            return [folder, "\(config)/baton/\(folder)"]
        }
        return Workspace(
            pipelineDirectories: path("BATON_PIPELINE_PATH", "pipelines"),
            profileDirectories: path("BATON_PROFILE_PATH", "profiles"), environment: environment,
            currentDirectory: cwd, installedDirectory: executable.flatMap(installedShareDirectory(executable:)),
            configDirectory: "\(config)/baton")
    }

    /// `$XDG_CONFIG_HOME`, else `~/.config`: the folder whose `baton` subfolder holds the user's own configuration
    /// (pipelines, profiles, key-host allowances, trusted folders).
    public static func configHome(environment: [String: String]) -> String {
        environment["XDG_CONFIG_HOME"].flatMap { $0.isEmpty ? nil : $0 } ?? ((environment["HOME"] ?? NSHomeDirectory()) + "/.config")
    }

    /// Folders searched for pipelines: ``pipelineDirectories``, then the installed ones unless
    /// `BATON_PIPELINE_PATH` sets the path. The shipped files come after the user's own, so a user's file of the
    /// same name wins; `baton validate` with no paths checks only the user's folders.
    public var pipelineSearchPath: [String] { pipelineDirectories + installed("pipelines", unless: "BATON_PIPELINE_PATH") }

    /// Folders searched for profiles: ``profileDirectories``, then the installed ones unless `BATON_PROFILE_PATH` is set.
    public var profileSearchPath: [String] { profileDirectories + installed("profiles", unless: "BATON_PROFILE_PATH") }

    private func installed(_ folder: String, unless variable: String) -> [String] {
        guard let installedDirectory, (environment[variable] ?? "").isEmpty else { return [] }
        let path = "\(installedDirectory)/\(folder)"
        return FileManager.default.fileExists(atPath: path) ? [path] : []
    }

    /// `<bin>/../share/baton` for the binary at `executable` (symlinks resolved, so a link to an installed
    /// binary finds its files); nil when that folder does not exist.
    public static func installedShareDirectory(executable: String) -> String? {
        let binary = URL(fileURLWithPath: executable).resolvingSymlinksInPath()
        let prefix = binary.deletingLastPathComponent().deletingLastPathComponent()
        let share = prefix.appendingPathComponent("share/baton").standardizedFileURL.path
        var isDirectory: ObjCBool = false
        return FileManager.default.fileExists(atPath: share, isDirectory: &isDirectory) && isDirectory.boolValue ? share : nil
    }

    // MARK: - Finding files

    /// Every pipeline on the search path, sorted by name; an earlier folder hides the same name later.
    public func pipelines() -> [Entry] { entries(in: pipelineSearchPath) }

    /// Every profile on the search path, sorted by name.
    public func profiles() -> [Entry] { entries(in: profileSearchPath) }

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

    /// `.yaml` and `.yml` files directly in `directory`, sorted; test files (`NAME.test.yaml`, see ``isTestFile(_:)``)
    /// are not pipelines and are left out.
    public static func yamlFiles(in directory: String) -> [String] {
        let contents = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        return contents.filter { ($0.hasSuffix(".yaml") || $0.hasSuffix(".yml")) && !isTestFile($0) }.sorted()
            .map { directory.hasSuffix("/") ? directory + $0 : "\(directory)/\($0)" }
    }

    /// Whether `path` names a pipeline test file (`NAME.test.yaml` or `NAME.test.yml`, `baton test`).
    public static func isTestFile(_ path: String) -> Bool {
        path.hasSuffix(".test.yaml") || path.hasSuffix(".test.yml")
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
            throw .pipelineNotFound(nameOrPath, searched: pipelineSearchPath, known: all.map(\.name))
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
        // Refused by its size before it is read, so a huge file costs no memory (YAMLLimits).
        if let size = (try? FileManager.default.attributesOfItem(atPath: full)[.size]) as? Int,
            let violation = YAMLLimits.standard.check(byteCount: size)
        {
            throw .tooLarge(path, violation)
        }
        guard let data = FileManager.default.contents(atPath: full) else { throw .unreadable(path) }
        guard let text = String(data: data, encoding: .utf8) else { throw .notUTF8(path) }
        return SourceFile(path: display(full), text: text)
    }

    /// The prompt file at `path` for ``PipelineCompiler``, which reports each reason it cannot be read at the
    /// `prompt_file` value: only a missing file is "not found".
    public func readPromptFile(_ path: String) throws(SourceReadError) -> SourceFile {
        do {
            return try read(path)
        } catch {
            switch error {
            case .fileNotFound, .pipelineNotFound, .profileNotFound:
                throw .notFound
            case .tooLarge(_, let violation):
                guard case .bytes(let found) = violation.kind else { throw .unreadable(reason: violation.description) }
                throw .tooLarge(bytes: found, limit: violation.limit)
            case .unreadable:
                throw .unreadable(reason: FileManager.default.isReadableFile(atPath: absolute(path)) ? nil : "permission denied")
            case .notUTF8:
                throw .notUTF8
            }
        }
    }

    /// The pipeline a `uses:` value names for ``PipelineCompiler``, called from the file at `caller`: a path ending in
    /// .yaml/.yml relative to the caller's folder, else a name found as ``pipelinePath(_:)`` finds it on the search path.
    public func readCalledPipeline(_ nameOrPath: String, from caller: String) throws(SourceReadError) -> SourceFile {
        guard nameOrPath.hasSuffix(".yaml") || nameOrPath.hasSuffix(".yml") else {
            guard !nameOrPath.contains("/"), let entry = pipelines().first(where: { $0.name == nameOrPath }) else { throw .notFound }
            return try readPromptFile(entry.path)
        }
        let folder = URL(fileURLWithPath: absolute(caller)).deletingLastPathComponent()
        let url = nameOrPath.hasPrefix("/") ? URL(fileURLWithPath: nameOrPath) : folder.appendingPathComponent(nameOrPath)
        return try readPromptFile(url.standardizedFileURL.path)
    }

    /// A compiler reading prompt files and called pipelines through this workspace.
    public func compiler(profile: ResolvedProfile?, inventory: ModelInventory? = nil) -> PipelineCompiler {
        var compiler = PipelineCompiler(
            profile: profile, inventory: inventory, readFile: readPromptFile, resolvePipeline: readCalledPipeline,
            pipelineNames: { pipelines().map(\.name) })
        // Index roots are made absolute against the workspace's folder, not the process's.
        compiler.currentDirectory = currentDirectory
        return compiler
    }

    /// Compiles the pipeline file at `path` with `profile`.
    public func compile(path: String, profile: ResolvedProfile?) throws(WorkspaceError) -> CompileResult {
        let source = try read(path)
        return compiler(profile: profile).compile(source)
    }

    // MARK: - Profiles

    /// The profile to use: `requested` when given, else `default` (a file on the profile search path, else the
    /// built-in one). Never nil since the built-in profile exists; optional for the callers that predate it.
    public func profileName(requested: String?) -> String? {
        requested ?? BuiltInProfiles.defaultName
    }

    /// The file that the profile `default` comes from, nil when none is on the search path (the built-in one is used).
    public func defaultProfileFile() -> Entry? {
        profiles().first { $0.name == BuiltInProfiles.defaultName }
    }

    /// Whether the profile `requested` (nil: the default) is the built-in default profile.
    public func usesBuiltInDefault(requested: String?) -> Bool {
        (requested ?? BuiltInProfiles.defaultName) == BuiltInProfiles.defaultName && defaultProfileFile() == nil
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
    ///
    /// The name `default` (and `extends: default`) takes the built-in default profile when no file of that name is
    /// on the search path.
    public func loadProfile(_ nameOrPath: String) throws(WorkspaceError) -> LoadedProfile {
        let known = profiles()
        let document: ProfileDocument
        if nameOrPath.contains("/") || nameOrPath.hasSuffix(".yaml") || nameOrPath.hasSuffix(".yml") {
            document = ProfileDecoder.decode(try read(nameOrPath), environment: environment)
        } else if let entry = known.first(where: { $0.name == nameOrPath }) {
            document = ProfileDecoder.decode(try read(entry.path), environment: environment)
        } else if nameOrPath == BuiltInProfiles.defaultName {
            document = BuiltInProfiles.defaultDocument(environment: environment)
        } else {
            throw .profileNotFound(nameOrPath, searched: profileSearchPath, known: known.map(\.name))
        }
        var sources = [document.file.path: document.file]
        var documents = [document]
        let (profile, diagnostics) = ProfileResolver.resolve(document) { parentName in
            let decoded: ProfileDocument
            if let entry = known.first(where: { $0.name == parentName }) {
                guard let parent = try? read(entry.path) else { return nil }
                decoded = ProfileDecoder.decode(parent, environment: environment)
            } else if parentName == BuiltInProfiles.defaultName {
                decoded = BuiltInProfiles.defaultDocument(environment: environment)
            } else {
                return nil
            }
            sources[decoded.file.path] = decoded.file
            documents.append(decoded)
            return decoded
        }
        return LoadedProfile(profile: profile, diagnostics: diagnostics.sortedByLocation(), sources: sources, documents: documents)
    }

    /// The roles the stages of the pipeline file at `path` name (none when it cannot be read or decoded).
    public func roles(ofPipeline path: String) -> [String] {
        guard let source = try? read(path), let spec = PipelineDecoder.decode(source).spec else { return [] }
        var seen = Set<String>()
        return spec.stages.compactMap(\.role).filter { seen.insert($0).inserted }
    }

    // MARK: - Where a file came from

    /// Where a pipeline or profile file came from, for the trust check (docs/trust.md).
    public enum Origin: Sendable, Hashable {
        /// Compiled into Baton (the built-in default profile, the echo layer).
        case builtIn
        /// The user's configuration folder (``configDirectory``).
        case user
        /// The installed `share/baton` folder.
        case installed
        /// A project folder, by its real path: anything else, including `BATON_PIPELINE_PATH`/`BATON_PROFILE_PATH` folders.
        case project(String)
    }

    /// Where the file at `path` (as read by this workspace, or `(built in)/…`) came from.
    ///
    /// A file below ``configDirectory`` is the user's and one below ``installedDirectory`` is installed (symlinks
    /// resolved on both sides, so a link from the config folder into a clone is still the clone's). Any other file
    /// belongs to a project: the parent of its folder when that folder is named `pipelines` or `profiles` (the
    /// current folder for `./pipelines`), else the nearest folder above it holding `profiles/`, `pipelines/` or
    /// `.git`, else its own folder (``projectRoot(of:)``).
    public func origin(of path: String) -> Origin {
        if path.hasPrefix("(built in)/") { return .builtIn }
        let real = Self.realPath(absolute(path))
        if let configDirectory, Self.isBelow(real, Self.realPath(absolute(configDirectory))) { return .user }
        if let installedDirectory, Self.isBelow(real, Self.realPath(installedDirectory)) { return .installed }
        return .project(Self.projectRoot(of: real))
    }

    /// The project folders of `paths` (see ``origin(of:)``), each once, sorted.
    public func projectFolders(of paths: some Sequence<String>) -> [String] {
        Set(
            paths.compactMap { path -> String? in
                if case .project(let folder) = origin(of: path) { return folder }
                return nil
            }
        ).sorted()
    }

    /// The project folder of the file at the real path `file`: the parent of a `pipelines` or `profiles` folder, else
    /// the nearest folder above holding `profiles/`, `pipelines/` or `.git`, else the file's own folder.
    public static func projectRoot(of file: String) -> String {
        let folder = URL(fileURLWithPath: file).deletingLastPathComponent()
        if ["pipelines", "profiles"].contains(folder.lastPathComponent) { return folder.deletingLastPathComponent().path }
        var candidate = folder
        while true {
            for marker in ["profiles", "pipelines", ".git"]
            where FileManager.default.fileExists(atPath: candidate.appendingPathComponent(marker).path) {
                return candidate.path
            }
            let parent = candidate.deletingLastPathComponent()
            if parent.path == candidate.path || candidate.path == "/" { return folder.path }
            candidate = parent
        }
    }

    /// `path` standardized with its symlinks resolved (the path itself when it does not exist).
    public static func realPath(_ path: String) -> String {
        URL(fileURLWithPath: path).standardizedFileURL.resolvingSymlinksInPath().path
    }

    private static func isBelow(_ path: String, _ folder: String) -> Bool {
        path == folder || path.hasPrefix(folder.hasSuffix("/") ? folder : folder + "/")
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
    /// The file is larger than any YAML file Baton reads.
    case tooLarge(String, YAMLLimitViolation)
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
        case .tooLarge(let path, let violation):
            return violation.message(file: path)
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
