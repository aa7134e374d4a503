// libyaml's event parser, vendored by Yams as the module CYaml. Yams composes aliases without a bound and
// does not expose its events, so the count has to run on libyaml itself, before Yams composes anything.
internal import CYaml

/// Bounds on what Baton reads from one YAML file, so that a small hostile file cannot expand into billions of
/// nodes through anchors and aliases (a "billion laughs"), nest deep enough to exhaust the stack, or fill memory.
///
/// Every reader of YAML checks the text with ``check(_:)`` before composing it: pipelines and profiles in
/// ``YAMLLoader``, `--input-file` and echo scripts in BatonEngine. BatonEngine's readers (its `Workspace` for
/// pipelines and profiles, `--input-file`, echo scripts) call ``check(byteCount:)`` with a file's size before
/// reading it at all. The count runs on libyaml's events, so it costs one parse of the text and memory for one
/// number per anchor, whatever the aliases would expand to.
///
/// The limits sit far above any real file: the shipped pipelines and profiles, and every test fixture, are under
/// 7 KB and 500 nodes, nest at most 11 deep and use no aliases (HostileYAMLTests holds them to limits a hundred
/// times lower for size and nodes, four times lower for depth).
public struct YAMLLimits: Sendable, Hashable {
    /// The most bytes in one file (2 MiB: 300 times the largest shipped pipeline, half a million tokens of input
    /// text; a pipeline of 2 MiB of empty lines, the costliest to index, peaks at 70 MB in `baton validate`).
    public var maxBytes: Int
    /// The most nodes (scalars, sequences, mappings) in one file with every alias expanded (100,000: a pipeline
    /// of 500 stages with 50 settings each stays below half of it; composing that many costs about 20 MB).
    public var maxNodes: Int
    /// The most nodes that aliases add to the file, all aliases together (10,000: a settings block of 20 nodes
    /// aliased into 500 stages).
    public var maxAliasedNodes: Int
    /// The deepest nesting of sequences and mappings (64: the deepest shipped pipeline, with a JSON schema, nests 11).
    public var maxDepth: Int

    /// The most stages a plan may hold with its sub-pipelines (`uses:`) inlined (10,000, as many as a fan-out's
    /// `max_items`): calls multiply, so a few small files calling each other several times over could otherwise
    /// make a plan of millions of stages.
    public static let maxPlanStages = 10_000

    /// The limits every reader of YAML in Baton uses.
    public static let standard = YAMLLimits(maxBytes: 2 * 1024 * 1024, maxNodes: 100_000, maxAliasedNodes: 10_000, maxDepth: 64)

    /// Creates limits.
    public init(maxBytes: Int, maxNodes: Int, maxAliasedNodes: Int, maxDepth: Int) {
        self.maxBytes = maxBytes
        self.maxNodes = maxNodes
        self.maxAliasedNodes = maxAliasedNodes
        self.maxDepth = maxDepth
    }

    /// The violation when a file of `byteCount` bytes is too large to read; nil when it is not.
    ///
    /// Readers call this with the file's size before reading it, so a huge file costs no memory.
    public func check(byteCount: Int) -> YAMLLimitViolation? {
        guard byteCount > maxBytes else { return nil }
        return YAMLLimitViolation(kind: .bytes(found: byteCount), limit: maxBytes, line: 1, column: 1)
    }

    /// The first limit `text` crosses, with the place where it crossed it; nil when it stays within all.
    ///
    /// A text that is not valid YAML is not a violation: the check stops at the syntax error and leaves it to
    /// the composer to report, since everything before the error was within the limits.
    public func check(_ text: String) -> YAMLLimitViolation? {
        if let violation = check(byteCount: text.utf8.count) { return violation }
        var text = text
        return text.withUTF8 { bytes in
            var counter = Counter(limits: self)
            return counter.run(bytes)
        }
    }
}

/// A YAML file that crossed one of the ``YAMLLimits``, and where.
public struct YAMLLimitViolation: Error, Sendable, Hashable, CustomStringConvertible {
    /// Which limit was crossed.
    public enum Kind: Sendable, Hashable {
        /// The file has `found` bytes.
        case bytes(found: Int)
        /// The nodes with aliases expanded passed the limit at this node or alias.
        case nodes
        /// The alias `*anchor` took the nodes added by aliases past the limit.
        case aliasedNodes(anchor: String)
        /// A sequence or mapping at this place is nested one level too deep.
        case depth
    }

