import BatonSpec
import Foundation
import Yams

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// The hosts a user allows for keys from environment variables, beyond their official host:
/// `$XDG_CONFIG_HOME/baton/key-hosts.yaml`, written by `baton keys allow NAME HOST`.
///
/// ```yaml
/// version: 1
/// keys:
///   OPENAI_API_KEY: ["llm.example.com", "127.0.0.1:8080"]
/// ```
/// Only this file in the user's configuration folder is read: nothing in a project folder, on a profile or
/// pipeline path, or in the installed share folder can allow a host. It never holds a key, only names and hosts.
/// Keys in the key file are not affected: their hosts live inside the sealed file (`baton keys set NAME --host`).
public struct KeyHostAllowances: Sendable, Equatable {
    /// The format version this code reads and writes.
    public static let version = 1
    /// The file's name in `$XDG_CONFIG_HOME/baton/`.
    public static let fileName = "key-hosts.yaml"

    /// The allowed hosts, by key name (an environment variable's name).
    public private(set) var keys: [String: [KeyHost]]

    /// Allowances from a map of key names to hosts.
    public init(_ keys: [String: [KeyHost]] = [:]) {
        self.keys = keys.filter { !$0.value.isEmpty }.mapValues { Array(Set($0)).sorted() }
    }

    /// The hosts allowed for the key `name`, sorted.
    public func hosts(for name: String) -> [KeyHost] { keys[name] ?? [] }

    /// Allows `host` for `name`; false when it was already allowed.
    @discardableResult
    public mutating func allow(_ host: KeyHost, for name: String) -> Bool {
        var hosts = keys[name] ?? []
        guard !hosts.contains(host) else { return false }
        hosts.append(host)
        keys[name] = hosts.sorted()
        return true
    }

    /// Withdraws `host` for `name`; false when it was not allowed.
    @discardableResult
    public mutating func revoke(_ host: KeyHost, for name: String) -> Bool {
        guard var hosts = keys[name], let index = hosts.firstIndex(of: host) else { return false }
        hosts.remove(at: index)
        keys[name] = hosts.isEmpty ? nil : hosts
        return true
    }

    /// Why the file could not be used; names the file and the fix.
    public enum FileError: Error, Sendable, Equatable, CustomStringConvertible {
        /// The file's content is not a version 1 allowance file.
        case malformed(path: String, reason: String)
        /// The file could not be read, or others may write it.
        case unreadable(path: String, reason: String)
        /// The file could not be written.
        case unwritable(path: String, reason: String)

        public var description: String {
            switch self {
            case .malformed(let path, let reason):
                return "the key-host allowances in \(path) cannot be used: \(reason); fix or delete the file (no host is allowed "
                    + "while it is broken), or rewrite it with 'baton keys allow NAME HOST'"
            case .unreadable(let path, let reason):
                return "the key-host allowances in \(path) cannot be read: \(reason)"
            case .unwritable(let path, let reason):
                return "the key-host allowances cannot be written to \(path): \(reason); nothing was changed"
            }
        }
    }

    // MARK: - The file

    /// `$XDG_CONFIG_HOME/baton/key-hosts.yaml` (`~/.config/baton/key-hosts.yaml`).
    public static func path(environment: [String: String]) -> String {
        Workspace.configHome(environment: environment) + "/baton/" + fileName
    }

    /// The allowances of the user of `environment`; none when the file does not exist.
    ///
    /// - Throws: ``FileError`` when the file exists but is malformed, too large, unreadable or writable by others.
    public static func load(environment: [String: String]) throws(FileError) -> KeyHostAllowances {
        try load(path: path(environment: environment))
    }

