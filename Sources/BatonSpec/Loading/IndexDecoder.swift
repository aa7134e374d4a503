import Foundation
import Yams

/// Decodes the `indexes` of a pipeline or profile and a stage's `retrieve` and `cite` (docs/pipeline-format.md,
/// "Retrieval").
///
/// Shape, type, range and glob syntax are checked here; what the names mean (the index a stage queries, the stage
/// `cite` names, the embedding model in the profile's registry) is checked after decoding, by ``RetrieveRules``.
enum IndexDecoder {
    /// The rule an index name follows, for `invalid-name`.
    static let namePattern = "use lower-case letters, digits, '_' and '-', starting with a letter"

    /// Whether `name` is a valid index name: `[a-z][a-z0-9_-]*`.
    static func isValidName(_ name: String) -> Bool {
        guard let first = name.unicodeScalars.first, ("a"..."z").contains(first) else { return false }
        return name.unicodeScalars.allSatisfy { ("a"..."z").contains($0) || ("0"..."9").contains($0) || $0 == "_" || $0 == "-" }
    }

    /// `indexes:` of a pipeline or profile: name → `{sources, exclude, chunk, embed, path, vector}`, in file order.
    /// Each index records its file's folder, which its globs and path are relative to.
    static func decodeIndexes(_ node: Node, reader: SpecReader) -> [IndexSpec]? {
        guard let map = reader.mapping(node, context: "'indexes'", subject: "'indexes'", path: "indexes", allowedKeys: nil) else {
            return nil
        }
        let folder = Self.folder(of: reader.file.path)
        var indexes: [IndexSpec] = []
        for (name, keyNode, value) in map.pairs {
            guard isValidName(name) else {
                reader.emit(.invalidName(name, kind: "index", rule: namePattern), at: keyNode)
                continue
            }
            if var index = decodeIndex(name: name, node: value, reader: reader) {
                index.folder = folder
                indexes.append(index)
            }
        }
        return indexes
    }

