import BatonSpec
import Foundation

/// What `baton validate` found: every file checked and every diagnostic, with the sources to show them.
public struct ValidationReport: Sendable {
    /// One checked file.
    public struct FileResult: Sendable {
        /// Whether the file is a pipeline or a profile.
        public enum Kind: String, Sendable {
            case pipeline, profile
        }

        /// The file's displayed path.
        public var path: String
        /// Pipeline or profile.
        public var kind: Kind
        /// Its problems.
        public var diagnostics: [Diagnostic]
    }

    /// The files checked, in order.
    public var files: [FileResult] = []
    /// Every file read (pipelines, prompt files, profiles), by displayed path.
    public var sources: [String: SourceFile] = [:]
    /// Problems of the profile the pipelines were checked with.
    public var profileDiagnostics: [Diagnostic] = []

    /// Every diagnostic, profile first, then file by file.
    public var diagnostics: [Diagnostic] { profileDiagnostics + files.flatMap(\.diagnostics) }
}

/// Checks pipeline and profile files the way `baton validate` does.
public struct Validator: Sendable {
    /// Where files are found and how they are read.
    public var workspace: Workspace

    /// Creates a validator for `workspace`.
    public init(workspace: Workspace) {
        self.workspace = workspace
    }

    /// Validates `paths` (files or folders, searched recursively for `.yaml` and `.yml`); with no paths, every
    /// pipeline on the search path. Files in a folder named `profiles` are checked as profiles.
    ///
    /// - Parameter profileName: the profile pipelines are checked with; nil uses `default` when the profile
    ///   search path has one, else none.
    /// - Throws: ``WorkspaceError`` when a path or the named profile does not exist. Invalid files are not
    ///   errors: they are diagnostics in the report.
    public func validate(paths: [String], profileName: String?) throws(WorkspaceError) -> ValidationReport {
        var report = ValidationReport()
        var profile: ResolvedProfile?
        if let name = profileName ?? (workspace.profiles().contains { $0.name == "default" } ? "default" : nil) {
            let loaded = try workspace.loadProfile(name)
            profile = loaded.profile
            report.sources.merge(loaded.sources) { current, _ in current }
            report.profileDiagnostics = loaded.diagnostics
            if loaded.diagnostics.hasErrors { profile = nil }
        }

        var files: [(path: String, kind: ValidationReport.FileResult.Kind)] = []
        if paths.isEmpty {
            for directory in workspace.pipelineDirectories {
                files += Self.yamlFiles(under: workspace.absolute(directory)).map { (workspace.display($0), .pipeline) }
            }
        } else {
            for path in paths {
                let full = workspace.absolute(path)
                var isDirectory: ObjCBool = false
                guard FileManager.default.fileExists(atPath: full, isDirectory: &isDirectory) else {
                    throw .fileNotFound(path)
                }
                let found = isDirectory.boolValue ? Self.yamlFiles(under: full) : [full]
                files += found.map { (workspace.display($0), Self.isProfilePath($0) ? .profile : .pipeline) }
            }
        }

        for (path, kind) in files {
            switch kind {
            case .pipeline:
                let result: CompileResult
                do {
                    result = try workspace.compile(path: path, profile: profile)
                } catch {
                    report.files.append(.init(path: path, kind: kind, diagnostics: [Diagnostic(.unreadableFile(error.description), at: nil)]))
                    continue
                }
                report.sources.merge(result.sources) { current, _ in current }
                report.files.append(.init(path: path, kind: kind, diagnostics: result.diagnostics))
            case .profile:
                let loaded = try workspace.loadProfile(path)
                report.sources.merge(loaded.sources) { current, _ in current }
                let own = loaded.diagnostics.filter { $0.location?.file == path || $0.location == nil }
                report.files.append(.init(path: path, kind: kind, diagnostics: own))
            }
        }
        return report
    }

    /// Whether `path` is in a folder named `profiles`.
    static func isProfilePath(_ path: String) -> Bool {
        path.split(separator: "/").dropLast().last == "profiles"
    }

    /// `.yaml` and `.yml` files below `directory`, sorted, skipping hidden folders.
    static func yamlFiles(under directory: String) -> [String] {
        guard let enumerator = FileManager.default.enumerator(atPath: directory) else { return [] }
        var files: [String] = []
        while let relative = enumerator.nextObject() as? String {
            if relative.split(separator: "/").contains(where: { $0.hasPrefix(".") }) { continue }
            if relative.hasSuffix(".yaml") || relative.hasSuffix(".yml") {
                files.append(directory.hasSuffix("/") ? directory + relative : "\(directory)/\(relative)")
            }
        }
        return files.sorted()
    }
}