    /// The allowances in the file at `path`; none when there is no file.
    public static func load(path: String) throws(FileError) -> KeyHostAllowances {
        var info = stat()
        guard stat(path, &info) == 0 else {
            if errno == ENOENT { return KeyHostAllowances() }
            throw .unreadable(path: path, reason: String(cString: strerror(errno)))
        }
        guard info.st_mode & 0o170000 == 0o100000 else { throw .unreadable(path: path, reason: "it is not a regular file") }
        // Like ssh's authorized_keys: a file others may change could allow a host for your keys.
        guard info.st_mode & 0o022 == 0 else {
            throw .unreadable(path: path, reason: "other users may write it; run 'chmod 600 \(path)'")
        }
        if let violation = YAMLLimits.standard.check(byteCount: Int(info.st_size)) {
            throw .malformed(path: path, reason: violation.description)
        }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw .unreadable(path: path, reason: "it could not be read")
        }
        return try parse(String(decoding: data, as: UTF8.self), path: path)
    }

    /// The allowances in `text`, the content of the file at `path` (named in errors).
    static func parse(_ text: String, path: String) throws(FileError) -> KeyHostAllowances {
        func malformed(_ reason: String) -> FileError { .malformed(path: path, reason: reason) }
        if let violation = YAMLLimits.standard.check(text) { throw malformed(violation.message(file: path)) }
        if text.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty { return KeyHostAllowances() }
        let object: Any?
        do { object = try Yams.load(yaml: text) } catch { throw malformed("it is not valid YAML") }
        guard let document = object as? [String: Any] else { throw malformed("it is not a mapping with 'version' and 'keys'") }
        guard let version = document["version"] as? Int else { throw malformed("it has no whole-number 'version'") }
        guard version == Self.version else { throw malformed("its version is \(version); this Baton reads version \(Self.version)") }
        let unknown = document.keys.filter { $0 != "version" && $0 != "keys" }.sorted()
        guard unknown.isEmpty else { throw malformed("it has the unknown field '\(unknown[0])'; only 'version' and 'keys'") }
        guard let entries = document["keys"] else { return KeyHostAllowances() }
        guard let map = entries as? [String: Any] else { throw malformed("'keys' is not a mapping of key names to lists of hosts") }
        var keys: [String: [KeyHost]] = [:]
        for (name, value) in map {
            guard isValidName(name) else { throw malformed("'\(name)' is not a key name (letters, digits, '_', '-', '.')") }
            guard let list = value as? [Any] else { throw malformed("the hosts of '\(name)' are not a list") }
            keys[name] = try list.map { item throws(FileError) -> KeyHost in
                guard let text = item as? String, let host = KeyHost(parsing: text) else {
                    throw malformed("'\(item)' under '\(name)' is not a host or host:port")
                }
                return host
            }
        }
        return KeyHostAllowances(keys)
    }

    /// Whether `name` can name a key: letters, digits, `_`, `-` and `.`, not starting with `-` or `.`.
    public static func isValidName(_ name: String) -> Bool {
        let allowed = CharacterSet(charactersIn: "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-")
        guard let first = name.unicodeScalars.first, first != "-", first != ".", name.count <= 128 else { return false }
        return name.unicodeScalars.allSatisfy(allowed.contains)
    }

    /// The file's text: names sorted, each host quoted (an IPv6 host in brackets would otherwise read as a list).
    public var yaml: String {
        var lines = [
            "# Hosts Baton may send keys from these environment variables to, besides their provider's official host.",
            "# Written by 'baton keys allow NAME HOST'; see 'baton keys hosts'.",
            "version: \(Self.version)",
        ]
        if keys.isEmpty {
            lines.append("keys: {}")
        } else {
            lines.append("keys:")
            for name in keys.keys.sorted() {
                let hosts = (keys[name] ?? []).map { "\"\($0.description)\"" }.joined(separator: ", ")
                lines.append("  \(name): [\(hosts)]")
            }
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// Writes the allowances to `path` atomically: a 0600 temporary file beside it, flushed, renamed over it
    /// (missing folders are created 0700).
    public func save(to path: String) throws(FileError) {
        if let failure = PrivateFile.replace(path, with: Array(yaml.utf8)) { throw .unwritable(path: path, reason: failure) }
    }
}
