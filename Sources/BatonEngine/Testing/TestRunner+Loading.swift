import BatonSpec
import Foundation

extension TestRunner {
    /// Finds and validates test files: `paths` are test files, folders (searched recursively for `*.test.yaml`, leaving
    /// out `__snapshots__` and hidden folders), pipeline files or names (their `NAME.test.yaml` beside them); none: every
    /// test file in the workspace's pipeline folders. Each file is decoded, its pipeline compiled (over the echo layer,
    /// so structure alone is checked) and the cases checked against it (``TestCheck``).
    ///
    /// - Throws: ``WorkspaceError`` for a path that does not exist, a pipeline without a test file, or a profile that
    ///   cannot be found.
    public func load(_ paths: [String]) throws -> [LoadedTestFile] {
        var found: [String] = []
        var seen: Set<String> = []
        for path in try testFiles(paths) where seen.insert(Workspace.realPath(workspace.absolute(path))).inserted {
            found.append(path)
        }
        return try found.map(loadFile)
    }

    /// The test files `paths` name, as displayed paths.
    func testFiles(_ paths: [String]) throws(WorkspaceError) -> [String] {
        guard !paths.isEmpty else {
            return workspace.pipelineDirectories.flatMap { folder in
                let names = (try? FileManager.default.contentsOfDirectory(atPath: workspace.absolute(folder))) ?? []
                return names.filter(Workspace.isTestFile).sorted().map { workspace.display(join(folder, $0)) }
            }
        }
        var files: [String] = []
        for path in paths {
            var isDirectory: ObjCBool = false
            let full = workspace.absolute(path)
            if FileManager.default.fileExists(atPath: full, isDirectory: &isDirectory) {
                if isDirectory.boolValue {
                    files += Self.testFiles(under: full).map(workspace.display)
                } else if Workspace.isTestFile(full) {
                    files.append(workspace.display(full))
                } else {
                    files.append(workspace.display(try besideTestFile(of: full, named: path)))
                }
            } else if path.contains("/") || path.hasSuffix(".yaml") || path.hasSuffix(".yml") {
                throw .fileNotFound(path)
            } else {
                let pipeline = try workspace.pipelinePath(path)
                files.append(workspace.display(try besideTestFile(of: workspace.absolute(pipeline), named: path)))
            }
        }
        return files
    }

    /// `NAME.test.yaml` (or `.test.yml`) beside the pipeline file at `pipeline`.
    private func besideTestFile(of pipeline: String, named: String) throws(WorkspaceError) -> String {
        let base = (pipeline as NSString).deletingPathExtension
        for candidate in [base + ".test.yaml", base + ".test.yml"] where FileManager.default.fileExists(atPath: candidate) {
            return candidate
        }
        throw .fileNotFound(workspace.display(base + ".test.yaml"))
    }

    /// Test files below `folder`, sorted by path.
    static func testFiles(under folder: String) -> [String] {
        guard let walker = FileManager.default.enumerator(atPath: folder) else { return [] }
        var files: [String] = []
        while let relative = walker.nextObject() as? String {
            let name = (relative as NSString).lastPathComponent
            if name == "__snapshots__" || (name.hasPrefix(".") && name.count > 1) || name == "node_modules" {
                walker.skipDescendants()
                continue
            }
            if Workspace.isTestFile(name) { files.append(folder.hasSuffix("/") ? folder + relative : folder + "/" + relative) }
        }
        return files.sorted()
    }

    private func join(_ folder: String, _ name: String) -> String {
        folder.hasSuffix("/") ? folder + name : folder + "/" + name
    }

    /// The profile this mode compiles with: `--profile` (or the mode's), else the test file's, else the default.
    func profileName(for suite: TestSuiteSpec) -> String? {
        switch options.mode {
        case .echo: workspace.profileName(requested: options.profileName)
        case .profile(let name): workspace.profileName(requested: name ?? suite.profile)
        case .replay: workspace.profileName(requested: options.profileName ?? suite.profile)
        }
    }

    /// Decodes and checks one test file.
    func loadFile(_ path: String) throws -> LoadedTestFile {
        let source = try workspace.read(path)
        let document = TestDecoder.decode(source)
        var diagnostics = document.diagnostics
        var sources = [source.path: source]
        let suite = document.spec ?? TestSuiteSpec(cases: [])
        let folder = (workspace.absolute(path) as NSString).deletingLastPathComponent
        let written = suite.pipeline ?? Self.defaultPipelineName(of: path)
        let pipelinePath = IndexPlanning.absolute(written, base: folder)
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: pipelinePath, isDirectory: &isDirectory), !isDirectory.boolValue else {
            let at = suite.pipelineLocation ?? SourceLocation(file: source.path, line: 1, column: 1)
            diagnostics.append(Diagnostic(.testPipelineMissing(written), at: at))
            return LoadedTestFile(path: source.path, suite: suite, pipelinePath: pipelinePath, sources: sources, diagnostics: diagnostics)
        }
        if document.spec != nil {
            let loaded = try workspace.loadProfile(profileName(for: suite) ?? BuiltInProfiles.defaultName)
            sources.merge(loaded.sources) { current, _ in current }
            diagnostics += loaded.diagnostics.filter { $0.severity == .error }
            // Structure is what the cases are checked against; which models exist is the run's business, so the
            // echo layer gives every role a model here whatever the mode.
            let profile = loaded.profile.map {
                BuiltInProfiles.echoLayer(over: $0, roles: PlanLoader(workspace: workspace).rolesWithCalls(ofPipeline: pipelinePath))
            }
            let pipelineSource = try workspace.read(pipelinePath)
            let result = workspace.compiler(profile: loaded.diagnostics.hasErrors ? nil : profile).compile(pipelineSource)
            sources.merge(result.sources) { current, _ in current }
            diagnostics += result.diagnostics.filter { $0.severity == .error }
            if let plan = result.plan { diagnostics += TestCheck.check(suite, plan: plan) }
        }
        return LoadedTestFile(path: source.path, suite: suite, pipelinePath: pipelinePath, sources: sources, diagnostics: diagnostics)
    }

    /// `NAME.yaml` for `NAME.test.yaml` (and `.yml` for `.test.yml`).
    static func defaultPipelineName(of testFile: String) -> String {
        let name = (testFile as NSString).lastPathComponent
        if name.hasSuffix(".test.yml") { return String(name.dropLast(".test.yml".count)) + ".yml" }
        if name.hasSuffix(".test.yaml") { return String(name.dropLast(".test.yaml".count)) + ".yaml" }
        return name
    }
}