    /// The folder part of `path` (`""` for a bare file name), as the file's path gives it.
    static func folder(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "" }
        return slash == path.startIndex ? "/" : String(path[..<slash])
    }

    private static func decodeIndex(name: String, node: Node, reader: SpecReader) -> IndexSpec? {
        let path = "indexes.\(name)"
        let context = "index '\(name)'"
        guard let map = reader.mapping(node, context: context, subject: context, path: path, allowedKeys: AllowedKeys.index) else {
            return nil
        }
        var sources: [String]?
        if let node = map.value("sources") {
            sources = globs(node, path: "\(path).sources", subject: map.subject("sources"), reader: reader)
            if sources?.isEmpty == true, case .sequence(let items) = node, items.isEmpty {
                reader.emit(.emptyValue(map.subject("sources")), at: node)
            }
        } else if !map.suggested.contains("sources") {
            reader.emit(
                .missingKey("sources", in: context, hint: "add 'sources: [\"docs/**/*.md\"]', globs relative to this file's folder"),
                at: node)
        }
        let exclude = map.value("exclude").flatMap { globs($0, path: "\(path).exclude", subject: map.subject("exclude"), reader: reader) }
        let chunk = map.value("chunk").flatMap { decodeChunk($0, path: "\(path).chunk", index: name, reader: reader) }
        var model: String?
        var batch: Int?
        if let embedNode = map.value("embed") {
            let embedContext = "'embed' in \(context)"
            if let embed = reader.mapping(
                embedNode, context: embedContext, subject: embedContext, path: "\(path).embed", allowedKeys: AllowedKeys.embed)
            {
                if let modelNode = embed.value("model") {
                    model = reader.nonEmptyString(modelNode, subject: embed.subject("model"))
                } else if !embed.suggested.contains("model") {
                    reader.emit(
                        .missingKey("model", in: embedContext, hint: "add 'model: NAME', an embedding model of the profile's registry"),
                        at: embedNode)
                }
                batch = embed.value("batch").flatMap {
                    reader.int($0, subject: embed.subject("batch"), range: IndexSpec.batchRange, rangeText: "1 to 512")
                }
            }
        } else if !map.suggested.contains("embed") {
            reader.emit(
                .missingKey("embed", in: context, hint: "add 'embed: {model: NAME}', the embedding model of the profile's registry"),
                at: node)
        }
        var indexPath: String?
        if let node = map.value("path") {
            indexPath = reader.nonEmptyString(node, subject: map.subject("path"))
        }
        let vector = map.value("vector").flatMap { reader.enumValue($0, subject: map.subject("vector"), as: VectorBackend.self) }
        // Sources whose globs were all refused (or `[]`) were reported; the index stays, so stages querying it are not
        // told it is undeclared too.
        guard let sources, let model else { return nil }
        return IndexSpec(
            name: name, sources: sources, exclude: exclude, chunk: chunk, model: model, batch: batch, path: indexPath, vector: vector)
    }

    /// A list of globs (one glob alone is a list of one), each recorded as `PATH[i]`; a glob of bad syntax is
    /// `index-glob-invalid` at the glob and left out.
    private static func globs(_ node: Node, path: String, subject: String, reader: SpecReader) -> [String]? {
        guard let items = reader.stringList(node, subject: subject, allowSingle: true) else { return nil }
        var globs: [String] = []
        for (index, item) in items.enumerated() {
            reader.record("\(path)[\(index)]", item.1)
            if let problem = globProblem(item.0) {
                reader.emit(.indexGlobInvalid(item.0, in: subject, problem: problem), at: item.1)
            } else if globs.contains(item.0) {
                reader.emit(.duplicateEntry(item.0, in: subject), at: item.1)
            } else {
                globs.append(item.0)
            }
        }
        return globs
    }

    /// What is wrong with `glob`'s syntax, nil when nothing: the engine's globs are `*`, `?`, `[...]` (`[!...]`
    /// negated) within a segment, `**` as a whole segment, `\` escaping the next character.
    static func globProblem(_ glob: String) -> String? {
        if glob.trimmingCharacters(in: .whitespaces).isEmpty { return "it is empty" }
        if glob.contains("\0") { return "it holds a NUL character" }
        for segment in glob.split(separator: "/", omittingEmptySubsequences: true) {
            if segment.contains("**"), segment != "**" {
                return "'**' must be a whole path segment ('docs/**/*.md'), not part of '\(segment)'"
            }
        }
        var characters = Array(glob)[...]
        while let character = characters.popFirst() {
            switch character {
            case "\\":
                if characters.popFirst() == nil { return "it ends with '\\', which escapes nothing" }
            case "[":
                if characters.first == "!" || characters.first == "^" { characters = characters.dropFirst() }
                // A `]` right after the opening (or `!`) is a member, as in shell globs.
                if characters.first == "]" { characters = characters.dropFirst() }
                guard let close = characters.firstIndex(where: { $0 == "]" || $0 == "/" }), characters[close] == "]" else {
                    return "'[' opens a character class that is never closed with ']'"
                }
                characters = characters[characters.index(after: close)...]
            case "{", "}":
                return "braces are not glob syntax here; write one pattern per alternative ('docs/*.md', 'docs/*.txt')"
            default:
                break
            }
        }
        return nil
    }

    /// `chunk: {by, size, overlap}`; `0 <= overlap < size`.
    private static func decodeChunk(_ node: Node, path: String, index: String, reader: SpecReader) -> ChunkSpec? {
        let context = "'chunk' in index '\(index)'"
        guard let map = reader.mapping(node, context: context, subject: context, path: path, allowedKeys: AllowedKeys.chunk) else {
            return nil
        }
        let method = map.value("by").flatMap { reader.enumValue($0, subject: map.subject("by"), as: ChunkMethod.self) }
        let unit = method == .lines ? "lines" : "characters"
        let size = map.value("size").flatMap {
            reader.int($0, subject: map.subject("size"), range: 1...1_000_000, rangeText: "1 to 1,000,000 \(unit)")
        }
        let overlap = map.value("overlap").flatMap {
            reader.int($0, subject: map.subject("overlap"), range: 0...999_999, rangeText: "0 or more \(unit), less than 'size'")
        }
        if map.has("by"), method == nil { return nil }
        let by = method ?? ChunkSpec.defaultMethod
        if map.has("size"), size == nil { return nil }
        if map.has("overlap"), overlap == nil { return nil }
        let finalSize = size ?? ChunkSpec.defaultSize(for: by)
        let finalOverlap = overlap ?? ChunkSpec.defaultOverlap(for: by, size: finalSize)
        if finalOverlap >= finalSize, let overlapNode = map.value("overlap") ?? map.value("size") {
            reader.emit(
                .outOfRange(
                    "\(finalOverlap)", for: map.subject("overlap"),
                    range: "0 to \(finalSize - 1) (less than 'size', \(finalSize) \(unit))"),
                at: overlapNode)
            return nil
        }
        return ChunkSpec(by: by, size: finalSize, overlap: finalOverlap)
    }

    /// A stage's `retrieve: {index, query, top_k, hybrid, min_score}`; `query` is recorded as a template.
    static func decodeRetrieve(_ node: Node, path: String, stage: String, reader: SpecReader) -> RetrieveSpec? {
        let context = "'retrieve' in stage '\(stage)'"
        guard let map = reader.mapping(node, context: context, subject: context, path: path, allowedKeys: AllowedKeys.retrieve) else {
            return nil
        }
        var index: String?
        if let node = map.value("index") {
            index = reader.nonEmptyString(node, subject: map.subject("index"))
        } else if !map.suggested.contains("index") {
            reader.emit(.missingKey("index", in: context, hint: "add 'index: NAME', an index under 'indexes'"), at: node)
        }
        var query: String?
        if let node = map.value("query") {
            query = reader.nonEmptyString(node, subject: map.subject("query"))
            if query != nil { reader.recordTemplate("\(path).query", node) }
        } else if !map.suggested.contains("query") {
            reader.emit(.missingKey("query", in: context, hint: "add 'query: \"{{inputs.question}}\"' (a template)"), at: node)
        }
        let topK = map.value("top_k").flatMap {
            reader.int($0, subject: map.subject("top_k"), range: RetrieveSpec.topKRange, rangeText: "1 to 100")
        }
        let hybrid = map.value("hybrid").flatMap { reader.bool($0, subject: map.subject("hybrid")) }
        let minScore = map.value("min_score").flatMap {
            reader.number(
                $0, subject: map.subject("min_score"), isValid: { RetrieveSpec.minScoreRange.contains($0) },
                rangeText: "-1 to 1 (a cosine similarity)")
        }
        guard let index, let query else { return nil }
        return RetrieveSpec(index: index, query: query, topK: topK, hybrid: hybrid, minScore: minScore)
    }
}

/// The glob syntax check of ``IndexDecoder``, for tests and for commands that take a glob.
public enum IndexDecoderProbe {
    /// What is wrong with `glob`'s syntax; nil when the engine reads it.
    public static func globProblem(_ glob: String) -> String? { IndexDecoder.globProblem(glob) }
}
