import Foundation
import Yams

/// Decodes a runtime's `hosts:` (a runtime pool), with a diagnostic at the place of each problem.
enum PoolDecoder {
    /// The hosts of runtime `runtime`, in file order; a host with a bad URL or budget is left out. Nil when the list
    /// cannot be used at all.
    static func decodeHosts(_ node: Node, runtime: String, kind: RuntimeSpec.Kind, kindNode: Node, path: String, reader: SpecReader)
        -> [RuntimeHostSpec]?
    {
        guard RuntimeHostSpec.poolKinds.contains(kind) else {
            reader.emit(.poolKind(runtime, kind: kind.rawValue), at: node)
            return nil
        }
        guard case .sequence(let sequence) = node else {
            reader.emit(
                .typeMismatch(expected: "a list of hosts", for: "'hosts' in runtime '\(runtime)'", found: reader.describe(node)),
                at: node)
            return nil
        }
        if sequence.isEmpty {
            reader.emit(.poolEmpty(runtime), at: node)
            return nil
        }
        var hosts: [RuntimeHostSpec] = []
        var seen: Set<String> = []
        for (index, item) in sequence.enumerated() {
            guard let host = decodeHost(item, runtime: runtime, path: "\(path)[\(index)]", reader: reader) else { continue }
            let key = normalized(host.url)
            if seen.contains(key) {
                reader.emit(.poolDuplicateHost(host.url, runtime: runtime), at: item)
                continue
            }
            seen.insert(key)
            hosts.append(host)
        }
        return hosts
    }

    private static func decodeHost(_ node: Node, runtime: String, path: String, reader: SpecReader) -> RuntimeHostSpec? {
        let context = "a host of runtime '\(runtime)'"
        let keys = RuntimeHostSpec.CodingKeys.allCases.map(\.rawValue)
        guard let map = reader.mapping(node, context: context, subject: context, path: path, allowedKeys: keys) else {
            return nil
        }
        guard let urlNode = map.value("url") else {
            reader.emit(.missingKey("url", in: context, hint: "add the server's base URL, like 'url: http://10.0.0.2:11434'"), at: node)
            return nil
        }
        guard let url = reader.nonEmptyString(urlNode, subject: map.subject("url")) else { return nil }
        guard isHTTPURL(url) else {
            reader.emit(.poolURL(url, runtime: runtime), at: urlNode)
            return nil
        }
        guard let budgetNode = map.value("budget") else {
            reader.emit(
                .missingKey(
                    "budget", in: "host '\(url)' of runtime '\(runtime)'", hint: "add the memory its models may take, like 'budget: 24GB'"),
                at: node)
            return nil
        }
        if case .scalar(let scalar) = budgetNode, scalar.string == "auto" {
            reader.emit(.poolAutoBudget(runtime), at: budgetNode)
            return nil
        }
        guard let budget = reader.size(budgetNode, subject: map.subject("budget")) else { return nil }
        var labels: [String] = []
        if let labelsNode = map.value("labels"),
            let items = reader.stringList(labelsNode, subject: map.subject("labels"), allowSingle: true)
        {
            for (index, item) in items.enumerated() { reader.record("\(path).labels[\(index)]", item.1) }
            labels = items.map(\.0).flatMap { $0.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) } }
                .filter { !$0.isEmpty }
        }
        return RuntimeHostSpec(url: url, budget: budget, labels: labels)
    }

    /// Whether `text` is an http or https URL with a host.
    static func isHTTPURL(_ text: String) -> Bool {
        guard let components = URLComponents(string: text), let scheme = components.scheme?.lowercased(),
            scheme == "http" || scheme == "https", let host = components.host, !host.isEmpty
        else { return false }
        return true
    }

    /// A URL as compared for duplicates: lower-case, without a trailing slash.
    static func normalized(_ url: String) -> String {
        var text = url.lowercased()
        while text.hasSuffix("/") { text.removeLast() }
        return text
    }
}
