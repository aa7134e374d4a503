import BatonSpec
import Foundation

/// A host, and optionally a port, an API key may be sent to: `api.openai.com`, `llm.example.com:8443`, `[::1]:8080`.
///
/// Without a port it means the default port of the request's scheme (443 for https, 80 for http); with one, that
/// port only. Hosts compare case-insensitively. The official hosts of providers (``KeyHosts/official(variable:)``)
/// also require https.
public struct KeyHost: Sendable, Hashable, Comparable, CustomStringConvertible {
    /// The host, lowercased, an IPv6 address without its brackets.
    public let host: String
    /// The port, nil for the scheme's default.
    public let port: Int?
    /// Whether only https matches (the providers' official hosts); hosts a user allows match http too.
    public let httpsOnly: Bool

    /// A host from its parts; nil when `host` is empty or holds characters no host name or address has.
    public init?(host: String, port: Int? = nil, httpsOnly: Bool = false) {
        var name = host.lowercased()
        if name.hasPrefix("["), name.hasSuffix("]") { name = String(name.dropFirst().dropLast()) }
        let allowed = CharacterSet(charactersIn: "abcdefghijklmnopqrstuvwxyz0123456789.-_:")
        guard !name.isEmpty, name.count <= 253, name.unicodeScalars.allSatisfy(allowed.contains), !name.hasPrefix("-"),
            !name.hasPrefix(".")
        else { return nil }
        if let port, !(1...65535).contains(port) { return nil }
        self.host = name
        self.port = port
        self.httpsOnly = httpsOnly
    }

    /// Parses `host`, `host:port`, `[v6]` or `[v6]:port` as a user writes it; a URL (`https://host/v1`) gives its host
    /// and explicit port. Nil when the text is none of these.
    public init?(parsing text: String) {
        let text = text.trimmingCharacters(in: .whitespaces)
        if text.contains("://") {
            guard let components = URLComponents(string: text), let host = components.host else { return nil }
            self.init(host: host, port: components.port)
            return
        }
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]") else { return nil }
            let host = String(text[text.index(after: text.startIndex)..<close])
            let rest = text[text.index(after: close)...]
            if rest.isEmpty {
                self.init(host: host)
            } else {
                guard rest.hasPrefix(":"), let port = Int(rest.dropFirst()) else { return nil }
                self.init(host: host, port: port)
            }
            return
        }
        let parts = text.split(separator: ":", omittingEmptySubsequences: false)
        switch parts.count {
        case 1: self.init(host: text)
        case 2:
            guard let port = Int(parts[1]) else { return nil }
            self.init(host: String(parts[0]), port: port)
        default: self.init(host: text)  // a bare IPv6 address
        }
    }

    /// `host` or `host:port`, an IPv6 address in brackets when a port follows, as `baton keys allow` takes it.
    public var description: String {
        guard let port else { return host }
        return host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
    }

    /// Whether a request to `endpoint` may carry a key bound to this host.
    public func matches(_ endpoint: KeyEndpoint) -> Bool {
        guard endpoint.host == host else { return false }
        if httpsOnly, endpoint.scheme != "https" { return false }
        return endpoint.port == (port ?? endpoint.defaultPort)
    }

    public static func < (lhs: KeyHost, rhs: KeyHost) -> Bool {
        (lhs.host, lhs.port ?? 0) < (rhs.host, rhs.port ?? 0)
    }
}

/// Where a request goes: scheme, host and port, as the key check compares them.
public struct KeyEndpoint: Sendable, Hashable, CustomStringConvertible {
    /// `https` or `http`, lowercased.
    public let scheme: String
    /// The host, lowercased, an IPv6 address without its brackets.
    public let host: String
    /// The port: the URL's own, else the scheme's default.
    public let port: Int

    /// The endpoint of `url`; nil when it has no scheme or host.
    public init?(url: String) {
        guard let components = URLComponents(string: url), let scheme = components.scheme?.lowercased(),
            var host = components.host?.lowercased(), !host.isEmpty
        else { return nil }
        if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        self.scheme = scheme
        self.host = host
        self.port = components.port ?? (scheme == "https" ? 443 : 80)
    }

