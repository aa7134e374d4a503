import Yams

/// Decodes a stage's control-flow keys: `when` (a condition), `route` (the branches its JSON answer selects) and the
/// fan-out keys (`for_each`, `as`, `max_items`, `concurrency`, `repeat`, `vote`).
///
/// Only shape, type and range are checked here; what the names mean (the condition's scope, the route's field and
/// stages, the fan-out's list and vote) is checked after decoding, by ``ConditionCheck``, ``RouteCheck`` and
/// ``FanOutCheck``.
enum FlowDecoder {
    /// The fan-out keys of a stage as decoded.
    struct FanOutKeys {
        var forEach: String?
        var itemName: String?
        var maxItems: Int?
        var concurrency: Int?
        var repeatCount: Int?
        var vote: String?
    }

    /// Inclusive bounds of the numeric fan-out keys.
    static let maxItemsRange = 1...10_000
    static let concurrencyRange = 1...64
    static let repeatRange = 2...100

    /// The fan-out keys. `for_each` is recorded like a template, so positions inside the expression map back into
    /// the file; a `for_each` without `max_items` is a `missing-key` error at `for_each`.
    static func decodeFanOut(_ map: SpecReader.Mapping, path: String, reader: SpecReader) -> FanOutKeys {
        var keys = FanOutKeys()
        if let node = map.value("for_each"), let text = reader.nonEmptyString(node, subject: map.subject("for_each")) {
            reader.recordTemplate("\(path).for_each", node)
            keys.forEach = text
        }
        keys.itemName = map.value("as").flatMap { reader.nonEmptyString($0, subject: map.subject("as")) }
        keys.maxItems = map.value("max_items").flatMap {
            reader.int($0, subject: map.subject("max_items"), range: maxItemsRange, rangeText: "1 to 10,000")
        }
        keys.concurrency = map.value("concurrency").flatMap {
            reader.int($0, subject: map.subject("concurrency"), range: concurrencyRange, rangeText: "1 to 64")
        }
        keys.repeatCount = map.value("repeat").flatMap {
            reader.int($0, subject: map.subject("repeat"), range: repeatRange, rangeText: "2 to 100")
        }
        keys.vote = map.value("vote").flatMap { reader.nonEmptyString($0, subject: map.subject("vote")) }
        if map.has("for_each"), !map.has("max_items"), !map.suggested.contains("max_items"), let node = map.keyNode("for_each") {
            reader.emit(
                .missingKey(
                    "max_items", in: map.context,
                    hint: "add 'max_items: N', the most items the list may have (1 to 10,000); more fail the stage at run time"),
                at: node)
        }
        return keys
    }

    /// The `when` text, recorded like a template so positions inside the expression map back into the file.
    static func decodeWhen(_ map: SpecReader.Mapping, path: String, reader: SpecReader) -> String? {
        guard let node = map.value("when"), let text = reader.nonEmptyString(node, subject: map.subject("when")) else {
            return nil
        }
        reader.recordTemplate("\(path).when", node)
        return text
    }

    /// The `uses` value: a pipeline name or a path ending in .yaml/.yml; whether it exists is checked by the compiler.
    static func decodeUses(_ map: SpecReader.Mapping, reader: SpecReader) -> String? {
        map.value("uses").flatMap { reader.nonEmptyString($0, subject: map.subject("uses")) }
    }

    /// The `with` mapping: input name -> template. Each value is a scalar (a number or boolean is taken as its text,
    /// nothing as the empty text) recorded like a template at `PATH.with.NAME`, so positions inside it map back into
    /// the file. Which names the called pipeline accepts is checked by the compiler.
    static func decodeWith(_ map: SpecReader.Mapping, path: String, stage: String, reader: SpecReader) -> [String: String]? {
        guard let node = map.value("with") else { return nil }
        let subject = map.subject("with")
        guard let with = reader.mapping(node, context: subject, subject: subject, path: "\(path).with", allowedKeys: nil)
        else { return nil }
        var values: [String: String] = [:]
        for (name, _, value) in with.pairs {
            let valueSubject = "input '\(name)' in 'with' of stage '\(stage)'"
            if reader.isNull(value) {
                values[name] = ""
            } else if let text = reader.string(value, subject: valueSubject) {
                reader.recordTemplate("\(path).with.\(name)", value)
                values[name] = text
            }
        }
        return values
    }

    /// The `route` mapping: `on` (a dotted path), `cases` (value -> stage or stages) and an optional `default`.
    ///
    /// Source map paths: `PATH.on`, `PATH.cases[i]#key` (the case's value), `PATH.cases[i][j]` (its stages) and
    /// `PATH.default[j]`, by position, since a case value may hold dots.
    static func decodeRoute(_ node: Node, path: String, stage: String, reader: SpecReader) -> RouteSpec? {
        let context = "the route of stage '\(stage)'"
        guard
            let map = reader.mapping(
                node, context: context, subject: "'route' in stage '\(stage)'", path: path, allowedKeys: AllowedKeys.route)
        else { return nil }

        var on: String?
        if let onNode = map.value("on") {
            on = reader.nonEmptyString(onNode, subject: map.subject("on"))
        } else if !map.suggested.contains("on") {
            reader.emit(
                .missingKey("on", in: context, hint: "add 'on: FIELD', the field of the stage's JSON answer that picks the branch"),
                at: map.node)
        }

        var cases: [RouteCase]?
        if let casesNode = map.value("cases") {
            cases = decodeCases(casesNode, path: path, context: context, reader: reader)
        } else if !map.suggested.contains("cases") {
            reader.emit(
                .missingKey("cases", in: context, hint: "add 'cases', each a value of the field and the stage or stages it runs"),
                at: map.node)
        }

        var otherwise: [String]?
        if let defaultNode = map.value("default") {
            otherwise = stageList(defaultNode, path: "\(path).default", subject: map.subject("default"), reader: reader)
        }
        guard let on, let cases else { return nil }
        return RouteSpec(on: on, cases: cases, otherwise: otherwise)
    }

    private static func decodeCases(_ node: Node, path: String, context: String, reader: SpecReader) -> [RouteCase]? {
        let subject = "'cases' in \(context)"
        guard let map = reader.mapping(node, context: subject, subject: subject, path: "\(path).cases", allowedKeys: nil)
        else { return nil }
        if map.pairs.isEmpty {
            reader.emit(.emptyValue(subject), at: node)
            return nil
        }
        var cases: [RouteCase] = []
        for (index, pair) in map.pairs.enumerated() {
            let casePath = "\(path).cases[\(index)]"
            reader.record("\(casePath)#key", pair.keyNode)
            let stages = stageList(pair.value, path: casePath, subject: "case '\(pair.key)' in \(context)", reader: reader)
            cases.append(RouteCase(value: pair.key, stages: stages ?? []))
        }
        return cases
    }

    /// One stage name or a list of them (an empty list runs nothing), each location recorded as `PATH[j]`.
    private static func stageList(_ node: Node, path: String, subject: String, reader: SpecReader) -> [String]? {
        reader.record(path, node)
        guard let items = reader.stringList(node, subject: subject, allowSingle: true) else { return nil }
        var names: [String] = []
        for item in items {
            if names.contains(item.0) {
                reader.emit(.duplicateEntry(item.0, in: subject), at: item.1)
            } else {
                // By position in the decoded list, which leaves repeats out.
                reader.record("\(path)[\(names.count)]", item.1)
                names.append(item.0)
            }
        }
        return names
    }
}
