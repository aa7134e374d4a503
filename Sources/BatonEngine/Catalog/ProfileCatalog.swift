import BatonSpec

/// The profiles on the search path, each marked in use or hidden by an earlier file of the same name, then the
/// built-in default profile, for `baton profiles list`.
public struct ProfileCatalog: Sendable {
    /// One profile file on the search path (or the built-in default profile).
    public struct Entry: Sendable, Encodable, Hashable {
        /// Its name on the search path (the file's stem).
        public var name: String
        /// Its file, as displayed.
        public var path: String
        /// Its description, if it decodes and has one.
        public var description: String?
        /// The profile it extends.
        public var extends: String?
        /// Whether it is the profile in use (nil for a file an earlier folder hides).
        public var inUse: Bool?
        /// The earlier file of the same name that hides this one.
        public var hiddenBy: String?
        /// False when the file does not decode or has errors; absent otherwise.
        public var valid: Bool?
        /// True for the profile compiled into baton (used when no file named `default` is on the path); absent otherwise.
        public var builtIn: Bool? = nil

        enum CodingKeys: String, CodingKey {
            case name, path, description, extends, valid
            case inUse = "in_use"
            case hiddenBy = "hidden_by"
            case builtIn = "built_in"
        }
    }

    /// Where profiles are found.
    public var workspace: Workspace

    /// A catalog of `workspace`'s profiles.
    public init(workspace: Workspace) { self.workspace = workspace }

    /// Every profile file in search-path order (a folder's files sorted), then the built-in default profile.
    ///
    /// - Parameter inUse: the name of the profile in use.
    public func entries(inUse: String?) throws -> [Entry] {
        var rows: [Entry] = []
        var first: [String: String] = [:]
        for directory in workspace.profileSearchPath {
            for path in Workspace.yamlFiles(in: workspace.absolute(directory)) {
                let source = try workspace.read(path)
                let document = ProfileDecoder.decode(source, environment: workspace.environment)
                let name = source.stem
                let hiddenBy = first[name]
                if hiddenBy == nil { first[name] = source.path }
                let invalid = document.spec == nil || document.diagnostics.contains { $0.severity == .error }
                rows.append(
                    Entry(
                        name: name, path: source.path, description: document.spec?.description, extends: document.spec?.extends,
                        inUse: hiddenBy == nil ? name == inUse : nil, hiddenBy: hiddenBy, valid: invalid ? false : nil))
            }
        }
        // The built-in default profile comes last: a file named 'default' anywhere on the path hides it.
        let builtIn = BuiltInProfiles.defaultDocument(environment: workspace.environment).spec
        let hiddenBy = first[BuiltInProfiles.defaultName]
        rows.append(
            Entry(
                name: BuiltInProfiles.defaultName, path: BuiltInProfiles.defaultPath, description: builtIn?.description, extends: nil,
                inUse: hiddenBy == nil ? inUse == BuiltInProfiles.defaultName : nil, hiddenBy: hiddenBy, valid: nil, builtIn: true))
        return rows
    }
}