    /// 443 for https, 80 otherwise.
    var defaultPort: Int { scheme == "https" ? 443 : 80 }

    /// The host as `baton keys allow` takes it: `host` when the port is the scheme's default, else `host:port`.
    public var allowance: KeyHost {
        KeyHost(host: host, port: port == defaultPort ? nil : port) ?? KeyHost(host: "invalid")!
    }

    /// `scheme://host:port`.
    public var description: String {
        "\(scheme)://\(host.contains(":") ? "[\(host)]" : host):\(port)"
    }
}

/// The hosts each API key may go to by default: the official API host of its provider.
///
/// A key from a variable this table knows goes to that provider's host; any other variable or key-file entry
/// goes to the official host of the runtime's kind (`openai` → `api.openai.com`, `anthropic` → `api.anthropic.com`).
/// Every official host needs https on port 443. The table's hosts are those each provider's own documentation gives
/// as the base URL of its API.
public enum KeyHosts {
    /// The official host of the providers' usual variables.
    public static let officialByVariable: [String: String] = [
        // https://platform.openai.com/docs/api-reference (base URL https://api.openai.com/v1)
        "OPENAI_API_KEY": "api.openai.com",
        // https://docs.anthropic.com/en/api/overview (https://api.anthropic.com/v1/messages)
        "ANTHROPIC_API_KEY": "api.anthropic.com",
        // https://console.groq.com/docs/openai (base_url https://api.groq.com/openai/v1)
        "GROQ_API_KEY": "api.groq.com",
        // https://docs.mistral.ai/api (POST https://api.mistral.ai/v1/chat/completions)
        "MISTRAL_API_KEY": "api.mistral.ai",
        // https://openrouter.ai/docs/community/openai-sdk (baseURL https://openrouter.ai/api/v1)
        "OPENROUTER_API_KEY": "openrouter.ai",
        // https://api-docs.deepseek.com (base_url https://api.deepseek.com)
        "DEEPSEEK_API_KEY": "api.deepseek.com",
        // https://docs.x.ai/api/integrations (baseURL https://api.x.ai/v1)
        "XAI_API_KEY": "api.x.ai",
    ]

    /// The official host of `variable`'s provider, when the table knows the variable.
    public static func official(variable: String) -> KeyHost? {
        officialByVariable[variable].flatMap { KeyHost(host: $0, httpsOnly: true) }
    }

    /// The official host of a runtime kind's provider: nil for kinds that take no key.
    public static func official(kind: RuntimeSpec.Kind) -> KeyHost? {
        switch kind {
        case .openai: KeyHost(host: "api.openai.com", httpsOnly: true)
        case .anthropic: KeyHost(host: "api.anthropic.com", httpsOnly: true)
        default: nil
        }
    }

    /// The host a key named `name` goes to when nothing else says: its variable's provider, else the kind's.
    public static func defaultHost(name: String, kind: RuntimeSpec.Kind) -> KeyHost? {
        official(variable: name) ?? official(kind: kind)
    }
}

/// Decides whether a key may be sent to a runtime's URL: its default host, the hosts a key-file entry records,
/// and, for keys from environment variables, the hosts the user allows in `key-hosts.yaml`.
///
/// The user's file is read only when a key from a variable would otherwise be refused, so a key going to its
/// official host never depends on it.
public struct KeyHostPolicy: Sendable {
    /// Where the allowances come from.
    private enum Source: Sendable {
        case fixed(KeyHostAllowances)
        case file(String)
    }

    private let source: Source

    /// A policy with exactly `allowances` (tests and callers that read the file themselves).
    public init(allowances: KeyHostAllowances = KeyHostAllowances()) {
        source = .fixed(allowances)
    }

