import Yams

/// Reads the model and sampling keys shared by stages, pipeline `defaults`, profile roles and profile `defaults`.
enum SettingsDecoder {
    /// The file's top-level `defaults` block, or empty settings when it is missing or not a mapping.
    ///
    /// Pipelines and profiles differ only in `allowedKeys` (a profile's defaults name no model or runtime).
    static func decodeDefaults(_ root: SpecReader.Mapping, allowedKeys: [String], reader: SpecReader) -> StageSettings {
        guard let node = root.value("defaults"),
            let map = reader.mapping(node, context: "'defaults'", subject: "'defaults'", path: "defaults", allowedKeys: allowedKeys)
        else { return StageSettings() }
        return decode(map, reader: reader)
    }

    static func decode(_ map: SpecReader.Mapping, reader: SpecReader) -> StageSettings {
        var settings = StageSettings()
        let path = map.path
        if let node = map.value("model"),
            let items = reader.stringList(node, subject: map.subject("model"), allowSingle: true)
        {
            for (index, item) in items.enumerated() { reader.record("\(path).model[\(index)]", item.1) }
            if items.isEmpty {
                reader.emit(.emptyValue(map.subject("model")), at: node)
            } else {
                settings.model = items.map { ModelReference($0.0) }
            }
        }
        if let node = map.value("runtime") {
            settings.runtime = reader.nonEmptyString(node, subject: map.subject("runtime"))
        }
        if let node = map.value("temperature") {
            settings.temperature = reader.number(
                node, subject: map.subject("temperature"), isValid: { (0...2).contains($0) }, rangeText: "0 to 2")
        }
        if let node = map.value("top_p") {
            settings.topP = reader.number(
                node, subject: map.subject("top_p"), isValid: { $0 > 0 && $0 <= 1 },
                rangeText: "a number greater than 0 and at most 1")
        }
        if let node = map.value("top_k") {
            settings.topK = reader.int(node, subject: map.subject("top_k"), range: 1...Int.max, rangeText: "1 or more")
        }
        if let node = map.value("max_tokens") {
            settings.maxTokens = reader.int(
                node, subject: map.subject("max_tokens"), range: 1...10_000_000, rangeText: "1 or more")
        }
        if let node = map.value("seed") {
            settings.seed = reader.int(node, subject: map.subject("seed"))
        }
        if let node = map.value("stop"), let items = reader.stringList(node, subject: map.subject("stop"), allowSingle: true) {
            settings.stop = items.map(\.0)
            for item in items where item.0.isEmpty {
                reader.emit(.emptyValue("a stop sequence in \(map.context)"), at: item.1)
            }
        }
        if let node = map.value("num_ctx") {
            settings.numCtx = reader.int(
                node, subject: map.subject("num_ctx"), range: 16...100_000_000, rangeText: "16 or more")
        }
        if let node = map.value("timeout") {
            settings.timeout = reader.duration(node, subject: map.subject("timeout"))
        }
        if let node = map.value("think") {
            if let text = node.scalar?.string, let value = ThinkSetting(written: text) {
                settings.think = value
            } else {
                reader.emit(
                    .outOfRange(reader.describe(node), for: map.subject("think"), range: "true, false, low, medium or high"), at: node)
            }
        }
        if let node = map.value("retry") {
            settings.retry = decodeRetry(node, path: "\(path).retry", context: map.subject("retry"), reader: reader)
        }
        return settings
    }

    private static func decodeRetry(_ node: Node, path: String, context: String, reader: SpecReader) -> RetryPolicy? {
        guard
            let map = reader.mapping(
                node, context: context, subject: context, path: path,
                allowedKeys: AllowedKeys.retry)
        else { return nil }
        var policy = RetryPolicy.default
        if let node = map.value("max_attempts"),
            let value = reader.int(node, subject: map.subject("max_attempts"), range: 1...100)
        {
            policy.maxAttempts = value
        }
        if let node = map.value("initial_backoff"), let value = reader.duration(node, subject: map.subject("initial_backoff")) {
            policy.initialBackoff = value
        }
        if let node = map.value("max_backoff"), let value = reader.duration(node, subject: map.subject("max_backoff")) {
            policy.maxBackoff = value
        }
        if let node = map.value("multiplier"),
            let value = reader.number(
                node, subject: map.subject("multiplier"), isValid: { $0 >= 1 && $0 <= 100 }, rangeText: "1 to 100")
        {
            policy.multiplier = value
        }
        if policy.maxBackoff < policy.initialBackoff, let node = map.value("max_backoff") {
            reader.emit(
                .outOfRange(
                    reader.describe(node), for: map.subject("max_backoff"),
                    range: "a duration no shorter than 'initial_backoff'"), at: node)
        }
        return policy
    }
}