    /// Which limit was crossed.
    public var kind: Kind
    /// The limit's value.
    public var limit: Int
    /// The 1-based line of the node or alias that crossed the limit (1 for the file's size).
    public var line: Int
    /// The 1-based column, in Unicode scalars as Yams counts them.
    public var column: Int

    /// Creates a violation.
    public init(kind: Kind, limit: Int, line: Int, column: Int) {
        self.kind = kind
        self.limit = limit
        self.line = line
        self.column = column
    }

    /// The catalog's wording of the problem and its fix, without the place.
    public var description: String { Diagnostic.Message.yamlLimit(self).text }

    /// `file:line:column: problem` as diagnostics print a place (the file alone for its size), for readers that
    /// report a violation as text rather than as a ``Diagnostic``.
    public func message(file: String) -> String {
        if case .bytes = kind { return "\(file): \(description)" }
        return "\(file):\(line):\(column): \(description)"
    }
}

extension YAMLLimits {
    /// Counts nodes over libyaml's events: each collection keeps the size of its subtree (aliases expanded) while
    /// it is open, each anchor keeps the size of the node it names, and each alias costs that size.
    private struct Counter {
        let limits: YAMLLimits
        /// The expanded size of the node each anchor names (a later anchor of the same name replaces it, as in YAML).
        var anchorSizes: [String: Int] = [:]
        /// The open sequences and mappings, innermost last: their anchor and the size of their subtree so far.
        var open: [(anchor: String?, size: Int)] = []
        var nodes = 0
        var aliased = 0

        mutating func run(_ bytes: UnsafeBufferPointer<UInt8>) -> YAMLLimitViolation? {
            var parser = yaml_parser_t()
            guard yaml_parser_initialize(&parser) == 1 else { return nil }
            defer { yaml_parser_delete(&parser) }
            yaml_parser_set_encoding(&parser, YAML_UTF8_ENCODING)
            yaml_parser_set_input_string(&parser, bytes.baseAddress, bytes.count)
            var event = yaml_event_t()
            while yaml_parser_parse(&parser, &event) == 1 {
                defer { yaml_event_delete(&event) }
                if event.type == YAML_STREAM_END_EVENT { return nil }
                if let violation = count(event) { return violation }
            }
            return nil  // a syntax error: Yams reports it when it composes
        }

        private mutating func count(_ event: yaml_event_t) -> YAMLLimitViolation? {
            let place = (line: Int(event.start_mark.line) + 1, column: Int(event.start_mark.column) + 1)
            func violation(_ kind: YAMLLimitViolation.Kind, _ limit: Int) -> YAMLLimitViolation {
                YAMLLimitViolation(kind: kind, limit: limit, line: place.line, column: place.column)
            }
            switch event.type {
            case YAML_SCALAR_EVENT:
                add(1)
                if let anchor = Self.name(event.data.scalar.anchor) { anchorSizes[anchor] = 1 }
            case YAML_SEQUENCE_START_EVENT, YAML_MAPPING_START_EVENT:
                nodes += 1
                let pointer = event.type == YAML_SEQUENCE_START_EVENT ? event.data.sequence_start.anchor : event.data.mapping_start.anchor
                open.append((Self.name(pointer), 1))
                if open.count > limits.maxDepth { return violation(.depth, limits.maxDepth) }
            case YAML_SEQUENCE_END_EVENT, YAML_MAPPING_END_EVENT:
                guard let closed = open.popLast() else { return nil }
                if let anchor = closed.anchor { anchorSizes[anchor] = closed.size }
                if !open.isEmpty { open[open.count - 1].size += closed.size }
                return nil  // counted when it opened
            case YAML_ALIAS_EVENT:
                let anchor = Self.name(event.data.alias.anchor) ?? ""
                // An alias of an unknown anchor (or of a collection still open) is an error Yams reports.
                let size = anchorSizes[anchor] ?? 1
                add(size)
                aliased += size
                if aliased > limits.maxAliasedNodes { return violation(.aliasedNodes(anchor: anchor), limits.maxAliasedNodes) }
            default:
                return nil
            }
            return nodes > limits.maxNodes ? violation(.nodes, limits.maxNodes) : nil
        }

        /// Adds a scalar or an alias of `size` nodes to the file and to the collection it is in.
        private mutating func add(_ size: Int) {
            nodes += size
            if !open.isEmpty { open[open.count - 1].size += size }
        }

        private static func name(_ pointer: UnsafeMutablePointer<yaml_char_t>?) -> String? {
            pointer.map { String(cString: $0) }
        }
    }
}