    /// The policy of the user of `environment`: the allowances in ``KeyHostAllowances/path(environment:)``, read
    /// when needed.
    public static func user(environment: [String: String]) -> KeyHostPolicy {
        KeyHostPolicy(source: .file(KeyHostAllowances.path(environment: environment)))
    }

    private init(source: Source) {
        self.source = source
    }

    /// The user's allowances.
    ///
    /// - Throws: ``KeyHostAllowances/FileError`` when the file exists but cannot be used.
    public func allowances() throws(KeyHostAllowances.FileError) -> KeyHostAllowances {
        switch source {
        case .fixed(let allowances): return allowances
        case .file(let path): return try KeyHostAllowances.load(path: path)
        }
    }

    /// The hosts a key from `origin` goes to without any allowance: the recorded ones of a key-file entry, else its
    /// default host.
    public static func boundHosts(for origin: KeyOrigin, kind: RuntimeSpec.Kind) -> [KeyHost] {
        switch origin {
        case .environment(let variable):
            return [KeyHosts.defaultHost(name: variable, kind: kind)].compactMap { $0 }
        case .keyFile(let entry, let recorded):
            return recorded ?? [KeyHosts.defaultHost(name: entry, kind: kind)].compactMap { $0 }
        }
    }

    /// Checks that `key` may go to `url`, the URL of `runtime` (of `kind`), before any client is made.
    ///
    /// - Throws: ``KeyHostRefusal`` naming the runtime, the host, the key's name and the command that allows it;
    ///   ``KeyHostAllowances/FileError`` when the user's file had to be read and cannot be used.
    public func check(_ key: APIKey, runtime: String, kind: RuntimeSpec.Kind, url: String) throws {
        var hosts = Self.boundHosts(for: key.origin, kind: kind)
        let endpoint = KeyEndpoint(url: url)
        if let endpoint, hosts.contains(where: { $0.matches(endpoint) }) { return }
        if case .environment(let variable) = key.origin {
            hosts += try allowances().hosts(for: variable)
            if let endpoint, hosts.contains(where: { $0.matches(endpoint) }) { return }
        }
        throw KeyHostRefusal(runtime: runtime, url: url, endpoint: endpoint, origin: key.origin, hosts: hosts)
    }
}

/// A key that would have gone to a host it is not bound to; nothing was sent.
public struct KeyHostRefusal: Error, Sendable, Equatable, CustomStringConvertible {
    /// The runtime whose URL it is.
    public var runtime: String
    /// The runtime's URL.
    public var url: String
    /// Where the URL points; nil when it has no host.
    public var endpoint: KeyEndpoint?
    /// Where the key came from (by name only).
    public var origin: KeyOrigin
    /// The hosts the key may go to.
    public var hosts: [KeyHost]

    /// The command that would allow the host: `baton keys allow VAR HOST` for a variable's key, `baton keys set
    /// NAME --host HOST` for a key-file entry (the hosts live inside the sealed file).
    public var fix: String {
        let host = endpoint?.allowance.description ?? "HOST"
        switch origin {
        case .environment(let variable): return "baton keys allow \(variable) \(host)"
        case .keyFile(let entry, _):
            let kept = hosts.map { " --host \($0)" }.joined()
            return "baton keys set \(entry)\(kept) --host \(host)"
        }
    }

    public var description: String {
        let bound = hosts.isEmpty ? "no host" : hosts.map(\.description).joined(separator: ", ")
        guard let endpoint else {
            return
                "runtime '\(runtime)': its url '\(url)' has no host, so the API key from \(origin) is not sent; fix the url in the profile"
        }
        let scheme =
            hosts.contains { $0.host == endpoint.host && $0.httpsOnly } && endpoint.scheme != "https" ? " over \(endpoint.scheme)" : ""
        return "runtime '\(runtime)' would send the API key from \(origin) to \(endpoint.allowance)\(scheme), but that key is bound to "
            + "\(bound); nothing was sent. If you trust \(endpoint.allowance) with this key, run '\(fix)'"
    }
}
