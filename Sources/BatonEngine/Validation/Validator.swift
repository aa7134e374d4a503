import BatonSpec
import Foundation

/// What `baton validate` found: every file checked and every diagnostic, with the sources to show them.
public struct ValidationReport: Sendable {
    /// One checked file.
    public struct FileResult: Sendable {
        /// Whether the file is a pipeline, a profile or a pipeline test file.
        public enum Kind: String, Sendable {
            case pipeline, profile
            /// A `NAME.test.yaml`: decoded, its pipeline compiled with the same profile, its cases checked against it.
            case test
        }

        /// The file's displayed path.
        public var path: String
        /// Pipeline, profile or test file.
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
    /// pipeline and test file in the user's own folders (not the installed examples). Files in a folder named `profiles`
    /// are checked as profiles, `NAME.test.yaml` files as tests; `__snapshots__` folders are left out.
    ///
    /// - Parameter profileName: the profile pipelines are checked with; nil uses `default`: a file of that name
    ///   on the profile search path, else the built-in default profile.
    /// - Throws: ``WorkspaceError`` when a path or the named profile does not exist. Invalid files are not
    ///   errors: they are diagnostics in the report.
    public func validate(paths: [String], profileName: String?) throws(WorkspaceError) -> ValidationReport {
        var report = ValidationReport()
        var profile: ResolvedProfile?
        if let name = workspace.profileName(requested: profileName) {
            let loaded = try workspace.loadProfile(name)
            profile = loaded.profile
            report.sources.merge(loaded.sources) { current, _ in current }
            report.profileDiagnostics = loaded.diagnostics
            if loaded.diagnostics.hasErrors { profile = nil }
        }

        var files: [(path: String, kind: ValidationReport.FileResult.Kind)] = []
        if paths.isEmpty {
            for directory in workspace.pipelineDirectories {
                files += Self.yamlFiles(under: workspace.absolute(directory)).map {
                    (workspace.display($0), Workspace.isTestFile($0) ? .test : .pipeline)
                }
            }
        } else {
            for path in paths {
                let full = workspace.absolute(path)
                var isDirectory: ObjCBool = false
                guard FileManager.default.fileExists(atPath: full, isDirectory: &isDirectory) else {
                    throw .fileNotFound(path)
                }
                let found = isDirectory.boolValue ? Self.yamlFiles(under: full) : [full]
                files += found.map { (workspace.display($0), Self.kind(of: $0)) }
            }
        }

        // Files are independent and the compiler is pure: check them on every core, report in order.
        // One slot per file, each written by one iteration.
        let results = Locked<[FileCheck?]>(Array(repeating: nil, count: files.count))
        let checked = files
        let usedProfile = profile
        // A test file's pipeline reports its own problems when it is checked too; the test file then shows only its own.
        // The profile's problems are reported once, before the files.
        let pipelines = Set(files.filter { $0.kind == .pipeline }.map(\.path))
        let profileProblems = report.profileDiagnostics
        DispatchQueue.concurrentPerform(iterations: checked.count) { index in
            var result = check(checked[index].path, kind: checked[index].kind, profile: usedProfile, profileName: profileName)
            if checked[index].kind == .test {
                result.diagnostics.removeAll { diagnostic in
                    profileProblems.contains(diagnostic) || diagnostic.location.map { pipelines.contains($0.file) } ?? false
                }
            }
            results.withLock { $0[index] = result }
        }
        let found = results.current
        for (index, (path, kind)) in files.enumerated() {
            guard let result = found[index] else { continue }
            if case .failure(let error) = result.outcome { throw error }
            report.sources.merge(result.sources) { current, _ in current }
            report.files.append(.init(path: path, kind: kind, diagnostics: result.diagnostics))
        }
        return report
    }

    /// What checking one file found.
    private struct FileCheck: Sendable {
        var diagnostics: [Diagnostic] = []
        var sources: [String: SourceFile] = [:]
        var outcome: Result<Void, WorkspaceError> = .success(())
    }

    private func check(_ path: String, kind: ValidationReport.FileResult.Kind, profile: ResolvedProfile?, profileName: String?)
        -> FileCheck
    {
        var result = FileCheck()
        switch kind {
        case .pipeline:
            do {
                let compiled = try workspace.compile(path: path, profile: profile)
                result.sources = compiled.sources
                result.diagnostics = compiled.diagnostics
            } catch {
                result.diagnostics = [Diagnostic(.unreadableFile(error.description), at: nil)]
            }
        case .profile:
            do {
                let loaded = try workspace.loadProfile(path)
                result.sources = loaded.sources
                result.diagnostics = loaded.diagnostics.filter { $0.location?.file == path || $0.location == nil }
            } catch {
                result.outcome = .failure(error)
            }
        case .test:
            // The same loading `baton test` does (echo mode: structure is checked, not which models exist).
            var options = TestOptions()
            options.profileName = profileName
            do {
                let loaded = try TestRunner(workspace: workspace, options: options).loadFile(path)
                result.sources = loaded.sources
                result.diagnostics = loaded.diagnostics
            } catch let error as WorkspaceError {
                result.diagnostics = [Diagnostic(.unreadableFile(error.description), at: nil)]
            } catch {
                result.diagnostics = [Diagnostic(.unreadableFile("\(error)"), at: nil)]
            }
        }
        return result
    }

    /// How a file found under `validate`'s paths is checked.
    static func kind(of path: String) -> ValidationReport.FileResult.Kind {
        if Workspace.isTestFile(path) { return .test }
        return isProfilePath(path) ? .profile : .pipeline
    }

    /// Whether `path` is in a folder named `profiles`.
    static func isProfilePath(_ path: String) -> Bool {
        path.split(separator: "/").dropLast().last == "profiles"
    }

    /// `.yaml` and `.yml` files below `directory`, sorted, skipping hidden folders and `__snapshots__` (the golden
    /// outputs of `baton test`).
    static func yamlFiles(under directory: String) -> [String] {
        guard let enumerator = FileManager.default.enumerator(atPath: directory) else { return [] }
        var files: [String] = []
        while let relative = enumerator.nextObject() as? String {
            if relative.split(separator: "/").contains(where: { $0.hasPrefix(".") || $0 == "__snapshots__" }) { continue }
            if relative.hasSuffix(".yaml") || relative.hasSuffix(".yml") {
                files.append(directory.hasSuffix("/") ? directory + relative : "\(directory)/\(relative)")
            }
        }
        return files.sorted()
    }
}
