import Foundation
import Yams

/// A decoded pipeline file: the spec, where its values are, and what was wrong with it.
public struct PipelineDocument: Sendable {
    /// The file it came from.
    public var file: SourceFile
    /// The decoded spec; nil when the file is too broken to decode (not YAML, not a mapping).
    public var spec: PipelineSpec?
    /// Where each value is.
    public var sourceMap: SourceMap
    /// Problems found while decoding.
    public var diagnostics: [Diagnostic]
}

/// Decodes a pipeline file's YAML into a ``PipelineSpec``, reporting every problem of shape and type.
public enum PipelineDecoder {
    /// The one format version this build reads.
    public static let supportedVersion = 1

    /// Decodes `file`. Never throws: problems are diagnostics in the result.
    public static func decode(_ file: SourceFile) -> PipelineDocument {
        let reader = SpecReader(file: file)
        var spec: PipelineSpec?
        if let root = YAMLLoader.compose(file, kind: "pipeline", into: reader) {
            spec = decodeRoot(root, reader: reader)
        }
        return PipelineDocument(file: file, spec: spec, sourceMap: reader.sourceMap, diagnostics: reader.diagnostics)
    }

    static let namePattern = "use letters, digits, '_' and '-', starting with a letter or '_'"

    static func isValidName(_ name: String) -> Bool {
        guard let first = name.unicodeScalars.first, first == "_" || (first.isASCII && first.properties.isAlphabetic)
        else { return false }
        return name.unicodeScalars.allSatisfy {
            $0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0) || $0 == "_" || $0 == "-")
        }
    }

    static func isValidPipelineName(_ name: String) -> Bool {
        guard let first = name.unicodeScalars.first, ("a"..."z").contains(first) || ("0"..."9").contains(first) else {
            return false
        }
        return name.unicodeScalars.allSatisfy {
            ("a"..."z").contains($0) || ("0"..."9").contains($0) || $0 == "." || $0 == "_" || $0 == "-"
        }
    }

    private static func decodeRoot(_ root: Node, reader: SpecReader) -> PipelineSpec? {
        let keys = AllowedKeys.pipeline
        guard let map = reader.mapping(root, context: "the pipeline", subject: "the pipeline file", path: "", allowedKeys: keys)
        else { return nil }

        let version = VersionCheck.read(map, reader: reader)

        var name = reader.file.stem
        if let node = map.value("name"), let text = reader.nonEmptyString(node, subject: "'name'") {
            if isValidPipelineName(text) {
                name = text
            } else {
                reader.emit(
                    .invalidName(text, kind: "pipeline", rule: "use lower-case letters, digits, '.', '_' and '-'"),
                    at: node)
            }
        }
        let description = map.value("description").flatMap { reader.string($0, subject: "'description'") }
        let inputs = map.value("inputs").map { decodeInputs($0, reader: reader) } ?? []
        let budget = map.value("memory_budget").flatMap { reader.budget($0, subject: "'memory_budget'") }
        let defaults = SettingsDecoder.decodeDefaults(map, allowedKeys: AllowedKeys.pipelineDefaults, reader: reader)
        var outputs: [String]?
        if let node = map.value("outputs") {
            outputs = reader.stringList(node, subject: "'outputs'", allowSingle: true).map { items in
                for (index, item) in items.enumerated() { reader.record("outputs[\(index)]", item.1) }
                return items.map(\.0)
            }
        }
        var stages: [StageSpec] = []
        if let node = map.value("stages") {
            stages = decodeStages(node, reader: reader)
        } else if !map.suggested.contains("stages") {
            reader.emit(.missingKey("stages", in: "the pipeline", hint: "add the pipeline's stages"), at: root)
        }
        let servers = map.value("mcp_servers").flatMap { ToolDecoder.decodeServers($0, reader: reader) }
        let indexes = map.value("indexes").flatMap { IndexDecoder.decodeIndexes($0, reader: reader) }
        return PipelineSpec(
            version: version ?? PipelineDecoder.supportedVersion, name: name, description: description, inputs: inputs,
            memoryBudget: budget, defaults: defaults, outputs: outputs, stages: stages, mcpServers: servers, indexes: indexes)
    }

    private static func decodeInputs(_ node: Node, reader: SpecReader) -> [InputSpec] {
        guard let map = reader.mapping(node, context: "'inputs'", subject: "'inputs'", path: "inputs", allowedKeys: nil)
        else { return [] }
        var inputs: [InputSpec] = []
        let keys = AllowedKeys.input
        for (name, keyNode, value) in map.pairs {
            guard isValidName(name) else {
                reader.emit(.invalidName(name, kind: "input", rule: namePattern), at: keyNode)
                continue
            }
            if reader.isNull(value) {
                inputs.append(InputSpec(name: name, required: true))
                continue
            }
            guard
                let inputMap = reader.mapping(
                    value, context: "input '\(name)'", subject: "input '\(name)'", path: "inputs.\(name)", allowedKeys: keys)
            else { continue }
            let description = inputMap.value("description").flatMap {
                reader.string($0, subject: inputMap.subject("description"))
            }
            let defaultValue = inputMap.value("default").flatMap { node -> String? in
                if reader.isNull(node) { return "" }
                return reader.string(node, subject: inputMap.subject("default"))
            }
            let required = inputMap.value("required").flatMap { reader.bool($0, subject: inputMap.subject("required")) }
            if required == true, defaultValue != nil, let node = inputMap.value("required") {
                reader.emit(.requiredWithDefault(name), at: node)
            }
            inputs.append(
                InputSpec(
                    name: name, description: description, defaultValue: defaultValue,
                    required: required ?? (defaultValue == nil)))
        }
        return inputs
    }

    private static func decodeStages(_ node: Node, reader: SpecReader) -> [StageSpec] {
        guard let map = reader.mapping(node, context: "'stages'", subject: "'stages'", path: "stages", allowedKeys: nil)
        else { return [] }
        if map.pairs.isEmpty {
            reader.emit(.noStages, at: node)
        }
        var stages: [StageSpec] = []
        for (name, keyNode, value) in map.pairs {
            guard isValidName(name) else {
                reader.emit(.invalidName(name, kind: "stage", rule: namePattern), at: keyNode)
                continue
            }
            if let stage = decodeStage(name: name, node: value, reader: reader) {
                stages.append(stage)
            }
        }
        return stages
    }

    private static func decodeStage(name: String, node: Node, reader: SpecReader) -> StageSpec? {
        let path = "stages.\(name)"
        let context = "stage '\(name)'"
        guard let map = reader.mapping(node, context: context, subject: context, path: path, allowedKeys: AllowedKeys.stage)
        else { return nil }

        func text(_ key: String) -> String? {
            map.value(key).flatMap { reader.nonEmptyString($0, subject: map.subject(key)) }
        }
        func template(_ key: String) -> String? {
            guard let node = map.value(key), let value = reader.nonEmptyString(node, subject: map.subject(key)) else {
                return nil
            }
            reader.recordTemplate("\(path).\(key)", node)
            return value
        }

        var role: String?
        if let node = map.value("role"), let value = reader.nonEmptyString(node, subject: map.subject("role")) {
            if isValidName(value) {
                role = value
            } else {
                reader.emit(.invalidName(value, kind: "role", rule: namePattern), at: node)
            }
        }
        let system = template("system")
        let prompt = template("prompt")
        let promptFile = text("prompt_file")
        if map.has("prompt"), map.has("prompt_file"), let node = map.keyNode("prompt_file") {
            reader.emit(.conflictingKeys("prompt", "prompt_file", in: context), at: node)
        } else if !(ToolDecoder.kindKeys + ["uses"]).contains(where: map.has),
            map.suggested.isDisjoint(with: ToolDecoder.kindKeys + ["uses"])
        {
            reader.emit(
                .missingKey(
                    "prompt", in: context,
                    hint: "add 'prompt' (a template) or 'prompt_file' (a file holding one); a tool stage has 'run', 'http' or "
                        + "'mcp' instead, a retrieve stage 'retrieve', a call 'uses'"),
                at: reader.sourceMap.keyLocation(path) ?? reader.location(of: node))
        }

        var needs: [String] = []
        if let node = map.value("needs"), let items = reader.stringList(node, subject: map.subject("needs"), allowSingle: true) {
            for (index, item) in items.enumerated() {
                reader.record("\(path).needs[\(index)]", item.1)
                if needs.contains(item.0) {
                    reader.emit(.duplicateEntry(item.0, in: map.subject("needs")), at: item.1)
                } else {
                    needs.append(item.0)
                }
            }
        }
        let reviews = text("reviews")
        let maxRounds = map.value("max_rounds").flatMap {
            reader.int($0, subject: map.subject("max_rounds"), range: 1...1000, rangeText: "1 or more (at most 1000)")
        }
        let onExhausted = map.value("on_exhausted").flatMap {
            reader.enumValue($0, subject: map.subject("on_exhausted"), as: ExhaustedAction.self)
        }
        let output = map.value("output").flatMap { decodeOutput($0, path: "\(path).output", context: context, reader: reader) }

        let fanOut = FlowDecoder.decodeFanOut(map, path: path, reader: reader)
        let tool = ToolDecoder.decode(map, path: path, stage: name, reader: reader)
        let retrieve = map.value("retrieve").flatMap {
            IndexDecoder.decodeRetrieve($0, path: "\(path).retrieve", stage: name, reader: reader)
        }
        return StageSpec(
            name: name, description: text("description"), role: role,
            settings: SettingsDecoder.decode(map, reader: reader), system: system, prompt: prompt, promptFile: promptFile,
            needs: needs, reviews: reviews, maxRounds: maxRounds, onExhausted: onExhausted, output: output,
            when: FlowDecoder.decodeWhen(map, path: path, reader: reader),
            route: map.value("route").flatMap { FlowDecoder.decodeRoute($0, path: "\(path).route", stage: name, reader: reader) },
            forEach: fanOut.forEach, itemName: fanOut.itemName, maxItems: fanOut.maxItems, concurrency: fanOut.concurrency,
            repeatCount: fanOut.repeatCount, vote: fanOut.vote, uses: FlowDecoder.decodeUses(map, reader: reader),
            with: FlowDecoder.decodeWith(map, path: path, stage: name, reader: reader), run: tool.run, shell: tool.shell,
            stdin: tool.stdin, cwd: tool.cwd, env: tool.env, exitCodes: tool.exitCodes, maxOutput: tool.maxOutput, http: tool.http,
            mcp: tool.mcp, effects: tool.effects, approve: tool.approve, parameters: tool.parameters, tools: tool.tools,
            maxToolCalls: tool.maxToolCalls, toolMode: tool.toolMode, retrieve: retrieve, cite: text("cite"))
    }

    private static func decodeOutput(_ node: Node, path: String, context: String, reader: SpecReader) -> OutputSpec? {
        let subject = "'output' in \(context)"
        if case .scalar = node {
            return reader.enumValue(node, subject: subject, as: OutputSpec.Format.self).map { OutputSpec(format: $0, schema: nil) }
        }
        guard
            let map = reader.mapping(
                node, context: subject, subject: subject, path: path,
                allowedKeys: AllowedKeys.output)
        else { return nil }
        var format = OutputSpec.Format.json
        if let formatNode = map.value("format"),
            let value = reader.enumValue(formatNode, subject: map.subject("format"), as: OutputSpec.Format.self)
        {
            format = value
        }
        var schema: JSONValue?
        if let schemaNode = map.value("schema") {
            if case .mapping = schemaNode {
                schema = reader.json(schemaNode)
                if format == .text, let keyNode = map.keyNode("schema") {
                    reader.emit(.conflictingKeys("format: text", "schema", in: context), at: keyNode)
                }
            } else {
                reader.emit(
                    .typeMismatch(expected: "a JSON schema (a mapping)", for: map.subject("schema"), found: reader.describe(schemaNode)),
                    at: schemaNode)
            }
        }
        return OutputSpec(format: format, schema: schema)
    }
}

/// Reads the `version` key every file starts with.
enum VersionCheck {
    static func read(_ map: SpecReader.Mapping, reader: SpecReader) -> Int? {
        guard let node = map.value("version") else {
            if map.suggested.contains("version") { return nil }
            reader.emit(.missingKey("version", in: map.context, hint: "add 'version: 1' at the top"), at: map.node)
            return nil
        }
        guard case .scalar(let scalar) = node, !reader.isNull(node) else {
            reader.emit(.typeMismatch(expected: "a whole number", for: "'version'", found: reader.describe(node)), at: node)
            return nil
        }
        guard let value = Int(scalar.string), value == PipelineDecoder.supportedVersion else {
            reader.emit(.unsupportedVersion(scalar.string), at: node)
            return nil
        }
        return value
    }
}
