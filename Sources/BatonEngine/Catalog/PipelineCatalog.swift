import BatonSpec

/// The pipelines on the search path with their descriptions, for `baton list`.
public struct PipelineCatalog: Sendable {
    /// One pipeline.
    public struct Entry: Sendable, Codable, Hashable {
        /// Its name on the search path.
        public var name: String
        /// Its file.
        public var path: String
        /// Its description, if it has one and decodes.
        public var description: String?
        /// Whether it decodes without errors of shape (references are not checked here).
        public var valid: Bool
    }

    /// Where pipelines are found.
    public var workspace: Workspace

    /// Creates a catalog of `workspace`'s pipelines.
    public init(workspace: Workspace) { self.workspace = workspace }

    /// Every pipeline, sorted by name.
    public func entries() -> [Entry] {
        workspace.pipelines().map { found in
            guard let source = try? workspace.read(found.path) else {
                return Entry(name: found.name, path: found.path, description: nil, valid: false)
            }
            let document = PipelineDecoder.decode(source)
            return Entry(
                name: found.name, path: found.path, description: document.spec?.description,
                valid: !document.diagnostics.hasErrors)
        }
    }
}
